"""Baselines of committed ledger rows are written by the writer thread (fraud.screening), off the
request path: the same figures as row-by-row updates, in booking order, nothing lost."""

import time

import pytest

from fraud.models import PlayerBaseline
from fraud.screening import baseline_writer
from tests import factories
from wallets import ledger

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, seconds=60.0):
    """Until the writer thread has written (it writes every 0.2 s; the limit only guards
    against a hung test)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "the writer thread never wrote"
        time.sleep(0.02)


def expected_stake(stakes: list[int]) -> int:
    """The same integer recurrence as fraud.screening's UPSERT, row by row in booking order: the
    running mean over the first 10 bets, then an EWMA with alpha 1/10 (PostgreSQL's integer
    division truncates toward zero)."""
    expected = stakes[0]
    for count, stake in enumerate(stakes[1:], start=2):
        step = abs(stake - expected) // min(count, 10)
        expected += step if stake >= expected else -step
    return expected


def test_committed_bets_reach_the_baseline_in_order_through_the_writer():
    provider, _ = factories.make_provider()
    player = factories.funded_player(1000_00)
    session, _ = factories.open_session(player, provider)
    written_before = baseline_writer.written
    stakes = [2_00] * 10 + [50_00, 1_00]
    for n, stake in enumerate(stakes):
        ledger.bet(
            provider=provider,
            session=session,
            transaction_id=f"bw-{n}",
            round_id=f"bw-r{n}",
            amount_minor=stake,
            currency="EUR",
        )
    wait_for(lambda: PlayerBaseline.objects.filter(player=player, bet_count=12).exists())

    baseline = PlayerBaseline.objects.get(player=player)
    assert (baseline.bet_count, baseline.stake_ewma_minor) == (12, expected_stake(stakes))
    # The deposit that funded the player went the same way.
    assert baseline.deposit_amounts == [1000_00]
    assert baseline_writer.written >= written_before + 12


def test_stop_writes_what_is_queued_and_closes_the_thread():
    player = factories.funded_player(10_00)  # a deposit: one queued baseline update
    baseline_writer.stop()
    assert baseline_writer.thread is None
    assert PlayerBaseline.objects.get(player=player).deposit_amounts == [10_00]


def test_a_batch_is_written_in_layers_one_update_per_wallet_each_in_booking_order():
    from fraud.screening import _layers

    updates = [(7, 1, 100, 1), (3, 2, 200, 1), (7, 1, 300, 2), (5, 3, 1, 1), (7, 1, 400, 3)]
    assert _layers(updates) == [
        [(3, 2, 200, 1), (5, 3, 1, 1), (7, 1, 100, 1)],
        [(7, 1, 300, 2)],
        [(7, 1, 400, 3)],
    ]


def test_interleaved_bets_of_several_wallets_get_each_wallets_own_figures():
    provider, _ = factories.make_provider()
    players = [factories.funded_player(1000_00) for _ in range(3)]
    sessions = [factories.open_session(player, provider)[0] for player in players]
    stakes = {player.pk: [] for player in players}
    for n in range(15):
        for k, (player, session) in enumerate(zip(players, sessions, strict=True)):
            stake = (k + 1) * 100 + n * (k + 2) * 7
            stakes[player.pk].append(stake)
            ledger.bet(
                provider=provider,
                session=session,
                transaction_id=f"il-{k}-{n}",
                round_id=f"il-r{k}-{n}",
                amount_minor=stake,
                currency="EUR",
            )
    wait_for(lambda: PlayerBaseline.objects.filter(player__in=players, bet_count=15).count() == 3)
    for player in players:
        baseline = PlayerBaseline.objects.get(player=player)
        assert baseline.stake_ewma_minor == expected_stake(stakes[player.pk])
