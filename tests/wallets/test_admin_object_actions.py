"""Actions on an object's own page (wallets/admin_object_actions.py): each one reason-confirmed,
permission-checked by role (a role without the permission gets 403 and nothing changes), audited,
calling the services. Sessions, providers, alerts and discrepancies."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from monitoring.models import Alert, Silence
from reconciliation.models import CorrectionRequest, Discrepancy
from tests import factories
from tests.reconciliation.helpers import reconcile_rows, row
from wallets.models import AuditRecord, GameSession, Transaction, Wallet

pytestmark = pytest.mark.django_db


def client_for(*groups, superuser=False) -> Client:
    user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
    client = Client()
    client.force_login(user)
    return client


def audit_actions() -> list[str]:
    return list(AuditRecord.objects.order_by("id").values_list("action", flat=True))


# --- game sessions ----------------------------------------------------------------------------


@pytest.fixture
def open_buy_in_session(provider):
    player = factories.funded_player(100_00)
    session, _token = factories.open_session(player, provider, buy_in_minor=30_00)
    return session


def test_support_ends_a_session_from_its_page_and_the_buy_in_returns(open_buy_in_session):
    session = open_buy_in_session
    client = client_for("support")
    page = client.get(f"/admin/wallets/gamesession/{session.pk}/change/")
    assert page.status_code == 200
    url = f"/admin/wallets/gamesession/{session.pk}/act/end/"
    assert url in page.content.decode()
    assert "30.00 EUR" in page.content.decode()  # the reserved buy-in, as people read it

    confirm = client.get(url)
    assert confirm.status_code == 200 and 'name="reason"' in confirm.content.decode()
    # No reason: a form error, nothing changes.
    refused = client.post(url, {"reason": "  "})
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert GameSession.objects.get(pk=session.pk).status == "open"

    done = client.post(url, {"reason": "player stuck in a closed table"}, follow=True)
    assert done.status_code == 200
    assert "30.00 EUR returned to the player" in done.content.decode()
    ended = GameSession.objects.get(pk=session.pk)
    assert (ended.status, ended.end_reason, ended.reserved_minor) == ("killed", "staff", 0)
    wallet = Wallet.objects.get(pk=session.wallet_id)
    assert (wallet.balance_minor, wallet.reserved_minor) == (100_00, 0)
    record = AuditRecord.objects.get(action="session.close")
    assert record.reason == "player stuck in a closed table"
    # The ended session's page offers no end button, and its history shows the decision.
    again = client.get(f"/admin/wallets/gamesession/{session.pk}/change/").content.decode()
    assert url not in again and "player stuck in a closed table" in again
    # Asking again directly is refused politely: nothing happens.
    assert client.post(url, {"reason": "again"}).status_code == 302
    assert AuditRecord.objects.filter(action="session.close").count() == 1


@pytest.mark.parametrize("role", ["back_office", "compliance", "integrator"])
def test_a_role_without_close_permission_cannot_end_a_session(open_buy_in_session, role):
    session = open_buy_in_session
    client = client_for(role)
    url = f"/admin/wallets/gamesession/{session.pk}/act/end/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": "try"}).status_code == 403
    session.refresh_from_db()
    assert session.status == "open" and session.reserved_minor == 30_00
    assert "session.close" not in audit_actions()


def test_unknown_action_or_object_is_a_404(open_buy_in_session):
    client = client_for("support")
    pk = open_buy_in_session.pk
    assert client.get(f"/admin/wallets/gamesession/{pk}/act/explode/").status_code == 404
    assert client.get("/admin/wallets/gamesession/999999999/act/end/").status_code == 404
    assert client.get("/admin/wallets/gamesession/not-a-number/act/end/").status_code == 404


# --- providers --------------------------------------------------------------------------------


def test_compliance_suspends_a_provider_ending_its_open_sessions(open_buy_in_session, provider):
    client = client_for("compliance")
    page = client.get(f"/admin/wallets/provider/{provider.pk}/change/").content.decode()
    url = f"/admin/wallets/provider/{provider.pk}/act/suspend/"
    assert url in page
    confirm = client.get(url).content.decode()
    assert "Also end its 1 open session(s), returning 30.00 EUR of buy-ins" in confirm

    done = client.post(url, {"reason": "certificate expired", "end_open_sessions": "on"})
    assert done.status_code == 302
    provider.refresh_from_db()
    assert provider.status == "suspended" and provider.status_reason == "certificate expired"
    session = GameSession.objects.get(pk=open_buy_in_session.pk)
    assert (session.status, session.end_reason, session.reserved_minor) == (
        "killed",
        "provider_suspension",
        0,
    )
    record = AuditRecord.objects.get(action="provider.status")
    assert record.after == {"status": "suspended", "kill_open_sessions": True}
    # Restore from the page too.
    assert client.post(f"/admin/wallets/provider/{provider.pk}/act/restore/", {"reason": "ok"})
    provider.refresh_from_db()
    assert provider.status == "active"


def test_suspending_without_ending_sessions_leaves_them_open(open_buy_in_session, provider):
    client = client_for("compliance")
    url = f"/admin/wallets/provider/{provider.pk}/act/suspend/"
    assert client.post(url, {"reason": "investigation"}).status_code == 302
    provider.refresh_from_db()
    assert provider.status == "suspended"
    assert GameSession.objects.get(pk=open_buy_in_session.pk).status == "open"


@pytest.mark.parametrize("role", ["support", "back_office", "integrator"])
def test_only_compliance_suspends_providers(open_buy_in_session, provider, role):
    client = client_for(role)
    page = client.get(f"/admin/wallets/provider/{provider.pk}/change/").content.decode()
    assert "/act/suspend/" not in page
    url = f"/admin/wallets/provider/{provider.pk}/act/suspend/"
    assert client.post(url, {"reason": "x", "end_open_sessions": "on"}).status_code == 403
    provider.refresh_from_db()
    assert provider.status == "active"
    assert GameSession.objects.get(pk=open_buy_in_session.pk).status == "open"
    assert "provider.status" not in audit_actions()


# --- alerts -----------------------------------------------------------------------------------


@pytest.fixture
def pending_alert(provider):
    now = timezone.now()
    return Alert.objects.create(
        rule="latency_p95",
        fingerprint=f"latency_p95:{provider.pk}",
        provider=provider,
        state="pending",
        value=612,
        threshold=500,
        summary=f"{provider.code} p95 612 ms above 500 ms",
        started_at=now,
        last_seen_at=now,
    )


def test_back_office_acknowledges_a_pending_alert_and_the_reason_shows(pending_alert):
    client = client_for("back_office")
    page = client.get(f"/admin/monitoring/alert/{pending_alert.pk}/change/").content.decode()
    url = f"/admin/monitoring/alert/{pending_alert.pk}/act/acknowledge/"
    assert url in page and "612 ms (alert above 500 ms)" in page
    assert client.post(url, {"reason": "provider deploying, watching"}).status_code == 302
    alert = Alert.objects.get(pk=pending_alert.pk)
    assert alert.state == "acknowledged"
    assert alert.acknowledgement_note == "provider deploying, watching"
    page = client.get(f"/admin/monitoring/alert/{alert.pk}/change/").content.decode()
    assert "provider deploying, watching" in page
    assert url not in page  # nothing left to acknowledge
    assert "monitoring.alert_acknowledge" in audit_actions()


def test_an_acknowledged_pending_alert_never_fires(pending_alert, monkeypatch):
    """The engine, with the condition still holding long past the pending period: a pending
    alert left alone fires; one acknowledged while pending stays acknowledged, unnotified."""
    from monitoring import routing, services
    from monitoring.models import NotificationDelivery

    def still_holding(*, now, profiles):
        condition = services.Condition(
            rule="latency_p95",
            fingerprint=pending_alert.fingerprint,
            provider_id=pending_alert.provider_id,
            value=640,
            threshold=500,
            summary="still slow",
        )
        return [condition], []

    monkeypatch.setattr(services, "collect_conditions", still_holding)
    services.acknowledge_alert(alert=pending_alert, actor=None, note="known, on it")
    later = timezone.now() + timedelta(hours=1)
    result = services.evaluate_alerts(now=later, deliver=False)
    alert = Alert.objects.get(pk=pending_alert.pk)
    assert (alert.state, alert.fired_at, result.fired) == ("acknowledged", None, [])
    assert not NotificationDelivery.objects.filter(alert=alert).exists()
    for minutes in (0, 10, 120):  # past any group wait: the routing tree tells nobody either
        dispatched = routing.dispatch_notifications(
            now=later + timedelta(minutes=minutes), send=False
        )
        assert dispatched.queued == []
    # Control: the same condition fires a pending alert nobody acknowledged.
    Alert.objects.filter(pk=alert.pk).update(state="pending", started_at=timezone.now())
    result = services.evaluate_alerts(now=later, deliver=False)
    assert result.fired == [alert.pk]


def test_silence_an_alert_from_its_page(pending_alert):
    client = client_for("compliance")
    url = f"/admin/monitoring/alert/{pending_alert.pk}/act/silence/"
    bad = client.post(url, {"reason": "maintenance", "hours": "0"})
    assert bad.status_code == 200 and Silence.objects.count() == 0
    assert client.post(url, {"reason": "maintenance window", "hours": "3"}).status_code == 302
    silence = Silence.objects.get()
    assert (silence.rule, silence.provider_id) == ("latency_p95", pending_alert.provider_id)
    assert (
        timedelta(hours=2, minutes=59) < silence.ends_at - silence.starts_at <= timedelta(hours=3)
    )
    page = client.get(f"/admin/monitoring/alert/{pending_alert.pk}/change/").content.decode()
    assert "maintenance window" in page
    assert "monitoring.silence_create" in audit_actions()


@pytest.mark.parametrize("role", ["support", "integrator"])
def test_roles_without_alert_permissions_get_403(pending_alert, role):
    client = client_for(role)
    for name in ("acknowledge", "resolve", "silence"):
        url = f"/admin/monitoring/alert/{pending_alert.pk}/act/{name}/"
        assert client.post(url, {"reason": "x", "hours": "1"}).status_code == 403
    assert Alert.objects.get(pk=pending_alert.pk).state == "pending"
    assert Silence.objects.count() == 0


def test_resolve_from_the_page(pending_alert):
    client = client_for("back_office")
    url = f"/admin/monitoring/alert/{pending_alert.pk}/act/resolve/"
    assert client.post(url, {"reason": "false positive"}).status_code == 302
    alert = Alert.objects.get(pk=pending_alert.pk)
    assert alert.state == "resolved" and alert.resolution_note == "false positive"


# --- discrepancies ----------------------------------------------------------------------------


@pytest.fixture
def missing_bet(provider):
    player = factories.funded_player(10_00)
    reconcile_rows(provider, [row("x1", player, amount="2.50")])
    discrepancy = Discrepancy.objects.get()
    Discrepancy.objects.filter(pk=discrepancy.pk).update(status="open")
    discrepancy.refresh_from_db()
    return discrepancy


def test_propose_a_correction_seeing_amount_direction_and_balance_first(missing_bet):
    client = client_for("back_office")
    page = client.get(f"/admin/reconciliation/discrepancy/{missing_bet.pk}/change/")
    url = f"/admin/reconciliation/discrepancy/{missing_bet.pk}/act/propose/"
    assert url in page.content.decode()
    form = client.get(url).content.decode()
    assert 'value="2.50"' in form and 'value="debit" required id="id_direction_1" checked' in form
    assert "Show the effect" in form

    preview = client.post(url, {"reason": "provider posted it", "amount": "2.50",
                                "direction": "debit"})  # fmt: skip
    text = preview.content.decode()
    assert preview.status_code == 200
    assert "2.50 EUR" in text and "debit: takes from the balance" in text
    assert "10.00 EUR" in text and "7.50 EUR" in text  # balance now, resulting balance
    assert CorrectionRequest.objects.count() == 0  # nothing until confirmed

    done = client.post(
        url,
        {"reason": "provider posted it", "amount": "2.50", "direction": "debit", "confirmed": "1"},
    )
    assert done.status_code == 302
    correction = CorrectionRequest.objects.get()
    assert correction.delta_minor == -250 and correction.status == "proposed"
    assert not Transaction.objects.filter(kind="adjustment").exists()  # four eyes: not posted
    assert "reconciliation.correction_proposed" in audit_actions()


def test_bad_correction_input_is_a_form_error_and_changes_nothing(missing_bet):
    client = client_for("back_office")
    url = f"/admin/reconciliation/discrepancy/{missing_bet.pk}/act/propose/"
    for amount in ("", "abc", "-1", "0", "1.234", "99999999999999999999"):
        response = client.post(
            url, {"reason": "x", "amount": amount, "direction": "debit", "confirmed": "1"}
        )
        assert response.status_code == 200, amount
        assert "errorlist" in response.content.decode() or "errornote" in response.content.decode()
    # A debit below what is reserved is refused before anything is proposed.
    response = client.post(
        url, {"reason": "x", "amount": "50.00", "direction": "debit", "confirmed": "1"}
    )
    assert "the approval would be refused" in response.content.decode()
    assert CorrectionRequest.objects.count() == 0


def test_close_a_discrepancy_from_its_page(missing_bet):
    client = client_for("back_office")
    url = f"/admin/reconciliation/discrepancy/{missing_bet.pk}/act/close/"
    assert client.post(url, {"reason": "provider test account"}).status_code == 302
    missing_bet.refresh_from_db()
    assert missing_bet.status == "closed" and missing_bet.resolution_note == "provider test account"


@pytest.mark.parametrize("role", ["support", "compliance", "integrator"])
def test_roles_without_reconciliation_permissions_get_403(missing_bet, role):
    client = client_for(role)
    for name in ("propose", "close"):
        url = f"/admin/reconciliation/discrepancy/{missing_bet.pk}/act/{name}/"
        data = {"reason": "x", "amount": "2.50", "direction": "debit", "confirmed": "1"}
        assert client.post(url, data).status_code == 403
    missing_bet.refresh_from_db()
    assert missing_bet.status == "open" and CorrectionRequest.objects.count() == 0
