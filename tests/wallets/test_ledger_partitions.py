"""The partitioned ledger at work (wallets.partitions): months created ahead, rows routed to
their month, idempotency keys written with every row and pruned past the retry horizon, and
the references to old rows still found when their keys are gone."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests import factories
from wallets import ledger, partitions
from wallets.errors import TransactionRolledBack
from wallets.models import BetRefusal, IdempotencyKey, Transaction, Wallet

pytestmark = pytest.mark.django_db


def _partition_of(row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM wallets_transaction WHERE id = %s", [row_id]
        )
        return cursor.fetchone()[0]


def _bet(provider, session, transaction_id: str, amount_minor: int = 1_00, round_id="r-1"):
    return ledger.bet(
        provider=provider,
        session=session,
        transaction_id=transaction_id,
        round_id=round_id,
        amount_minor=amount_minor,
        currency=session.currency,
    )


def test_the_ledger_is_partitioned_by_month_with_months_ahead():
    with connection.cursor() as cursor:
        assert partitions.is_partitioned(cursor)
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'wallets_transaction'::regclass AND contype = 'p'"
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, created_at)"
    names = [p.name for p in partitions.partition_list()]
    assert names[0] == partitions.HISTORY
    assert partitions.future_months() >= 2


def test_ensure_creates_the_months_ahead_and_rows_go_to_their_month(player, provider):
    later = datetime.datetime(2031, 6, 15, 12, tzinfo=datetime.UTC)
    status = partitions.ensure_ledger_partitions(months_ahead=3, now=later)
    # Every month from the last one there up to three after June 2031, none skipped.
    assert status.created[-1] == "wallets_transaction_p203109"
    assert status.future_months == 3 and not status.short
    assert status.last_bound == datetime.datetime(2031, 10, 1, tzinfo=datetime.UTC)
    again = partitions.ensure_ledger_partitions(months_ahead=3, now=later)
    assert again.created == []  # idempotent

    session, _ = factories.open_session(player, provider)
    bet = _bet(provider, session, "routed-1").transaction
    assert _partition_of(bet.pk) == partitions.HISTORY  # before the first boundary
    # A row whose time is in a month of its own lives in that month's partition (an UPDATE
    # of created_at moves it: the ledger functions never do; tests backdate rows this way).
    Transaction.objects.filter(pk=bet.pk).update(
        created_at=datetime.datetime(2031, 7, 2, tzinfo=datetime.UTC)
    )
    assert _partition_of(bet.pk) == "wallets_transaction_p203107"
    key = IdempotencyKey.objects.get(transaction_id=bet.pk)  # the key followed the row
    assert key.created_at == datetime.datetime(2031, 7, 2, tzinfo=datetime.UTC)
    assert _bet(provider, session, "routed-1").transaction.pk == bet.pk  # found there
    # Django reads and writes it by its id alone.
    row = Transaction.objects.get(pk=bet.pk)
    row.note = "seen"
    row.save(update_fields=["note"])
    assert Transaction.objects.get(pk=bet.pk).note == "seen"


def test_the_partition_command_reports_and_creates(capsys):
    call_command("ledger_partitions", "ensure", "--months-ahead", "4")
    out = capsys.readouterr().out
    assert "future month(s) ready" in out
    call_command("ledger_partitions", "status")
    out = capsys.readouterr().out
    assert partitions.HISTORY in out and "future month(s) ready" in out


def test_every_row_gets_its_key_in_the_same_statement(player, provider):
    session, _ = factories.open_session(player, provider)
    bet = _bet(provider, session, "keyed-1").transaction
    deposit = ledger.deposit(
        player=player, currency="EUR", amount_minor=5_00, external_id="dep-keyed-1"
    ).transaction
    keys = {
        k.transaction_id: k
        for k in IdempotencyKey.objects.filter(transaction_id__in=[bet.pk, deposit.pk])
    }
    assert (keys[bet.pk].provider_id, keys[bet.pk].external_id) == (provider.pk, "keyed-1")
    assert keys[bet.pk].created_at == bet.created_at
    assert (keys[deposit.pk].provider_id, keys[deposit.pk].kind) == (None, "deposit")
    # A retry is answered from the key: the same row, marked as a duplicate.
    again = _bet(provider, session, "keyed-1")
    assert again.duplicate and again.transaction.pk == bet.pk
    again = ledger.deposit(
        player=player, currency="EUR", amount_minor=5_00, external_id="dep-keyed-1"
    )
    assert again.duplicate and again.transaction.pk == deposit.pk


def test_keys_past_the_horizon_are_pruned_and_old_rows_still_found(player, provider, settings):
    settings.PITBOSS_RETRY_HORIZON_DAYS = 30
    session, _ = factories.open_session(player, provider)
    old_bet = _bet(provider, session, "old-1", round_id="r-old").transaction
    new_bet = _bet(provider, session, "new-1", round_id="r-new").transaction
    BetRefusal.objects.create(
        provider=provider,
        player=player,
        external_id="refused-old",
        code="INSUFFICIENT_FUNDS",
        amount_minor=1,
        currency="EUR",
        created_at=timezone.now() - datetime.timedelta(days=31),
    )
    # The old bet and what the player had before it (keys are walked in id order).
    aged = IdempotencyKey.objects.filter(transaction_id__lte=old_bet.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=31)
    )
    assert aged >= 2
    assert partitions.prune_idempotency_keys(batch_size=1) == aged
    assert not IdempotencyKey.objects.filter(transaction_id=old_bet.pk).exists()
    assert IdempotencyKey.objects.filter(transaction_id=new_bet.pk).exists()
    assert not BetRefusal.objects.filter(external_id="refused-old").exists()
    assert Transaction.objects.filter(pk=old_bet.pk).exists()  # the ledger keeps every row
    # A rollback of the old bet, its key gone, still finds and refunds it.
    before = Wallet.objects.get(pk=session.wallet_id).balance_minor
    result = ledger.rollback(
        provider=provider,
        session=session,
        transaction_id="rb-old-1",
        reference_transaction_id="old-1",
        round_id="r-old",
    )
    assert result.transaction.reference_id == old_bet.pk
    assert Wallet.objects.get(pk=session.wallet_id).balance_minor == before + old_bet.amount_minor


# --- what a bet reads -------------------------------------------------------------------------


def _ledger_reads() -> dict[str, int]:
    """Scans of each ledger partition in this transaction so far (index and sequential)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT relname, COALESCE(idx_scan, 0) + seq_scan FROM pg_stat_xact_user_tables
               WHERE relname LIKE 'wallets\\_transaction\\_%'"""
        )
        return dict(cursor.fetchall())


def _verify_chain(wallet_id: int):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT broken_id, checked FROM pitboss_verify_chain(%s, NULL, NULL)", [wallet_id]
        )
        return cursor.fetchone()


def test_a_bet_reads_no_partition_of_the_ledger(player, provider):
    # The chain's head is on the wallet row and the key and tombstone look-ups go to the key
    # table: the function writes its row and reads none, however many months there are.
    partitions.ensure_ledger_partitions(months_ahead=12)
    session, _ = factories.open_session(player, provider)
    _bet(provider, session, "warm-1")
    before = _ledger_reads()
    with connection.cursor() as cursor:
        for n in range(3):
            cursor.execute(
                """SELECT outcome FROM pitboss_bet(%s, %s, %s, NULL, NULL, %s, false, %s, 100,
                       'EUR', '', NULL, false, NULL, '', 0)""",
                [provider.pk, session.pk, session.wallet_id, f"no-read-{n}", f"r-{n}"],
            )
            assert cursor.fetchone()[0] == "OK"
    assert _ledger_reads() == before
    # A retry reads its own row, by its full key: one partition.
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT outcome FROM pitboss_bet(%s, %s, %s, NULL, NULL, 'no-read-0', false, 'r-0',
                   100, 'EUR', '', NULL, false, NULL, '', 0)""",
            [provider.pk, session.pk, session.wallet_id],
        )
        assert cursor.fetchone()[0] == "DUPLICATE"
    read = {name: n - before.get(name, 0) for name, n in _ledger_reads().items()}
    assert {name for name, n in read.items() if n} == {partitions.HISTORY}


def test_the_chain_goes_on_from_the_head_kept_on_the_wallet(player, provider):
    session, _ = factories.open_session(player, provider)
    first = _bet(provider, session, "head-1").transaction
    wallet = Wallet.objects.get(pk=session.wallet_id)
    first = Transaction.objects.get(pk=first.pk)
    assert wallet.chain_head_id == first.pk
    assert bytes(wallet.chain_head_hash) == bytes(first.chain_hash)
    # A wallet without a head (its last row written before the head was kept) finds its
    # latest row once, and chains on from it.
    Wallet.objects.filter(pk=wallet.pk).update(chain_head_id=None, chain_head_hash=None)
    second = _bet(provider, session, "head-2", round_id="r-2").transaction
    wallet.refresh_from_db()
    assert wallet.chain_head_id == second.pk
    assert _verify_chain(wallet.pk) == (None, Transaction.objects.filter(wallet=wallet).count())
    # A row moved to another partition (its created_at updated: tests backdate rows) is not a
    # new row: its hash and the head stand, and the chain still verifies.
    later = datetime.datetime(2031, 7, 2, tzinfo=datetime.UTC)
    partitions.ensure_ledger_partitions(months_ahead=1, now=later)
    Transaction.objects.filter(pk=first.pk).update(created_at=later)
    assert _partition_of(first.pk) == "wallets_transaction_p203107"
    assert bytes(Transaction.objects.get(pk=first.pk).chain_hash) == bytes(first.chain_hash)
    wallet.refresh_from_db()
    assert wallet.chain_head_id == second.pk
    # Its time is part of its hash: verifying the chain shows the move.
    assert _verify_chain(wallet.pk)[0] == first.pk
    third = _bet(provider, session, "head-3", round_id="r-3").transaction
    wallet.refresh_from_db()
    assert wallet.chain_head_id == third.pk


def test_a_tombstone_stops_a_late_bet_for_the_retry_horizon(player, provider, settings):
    settings.PITBOSS_RETRY_HORIZON_DAYS = 30
    session, _ = factories.open_session(player, provider)
    tombstone = ledger.rollback(
        provider=provider,
        session=session,
        transaction_id="rb-late-1",
        reference_transaction_id="late-1",
        round_id="r-late",
    ).transaction
    key = IdempotencyKey.objects.get(transaction_id=tombstone.pk)
    assert (key.reference_external_id, key.player_id) == ("late-1", player.pk)
    with pytest.raises(TransactionRolledBack):
        _bet(provider, session, "late-1", round_id="r-late")
    # Past the horizon the tombstone's key is pruned like every other: a bet that late is a
    # new call (docs/scaling.md).
    IdempotencyKey.objects.filter(transaction_id=tombstone.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=31)
    )
    partitions.prune_idempotency_keys()
    assert not IdempotencyKey.objects.filter(transaction_id=tombstone.pk).exists()
    assert _bet(provider, session, "late-1", round_id="r-late-2").transaction.kind == "bet"
