"""The incremental check on a ledger of many monthly partitions: a chunk of wallets reads the
ledger only from the first partition holding a row past its checkpoints, so its cost does not
grow with the months of history; the bound comes from the ids each partition holds, not from
clocks, so a row written later with an earlier time is still found; and a bound taken stale
(a row committed between the two statements) proves nothing and is taken again."""

import datetime

import pytest
from django.db import connection

from reconciliation import services
from reconciliation.models import WalletCheckpoint
from tests import factories
from wallets import ledger
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db

FEBRUARY = datetime.datetime(2027, 2, 10, 12, tzinfo=datetime.UTC)
JANUARY = datetime.datetime(2027, 1, 15, 12, tzinfo=datetime.UTC)


def _bet(provider, session, transaction_id: str) -> Transaction:
    return ledger.bet(
        provider=provider,
        session=session,
        transaction_id=transaction_id,
        round_id=f"round-{transaction_id}",
        amount_minor=1_00,
        currency="EUR",
    ).transaction


def _move(row: Transaction, when: datetime.datetime) -> None:
    """Date a row in another month: the row moves to that month's partition (the ledger never
    does this; tests stand in for a ledger with months of history this way)."""
    Transaction.objects.filter(pk=row.pk).update(created_at=when)


def _partition_of(row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM wallets_transaction WHERE id = %s", [row_id]
        )
        return cursor.fetchone()[0]


@pytest.fixture
def wallet_with_checkpoint(provider):
    """A player with three bets, proven by a full run; their rows moved to February 2027."""
    player = factories.funded_player(50_00)
    session, _ = factories.open_session(player, provider)
    rows = [_bet(provider, session, f"early-{n}") for n in range(3)]
    wallet = Wallet.objects.get(player=player, currency="EUR")
    for row in Transaction.objects.filter(wallet=wallet):
        _move(row, FEBRUARY)
    assert services.check_wallets([wallet.pk], full=True) == []
    assert WalletCheckpoint.objects.get(wallet=wallet).last_id == rows[-1].pk
    return wallet, session


def _bound(wallet_ids: list[int]) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT since::text FROM ({services._LEDGER_BOUND_SQL}) b",
            {"ids": wallet_ids, "full": False, **services.ledger_ranges()},
        )
        return cursor.fetchone()[0]


def test_a_chunk_reads_the_ledger_from_its_checkpoints_month_on(wallet_with_checkpoint, provider):
    wallet, session = wallet_with_checkpoint
    late = _bet(provider, session, "late")
    _move(late, FEBRUARY + datetime.timedelta(hours=1))
    assert _partition_of(late.pk) == "wallets_transaction_p202702"

    since = _bound([wallet.pk])
    assert since.startswith("2027-02-01")
    params = {"ids": [wallet.pk], "full": False, "since": since, **services.ledger_ranges()}
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (COSTS OFF) " + services._WALLET_CHECK_SINCE_SQL, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The rows after the checkpoint are read in February and the months after it only.
    after_checkpoint = plan[plan.index("*SELECT* 1") : plan.index("*SELECT* 2")]
    assert "wallets_transaction_p202702" in after_checkpoint
    assert "wallets_transaction_history" not in after_checkpoint
    assert "wallets_transaction_p202701" not in after_checkpoint

    assert services.check_wallets([wallet.pk]) == []
    assert WalletCheckpoint.objects.get(wallet=wallet).last_id == late.pk


def test_a_row_written_later_with_an_earlier_time_is_still_found(wallet_with_checkpoint, provider):
    # The checkpoint's row is dated February; a later row (a greater id) carries a January
    # time, as a writer whose clock lags would date it. A bound taken from the checkpoint's
    # time would leave January out and report the wallet as drifting.
    wallet, session = wallet_with_checkpoint
    late = _bet(provider, session, "late-but-dated-earlier")
    _move(late, JANUARY)
    assert _partition_of(late.pk) == "wallets_transaction_p202701"

    assert _bound([wallet.pk]).startswith("2027-01-01")
    assert services.check_wallets([wallet.pk]) == []
    assert WalletCheckpoint.objects.get(wallet=wallet).last_id == late.pk

    # A real drift in the same wallet is still reported, and its checkpoint stays.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_wallet SET balance_minor = balance_minor + 7 WHERE id = %s", [wallet.pk]
        )
    _move(_bet(provider, session, "after-the-drift"), JANUARY)
    (drift,) = services.check_wallets([wallet.pk])
    assert drift.balance_minor - drift.expected_balance_minor == 7
    assert WalletCheckpoint.objects.get(wallet=wallet).last_id == late.pk


def test_a_stale_bound_proves_nothing_and_is_taken_again(wallet_with_checkpoint, provider):
    wallet, session = wallet_with_checkpoint
    late = _bet(provider, session, "late-in-january")
    _move(late, JANUARY)
    checkpoint = WalletCheckpoint.objects.get(wallet=wallet)

    # Taken too late (as if the January row had been committed after the bound was read):
    # no wallet is proven or reported, one row of NULLs says the bound moved.
    params = {"ids": [wallet.pk], "full": False, **services.ledger_ranges()}
    with connection.cursor() as cursor:
        cursor.execute(
            services._WALLET_CHECK_SINCE_SQL, {**params, "since": "2027-02-01 00:00:00+00"}
        )
        assert cursor.fetchall() == [(None,) * 6]
    assert WalletCheckpoint.objects.get(wallet=wallet).last_id == checkpoint.last_id

    # The same race for real: the row arrives between the bound and the check. check_wallets
    # takes the bound again and finds it.
    arrived = []

    def a_row_arrives_after_the_bound(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "since::text" in sql and not arrived:
            arrived.append(_bet(provider, session, "between-the-statements"))
            _move(arrived[0], JANUARY)
        return result

    with connection.execute_wrapper(a_row_arrives_after_the_bound):
        assert services.check_wallets([wallet.pk]) == []
    assert WalletCheckpoint.objects.get(wallet=wallet).last_id == arrived[0].pk
