"""The day's roll-up on a ledger of many monthly partitions: a day's rounds are read only from
the first partition holding a row written after the day's first row, so the roll-up of a day
does not look each round up in every month of history; the bound comes from ids, not clocks,
so a late win dated earlier still counts; a bound taken stale proves nothing and is taken
again."""

import datetime

import pytest
from django.db import connection

from reports import services
from reports.models import GgrDaily
from tests import factories
from tests.reports.helpers import direct_ggr, rolled_up
from wallets import ledger
from wallets.models import IdempotencyKey, Round, Transaction

pytestmark = pytest.mark.django_db

FEBRUARY = datetime.datetime(2027, 2, 10, 12, tzinfo=datetime.UTC)
JANUARY = datetime.datetime(2027, 1, 20, 12, tzinfo=datetime.UTC)


def _play(provider, session, round_id: str, when: datetime.datetime) -> None:
    """A bet of 10.00 in `round_id`, the round and its row dated `when` (test set-up: the
    ledger dates both with the time of the call; the row moves to that month's partition)."""
    done = ledger.bet(
        provider=provider, session=session, transaction_id=f"bet-{round_id}",
        round_id=round_id, amount_minor=10_00, currency="EUR",
    ).transaction  # fmt: skip
    _date(done, when)
    Round.objects.filter(pk=done.round_id).update(opened_at=when)


def _date(row: Transaction, when: datetime.datetime) -> None:
    IdempotencyKey.objects.filter(transaction_id=row.pk).update(created_at=when)
    Transaction.objects.filter(pk=row.pk).update(created_at=when)


def _win(provider, session, round_id: str, amount: int) -> Transaction:
    return ledger.win(
        provider=provider, session=session, transaction_id=f"win-{round_id}-{amount}",
        round_id=round_id, amount_minor=amount, currency="EUR",
    ).transaction  # fmt: skip


@pytest.fixture
def game(db):
    provider, _ = factories.make_provider()
    player = factories.funded_player(1_000_00)
    session, _ = factories.open_session(player, provider)
    return provider, session


def _params(day: datetime.date, provider) -> dict:
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    return {
        "providers": [provider.pk], "day": day, "start": start,
        "end": start + datetime.timedelta(days=1),
    }  # fmt: skip


def test_a_days_rounds_are_read_from_the_days_month_on(game):
    provider, session = game
    _play(provider, session, "feb", FEBRUARY)
    _date(_win(provider, session, "feb", 25_00), FEBRUARY + datetime.timedelta(hours=1))
    params = _params(FEBRUARY.date(), provider)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT since::text FROM ({services._BOUND_SQL}) b", params)
        since = cursor.fetchone()[0]
        assert since.startswith("2027-02-01")
        cursor.execute("EXPLAIN (COSTS OFF) " + services._GROUPS_SQL, {**params, "since": since})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    rounds_part = plan[plan.index("*SELECT* 1") : plan.index("*SELECT* 2")]
    assert "wallets_transaction_p202702" in rounds_part
    assert "wallets_transaction_history" not in rounds_part
    assert "wallets_transaction_p202701" not in rounds_part

    services.reroll_days(start=FEBRUARY.date(), end=FEBRUARY.date())
    day = GgrDaily.objects.get(day=FEBRUARY.date())
    assert (day.stakes_minor, day.wins_minor, day.bets) == (10_00, 25_00, 1)


def test_a_late_row_of_the_days_round_dated_earlier_still_counts(game):
    # The round opened in February; its win was written later (a greater id) but carries a
    # January time, as a writer whose clock lags would date it. A bound taken from the day's
    # time would leave January out.
    provider, session = game
    _play(provider, session, "feb", FEBRUARY)
    _date(_win(provider, session, "feb", 40_00), JANUARY)

    services.reroll_days(start=FEBRUARY.date(), end=FEBRUARY.date())
    day = GgrDaily.objects.get(day=FEBRUARY.date())
    assert (day.stakes_minor, day.wins_minor) == (10_00, 40_00)
    assert rolled_up() == {k: v for k, v in direct_ggr().items() if k[3] == FEBRUARY.date()}


def test_a_stale_bound_reads_nothing_and_the_day_is_read_again(game):
    provider, session = game
    _play(provider, session, "feb", FEBRUARY)
    late = _win(provider, session, "feb", 30_00)
    _date(late, JANUARY)
    params = _params(FEBRUARY.date(), provider)
    with connection.cursor() as cursor:
        # Taken as if the January row had been committed after the bound was read.
        cursor.execute(services._GROUPS_SQL, {**params, "since": "2027-02-01 00:00:00+00"})
        assert cursor.fetchall() == [(None,) * 14]

    # The race for real: a row of the day's round arrives between the bound and the read.
    arrived = []

    def a_win_arrives_after_the_bound(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "since::text" in sql and not arrived:
            arrived.append(_win(provider, session, "feb", 5_00))
            _date(arrived[0], JANUARY)
        return result

    with connection.execute_wrapper(a_win_arrives_after_the_bound):
        services.reroll_days(start=FEBRUARY.date(), end=FEBRUARY.date())
    assert GgrDaily.objects.get(day=FEBRUARY.date()).wins_minor == 35_00
