"""An index added to the partitioned ledger online (wallets.partitions.add_ledger_index): built
on each partition concurrently, attached to the parent's, which becomes valid; a build
interrupted half-way goes on from where it stopped (the parts attached are kept, a part left
invalid is built again); a partition created afterwards gets its part with it. And the index
the list pages filtered by a rare kind read (txn_rare_kinds) is there on every partition.

CREATE INDEX CONCURRENTLY cannot run in a transaction: these tests commit (transactional_db)
and drop what they made."""

import datetime

import pytest
from django.db import IntegrityError, connection, transaction

from tests import factories
from wallets import ledger, partitions

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "txn_test_amount"
FAR_MONTH = datetime.datetime(2040, 1, 1, tzinfo=datetime.UTC)


def _parts(name: str) -> dict[str, tuple[int, bool]]:
    """partition -> (its part's oid, valid) for the parts attached to the parent's index."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT t.relname, x.indexrelid::int, x.indisvalid
               FROM pg_inherits xi JOIN pg_index x ON x.indexrelid = xi.inhrelid
               JOIN pg_class t ON t.oid = x.indrelid
               WHERE xi.inhparent = %s::regclass""",
            [name],
        )
        return {table: (oid, valid) for table, oid, valid in cursor.fetchall()}


def _valid(name: str) -> bool | None:
    with connection.cursor() as cursor:
        return partitions._index_valid(cursor, name)


def _partitions() -> list[str]:
    return [partition.name for partition in partitions.partition_list()]


@pytest.fixture
def cleanup():
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {NAME}")  # with every part attached to it
        cursor.execute(f"DROP INDEX IF EXISTS {partitions.HISTORY}_{NAME}")
        cursor.execute(f"DROP TABLE IF EXISTS {partitions.partition_name(FAR_MONTH)}")


def test_the_rare_kinds_index_is_on_every_partition():
    assert _valid("txn_rare_kinds") is True
    assert sorted(_parts("txn_rare_kinds")) == sorted(_partitions())
    assert all(valid for _, valid in _parts("txn_rare_kinds").values())


def test_an_index_is_built_on_every_partition_and_attached(cleanup):
    built = partitions.add_ledger_index(NAME, "(amount_minor)")
    assert sorted(built) == sorted(_partitions())
    assert _valid(NAME) is True
    assert sorted(_parts(NAME)) == sorted(_partitions())
    assert partitions.add_ledger_index(NAME, "(amount_minor)") == []  # nothing left to do
    # A month created afterwards gets its part with it.
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {partitions.partition_name(FAR_MONTH)} PARTITION OF "
            f"{partitions.LEDGER} FOR VALUES FROM (%s) TO (%s)",
            [FAR_MONTH, partitions.add_months(FAR_MONTH, 1)],
        )
    assert partitions.partition_name(FAR_MONTH) in _parts(NAME)
    assert _valid(NAME) is True


def test_an_interrupted_build_goes_on_from_where_it_stopped(cleanup, player, provider):
    # Two rows with the same amount in the history partition (rows of today live there).
    session, _ = factories.open_session(player, provider)
    for n in (1, 2):
        ledger.bet(
            provider=provider,
            session=session,
            transaction_id=f"same-amount-{n}",
            round_id=f"r-{n}",
            amount_minor=1_00,
            currency=session.currency,
        )
    others = [name for name in _partitions() if name != partitions.HISTORY]
    kept = f"{others[0]}_{NAME}"
    with connection.cursor() as cursor:
        # What a run stopped half-way leaves: the parent's index (invalid), one part built
        # and attached, and one part whose concurrent build failed (left invalid). A unique
        # build over the two equal amounts fails that way.
        cursor.execute(f"CREATE INDEX {NAME} ON ONLY {partitions.LEDGER} (amount_minor)")
        cursor.execute(f"CREATE INDEX CONCURRENTLY {kept} ON {others[0]} (amount_minor)")
        cursor.execute(f"ALTER INDEX {NAME} ATTACH PARTITION {kept}")
        with pytest.raises(IntegrityError):
            cursor.execute(
                f"CREATE UNIQUE INDEX CONCURRENTLY {partitions.HISTORY}_{NAME} "
                f"ON {partitions.HISTORY} (amount_minor)"
            )
    assert _valid(NAME) is False
    assert _valid(f"{partitions.HISTORY}_{NAME}") is False
    kept_oid = _parts(NAME)[others[0]][0]

    built = partitions.add_ledger_index(NAME, "(amount_minor)")

    assert others[0] not in built  # kept as it was
    assert _parts(NAME)[others[0]][0] == kept_oid
    assert partitions.HISTORY in built  # the invalid part built again
    assert sorted(_parts(NAME)) == sorted(_partitions())
    assert all(valid for _, valid in _parts(NAME).values())
    assert _valid(NAME) is True


def test_the_rare_kinds_index_serves_a_rare_kind_newest_first(player, provider):
    """The planner proves `kind = 'rollback'` inside the index's predicate (bets and wins
    left out) and reads it in id order, newest first, in every partition: no sort."""
    session, _ = factories.open_session(player, provider)
    ledger.bet(
        provider=provider,
        session=session,
        transaction_id="kind-1",
        round_id="r-kind",
        amount_minor=1_00,
        currency=session.currency,
    )
    ledger.rollback(
        provider=provider,
        session=session,
        transaction_id="rb-1",
        reference_transaction_id="kind-1",
        round_id="r-kind",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits xi JOIN pg_class c ON c.oid = xi.inhrelid "
            "WHERE xi.inhparent = 'txn_rare_kinds'::regclass"
        )
        parts = {row[0] for row in cursor.fetchall()}
    with transaction.atomic(), connection.cursor() as cursor:
        # The test ledger is tiny: a sequential scan would win on cost; leave only indexes.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM wallets_transaction WHERE kind = 'rollback' "
            "ORDER BY id DESC LIMIT 100"
        )
        plan = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT id FROM wallets_transaction WHERE kind = 'rollback'")
        rollbacks = cursor.fetchall()
    scans = [line for line in plan if " on wallets_transaction" in line]
    assert len(scans) == len(_partitions()), plan
    assert all(line.split(" using ")[1].split(" on ")[0] in parts for line in scans), plan
    assert not any(line.strip().startswith("->  Sort") for line in plan), plan
    assert len(rollbacks) == 1
