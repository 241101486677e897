"""The ledger: the only code that changes a balance.

Every operation here is one database transaction that locks the one wallet row it changes
(`SELECT ... FOR NO KEY UPDATE`: it serialises money operations on the wallet but, unlike FOR
UPDATE, lets concurrent inserts referencing the row take their foreign-key share lock, so a
session launch and a bet of the same player cannot deadlock at commit), re-reads what it
depends on under that lock, checks, appends ledger rows, writes the new balance and commits.
Locks are held for the SQL only, never across a network call. The time spent waiting for the
lock is measured and returned.

The provider's money calls (bet, win, rollback) are PL/pgSQL functions whose current
definitions live in wallets/sql/ledger.sql, each called in one statement: lock, checks,
writes and commit in one round trip, prepared by PostgreSQL after the first few calls on a
connection (wallets.db). The rules are documented on the Python functions below, which map the
functions' outcome codes to the contract's errors. Payments, holds, corrections, promotional
credits and sessions stay in Python: they are rare, and readable code matters more there than
a round trip.

Idempotency: `(provider, external_id, id_scope)` (or `(kind, external_id)` for payments) is
unique in the database: in IdempotencyKey, written with each ledger row by the ledger's insert
trigger (the ledger itself is partitioned by time and cannot hold that unique index). Keys are
kept for the providers' retry horizon (settings.PITBOSS_RETRY_HORIZON_DAYS); the rare paths
written here also find an older row through the ledger's own index. A provider's ids are in
the scope '' unless its protocol says they are unique only per player (`ids_per_player`),
or a cancel reuses its bet's id (`id_namespace`). A repeat with the same payload returns the
original row marked as a duplicate; a different payload raises DuplicateMismatch. Two first
deliveries racing on different wallets meet at the unique index; the loser is replayed
against the winner's row.

The `session` the provider calls take is a GameSession or the wallet API's LiveSession (the same
fields, read with the call's session look-up; wallets.adapters.native).

Lock order, to stay free of deadlocks: player row (session opens only), then wallet row, then
session and round rows. Nothing locks a wallet and then a player. A rollback of an unknown bet
locks every wallet of the player, in id order.
"""

import dataclasses
import datetime
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import TypeVar

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from wallets import crypto, db, hooks
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
    BetNotFound,
    BetSettled,
    CurrencyMismatch,
    DuplicateMismatch,
    FourEyesRequired,
    InsufficientFunds,
    InvalidAmount,
    InvalidReference,
    InvalidToken,
    LimitExceeded,
    NotAllowed,
    PlayerBlocked,
    ProviderRestricted,
    ProviderSuspended,
    RoundClosed,
    RoundSettled,
    SessionExpired,
    SessionLimit,
    TransactionRolledBack,
    ValidationFailed,
    WalletError,
)
from wallets.hooks import DECLINE, HOLD, ScreeningRequest
from wallets.models import (
    GameSession,
    IdempotencyKey,
    Player,
    Provider,
    Round,
    Transaction,
    Wallet,
)
from wallets.models.players import LIMIT_COLUMNS
from wallets.money import format_amount
from wallets.selectors import live_session
from wallets.validators import payment_fingerprint_problem

T = TypeVar("T")


@dataclass(frozen=True)
class CallContext:
    """Where a money call came from; recorded on every ledger row it writes."""

    client_ip: str | None = None
    request_id: str = ""
    # time.perf_counter() when the request arrived, for the row's processing time.
    started: float | None = None

    def elapsed_us(self) -> int:
        if self.started is None:
            return 0
        return int((time.perf_counter() - self.started) * 1_000_000)


NO_CONTEXT = CallContext()


class WrittenRow:
    """A ledger row that a ledger function has just written, as plain attributes named as
    Transaction's (`pk`, `kind`, `amount_minor`, ...). Building a model instance cost more
    Python than the rest of a bet's booking, and the wallet API needs only the row's id; the
    ledger listeners read attributes. `model()` gives the Transaction instance."""

    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)
        self.pk = fields["id"]

    def model(self) -> Transaction:
        fields = dict(self.__dict__)
        del fields["pk"]
        row = Transaction(**fields)
        row._state.adding = False
        row._state.db = "default"
        return row


@dataclass(frozen=True)
class LedgerResult:
    row: Transaction | WrittenRow | None
    balance_minor: int
    reserved_minor: int
    currency: str
    duplicate: bool = False
    lock_wait_us: int = 0
    # A rollback whose reference was unknown: it moved nothing and left a tombstone, so the
    # referenced bet is refused if it arrives (protocols answer such a cancel differently).
    tombstone: bool = False

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.reserved_minor

    @cached_property
    def transaction(self) -> Transaction | None:
        """The ledger row as a model instance (built on first use for a row just written)."""
        return self.row.model() if isinstance(self.row, WrittenRow) else self.row


# --- plumbing -------------------------------------------------------------------------------


def _lock_wallet(wallet_id: int) -> tuple[Wallet, int]:
    started = time.perf_counter()
    wallet = Wallet.objects.select_for_update(no_key=True).get(pk=wallet_id)
    return wallet, int((time.perf_counter() - started) * 1_000_000)


def _save_wallet(wallet: Wallet, *also: str) -> None:
    """Write the wallet's balance and reservation (and the fields named in `also`)."""
    wallet.updated_at = timezone.now()
    Wallet.objects.filter(pk=wallet.pk).update(
        balance_minor=wallet.balance_minor,
        reserved_minor=wallet.reserved_minor,
        updated_at=wallet.updated_at,
        **{name: getattr(wallet, name) for name in also},
    )


def _result(wallet: Wallet, txn: Transaction | None, lock_wait_us: int, duplicate=False):
    return LedgerResult(
        row=txn,
        balance_minor=wallet.balance_minor,
        reserved_minor=wallet.reserved_minor,
        currency=wallet.currency,
        duplicate=duplicate,
        lock_wait_us=lock_wait_us,
    )


def _retry_once_on_unique_race(operation: Callable[[], T]) -> T:
    """Run `operation`; if it lost an insert race on an idempotency key, run it again.

    The second run finds the winner's row and replays it (duplicate or mismatch). Inside a
    caller's transaction each attempt runs in a savepoint, so the lost race does not abort it.
    """

    def attempt() -> T:
        if connection.in_atomic_block:
            with transaction.atomic():
                return operation()
        return operation()

    try:
        return attempt()
    except IntegrityError as error:
        if "txn_unique_" not in str(error):
            raise
        return attempt()


def _insert(**fields) -> Transaction:
    return Transaction.objects.create(**fields)


def _keyed_row(**key) -> Transaction | None:
    """The ledger row with this idempotency key (IdempotencyKey's fields: provider, id_scope,
    external_id, or provider=None, kind, external_id): through the key, then (the key pruned
    past the retry horizon) through the ledger's own non-unique indexes."""
    found = IdempotencyKey.objects.filter(**key).values_list("transaction_id", "created_at")
    found = found.first()
    if found is not None:
        # Both halves of the ledger's key: one partition is read.
        return Transaction.objects.filter(pk=found[0], created_at=found[1]).first()
    return Transaction.objects.filter(**key).order_by("id").first()


def _touch_session(session: GameSession, now, **changes) -> None:
    GameSession.objects.filter(pk=session.pk).update(last_activity_at=now, **changes)


def _check_replay(existing: Transaction, **expected) -> None:
    """Raise DuplicateMismatch unless `existing` was written for the same payload."""
    differing = [name for name, value in expected.items() if getattr(existing, name) != value]
    if differing:
        raise DuplicateMismatch(
            f"transaction id already used with a different {', '.join(sorted(differing))}",
            field="transaction_id",
        )


def _funds_error(wallet: Wallet) -> InsufficientFunds:
    return InsufficientFunds(balance_minor=wallet.available_minor, currency=wallet.currency)


def _screen(request: ScreeningRequest) -> hooks.Screening:
    return hooks.screen(request)


def _after_commit(txn: Transaction | WrittenRow, screening) -> None:
    if not hooks.ledger_listeners:
        return
    if connection.in_atomic_block:
        transaction.on_commit(lambda: hooks.notify_ledger(txn, screening))
    else:  # committed already (a ledger function in autocommit): what on_commit would do
        hooks.notify_ledger(txn, screening)


# --- sessions -------------------------------------------------------------------------------


def open_session(
    *,
    player: Player,
    provider: Provider,
    currency: str,
    game_id: str = "",
    buy_in_minor: int = 0,
) -> tuple[GameSession, str]:
    """Launch a game session; returns it and its token (shown once, stored only hashed).

    Refuses a provider that is not active, a blocked player, a currency the provider does not
    offer, and a player already at the provider's open-session limit. The limit holds under
    concurrent opens: the player's row is locked while counting. A buy-in moves from available
    into `reserved` in the same transaction.
    """
    if buy_in_minor < 0:
        raise InvalidAmount("buy_in must not be negative", field="buy_in")
    if provider.currencies and currency not in provider.currencies:
        raise ValidationFailed(
            f"provider {provider.code} does not offer {currency}", field="currency"
        )
    with transaction.atomic():
        player = Player.objects.select_for_update(no_key=True).get(pk=player.pk)
        provider = Provider.objects.get(pk=provider.pk)
        if provider.status == ProviderStatus.SUSPENDED:
            raise ProviderSuspended()
        if provider.status == ProviderStatus.RESTRICTED:
            raise ProviderRestricted()
        if player.status != PlayerStatus.ACTIVE:
            raise PlayerBlocked()
        _refuse_if_excluded(player)
        open_count = GameSession.objects.filter(
            player=player, provider=provider, status=SessionStatus.OPEN
        ).count()
        if open_count >= provider.max_sessions_per_player:
            raise SessionLimit(
                f"player has {open_count} open sessions at {provider.code} "
                f"(limit {provider.max_sessions_per_player})"
            )
        wallet, _ = Wallet.objects.get_or_create(player=player, currency=currency)
        if buy_in_minor:
            wallet, _ = _lock_wallet(wallet.pk)
            if wallet.available_minor < buy_in_minor:
                raise _funds_error(wallet)
            wallet.reserved_minor += buy_in_minor
            _save_wallet(wallet)
        token = crypto.new_session_token()
        session = GameSession.objects.create(
            token_hash=crypto.token_hash(token),
            player=player,
            provider=provider,
            wallet=wallet,
            currency=currency,
            game_id=game_id,
            last_activity_at=timezone.now(),
            buy_in_minor=buy_in_minor,
            reserved_minor=buy_in_minor,
        )
    return session, token


def authenticate(*, provider: Provider, session: GameSession) -> GameSession:
    """The provider confirms a launched session. Repeatable while the session is open.

    A restricted provider may keep playing sessions it already authenticated, not new ones.
    """
    if session.status != SessionStatus.OPEN:
        raise SessionExpired()
    if provider.status == ProviderStatus.SUSPENDED:
        raise ProviderSuspended()
    if provider.status == ProviderStatus.RESTRICTED and session.authenticated_at is None:
        raise ProviderRestricted()
    if session.player.status != PlayerStatus.ACTIVE:
        raise PlayerBlocked()
    _refuse_if_excluded(session.player)
    now = timezone.now()
    changes = {} if session.authenticated_at else {"authenticated_at": now}
    _touch_session(session, now, **changes)
    session.authenticated_at = session.authenticated_at or now
    session.last_activity_at = now
    return session


def touch_session(session: GameSession) -> None:
    """Record provider activity on a session (balance calls and the like)."""
    _touch_session(session, timezone.now())


def end_session(
    *,
    session: GameSession,
    status: str,
    reason: str,
    note: str = "",
    actor=None,
    missing_ok: bool = False,
) -> tuple[GameSession, bool]:
    """Close, expire, abandon or kill an open session and release what is left of its buy-in,
    in the same transaction as the status change. Returns (session, changed).

    Ending a session that is no longer open changes nothing: `changed` is False (and, unless
    `missing_ok`, NotAllowed is raised), so two concurrent cleanups never release twice.
    """
    with transaction.atomic():
        wallet, _ = _lock_wallet(session.wallet_id)
        session = GameSession.objects.select_related("player", "provider").get(pk=session.pk)
        if session.status != SessionStatus.OPEN:
            if missing_ok:
                return session, False
            raise NotAllowed(f"session is already {session.status}")
        now = timezone.now()
        released = session.reserved_minor
        if released:
            wallet.reserved_minor -= released
            _save_wallet(wallet)
        session.status = status
        session.end_reason = reason
        session.end_note = note[:500]
        session.ended_by = actor
        session.ended_at = now
        session.reserved_minor = 0
        GameSession.objects.filter(pk=session.pk).update(
            status=status,
            end_reason=reason,
            end_note=session.end_note,
            ended_by=actor,
            ended_at=now,
            reserved_minor=0,
        )
    return session, True


def close_session_by_provider(*, provider: Provider, session: GameSession) -> LedgerResult:
    """Graceful close from the provider; closing a session that is already closed is a no-op."""
    ended, _ = end_session(
        session=session,
        status=SessionStatus.CLOSED,
        reason=SessionEndReason.GRACEFUL,
        missing_ok=True,
    )
    if ended.status == SessionStatus.OPEN:  # pragma: no cover - end_session closed it
        raise NotAllowed()
    GameSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())
    wallet = Wallet.objects.get(pk=session.wallet_id)
    return _result(wallet, None, 0)


# --- provider money calls -------------------------------------------------------------------


# The bet and the win are database functions (wallets/sql/ledger.sql): lock, checks, writes
# and commit in one round trip. They answer with an outcome code; this maps it to the
# contract's errors. Every outcome carries the wallet's figures, so no error needs a re-read.
_BET_SQL = """
SELECT outcome, detail, txn_id, txn_status, txn_created_at, balance, reserved,
       wallet_currency, wait_us, txn_player_id, txn_round_id, txn_reserved_used,
       txn_session_id, txn_wallet_id, txn_game_id
FROM pitboss_bet(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::numeric, %s, %s::inet, %s,
                 %s)
"""

_WIN_SQL = """
SELECT outcome, detail, txn_id, txn_status, txn_created_at, balance, reserved,
       wallet_currency, wait_us, txn_player_id, txn_round_id, txn_reserved_used,
       txn_session_id, txn_wallet_id, txn_game_id
FROM pitboss_win(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::numeric, %s, %s, %s,
                 %s, %s::inet, %s, %s)
"""


@dataclass(frozen=True)
class _Outcome:
    code: str
    detail: str | None
    txn_id: int | None
    txn_status: str | None
    created_at: object
    balance_minor: int
    reserved_minor: int
    currency: str
    lock_wait_us: int
    player_id: int
    round_id: int | None
    reserved_used_minor: int | None
    session_id: int | None
    wallet_id: int | None
    game_id: str | None

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.reserved_minor


@dataclass(frozen=True)
class SessionToken:
    """A session known only by its token's hash: bet and win then look it up in their own
    database call (the wallet API passes this when no screening can apply to the call).
    `player_ref`: the player's external id the protocol sent beside the token; the call is
    refused (InvalidToken) when the token is another player's."""

    token_hash: str
    player_ref: str | None = None


def _resolved(provider: Provider, session, kind: str, amount_minor: int):
    """`session`, read now if it is only a token and the screener has to see the call."""
    if not isinstance(session, SessionToken) or not hooks.screening_needed(kind, amount_minor):
        return session
    found = live_session(provider.pk, session.token_hash)
    if found is None:
        raise InvalidToken()
    return found[0]


def _call_money_function(sql: str, params: list) -> _Outcome:
    return _Outcome(*db.fetch_one(sql, params))


def _lock_wallet_row(wallet_id: int) -> int:
    """Lock the wallet row (FOR NO KEY UPDATE, as the ledger functions do) in the current
    transaction; returns the microseconds waited for it."""
    started = time.perf_counter()
    db.fetch_one("SELECT 1 FROM wallets_wallet WHERE id = %s FOR NO KEY UPDATE", [wallet_id])
    return int((time.perf_counter() - started) * 1_000_000)


def _screened_call(
    sql: str,
    request: ScreeningRequest | None,
    params: Callable[[bool], list],
    *,
    act_on: str,
) -> tuple[hooks.Screening, _Outcome]:
    """Screen `request` and call the ledger function `sql` with params(the screener chose
    `act_on`). When a rule could act on the call, the wallet row is locked first and the
    screening and the call run in one transaction: the figures the rule decides on are
    committed state that no concurrent call on the wallet can change before this one is booked
    (N calls at once are judged as N in a row would be). Otherwise (no session read, or no rule
    could act) the call is the one statement of the fast path."""
    if request is None or not hooks.screening_needed(request.kind, request.amount_minor):
        outcome = _retry_once_on_unique_race(lambda: _call_money_function(sql, params(False)))
        return hooks.ALLOW_ALL, outcome

    def run() -> tuple[hooks.Screening, _Outcome]:
        with transaction.atomic():
            waited = _lock_wallet_row(request.wallet_id)
            screening = _screen(request)
            outcome = _call_money_function(sql, params(screening.action == act_on))
        return screening, dataclasses.replace(outcome, lock_wait_us=outcome.lock_wait_us + waited)

    return _retry_once_on_unique_race(run)


_REFUSALS = {
    "ROLLED_BACK": TransactionRolledBack,
    "SESSION_EXPIRED": SessionExpired,
    "PROVIDER_SUSPENDED": ProviderSuspended,
    "PROVIDER_RESTRICTED": ProviderRestricted,
    "PLAYER_BLOCKED": PlayerBlocked,
    "CURRENCY_MISMATCH": CurrencyMismatch,
    "ROUND_CLOSED": RoundClosed,
    "INSUFFICIENT_FUNDS": InsufficientFunds,
    "DECLINED": BetDeclined,
    "LIMIT_EXCEEDED": LimitExceeded,
    "INVALID_REFERENCE": InvalidReference,
    "BET_SETTLED": BetSettled,
    "BET_NOT_FOUND": BetNotFound,
    "ROUND_SETTLED": RoundSettled,
}
_REFUSAL_FIELDS = {
    "CURRENCY_MISMATCH": "currency",
    "INVALID_REFERENCE": "reference_transaction_id",
}


# How the bet function words a refusal it remembered for the transaction id (ledger.sql).
_REMEMBERED_REFUSAL = "this transaction id was refused before"


def _remembered(outcome: _Outcome) -> bool:
    """A bet refused again because its id was refused before: no new decision was made."""
    return (outcome.detail or "").startswith(_REMEMBERED_REFUSAL)


def _raise_refusal(outcome: _Outcome) -> None:
    """Raise the contract error for a refused call (nothing was written)."""
    if outcome.code == "INVALID_TOKEN":
        raise InvalidToken()  # no session: no balance to show
    if outcome.code == "DUPLICATE_MISMATCH":
        raise DuplicateMismatch(
            f"transaction id already used with a different {outcome.detail}",
            field="transaction_id",
            balance_minor=outcome.available_minor,
            currency=outcome.currency,
        )
    error = _REFUSALS[outcome.code]
    raise error(
        _limit_message(outcome.detail, outcome.currency)
        if outcome.code == "LIMIT_EXCEEDED"
        else outcome.detail,
        field=_REFUSAL_FIELDS.get(outcome.code),
        balance_minor=outcome.available_minor,
        currency=outcome.currency,
    )


# Set while wallets.ledger.play or rollback_many runs several calls in one transaction: an
# incident reported inside it would be rolled back with the refused call, so it is kept here
# and reported once the transaction is over.
_deferred = threading.local()


def _report_after_refusal(incident: hooks.LedgerIncident, outcome: _Outcome) -> None:
    """Report `incident` (or keep it for the enclosing play) and raise the refusal."""
    pending = getattr(_deferred, "incidents", None)
    if pending is None:
        hooks.report_incident(incident)
    else:
        pending.append(incident)
    _raise_refusal(outcome)


def _money_result(outcome: _Outcome, row: Transaction | WrittenRow) -> LedgerResult:
    return LedgerResult(
        row=row,
        balance_minor=outcome.balance_minor,
        reserved_minor=outcome.reserved_minor,
        currency=outcome.currency,
        duplicate=outcome.code == "DUPLICATE",
        lock_wait_us=outcome.lock_wait_us,
        tombstone=outcome.detail == "tombstone",
    )


def _written_row(outcome: _Outcome, **fields) -> WrittenRow:
    """The ledger row the function wrote, from its answer and the call (never read back)."""
    return WrittenRow(
        id=outcome.txn_id,
        status=outcome.txn_status,
        created_at=outcome.created_at,
        player_id=outcome.player_id,
        wallet_id=outcome.wallet_id,
        session_id=outcome.session_id,
        game_id=outcome.game_id,
        round_id=outcome.round_id,
        reserved_used_minor=outcome.reserved_used_minor,
        balance_after_minor=outcome.balance_minor,
        lock_wait_us=outcome.lock_wait_us,
        **fields,
    )


def _player_scope(ids_per_player: bool, player_id: int) -> str:
    """The id scope suffix the ledger functions give a row (pitboss_player_scope)."""
    return f"@{player_id}" if ids_per_player else ""


def _session_params(session) -> tuple:
    """(session id, wallet id, token hash, player ref) for the bet and win functions."""
    if isinstance(session, SessionToken):
        return None, None, session.token_hash, session.player_ref
    return session.pk, session.wallet_id, None, None


def _seconds_since_authentication(session: GameSession) -> float | None:
    if session.authenticated_at is None:
        return None
    return (timezone.now() - session.authenticated_at).total_seconds()


def bet(
    *,
    provider: Provider,
    session: "GameSession | SessionToken",
    transaction_id: str,
    round_id: str,
    amount_minor: int,
    currency: str,
    game_id: str = "",
    rounding_residue: Decimal | None = None,
    ids_per_player: bool = False,
    context: CallContext = NO_CONTEXT,
) -> LedgerResult:
    """Debit a stake (zero allowed: protocols send zero-stake bets, e.g. free rounds). Draws
    on the session's buy-in reservation first, then on available funds.

    Refused: a replay with another payload, an id already rolled back (tombstone), a session not
    open, a suspended provider, a restricted provider on a session it had not authenticated
    before the restriction, a blocked player, an excluded player or a session past the
    player's session-time limit (LimitExceeded), another currency, a closed round, missing
    funds, a stake past a loss or wager limit (LimitExceeded, checked and counted under the
    wallet lock), a fraud decline. Nothing is written when refused. When a rule could act on
    the bet, the screener decides under the wallet's lock, from committed figures, just before
    the booking in the same transaction; its decline applies only to a new bet that passed
    every other check (a replay of an accepted bet is still a duplicate).
    """
    if amount_minor < 0:
        raise InvalidAmount("a bet must not be negative", field="amount")
    session = _resolved(provider, session, TransactionKind.BET, amount_minor)
    screening_request = None
    if not isinstance(session, SessionToken):
        screening_request = ScreeningRequest(
            kind=TransactionKind.BET,
            player_id=session.player_id,
            wallet_id=session.wallet_id,
            currency=currency,
            amount_minor=amount_minor,
            provider_id=provider.pk,
            session_id=session.pk,
            client_ip=context.client_ip,
            seconds_since_authentication=_seconds_since_authentication(session),
        )

    def params(decline: bool) -> list:
        return [
            provider.pk,
            *_session_params(session),
            transaction_id,
            ids_per_player,
            round_id,
            amount_minor,
            currency,
            game_id,
            rounding_residue,
            decline,
            context.client_ip,
            context.request_id,
            context.elapsed_us(),
        ]

    screening, outcome = _screened_call(_BET_SQL, screening_request, params, act_on=DECLINE)
    if outcome.code == "DECLINED" and not _remembered(outcome):
        hooks.record_decline(screening_request, screening)
    if outcome.code == "DUPLICATE":
        return _money_result(outcome, Transaction.objects.get(pk=outcome.txn_id))
    if outcome.code != "OK":
        _raise_refusal(outcome)
    row = _written_row(
        outcome,
        provider_id=provider.pk,
        round_external_id=round_id,
        kind=TransactionKind.BET,
        currency=currency,
        amount_minor=amount_minor,
        delta_minor=-amount_minor,
        rounding_residue=rounding_residue,
        external_id=transaction_id,
        id_scope=_player_scope(ids_per_player, outcome.player_id),
        client_ip=context.client_ip,
        request_id=context.request_id,
    )
    _after_commit(row, screening)
    return _money_result(outcome, row)


def win(
    *,
    provider: Provider,
    session: "GameSession | SessionToken",
    transaction_id: str,
    round_id: str,
    amount_minor: int,
    currency: str,
    round_closed: bool = False,
    reference_transaction_id: str = "",
    rounding_residue: Decimal | None = None,
    ids_per_player: bool = False,
    requires_bet: bool = False,
    settles_once: bool = False,
    credit_type: str = "",
    context: CallContext = NO_CONTEXT,
) -> LedgerResult:
    """Credit a win (zero allowed). Always accepted when it settles a round opened by an
    accepted bet, whatever the session, provider or player status now is: players are paid what
    they won. A win with no bet in its round (free spins) opens and settles the round, and needs
    an open session. Nothing is credited into a round whose every bet was rolled back, nor
    against a `reference_transaction_id` naming a rolled-back bet (TransactionRolledBack). A
    screener may hold the win (decided before the call, applied to a new win only): credited to
    the balance and to `reserved` until staff decide. `round_closed` settles the round.

    For protocols whose win settles a bet: with `requires_bet` the bet must exist (named by
    `reference_transaction_id`, or in the round) or BetNotFound; with `settles_once` a round
    that already paid a win pays no second one (RoundSettled). `credit_type` marks a win that
    is a promotional credit (free rounds) for the revenue reports.
    """
    if amount_minor < 0:
        raise InvalidAmount("a win must not be negative", field="amount")
    session = _resolved(provider, session, TransactionKind.WIN, amount_minor)
    screening_request = None
    if amount_minor and not isinstance(session, SessionToken):
        screening_request = ScreeningRequest(
            kind=TransactionKind.WIN,
            player_id=session.player_id,
            wallet_id=session.wallet_id,
            currency=currency,
            amount_minor=amount_minor,
            provider_id=provider.pk,
            session_id=session.pk,
            client_ip=context.client_ip,
        )

    def params(hold: bool) -> list:
        return [
            provider.pk,
            *_session_params(session),
            transaction_id,
            ids_per_player,
            round_id,
            amount_minor,
            currency,
            round_closed,
            reference_transaction_id,
            rounding_residue,
            requires_bet,
            settles_once,
            credit_type,
            hold,
            context.client_ip,
            context.request_id,
            context.elapsed_us(),
        ]

    screening, outcome = _screened_call(_WIN_SQL, screening_request, params, act_on=HOLD)
    if outcome.code == "DUPLICATE":
        return _money_result(outcome, Transaction.objects.get(pk=outcome.txn_id))
    if outcome.code != "OK":
        _raise_refusal(outcome)
    row = _written_row(
        outcome,
        provider_id=provider.pk,
        round_external_id=round_id,
        kind=TransactionKind.WIN,
        currency=currency,
        amount_minor=amount_minor,
        delta_minor=amount_minor,
        rounding_residue=rounding_residue,
        external_id=transaction_id,
        id_scope=_player_scope(ids_per_player, outcome.player_id),
        reference_external_id=reference_transaction_id,
        credit_type=credit_type,
        client_ip=context.client_ip,
        request_id=context.request_id,
    )
    _after_commit(row, screening)
    return _money_result(outcome, row)


_ROLLBACK_SQL = """
SELECT outcome, detail, txn_id, txn_status, txn_created_at, balance, reserved,
       wallet_currency, wait_us, txn_player_id, txn_round_id, txn_reserved_used,
       txn_session_id, txn_wallet_id, txn_game_id
FROM pitboss_rollback(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s, %s)
"""


def rollback(
    *,
    provider: Provider,
    session: GameSession,
    transaction_id: str,
    reference_transaction_id: str,
    round_id: str,
    id_namespace: str = "",
    ids_per_player: bool = False,
    allow_win: bool = False,
    context: CallContext = NO_CONTEXT,
) -> LedgerResult:
    """Cancel a bet in full, or, with `allow_win` (protocols that cancel wins), reverse a win.
    Always accepted (expired session, suspended provider, blocked player alike) unless a rule
    below refuses it. One call of the database function pitboss_rollback:

    - A replay of this rollback id: the original row (duplicate); another payload under the
      same id: DuplicateMismatch. Checked first, like every other call. The rollback's own id
      lives in `id_namespace` (a protocol whose cancel reuses its bet's id gives one, so the
      cancel is not a duplicate of the bet).
    - Unknown reference: succeeds, changes no balance, leaves a tombstone (`tombstone` on the
      result) so the bet is refused (TRANSACTION_ROLLED_BACK) if it arrives late, and a win
      naming it credits nothing. Every wallet of the player is locked for it, so a bet in
      flight in another currency either commits first and is refunded, or meets the tombstone.
    - Already rolled back (by another rollback id): succeeds, changes nothing, duplicate;
      the new id is recorded (a zero row) so it cannot be reused for anything else.
    - A bet whose round has already paid a win (posted or held) is settled: BetSettled.
    - A reference that is not a bet (or, with `allow_win`, a win) of this provider and player:
      InvalidReference.
    - A win is reversed only out of the available balance (a held win out of its own
      reservation): never below zero. When the player no longer has it, InsufficientFunds and
      an incident for staff (wallets.hooks.report_incident: reconciliation opens a
      discrepancy).
    The part of a stake that came from a still-open session's buy-in goes back to it; a round
    left with no standing bet and no win is cancelled.
    """
    params = [
        provider.pk,
        session.pk,
        session.player_id,
        session.wallet_id,
        transaction_id,
        id_namespace,
        ids_per_player,
        reference_transaction_id,
        round_id,
        allow_win,
        context.client_ip,
        context.request_id,
        context.elapsed_us(),
    ]
    outcome = _retry_once_on_unique_race(lambda: _call_money_function(_ROLLBACK_SQL, params))
    if outcome.code == "INSUFFICIENT_FUNDS":
        _report_after_refusal(
            hooks.LedgerIncident(
                kind=hooks.WIN_REVERSAL_REFUSED,
                provider_id=provider.pk,
                player_id=session.player_id,
                wallet_id=outcome.wallet_id,
                currency=outcome.currency,
                available_minor=outcome.available_minor,
                external_id=transaction_id,
                reference_external_id=reference_transaction_id,
                round_id=round_id,
                detail=outcome.detail or "",
            ),
            outcome,
        )
    if outcome.code not in ("OK", "DUPLICATE"):
        _raise_refusal(outcome)
    row = Transaction.objects.get(pk=outcome.txn_id)  # rollbacks are few: read the row back
    if outcome.code == "OK":
        _after_commit(row, hooks.ALLOW_ALL)
    return _money_result(outcome, row)


def close_round(*, provider: Provider, session: GameSession, round_id: str) -> LedgerResult:
    """Settle a round: later bets into it are refused (ROUND_CLOSED). Always accepted. Closing
    an unknown round records it closed, so a bet that arrives late cannot reopen it."""
    with transaction.atomic():
        wallet, lock_wait_us = _lock_wallet(session.wallet_id)
        now = timezone.now()
        round_, created = Round.objects.get_or_create(
            provider=provider,
            player_id=session.player_id,
            external_id=round_id,
            defaults={"session_id": session.pk, "status": RoundStatus.SETTLED, "closed_at": now},
        )
        if not created and round_.status == RoundStatus.OPEN:
            Round.objects.filter(pk=round_.pk).update(status=RoundStatus.SETTLED, closed_at=now)
        _touch_session(session, now)
        return _result(wallet, None, lock_wait_us)


# --- what protocols add: calls applied together, credits without a stake, re-settlements -----


@dataclass(frozen=True)
class PlayBet:
    """A bet of a `play` call (the fields of `bet`)."""

    transaction_id: str
    amount_minor: int
    rounding_residue: Decimal | None = None
    game_id: str = ""


@dataclass(frozen=True)
class PlayWin:
    """A win of a `play` call (the fields of `win`)."""

    transaction_id: str
    amount_minor: int
    rounding_residue: Decimal | None = None
    round_closed: bool = False
    credit_type: str = ""


def _as_committed(error: WalletError, player_id: int) -> None:
    """Restate the balance a refusal inside a batch (play, rollback_many) carries as it stands
    committed: it was read inside the batch's transaction, after earlier calls of the batch
    that were undone with it."""
    if error.balance_minor is None or not error.currency:
        return
    figures = (
        Wallet.objects.filter(player_id=player_id, currency=error.currency)
        .values_list("balance_minor", "reserved_minor")
        .first()
    )
    if figures is not None:
        error.balance_minor = figures[0] - figures[1]


def play(
    *,
    provider: Provider,
    session: GameSession,
    round_id: str,
    currency: str,
    actions: list[PlayBet | PlayWin],
    ids_per_player: bool = False,
    context: CallContext = NO_CONTEXT,
) -> list[LedgerResult]:
    """Several bets and wins of one round applied atomically, in the order given (a spin's
    stake and its win in one call): every action is applied, or, when one is refused, none is
    and that refusal is raised. Each action keeps its own rules and idempotency: a repeat of
    the whole call answers every action as a duplicate. A bet or a win whose own id a rollback
    named before it arrived (a tombstone) is refused, TransactionRolledBack: the rollback
    stands. A refusal carries the balance as committed (nothing of the call applied).
    Listeners hear of the rows once the transaction has committed."""
    _deferred.incidents = []
    try:
        with transaction.atomic():
            results = []
            for action in actions:
                if isinstance(action, PlayBet):
                    results.append(
                        bet(
                            provider=provider,
                            session=session,
                            transaction_id=action.transaction_id,
                            round_id=round_id,
                            amount_minor=action.amount_minor,
                            currency=currency,
                            game_id=action.game_id,
                            rounding_residue=action.rounding_residue,
                            ids_per_player=ids_per_player,
                            context=context,
                        )
                    )
                else:
                    results.append(
                        win(
                            provider=provider,
                            session=session,
                            transaction_id=action.transaction_id,
                            round_id=round_id,
                            amount_minor=action.amount_minor,
                            currency=currency,
                            round_closed=action.round_closed,
                            rounding_residue=action.rounding_residue,
                            credit_type=action.credit_type,
                            ids_per_player=ids_per_player,
                            context=context,
                        )
                    )
            return results
    except WalletError as error:
        if len(actions) > 1:
            _as_committed(error, session.player_id)
        raise
    finally:
        for incident in _deferred.incidents:
            hooks.report_incident(incident)
        _deferred.incidents = None


def rollback_many(
    *,
    provider: Provider,
    session: GameSession,
    round_id: str,
    rollbacks: list[tuple[str, str]],
    id_namespace: str = "",
    ids_per_player: bool = False,
    allow_win: bool = False,
    context: CallContext = NO_CONTEXT,
) -> list[LedgerResult]:
    """Several rollbacks ((its own id, the id it cancels), ...) applied atomically. Wins are
    reversed before bets whatever the order given, so a round voided whole (its stake and its
    win) is not refused as settled. Results come back in the order given (each with the
    balance after it was applied; the last applied has the highest row id). A refusal carries
    the balance as committed."""
    kinds = dict(
        Transaction.objects.filter(
            provider=provider,
            player_id=session.player_id,
            external_id__in=[reference for _, reference in rollbacks],
        ).values_list("external_id", "kind")
    )
    order = sorted(
        range(len(rollbacks)), key=lambda i: kinds.get(rollbacks[i][1]) != TransactionKind.WIN
    )
    _deferred.incidents = []
    try:
        with transaction.atomic():
            results: dict[int, LedgerResult] = {}
            for i in order:
                own_id, reference = rollbacks[i]
                results[i] = rollback(
                    provider=provider,
                    session=session,
                    transaction_id=own_id,
                    reference_transaction_id=reference,
                    round_id=round_id,
                    id_namespace=id_namespace,
                    ids_per_player=ids_per_player,
                    allow_win=allow_win,
                    context=context,
                )
            return [results[i] for i in range(len(rollbacks))]
    except WalletError as error:
        if len(rollbacks) > 1:
            _as_committed(error, session.player_id)
        raise
    finally:
        for incident in _deferred.incidents:
            hooks.report_incident(incident)
        _deferred.incidents = None


def _provider_row_replay(
    provider: Provider, scope: str, external_id: str, wallet: Wallet, lock_wait_us: int, **expected
) -> LedgerResult | None:
    existing = _keyed_row(provider=provider, id_scope=scope, external_id=external_id)
    if existing is None:
        return None
    _check_replay(existing, **expected)
    return _result(wallet, existing, lock_wait_us, duplicate=True)


def credit_promo(
    *,
    provider: Provider,
    player: Player,
    currency: str,
    transaction_id: str,
    amount_minor: int,
    credit_type: str,
    round_id: str = "",
    session: GameSession | None = None,
    id_namespace: str = "",
    ids_per_player: bool = False,
    rounding_residue: Decimal | None = None,
    note: str = "",
    context: CallContext = NO_CONTEXT,
) -> LedgerResult:
    """A provider's credit with no stake: free-round winnings paid at the end, a promotion, a
    jackpot, a reward. Needs no session or round (the player may be offline); always accepted,
    whatever the provider's or the player's status (the money is the player's). Idempotent on
    (provider, transaction id, scope): a repeat is a duplicate, another amount, currency,
    player or type a DuplicateMismatch."""
    if amount_minor < 0:
        raise InvalidAmount("a credit must not be negative", field="amount")
    scope = id_namespace + _player_scope(ids_per_player, player.pk)

    def run() -> LedgerResult:
        wallet_row, _ = Wallet.objects.get_or_create(player=player, currency=currency)
        with transaction.atomic():
            wallet, lock_wait_us = _lock_wallet(wallet_row.pk)
            replay = _provider_row_replay(
                provider,
                scope,
                transaction_id,
                wallet,
                lock_wait_us,
                kind=TransactionKind.PROMO,
                player_id=player.pk,
                currency=currency,
                amount_minor=amount_minor,
                credit_type=credit_type,
            )
            if replay is not None:
                return replay
            wallet.balance_minor += amount_minor
            txn = _insert(
                wallet=wallet,
                player=player,
                provider=provider,
                session=session,
                kind=TransactionKind.PROMO,
                credit_type=credit_type,
                status=TransactionStatus.POSTED,
                currency=currency,
                amount_minor=amount_minor,
                delta_minor=amount_minor,
                balance_after_minor=wallet.balance_minor,
                rounding_residue=rounding_residue,
                external_id=transaction_id,
                id_scope=scope,
                round_external_id=round_id,
                game_id=session.game_id if session else "",
                note=note[:500],
                client_ip=context.client_ip,
                request_id=context.request_id,
                processing_us=context.elapsed_us(),
                lock_wait_us=lock_wait_us,
            )
            _save_wallet(wallet)
            _after_commit(txn, hooks.ALLOW_ALL)
            return _result(wallet, txn, lock_wait_us)

    return _retry_once_on_unique_race(run)


def settle_adjustment(
    *,
    provider: Provider,
    session: GameSession,
    transaction_id: str,
    round_id: str,
    delta_minor: int,
    currency: str,
    ids_per_player: bool = False,
    rounding_residue: Decimal | None = None,
    context: CallContext = NO_CONTEXT,
) -> LedgerResult:
    """A provider's re-settlement of a round it already settled (a live table's result
    corrected): an `adjustment` row by the provider, credit or debit. A debit needs the
    available funds (InsufficientFunds otherwise: never below zero) and is accepted whatever
    the session's state; a credit always is. Not a staff correction: no four eyes, the
    provider's id is its idempotency key."""
    if delta_minor == 0:
        raise InvalidAmount("an adjustment must change the balance", field="amount")
    if currency != session.currency:
        raise CurrencyMismatch(f"currency must be the session's ({session.currency})")
    scope = _player_scope(ids_per_player, session.player_id)

    def run() -> LedgerResult:
        with transaction.atomic():
            wallet, lock_wait_us = _lock_wallet(session.wallet_id)
            replay = _provider_row_replay(
                provider,
                scope,
                transaction_id,
                wallet,
                lock_wait_us,
                kind=TransactionKind.ADJUSTMENT,
                player_id=session.player_id,
                delta_minor=delta_minor,
                round_external_id=round_id,
            )
            if replay is not None:
                return replay
            if delta_minor < 0 and wallet.available_minor < -delta_minor:
                raise _funds_error(wallet)
            round_pk = (
                Round.objects.filter(
                    provider=provider, player_id=session.player_id, external_id=round_id
                )
                .values_list("pk", flat=True)
                .first()
            )
            wallet.balance_minor += delta_minor
            txn = _insert(
                wallet=wallet,
                player_id=session.player_id,
                provider=provider,
                session=session,
                round_id=round_pk,
                kind=TransactionKind.ADJUSTMENT,
                status=TransactionStatus.POSTED,
                currency=currency,
                amount_minor=abs(delta_minor),
                delta_minor=delta_minor,
                balance_after_minor=wallet.balance_minor,
                rounding_residue=rounding_residue,
                external_id=transaction_id,
                id_scope=scope,
                round_external_id=round_id,
                game_id=session.game_id,
                note="provider re-settlement",
                client_ip=context.client_ip,
                request_id=context.request_id,
                processing_us=context.elapsed_us(),
                lock_wait_us=lock_wait_us,
            )
            _save_wallet(wallet)
            _after_commit(txn, hooks.ALLOW_ALL)
            return _result(wallet, txn, lock_wait_us)

    return _retry_once_on_unique_race(run)


# --- payments -------------------------------------------------------------------------------


def _payment_replay(
    kind: str, external_id: str, player: Player, amount_minor, currency, payment_fingerprint
):
    existing = _keyed_row(provider=None, kind=kind, external_id=external_id)
    if existing is None:
        return None
    _check_replay(
        existing,
        player_id=player.pk,
        amount_minor=amount_minor,
        currency=currency,
        payment_fingerprint=payment_fingerprint,
    )
    return _result(existing.wallet, existing, 0, duplicate=True)


def _check_payment_fingerprint(value: str | None) -> None:
    """A payment's fingerprint is absent (None) or valid (wallets.validators); refused before
    anything is read or locked."""
    if value is None:
        return
    problem = payment_fingerprint_problem(value)
    if problem:
        raise ValidationFailed(f"payment_fingerprint {problem}", field="payment_fingerprint")


def deposit(
    *,
    player: Player,
    currency: str,
    amount_minor: int,
    external_id: str,
    context: CallContext = NO_CONTEXT,
    payment_fingerprint: str | None = None,
) -> LedgerResult:
    """Credit a payment gateway's deposit, idempotent on `external_id` (a replay must carry the
    same payment fingerprint). A screener may hold it, also by its `payment_fingerprint` (the
    fraud lists): then it is in the balance and in `reserved` until staff approve (posted) or
    reject (removed).
    Blocked players still receive deposits (the money is theirs); they cannot bet it. An
    excluded player's deposit, or one past a deposit limit, is refused LimitExceeded: checked
    and counted under the wallet lock, so concurrent deposits never pass a limit together."""
    if amount_minor <= 0:
        raise InvalidAmount("a deposit must be greater than zero", field="amount")
    _check_payment_fingerprint(payment_fingerprint)

    def run() -> LedgerResult:
        wallet_row, _ = Wallet.objects.get_or_create(player=player, currency=currency)
        with transaction.atomic():
            wallet, lock_wait_us = _lock_wallet(wallet_row.pk)
            replay = _payment_replay(
                TransactionKind.DEPOSIT,
                external_id,
                player,
                amount_minor,
                currency,
                payment_fingerprint,
            )
            if replay is not None:
                return _result(wallet, replay.transaction, lock_wait_us, duplicate=True)
            _refuse_if_excluded(Player.objects.get(pk=player.pk), wallet)
            counted = _count_deposit(wallet, amount_minor, timezone.now())
            screening = _screen(
                ScreeningRequest(
                    kind=TransactionKind.DEPOSIT,
                    player_id=player.pk,
                    wallet_id=wallet.pk,
                    currency=currency,
                    amount_minor=amount_minor,
                    client_ip=context.client_ip,
                    payment_fingerprint=payment_fingerprint,
                )
            )
            # Money already sent by a gateway cannot be refused: a decline holds it instead.
            held = screening.action in (HOLD, DECLINE)
            wallet.balance_minor += amount_minor
            if held:
                wallet.reserved_minor += amount_minor
            txn = _insert(
                wallet=wallet,
                player=player,
                kind=TransactionKind.DEPOSIT,
                status=TransactionStatus.HELD if held else TransactionStatus.POSTED,
                currency=currency,
                amount_minor=amount_minor,
                delta_minor=amount_minor,
                balance_after_minor=wallet.balance_minor,
                external_id=external_id,
                client_ip=context.client_ip,
                payment_fingerprint=payment_fingerprint,
                request_id=context.request_id,
                processing_us=context.elapsed_us(),
                lock_wait_us=lock_wait_us,
            )
            _save_wallet(wallet, *counted)
            _after_commit(txn, screening)
            return _result(wallet, txn, lock_wait_us)

    return _retry_once_on_unique_race(run)


def withdraw(
    *,
    player: Player,
    currency: str,
    amount_minor: int,
    external_id: str,
    context: CallContext = NO_CONTEXT,
    payment_fingerprint: str | None = None,
) -> LedgerResult:
    """Pay out to a payment gateway, idempotent on `external_id` (a replay must carry the same
    payment fingerprint); needs available funds. A screener may hold it, also by its
    `payment_fingerprint` (the fraud lists): the amount moves to `reserved` until staff approve
    (paid out) or reject (back to available)."""
    if amount_minor <= 0:
        raise InvalidAmount("a withdrawal must be greater than zero", field="amount")
    _check_payment_fingerprint(payment_fingerprint)
    wallet_row = Wallet.objects.filter(player=player, currency=currency).first()
    if wallet_row is None:
        raise InsufficientFunds(
            f"player has no {currency} wallet", balance_minor=0, currency=currency
        )

    def run() -> LedgerResult:
        with transaction.atomic():
            wallet, lock_wait_us = _lock_wallet(wallet_row.pk)
            replay = _payment_replay(
                TransactionKind.WITHDRAWAL,
                external_id,
                player,
                amount_minor,
                currency,
                payment_fingerprint,
            )
            if replay is not None:
                return _result(wallet, replay.transaction, lock_wait_us, duplicate=True)
            if wallet.available_minor < amount_minor:
                raise _funds_error(wallet)
            screening = _screen(
                ScreeningRequest(
                    kind=TransactionKind.WITHDRAWAL,
                    player_id=player.pk,
                    wallet_id=wallet.pk,
                    currency=currency,
                    amount_minor=amount_minor,
                    client_ip=context.client_ip,
                    payment_fingerprint=payment_fingerprint,
                )
            )
            held = screening.action in (HOLD, DECLINE)
            if held:
                wallet.reserved_minor += amount_minor
            else:
                wallet.balance_minor -= amount_minor
            txn = _insert(
                wallet=wallet,
                player=player,
                kind=TransactionKind.WITHDRAWAL,
                status=TransactionStatus.HELD if held else TransactionStatus.POSTED,
                currency=currency,
                amount_minor=amount_minor,
                delta_minor=-amount_minor,
                balance_after_minor=wallet.balance_minor,
                external_id=external_id,
                client_ip=context.client_ip,
                payment_fingerprint=payment_fingerprint,
                request_id=context.request_id,
                processing_us=context.elapsed_us(),
                lock_wait_us=lock_wait_us,
            )
            _save_wallet(wallet)
            _after_commit(txn, screening)
            return _result(wallet, txn, lock_wait_us)

    return _retry_once_on_unique_race(run)


# --- player protection ----------------------------------------------------------------------
#
# The limits and exclusions are decided by the protection app; the ledger keeps what the money
# path reads (Player.excluded_until and session_limit_minutes, the limit columns of Wallet) and
# enforces it under the wallet lock: bets in pitboss_bet (wallets/sql/ledger.sql), deposits
# here. Wins and rollbacks are never refused by a limit or an exclusion; they are counted.

# A permanent exclusion is excluded_until at the end of time as Python can read it.
PERMANENT = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC)

_PERIOD_WORDS = {"day": "daily", "week": "weekly", "month": "monthly"}
_COUNTED_WORDS = {"loss": "lost", "wager": "wagered", "deposit": "deposited"}
_COUNTED_PERIOD = {"day": "today", "week": "this week", "month": "this month"}


def _limit_message(detail: str | None, currency: str) -> str:
    """The human message of a LIMIT_EXCEEDED refusal from the ledger's detail: 'excluded
    until <time>' / 'excluded permanently', 'session <minutes>', or '<kind> <period> <limit>
    <counted>' (minor units)."""
    parts = (detail or "").split(" ")
    if parts[0] == "excluded":
        return f"player is excluded from play and deposits {' '.join(parts[1:])}".rstrip()
    if parts[0] == "session" and len(parts) == 2:
        return f"session time limit of {parts[1]} minutes reached: start a new session later"
    if len(parts) == 4 and parts[0] in _COUNTED_WORDS and parts[1] in _PERIOD_WORDS:
        kind, period, limit_minor, counted_minor = parts
        return (
            f"{_PERIOD_WORDS[period]} {kind} limit of {format_amount(int(limit_minor), currency)}"
            f" {currency} reached: {format_amount(int(counted_minor), currency)} {currency}"
            f" {_COUNTED_WORDS[kind]} {_COUNTED_PERIOD[period]}"
        )
    return LimitExceeded.default_message


def _refuse_if_excluded(player: Player, wallet: Wallet | None = None) -> None:
    """LimitExceeded while the player is excluded (a time-out or a self-exclusion)."""
    until = player.excluded_until
    if until is None or until <= timezone.now():
        return
    if until >= PERMANENT:
        detail = "excluded permanently"
    else:
        detail = f"excluded until {until.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"
    raise LimitExceeded(
        _limit_message(detail, ""),
        balance_minor=wallet.available_minor if wallet else None,
        currency=wallet.currency if wallet else None,
    )


def _roll_limit_periods(wallet: Wallet, now) -> None:
    """pitboss_roll_limit_periods in Python: a figure of an earlier UTC day, ISO week or month
    starts again from zero."""
    today = now.astimezone(datetime.UTC).date()
    counted_on = wallet.limits_counted_on
    if counted_on == today:
        return
    periods = ["day"]
    if counted_on is None or counted_on.isocalendar()[:2] != today.isocalendar()[:2]:
        periods.append("week")
    if counted_on is None or (counted_on.year, counted_on.month) != (today.year, today.month):
        periods.append("month")
    for period in periods:
        for counted in ("deposited", "lost", "wagered"):
            setattr(wallet, f"{counted}_{period}_minor", 0)
    wallet.limits_counted_on = today


def _count_deposit(wallet: Wallet, amount_minor: int, now) -> tuple[str, ...]:
    """Check a deposit against the wallet's deposit limits (LimitExceeded, the first it would
    pass) and count it; the names of the fields to write with the wallet. Under its lock."""
    if wallet.limits_counted_on is None:
        return ()
    _roll_limit_periods(wallet, now)
    for period in ("day", "week", "month"):
        limit_field, counted_field = LIMIT_COLUMNS[("deposit", period)]
        limit_minor = getattr(wallet, limit_field)
        counted_minor = getattr(wallet, counted_field)
        if limit_minor is not None and counted_minor + amount_minor > limit_minor:
            raise LimitExceeded(
                _limit_message(f"deposit {period} {limit_minor} {counted_minor}", wallet.currency),
                field="amount",
                balance_minor=wallet.available_minor,
                currency=wallet.currency,
            )
    fields = ["limits_counted_on"]
    for period in ("day", "week", "month"):
        counted_field = LIMIT_COLUMNS[("deposit", period)][1]
        setattr(wallet, counted_field, getattr(wallet, counted_field) + amount_minor)
        fields.append(counted_field)
    # The other figures may have rolled over with the day.
    fields += [c for _, c in LIMIT_COLUMNS.values() if c not in fields]
    return tuple(fields)


# Each figure from the ledger rows of a period, as the ledger functions count them: net loss
# is minus the balance change of bets, wins and rollbacks (a refund lowers it, a reversed win
# raises it); wagered is stakes less refunded stakes; deposits count when received.
_FIGURES_SQL = """
SELECT
    COALESCE(sum(-delta_minor) FILTER (WHERE kind IN ('bet', 'win', 'rollback')
                                         AND created_at >= %(since)s), 0),
    COALESCE(sum(CASE WHEN kind = 'bet' THEN amount_minor
                      WHEN kind = 'rollback' AND delta_minor > 0 THEN -delta_minor END)
             FILTER (WHERE created_at >= %(since)s), 0),
    COALESCE(sum(amount_minor) FILTER (WHERE kind = 'deposit' AND created_at >= %(since)s), 0)
FROM wallets_transaction
WHERE wallet_id = %(wallet)s AND created_at >= %(since)s
"""


def period_starts(now) -> dict[str, object]:
    """The UTC start of the day, ISO week and calendar month containing `now`."""
    day = now.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "day": day,
        "week": day - datetime.timedelta(days=day.weekday()),
        "month": day.replace(day=1),
    }


def set_wallet_limits(*, wallet: Wallet, limits: dict[tuple[str, str], int | None]) -> Wallet:
    """Put the limits in force on a wallet: {(kind, period): amount_minor or None} for every
    (kind, period) of LIMIT_COLUMNS (a missing key is no limit). Under the wallet lock, so a
    money call sees the old limits or the new ones, never half. When the wallet starts to have
    limits, its figures of the current periods are counted from its ledger rows (what was lost
    today before a daily limit was set counts against it); with none left, counting stops.
    The protection app decides the limits (cooling-off, who may raise them); this only applies
    them."""
    with transaction.atomic():
        wallet, _ = _lock_wallet(wallet.pk)
        now = timezone.now()
        values = {LIMIT_COLUMNS[key][0]: limits.get(key) for key in LIMIT_COLUMNS}
        changes: dict[str, object] = dict(values)
        if all(value is None for value in values.values()):
            changes["limits_counted_on"] = None
            changes.update({counted: None for _, counted in LIMIT_COLUMNS.values()})
        elif wallet.limits_counted_on is None:
            changes.update(_counted_figures(wallet.pk, now))
        Wallet.objects.filter(pk=wallet.pk).update(**changes)
        for name, value in changes.items():
            setattr(wallet, name, value)
    return wallet


def _counted_figures(wallet_id: int, now) -> dict[str, object]:
    starts = period_starts(now)
    figures: dict[str, object] = {"limits_counted_on": starts["day"].date()}
    for period, since in starts.items():
        with connection.cursor() as cursor:
            cursor.execute(_FIGURES_SQL, {"since": since, "wallet": wallet_id})
            lost, wagered, deposited = cursor.fetchone()
        figures[f"lost_{period}_minor"] = lost
        figures[f"wagered_{period}_minor"] = wagered
        figures[f"deposited_{period}_minor"] = deposited
    return figures


# --- holds and corrections ------------------------------------------------------------------


def decide_hold(*, transaction_id: int, approve: bool, actor, note: str = "") -> LedgerResult:
    """Post (approve) or release (reject) a held transaction, under the wallet lock.

    Approve: a held credit leaves `reserved` and becomes available; a held withdrawal is paid
    out. Reject: a held credit is taken back out of the balance; a held withdrawal returns to
    available. A transaction that is no longer held raises NotAllowed (decided once only).
    """
    wallet_id = Transaction.objects.values_list("wallet_id", flat=True).get(pk=transaction_id)
    with transaction.atomic():
        wallet, lock_wait_us = _lock_wallet(wallet_id)
        txn = Transaction.objects.get(pk=transaction_id)
        if txn.status != TransactionStatus.HELD:
            raise NotAllowed(f"transaction is {txn.status}, not held")
        credit = txn.delta_minor > 0
        wallet.reserved_minor -= txn.amount_minor
        if approve and not credit:
            wallet.balance_minor -= txn.amount_minor
        if not approve and credit:
            wallet.balance_minor -= txn.amount_minor
        txn.status = TransactionStatus.POSTED if approve else TransactionStatus.REJECTED
        txn.approved_by = actor
        txn.decided_at = timezone.now()
        Transaction.objects.filter(pk=txn.pk).update(
            status=txn.status, approved_by=actor, decided_at=txn.decided_at
        )
        _save_wallet(wallet)
        return _result(wallet, txn, lock_wait_us)


def adjust(
    *,
    wallet: Wallet,
    delta_minor: int,
    reason: str,
    requested_by,
    approved_by,
    external_id: str,
    corrects: Transaction | None = None,
) -> LedgerResult:
    """A staff correction: a new `adjustment` row (never an edit of an old one), requested by
    one named user and approved by a different one. The balance may not fall below `reserved`.
    Idempotent on `external_id` (e.g. the discrepancy or request it settles)."""
    if not reason.strip():
        raise ValidationFailed("an adjustment needs a reason", field="reason")
    if requested_by is None or approved_by is None or requested_by.pk == approved_by.pk:
        raise FourEyesRequired()
    if delta_minor == 0:
        raise InvalidAmount("an adjustment must change the balance", field="amount")

    def run() -> LedgerResult:
        with transaction.atomic():
            locked, lock_wait_us = _lock_wallet(wallet.pk)
            existing = _keyed_row(
                provider=None, kind=TransactionKind.ADJUSTMENT, external_id=external_id
            )
            if existing is not None:
                _check_replay(existing, wallet_id=wallet.pk, delta_minor=delta_minor)
                return _result(locked, existing, lock_wait_us, duplicate=True)
            if locked.balance_minor + delta_minor < locked.reserved_minor:
                raise _funds_error(locked)
            locked.balance_minor += delta_minor
            txn = _insert(
                wallet=locked,
                player_id=locked.player_id,
                kind=TransactionKind.ADJUSTMENT,
                status=TransactionStatus.POSTED,
                currency=locked.currency,
                amount_minor=abs(delta_minor),
                delta_minor=delta_minor,
                balance_after_minor=locked.balance_minor,
                external_id=external_id,
                reference=corrects,
                note=reason[:500],
                created_by=requested_by,
                approved_by=approved_by,
                decided_at=timezone.now(),
            )
            _save_wallet(locked)
            return _result(locked, txn, lock_wait_us)

    return _retry_once_on_unique_race(run)


# --- idle session cleanup -------------------------------------------------------------------

_END_IDLE_SESSIONS_SQL = """
WITH picked AS (
    -- Idle open sessions, oldest first. Wallet and session rows are locked together and rows
    -- another transaction holds are skipped: a concurrent bet keeps its session for now, and
    -- two cleanups running at once never pick the same session (no double release).
    SELECT s.id, s.wallet_id, s.provider_id, s.currency, s.reserved_minor,
           (s.authenticated_at IS NULL) AS never_authenticated
    FROM wallets_gamesession s
    JOIN wallets_provider p ON p.id = s.provider_id
    JOIN wallets_wallet w ON w.id = s.wallet_id
    WHERE s.status = 'open'
      AND s.last_activity_at < %(now)s - make_interval(secs => p.idle_timeout_seconds)
    ORDER BY s.last_activity_at
    LIMIT %(batch_size)s
    FOR NO KEY UPDATE OF w, s SKIP LOCKED
),
ended AS (
    UPDATE wallets_gamesession s
    SET status = CASE WHEN picked.never_authenticated THEN 'expired' ELSE 'abandoned' END,
        end_reason = 'idle_timeout', ended_at = %(now)s, reserved_minor = 0
    FROM picked
    WHERE s.id = picked.id
    RETURNING picked.*
),
released AS (
    -- What is left of each buy-in goes back to available, in the same statement.
    UPDATE wallets_wallet w
    SET reserved_minor = w.reserved_minor - r.total, updated_at = %(now)s
    FROM (SELECT wallet_id, SUM(reserved_minor) AS total
          FROM ended WHERE reserved_minor > 0 GROUP BY wallet_id) r
    WHERE w.id = r.wallet_id
)
SELECT provider_id, currency,
       COUNT(*) FILTER (WHERE never_authenticated),
       COUNT(*) FILTER (WHERE NOT never_authenticated),
       COUNT(*) FILTER (WHERE reserved_minor > 0),
       COALESCE(SUM(reserved_minor), 0)::bigint
FROM ended
GROUP BY provider_id, currency
"""


@dataclass(frozen=True)
class EndedSessions:
    provider_id: int
    currency: str
    expired: int  # never authenticated by the provider: the launch lapsed
    abandoned: int  # played, then went idle without a close signal
    reservations_released: int
    released_minor: int


def end_idle_sessions(*, batch_size: int = 5000, now=None) -> list[EndedSessions]:
    """End up to `batch_size` open sessions idle past their provider's timeout, releasing
    their reservations, in one set-based statement (one transaction). Returns counts per
    provider and currency. Sessions locked by a call in flight are left for the next batch.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _END_IDLE_SESSIONS_SQL, {"now": now or timezone.now(), "batch_size": batch_size}
        )
        return [EndedSessions(*row) for row in cursor.fetchall()]
