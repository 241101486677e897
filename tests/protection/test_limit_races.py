"""A player at a limit can never pass it by racing requests: 100 bets at once against a loss
limit, on 100 connections, forced to queue behind one open transaction that holds the wallet
row and released together. The limit is checked under the wallet lock with committed figures,
so they are judged as 100 bets in a row would be."""

import threading
import time

import pytest
from django.db import connection, transaction

from protection import services
from tests import factories
from tests.races import BLOCK_TIMEOUT_SECONDS
from wallets import ledger
from wallets.errors import LimitExceeded
from wallets.models import Transaction, Wallet

BETS = 100
STAKE_MINOR = 7_00
LIMIT_MINOR = 250_00  # 35 stakes of 7.00 fit (245.00); the 36th would pass it


def _wait_until_queued(count: int, failures: list) -> None:
    """Until `count` backends wait for a lock (the first bet for the holder's transaction, the
    others for the row behind it)."""
    deadline = time.monotonic() + BLOCK_TIMEOUT_SECONDS
    while True:
        with connection.cursor() as cursor:
            # Inside a transaction the activity view is a snapshot taken at first read.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
            )
            waiting = cursor.fetchone()[0]
            assert not failures, failures[0]
            if waiting >= count:
                return
        assert time.monotonic() < deadline, f"only {waiting} bets queued behind the lock"
        time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_a_hundred_concurrent_bets_never_pass_a_loss_limit():
    provider, _ = factories.make_provider()
    player = factories.funded_player(10_000_00)
    session, _ = factories.open_session(player, provider)
    session = ledger.authenticate(provider=provider, session=session)
    services.set_limit(
        player=player,
        kind="loss",
        period="day",
        currency="EUR",
        amount=LIMIT_MINOR,
        reason="race test",
    )
    wallet_id = Wallet.objects.get(player=player).pk

    barrier = threading.Barrier(BETS + 1)
    accepted, refused, failures = [], [], []

    def one_bet(n: int) -> None:
        try:
            barrier.wait()
            ledger.bet(
                provider=provider,
                session=session,
                transaction_id=f"race-{n}",
                round_id=f"race-round-{n}",
                amount_minor=STAKE_MINOR,
                currency="EUR",
            )
            accepted.append(n)
        except LimitExceeded:
            refused.append(n)
        except BaseException as error:
            failures.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=one_bet, args=(n,)) for n in range(BETS)]
    for thread in threads:
        thread.start()
    with transaction.atomic():
        # Hold the wallet row, let every bet start, and commit only once all of them wait
        # for it: they all meet the lock, none runs before another has committed.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM wallets_wallet WHERE id = %s FOR UPDATE", [wallet_id])
        barrier.wait()
        _wait_until_queued(BETS, failures)
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    assert len(accepted) == LIMIT_MINOR // STAKE_MINOR == 35
    assert len(refused) == BETS - 35
    lost = sum(
        Transaction.objects.filter(player=player, kind="bet").values_list("amount_minor", flat=True)
    )
    assert lost == 35 * STAKE_MINOR <= LIMIT_MINOR
    wallet = Wallet.objects.get(pk=wallet_id)
    assert wallet.lost_day_minor == lost
    assert wallet.balance_minor == 10_000_00 - lost
