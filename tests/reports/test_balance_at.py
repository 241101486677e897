"""A wallet's balance and reserved at any past instant, and its statement between two instants,
against what the wallet actually held at each of those instants: random histories of every
kind of ledger row (deposits and withdrawals, held ones decided either way, bets drawing on
buy-ins, wins, held wins, rollbacks, win reversals, promotional credits, re-settlements, staff
corrections, sessions ending with what their buy-in kept)."""

import itertools
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reports import selectors
from tests import factories
from wallets import ledger
from wallets.choices import SessionEndReason, SessionStatus
from wallets.errors import WalletError
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


def tid(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}-{uuid.uuid4().hex[:6]}"


def snapshot(player) -> tuple:
    """(instant, {wallet id: (balance, reserved)}) right after the last operation."""
    at = timezone.now()
    figures = {
        w.pk: (w.balance_minor, w.reserved_minor) for w in Wallet.objects.filter(player=player)
    }
    return at, figures


def assert_history(player, history) -> None:
    for at, figures in history:
        for wallet in Wallet.objects.filter(player=player):
            got = selectors.wallet_at(wallet, at)
            expected = figures.get(wallet.pk, (0, 0))
            assert (got.balance_minor, got.reserved_minor) == expected, (at, wallet.currency)
    # Every statement between two recorded instants: opening plus movements is closing.
    start, end = history[0][0], history[-1][0]
    for wallet in Wallet.objects.filter(player=player):
        statement = selectors.wallet_statement(wallet, start, end)
        running = statement.opening.balance_minor
        reserved = statement.opening.reserved_minor
        for movement in statement.movements:
            running += movement.balance_effect_minor
            reserved += movement.reserved_effect_minor
            assert movement.balance_after_minor == running
        assert running == statement.closing.balance_minor
        assert reserved == statement.closing.reserved_minor
        assert (statement.closing.balance_minor, statement.closing.reserved_minor) == history[-1][
            1
        ].get(wallet.pk, (0, 0))


operation = st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(["EUR", "JPY"]), st.integers(1, 90_00)),
    st.tuples(st.just("withdraw"), st.sampled_from(["EUR", "JPY"]), st.integers(1, 60_00)),
    st.tuples(st.just("open"), st.integers(0, 1), st.sampled_from([0, 20_00, 50_00])),
    st.tuples(st.just("end"), st.integers(0, 9), st.just(0)),
    st.tuples(st.just("bet"), st.integers(0, 9), st.integers(0, 30_00)),
    st.tuples(st.just("win"), st.integers(0, 9), st.integers(0, 40_00)),
    st.tuples(st.just("rollback"), st.integers(0, 30), st.just(0)),
    st.tuples(st.just("decide"), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("promo"), st.sampled_from(["EUR", "JPY"]), st.integers(1, 10_00)),
    st.tuples(st.just("resettle"), st.integers(0, 9), st.integers(-10_00, 10_00)),
    st.tuples(st.just("staff"), st.sampled_from(["EUR", "JPY"]), st.integers(-5_00, 5_00)),
)
# Amounts ending in 77 are held by the test screener (deposits, withdrawals, wins).
held_amount = st.integers(1, 50).map(lambda n: n * 100 + 77)
operation = st.one_of(
    operation,
    st.tuples(st.just("deposit"), st.sampled_from(["EUR", "JPY"]), held_amount),
    st.tuples(st.just("withdraw"), st.sampled_from(["EUR", "JPY"]), held_amount),
    st.tuples(st.just("win"), st.integers(0, 9), held_amount),
)


def apply_step(kind, pick, amount, *, player, provider, session, sessions, bets, wins, staff):
    two_staff = staff
    if kind == "deposit":
        ledger.deposit(player=player, currency=pick, amount_minor=amount, external_id=tid("dep"))
    elif kind == "withdraw":
        ledger.withdraw(player=player, currency=pick, amount_minor=amount, external_id=tid("wd"))
    elif kind == "open":
        session, _ = ledger.open_session(
            player=player,
            provider=provider,
            currency=("EUR", "JPY")[pick],
            game_id="slot-1",
            buy_in_minor=amount,
        )
        sessions.append(session)
    elif kind == "end" and session is not None:
        ledger.end_session(
            session=session,
            status=SessionStatus.CLOSED,
            reason=SessionEndReason.STAFF,
            missing_ok=True,
        )
    elif kind == "bet" and session is not None:
        tx = tid("bet")
        session.refresh_from_db()
        ledger.bet(
            provider=provider,
            session=session,
            transaction_id=tx,
            round_id=f"r{pick}-{len(bets)}",
            amount_minor=amount,
            currency=session.currency,
        )
        bets.append((session, tx, f"r{pick}-{len(bets)}"))
    elif kind == "win" and session is not None and bets:
        bet_session, _, round_id = bets[pick % len(bets)]
        result = ledger.win(
            provider=provider,
            session=bet_session,
            transaction_id=tid("win"),
            round_id=round_id,
            amount_minor=amount,
            currency=bet_session.currency,
        )
        wins.append((bet_session, result.transaction.external_id, round_id))
    elif kind == "rollback" and (bets or wins):
        pool = bets + wins
        ref_session, ref, round_id = pool[pick % len(pool)]
        ledger.rollback(
            provider=provider,
            session=ref_session,
            transaction_id=tid("rb"),
            reference_transaction_id=ref,
            round_id=round_id,
            allow_win=True,
        )
    elif kind == "decide":
        held = list(Transaction.objects.filter(player=player, status="held").order_by("id"))
        if held:
            ledger.decide_hold(transaction_id=held[0].pk, approve=amount, actor=two_staff[0])
    elif kind == "promo":
        ledger.credit_promo(
            provider=provider,
            player=player,
            currency=pick,
            transaction_id=tid("promo"),
            amount_minor=amount,
            credit_type="jackpot",
        )
    elif kind == "resettle" and session is not None and amount:
        ledger.settle_adjustment(
            provider=provider,
            session=session,
            transaction_id=tid("adj"),
            round_id=f"r{pick}",
            delta_minor=amount,
            currency=session.currency,
        )
    elif kind == "staff" and amount:
        wallet = Wallet.objects.filter(player=player, currency=pick).first()
        if wallet is not None:
            ledger.adjust(
                wallet=wallet,
                delta_minor=amount,
                reason="test",
                requested_by=two_staff[0],
                approved_by=two_staff[1],
                external_id=tid("staff"),
            )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(steps=st.lists(operation, min_size=1, max_size=30))
def test_balance_at_every_past_instant_is_what_the_wallet_held(
    db, steps, hold_marked_amounts, two_staff
):
    provider, _ = factories.make_provider(
        f"pit-{uuid.uuid4().hex[:10]}", max_sessions_per_player=20
    )
    player = factories.make_player()
    history = [snapshot(player)]
    sessions = []
    bets = []  # (session, transaction id, round id)
    wins = []
    for kind, pick, amount in steps:
        session = sessions[pick % len(sessions)] if sessions and isinstance(pick, int) else None
        try:
            with transaction.atomic():
                apply_step(
                    kind,
                    pick,
                    amount,
                    player=player,
                    provider=provider,
                    session=session,
                    sessions=sessions,
                    bets=bets,
                    wins=wins,
                    staff=two_staff,
                )
        except WalletError:
            pass  # refused: nothing written
        history.append(snapshot(player))
    assert_history(player, history)


def test_balance_before_the_first_row_is_zero_and_now_is_the_wallet(db):
    player = factories.funded_player(50_00)
    wallet = player.wallets.get()
    before = selectors.wallet_at(wallet, wallet.created_at - timedelta(seconds=1))
    assert (before.balance_minor, before.reserved_minor) == (0, 0)
    now = selectors.wallet_at(wallet, timezone.now())
    assert (now.balance_minor, now.reserved_minor, now.available_minor) == (50_00, 0, 50_00)


def test_every_hold_decision_and_buy_in_at_each_step(db, hold_marked_amounts, two_staff):
    """Each kind of row and decision once, with the instant after each step checked."""
    provider, _ = factories.make_provider(f"pit-{uuid.uuid4().hex[:10]}")
    player = factories.make_player()
    history = [snapshot(player)]

    def step(action):
        result = action()
        history.append(snapshot(player))
        return result

    deposit = step(
        lambda: ledger.deposit(
            player=player, currency="EUR", amount_minor=100_77, external_id=tid("d")
        )
    )
    step(
        lambda: ledger.decide_hold(
            transaction_id=deposit.transaction.pk, approve=True, actor=two_staff[0]
        )
    )
    rejected = step(
        lambda: ledger.deposit(
            player=player, currency="EUR", amount_minor=5_77, external_id=tid("d")
        )
    )
    step(
        lambda: ledger.decide_hold(
            transaction_id=rejected.transaction.pk, approve=False, actor=two_staff[0]
        )
    )
    paid = step(
        lambda: ledger.withdraw(
            player=player, currency="EUR", amount_minor=10_77, external_id=tid("w")
        )
    )
    kept = step(
        lambda: ledger.withdraw(
            player=player, currency="EUR", amount_minor=3_77, external_id=tid("w")
        )
    )
    step(
        lambda: ledger.decide_hold(
            transaction_id=paid.transaction.pk, approve=True, actor=two_staff[0]
        )
    )
    step(
        lambda: ledger.decide_hold(
            transaction_id=kept.transaction.pk, approve=False, actor=two_staff[0]
        )
    )
    session, _ = step(
        lambda: ledger.open_session(
            player=player, provider=provider, currency="EUR", game_id="g", buy_in_minor=30_00
        )
    )
    step(
        lambda: ledger.bet(
            provider=provider,
            session=session,
            transaction_id="b1",
            round_id="r1",
            amount_minor=20_00,
            currency="EUR",
        )
    )
    step(
        lambda: ledger.rollback(
            provider=provider,
            session=session,
            transaction_id="rb1",
            reference_transaction_id="b1",
            round_id="r1",
        )
    )
    step(
        lambda: ledger.bet(
            provider=provider,
            session=session,
            transaction_id="b2",
            round_id="r2",
            amount_minor=45_00,
            currency="EUR",
        )
    )
    held_win = step(
        lambda: ledger.win(
            provider=provider,
            session=session,
            transaction_id="w2",
            round_id="r2",
            amount_minor=60_77,
            currency="EUR",
        )
    )
    assert held_win.transaction.status == "held"
    step(
        lambda: ledger.rollback(
            provider=provider,
            session=session,
            transaction_id="rb2",
            reference_transaction_id="w2",
            round_id="r2",
            allow_win=True,
        )
    )
    step(
        lambda: ledger.end_session(
            session=session, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF
        )
    )
    reserved_seen = {figures[next(iter(figures))][1] for _, figures in history if figures}
    assert {0, 30_00, 10_00}.issubset(reserved_seen)  # buy-in, after a bet, after its end
    assert_history(player, history)
