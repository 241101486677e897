"""Service-level tests of wallets.ledger (no HTTP): every operation, its refusals, its exact
arithmetic on balance / reserved, and the ledger-sum invariant after every scenario.

The invariant (see `ledger_discrepancies`) is what reconciliation checks in production:
for every wallet,

- balance_minor  == SUM(delta_minor) of rows posted or rolled back, plus held credits;
- reserved_minor == SUM(reserved_minor) of its open sessions, plus SUM(amount_minor) of held rows.

An autouse fixture asserts it over all wallets at the end of every test in this module; the other
ledger test modules import the helper.
"""

import threading
import time
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce

from tests import factories, races
from wallets import crypto, hooks, ledger
from wallets.choices import (
    PlayerStatus,
    ProviderStatus,
    RoundStatus,
    SessionEndReason,
    SessionStatus,
    TransactionKind,
    TransactionStatus,
)
from wallets.errors import (
    BetDeclined,
    CurrencyMismatch,
    DuplicateMismatch,
    FourEyesRequired,
    InsufficientFunds,
    InvalidAmount,
    InvalidReference,
    NotAllowed,
    PlayerBlocked,
    ProviderRestricted,
    ProviderSuspended,
    RoundClosed,
    SessionExpired,
    SessionLimit,
    TransactionRolledBack,
    ValidationFailed,
)
from wallets.models import GameSession, Player, Provider, Round, Transaction, Wallet

# --- the invariant --------------------------------------------------------------------------------


def ledger_discrepancies(wallet_ids=None) -> list[str]:
    """Every way the cached wallet figures differ from what the ledger rows and sessions say,
    and every wallet whose hash chain does not verify."""
    wallets = Wallet.objects.order_by("pk")
    if wallet_ids is not None:
        wallets = wallets.filter(pk__in=list(wallet_ids))
    problems = []
    for wallet in wallets:
        rows = Transaction.objects.filter(wallet=wallet)
        ledger_balance = rows.filter(
            Q(status__in=[TransactionStatus.POSTED, TransactionStatus.ROLLED_BACK])
            | Q(status=TransactionStatus.HELD, delta_minor__gt=0)
        ).aggregate(total=Coalesce(Sum("delta_minor"), 0))["total"]
        sessions_reserved = GameSession.objects.filter(
            wallet=wallet, status=SessionStatus.OPEN
        ).aggregate(total=Coalesce(Sum("reserved_minor"), 0))["total"]
        held_reserved = rows.filter(status=TransactionStatus.HELD).aggregate(
            total=Coalesce(Sum("amount_minor"), 0)
        )["total"]
        if wallet.balance_minor != ledger_balance:
            problems.append(
                f"wallet {wallet.pk}: balance {wallet.balance_minor} != ledger sum {ledger_balance}"
            )
        if wallet.reserved_minor != sessions_reserved + held_reserved:
            problems.append(
                f"wallet {wallet.pk}: reserved {wallet.reserved_minor} != open sessions "
                f"{sessions_reserved} + held {held_reserved}"
            )
        if not 0 <= wallet.reserved_minor <= wallet.balance_minor:
            problems.append(f"wallet {wallet.pk}: outside 0 <= reserved <= balance")
        with connection.cursor() as cursor:
            cursor.execute("SELECT broken_id FROM pitboss_verify_chain(%s, 0, NULL)", [wallet.pk])
            (broken,) = cursor.fetchone()
        if broken is not None:
            problems.append(f"wallet {wallet.pk}: hash chain broken at row {broken}")
    return problems


def assert_ledger_invariant(wallet_ids=None) -> None:
    problems = ledger_discrepancies(wallet_ids)
    assert not problems, "\n".join(problems)


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def quiet_hooks():
    """No screener or listener from another app may change these tests' outcomes."""
    saved = (hooks.screener, list(hooks.ledger_listeners), list(hooks.decline_recorders))
    hooks.screener = None
    hooks.ledger_listeners[:] = []
    hooks.decline_recorders[:] = []
    try:
        yield
    finally:
        hooks.screener = saved[0]
        hooks.ledger_listeners[:] = saved[1]
        hooks.decline_recorders[:] = saved[2]


@pytest.fixture(autouse=True)
def invariant_after_test(db, quiet_hooks):
    yield
    assert_ledger_invariant()


@pytest.fixture
def screen_with():
    """Install a screener for the test; the previous one is restored whatever happens."""
    saved = hooks.screener
    seen: list[hooks.ScreeningRequest] = []

    def install(action: str, kinds=None):
        def screener(request: hooks.ScreeningRequest) -> hooks.Screening:
            seen.append(request)
            if kinds is None or request.kind in kinds:
                return hooks.Screening(action=action, hits=({"rule": "test"},))
            return hooks.ALLOW_ALL

        hooks.screener = screener
        return seen

    try:
        yield install
    finally:
        hooks.screener = saved


def new_id(prefix: str = "tx") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wallet_of(player: Player, currency: str = "EUR") -> Wallet:
    return Wallet.objects.get(player=player, currency=currency)


def figures(player: Player, currency: str = "EUR") -> tuple[int, int]:
    wallet = wallet_of(player, currency)
    return wallet.balance_minor, wallet.reserved_minor


def fresh(session: GameSession) -> GameSession:
    return GameSession.objects.get(pk=session.pk)


def place_bet(provider, session, amount_minor, *, transaction_id=None, round_id=None, **extra):
    return ledger.bet(
        provider=provider,
        session=session,
        transaction_id=transaction_id or new_id("bet"),
        round_id=round_id or new_id("round"),
        amount_minor=amount_minor,
        currency=extra.pop("currency", session.currency),
        **extra,
    )


def pay_win(provider, session, amount_minor, *, round_id, transaction_id=None, **extra):
    return ledger.win(
        provider=provider,
        session=session,
        transaction_id=transaction_id or new_id("win"),
        round_id=round_id,
        amount_minor=amount_minor,
        currency=extra.pop("currency", session.currency),
        **extra,
    )


def roll_back(provider, session, reference, *, round_id="", transaction_id=None):
    return ledger.rollback(
        provider=provider,
        session=session,
        transaction_id=transaction_id or new_id("rb"),
        reference_transaction_id=reference,
        round_id=round_id,
    )


def close(session, **extra):
    return ledger.end_session(
        session=session,
        status=extra.pop("status", SessionStatus.CLOSED),
        reason=extra.pop("reason", SessionEndReason.GRACEFUL),
        **extra,
    )


@pytest.fixture
def player():
    return factories.funded_player(100_00)


@pytest.fixture
def provider():
    return factories.make_provider()[0]


@pytest.fixture
def staff():
    return factories.UserFactory(), factories.UserFactory()


# --- open_session ---------------------------------------------------------------------------------


def test_open_session_reserves_the_buy_in(player, provider):
    session, token = ledger.open_session(
        player=player, provider=provider, currency="EUR", game_id="g1", buy_in_minor=30_00
    )

    assert figures(player) == (100_00, 30_00)
    session = fresh(session)
    assert (session.status, session.buy_in_minor, session.reserved_minor) == ("open", 30_00, 30_00)
    assert session.token_hash == crypto.token_hash(token)
    assert session.wallet == wallet_of(player)
    assert session.game_id == "g1"
    assert Transaction.objects.filter(wallet=session.wallet).count() == 1  # the seed deposit only


def test_open_session_buy_in_needs_available_funds(player, provider):
    ledger.open_session(player=player, provider=provider, currency="EUR", buy_in_minor=80_00)

    with pytest.raises(InsufficientFunds) as refused:
        ledger.open_session(player=player, provider=provider, currency="EUR", buy_in_minor=20_01)

    assert refused.value.balance_minor == 20_00
    assert GameSession.objects.filter(player=player).count() == 1
    assert figures(player) == (100_00, 80_00)
    # Exactly what is available may be reserved.
    ledger.open_session(player=player, provider=provider, currency="EUR", buy_in_minor=20_00)
    assert figures(player) == (100_00, 100_00)


def test_open_session_refuses_a_negative_buy_in(player, provider):
    with pytest.raises(InvalidAmount):
        ledger.open_session(player=player, provider=provider, currency="EUR", buy_in_minor=-1)
    assert not GameSession.objects.filter(player=player).exists()


def test_open_session_limit_is_per_player_and_provider(player):
    provider, _ = factories.make_provider(max_sessions_per_player=2)
    other_provider, _ = factories.make_provider(max_sessions_per_player=2)
    first, _ = factories.open_session(player, provider)
    factories.open_session(player, provider)

    with pytest.raises(SessionLimit):
        factories.open_session(player, provider, buy_in_minor=10_00)
    assert figures(player) == (100_00, 0)  # the refused buy-in reserved nothing

    factories.open_session(player, other_provider)  # another provider's limit is separate
    factories.open_session(factories.funded_player(0), provider)  # and another player's
    close(first)
    factories.open_session(player, provider)  # a closed session frees its slot
    assert GameSession.objects.filter(player=player, provider=provider, status="open").count() == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (ProviderStatus.SUSPENDED, ProviderSuspended),
        (ProviderStatus.RESTRICTED, ProviderRestricted),
    ],
)
def test_open_session_refused_unless_provider_active(player, provider, status, error):
    # open_session re-reads the provider, so a stale object does not let a session through.
    Provider.objects.filter(pk=provider.pk).update(status=status)

    with pytest.raises(error):
        ledger.open_session(player=player, provider=provider, currency="EUR", buy_in_minor=10_00)

    assert not GameSession.objects.filter(player=player).exists()
    assert figures(player) == (100_00, 0)


def test_open_session_refuses_a_blocked_player(player, provider):
    Player.objects.filter(pk=player.pk).update(status=PlayerStatus.BLOCKED)

    with pytest.raises(PlayerBlocked):
        ledger.open_session(player=player, provider=provider, currency="EUR", buy_in_minor=10_00)

    assert not GameSession.objects.filter(player=player).exists()
    assert figures(player) == (100_00, 0)


def test_open_session_refuses_a_currency_the_provider_does_not_offer(player):
    provider, _ = factories.make_provider(currencies=("EUR",))
    with pytest.raises(ValidationFailed):
        ledger.open_session(player=player, provider=provider, currency="JPY")
    assert not GameSession.objects.filter(player=player).exists()


def test_open_session_in_a_new_currency_creates_its_wallet(player, provider):
    session, _ = ledger.open_session(player=player, provider=provider, currency="JPY")
    assert session.wallet == wallet_of(player, "JPY")
    assert figures(player, "JPY") == (0, 0)


# --- bet ------------------------------------------------------------------------------------------


def test_bet_draws_on_the_buy_in_reservation_first_then_on_available(player, provider):
    session, _ = factories.open_session(player, provider, buy_in_minor=30_00)

    first = place_bet(provider, session, 20_00)
    assert (first.balance_minor, first.reserved_minor, first.available_minor) == (
        80_00,
        10_00,
        70_00,
    )
    assert first.transaction.reserved_used_minor == 20_00
    assert fresh(session).reserved_minor == 10_00

    second = place_bet(provider, session, 25_00)  # 10.00 from the buy-in, 15.00 from available
    assert (second.balance_minor, second.reserved_minor) == (55_00, 0)
    assert second.transaction.reserved_used_minor == 10_00
    assert fresh(session).reserved_minor == 0

    third = place_bet(provider, session, 5_00)
    assert third.transaction.reserved_used_minor == 0
    assert figures(player) == (50_00, 0)

    bet_row = Transaction.objects.get(pk=first.transaction.pk)
    assert (bet_row.kind, bet_row.status, bet_row.amount_minor, bet_row.delta_minor) == (
        TransactionKind.BET,
        TransactionStatus.POSTED,
        20_00,
        -20_00,
    )
    assert bet_row.balance_after_minor == 80_00
    assert bet_row.session_id == session.pk and bet_row.round.has_bet


def test_bet_may_spend_buy_in_plus_available_and_not_a_minor_unit_more(player, provider):
    session, _ = factories.open_session(player, provider, buy_in_minor=30_00)

    with pytest.raises(InsufficientFunds) as refused:
        place_bet(provider, session, 100_01)
    assert refused.value.balance_minor == 70_00  # the available balance, as the contract says
    assert figures(player) == (100_00, 30_00)
    assert not Round.objects.filter(player=player).exists()  # nothing written when refused

    result = place_bet(provider, session, 100_00)
    assert (result.balance_minor, result.reserved_minor) == (0, 0)
    assert result.transaction.reserved_used_minor == 30_00


def test_bet_cannot_spend_another_sessions_buy_in(player, provider):
    factories.open_session(player, provider, buy_in_minor=60_00)
    session, _ = factories.open_session(player, provider)

    with pytest.raises(InsufficientFunds):
        place_bet(provider, session, 40_01)
    place_bet(provider, session, 40_00)
    assert figures(player) == (60_00, 60_00)


def test_bet_refusals_write_nothing(player, provider):
    session, _ = factories.open_session(player, provider)
    closed_round = new_id("round")
    ledger.close_round(provider=provider, session=session, round_id=closed_round)
    rows_before = Transaction.objects.count()

    with pytest.raises(InvalidAmount):
        place_bet(provider, session, -1)
    with pytest.raises(CurrencyMismatch):
        place_bet(provider, session, 1_00, currency="JPY")
    with pytest.raises(RoundClosed):
        place_bet(provider, session, 1_00, round_id=closed_round)

    Player.objects.filter(pk=player.pk).update(status=PlayerStatus.BLOCKED)
    with pytest.raises(PlayerBlocked):
        place_bet(provider, session, 1_00)
    Player.objects.filter(pk=player.pk).update(status=PlayerStatus.ACTIVE)

    # Read from the database under the wallet lock, not from the caller's provider object.
    Provider.objects.filter(pk=provider.pk).update(status=ProviderStatus.SUSPENDED)
    with pytest.raises(ProviderSuspended):
        place_bet(provider, session, 1_00)
    Provider.objects.filter(pk=provider.pk).update(status=ProviderStatus.ACTIVE)

    close(session)
    with pytest.raises(SessionExpired):
        place_bet(provider, session, 1_00)

    assert Transaction.objects.count() == rows_before
    assert figures(player) == (100_00, 0)


def test_bet_replay_is_a_duplicate_and_a_changed_payload_a_mismatch(player, provider):
    session, _ = factories.open_session(player, provider, buy_in_minor=10_00)
    first = place_bet(provider, session, 15_00, transaction_id="b-1", round_id="r-1")

    again = place_bet(provider, session, 15_00, transaction_id="b-1", round_id="r-1")
    assert again.duplicate and not first.duplicate
    assert again.transaction.pk == first.transaction.pk
    assert figures(player) == (85_00, 0)

    for changed in ({"amount_minor": 15_01}, {"round_id": "r-2"}, {"currency": "JPY"}):
        fields = {"amount_minor": 15_00, "round_id": "r-1", "currency": "EUR"} | changed
        with pytest.raises(DuplicateMismatch):
            ledger.bet(provider=provider, session=session, transaction_id="b-1", **fields)
    # The same id as a win (another kind) or from another player is a mismatch too.
    with pytest.raises(DuplicateMismatch):
        pay_win(provider, session, 15_00, transaction_id="b-1", round_id="r-1")
    other, _ = factories.open_session(factories.funded_player(50_00), provider)
    with pytest.raises(DuplicateMismatch):
        place_bet(provider, other, 15_00, transaction_id="b-1", round_id="r-1")

    assert Transaction.objects.filter(provider=provider, external_id="b-1").count() == 1
    assert figures(player) == (85_00, 0)


def test_a_replayed_bet_is_a_duplicate_even_after_its_session_closed(player, provider):
    session, _ = factories.open_session(player, provider)
    first = place_bet(provider, session, 5_00, transaction_id="b-1", round_id="r-1")
    close(session)

    again = place_bet(provider, session, 5_00, transaction_id="b-1", round_id="r-1")
    assert again.duplicate and again.transaction.pk == first.transaction.pk


def test_bet_declined_by_the_screener_writes_nothing(player, provider, screen_with):
    session, _ = factories.open_session(player, provider, buy_in_minor=10_00)
    recorded = []
    hooks.decline_recorders.append(lambda request, screening: recorded.append(request))
    seen = screen_with(hooks.DECLINE, kinds={TransactionKind.BET})

    with pytest.raises(BetDeclined) as refused:
        place_bet(provider, session, 5_00, round_id="r-declined")

    assert refused.value.balance_minor == 90_00
    assert [r.amount_minor for r in seen] == [5_00]
    assert [r.kind for r in recorded] == [TransactionKind.BET]
    assert figures(player) == (100_00, 10_00)
    assert fresh(session).reserved_minor == 10_00
    assert not Transaction.objects.filter(kind=TransactionKind.BET).exists()
    assert not Round.objects.filter(external_id="r-declined").exists()


def _refused_before_any_screening(provider, session):
    """Each way a bet is refused by the ledger's own rules, set up before the screener is
    installed: (what to set up, the bet's fields, the expected outcome)."""
    place_bet(provider, session, 5_00, transaction_id="b-accepted", round_id="r-accepted")
    roll_back(provider, session, "b-late", round_id="r-late")  # a tombstone
    ledger.close_round(provider=provider, session=session, round_id="r-closed")


@pytest.mark.parametrize(
    ("case", "bet", "expected"),
    [
        ("replay", {"transaction_id": "b-accepted", "round_id": "r-accepted"}, "duplicate"),
        (
            "replay with another amount",
            {"transaction_id": "b-accepted", "round_id": "r-accepted", "amount_minor": 6_00},
            DuplicateMismatch,
        ),
        ("tombstone", {"transaction_id": "b-late", "round_id": "r-late"}, TransactionRolledBack),
        ("no funds", {"amount_minor": 95_01}, InsufficientFunds),
        ("closed round", {"round_id": "r-closed"}, RoundClosed),
        ("other currency", {"currency": "JPY"}, CurrencyMismatch),
        ("session ended", {}, SessionExpired),
        ("provider suspended", {}, ProviderSuspended),
        ("player blocked", {}, PlayerBlocked),
    ],
)
def test_a_fraud_decline_applies_only_to_a_bet_that_passed_every_other_check(
    player, provider, screen_with, case, bet, expected
):
    """The screener decides before the call; the ledger applies a decline last. A replay of an
    accepted bet stays a duplicate, and every other refusal keeps its own code: the provider
    sees why the bet really failed, and no fraud case is opened for it."""
    session, _ = factories.open_session(player, provider)
    _refused_before_any_screening(provider, session)
    if case == "session ended":
        close(session)
    elif case == "provider suspended":
        Provider.objects.filter(pk=provider.pk).update(status=ProviderStatus.SUSPENDED)
    elif case == "player blocked":
        Player.objects.filter(pk=player.pk).update(status=PlayerStatus.BLOCKED)
    recorded = []
    hooks.decline_recorders.append(lambda request, screening: recorded.append(request))
    seen = screen_with(hooks.DECLINE, kinds={TransactionKind.BET})
    rows = Transaction.objects.count()
    fields = {"transaction_id": new_id("bet"), "round_id": new_id("round"), **bet}

    if expected == "duplicate":
        result = place_bet(provider, session, fields.pop("amount_minor", 5_00), **fields)
        original = Transaction.objects.get(external_id="b-accepted")
        assert result.duplicate and result.transaction.pk == original.pk
    else:
        with pytest.raises(expected):
            place_bet(provider, session, fields.pop("amount_minor", 5_00), **fields)
    assert len(seen) == 1  # the screener was asked, and said decline
    assert recorded == []
    assert Transaction.objects.count() == rows


# --- win ------------------------------------------------------------------------------------------


def test_win_credits_and_is_paid_after_the_session_closed(player, provider):
    session, _ = factories.open_session(player, provider)
    place_bet(provider, session, 10_00, round_id="r-1")
    assert pay_win(provider, session, 25_00, round_id="r-1").balance_minor == 115_00

    close(session)
    Player.objects.filter(pk=player.pk).update(status=PlayerStatus.BLOCKED)
    provider.status = ProviderStatus.SUSPENDED
    late = pay_win(provider, session, 5_00, round_id="r-1", round_closed=True)
    assert late.balance_minor == 120_00
    assert Round.objects.get(external_id="r-1").status == RoundStatus.SETTLED

    # A win with no bet in its round (free spins) needs an open session.
    with pytest.raises(SessionExpired):
        pay_win(provider, session, 5_00, round_id="r-free")
    assert figures(player) == (120_00, 0)


def test_a_win_without_a_bet_opens_and_settles_its_round(player, provider):
    session, _ = factories.open_session(player, provider)
    result = pay_win(provider, session, 0, round_id="r-free")
    assert result.transaction.delta_minor == 0 and result.balance_minor == 100_00
    assert Round.objects.get(external_id="r-free").status == RoundStatus.SETTLED
    with pytest.raises(RoundClosed):
        place_bet(provider, session, 1_00, round_id="r-free")
    with pytest.raises(InvalidAmount):
        pay_win(provider, session, -1, round_id="r-x")


def test_round_closed_win_settles_the_bets_round(player, provider):
    session, _ = factories.open_session(player, provider)
    place_bet(provider, session, 2_00, round_id="r-1")
    pay_win(provider, session, 1_00, round_id="r-1")
    assert Round.objects.get(external_id="r-1").status == RoundStatus.OPEN
    place_bet(provider, session, 3_00, round_id="r-1")  # the round is still open
    pay_win(provider, session, 10_00, round_id="r-1", round_closed=True)
    assert Round.objects.get(external_id="r-1").status == RoundStatus.SETTLED
    with pytest.raises(RoundClosed):
        place_bet(provider, session, 1_00, round_id="r-1")
    assert figures(player) == (106_00, 0)


def test_win_replay_is_a_duplicate(player, provider):
    session, _ = factories.open_session(player, provider)
    first = pay_win(provider, session, 7_00, round_id="r-1", transaction_id="w-1")
    again = pay_win(provider, session, 7_00, round_id="r-1", transaction_id="w-1")
    assert again.duplicate and again.transaction.pk == first.transaction.pk
    with pytest.raises(DuplicateMismatch):
        pay_win(provider, session, 7_01, round_id="r-1", transaction_id="w-1")
    assert figures(player) == (107_00, 0)


# --- rollback -------------------------------------------------------------------------------------


def test_rollback_refunds_and_returns_the_reserved_part_to_the_open_session(player, provider):
    session, _ = factories.open_session(player, provider, buy_in_minor=30_00)
    bet = place_bet(provider, session, 50_00, transaction_id="b-1", round_id="r-1")
    assert (bet.balance_minor, bet.reserved_minor) == (50_00, 0)  # 30 from buy-in, 20 available

    result = roll_back(provider, session, "b-1", round_id="r-1", transaction_id="rb-1")

    assert (result.balance_minor, result.reserved_minor) == (100_00, 30_00)
    assert fresh(session).reserved_minor == 30_00
    row = result.transaction
    assert (row.kind, row.status, row.amount_minor, row.delta_minor) == (
        TransactionKind.ROLLBACK,
        TransactionStatus.POSTED,
        50_00,
        50_00,
    )
    assert row.reference_id == bet.transaction.pk and row.balance_after_minor == 100_00
    assert Transaction.objects.get(pk=bet.transaction.pk).status == TransactionStatus.ROLLED_BACK
    assert Round.objects.get(external_id="r-1").status == RoundStatus.CANCELLED


def test_rollback_after_the_session_closed_returns_the_buy_in_part_to_available(player, provider):
    session, _ = factories.open_session(player, provider, buy_in_minor=30_00)
    place_bet(provider, session, 40_00, transaction_id="b-1", round_id="r-1")
    place_bet(provider, session, 5_00, round_id="r-2")
    assert figures(player) == (55_00, 0)
    close(session)  # nothing left of the buy-in to release

    result = roll_back(provider, session, "b-1", round_id="r-1")

    assert (result.balance_minor, result.reserved_minor) == (95_00, 0)
    assert fresh(session).reserved_minor == 0


def test_rollback_is_accepted_whatever_the_session_provider_and_player_state(player, provider):
    session, _ = factories.open_session(player, provider)
    place_bet(provider, session, 10_00, transaction_id="b-1")
    close(session)
    Player.objects.filter(pk=player.pk).update(status=PlayerStatus.BLOCKED)
    provider.status = ProviderStatus.SUSPENDED
    Provider.objects.filter(pk=provider.pk).update(status=ProviderStatus.SUSPENDED)

    assert roll_back(provider, session, "b-1").balance_minor == 100_00


def test_second_rollback_of_a_bet_changes_nothing(player, provider):
    session, _ = factories.open_session(player, provider, buy_in_minor=10_00)
    bet = place_bet(provider, session, 20_00, transaction_id="b-1", round_id="r-1")
    first = roll_back(provider, session, "b-1", transaction_id="rb-1")

    replay = roll_back(provider, session, "b-1", transaction_id="rb-1")
    other_id = roll_back(provider, session, "b-1", transaction_id="rb-2")

    assert replay.duplicate and replay.transaction.pk == first.transaction.pk
    # Another rollback id: succeeds as a duplicate and moves nothing; its id is recorded as a
    # zero row so it cannot be reused for something else.
    assert other_id.duplicate
    zero = Transaction.objects.get(external_id="rb-2")
    assert (zero.delta_minor, zero.amount_minor, zero.reference_id) == (0, 0, bet.transaction.pk)
    assert other_id.transaction.pk == zero.pk
    assert roll_back(provider, session, "b-1", transaction_id="rb-2").transaction.pk == zero.pk
    assert figures(player) == (100_00, 10_00)
    assert fresh(session).reserved_minor == 10_00
    with pytest.raises(DuplicateMismatch):  # a rollback id reused for another bet
        roll_back(provider, session, "b-other", transaction_id="rb-1")
    with pytest.raises(DuplicateMismatch):
        roll_back(provider, session, "b-other", transaction_id="rb-2")
    # A replayed bet after its rollback is refused: it no longer stands.
    with pytest.raises(TransactionRolledBack):
        place_bet(provider, session, 20_00, transaction_id="b-1", round_id="r-1")
    # ... but a replay with another payload is still a mismatch.
    with pytest.raises(DuplicateMismatch):
        place_bet(provider, session, 20_01, transaction_id="b-1", round_id="r-1")
    assert figures(player) == (100_00, 10_00)
    assert Transaction.objects.get(pk=bet.transaction.pk).status == TransactionStatus.ROLLED_BACK


def test_rollback_of_an_unknown_bet_leaves_a_tombstone_that_refuses_the_late_bet(player, provider):
    session, _ = factories.open_session(player, provider)

    result = roll_back(provider, session, "b-late", round_id="r-1", transaction_id="rb-1")

    tombstone = result.transaction
    assert (tombstone.delta_minor, tombstone.amount_minor, tombstone.reference_id) == (0, 0, None)
    assert tombstone.reference_external_id == "b-late"
    assert figures(player) == (100_00, 0)
    rows_before = Transaction.objects.count()
    with pytest.raises(TransactionRolledBack) as refused:
        place_bet(provider, session, 10_00, transaction_id="b-late", round_id="r-1")
    assert refused.value.balance_minor == 100_00
    assert Transaction.objects.count() == rows_before
    assert figures(player) == (100_00, 0)


def test_rollback_may_only_reference_a_bet_of_the_same_player(player, provider):
    session, _ = factories.open_session(player, provider)
    pay_win(provider, session, 10_00, round_id="r-1", transaction_id="w-1")
    other_player = factories.funded_player(50_00)
    other_session, _ = factories.open_session(other_player, provider)
    place_bet(provider, other_session, 10_00, transaction_id="b-other")

    with pytest.raises(InvalidReference):
        roll_back(provider, session, "w-1")
    with pytest.raises(InvalidReference):
        roll_back(provider, session, "b-other")

    assert figures(player) == (110_00, 0)
    assert figures(other_player) == (40_00, 0)


# --- end_session ----------------------------------------------------------------------------------


def test_end_session_releases_what_is_left_of_the_buy_in_once(player, provider, staff):
    session, _ = factories.open_session(player, provider, buy_in_minor=30_00)
    place_bet(provider, session, 10_00)
    assert figures(player) == (90_00, 20_00)

    _, changed = close(
        session, status=SessionStatus.KILLED, reason=SessionEndReason.STAFF, actor=staff[0]
    )

    assert changed
    assert figures(player) == (90_00, 0)
    stored = fresh(session)
    assert (stored.status, stored.end_reason, stored.reserved_minor) == ("killed", "staff", 0)
    assert stored.ended_at is not None and stored.ended_by == staff[0]
    assert stored.buy_in_minor == 30_00  # what was bought in stays on record

    again, changed_again = close(session, missing_ok=True)
    assert not changed_again and again.status == SessionStatus.KILLED
    with pytest.raises(NotAllowed):
        close(session)
    assert figures(player) == (90_00, 0)


def test_end_session_release_and_status_change_are_one_transaction(player, provider):
    """If the session update fails, the wallet's release is rolled back with it."""
    session, _ = factories.open_session(player, provider, buy_in_minor=30_00)
    table = GameSession._meta.db_table
    with connection.cursor() as cursor:
        # ALTER TABLE refuses to run with deferred foreign-key checks pending: fire them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # NOT VALID: existing rows are not checked, every later UPDATE is.
        cursor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT test_refuse_session_end "
            "CHECK (status = 'open') NOT VALID"
        )
    try:
        with pytest.raises(IntegrityError, match="test_refuse_session_end"):
            close(session)
        # The wallet UPDATE ran before the failing session UPDATE; both are gone.
        assert figures(player) == (100_00, 30_00)
        assert fresh(session).status == SessionStatus.OPEN
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT test_refuse_session_end")
    _, changed = close(session)
    assert changed and figures(player) == (100_00, 0)


# --- deposit / withdraw ---------------------------------------------------------------------------


def test_deposit_is_idempotent_on_external_id(player):
    first = ledger.deposit(player=player, currency="EUR", amount_minor=20_00, external_id="d-1")
    again = ledger.deposit(player=player, currency="EUR", amount_minor=20_00, external_id="d-1")

    assert not first.duplicate and again.duplicate
    assert again.transaction.pk == first.transaction.pk
    assert first.transaction.status == TransactionStatus.POSTED
    assert figures(player) == (120_00, 0)

    other = factories.make_player()
    for kwargs in (
        {"player": player, "currency": "EUR", "amount_minor": 20_01},
        {"player": player, "currency": "JPY", "amount_minor": 20_00},
        {"player": other, "currency": "EUR", "amount_minor": 20_00},
    ):
        with pytest.raises(DuplicateMismatch):
            ledger.deposit(external_id="d-1", **kwargs)
    assert figures(player) == (120_00, 0)
    assert figures(other) == (0, 0)
    # A withdrawal is another kind: its ids are a separate namespace.
    ledger.withdraw(player=player, currency="EUR", amount_minor=1_00, external_id="d-1")
    assert figures(player) == (119_00, 0)


def test_deposit_refusals_and_new_currency(player):
    with pytest.raises(InvalidAmount):
        ledger.deposit(player=player, currency="EUR", amount_minor=0, external_id="d-0")
    result = ledger.deposit(player=player, currency="JPY", amount_minor=500, external_id="d-jpy")
    assert result.currency == "JPY" and figures(player, "JPY") == (500, 0)


def test_blocked_players_still_receive_deposits(player):
    Player.objects.filter(pk=player.pk).update(status=PlayerStatus.BLOCKED)
    ledger.deposit(player=player, currency="EUR", amount_minor=1_00, external_id=new_id())
    assert figures(player) == (101_00, 0)


def test_withdraw_is_idempotent_and_needs_available_funds(player, provider):
    factories.open_session(player, provider, buy_in_minor=30_00)

    with pytest.raises(InsufficientFunds) as refused:
        ledger.withdraw(player=player, currency="EUR", amount_minor=70_01, external_id="w-1")
    assert refused.value.balance_minor == 70_00
    assert not Transaction.objects.filter(external_id="w-1").exists()

    first = ledger.withdraw(player=player, currency="EUR", amount_minor=70_00, external_id="w-1")
    assert (first.balance_minor, first.reserved_minor, first.available_minor) == (30_00, 30_00, 0)
    assert first.transaction.delta_minor == -70_00
    again = ledger.withdraw(player=player, currency="EUR", amount_minor=70_00, external_id="w-1")
    assert again.duplicate and again.transaction.pk == first.transaction.pk
    with pytest.raises(DuplicateMismatch):
        ledger.withdraw(player=player, currency="EUR", amount_minor=69_00, external_id="w-1")
    with pytest.raises(InvalidAmount):
        ledger.withdraw(player=player, currency="EUR", amount_minor=0, external_id="w-2")
    with pytest.raises(InsufficientFunds):
        ledger.withdraw(player=player, currency="BHD", amount_minor=1, external_id="w-3")
    assert figures(player) == (30_00, 30_00)


# --- holds ----------------------------------------------------------------------------------------


def test_held_deposit_is_in_balance_and_reserved_until_decided(player, screen_with, staff):
    screen_with(hooks.HOLD, kinds={TransactionKind.DEPOSIT})
    approved = ledger.deposit(player=player, currency="EUR", amount_minor=40_00, external_id="d-a")
    rejected = ledger.deposit(player=player, currency="EUR", amount_minor=15_00, external_id="d-r")
    assert approved.transaction.status == TransactionStatus.HELD
    assert figures(player) == (155_00, 55_00)
    # Held money is not available.
    with pytest.raises(InsufficientFunds):
        ledger.withdraw(player=player, currency="EUR", amount_minor=100_01, external_id="w-1")

    result = ledger.decide_hold(
        transaction_id=approved.transaction.pk, approve=True, actor=staff[0]
    )
    assert (result.balance_minor, result.reserved_minor) == (155_00, 15_00)
    row = Transaction.objects.get(pk=approved.transaction.pk)
    assert row.status == TransactionStatus.POSTED and row.approved_by == staff[0]
    assert row.decided_at is not None

    result = ledger.decide_hold(transaction_id=rejected.transaction.pk, approve=False, actor=None)
    assert (result.balance_minor, result.reserved_minor) == (140_00, 0)
    assert Transaction.objects.get(pk=rejected.transaction.pk).status == "rejected"

    for pk in (approved.transaction.pk, rejected.transaction.pk):
        with pytest.raises(NotAllowed):
            ledger.decide_hold(transaction_id=pk, approve=True, actor=staff[0])
    assert figures(player) == (140_00, 0)


def test_a_declined_deposit_is_held_not_refused(player, screen_with):
    screen_with(hooks.DECLINE, kinds={TransactionKind.DEPOSIT})
    result = ledger.deposit(player=player, currency="EUR", amount_minor=5_00, external_id="d-1")
    assert result.transaction.status == TransactionStatus.HELD
    assert figures(player) == (105_00, 5_00)


def test_held_withdrawal_reserves_until_paid_out_or_returned(player, screen_with, staff):
    seen = screen_with(hooks.HOLD, kinds={TransactionKind.WITHDRAWAL})
    paid = ledger.withdraw(player=player, currency="EUR", amount_minor=30_00, external_id="w-p")
    returned = ledger.withdraw(player=player, currency="EUR", amount_minor=50_00, external_id="w-r")
    assert [r.kind for r in seen] == [TransactionKind.WITHDRAWAL] * 2
    assert paid.transaction.status == TransactionStatus.HELD
    assert figures(player) == (100_00, 80_00)
    with pytest.raises(InsufficientFunds):  # held withdrawals already used the funds
        ledger.withdraw(player=player, currency="EUR", amount_minor=20_01, external_id="w-x")

    result = ledger.decide_hold(transaction_id=paid.transaction.pk, approve=True, actor=staff[0])
    assert (result.balance_minor, result.reserved_minor) == (70_00, 50_00)
    result = ledger.decide_hold(
        transaction_id=returned.transaction.pk, approve=False, actor=staff[1]
    )
    assert (result.balance_minor, result.reserved_minor) == (70_00, 0)
    assert Transaction.objects.get(pk=returned.transaction.pk).status == "rejected"


def test_held_win_is_credited_to_reserved_until_decided(player, provider, screen_with, staff):
    session, _ = factories.open_session(player, provider, buy_in_minor=10_00)
    place_bet(provider, session, 20_00, round_id="r-1")  # 10 from buy-in, 10 available
    screen_with(hooks.HOLD, kinds={TransactionKind.WIN})
    first = pay_win(provider, session, 60_00, round_id="r-1")
    second = pay_win(provider, session, 25_00, round_id="r-1")
    zero = pay_win(provider, session, 0, round_id="r-1")  # nothing to hold
    assert first.transaction.status == TransactionStatus.HELD
    assert zero.transaction.status == TransactionStatus.POSTED
    assert figures(player) == (165_00, 85_00)

    result = ledger.decide_hold(transaction_id=first.transaction.pk, approve=True, actor=staff[0])
    assert (result.balance_minor, result.reserved_minor) == (165_00, 25_00)
    result = ledger.decide_hold(transaction_id=second.transaction.pk, approve=False, actor=None)
    assert (result.balance_minor, result.reserved_minor) == (140_00, 0)


# --- adjust ---------------------------------------------------------------------------------------


def test_adjust_needs_two_different_staff_users(player, staff):
    requester, approver = staff
    wallet = wallet_of(player)
    for approved_by in (requester, None):
        with pytest.raises(FourEyesRequired):
            ledger.adjust(
                wallet=wallet,
                delta_minor=5_00,
                reason="goodwill",
                requested_by=requester,
                approved_by=approved_by,
                external_id=new_id("adj"),
            )
    with pytest.raises(ValidationFailed):
        ledger.adjust(
            wallet=wallet,
            delta_minor=5_00,
            reason="  ",
            requested_by=requester,
            approved_by=approver,
            external_id=new_id("adj"),
        )
    with pytest.raises(InvalidAmount):
        ledger.adjust(
            wallet=wallet,
            delta_minor=0,
            reason="nothing",
            requested_by=requester,
            approved_by=approver,
            external_id=new_id("adj"),
        )
    assert figures(player) == (100_00, 0)
    assert not Transaction.objects.filter(kind=TransactionKind.ADJUSTMENT).exists()


def test_adjust_credits_debits_and_is_idempotent(player, staff):
    requester, approver = staff
    wallet = wallet_of(player)
    corrected = Transaction.objects.get(wallet=wallet)
    result = ledger.adjust(
        wallet=wallet,
        delta_minor=-12_34,
        reason="double credit",
        requested_by=requester,
        approved_by=approver,
        external_id="adj-1",
        corrects=corrected,
    )
    row = result.transaction
    assert (row.kind, row.status, row.amount_minor, row.delta_minor) == (
        TransactionKind.ADJUSTMENT,
        TransactionStatus.POSTED,
        12_34,
        -12_34,
    )
    assert (row.created_by, row.approved_by, row.reference) == (requester, approver, corrected)
    assert row.note == "double credit" and row.balance_after_minor == 87_66
    again = ledger.adjust(
        wallet=wallet,
        delta_minor=-12_34,
        reason="double credit",
        requested_by=requester,
        approved_by=approver,
        external_id="adj-1",
    )
    assert again.duplicate and again.transaction.pk == row.pk
    with pytest.raises(DuplicateMismatch):
        ledger.adjust(
            wallet=wallet,
            delta_minor=12_34,
            reason="double credit",
            requested_by=requester,
            approved_by=approver,
            external_id="adj-1",
        )
    assert figures(player) == (87_66, 0)


def test_adjust_may_not_take_the_balance_below_reserved(player, provider, staff):
    requester, approver = staff
    factories.open_session(player, provider, buy_in_minor=30_00)
    wallet = wallet_of(player)

    def adjust(delta_minor):
        return ledger.adjust(
            wallet=wallet,
            delta_minor=delta_minor,
            reason="correction",
            requested_by=requester,
            approved_by=approver,
            external_id=new_id("adj"),
        )

    with pytest.raises(InsufficientFunds):
        adjust(-70_01)
    assert figures(player) == (100_00, 30_00)
    assert adjust(-70_00).balance_minor == 30_00
    assert figures(player) == (30_00, 30_00)


# --- lock wait measurement ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_lock_wait_is_measured_and_recorded(player):
    """Another transaction holds the wallet row; it lets go only once PostgreSQL shows the
    deposit waiting for it, and a set time after that. The deposit's measured wait covers at
    least that time, and never more than the whole call took."""
    wallet = wallet_of(player)
    held_after_queued = 0.2
    depositor_pid = races.backend_pid()
    locked = threading.Event()
    errors = []

    def hold_the_lock():
        try:
            with transaction.atomic():
                Wallet.objects.select_for_update().get(pk=wallet.pk)
                locked.set()
                races.wait_until_blocked_by(depositor_pid, races.backend_pid(), what="deposit")
                time.sleep(held_after_queued)  # the deposit waits at least this long
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            locked.set()
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert locked.wait(races.BLOCK_TIMEOUT_SECONDS) and not errors
    started = time.perf_counter()
    result = ledger.deposit(player=player, currency="EUR", amount_minor=1_00, external_id="d-1")
    took_us = (time.perf_counter() - started) * 1_000_000
    holder.join(races.BLOCK_TIMEOUT_SECONDS * 2)
    assert not holder.is_alive()

    assert not errors
    assert held_after_queued * 1_000_000 <= result.lock_wait_us <= took_us
    assert Transaction.objects.get(pk=result.transaction.pk).lock_wait_us == result.lock_wait_us
    # Uncontended, the wait is recorded too, and is part of its own call's time.
    started = time.perf_counter()
    quick = ledger.deposit(player=player, currency="EUR", amount_minor=1_00, external_id="d-2")
    assert 0 <= quick.lock_wait_us <= (time.perf_counter() - started) * 1_000_000
    assert Transaction.objects.get(pk=quick.transaction.pk).lock_wait_us == quick.lock_wait_us


# --- database constraints -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"reserved_minor": F("balance_minor") + 1}, "wallet_reserved_lte_balance"),
        ({"balance_minor": -1, "reserved_minor": 0}, "wallet_balance_gte_0"),
        ({"reserved_minor": -1}, "wallet_reserved_gte_0"),
    ],
)
def test_database_refuses_an_impossible_wallet(player, changes, constraint):
    wallet = wallet_of(player)
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(**changes)
    assert figures(player) == (100_00, 0)


def test_database_refuses_a_reservation_on_an_ended_session(player, provider):
    session, _ = factories.open_session(player, provider)
    close(session)
    ended = GameSession.objects.filter(pk=session.pk)
    with pytest.raises(IntegrityError, match="session_reservation_only"), transaction.atomic():
        ended.update(reserved_minor=1)
    with pytest.raises(IntegrityError, match="session_reserved_gte_0"), transaction.atomic():
        ended.update(status=SessionStatus.OPEN, reserved_minor=-1)


def test_database_refuses_a_second_row_with_the_same_provider_transaction_id(player, provider):
    session, _ = factories.open_session(player, provider)
    bet = place_bet(provider, session, 1_00, transaction_id="b-1").transaction
    with (
        pytest.raises(IntegrityError, match="txn_unique_key_provider_scope_id"),
        transaction.atomic(),
    ):
        Transaction.objects.create(
            wallet=bet.wallet,
            player=player,
            provider=provider,
            kind=TransactionKind.WIN,
            status=TransactionStatus.POSTED,
            currency="EUR",
            amount_minor=0,
            delta_minor=0,
            balance_after_minor=0,
            external_id="b-1",
        )


# --- the invariant helper itself ------------------------------------------------------------------


def test_the_invariant_helper_detects_drift(player, provider):
    session, _ = factories.open_session(player, provider, buy_in_minor=10_00)
    wallet = wallet_of(player)
    assert ledger_discrepancies([wallet.pk]) == []

    Wallet.objects.filter(pk=wallet.pk).update(balance_minor=F("balance_minor") + 1)
    assert "ledger sum" in " ".join(ledger_discrepancies([wallet.pk]))
    Wallet.objects.filter(pk=wallet.pk).update(balance_minor=F("balance_minor") - 1)

    GameSession.objects.filter(pk=session.pk).update(reserved_minor=9_99)
    assert "open sessions" in " ".join(ledger_discrepancies([wallet.pk]))
    GameSession.objects.filter(pk=session.pk).update(reserved_minor=10_00)
    assert ledger_discrepancies([wallet.pk]) == []
