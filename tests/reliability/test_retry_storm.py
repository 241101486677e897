"""Retry storms and out-of-order deliveries through the ledger functions, from many threads with
their own PostgreSQL connections.

Every call is delivered several times (a provider retrying), all deliveries are shuffled and
spread over the threads, so duplicates race their originals, rollbacks race (and often beat)
their bets and wins race the bets of their rounds. The scenarios are chosen so that the money
effect does not depend on the interleaving (a bet and its rollback net to zero whichever lands
first; a win settles its round whatever happens to the bet) and so the reference model is
exact: final balances, one row per transaction id, the outcome of every single delivery.
Where the order matters (win before bet, rollback before bet, replay with another payload),
a first phase lands the earlier call and a second storm checks the later one is refused every
time.

tests/wallets/test_ledger_concurrency.py replays one wallet's rows in lock order; this module
goes for volume, many wallets at once and the ordering permutations.
"""

import random
import threading
import traceback
from collections import defaultdict
from dataclasses import dataclass

import pytest
from django.db import connection

from tests import factories
from tests.wallets.test_ledger import assert_ledger_invariant, quiet_hooks  # noqa: F401
from wallets import ledger
from wallets.errors import WalletError
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db(transaction=True)

PLAYERS = 4
THREADS = 8
FUNDS = 10_000_00
PLAIN_BETS = 16  # per player
RACED_BETS = 12


@dataclass(frozen=True)
class Call:
    kind: str  # bet, win, rollback
    transaction_id: str
    player: int
    session: int
    round_id: str
    amount_minor: int = 0
    reference: str = ""
    round_closed: bool = False
    # Allowed outcomes of each delivery ("OK" or an error code) and how many deliveries may
    # (min, max) come back as the first application (OK, not duplicate).
    allowed: frozenset = frozenset({"OK"})
    firsts: tuple[int, int] = (1, 1)


@dataclass
class World:
    provider: object
    sessions: dict  # (player, session no) -> GameSession
    wallets: dict  # player -> wallet pk


def deliver(world: World, call: Call):
    session = world.sessions[(call.player, call.session)]
    try:
        if call.kind == "bet":
            result = ledger.bet(
                provider=world.provider, session=session, transaction_id=call.transaction_id,
                round_id=call.round_id, amount_minor=call.amount_minor, currency="EUR",
            )  # fmt: skip
        elif call.kind == "win":
            result = ledger.win(
                provider=world.provider, session=session, transaction_id=call.transaction_id,
                round_id=call.round_id, amount_minor=call.amount_minor, currency="EUR",
                round_closed=call.round_closed,
            )  # fmt: skip
        else:
            result = ledger.rollback(
                provider=world.provider, session=session, transaction_id=call.transaction_id,
                reference_transaction_id=call.reference, round_id=call.round_id,
            )  # fmt: skip
    except WalletError as refusal:
        return refusal.code, False
    return "OK", not result.duplicate


def storm(world: World, calls: list[Call], rng: random.Random, dups=(2, 7)) -> dict:
    """Deliver every call 2-7 times, shuffled, over THREADS threads; {call: [outcomes]}."""
    deliveries = [call for call in calls for _ in range(rng.randint(*dups))]
    rng.shuffle(deliveries)
    outcomes = defaultdict(list)
    failures = []
    barrier = threading.Barrier(THREADS)

    def worker(share):
        try:
            barrier.wait(timeout=30)
            for call in share:
                outcomes[call].append(deliver(world, call))
        except BaseException:
            failures.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(deliveries[i::THREADS],)) for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a storm thread hung"
    assert not failures, "\n".join(failures)
    problems = []
    for call in calls:
        got = outcomes[call]
        codes = {code for code, _ in got}
        firsts = sum(first for _, first in got)
        if not codes <= call.allowed:
            problems.append(f"{call.kind} {call.transaction_id}: {sorted(codes)}")
        if not call.firsts[0] <= firsts <= call.firsts[1]:
            problems.append(f"{call.kind} {call.transaction_id}: applied {firsts} times")
    assert not problems, "\n".join(problems[:30])
    return {
        "deliveries": len(deliveries),
        "duplicates": len(deliveries) - len(calls),
        "applied": {call for call in calls if any(first for _, first in outcomes[call])},
    }


def test_duplicate_storms_and_reordered_calls_match_the_reference_model():
    rng = random.Random(20261125)
    provider, _ = factories.make_provider("storm")
    sessions, wallets = {}, {}
    for p in range(PLAYERS):
        player = factories.funded_player(FUNDS)
        for s in range(2):
            session, _ = factories.open_session(player, provider)
            sessions[(p, s)] = session
        wallets[p] = sessions[(p, 0)].wallet_id
    world = World(provider, sessions, wallets)
    expected = dict.fromkeys(range(PLAYERS), FUNDS)
    phase_a, phase_b = [], []
    plain_bets, raced_bets, rolled_back_in_b, free_spin_rounds, ghosts = [], [], [], [], []
    raced_wins = {}  # raced bet's id -> the win racing its rollback

    def amount():
        return rng.randint(1, 25_00)

    for p in range(PLAYERS):
        # Plain bets: every delivery OK, applied once.
        for i in range(PLAIN_BETS):
            bet = Call("bet", f"p{p}-b{i}", p, rng.randrange(2), f"p{p}-r{i}", amount())
            plain_bets.append(bet)
            phase_a.append(bet)
            expected[p] -= bet.amount_minor
        # Bets raced by their rollback (some by two rollback ids, some also by a win: whichever
        # of the rollback and the win is booked first stands, the other is refused, as the
        # contract says: BET_SETTLED, or TRANSACTION_ROLLED_BACK).
        for i in range(RACED_BETS):
            round_id = f"p{p}-q{i}"
            bet = Call("bet", f"p{p}-qb{i}", p, rng.randrange(2), round_id, amount(),
                       allowed=frozenset({"OK", "TRANSACTION_ROLLED_BACK", "ROUND_CLOSED"}),
                       firsts=(0, 1))  # fmt: skip
            raced_bets.append(bet)
            phase_a.append(bet)
            rollback_ids = [f"p{p}-qrb{i}"] + ([f"p{p}-qrb2-{i}"] if i % 3 == 0 else [])
            raced_by_win = i % 4 == 0
            for rollback_id in rollback_ids:
                phase_a.append(
                    Call(
                        "rollback",
                        rollback_id,
                        p,
                        rng.randrange(2),
                        round_id,
                        reference=bet.transaction_id,
                        allowed=frozenset({"OK", "BET_SETTLED"} if raced_by_win else {"OK"}),
                        firsts=(0, 1) if len(rollback_ids) > 1 or raced_by_win else (1, 1),
                    )
                )
            if raced_by_win:
                win = Call("win", f"p{p}-qw{i}", p, bet.session, round_id, amount(),
                           round_closed=bool(i % 8),
                           allowed=frozenset({"OK", "TRANSACTION_ROLLED_BACK"}),
                           firsts=(0, 1))  # fmt: skip
                phase_a.append(win)
                raced_wins[bet.transaction_id] = win
        # Free-spin wins (no bet in the round) and rollbacks of bets that never came.
        for i in range(6):
            win = Call("win", f"p{p}-fs{i}", p, rng.randrange(2), f"p{p}-fsr{i}", amount())
            free_spin_rounds.append(win)
            phase_a.append(win)
            expected[p] += win.amount_minor
            ghost = f"p{p}-ghost{i}"
            ghosts.append((p, ghost))
            phase_a.append(Call("rollback", f"p{p}-grb{i}", p, rng.randrange(2), f"{ghost}-r",
                                reference=ghost))  # fmt: skip

    figures_a = storm(world, phase_a, rng)
    for bet_id, win in raced_wins.items():
        if win in figures_a["applied"]:
            expected[win.player] += win.amount_minor
            # The win came first: its bet stands (or never landed, its rollback first).
            assert not Transaction.objects.filter(
                provider=provider, external_id=bet_id, status="rolled_back"
            ).exists(), bet_id
        else:
            # The rollback came first: the round was cancelled and the win refused.
            assert Transaction.objects.filter(
                provider=provider, external_id=bet_id, status="rolled_back"
            ).exists(), bet_id
    settled_raced_bets = {
        bet_id
        for bet_id, win in raced_wins.items()
        if win in figures_a["applied"]
        and Transaction.objects.filter(
            provider=provider, external_id=bet_id, status="posted"
        ).exists()
    }
    for bet in raced_bets:
        if bet.transaction_id in settled_raced_bets:
            expected[bet.player] -= bet.amount_minor  # it stands: its rollbacks were refused

    for p_bets in [plain_bets[i : i + PLAIN_BETS] for i in range(0, len(plain_bets), PLAIN_BETS)]:
        winners = p_bets[:8]
        doomed = p_bets[8:14]  # rolled back; a bet whose round paid a win cannot be
        for bet in p_bets:
            rolled = bet in doomed
            # Late retries of the bet itself: a duplicate, or refused once it is rolled back.
            phase_b.append(Call("bet", bet.transaction_id, bet.player, bet.session, bet.round_id,
                                bet.amount_minor, allowed=frozenset(
                                    {"OK", "TRANSACTION_ROLLED_BACK"} if rolled else {"OK"}),
                                firsts=(0, 0)))  # fmt: skip
            # The same id with another stake: refused every time, whatever the timing.
            phase_b.append(Call("bet", bet.transaction_id, bet.player, bet.session, bet.round_id,
                                bet.amount_minor + 1, allowed=frozenset(
                                    {"DUPLICATE_MISMATCH", "TRANSACTION_ROLLED_BACK"}
                                    if rolled else {"DUPLICATE_MISMATCH"}),
                                firsts=(0, 0)))  # fmt: skip
        for bet in winners:
            win = Call("win", f"{bet.transaction_id}-w", bet.player, bet.session, bet.round_id,
                       amount(), round_closed=True)  # fmt: skip
            phase_b.append(win)
            expected[bet.player] += win.amount_minor
        for bet in doomed:
            phase_b.append(
                Call(
                    "rollback",
                    f"{bet.transaction_id}-rb",
                    bet.player,
                    1 - bet.session,
                    bet.round_id,
                    reference=bet.transaction_id,
                )
            )
            expected[bet.player] += bet.amount_minor
            rolled_back_in_b.append(bet)
    for win in free_spin_rounds:
        # Win before bet: the round is settled, a bet into it is refused every time.
        phase_b.append(Call("bet", f"{win.transaction_id}-late-bet", win.player, win.session,
                            win.round_id, amount(), allowed=frozenset({"ROUND_CLOSED"}),
                            firsts=(0, 0)))  # fmt: skip
    for p, ghost in ghosts:
        # Rollback before bet: the bet is refused every time.
        phase_b.append(
            Call(
                "bet",
                ghost,
                p,
                0,
                f"{ghost}-r",
                amount(),
                allowed=frozenset({"TRANSACTION_ROLLED_BACK"}),
                firsts=(0, 0),
            )
        )

    figures_b = storm(world, phase_b, rng)

    # --- the reference model, exactly -------------------------------------------------------
    assert_ledger_invariant(wallets.values())
    for p, wallet_pk in wallets.items():
        assert Wallet.objects.get(pk=wallet_pk).balance_minor == expected[p], f"player {p}"
    rows = defaultdict(list)
    for row in Transaction.objects.filter(provider=provider):
        rows[row.external_id].append(row)
    assert all(len(found) == 1 for found in rows.values())
    rolled_ids = {bet.transaction_id for bet in rolled_back_in_b}
    for bet in plain_bets:
        (row,) = rows[bet.transaction_id]
        status = "rolled_back" if bet.transaction_id in rolled_ids else "posted"
        assert (row.status, row.amount_minor) == (status, bet.amount_minor)
    for bet in raced_bets:
        # Either it landed and was refunded, or its rollback came first and it never landed;
        # or its win came first and it stands.
        statuses = [row.status for row in rows.get(bet.transaction_id, [])]
        if bet.transaction_id in settled_raced_bets:
            assert statuses == ["posted"]
        else:
            assert statuses in ([], ["rolled_back"])
    for win in free_spin_rounds:
        assert f"{win.transaction_id}-late-bet" not in rows
    for _, ghost in ghosts:
        assert ghost not in rows
    every_id = {call.transaction_id for call in phase_a + phase_b}
    written = every_id - {bet.transaction_id for bet in raced_bets}
    written -= {win.transaction_id for win in raced_wins.values()}
    written -= {
        call.transaction_id
        for call in phase_a
        if call.kind == "rollback" and "BET_SETTLED" in call.allowed
    }
    written -= {f"{win.transaction_id}-late-bet" for win in free_spin_rounds}
    written -= {ghost for _, ghost in ghosts}
    assert written <= set(rows)
    assert set(rows) <= every_id
    deliveries = figures_a["deliveries"] + figures_b["deliveries"]
    duplicates = figures_a["duplicates"] + figures_b["duplicates"]
    print(
        f"\nRELIABILITY storm: {deliveries} deliveries of {len(every_id)} transaction ids "
        f"({duplicates} duplicates) on {PLAYERS} wallets from {THREADS} threads, lost 0"
    )
