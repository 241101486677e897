"""What the ledger does for protocols beyond the native contract: zero stakes, id scopes (a
cancel reusing its bet's id; ids unique only per player), the reversal of a win (never below
zero: refused, with an incident for staff), wins that settle one bet once, bets and wins
applied together, credits without a stake and a provider's re-settlements."""

import pytest

from tests import factories
from tests.wallets.test_ledger import assert_ledger_invariant
from wallets import hooks, ledger
from wallets.choices import TransactionKind, TransactionStatus
from wallets.errors import (
    BetNotFound,
    BetSettled,
    DuplicateMismatch,
    InsufficientFunds,
    InvalidReference,
    RoundSettled,
    TransactionRolledBack,
)
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quiet_and_exact(monkeypatch):
    """No other app's hooks; every wallet equals its ledger after each test."""
    monkeypatch.setattr(hooks, "screener", None)
    monkeypatch.setattr(hooks, "ledger_listeners", [])
    monkeypatch.setattr(hooks, "decline_recorders", [])
    yield
    assert_ledger_invariant()


@pytest.fixture
def incidents(monkeypatch):
    seen: list[hooks.LedgerIncident] = []
    monkeypatch.setattr(hooks, "incident_reporters", [seen.append])
    return seen


@pytest.fixture
def table():
    provider, _ = factories.make_provider()
    player = factories.funded_player(100_00)
    session, _ = factories.open_session(player, provider)
    return provider, player, session


def figures(player, currency="EUR"):
    wallet = Wallet.objects.get(player=player, currency=currency)
    return wallet.balance_minor, wallet.reserved_minor


def place(provider, session, txn, amount_minor, round_id="r1", **extra):
    return ledger.bet(
        provider=provider,
        session=session,
        transaction_id=txn,
        round_id=round_id,
        amount_minor=amount_minor,
        currency="EUR",
        **extra,
    )


def pay(provider, session, txn, amount_minor, round_id="r1", **extra):
    return ledger.win(
        provider=provider,
        session=session,
        transaction_id=txn,
        round_id=round_id,
        amount_minor=amount_minor,
        currency="EUR",
        **extra,
    )


def cancel(provider, session, txn, reference, round_id="r1", **extra):
    return ledger.rollback(
        provider=provider,
        session=session,
        transaction_id=txn,
        reference_transaction_id=reference,
        round_id=round_id,
        **extra,
    )


# --- zero stakes ----------------------------------------------------------------------------


def test_a_zero_stake_is_booked_and_opens_its_round(table):
    provider, player, session = table
    result = place(provider, session, "b0", 0)
    assert result.transaction.amount_minor == 0
    assert figures(player) == (100_00, 0)
    pay(provider, session, "w0", 2_50)
    assert figures(player) == (102_50, 0)


# --- id scopes ------------------------------------------------------------------------------


def test_a_cancel_reusing_its_bets_id_is_not_a_duplicate_of_the_bet(table):
    provider, player, session = table
    place(provider, session, "T1", 10_00)
    result = cancel(provider, session, "T1", "T1", id_namespace="cancel")
    assert not result.duplicate
    assert figures(player) == (100_00, 0)
    rows = Transaction.objects.filter(provider=provider, external_id="T1").order_by("id")
    assert [(r.kind, r.id_scope) for r in rows] == [("bet", ""), ("rollback", "cancel")]
    again = cancel(provider, session, "T1", "T1", id_namespace="cancel")
    assert again.duplicate and again.transaction.pk == result.transaction.pk
    # Without the namespace the same id is the bet's: a mismatch, as the native contract says.
    with pytest.raises(DuplicateMismatch):
        cancel(provider, session, "T1", "T1")


def test_a_cancel_before_its_bet_leaves_a_tombstone_in_its_own_namespace(table):
    provider, player, session = table
    tomb = cancel(provider, session, "T9", "T9", id_namespace="cancel")
    assert tomb.tombstone and not tomb.duplicate
    with pytest.raises(TransactionRolledBack):
        place(provider, session, "T9", 10_00)
    assert figures(player) == (100_00, 0)
    replay = cancel(provider, session, "T9", "T9", id_namespace="cancel")
    assert replay.duplicate and replay.tombstone


def test_ids_unique_per_player_let_two_players_use_the_same_id(table):
    provider, player, session = table
    other = factories.funded_player(50_00)
    other_session, _ = factories.open_session(other, provider)
    place(provider, session, "same", 10_00, ids_per_player=True)
    place(provider, other_session, "same", 5_00, ids_per_player=True)
    assert figures(player) == (90_00, 0)
    assert figures(other) == (45_00, 0)
    # Each player's id is idempotent on its own; a retry is a duplicate of that player's row.
    again = place(provider, other_session, "same", 5_00, ids_per_player=True)
    assert again.duplicate
    with pytest.raises(DuplicateMismatch):
        place(provider, other_session, "same", 6_00, ids_per_player=True)
    # Cancels find each player's own bet.
    cancel(provider, other_session, "same", "same", id_namespace="cancel", ids_per_player=True)
    assert figures(other) == (50_00, 0)
    assert figures(player) == (90_00, 0)
    scopes = set(Transaction.objects.filter(external_id="same").values_list("id_scope", flat=True))
    assert scopes == {f"@{player.pk}", f"@{other.pk}", f"cancel@{other.pk}"}


def test_ids_unique_per_provider_refuse_another_players_reuse(table):
    provider, _, session = table
    other_session, _ = factories.open_session(factories.funded_player(50_00), provider)
    place(provider, session, "same", 10_00)
    with pytest.raises(DuplicateMismatch):
        place(provider, other_session, "same", 10_00)


# --- reversing a win ------------------------------------------------------------------------


def test_a_win_is_reversed_only_where_the_protocol_allows_it(table):
    provider, player, session = table
    place(provider, session, "b1", 10_00)
    pay(provider, session, "w1", 30_00)
    with pytest.raises(InvalidReference):
        cancel(provider, session, "x1", "w1")
    result = cancel(provider, session, "x1", "w1", allow_win=True)
    assert result.transaction.delta_minor == -30_00
    assert result.transaction.reference.external_id == "w1"
    assert Transaction.objects.get(external_id="w1").status == TransactionStatus.ROLLED_BACK
    assert figures(player) == (90_00, 0)
    # Reversed once: a second reversal (another id) moves nothing.
    again = cancel(provider, session, "x2", "w1", allow_win=True)
    assert again.duplicate and again.transaction.delta_minor == 0
    assert figures(player) == (90_00, 0)
    # The win no longer settles the round: its bet may now be cancelled.
    cancel(provider, session, "x3", "b1")
    assert figures(player) == (100_00, 0)


def test_a_held_win_is_reversed_out_of_its_own_reservation(table, monkeypatch):
    provider, player, session = table
    place(provider, session, "b1", 10_00)
    monkeypatch.setattr(hooks, "screener", lambda request: hooks.Screening(action=hooks.HOLD))
    pay(provider, session, "w1", 500_00)
    assert figures(player) == (590_00, 500_00)
    monkeypatch.setattr(hooks, "screener", None)
    cancel(provider, session, "x1", "w1", allow_win=True)
    assert figures(player) == (90_00, 0)


def test_a_win_the_player_no_longer_has_is_never_reversed_below_zero(table, incidents):
    provider, player, session = table
    place(provider, session, "b1", 10_00)
    pay(provider, session, "w1", 80_00)
    ledger.withdraw(player=player, currency="EUR", amount_minor=150_00, external_id="cash-out")
    assert figures(player) == (20_00, 0)
    with pytest.raises(InsufficientFunds) as refused:
        cancel(provider, session, "x1", "w1", allow_win=True)
    assert refused.value.balance_minor == 20_00
    assert figures(player) == (20_00, 0)
    assert Transaction.objects.get(external_id="w1").status == TransactionStatus.POSTED
    assert not Transaction.objects.filter(external_id="x1").exists()
    assert len(incidents) == 1
    incident = incidents[0]
    assert (incident.kind, incident.external_id, incident.reference_external_id) == (
        hooks.WIN_REVERSAL_REFUSED,
        "x1",
        "w1",
    )
    assert (incident.player_id, incident.available_minor, incident.currency) == (
        player.pk,
        20_00,
        "EUR",
    )


def test_a_bet_cancel_after_a_win_stays_settled_even_where_wins_may_be_reversed(table):
    provider, _, session = table
    place(provider, session, "b1", 10_00)
    pay(provider, session, "w1", 0)
    with pytest.raises(BetSettled):
        cancel(provider, session, "x1", "b1", allow_win=True)


def test_a_reversal_row_is_a_rollback_that_takes_money_out(table):
    provider, _, session = table
    place(provider, session, "b1", 10_00)
    pay(provider, session, "w1", 5_00)
    row = cancel(provider, session, "x1", "w1", allow_win=True).transaction
    assert (row.kind, row.amount_minor, row.delta_minor) == (TransactionKind.ROLLBACK, 5_00, -5_00)


# --- a win that settles one bet -------------------------------------------------------------


def test_a_win_settling_one_bet_needs_its_bet(table):
    provider, player, session = table
    with pytest.raises(BetNotFound):
        pay(provider, session, "w1", 5_00, round_id="no-bet", requires_bet=True, settles_once=True)
    with pytest.raises(BetNotFound):
        pay(
            provider,
            session,
            "w2",
            5_00,
            reference_transaction_id="ghost",
            requires_bet=True,
            settles_once=True,
        )
    assert figures(player) == (100_00, 0)
    place(provider, session, "b1", 10_00)
    pay(
        provider,
        session,
        "w3",
        5_00,
        reference_transaction_id="b1",
        requires_bet=True,
        settles_once=True,
    )
    assert figures(player) == (95_00, 0)


def test_a_bet_is_settled_once(table):
    provider, player, session = table
    place(provider, session, "b1", 10_00)
    pay(provider, session, "w1", 0, requires_bet=True, settles_once=True)
    with pytest.raises(RoundSettled):
        pay(provider, session, "w2", 300_00, requires_bet=True, settles_once=True)
    assert figures(player) == (90_00, 0)
    # The same win again is a duplicate, not a second settlement.
    assert pay(provider, session, "w1", 0, requires_bet=True, settles_once=True).duplicate


def test_a_free_round_win_is_marked_for_the_reports(table):
    provider, _, session = table
    row = pay(provider, session, "fr1", 3_00, round_id="fr", credit_type="free_round").transaction
    assert row.credit_type == "free_round"
    assert Transaction.objects.get(pk=row.pk).credit_type == "free_round"


# --- play: bets and wins applied together ---------------------------------------------------


def test_a_play_applies_its_bet_and_win_together(table):
    provider, player, session = table
    results = ledger.play(
        provider=provider,
        session=session,
        round_id="spin-1",
        currency="EUR",
        actions=[ledger.PlayBet("a1", 10_00), ledger.PlayWin("a2", 25_00, round_closed=True)],
    )
    assert [r.transaction.kind for r in results] == ["bet", "win"]
    assert figures(player) == (115_00, 0)
    again = ledger.play(
        provider=provider,
        session=session,
        round_id="spin-1",
        currency="EUR",
        actions=[ledger.PlayBet("a1", 10_00), ledger.PlayWin("a2", 25_00, round_closed=True)],
    )
    assert all(r.duplicate for r in again)
    assert figures(player) == (115_00, 0)


def test_a_play_whose_bet_is_refused_applies_nothing(table):
    provider, player, session = table
    with pytest.raises(InsufficientFunds):
        ledger.play(
            provider=provider,
            session=session,
            round_id="spin-2",
            currency="EUR",
            actions=[ledger.PlayBet("c0", 1_00), ledger.PlayBet("c2", 500_00)],
        )
    assert figures(player) == (100_00, 0)
    assert not Transaction.objects.filter(external_id__in=["c0", "c2"]).exists()
    # Nothing was spent, not even the first bet's round: the call goes through when fundable.
    ledger.play(
        provider=provider,
        session=session,
        round_id="spin-2",
        currency="EUR",
        actions=[ledger.PlayBet("c0", 1_00), ledger.PlayBet("c2", 50_00), ledger.PlayWin("c1", 0)],
    )
    assert figures(player) == (49_00, 0)


def test_a_refused_play_or_rollback_batch_carries_the_balance_as_committed(table):
    provider, player, session = table
    with pytest.raises(InsufficientFunds) as refused:
        ledger.play(
            provider=provider,
            session=session,
            round_id="spin-b",
            currency="EUR",
            actions=[ledger.PlayBet("i1", 30_00), ledger.PlayBet("i2", 80_00)],
        )
    # The second bet met 70.00 inside the batch; the first bet was undone with it.
    assert refused.value.balance_minor == 100_00
    ledger.play(
        provider=provider,
        session=session,
        round_id="spin-b",
        currency="EUR",
        actions=[ledger.PlayBet("i3", 10_00), ledger.PlayWin("i4", 20_00)],
    )
    ledger.play(
        provider=provider,
        session=session,
        round_id="spin-c",
        currency="EUR",
        actions=[ledger.PlayBet("i5", 10_00), ledger.PlayWin("i6", 50_00)],
    )
    ledger.withdraw(player=player, currency="EUR", amount_minor=120_00, external_id="cash-i")
    with pytest.raises(InsufficientFunds) as reversal:
        ledger.rollback_many(
            provider=provider,
            session=session,
            round_id="spin-c",
            rollbacks=[("j1", "i4"), ("j2", "i6")],
            allow_win=True,
        )
    # The second reversal met 10.00 inside the batch; the first was undone with it.
    assert reversal.value.balance_minor == 30_00
    assert figures(player) == (30_00, 0)


def test_a_play_racing_a_duplicate_of_its_own_bet_keeps_one_row(table):
    provider, player, session = table
    place(provider, session, "d1", 10_00, round_id="spin-3")
    results = ledger.play(
        provider=provider,
        session=session,
        round_id="spin-3",
        currency="EUR",
        actions=[ledger.PlayBet("d1", 10_00), ledger.PlayWin("d2", 4_00)],
    )
    assert [r.duplicate for r in results] == [True, False]
    assert figures(player) == (94_00, 0)


def test_a_play_whose_win_was_rolled_back_before_it_arrived_applies_nothing(table):
    provider, player, session = table
    tomb = ledger.rollback_many(
        provider=provider,
        session=session,
        round_id="spin-late",
        rollbacks=[("rb-w", "late-w")],
        allow_win=True,
    )
    assert tomb[0].tombstone
    with pytest.raises(TransactionRolledBack) as refused:
        ledger.play(
            provider=provider,
            session=session,
            round_id="spin-late",
            currency="EUR",
            actions=[ledger.PlayBet("late-b", 1_00), ledger.PlayWin("late-w", 40_00)],
        )
    assert refused.value.balance_minor == 100_00
    assert figures(player) == (100_00, 0)
    assert not Transaction.objects.filter(external_id__in=["late-b", "late-w"]).exists()
    # A win-only play (a free spin) meets the same tombstone.
    with pytest.raises(TransactionRolledBack):
        ledger.play(
            provider=provider,
            session=session,
            round_id="spin-late",
            currency="EUR",
            actions=[ledger.PlayWin("late-w", 40_00, round_closed=True)],
        )
    assert figures(player) == (100_00, 0)


def test_a_replayed_play_whose_win_was_reversed_since_is_still_a_duplicate(table):
    provider, player, session = table
    spin = [ledger.PlayBet("h1", 10_00), ledger.PlayWin("h2", 30_00)]
    ledger.play(provider=provider, session=session, round_id="spin-6", currency="EUR", actions=spin)
    ledger.rollback_many(
        provider=provider,
        session=session,
        round_id="spin-6",
        rollbacks=[("k2", "h2")],
        allow_win=True,
    )
    again = ledger.play(
        provider=provider, session=session, round_id="spin-6", currency="EUR", actions=spin
    )
    assert [r.duplicate for r in again] == [True, True]
    assert figures(player) == (90_00, 0)


def test_rollbacks_of_a_whole_round_reverse_the_win_before_the_bet(table):
    provider, player, session = table
    ledger.play(
        provider=provider,
        session=session,
        round_id="spin-4",
        currency="EUR",
        actions=[ledger.PlayBet("e1", 10_00), ledger.PlayWin("e2", 30_00)],
    )
    results = ledger.rollback_many(
        provider=provider,
        session=session,
        round_id="spin-4",
        rollbacks=[("r1", "e1"), ("r2", "e2")],  # the bet first, as a provider may send it
        allow_win=True,
    )
    assert [r.transaction.delta_minor for r in results] == [10_00, -30_00]
    assert figures(player) == (100_00, 0)


def test_a_refused_reversal_inside_rollbacks_reports_its_incident_once_it_is_over(table, incidents):
    provider, player, session = table
    ledger.play(
        provider=provider,
        session=session,
        round_id="spin-5",
        currency="EUR",
        actions=[ledger.PlayBet("f1", 10_00), ledger.PlayWin("f2", 60_00)],
    )
    ledger.withdraw(player=player, currency="EUR", amount_minor=140_00, external_id="cash-f")
    with pytest.raises(InsufficientFunds):
        ledger.rollback_many(
            provider=provider,
            session=session,
            round_id="spin-5",
            rollbacks=[("g1", "f1"), ("g2", "f2")],
            allow_win=True,
        )
    assert figures(player) == (10_00, 0)
    assert [i.reference_external_id for i in incidents] == ["f2"]


# --- credits without a stake, re-settlements ------------------------------------------------


def test_a_promotional_credit_needs_no_session_and_is_idempotent(table):
    provider, player, _ = table
    result = ledger.credit_promo(
        provider=provider,
        player=player,
        currency="EUR",
        transaction_id="promo-1",
        amount_minor=12_34,
        credit_type="jackpot",
    )
    row = result.transaction
    assert (row.kind, row.credit_type, row.session_id, row.round_id) == (
        TransactionKind.PROMO,
        "jackpot",
        None,
        None,
    )
    assert figures(player) == (112_34, 0)
    assert ledger.credit_promo(
        provider=provider,
        player=player,
        currency="EUR",
        transaction_id="promo-1",
        amount_minor=12_34,
        credit_type="jackpot",
    ).duplicate
    with pytest.raises(DuplicateMismatch):
        ledger.credit_promo(
            provider=provider,
            player=player,
            currency="EUR",
            transaction_id="promo-1",
            amount_minor=99_00,
            credit_type="jackpot",
        )
    assert figures(player) == (112_34, 0)


def test_a_promotional_credit_opens_a_wallet_in_a_new_currency(table):
    provider, player, _ = table
    ledger.credit_promo(
        provider=provider,
        player=player,
        currency="JPY",
        transaction_id="promo-jpy",
        amount_minor=500,
        credit_type="promo",
    )
    assert figures(player, "JPY") == (500, 0)


def test_a_re_settlement_credits_or_debits_but_never_below_zero(table):
    provider, player, session = table
    place(provider, session, "h1", 10_00, round_id="live-1")
    pay(provider, session, "h2", 20_00, round_id="live-1", round_closed=True)
    ledger.settle_adjustment(
        provider=provider,
        session=session,
        transaction_id="adj-1",
        round_id="live-1",
        delta_minor=-5_00,
        currency="EUR",
    )
    assert figures(player) == (105_00, 0)
    with pytest.raises(InsufficientFunds):
        ledger.settle_adjustment(
            provider=provider,
            session=session,
            transaction_id="adj-2",
            round_id="live-1",
            delta_minor=-500_00,
            currency="EUR",
        )
    row = ledger.settle_adjustment(
        provider=provider,
        session=session,
        transaction_id="adj-3",
        round_id="live-1",
        delta_minor=7_00,
        currency="EUR",
    ).transaction
    assert (row.kind, row.provider_id, row.round.external_id) == (
        TransactionKind.ADJUSTMENT,
        provider.pk,
        "live-1",
    )
    assert figures(player) == (112_00, 0)
