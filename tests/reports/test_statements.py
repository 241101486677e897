"""Provider statements: the fee at the rate in effect each day (history), rounding, nothing due
on a negative GGR, and the comparison with the provider's invoice figures."""

import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from reports import selectors, services
from reports.models import GgrDaily, ProviderFee, ProviderInvoice
from tests import factories
from tests.reports.helpers import direct_ggr
from wallets import ledger

pytestmark = pytest.mark.django_db


def day_row(provider, day, currency="EUR", stakes=0, wins=0, refunds=0, **extra):
    return GgrDaily.objects.create(
        provider=provider,
        game_id="g",
        currency=currency,
        day=day,
        stakes_minor=stakes,
        wins_minor=wins,
        refunds_minor=refunds,
        rolled_up_at=timezone.now(),
        **extra,
    )


@pytest.fixture
def provider(db):
    return factories.make_provider(f"st-{uuid.uuid4().hex[:8]}")[0]


def test_a_rate_change_mid_month_splits_the_fee(provider):
    ProviderFee.objects.create(
        provider=provider, percent=Decimal("10"), effective_from=date(2026, 1, 1)
    )
    ProviderFee.objects.create(
        provider=provider, percent=Decimal("12.5"), effective_from=date(2026, 11, 16)
    )
    day_row(provider, date(2026, 11, 3), stakes=1000_00, wins=600_00)  # GGR 400.00 at 10 %
    day_row(provider, date(2026, 11, 20), stakes=500_00, wins=300_01)  # GGR 199.99 at 12.5 %
    day_row(provider, date(2026, 10, 31), stakes=999_00)  # another month
    statement = selectors.provider_statement(provider, date(2026, 11, 1))
    (line,) = statement.lines
    assert line.ggr_minor == 599_99
    # 40.00 + 24.99875 -> 25.00 (half up)
    assert line.fee_minor == 40_00 + 25_00
    assert line.amount_due_minor == 65_00
    assert [(p[0].day, p[1].day, p[2]) for p in line.periods] == [
        (1, 15, Decimal("10")),
        (16, 30, Decimal("12.5")),
    ]


def test_no_fee_before_the_first_rate_and_nothing_due_on_a_negative_ggr(provider):
    day_row(provider, date(2026, 11, 2), stakes=100_00, wins=50_00)
    ProviderFee.objects.create(
        provider=provider, percent=Decimal("20"), effective_from=date(2026, 11, 10)
    )
    day_row(provider, date(2026, 11, 12), stakes=100_00, wins=400_00)
    (line,) = selectors.provider_statement(provider, date(2026, 11, 1)).lines
    assert line.ggr_minor == 50_00 - 300_00
    assert line.fee_minor == -60_00
    assert line.amount_due_minor == 0


def test_currencies_are_never_added_together(provider):
    day_row(provider, date(2026, 11, 2), currency="EUR", stakes=100_00)
    day_row(provider, date(2026, 11, 2), currency="JPY", stakes=5000)
    lines = selectors.provider_statement(provider, date(2026, 11, 1)).lines
    assert [(line.currency, line.ggr_minor) for line in lines] == [("EUR", 100_00), ("JPY", 5000)]


def test_the_invoice_is_compared_figure_by_figure(provider):
    ProviderFee.objects.create(
        provider=provider, percent=Decimal("10"), effective_from=date(2026, 1, 1)
    )
    day_row(provider, date(2026, 11, 2), stakes=1000_00, wins=500_00, refunds=10_00)
    ProviderInvoice.objects.create(
        provider=provider,
        month=date(2026, 11, 1),
        currency="EUR",
        reference="INV-1",
        stakes_minor=990_00,
        wins_minor=500_00,
        ggr_minor=495_00,
        fee_minor=49_50,
        amount_due_minor=49_50,
    )
    ProviderInvoice.objects.create(
        provider=provider,
        month=date(2026, 11, 1),
        currency="USD",
        reference="INV-2",
        ggr_minor=1_00,
        fee_minor=10,
        amount_due_minor=10,
    )
    statement = selectors.provider_statement(provider, date(2026, 11, 1))
    (line,) = statement.lines
    assert line.differences == [
        ("GGR", 490_00, 495_00, -5_00),
        ("fee", 49_00, 49_50, -50),
        ("amount due", 49_00, 49_50, -50),
    ]
    assert [i.currency for i in statement.unmatched_invoices] == ["USD"]
    assert statement.has_differences


def test_a_statement_from_the_ledger_agrees_with_direct_sums(provider):
    ProviderFee.objects.create(
        provider=provider, percent=Decimal("7.5"), effective_from=date(2020, 1, 1)
    )
    player = factories.funded_player(1000_00)
    session, _ = factories.open_session(player, provider)
    for n in range(5):
        ledger.bet(
            provider=provider,
            session=session,
            transaction_id=f"s{n}",
            round_id=f"r{n}",
            amount_minor=(n + 1) * 3_33,
            currency="EUR",
        )
    ledger.win(
        provider=provider,
        session=session,
        transaction_id="w0",
        round_id="r0",
        amount_minor=2_00,
        currency="EUR",
    )
    services.roll_up()
    today = timezone.now().date()
    (line,) = selectors.provider_statement(provider, today.replace(day=1)).lines
    direct = [v for k, v in direct_ggr().items() if k[0] == provider.pk]
    ggr = sum(v["stakes_minor"] - v["refunds_minor"] - v["wins_minor"] for v in direct)
    assert line.ggr_minor == ggr
    assert line.fee_minor == selectors.fee_of(ggr, Decimal("7.5"))
