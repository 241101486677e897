"""Status changes: only compliance may make them (API and admin); suspension over the wallet
API (killing open sessions releases reservations). The provider page. The audit trail: list,
filters and the streamed CSV export (API and admin)."""

import csv
import io

import pytest
from django.urls import reverse

from compliance import services as compliance_services
from compliance.choices import ViolationKind
from tests import factories
from tests.compliance.conftest import api_client, post_json
from wallets import services
from wallets.choices import ProviderStatus, SessionStatus
from wallets.models import AuditRecord, GameSession, Provider, Wallet

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("group", ["back_office", "support", "integrator"])
@pytest.mark.parametrize("action", ["suspend", "restrict", "restore"])
def test_only_compliance_changes_status_over_the_api(provider, group, action):
    if action == "restore":
        services.change_provider_status(provider=provider, status="restricted", reason="x")
    before = Provider.objects.get(pk=provider.pk).status
    client = api_client(group)
    response = post_json(client, f"/api/v1/providers/acme/{action}", {"reason": "because"})
    assert response.status_code == 403
    assert Provider.objects.get(pk=provider.pk).status == before
    officer = api_client("compliance")
    response = post_json(officer, f"/api/v1/providers/acme/{action}", {"reason": "because"})
    assert response.status_code == 200, response.content
    expected = {"suspend": "suspended", "restrict": "restricted", "restore": "active"}[action]
    assert response.json()["status"] == expected


@pytest.mark.parametrize("group", ["back_office", "support", "integrator"])
def test_only_compliance_changes_status_in_the_admin(client, provider, group):
    url = reverse("admin:wallets_provider_changelist")
    form = {
        "action": "suspend_providers",
        "_selected_action": [provider.pk],
        "apply": "1",
        "reason": "card data",
    }
    client.force_login(factories.UserFactory(groups=[group]))
    client.post(url, form)
    assert Provider.objects.get(pk=provider.pk).status == ProviderStatus.ACTIVE
    client.force_login(factories.UserFactory(groups=["compliance"]))
    client.post(url, form)
    assert Provider.objects.get(pk=provider.pk).status == ProviderStatus.SUSPENDED


def test_suspension_with_kill_over_the_api_releases_reservations(provider, wallet_api):
    player = factories.funded_player(80_00)
    _, token = factories.open_session(player, provider, buy_in_minor=30_00)
    other_player = factories.funded_player(10_00)
    _, other_token = factories.open_session(other_player, provider)
    assert wallet_api.call("authenticate", session_token=token).status_code == 200
    bet = wallet_api.call(
        "bet", session_token=token, transaction_id="b1", round_id="r1", amount="5", currency="EUR"
    )
    assert bet.status_code == 200
    assert Wallet.objects.get(player=player).reserved_minor > 0

    response = post_json(
        api_client("compliance"),
        "/api/v1/providers/acme/suspend",
        {"reason": "plain-text cards", "kill_open_sessions": True},
    )
    assert response.status_code == 200, response.content
    assert response.json()["open_sessions"] == 0
    assert set(GameSession.objects.filter(provider=provider).values_list("status", flat=True)) == {
        SessionStatus.KILLED
    }
    wallet = Wallet.objects.get(player=player)
    assert wallet.reserved_minor == 0
    assert wallet.balance_minor == 75_00  # the 5.00 bet stands; nothing else moved
    # the killed sessions take no bets; new sessions cannot be opened
    refused = wallet_api.call(
        "bet", session_token=other_token, transaction_id="b2", round_id="r2", amount="1",
        currency="EUR",
    )  # fmt: skip
    assert refused.status_code in (401, 403)
    assert Wallet.objects.get(player=other_player).balance_minor == 10_00
    audit = AuditRecord.objects.get(action="provider.status")
    assert audit.after == {"status": "suspended", "kill_open_sessions": True}


def test_suspension_without_kill_keeps_sessions_and_their_wins(provider, wallet_api, token, player):
    bet = dict(session_token=token, round_id="r1", currency="EUR")
    assert wallet_api.call("bet", transaction_id="b1", amount="5", **bet).status_code == 200
    post_json(api_client("compliance"), "/api/v1/providers/acme/suspend", {"reason": "check"})
    assert wallet_api.call("bet", transaction_id="b2", amount="5", **bet).json()["code"] == (
        "PROVIDER_SUSPENDED"
    )
    win = wallet_api.call("win", transaction_id="w1", amount="7", round_closed=True, **bet)
    assert win.status_code == 200, win.content
    assert Wallet.objects.get(player=player).balance_minor == 102_00
    assert GameSession.objects.get(provider=provider).status == SessionStatus.OPEN


def test_provider_page_shows_history_violations_credentials_sessions(client, provider, token):
    services.change_provider_status(provider=provider, status="restricted", reason="leaky logs")
    compliance_services.record_violation(
        provider_id=provider.pk, kind=ViolationKind.CVV, evidence={"fields": ["cvv"]}
    )
    client.force_login(factories.UserFactory(groups=["compliance"]))
    response = client.get(reverse("admin:compliance_providercompliance_change", args=[provider.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "leaky logs" in page
    assert "Card security code in plain text" in page
    fingerprint = provider.credentials.get().fingerprint
    assert fingerprint in page
    assert "Open sessions (1)" in page
    listing = client.get(reverse("admin:compliance_providercompliance_changelist"))
    assert listing.status_code == 200
    for model in ["securityviolation", "globalsecuritypolicy", "providersecuritypolicy"]:
        assert client.get(reverse(f"admin:compliance_{model}_changelist")).status_code == 200
    violation = provider.security_violations.get()
    detail = client.get(reverse("admin:compliance_securityviolation_change", args=[violation.pk]))
    assert detail.status_code == 200
    policy_page = client.get(reverse("admin:compliance_globalsecuritypolicy_change", args=[1]))
    assert policy_page.status_code == 200

    client.force_login(factories.UserFactory(groups=["support"]))
    denied = client.get(reverse("admin:compliance_providercompliance_change", args=[provider.pk]))
    assert denied.status_code in (302, 403)


def _audit_some(provider):
    officer = factories.UserFactory(groups=["compliance"])
    services.change_provider_status(
        provider=provider, status="suspended", reason="=HYPERLINK(evil)", actor=officer
    )
    services.change_provider_status(
        provider=provider, status="active", reason="fixed", actor=officer
    )
    services.rotate_provider_secret(provider=provider, actor=officer, reason="routine")
    return officer


def test_audit_csv_export_with_filters(provider):
    officer = _audit_some(provider)
    client = api_client("compliance")
    response = client.get(
        "/api/v1/audit/export.csv", {"action": "provider.status", "actor": officer.username}
    )
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "at", "actor_label", "action"]
    assert [r[3] for r in rows[1:]] == ["provider.status", "provider.status"]
    reasons = {r[7] for r in rows[1:]}
    assert reasons == {"fixed", "'=HYPERLINK(evil)"}  # formula neutralised
    as_csv = client.get("/api/v1/audit/export.csv", HTTP_ACCEPT="text/csv")
    assert as_csv.status_code == 200 and as_csv.streaming
    listed = client.get("/api/v1/audit/", {"action": "provider.status"}).json()
    assert listed["count"] == 2
    assert api_client("support").get("/api/v1/audit/export.csv").status_code == 403


def test_audit_csv_export_from_the_admin(client, provider):
    _audit_some(provider)
    client.force_login(factories.UserFactory(groups=["compliance"]))
    ids = list(
        AuditRecord.objects.filter(action="provider.rotate_secret").values_list("pk", flat=True)
    )
    response = client.post(
        reverse("admin:wallets_auditrecord_changelist"),
        {"action": "export_csv", "_selected_action": ids},
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2 and rows[1][3] == "provider.rotate_secret"
