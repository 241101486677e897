"""The admin as staff use it: every page renders, ledger rows are read-only, actions need a
reason and the right role, and act through services (audited)."""

import re

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.urls import reverse

from tests import factories
from wallets import crypto
from wallets.choices import ProviderStatus, SessionStatus
from wallets.models import AuditRecord, GameSession, Provider, Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")


@pytest.fixture
def admin_client_as(client):
    def login(*groups, superuser=False):
        user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
        client.force_login(user)
        return client

    return login


@pytest.fixture
def played(player, provider, wallet_api, token):
    wallet_api.call("authenticate", session_token=token)
    wallet_api.call(
        "bet", session_token=token, transaction_id="b1", round_id="r1", amount="5", currency="EUR"
    )
    return player


MODELS = [
    "provider",
    "player",
    "wallet",
    "gamesession",
    "round",
    "transaction",
    "auditrecord",
    "sessioncleanuprun",
]


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_and_change_page_renders(admin_client_as, played, model):
    client = admin_client_as(superuser=True)
    response = client.get(reverse(f"admin:wallets_{model}_changelist"))
    assert response.status_code == 200
    objects = response.context["cl"].result_list
    if objects:
        detail = client.get(reverse(f"admin:wallets_{model}_change", args=[objects[0].pk]))
        assert detail.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_changelists_render_empty(admin_client_as, model):
    client = admin_client_as(superuser=True)
    assert client.get(reverse(f"admin:wallets_{model}_changelist")).status_code == 200


def test_ledger_rows_cannot_be_added_changed_or_deleted(admin_client_as, played):
    client = admin_client_as(superuser=True)
    txn = Transaction.objects.first()
    assert client.get(reverse("admin:wallets_transaction_add")).status_code == 403
    response = client.post(
        reverse("admin:wallets_transaction_change", args=[txn.pk]), {"amount_minor": 1}
    )
    assert response.status_code == 403
    assert (
        client.post(reverse("admin:wallets_transaction_delete", args=[txn.pk])).status_code == 403
    )
    txn.refresh_from_db()
    assert txn.amount_minor == 5_00


def test_suspend_action_asks_for_a_reason_then_suspends_and_audits(admin_client_as, provider):
    client = admin_client_as("compliance")
    url = reverse("admin:wallets_provider_changelist")
    form = {"action": "suspend_providers", "_selected_action": [provider.pk]}
    confirm = client.post(url, form)
    assert confirm.status_code == 200
    assert b"reason" in confirm.content
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.ACTIVE

    done = client.post(url, {**form, "apply": "1", "reason": "card data in logs"}, follow=True)
    assert done.status_code == 200
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.SUSPENDED
    audit = AuditRecord.objects.get(action="provider.status")
    assert audit.reason == "card data in logs"
    assert audit.before["status"] == "active"


def test_support_cannot_suspend_providers(admin_client_as, provider):
    client = admin_client_as("support")
    url = reverse("admin:wallets_provider_changelist")
    client.post(
        url,
        {
            "action": "suspend_providers",
            "_selected_action": [provider.pk],
            "apply": "1",
            "reason": "x",
        },
    )
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.ACTIVE


def test_support_closes_a_session_and_its_buy_in_is_released(admin_client_as, provider):
    player = factories.funded_player(50_00)
    session, _ = factories.open_session(player, provider, buy_in_minor=20_00)
    client = admin_client_as("support")
    url = reverse("admin:wallets_gamesession_changelist")
    client.post(
        url,
        {
            "action": "close_sessions",
            "_selected_action": [session.pk],
            "apply": "1",
            "reason": "player closed the tab",
        },
    )
    session.refresh_from_db()
    assert session.status == SessionStatus.KILLED
    assert session.reserved_minor == 0
    wallet = player.wallets.get()
    assert (wallet.balance_minor, wallet.reserved_minor) == (50_00, 0)
    assert AuditRecord.objects.filter(action="session.close", target_id=str(session.pk)).exists()


def _current_secret(provider) -> str:
    credential = provider.credentials.filter(kind="hmac").latest("pk")
    return crypto.decrypt_secret(credential.secret_ciphertext).decode()


def _cookie_texts(response) -> list[str]:
    """Every cookie the response sets, raw and, for the messages cookie, decoded."""
    texts = [morsel.value for morsel in response.cookies.values()]
    if "messages" in response.cookies:
        decoded = CookieStorage(response.wsgi_request)._decode(response.cookies["messages"].value)
        texts += [str(message) for message in decoded or []]
    return texts


def _shown_secrets(page) -> list[str]:
    return re.findall(r'<code class="pitboss-secret">([^<]+)</code>', page.content.decode())


def test_creating_a_provider_in_the_admin_shows_its_secret_once(admin_client_as):
    client = admin_client_as(superuser=True)
    response = client.post(
        reverse("admin:wallets_provider_add"),
        {
            "code": "newstudio",
            "name": "New Studio",
            "currencies": "EUR,USD",
            "ip_allowlist": "",
            "rounding_mode": "",
            "idle_timeout_seconds": 900,
            "round_timeout_seconds": 3600,
            "max_sessions_per_player": 3,
            "open_round_policy": "refund",
            "credentials-TOTAL_FORMS": 0,
            "credentials-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302
    provider = Provider.objects.get(code="newstudio")
    assert provider.credentials.count() == 1
    secret = _current_secret(provider)
    # Not in any cookie (the messages cookie is signed, not encrypted), nor in the session row.
    assert not any(secret in text for text in _cookie_texts(response))
    session = Session.objects.get(session_key=client.session.session_key)
    assert secret not in session.session_data and secret not in str(session.get_decoded())
    page = client.get(response.url)
    assert _shown_secrets(page) == [secret]
    assert "Wallet API secret for newstudio (shown once, store it now)" in page.content.decode()
    assert not any(secret in text for text in _cookie_texts(page))
    again = client.get(response.url)
    assert _shown_secrets(again) == [] and secret.encode() not in again.content
    page = client.get(reverse("admin:wallets_provider_change", args=[provider.pk]))
    assert secret.encode() not in page.content
    assert GameSession.objects.count() == 0


def test_rotating_secrets_in_the_admin_shows_each_once_and_never_in_a_cookie(admin_client_as):
    client = admin_client_as(superuser=True)
    providers = [factories.make_provider(code)[0] for code in ("alpha", "beta")]
    changelist = reverse("admin:wallets_provider_changelist")
    response = client.post(
        changelist,
        {"action": "rotate_secret", "_selected_action": [p.pk for p in providers]},
    )
    assert response.status_code == 302
    secrets = [_current_secret(p) for p in providers]
    assert not any(s in text for s in secrets for text in _cookie_texts(response))
    page = client.get(changelist)
    assert sorted(_shown_secrets(page)) == sorted(secrets)
    assert not any(s in text for s in secrets for text in _cookie_texts(page))
    again = client.get(changelist)
    assert _shown_secrets(again) == []
    assert not any(s.encode() in again.content for s in secrets)
