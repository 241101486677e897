"""Archiving the oldest ledger partition (wallets.partitions.archive_partition): refused inside
the retry horizon, out of order or with held rows; detached, exported with its count, sums and
SHA-256, verified by reading it back; dropped only once verified. Afterwards balances, full
reconciliation and the hash chain (verify_ledger --full) still add up, from the totals and
chain ends recorded at detach time, and new rows chain on from the archived ones.

DETACH ... CONCURRENTLY cannot run in a transaction: these tests commit (transactional_db)
and put the partition layout back as it was afterwards."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection

from reconciliation import services as reconciliation
from tests import factories
from wallets import ledger, partitions
from wallets.models import ArchivedWalletTotal, LedgerArchive, Transaction, Wallet

pytestmark = pytest.mark.django_db(transaction=True)


def _history_bound() -> datetime.datetime:
    with connection.cursor() as cursor:
        return {name: to for name, _, to in partitions._attached_partitions(cursor)}[
            partitions.HISTORY
        ]


@pytest.fixture
def layout(settings, tmp_path):
    """The history partition's bound, with the layout restored after the test: a history
    partition (MINVALUE to that bound) attached again, the stand-in month dropped."""
    settings.PITBOSS_LEDGER_ARCHIVE_DIR = tmp_path
    bound = _history_bound()
    yield bound
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS wallets_transaction_standin")
        cursor.execute("SELECT to_regclass(%s)", [partitions.HISTORY])
        exists = cursor.fetchone()[0] is not None
        cursor.execute(
            "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(%s)", [partitions.HISTORY]
        )
        attached = cursor.fetchone() is not None
        if exists and not attached:
            cursor.execute(f"DELETE FROM {partitions.HISTORY}")
            cursor.execute(
                f"ALTER TABLE wallets_transaction ATTACH PARTITION {partitions.HISTORY} "
                "FOR VALUES FROM (MINVALUE) TO (%s)",
                [bound],
            )
        elif not exists:
            cursor.execute(
                f"CREATE TABLE {partitions.HISTORY} PARTITION OF wallets_transaction "
                "FOR VALUES FROM (MINVALUE) TO (%s)",
                [bound],
            )


def _play(provider, session, prefix: str, rounds: int = 3):
    for n in range(rounds):
        ledger.bet(
            provider=provider,
            session=session,
            transaction_id=f"{prefix}-bet-{n}",
            round_id=f"{prefix}-r{n}",
            amount_minor=2_00,
            currency="EUR",
        )
        ledger.win(
            provider=provider,
            session=session,
            transaction_id=f"{prefix}-win-{n}",
            round_id=f"{prefix}-r{n}",
            amount_minor=3_00 if n % 2 else 0,
            currency="EUR",
            round_closed=True,
        )


def _full_checks_clean() -> tuple[int, int]:
    drifts = reconciliation.check_wallets(list(Wallet.objects.values_list("pk", flat=True)),
                                          full=True)  # fmt: skip
    verified = reconciliation.verify_ledger(full=True)
    assert drifts == []
    assert verified.broken == []
    return len(drifts), verified.rows


def test_archive_refusals(layout, player, provider):
    session, _ = factories.open_session(player, provider)
    _play(provider, session, "early", rounds=1)
    with pytest.raises(partitions.ArchiveRefused, match="inside the retry horizon"):
        partitions.archive_partition(partitions.HISTORY)
    later = layout + datetime.timedelta(days=31)
    with pytest.raises(partitions.ArchiveRefused, match="not the oldest partition"):
        partitions.archive_partition(
            partitions.partition_name(layout), now=later + datetime.timedelta(days=31)
        )
    with pytest.raises(partitions.ArchiveRefused, match="not a partition"):
        partitions.archive_partition("wallets_wallet", now=later)
    held = Transaction.objects.filter(player=player).order_by("id").first()
    Transaction.objects.filter(pk=held.pk).update(status="held")
    with pytest.raises(partitions.ArchiveRefused, match="1 held transaction"):
        partitions.archive_partition(partitions.HISTORY, now=later)
    Transaction.objects.filter(pk=held.pk).update(status="posted")
    with pytest.raises(partitions.ArchiveRefused, match="no verified archive"):
        partitions.drop_archived_partition(partitions.HISTORY)
    assert not LedgerArchive.objects.exists()


def test_archive_then_balances_reconciliation_and_chain_still_hold(layout, player, provider):
    session, _ = factories.open_session(player, provider)
    _play(provider, session, "old")
    other = factories.funded_player(50_00)
    other_session, _ = factories.open_session(other, provider)
    _play(provider, other_session, "other", rounds=2)
    assert _full_checks_clean()[1] > 0
    old_rows = Transaction.objects.count()
    sums = {
        "EUR": {
            "rows": old_rows,
            "delta_minor": sum(Transaction.objects.values_list("delta_minor", flat=True)),
            "amount_minor": sum(Transaction.objects.values_list("amount_minor", flat=True)),
        }
    }

    archive = partitions.archive_partition(
        partitions.HISTORY, now=layout + datetime.timedelta(days=31)
    )
    assert archive.verified_at is not None
    assert (archive.rows, archive.sums) == (old_rows, sums)
    assert len(archive.sha256) == 64
    totals = {t.wallet_id: t for t in ArchivedWalletTotal.objects.filter(archive=archive)}
    wallet = Wallet.objects.get(pk=session.wallet_id)
    assert totals[wallet.pk].settled_minor == wallet.balance_minor
    assert Transaction.objects.count() == 0  # the rows left the ledger with the partition
    with connection.cursor() as cursor:
        names = [row[0] for row in partitions._attached_partitions(cursor)]
    assert partitions.HISTORY not in names

    # Balances, full reconciliation and the full chain check hold without the rows.
    _full_checks_clean()
    # The months before the next partition still need one in this test (today is before the
    # first boundary): a stand-in covers them, and play goes on in both wallets.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE wallets_transaction_standin PARTITION OF wallets_transaction "
            "FOR VALUES FROM (MINVALUE) TO (%s)",
            [layout],
        )
    _play(provider, session, "new")
    _play(provider, other_session, "new-other", rounds=1)
    _, rows = _full_checks_clean()
    assert rows == Transaction.objects.count()  # only the rows in the ledger are read
    assert reconciliation.verify_ledger().broken == []  # incremental, from the checkpoints

    # The export is verified again before the table goes; a changed file stops the drop.
    path = archive.file
    with open(path, "rb") as exported:
        original = exported.read()
    with open(path, "ab") as tampered:
        tampered.write(b"x")
    with pytest.raises(partitions.ArchiveRefused, match="SHA-256"):
        partitions.drop_archived_partition(partitions.HISTORY)
    with open(path, "wb") as restored:
        restored.write(original)
    call_command("ledger_partitions", "drop", partitions.HISTORY)
    archive.refresh_from_db()
    assert archive.dropped_at is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partitions.HISTORY])
        assert cursor.fetchone()[0] is None
    _full_checks_clean()
