"""Automatic provider protection: off by default; when on, a latency or error-rate condition
that lasts restricts or suspends the provider, raises an alert, and a compliance officer
restores it through the provider API."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from monitoring import services
from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert
from tests import factories
from tests.monitoring.conftest import put_minutes, set_profile
from wallets.choices import ProviderStatus
from wallets.models import AuditRecord, Wallet

pytestmark = pytest.mark.django_db


def _bet(wallet_api, token, tx):
    return wallet_api.call(
        "bet", session_token=token, transaction_id=tx, round_id=f"r-{tx}", amount="1.00",
        currency="EUR",
    )  # fmt: skip


def test_sustained_latency_suspends_the_provider_once(provider, wallet_api, token, player, now):
    set_profile(
        provider,
        pending_seconds=120,
        auto_protection_enabled=True,
        auto_protection_action="suspend",
        auto_protection_after_minutes=10,
    )
    put_minutes(provider, start=now - timedelta(minutes=10), minutes=40, slow=10)
    services.evaluate_alerts(now=now)
    services.evaluate_alerts(now=now + timedelta(minutes=2))
    services.evaluate_alerts(now=now + timedelta(minutes=9, seconds=59))
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.ACTIVE

    result = services.evaluate_alerts(now=now + timedelta(minutes=10))
    provider.refresh_from_db()
    assert result.protected == ["acme"]
    assert provider.status == ProviderStatus.SUSPENDED
    assert provider.status_reason.startswith("auto-protection: Wallet latency p95")
    audit = AuditRecord.objects.get(action="provider.status", target_id=str(provider.pk))
    assert audit.actor is None and audit.actor_label == "policy:auto-protection"
    assert audit.after["status"] == "suspended"
    protection = Alert.objects.get(rule=AlertRule.AUTO_PROTECTION)
    assert protection.state == AlertState.FIRING and protection.fired_at is not None

    refused = _bet(wallet_api, token, "after-suspension")
    assert refused.json()["code"] == "PROVIDER_SUSPENDED"
    assert Wallet.objects.get(player=player).balance_minor == 100_00

    # A compliance officer restores the provider through the existing API.
    officer = factories.UserFactory(groups=["compliance"])
    api = APIClient()
    api.force_authenticate(officer)
    restored = api.post(
        f"/api/v1/providers/{provider.code}/restore",
        {"reason": "provider fixed their latency"},
        format="json",
    )
    assert restored.status_code == 200, restored.content

    services.evaluate_alerts(now=now + timedelta(minutes=11))
    provider.refresh_from_db()
    protection.refresh_from_db()
    assert protection.state == AlertState.RESOLVED
    # Same episode, latency still high: not suspended again behind the officer's back.
    services.evaluate_alerts(now=now + timedelta(minutes=20))
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.ACTIVE
    assert _bet(wallet_api, token, "after-restore").json()["status"] == "OK"


def test_error_rate_restricts_when_so_configured(provider, now):
    set_profile(
        provider,
        pending_seconds=0,
        auto_protection_enabled=True,
        auto_protection_action="restrict",
        auto_protection_after_minutes=5,
    )
    put_minutes(provider, start=now - timedelta(minutes=10), minutes=30, errors=20)
    services.evaluate_alerts(now=now)
    services.evaluate_alerts(now=now + timedelta(minutes=5))
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.RESTRICTED


def test_auto_protection_is_off_by_default(provider, now):
    set_profile(provider, pending_seconds=0)
    put_minutes(provider, start=now - timedelta(minutes=10), minutes=90, slow=10)
    for minutes in (0, 30, 60):
        services.evaluate_alerts(now=now + timedelta(minutes=minutes))
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.ACTIVE
    assert _latency_firing(provider)
    assert not Alert.objects.filter(rule=AlertRule.AUTO_PROTECTION).exists()


def _latency_firing(provider):
    return Alert.objects.filter(
        provider=provider, rule=AlertRule.LATENCY_P95, state=AlertState.FIRING
    ).exists()
