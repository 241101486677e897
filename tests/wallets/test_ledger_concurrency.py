"""The ledger under real concurrency: threads with their own PostgreSQL connections.

Every money operation serialises on its wallet row lock, so the ledger rows of one wallet, in id
order, are the order in which the operations really happened. The big test below replays those
rows through a sequential reference model and checks that each one is exactly what the model
says that operation should have done at that point.
"""

import random
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from fraud.models import PlayerBaseline
from fraud.screening import baseline_writer
from tests import factories, races
from tests.wallets.test_ledger import assert_ledger_invariant, quiet_hooks  # noqa: F401
from wallets import hooks, ledger
from wallets.choices import SessionEndReason, SessionStatus, TransactionKind, TransactionStatus
from wallets.errors import (
    BetSettled,
    DuplicateMismatch,
    InsufficientFunds,
    NotAllowed,
    RoundClosed,
    SessionLimit,
    TransactionRolledBack,
    WalletError,
)
from wallets.models import GameSession, Player, Provider, Round, Transaction, Wallet

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(workers: list[Callable[[Callable[[], None]], None]], timeout=180) -> None:
    """Run each worker in its own thread (and so its own DB connection).

    A worker gets `start`: it prepares (loads its rows), calls start() to wait until every
    thread is ready, then races. start() is a cyclic barrier: a worker may call it again to
    end a phase, and every worker must then call it as often. Any exception in a worker fails
    the test.
    """
    barrier = threading.Barrier(len(workers))
    failures: list[str] = []

    def body(worker):
        try:
            worker(lambda: barrier.wait(timeout=races.BLOCK_TIMEOUT_SECONDS))
        except BaseException:
            failures.append(traceback.format_exc())
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    assert not failures, "\n".join(failures)


def balance_of(wallet_pk: int) -> tuple[int, int]:
    wallet = Wallet.objects.get(pk=wallet_pk)
    return wallet.balance_minor, wallet.reserved_minor


# --- many bets, wins and rollbacks on one wallet -------------------------------------------------


@dataclass(frozen=True)
class Op:
    kind: str  # bet, win, rollback
    transaction_id: str
    session_no: int
    round_id: str
    amount_minor: int = 0
    reference: str = ""


@dataclass
class Outcome:
    op: Op
    transaction_pk: int | None = None
    duplicate: bool = False
    error: WalletError | None = None


def deliver(op: Op, provider: Provider, sessions: list[GameSession]) -> Outcome:
    session = sessions[op.session_no]
    try:
        if op.kind == "bet":
            result = ledger.bet(
                provider=provider,
                session=session,
                transaction_id=op.transaction_id,
                round_id=op.round_id,
                amount_minor=op.amount_minor,
                currency="EUR",
            )
        elif op.kind == "win":
            result = ledger.win(
                provider=provider,
                session=session,
                transaction_id=op.transaction_id,
                round_id=op.round_id,
                amount_minor=op.amount_minor,
                currency="EUR",
            )
        else:
            result = ledger.rollback(
                provider=provider,
                session=session,
                transaction_id=op.transaction_id,
                reference_transaction_id=op.reference,
                round_id=op.round_id,
            )
    except WalletError as refusal:
        return Outcome(op, error=refusal)
    return Outcome(op, transaction_pk=result.transaction.pk, duplicate=result.duplicate)


def make_plan(rng: random.Random) -> list[Op]:
    bets = [
        Op(
            "bet",
            f"b{i:02}",
            session_no=rng.randrange(2),
            round_id=f"r{i:02}",
            amount_minor=rng.choice([50, 1_00, 2_50, 4_00, 6_00]),
        )
        for i in range(40)
    ]
    rolled_back = rng.sample(bets, 16)
    rollbacks = (
        [
            Op(
                "rollback",
                f"rb-{b.transaction_id}",
                b.session_no,
                b.round_id,
                reference=b.transaction_id,
            )
            for b in rolled_back
        ]
        + [
            # A second rollback id for a bet already rolled back (or racing the first one).
            Op(
                "rollback",
                f"rb2-{b.transaction_id}",
                1 - b.session_no,
                b.round_id,
                reference=b.transaction_id,
            )
            for b in rolled_back[:5]
        ]
        + [
            # Rollbacks of bets that never come: tombstones.
            Op("rollback", f"rb-ghost{i}", i % 2, f"rg{i}", reference=f"ghost{i}")
            for i in range(3)
        ]
    )
    wins = []
    for i in range(10):
        bet = rng.choice(bets)
        wins.append(
            Op(
                "win",
                f"w{i:02}",
                bet.session_no,
                bet.round_id,
                amount_minor=rng.choice([0, 50, 1_00, 2_00]),
            )
        )
    return bets + rollbacks + wins


@dataclass
class Replay:
    """The sequential reference model, fed with the committed rows in lock order."""

    balance: int
    reserved: int
    session_reserved: dict[int, int]
    bet_status: dict[str, str] = field(default_factory=dict)
    bet_rows: dict[str, Transaction] = field(default_factory=dict)
    tombstones: set[str] = field(default_factory=set)
    # Rollback ids that arrived for a bet already rolled back: a zero row, a duplicate outcome.
    late_rollbacks: set[str] = field(default_factory=set)
    # round id -> open / settled / cancelled; and how many wins and standing bets each has.
    rounds: dict[str, str] = field(default_factory=dict)
    round_wins: Counter = field(default_factory=Counter)
    round_bets: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)


def replay(rows: list[Transaction], balance: int, session_reserved: dict[int, int]) -> Replay:
    """What each row should be, given every row before it: the ledger's rules applied one at a
    time (wallet-api.md rules 1, 2, 4, 5 and the buy-in rules of the ledger)."""
    model = Replay(balance, sum(session_reserved.values()), dict(session_reserved))
    fail = model.violations.append
    for row in rows:
        ext, rnd = row.external_id, row.round_external_id
        if row.kind == TransactionKind.BET:
            if ext in model.tombstones:
                fail(f"bet {ext} posted after its tombstone")
            if ext in model.bet_status:
                fail(f"bet {ext} posted twice")
            if model.rounds.get(rnd, "open") != "open":
                fail(f"bet {ext} posted into {model.rounds[rnd]} round {rnd}")
            from_reservation = min(model.session_reserved[row.session_id], row.amount_minor)
            if model.balance - model.reserved < row.amount_minor - from_reservation:
                fail(f"bet {ext} posted without the funds for it")
            if row.reserved_used_minor != from_reservation:
                used = row.reserved_used_minor
                fail(f"bet {ext} used {used} of the buy-in, not {from_reservation}")
            if row.delta_minor != -row.amount_minor:
                fail(f"bet {ext} delta {row.delta_minor}")
            model.balance -= row.amount_minor
            model.reserved -= from_reservation
            model.session_reserved[row.session_id] -= from_reservation
            model.bet_status[ext] = TransactionStatus.POSTED
            model.bet_rows[ext] = row
            model.rounds.setdefault(rnd, "open")
            model.round_bets[rnd] += 1
        elif row.kind == TransactionKind.WIN:
            if row.delta_minor != row.amount_minor:
                fail(f"win {ext} delta {row.delta_minor}")
            if model.rounds.get(rnd) == "cancelled":
                fail(f"win {ext} paid into cancelled round {rnd}")
            model.balance += row.amount_minor
            # A win into a round no bet opened is a free-spin win: it opens and settles it.
            model.rounds.setdefault(rnd, "settled")
            model.round_wins[rnd] += 1
        elif row.kind == TransactionKind.ROLLBACK:
            ref = row.reference_external_id
            status = model.bet_status.get(ref)
            if status == TransactionStatus.POSTED:
                bet_row = model.bet_rows[ref]
                rnd = bet_row.round_external_id
                if model.round_wins[rnd]:
                    fail(f"rollback {ext} refunded bet {ref} of a round that paid a win")
                if (row.delta_minor, row.reference_id) != (bet_row.amount_minor, bet_row.pk):
                    fail(f"rollback {ext} refunded {row.delta_minor} for {row.reference_id}")
                back = bet_row.reserved_used_minor
                model.balance += bet_row.amount_minor
                model.reserved += back
                model.session_reserved[bet_row.session_id] += back
                model.bet_status[ref] = TransactionStatus.ROLLED_BACK
                model.round_bets[rnd] -= 1
                if not model.round_bets[rnd] and not model.round_wins[rnd]:
                    model.rounds[rnd] = "cancelled"
            elif status == TransactionStatus.ROLLED_BACK:
                if (row.delta_minor, row.reference_id) != (0, model.bet_rows[ref].pk):
                    fail(f"second rollback {ext} of {ref} moved {row.delta_minor}")
                model.late_rollbacks.add(ext)
            else:
                if row.delta_minor != 0 or row.reference_id is not None:
                    fail(f"rollback {ext} of unknown bet {ref} moved {row.delta_minor}")
                model.tombstones.add(ref)
        else:
            fail(f"unexpected row {row}")
        if row.balance_after_minor != model.balance:
            fail(f"{ext}: balance_after {row.balance_after_minor}, model {model.balance}")
        if model.balance < 0 or not 0 <= model.reserved <= model.balance:
            fail(f"{ext}: model left 0 <= reserved <= balance")
    return model


def phased_deliveries(plan: list[Op], rng: random.Random, funds_minor: int):
    """Every operation of `plan` delivered two or three times (some retried at once by the same
    thread: a timeout on the provider's side), in three phases that every thread ends together:

    1. first deliveries of a few bets that the funds cover, some of which are rolled back later
       and one that is not: they are posted, whatever the threads do;
    2. everything else, shuffled: the race (rollbacks racing their bets, wins racing bets,
       duplicates racing first deliveries, bets racing each other for the funds);
    3. one more delivery of every rolled-back bet: it meets its rollback (or tombstone).

    So the outcomes the test checks the plan for are forced by the phases, not by luck."""
    rolled_back_ids = {op.reference for op in plan if op.kind == "rollback"}
    bets = [op for op in plan if op.kind == "bet"]
    by_stake = sorted(bets, key=lambda b: (b.amount_minor, b.transaction_id))
    standing = [b for b in by_stake if b.transaction_id not in rolled_back_ids][:1]
    early = standing + [b for b in by_stake if b.transaction_id in rolled_back_ids][:4]
    assert sum(b.amount_minor for b in early) <= funds_minor, early
    assert {b.transaction_id in rolled_back_ids for b in early} == {True, False}, early
    deliveries = [(op, rng.random() < 0.3) for op in plan for _ in range(rng.choice([2, 3]))]
    rng.shuffle(deliveries)
    for bet in early:
        deliveries.remove(next(d for d in deliveries if d[0] == bet))
    late = [(op, False) for op in bets if op.transaction_id in rolled_back_ids]
    return [(bet, False) for bet in early], deliveries, late


@pytest.mark.parametrize("installed_hooks", ["none", "production"])
def test_twenty_four_threads_bet_win_and_roll_back_on_one_wallet(request, installed_hooks):
    """24 threads deliver 40 bets, 10 wins and 24 rollbacks on one wallet, each two or three
    times from different threads, some retried at once; rollbacks race their bets; most bets
    find no funds. Then every committed row must be what a sequential replay says it is.

    Run without hooks and with production's (the fraud screener and its baseline listener
    told of every committed row from all the threads at once)."""
    if installed_hooks == "production":
        request.getfixturevalue("production_hooks")
    rng = random.Random(1_24_2024)  # the plan is fixed; the interleaving within a phase is not
    provider, _ = factories.make_provider(max_sessions_per_player=5)
    player = factories.funded_player(12_00)
    session_pks = [
        factories.open_session(player, provider, buy_in_minor=4_00)[0].pk,
        factories.open_session(player, provider)[0].pk,
    ]
    wallet_pk = GameSession.objects.get(pk=session_pks[0]).wallet_id
    seed_rows = Transaction.objects.filter(wallet_id=wallet_pk).count()
    plan = make_plan(rng)
    # The funds cannot cover the bets that are never rolled back, even with every win paid
    # first: some bet must be refused for want of funds, in any interleaving.
    never_rolled_back = {op.transaction_id for op in plan if op.kind == "bet"} - {
        op.reference for op in plan if op.kind == "rollback"
    }
    won_rounds = {op.round_id for op in plan if op.kind == "win"}
    unpaid_stakes = sum(
        op.amount_minor
        for op in plan
        if op.transaction_id in never_rolled_back and op.round_id not in won_rounds
    )
    assert unpaid_stakes > 12_00 + sum(op.amount_minor for op in plan if op.kind == "win")

    # The early bets fit in what is available outside the buy-in (12.00 - 4.00 reserved).
    phases = phased_deliveries(plan, rng, funds_minor=8_00)
    thread_count = 24
    shares = [[phase[i::thread_count] for phase in phases] for i in range(thread_count)]
    outcomes: list[Outcome] = []

    def worker(share):
        def work(start):
            provider_here = Provider.objects.get(pk=provider.pk)
            sessions = [GameSession.objects.get(pk=pk) for pk in session_pks]
            for phase in share:
                start()  # every thread begins the phase together, after the last one ended
                for op, retried in phase:
                    outcomes.append(deliver(op, provider_here, sessions))
                    if retried:
                        outcomes.append(deliver(op, provider_here, sessions))

        return work

    run_in_threads([worker(share) for share in shares])

    # A bet may be refused for want of funds, because it was rolled back (before or after it
    # landed), or because a win that raced ahead of it settled its round as a free-spin round.
    # A win is refused only into a round whose bets were all rolled back; a rollback only of a
    # bet whose round already paid a win.
    allowed_refusals = {
        "bet": InsufficientFunds | TransactionRolledBack | RoundClosed,
        "win": TransactionRolledBack,
        "rollback": BetSettled,
    }
    unexpected = [
        f"{o.op.kind} {o.op.transaction_id}: {type(o.error).__name__} {o.error}"
        for o in outcomes
        if o.error is not None and not isinstance(o.error, allowed_refusals[o.op.kind])
    ]
    assert not unexpected, unexpected
    assert_ledger_invariant([wallet_pk])

    rows = list(Transaction.objects.filter(wallet_id=wallet_pk).order_by("id")[seed_rows:])
    # Each transaction id is applied at most once; every win and rollback exactly once.
    per_id = Counter(
        Transaction.objects.filter(provider=provider).values_list("external_id", flat=True)
    )
    assert max(per_id.values()) == 1
    assert len(rows) == len(per_id)

    model = replay(rows, 12_00, {session_pks[0]: 4_00, session_pks[1]: 0})
    assert not model.violations, "\n".join(model.violations)

    # The model's end state is the database's.
    assert balance_of(wallet_pk) == (model.balance, model.reserved)
    for pk in session_pks:
        assert GameSession.objects.get(pk=pk).reserved_minor == model.session_reserved[pk]
    db_bets = dict(
        Transaction.objects.filter(provider=provider, kind=TransactionKind.BET).values_list(
            "external_id", "status"
        )
    )
    assert db_bets == model.bet_status
    db_rounds = dict(Round.objects.filter(provider=provider).values_list("external_id", "status"))
    assert db_rounds == model.rounds
    assert all(row.balance_after_minor >= 0 for row in rows)

    # Every delivery saw the one outcome of its id.
    by_id = defaultdict(list)
    for outcome in outcomes:
        by_id[outcome.op.transaction_id].append(outcome)
    row_pk = {row.external_id: row.pk for row in rows}
    for txn_id, seen in by_id.items():
        accepted = [o for o in seen if o.error is None]
        op = seen[0].op
        if txn_id in row_pk:
            assert {o.transaction_pk for o in accepted} == {row_pk[txn_id]}, txn_id
            first_deliveries = sum(not o.duplicate for o in accepted)
            assert first_deliveries == (0 if txn_id in model.late_rollbacks else 1), txn_id
        else:
            assert not accepted, txn_id
        for o in seen:
            if isinstance(o.error, TransactionRolledBack) and op.kind == "win":
                assert model.rounds[op.round_id] == "cancelled", txn_id
            elif isinstance(o.error, TransactionRolledBack):
                assert txn_id in model.tombstones or db_bets.get(txn_id) == "rolled_back"
            if isinstance(o.error, BetSettled):
                assert db_bets[op.reference] == "posted", txn_id
                assert model.round_wins[model.bet_rows[op.reference].round_external_id], txn_id
            if isinstance(o.error, InsufficientFunds):
                # A refusal is remembered: a later delivery of the same bet gets it again
                # whatever the balance is by then, so one delivery was refused for real.
                assert o.error.balance_minor < op.amount_minor or (
                    "refused before" in str(o.error)
                    and any(
                        isinstance(x.error, InsufficientFunds)
                        and x.error.balance_minor < op.amount_minor
                        for x in seen
                    )
                ), txn_id
            if isinstance(o.error, RoundClosed):
                assert model.rounds[op.round_id] == "settled", txn_id
                assert model.round_wins[op.round_id] and txn_id not in db_bets, txn_id

    if installed_hooks == "production":
        # The fraud baseline listener saw every bet booked, from every thread, exactly once.
        baseline_writer.stop()  # writes what is queued
        bets_booked = sum(row.kind == TransactionKind.BET for row in rows)
        baseline = PlayerBaseline.objects.get(wallet_id=wallet_pk)
        assert baseline.bet_count == bets_booked

    # The plan really exercised what it is meant to (forced by the phases and the funds).
    refusals = Counter(type(o.error).__name__ for o in outcomes if o.error is not None)
    assert refusals["InsufficientFunds"] > 0
    assert refusals["TransactionRolledBack"] > 0
    assert any(o.duplicate for o in outcomes)
    assert TransactionStatus.ROLLED_BACK in db_bets.values()
    assert TransactionStatus.POSTED in db_bets.values()


def test_the_reference_replay_catches_a_wrong_row():
    """The replay is only worth something if it can fail: feed it doctored rows."""
    provider, _ = factories.make_provider()
    player = factories.funded_player(10_00)
    session, _ = factories.open_session(player, provider, buy_in_minor=2_00)
    ledger.bet(
        provider=provider,
        session=session,
        transaction_id="b1",
        round_id="r1",
        amount_minor=3_00,
        currency="EUR",
    )
    ledger.rollback(
        provider=provider,
        session=session,
        transaction_id="rb1",
        reference_transaction_id="b1",
        round_id="r1",
    )
    rows = list(Transaction.objects.filter(provider=provider).order_by("id"))
    assert replay(rows, 10_00, {session.pk: 2_00}).violations == []

    rows[1].delta_minor = 2_00
    assert replay(rows, 10_00, {session.pk: 2_00}).violations
    rows[1].delta_minor = 3_00
    assert replay(rows, 9_00, {session.pk: 2_00}).violations  # balance_after no longer fits
    assert replay(rows, 1_00, {session.pk: 0}).violations  # the bet had no funds


# --- one transaction id, two wallets ------------------------------------------------------------


@pytest.mark.parametrize("operation", ["bet", "deposit"])
def test_one_transaction_id_raced_for_two_players_is_applied_once(operation):
    provider, _ = factories.make_provider()
    players = [factories.funded_player(100_00), factories.funded_player(100_00)]
    sessions = [factories.open_session(p, provider)[0] for p in players]
    ids = [f"shared-{operation}-{i}" for i in range(25)]
    results: dict[int, list] = {0: [], 1: []}

    def worker(n):
        def work(start):
            player = Player.objects.get(pk=players[n].pk)
            session = GameSession.objects.get(pk=sessions[n].pk)
            provider_here = Provider.objects.get(pk=provider.pk)
            start()
            for txn_id in ids:
                try:
                    if operation == "bet":
                        ledger.bet(
                            provider=provider_here,
                            session=session,
                            transaction_id=txn_id,
                            round_id=f"round-{txn_id}",
                            amount_minor=1_00,
                            currency="EUR",
                        )
                    else:
                        ledger.deposit(
                            player=player, currency="EUR", amount_minor=1_00, external_id=txn_id
                        )
                    results[n].append((txn_id, "applied"))
                except DuplicateMismatch:
                    results[n].append((txn_id, "mismatch"))

        return work

    run_in_threads([worker(0), worker(1)])

    wins = Counter()
    for txn_id in ids:
        outcomes = sorted(dict(results[n])[txn_id] for n in (0, 1))
        assert outcomes == ["applied", "mismatch"], (txn_id, outcomes)
        winner = 0 if dict(results[0])[txn_id] == "applied" else 1
        wins[winner] += 1
        row = Transaction.objects.get(external_id=txn_id)
        assert row.player_id == players[winner].pk
    sign = -1 if operation == "bet" else 1
    for n, player in enumerate(players):
        wallet = Wallet.objects.get(player=player)
        assert (wallet.balance_minor, wallet.reserved_minor) == (100_00 + sign * wins[n] * 1_00, 0)
    assert_ledger_invariant()


# --- session opens, session ends, holds, withdrawals --------------------------------------------


def test_concurrent_opens_never_exceed_the_session_limit():
    provider, _ = factories.make_provider(max_sessions_per_player=3)
    player = factories.funded_player(100_00)
    outcomes = []

    def work(start):
        me = Player.objects.get(pk=player.pk)
        provider_here = Provider.objects.get(pk=provider.pk)
        start()
        try:
            ledger.open_session(
                player=me, provider=provider_here, currency="EUR", buy_in_minor=10_00
            )
            outcomes.append("open")
        except SessionLimit:
            outcomes.append("limit")

    run_in_threads([work] * 16)

    assert sorted(outcomes) == ["limit"] * 13 + ["open"] * 3
    assert GameSession.objects.filter(player=player, status=SessionStatus.OPEN).count() == 3
    assert Wallet.objects.get(player=player).reserved_minor == 30_00
    assert_ledger_invariant()


def test_concurrent_buy_ins_never_reserve_more_than_available():
    provider, _ = factories.make_provider(max_sessions_per_player=50)
    player = factories.funded_player(100_00)
    outcomes = []

    def work(start):
        me = Player.objects.get(pk=player.pk)
        start()
        try:
            ledger.open_session(player=me, provider=provider, currency="EUR", buy_in_minor=30_00)
            outcomes.append("open")
        except InsufficientFunds:
            outcomes.append("funds")

    run_in_threads([work] * 12)

    assert sorted(outcomes) == ["funds"] * 9 + ["open"] * 3
    wallet = Wallet.objects.get(player=player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (100_00, 90_00)
    assert_ledger_invariant()


def test_concurrent_ends_of_one_session_release_its_buy_in_once():
    provider, _ = factories.make_provider()
    player = factories.funded_player(100_00)
    session, _ = factories.open_session(player, provider, buy_in_minor=40_00)
    factories.open_session(player, provider, buy_in_minor=25_00)  # must stay reserved
    changed = []

    def work(start):
        mine = GameSession.objects.get(pk=session.pk)
        start()
        _, did = ledger.end_session(
            session=mine,
            status=SessionStatus.EXPIRED,
            reason=SessionEndReason.IDLE_TIMEOUT,
            missing_ok=True,
        )
        changed.append(did)

    run_in_threads([work] * 10)

    assert sorted(changed) == [False] * 9 + [True]
    wallet = Wallet.objects.get(player=player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (100_00, 25_00)
    assert_ledger_invariant()


def test_concurrent_decisions_on_one_hold_apply_once():
    player = factories.funded_player(100_00)
    hooks.screener = lambda request: hooks.Screening(action=hooks.HOLD)
    try:
        held = ledger.withdraw(player=player, currency="EUR", amount_minor=60_00, external_id="w1")
    finally:
        hooks.screener = None
    # Plain users: password hashing would only slow the test down.
    staff = [get_user_model().objects.create(username=f"reviewer{n}") for n in range(8)]
    outcomes = []

    def worker(n):
        def work(start):
            start()
            try:
                ledger.decide_hold(
                    transaction_id=held.transaction.pk, approve=n % 2 == 0, actor=staff[n]
                )
                outcomes.append(("decided", n % 2 == 0))
            except NotAllowed:
                outcomes.append(("late", None))

        return work

    run_in_threads([worker(n) for n in range(8)])

    decided = [approve for what, approve in outcomes if what == "decided"]
    assert len(decided) == 1 and len(outcomes) == 8
    wallet = Wallet.objects.get(player=player)
    expected = (40_00, 0) if decided[0] else (100_00, 0)
    assert (wallet.balance_minor, wallet.reserved_minor) == expected
    assert_ledger_invariant()


def test_concurrent_withdrawals_never_overdraw():
    player = factories.funded_player(100_00)
    outcomes = []

    def worker(n):
        def work(start):
            me = Player.objects.get(pk=player.pk)
            start()
            try:
                ledger.withdraw(player=me, currency="EUR", amount_minor=15_00, external_id=f"w{n}")
                outcomes.append("paid")
            except InsufficientFunds:
                outcomes.append("funds")

        return work

    run_in_threads([worker(n) for n in range(20)])

    assert sorted(outcomes) == ["funds"] * 14 + ["paid"] * 6
    assert Wallet.objects.get(player=player).balance_minor == 10_00
    assert_ledger_invariant()


# --- the rollback that races its bet ------------------------------------------------------------


def wait_until_blocked(pid_holder: list[int], also: threading.Event | None = None) -> None:
    """On the calling thread's connection: wait until the backend in `pid_holder` waits for a
    lock (or `also` is set). Used while a bet holds its wallet lock (inside an open transaction)."""
    deadline = time.monotonic() + races.BLOCK_TIMEOUT_SECONDS  # a hang guard, not a timing
    while time.monotonic() < deadline:
        if also is not None and also.is_set():
            return
        if pid_holder:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted",
                    [pid_holder[0]],
                )
                if cursor.fetchone()[0]:
                    return
        time.sleep(0.01)
    raise AssertionError("the other call never queued behind the bet")


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_rollback_racing_its_bet_refunds_it():
    """Deterministic interleaving: the bet holds the wallet lock (its transaction left open) while
    the rollback arrives and looks the bet up; the bet commits first, so the rollback, which
    runs after it, must refund it (not leave a tombstone next to a standing bet).

    Regression test: ledger.rollback used to look the reference up before taking the lock."""
    provider, _ = factories.make_provider()
    player = factories.funded_player(100_00)
    session, _ = factories.open_session(player, provider)
    bet_has_lock = threading.Event()
    rollback_pid: list[int] = []

    def bettor(start):
        mine = GameSession.objects.get(pk=session.pk)
        start()
        with transaction.atomic():  # the bet's wallet lock is held until this commits
            ledger.bet(
                provider=provider,
                session=mine,
                transaction_id="b-race",
                round_id="r-race",
                amount_minor=25_00,
                currency="EUR",
            )
            bet_has_lock.set()
            wait_until_blocked(rollback_pid)

    def roller(start):
        mine = GameSession.objects.get(pk=session.pk)
        pid = backend_pid()
        start()
        assert bet_has_lock.wait(10)
        rollback_pid.append(pid)
        ledger.rollback(
            provider=provider,
            session=mine,
            transaction_id="rb-race",
            reference_transaction_id="b-race",
            round_id="r-race",
        )

    run_in_threads([bettor, roller])

    assert_ledger_invariant()
    bet_row = Transaction.objects.get(provider=provider, external_id="b-race")
    rollback_row = Transaction.objects.get(provider=provider, external_id="rb-race")
    assert rollback_row.id > bet_row.id  # the bet really went first
    assert (rollback_row.reference_id, rollback_row.delta_minor) == (bet_row.pk, 25_00)
    assert bet_row.status == TransactionStatus.ROLLED_BACK
    assert Wallet.objects.get(player=player).balance_minor == 100_00


def test_rollback_racing_its_bet_in_another_currency_wallet():
    """The bet (JPY session) holds its wallet lock, its transaction left open, when a rollback of
    it arrives through the player's EUR session. Either order is fine, but one must win: the
    bet refunded, or the bet refused by the tombstone. Never a standing bet next to a
    tombstone that said it was cancelled."""
    provider, _ = factories.make_provider()
    player = factories.funded_player(100_00)
    ledger.deposit(player=player, currency="JPY", amount_minor=10_000, external_id="d-jpy")
    eur_session, _ = factories.open_session(player, provider, currency="EUR")
    jpy_session, _ = factories.open_session(player, provider, currency="JPY")
    bet_has_lock, rollback_done = threading.Event(), threading.Event()
    rollback_pid: list[int] = []
    bet_outcome = []

    def bettor(start):
        mine = GameSession.objects.get(pk=jpy_session.pk)
        start()
        try:
            with transaction.atomic():  # the bet's wallet lock is held until this commits
                ledger.bet(
                    provider=provider,
                    session=mine,
                    transaction_id="b-x",
                    round_id="r-x",
                    amount_minor=1_000,
                    currency="JPY",
                )
                bet_has_lock.set()
                wait_until_blocked(rollback_pid, also=rollback_done)
            bet_outcome.append("posted")
        except TransactionRolledBack:
            bet_outcome.append("refused")

    def roller(start):
        mine = GameSession.objects.get(pk=eur_session.pk)
        pid = backend_pid()
        start()
        assert bet_has_lock.wait(10)
        rollback_pid.append(pid)
        try:
            ledger.rollback(
                provider=provider,
                session=mine,
                transaction_id="rb-x",
                reference_transaction_id="b-x",
                round_id="r-x",
            )
        finally:
            rollback_done.set()

    run_in_threads([bettor, roller])

    assert_ledger_invariant()
    rollback_row = Transaction.objects.get(provider=provider, external_id="rb-x")
    bet_row = Transaction.objects.filter(provider=provider, external_id="b-x").first()
    if bet_outcome == ["refused"]:
        assert bet_row is None and rollback_row.delta_minor == 0
    else:
        assert bet_row.status == TransactionStatus.ROLLED_BACK, "bet stands next to a tombstone"
        assert (rollback_row.reference_id, rollback_row.delta_minor) == (bet_row.pk, 1_000)
    assert Wallet.objects.get(player=player, currency="JPY").balance_minor == 10_000
