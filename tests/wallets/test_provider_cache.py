"""Providers and their credentials are cached per process (wallets.adapters.credentials): what a
change made elsewhere looks like to a wallet call, and when it applies."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from tests.conftest import WALLET_ENTRY_POINTS, WalletApiClient
from wallets import crypto, services
from wallets.adapters import credentials
from wallets.choices import ProviderStatus
from wallets.models import Provider, ProviderCredential, Transaction


@pytest.fixture(params=WALLET_ENTRY_POINTS)
def acme(db, request):
    """Through Django's test client and through the production WSGI entry point."""
    provider, secret = factories.make_provider("acme")
    player = factories.funded_player(100_00)
    _, token = factories.open_session(player, provider)
    api = WalletApiClient("acme", secret, entry_point=request.param)
    assert api.call("authenticate", session_token=token).status_code == 200  # cached now
    return provider, secret, token, api


def bet(api, token, transaction_id):
    return api.call(
        "bet",
        session_token=token,
        transaction_id=transaction_id,
        round_id=f"r-{transaction_id}",
        amount="1.00",
        currency="EUR",
    )


def test_a_suspension_made_by_another_process_applies_to_the_very_next_call(acme):
    provider, _, token, api = acme
    # A plain UPDATE, as another process's change looks to this one (no signal here).
    Provider.objects.filter(pk=provider.pk).update(status=ProviderStatus.SUSPENDED)

    refused = bet(api, token, "b-1")
    assert (refused.status_code, refused.json()["code"]) == (403, "PROVIDER_SUSPENDED")
    assert refused.json()["balance"] == "100.00"
    refused = api.call("authenticate", session_token=token)
    assert refused.json()["code"] == "PROVIDER_SUSPENDED"
    assert not Transaction.objects.filter(provider=provider).exists()


def test_a_credential_added_by_another_process_is_accepted_at_once(acme):
    provider, _, token, api = acme
    secret = crypto.new_provider_secret()
    ProviderCredential.objects.bulk_create(  # no signal: as if written elsewhere
        [
            ProviderCredential(
                provider=provider,
                secret_ciphertext=crypto.encrypt_secret(secret),
                fingerprint=crypto.secret_fingerprint(secret),
            )
        ]
    )
    answer = bet(api.as_provider("acme", secret), token, "b-new-secret")
    assert answer.status_code == 200, answer.content


def test_a_revocation_in_this_process_applies_at_once(acme):
    provider, _, token, api = acme
    credential = ProviderCredential.objects.get(provider=provider)
    services.revoke_provider_credential(
        provider=provider, fingerprint=credential.fingerprint, reason="leaked"
    )
    refused = bet(api, token, "b-after-revoke")
    assert (refused.status_code, refused.json()["code"]) == (401, "INVALID_SIGNATURE")


def test_a_revocation_by_another_process_applies_within_the_cache_time(acme, settings):
    provider, _, token, api = acme
    ProviderCredential.objects.filter(provider=provider).update(revoked_at="2026-01-01T00:00Z")
    # Within WALLET_PROVIDER_CACHE_SECONDS this process may still accept the old secret...
    settings.WALLET_PROVIDER_CACHE_SECONDS = 3600
    assert bet(api, token, "b-cached").status_code == 200
    # ...and once the entry is that old, it reads the credentials again.
    settings.WALLET_PROVIDER_CACHE_SECONDS = 0
    refused = bet(api, token, "b-reloaded")
    assert refused.json()["code"] == "INVALID_SIGNATURE"


class _LaterClock:
    """Stands in for django.utils.timezone in wallets.adapters.credentials: its now() is later."""

    def __init__(self, ahead: timedelta):
        self.ahead = ahead

    def now(self):
        return timezone.now() + self.ahead


def test_a_cached_credential_stops_when_its_expiry_passes(acme, settings, monkeypatch):
    provider, _, token, api = acme
    settings.WALLET_PROVIDER_CACHE_SECONDS = 3600  # no reload during this test
    credential = ProviderCredential.objects.get(provider=provider)
    credential.expires_at = timezone.now() + timedelta(minutes=10)
    credential.save(update_fields=["expires_at"])
    assert bet(api, token, "b-before-expiry").status_code == 200  # cached, with its expiry
    # The cached entry keeps the expiry it was loaded with; once the clock passes it, the
    # credential no longer signs (no reload: the cache still holds it).
    monkeypatch.setattr(credentials, "timezone", _LaterClock(timedelta(minutes=10, seconds=1)))
    refused = bet(api, token, "b-after-expiry")
    assert refused.json()["code"] == "INVALID_SIGNATURE"
    monkeypatch.setattr(credentials, "timezone", _LaterClock(timedelta(minutes=9, seconds=59)))
    assert bet(api, token, "b-just-before-expiry").status_code == 200
