"""The reports' admin pages: GGR with trend charts and CSV, provider statements (printable, CSV,
invoice comparison), the player's balance history from support's player page, the invoice form."""

import csv
import io
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from reports import services
from reports.models import ProviderFee, ProviderInvoice
from tests import factories
from wallets import ledger

pytestmark = pytest.mark.django_db


def login(*groups):
    client = Client()
    client.force_login(factories.UserFactory(groups=list(groups)))
    return client


@pytest.fixture
def activity(db):
    provider, _ = factories.make_provider(f"pg-{uuid.uuid4().hex[:8]}")
    player = factories.funded_player(500_00)
    session, _ = factories.open_session(player, provider)
    ledger.bet(
        provider=provider,
        session=session,
        transaction_id="p1",
        round_id="r1",
        amount_minor=1234_56 // 100,
        currency="EUR",
    )
    ledger.bet(
        provider=provider,
        session=session,
        transaction_id="p2",
        round_id="r2",
        amount_minor=40_00,
        currency="EUR",
    )
    ledger.win(
        provider=provider,
        session=session,
        transaction_id="p3",
        round_id="r2",
        amount_minor=100_00,
        currency="EUR",
    )
    services.roll_up()
    return provider, player, session


def test_ggr_page_shows_figures_as_people_read_them_with_a_trend_chart(activity):
    provider, _, _ = activity
    response = login("back_office").get("/admin/reports/ggr/", {"by": "provider"})
    assert response.status_code == 200
    html = response.content.decode()
    assert provider.code in html
    assert "52.34 EUR" in html  # stakes
    assert "-47.66 EUR" in html  # GGR
    assert "<svg" in html and "pitboss-chart" in html


def test_ggr_page_by_month_and_bad_dates(activity):
    client = login("compliance")
    response = client.get("/admin/reports/ggr/", {"period": "month", "by": "game"})
    assert response.status_code == 200
    response = client.get("/admin/reports/ggr/", {"from": "2026-99-01"})
    assert response.status_code == 200
    assert "from must be a date" in response.content.decode()


def test_ggr_page_csv(activity):
    provider, _, _ = activity
    response = login("back_office").get("/admin/reports/ggr/", {"by": "provider", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    (row,) = [r for r in rows if r["provider"] == provider.code]
    assert row["ggr"] == "-47.66" and row["ggr_minor"] == "-4766"


def test_report_pages_are_for_their_roles(activity):
    _, player, _ = activity
    assert login("support").get("/admin/reports/ggr/").status_code == 403
    assert login("integrator").get("/admin/reports/statements/").status_code == 403
    assert login("compliance").get(f"/admin/reports/players/{player.pk}/").status_code == 403
    assert Client().get("/admin/reports/ggr/").status_code == 302  # to the login page


def test_statement_page_printable_csv_and_invoice_differences(activity):
    provider, _, _ = activity
    ProviderFee.objects.create(
        provider=provider, percent=Decimal("10"), effective_from=date(2020, 1, 1)
    )
    month = timezone.now().date().replace(day=1)
    ProviderInvoice.objects.create(
        provider=provider,
        month=month,
        currency="EUR",
        reference="INV-9",
        ggr_minor=-47_00,
        fee_minor=0,
        amount_due_minor=0,
    )
    client = login("back_office")
    response = client.get(
        "/admin/reports/statements/", {"provider": provider.code, "month": f"{month:%Y-%m}"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "-47.66 EUR" in html
    assert "2 differences" in html and "-0.66 EUR" in html  # GGR and fee (-4.77 vs 0)
    assert "@media print" in html
    response = client.get(
        "/admin/reports/statements/",
        {"provider": provider.code, "month": f"{month:%Y-%m}", "format": "csv"},
    )
    (row,) = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["ggr_minor"] == "-4766" and row["amount_due"] == "0.00"
    assert "GGR: ours -47.66, theirs -47.00" in row["differences"]
    assert client.get("/admin/reports/statements/", {"provider": "nope"}).status_code == 200
    assert client.get("/admin/reports/statements/", {"month": "2026-xx"}).status_code == 200
    far = client.get("/admin/reports/statements/", {"provider": provider.code, "month": "9999-12"})
    assert far.status_code == 200 and "month must be between" in far.content.decode()


def test_player_page_from_support(activity):
    _, player, session = activity
    client = login("support")
    change = client.get(f"/admin/wallets/player/{player.pk}/change/")
    assert change.status_code == 200
    assert f"/admin/reports/players/{player.pk}/" in change.content.decode()
    start = (player.created_at - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    response = client.get(
        f"/admin/reports/players/{player.pk}/", {"from": start, "currency": "EUR"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    wallet = session.wallet
    wallet.refresh_from_db()
    assert f"{wallet.balance_minor / 100:,.2f} EUR" in html
    assert "opening balance" in html and "closing balance" in html
    assert html.count("<tr><td>") >= 5
    response = client.get(f"/admin/reports/players/{player.pk}/", {"from": start, "format": "csv"})
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[1][2] == "opening" and lines[-1][2] == "closing"
    bad = client.get(f"/admin/reports/players/{player.pk}/", {"at": "soon"})
    assert bad.status_code == 200 and "at must be an ISO-8601 instant" in bad.content.decode()


def test_invoice_form_reads_money_as_written(activity):
    provider, _, _ = activity
    client = Client()
    client.force_login(factories.UserFactory(groups=["back_office"]))
    response = client.post(
        "/admin/reports/providerinvoice/add/",
        {
            "provider": provider.pk,
            "month": "2026-11-17",
            "currency": "eur",
            "reference": "INV-1",
            "ggr": "1,234.50",
            "fee": "123.45",
            "amount_due": "123.45",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    invoice = ProviderInvoice.objects.get()
    assert (invoice.month, invoice.currency, invoice.ggr_minor) == (
        date(2026, 11, 1),
        "EUR",
        1234_50,
    )
    response = client.post(
        "/admin/reports/providerinvoice/add/",
        {
            "provider": provider.pk,
            "month": "2026-10-01",
            "currency": "EUR",
            "ggr": "1.234",
            "fee": "x",
            "amount_due": "1",
        },
    )
    assert response.status_code == 200
    assert ProviderInvoice.objects.count() == 1


def test_fee_history_is_append_only(activity):
    provider, _, _ = activity
    client = login("back_office")
    response = client.post(
        "/admin/reports/providerfee/add/",
        {
            "provider": provider.pk,
            "percent": "12.5",
            "effective_from": "2026-12-01",
            "note": "new deal",
        },
    )
    assert response.status_code == 302
    fee = ProviderFee.objects.get()
    assert client.get(f"/admin/reports/providerfee/{fee.pk}/change/").status_code == 200
    response = client.post(
        f"/admin/reports/providerfee/{fee.pk}/change/",
        {"provider": provider.pk, "percent": "50", "effective_from": "2026-12-01"},
    )
    assert response.status_code == 403
    fee.refresh_from_db()
    assert fee.percent == Decimal("12.5")


def test_home_links_the_reports(activity):
    html = login("back_office").get("/admin/").content.decode()
    assert "/admin/reports/ggr/" in html and "/admin/reports/statements/" in html
    assert "/admin/reports/ggr/" not in login("support").get("/admin/").content.decode()
