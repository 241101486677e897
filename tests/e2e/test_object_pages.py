"""Deciding where the facts are, in a real browser (Debian's Chromium driven by Playwright)
against a live server, each flow as the role that does it: support ends a session from its
page, compliance suspends a provider ending its sessions, back office acknowledges a pending
alert and proposes a correction seeing its effect first, an integrator creates and rotates
their API token seeing it once; the error pages, player search, and list pages at 1280 px.
Every test asserts the outcome in the database. Screenshots refresh the README's."""

import os
import shutil
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert
from reconciliation.models import CorrectionRequest, Discrepancy
from tests.e2e.conftest import ROOT, SCREENSHOTS
from tests.reconciliation.helpers import reconcile_rows, row
from wallets import ledger
from wallets.models import AuditRecord, Player, Provider, Wallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

README_SCREENSHOTS = ROOT / "docs" / "screenshots"


def publish(name: str) -> None:
    """With PITBOSS_PUBLISH_SCREENSHOTS=1, copy a screenshot taken by the test to
    docs/screenshots/ (the README shows it); otherwise a test run leaves the docs alone."""
    if os.environ.get("PITBOSS_PUBLISH_SCREENSHOTS") == "1":
        shutil.copyfile(SCREENSHOTS / f"{name}.png", README_SCREENSHOTS / f"{name}.png")


def _wallet(player, currency="EUR"):
    return Wallet.objects.get(player=player, currency=currency)


def test_support_ends_a_session_from_its_page(admin_ui):
    player = Player.objects.get(external_id="demo-player-002")
    provider = Provider.objects.get(code="royale-live")
    before = _wallet(player).balance_minor
    session, _token = ledger.open_session(
        player=player, provider=provider, currency="EUR", buy_in_minor=20_00
    )
    page = admin_ui.login("support")
    admin_ui.open(f"/admin/wallets/gamesession/{session.pk}/change/")
    assert "20.00 EUR" in page.inner_text("#content")
    admin_ui.follow("a[data-action=end]")
    assert "returns to the player" in page.inner_text("#content")
    page.fill("#id_reason", "Player reports the table froze")
    admin_ui.screenshot("session-end-confirmation")
    publish("session-end-confirmation")
    with page.expect_navigation():
        page.click("input[type=submit][value=Confirm]")
    assert "20.00 EUR returned to the player" in page.inner_text("ul.messagelist")
    # Back on the session's page: ended, no end button, the decision in its history.
    assert page.locator("a[data-action=end]").count() == 0
    assert "Player reports the table froze" in page.inner_text("#content")
    session.refresh_from_db()
    assert (session.status, session.end_reason) == ("killed", "staff")
    wallet = _wallet(player)
    assert wallet.reserved_minor == 0 and wallet.balance_minor == before


def test_compliance_suspends_a_provider_ending_its_sessions(admin_ui):
    provider = Provider.objects.get(code="stellar-slots")
    player = Player.objects.get(external_id="demo-player-003")
    session, _token = ledger.open_session(
        player=player, provider=provider, currency="EUR", buy_in_minor=15_00
    )
    page = admin_ui.login("compliance")
    admin_ui.open(f"/admin/wallets/provider/{provider.pk}/change/")
    admin_ui.follow("a[data-action=suspend]")
    label = page.inner_text("label[for=id_end_open_sessions]")
    assert "1 open session(s)" in label and "15.00 EUR" in label
    page.fill("#id_reason", "Certificate expired, calls from an unknown IP")
    page.check("#id_end_open_sessions")
    admin_ui.screenshot("provider-suspend-confirmation")
    publish("provider-suspend-confirmation")
    with page.expect_navigation():
        page.click("input[type=submit][value=Confirm]")
    assert "1 open session(s) ended" in page.inner_text("ul.messagelist")
    provider.refresh_from_db()
    session.refresh_from_db()
    assert provider.status == "suspended"
    assert (session.status, session.end_reason) == ("killed", "provider_suspension")
    assert _wallet(player).reserved_minor == 0
    assert AuditRecord.objects.filter(
        action="provider.status", actor__username="compliance", target_id=str(provider.pk)
    ).exists()


def test_back_office_acknowledges_a_pending_alert_from_its_page(admin_ui):
    provider = Provider.objects.get(code="spinwave")
    now = timezone.now()
    alert = Alert.objects.create(
        rule=AlertRule.LATENCY_P95,
        fingerprint=f"latency_p95:{provider.pk}",
        provider=provider,
        state=AlertState.PENDING,
        value=640,
        threshold=500,
        summary="spinwave: p95 640 ms over 5 min",
        started_at=now - timedelta(seconds=40),
        last_seen_at=now,
    )
    page = admin_ui.login("backoffice")
    admin_ui.open(f"/admin/monitoring/alert/{alert.pk}/change/")
    assert "640 ms (alert above 500 ms)" in page.inner_text("#content")
    admin_ui.follow("a[data-action=acknowledge]")
    page.fill("#id_reason", "Provider deploying a new build, watching")
    with page.expect_navigation():
        page.click("input[type=submit][value=Confirm]")
    content = page.inner_text("#content")
    assert "Provider deploying a new build, watching" in content
    assert page.locator("a[data-action=acknowledge]").count() == 0
    admin_ui.screenshot("alert-acknowledged")
    publish("alert-acknowledged")
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED
    assert alert.acknowledged_by.username == "backoffice"
    assert alert.acknowledgement_note == "Provider deploying a new build, watching"


def test_back_office_proposes_a_correction_seeing_its_effect_first(admin_ui):
    provider = Provider.objects.get(code="stellar-slots")
    player = Player.objects.get(external_id="demo-player-001")
    balance = _wallet(player).balance_minor
    reconcile_rows(provider, [row("late-bet-1", player, amount="12.50")])
    discrepancy = Discrepancy.objects.get(provider_transaction_id="late-bet-1")
    Discrepancy.objects.filter(pk=discrepancy.pk).update(status="open")

    page = admin_ui.login("backoffice")
    admin_ui.open(f"/admin/reconciliation/discrepancy/{discrepancy.pk}/change/")
    admin_ui.follow("a[data-action=propose]")
    assert page.input_value("#id_amount") == "12.50"  # the suggested correction
    assert page.is_checked("input[name=direction][value=debit]")
    page.fill("#id_reason", "The provider's report shows a bet our ledger missed")
    with page.expect_navigation():
        page.click("input[type=submit][value='Show the effect']")
    preview = page.inner_text("#pitboss-preview")
    assert "12.50 EUR" in preview and "debit" in preview
    from wallets.money import display_amount

    assert display_amount(balance, "EUR") in preview
    assert display_amount(balance - 12_50, "EUR") in preview
    assert CorrectionRequest.objects.count() == 0  # nothing yet
    admin_ui.screenshot("correction-preview")
    publish("correction-preview")
    with page.expect_navigation():
        page.click("input[type=submit][value=Confirm]")
    assert "a second staff user must approve it" in page.inner_text("ul.messagelist")
    correction = CorrectionRequest.objects.get()
    assert correction.delta_minor == -12_50 and correction.requested_by.username == "backoffice"
    assert _wallet(player).balance_minor == balance  # four eyes: not posted yet


def test_integrator_creates_and_rotates_their_token_seeing_it_once(admin_ui):
    page = admin_ui.login("integrator")
    admin_ui.follow("#user-tools a[href='/admin/my-api-token/']")
    assert "You have no API token yet." in page.inner_text("#content")
    with page.expect_navigation():
        page.click("#create-form input[type=submit]")
    shown = page.inner_text("code.pitboss-secret")
    token = Token.objects.get(user__username="integrator")
    assert shown == token.key
    admin_ui.screenshot("my-api-token-shown-once")
    publish("my-api-token-shown-once")
    page.reload()
    assert page.locator("code.pitboss-secret").count() == 0  # shown once
    assert token.key not in page.content()

    admin_ui.follow("#rotate-link")
    page.fill("#id_reason", "Rotating after a laptop was lost")
    with page.expect_navigation():
        page.click("#rotate-form input[type=submit]")
    rotated = page.inner_text("code.pitboss-secret")
    assert rotated != shown and rotated == Token.objects.get(user__username="integrator").key
    assert "no longer works" in " ".join(page.locator("ul.messagelist").all_inner_texts())
    assert [r.action for r in AuditRecord.objects.filter(actor__username="integrator")] == [
        "api_token.rotate",
        "api_token.create",
    ]


def test_integrator_reads_the_docs_and_the_schema(admin_ui):
    page = admin_ui.login("integrator")
    admin_ui.follow("#user-tools a[href='/admin/docs/']")
    admin_ui.follow("a[href='/admin/docs/integrations/hub88/']")
    assert "Hub88" in page.inner_text("h1")
    admin_ui.open("/api/docs/")
    page.wait_for_selector(".swagger-ui .info a[href='/admin/docs/']")
    admin_ui.open("/api/schema/")
    assert page.locator("#schema-operations tr").count() > 20
    assert "/api/v1/providers/" in page.inner_text("#schema-operations")


def test_error_pages_have_a_way_back(admin_ui):
    page = admin_ui.login("support")
    response = page.goto(admin_ui.base_url + "/admin/wallets/provider/add/")
    assert response.status == 403
    assert "Not allowed (403)" in page.inner_text("h1")
    admin_ui.screenshot("error-403")
    admin_ui.follow("#back-home")
    assert page.url.endswith("/admin/")
    response = page.goto(admin_ui.base_url + "/admin/wallets/nothing-here/")
    assert response.status == 404
    assert "Not found (404)" in page.inner_text("h1")
    admin_ui.screenshot("error-404")
    admin_ui.follow("#back-home")
    assert page.url.endswith("/admin/")
    # "View site" leads to the back office's home, not to a debug 404.
    admin_ui.follow("#user-tools a:text('View site')")
    assert page.url.endswith("/admin/")


def test_support_finds_a_player_by_internal_or_external_id(admin_ui):
    player = Player.objects.get(external_id="demo-player-004")
    page = admin_ui.login("support")
    admin_ui.open("/admin/wallets/player/")
    page.fill("#searchbar", str(player.pk))
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "demo-player-004" in rows.first.inner_text()
    page.fill("#searchbar", "player-004")
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    assert page.locator("#result_list tbody tr").count() == 1


LIST_PAGES = [
    "/admin/wallets/player/",
    "/admin/wallets/provider/",
    "/admin/wallets/gamesession/",
    "/admin/wallets/transaction/",
    "/admin/wallets/wallet/",
    "/admin/wallets/round/",
    "/admin/wallets/auditrecord/",
    "/admin/wallets/providercredential/",
    "/admin/monitoring/alert/",
    "/admin/monitoring/monitoringprofile/",
    "/admin/monitoring/notificationdelivery/",
    "/admin/monitoring/notification/",
    "/admin/monitoring/route/",
    "/admin/monitoring/inhibitrule/",
    "/admin/reconciliation/discrepancy/",
    "/admin/reconciliation/reconciliationrun/",
    "/admin/reconciliation/correctionrequest/",
    "/admin/reconciliation/reportrow/",
    "/admin/compliance/securityviolation/",
    "/admin/fraud/fraudrule/",
    "/admin/fraud/rulehit/",
    "/admin/fraud/playerrisk/",
]


def test_list_pages_fit_a_1280_pixel_screen(admin_ui):
    page = admin_ui.login("admin")
    too_wide = {}
    for path in LIST_PAGES:
        response = page.goto(admin_ui.base_url + path)
        assert response.status == 200, path
        widths = page.evaluate(
            """() => {
                const table = document.querySelector('#result_list');
                const page = document.documentElement;
                return {page: page.scrollWidth, view: page.clientWidth,
                        table: table ? table.scrollWidth : 0,
                        box: table ? table.parentElement.clientWidth : 0};
            }"""
        )
        if widths["page"] > widths["view"] or widths["table"] > widths["box"] + 1:
            too_wide[path] = widths
    for path, widths in too_wide.items():
        print(path, widths)
    assert not too_wide, list(too_wide)
