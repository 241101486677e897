"""The admin in a real browser (Debian's Chromium driven by Playwright) against a live server:
each role logs in and sees its panel first; holds are approved and rejected, a provider is
suspended and restored, an orphaned session is closed and an alert acknowledged, all through
the admin's own pages and confirmation steps. Every test asserts the outcome in the database."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from fraud.choices import CaseStatus
from fraud.models import Case
from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert
from wallets import hooks, ledger, services
from wallets.models import AuditRecord, GameSession, Player, Provider, Wallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The card each role sees first on the admin home page.
FIRST_CARD = {
    "backoffice": "holds",
    "compliance": "providers",
    "support": "sessions",
    "integrator": "providers",
    "admin": "providers",
}


def _wallet(player, currency="EUR"):
    return Wallet.objects.get(player=player, currency=currency)


def _hold_withdrawals(monkeypatch, player, amounts):
    """Withdrawals that a screener holds; the fraud app opens one hold case per held row."""
    monkeypatch.setattr(
        hooks,
        "screener",
        lambda request: hooks.Screening(action=hooks.HOLD, hits=({"rule": "e2e"},)),
    )
    held = [
        ledger.withdraw(
            player=player, currency="EUR", amount_minor=amount, external_id=f"e2e-w-{i}"
        )
        for i, amount in enumerate(amounts)
    ]
    monkeypatch.undo()
    return [Case.objects.get(transaction=result.transaction) for result in held]


def test_each_role_logs_in_and_sees_what_it_needs_first(admin_ui):
    for username, first in FIRST_CARD.items():
        page = admin_ui.login(username)
        cards = page.locator("#pitboss-home [data-card]")
        assert cards.first.get_attribute("data-card") == first, username
        assert "Times are shown in UTC" in page.inner_text("#pitboss-tz")
        admin_ui.screenshot(f"home-{username}")
    # Support may not see holds, alerts' actions or discrepancies; back office sees holds.
    admin_ui.login("support")
    keys = admin_ui.page.locator("#pitboss-home [data-card]").evaluate_all(
        "cards => cards.map(c => c.dataset.card)"
    )
    assert "holds" not in keys and "discrepancies" not in keys
    assert admin_ui.page.inner_text("#home-sessions .value") == "0"


def test_back_office_approves_one_hold_and_rejects_another(admin_ui, monkeypatch):
    player = Player.objects.get(external_id="demo-player-001")
    start = _wallet(player).balance_minor
    approve, reject = _hold_withdrawals(monkeypatch, player, [10_00, 5_00])
    assert approve.status == CaseStatus.OPEN and reject.status == CaseStatus.OPEN
    # The first hold has waited 47 minutes: the panel shows its age and since when.
    waited = timezone.now() - timedelta(minutes=47)
    Case.objects.filter(pk=approve.pk).update(created_at=waited)

    page = admin_ui.login("backoffice")
    assert page.inner_text("#home-holds .value") == "47 min"
    assert timezone.localtime(waited).strftime("%Y-%m-%d %H:%M") in page.inner_text(
        "#home-holds .detail"
    )
    assert page.locator("#home-holds").get_attribute("class").split() == ["card", "attention"]
    admin_ui.screenshot("home-backoffice-hold-waiting")
    admin_ui.follow("#home-holds a")
    admin_ui.screenshot("holds-queue")
    assert page.locator(f"input[name=_selected_action][value='{approve.pk}']").count() == 1

    admin_ui.run_action("/admin/fraud/case/", [approve.pk], "approve_cases")
    page.select_option("#id_reason_code", "verified_player")
    page.fill("#id_note", "Called the player; documents match.")
    assert "done for 1" in admin_ui.confirm()

    admin_ui.run_action("/admin/fraud/case/", [reject.pk], "reject_cases")
    page.select_option("#id_reason_code", "suspected_fraud")
    page.fill("#id_note", "Card reported stolen.")
    assert "done for 1" in admin_ui.confirm()

    approve.refresh_from_db()
    reject.refresh_from_db()
    assert approve.status == CaseStatus.APPROVED and reject.status == CaseStatus.REJECTED
    backoffice = get_user_model().objects.get(username="backoffice")
    assert approve.decided_by == backoffice and reject.decided_by == backoffice
    wallet = _wallet(player)
    # The approved 10.00 left the wallet; the rejected 5.00 came back.
    assert wallet.balance_minor == start - 10_00
    assert wallet.reserved_minor == 0
    page = admin_ui.open("/admin/")
    assert page.inner_text("#home-holds .value") == "none"


def test_compliance_suspends_and_restores_a_provider(admin_ui):
    provider = Provider.objects.get(code="stellar-slots")
    page = admin_ui.login("compliance")
    admin_ui.run_action("/admin/wallets/provider/", [provider.pk], "suspend_providers")
    assert "cannot bet" in page.inner_text("#content")  # the confirmation warns first
    admin_ui.screenshot("suspend-confirmation")
    page.fill("#id_reason", "Repeated signature failures from an unknown IP")
    assert "done for 1" in admin_ui.confirm()
    provider.refresh_from_db()
    assert provider.status == "suspended"
    assert provider.status_reason == "Repeated signature failures from an unknown IP"

    page = admin_ui.open("/admin/")
    assert page.inner_text("#home-providers .suspended") == "1 suspended"

    admin_ui.run_action("/admin/wallets/provider/", [provider.pk], "restore_providers")
    page.fill("#id_reason", "Provider rotated its secret")
    assert "done for 1" in admin_ui.confirm()
    provider.refresh_from_db()
    assert provider.status == "active"
    assert (
        AuditRecord.objects.filter(actor__username="compliance", target_id=str(provider.pk)).count()
        >= 2
    )


def test_support_closes_an_orphaned_session(admin_ui):
    player = Player.objects.get(external_id="demo-player-002")
    provider = Provider.objects.get(code="royale-live")  # idle timeout 600 s
    before = _wallet(player).balance_minor
    session, _token = ledger.open_session(
        player=player, provider=provider, currency="EUR", buy_in_minor=20_00
    )
    GameSession.objects.filter(pk=session.pk).update(
        last_activity_at=timezone.now() - timedelta(hours=2)
    )
    assert _wallet(player).reserved_minor == 20_00

    page = admin_ui.login("support")
    assert page.inner_text("#home-sessions .value") == "1"
    admin_ui.follow("#home-sessions a")
    assert page.locator(f"input[name=_selected_action][value='{session.pk}']").count() == 1
    admin_ui.run_action(page.url.replace(admin_ui.base_url, ""), [session.pk], "close_sessions")
    page.fill("#id_reason", "Player reports the table froze")
    assert "done for 1" in admin_ui.confirm()

    session.refresh_from_db()
    assert session.status != "open"
    wallet = _wallet(player)
    assert wallet.reserved_minor == 0 and wallet.balance_minor == before


def test_back_office_acknowledges_an_alert(admin_ui):
    provider = Provider.objects.get(code="spinwave")
    now = timezone.now()
    alert = Alert.objects.create(
        rule=AlertRule.ERROR_RATE,
        fingerprint=f"error_rate:{provider.pk}",
        provider=provider,
        state=AlertState.FIRING,
        summary="spinwave: error rate 7.5 % over 5 min",
        started_at=now - timedelta(minutes=8),
        fired_at=now - timedelta(minutes=3),
        last_seen_at=now,
    )
    page = admin_ui.login("backoffice")
    assert page.inner_text("#home-alerts .value") == "1"
    assert page.inner_text("#home-providers .degraded") == "1 degraded"
    admin_ui.follow("#home-alerts a")
    admin_ui.run_action(page.url.replace(admin_ui.base_url, ""), [alert.pk], "acknowledge_alerts")
    page.fill("#id_reason", "Provider confirmed an outage, fixing")
    assert "done for 1" in admin_ui.confirm()
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED
    assert alert.acknowledged_by.username == "backoffice"


def test_admin_views_the_monitoring_dashboard(admin_ui):
    spinwave = Provider.objects.get(code="spinwave")
    now = timezone.now()
    Alert.objects.create(
        rule=AlertRule.LATENCY_P95,
        fingerprint=f"latency_p95:{spinwave.pk}",
        provider=spinwave,
        state=AlertState.FIRING,
        summary="spinwave: p95 latency 840 ms over 5 min",
        started_at=now - timedelta(minutes=12),
        fired_at=now - timedelta(minutes=7),
        last_seen_at=now,
    )
    services.change_provider_status(
        provider=Provider.objects.get(code="royale-live"),
        status="suspended",
        reason="Unsigned calls from an unknown IP",
        actor=get_user_model().objects.get(username="admin"),
    )
    page = admin_ui.login("admin")
    assert page.inner_text("#home-providers .degraded") == "1 degraded"
    assert page.inner_text("#home-providers .suspended") == "1 suspended"
    admin_ui.screenshot("home-admin-degraded")
    admin_ui.follow("#home-providers a")
    page.wait_for_selector("text=Monitoring dashboard")
    content = page.inner_text("#content")
    for code in ("stellar-slots", "royale-live", "spinwave"):
        assert code in content
    assert "p95 latency 840 ms" in content
    admin_ui.screenshot("monitoring-dashboard")
