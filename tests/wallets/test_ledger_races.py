"""The ledger's answers to races that only two connections can produce, each race forced
(tests/races.py): the first call's transaction is held open until PostgreSQL shows the second
call blocked by it, then committed.

- A round id is unique per player and provider, but a player has a wallet per currency and
  calls on two wallets do not serialise: two first calls into one round meet at the round's
  unique index, which the bet and win functions settle with ON CONFLICT.
- A transaction id is unique per provider (per kind for payments): two first deliveries on two
  wallets meet at the ledger's unique index; the loser runs again and replays the winner's row
  (`_retry_once_on_unique_race`), so the caller gets a contract answer, never an IntegrityError.
"""

import pytest

from tests import factories
from tests.races import race_against_open_transaction
from tests.wallets.test_ledger import assert_ledger_invariant, quiet_hooks  # noqa: F401
from wallets import ledger
from wallets.choices import RoundStatus, TransactionKind
from wallets.errors import DuplicateMismatch, RoundClosed
from wallets.models import GameSession, Player, Provider, Round, Transaction, Wallet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_currencies():
    """One player with a EUR and a JPY session at one provider: (provider, eur, jpy)."""
    provider, _ = factories.make_provider()
    player = factories.funded_player(100_00)
    ledger.deposit(player=player, currency="JPY", amount_minor=10_000, external_id="jpy-funds")
    eur, _ = factories.open_session(player, provider, currency="EUR")
    jpy, _ = factories.open_session(player, provider, currency="JPY")
    return provider, eur, jpy


def _bet(provider, session, transaction_id, round_id, amount_minor):
    return ledger.bet(
        provider=Provider.objects.get(pk=provider.pk),
        session=GameSession.objects.get(pk=session.pk),
        transaction_id=transaction_id,
        round_id=round_id,
        amount_minor=amount_minor,
        currency=session.currency,
    )


def _win(provider, session, transaction_id, round_id, amount_minor):
    return ledger.win(
        provider=Provider.objects.get(pk=provider.pk),
        session=GameSession.objects.get(pk=session.pk),
        transaction_id=transaction_id,
        round_id=round_id,
        amount_minor=amount_minor,
        currency=session.currency,
    )


def _balance(session) -> int:
    return Wallet.objects.get(pk=session.wallet_id).balance_minor


# --- one round, two wallets: ON CONFLICT on the round ---------------------------------------


def test_two_bets_opening_one_round_from_two_wallets_share_it(two_currencies):
    provider, eur, jpy = two_currencies
    raced = race_against_open_transaction(
        lambda: _bet(provider, eur, "b-eur", "r-shared", 10_00),
        lambda: _bet(provider, jpy, "b-jpy", "r-shared", 500),
    )

    assert raced.second_error is None, raced.second_error
    round_ = Round.objects.get(provider=provider, external_id="r-shared")
    assert (round_.status, round_.has_bet) == (RoundStatus.OPEN, True)
    rows = Transaction.objects.filter(kind=TransactionKind.BET).order_by("id")
    assert [(t.external_id, t.round_id) for t in rows] == [
        ("b-eur", round_.pk),
        ("b-jpy", round_.pk),
    ]
    assert raced.second.transaction.round_id == round_.pk
    assert (_balance(eur), _balance(jpy)) == (90_00, 9_500)
    assert_ledger_invariant()


def test_a_bet_meeting_a_round_just_settled_by_a_free_spin_win_is_refused(two_currencies):
    provider, eur, jpy = two_currencies
    raced = race_against_open_transaction(
        lambda: _win(provider, eur, "w-eur", "r-free", 3_00),  # no bet: opens and settles it
        lambda: _bet(provider, jpy, "b-jpy", "r-free", 500),
    )

    assert isinstance(raced.second_error, RoundClosed), raced.second_error
    assert raced.second_error.balance_minor == 10_000
    assert not Transaction.objects.filter(external_id="b-jpy").exists()
    round_ = Round.objects.get(provider=provider, external_id="r-free")
    assert (round_.status, round_.has_bet) == (RoundStatus.SETTLED, False)
    assert (_balance(eur), _balance(jpy)) == (103_00, 10_000)
    assert_ledger_invariant()


def test_a_free_spin_win_meeting_a_round_just_opened_by_a_bet_joins_it(two_currencies):
    provider, eur, jpy = two_currencies
    raced = race_against_open_transaction(
        lambda: _bet(provider, eur, "b-eur", "r-open", 10_00),
        lambda: _win(provider, jpy, "w-jpy", "r-open", 700),
    )

    assert raced.second_error is None, raced.second_error
    round_ = Round.objects.get(provider=provider, external_id="r-open")
    # The bet opened it; the win (no round_closed) leaves it open for the rest of the round.
    assert (round_.status, round_.has_bet) == (RoundStatus.OPEN, True)
    win = Transaction.objects.get(external_id="w-jpy")
    assert (win.round_id, win.delta_minor) == (round_.pk, 700)
    assert (_balance(eur), _balance(jpy)) == (90_00, 10_700)
    assert_ledger_invariant()


# --- one transaction id, two wallets: the unique index and the retry --------------------------


@pytest.fixture
def two_players():
    """Two funded players with a EUR session each at one provider, and two staff users."""
    provider, _ = factories.make_provider()
    players = [factories.funded_player(100_00), factories.funded_player(100_00)]
    sessions = [factories.open_session(p, provider)[0] for p in players]
    staff = (factories.UserFactory(), factories.UserFactory())
    return provider, players, sessions, staff


def _same_id_call(kind, provider, player, session, staff, external_id):
    """The first delivery of `external_id` as `kind`, on this player's wallet."""
    provider = Provider.objects.get(pk=provider.pk)
    player = Player.objects.get(pk=player.pk)
    session = GameSession.objects.get(pk=session.pk)
    if kind == "bet":
        return _bet(provider, session, external_id, f"r-{player.pk}", 5_00)
    if kind == "win":
        return _win(provider, session, external_id, f"r-{player.pk}", 5_00)
    if kind == "rollback":  # of a bet never seen: a tombstone row under this rollback id
        return ledger.rollback(
            provider=provider,
            session=session,
            transaction_id=external_id,
            reference_transaction_id=f"ghost-{player.pk}",
            round_id=f"r-{player.pk}",
        )
    if kind == "deposit":
        return ledger.deposit(
            player=player, currency="EUR", amount_minor=5_00, external_id=external_id
        )
    if kind == "withdrawal":
        return ledger.withdraw(
            player=player, currency="EUR", amount_minor=5_00, external_id=external_id
        )
    requested_by, approved_by = staff
    return ledger.adjust(
        wallet=Wallet.objects.get(pk=session.wallet_id),
        delta_minor=-5_00,
        reason="correction",
        requested_by=requested_by,
        approved_by=approved_by,
        external_id=external_id,
    )


def test_the_loser_of_a_unique_race_replays_the_winners_row(two_players):
    """For each kind of ledger row: the second delivery inserts its row while the first one's
    is uncommitted; its insert waits on the unique index, fails when the first commits, and the
    ledger runs it once more, which finds the first one's row: another player's, so
    DUPLICATE_MISMATCH (never an IntegrityError, a 500 for the provider). The loser's wallet is
    untouched. (One test for all kinds: each transactional test costs a database flush.)"""
    provider, players, sessions, staff = two_players
    for kind in ["bet", "win", "rollback", "deposit", "withdrawal", "adjustment"]:
        external_id = f"same-{kind}"
        loser_rows = Transaction.objects.filter(wallet_id=sessions[1].wallet_id).count()
        loser_balance = _balance(sessions[1])
        raced = race_against_open_transaction(
            lambda e=external_id, k=kind: _same_id_call(
                k, provider, players[0], sessions[0], staff, e
            ),
            lambda e=external_id, k=kind: _same_id_call(
                k, provider, players[1], sessions[1], staff, e
            ),
        )

        assert isinstance(raced.second_error, DuplicateMismatch), (kind, raced.second_error)
        row = Transaction.objects.get(external_id=external_id)
        assert (row.player_id, row.pk) == (players[0].pk, raced.first.transaction.pk), kind
        assert _balance(sessions[1]) == loser_balance, kind
        assert Transaction.objects.filter(wallet_id=sessions[1].wallet_id).count() == loser_rows
    assert_ledger_invariant()
