"""The money reports in a real browser: back office reads the revenue page (trend chart, table,
totals) and a provider's statement; support follows a player's page to the balance history and
reads the balance at an instant and the statement of movements. Figures are checked against the
ledger."""

import pytest
from django.utils import timezone

from reports import services
from wallets import ledger
from wallets.models import Player, Provider

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _play(player, provider):
    session, _ = ledger.open_session(player=player, provider=provider, currency="EUR")
    ledger.bet(provider=provider, session=session, transaction_id="e2e-b1", round_id="e2e-r1",
               amount_minor=25_00, currency="EUR")  # fmt: skip
    ledger.win(provider=provider, session=session, transaction_id="e2e-w1", round_id="e2e-r1",
               amount_minor=10_00, currency="EUR")  # fmt: skip
    services.roll_up()


def test_back_office_reads_revenue_and_a_statement(admin_ui):
    player = Player.objects.get(external_id="demo-player-001")
    provider = Provider.objects.get(code="royale-live")
    _play(player, provider)

    page = admin_ui.login("backoffice")
    admin_ui.follow("#pitboss-pages a[href='/admin/reports/ggr/']")
    assert page.locator("svg.pitboss-chart").count() >= 1
    table = page.inner_text("#ggr-table")
    assert "royale-live" in table and "25.00 EUR" in table and "15.00 EUR" in table
    admin_ui.screenshot("reports-ggr")

    admin_ui.open("/admin/reports/statements/")
    page.select_option("select[name=provider]", "royale-live")
    page.fill("input[name=month]", timezone.now().strftime("%Y-%m"))
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "15.00 EUR" in page.inner_text("#statement-table")
    assert "no invoice entered" in page.inner_text("#invoice-comparison")


def test_support_reads_a_player_s_balance_history(admin_ui):
    player = Player.objects.get(external_id="demo-player-002")
    provider = Provider.objects.get(code="royale-live")
    wallet = player.wallets.get(currency="EUR")
    _play(player, provider)
    wallet.refresh_from_db()

    page = admin_ui.login("support")
    admin_ui.open(f"/admin/wallets/player/{player.pk}/change/")
    admin_ui.follow("#balance-history-link")
    balance_text = f"{wallet.balance_minor // 100:,}.{wallet.balance_minor % 100:02d} EUR"
    assert balance_text in page.inner_text("#balance-at")
    page.fill("#statement-from", player.created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    with page.expect_navigation():
        page.click("#statement-show")
    statement = page.inner_text("#statement")
    assert "opening balance" in statement and "bet" in statement and "win" in statement
    assert balance_text in statement
    admin_ui.screenshot("reports-player-statement")
