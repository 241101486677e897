"""The SoftSwiss game aggregator's casino wallet API, also spoken by BGaming directly
(`/play`, `/rollback`, `/freespins`), at /wallet/softswiss/<provider code>/. The integrator's
page: docs/integrations/softswiss.md.

Authenticate: `X-Request-Sign` is the lowercase hex HMAC-SHA256 of the raw body, keyed with
the provider's shared secret (compared in constant time; every unexpired credential works
during a rotation). Parse: a strict JSON object; amounts are integers of the currency's
subunits, which are the ledger's minor units (cents, yen, fils): nothing to convert or round.
Call: `/play` books its bets and wins together (ledger.play: all or nothing, in the order
given), `/rollback` its rollbacks together (ledger.rollback_many, wins before bets; a win may
be reversed), `/freespins` moves no money. Render: HTTP 200 with `{"balance", "game_id",
"transactions": [{"action_id", "tx_id", "processed_at"}]}` (a balance request: `{"balance"}`),
otherwise `{"code", "message"}` plus `balance` where the player is known, with the HTTP status
of STATUSES.

Choices where the sources (two operator implementations and a casino-side client library;
SoftSwiss's own documents are not public) disagree or are silent, written down in the
integration page:
- Business refusals are HTTP 412 with SoftSwiss's code (100, 101, 105, 107, 110, 154, 405);
  one operator answers 101 and 154 with HTTP 400 and 110 with 403. Malformed requests are
  400 code 400, a bad signature 403 code 403, an unknown path 404 code 404, faults 500 / 503.
- A refusal no SoftSwiss code names (the same action_id with another payload, a bet into a
  finished round, a bet's rollback after its round paid, an original action of another
  player) is 412 with code 400: the request is well formed, the wallet's state refuses it.
- A bet on an ended session is 412 code 107 (the game is no longer open to the player);
  wins and rollbacks on it are accepted.
- A win with no bet in its round is credited (free spins: the round opens settled); one
  operator answers it 404.
- An action a rollback named before it arrived (the rollback answered with an empty tx_id),
  a replay of an action rolled back since, and a win into a round whose bets were all rolled
  back are answered as the protocol answers a rolled-back action: HTTP 200, nothing applied,
  the action's stored tx_id, or an empty one when it was never applied.
- The reversal of a win the player no longer has is refused, 412 code 100 with the balance
  (never below zero; staff get a discrepancy); one operator skips it and answers 200.
- SoftSwiss has no authenticate call: the first balance request or bet of an open session
  confirms it (ledger.authenticate), so a restricted provider plays on in sessions in play.
- `/freespins` is a notification: nothing is booked (the spins' wins come through `/play`);
  the answer is `{"balance"}` when the body names a known player, `{}` otherwise.
"""

import copy
from datetime import UTC, datetime
from decimal import Decimal

from wallets import crypto, ledger
from wallets.adapters import credentials
from wallets.adapters.base import (
    Adapter,
    Call,
    MethodNotAllowed,
    Option,
    UnknownOperation,
    WalletResponse,
)
from wallets.adapters.fields import (
    WrongType,
    optional_bool,
    parse_body,
    required_int,
    required_str,
)
from wallets.choices import CredentialKind, ProviderProtocol, SessionStatus
from wallets.currencies import exponent, is_known
from wallets.errors import (
    CurrencyMismatch,
    InvalidSignature,
    InvalidToken,
    SignatureExpired,
    TransactionRolledBack,
    ValidationFailed,
    WalletError,
)
from wallets.models import Provider, Transaction
from wallets.money import parse_amount
from wallets.selectors import live_session, player_session, session_identity

# SoftSwiss's error codes and their texts (those Pitboss never emits are listed for the doc:
# 106 max bet, 153 country, 155 changed field, 406 free spins not offered).
MESSAGES = {
    100: "Player has not enough funds to process an action.",
    101: "Player is invalid.",
    105: "Player reached customized bet limit.",
    106: "Bet exceeded max bet limit.",
    107: "Game is forbidden to the player.",
    110: "Player is disabled.",
    153: "Game is not available in Player's country.",
    154: "Currency is not allowed for the player.",
    155: "Forbidden to change already set field.",
    400: "Bad request.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Game is not available to your casino.",
    406: "Freespins are not available for your casino.",
    500: "Unknown error.",
    503: "Service is unavailable.",
}
SIGN_MISMATCH = "Request sign doesn't match"

# The ledger's outcome codes as (HTTP status, SoftSwiss code). TRANSACTION_ROLLED_BACK is not
# an error in this protocol: HTTP 200 with the actions answered as rolled back (see above).
STATUSES = {
    "VALIDATION_ERROR": (400, 400),
    "INVALID_AMOUNT": (400, 400),
    "INVALID_SIGNATURE": (403, 403),
    "SIGNATURE_EXPIRED": (403, 403),
    "IP_NOT_ALLOWED": (403, 403),
    "INSUFFICIENT_FUNDS": (412, 100),
    "INVALID_TOKEN": (412, 101),
    "LIMIT_EXCEEDED": (412, 105),
    "SESSION_EXPIRED": (412, 107),
    "BET_DECLINED": (412, 107),
    "PLAYER_BLOCKED": (412, 110),
    "CURRENCY_MISMATCH": (412, 154),
    "PROVIDER_RESTRICTED": (412, 405),
    "DUPLICATE_MISMATCH": (412, 400),
    "ROUND_CLOSED": (412, 400),
    "BET_SETTLED": (412, 400),
    "ROUND_SETTLED": (412, 400),
    "INVALID_REFERENCE": (412, 400),
    "SESSION_LIMIT": (412, 400),
    "BET_NOT_FOUND": (404, 404),
    "TRANSACTION_ROLLED_BACK": (200, None),
    "PROVIDER_SUSPENDED": (503, 503),
    "SERVICE_UNAVAILABLE": (503, 503),
    "INTERNAL_ERROR": (500, 500),
}

# Refusals answered with a reason after the code's text.
_EXPLAINED = {400, 404, 107, 405}


# (provider id, token hash) of sessions known confirmed in this process (bounded).
_confirmed: set[tuple[int, str]] = set()
_CONFIRMED_MAX = 100_000


def _remember_confirmed(key: tuple[int, str]) -> None:
    if len(_confirmed) >= _CONFIRMED_MAX:
        _confirmed.clear()
    _confirmed.add(key)


class AnsweredAsRolledBack(TransactionRolledBack):
    """A play refused because an action of it was rolled back: answered HTTP 200 with what the
    protocol says of rolled-back actions (`payload`), counted as TRANSACTION_ROLLED_BACK."""

    def __init__(self, error: TransactionRolledBack, payload: dict) -> None:
        super().__init__(
            error.message,
            field=error.field,
            balance_minor=error.balance_minor,
            currency=error.currency,
        )
        self.payload = payload


def processed_at(moment: datetime) -> str:
    """A ledger row's time as SoftSwiss writes it: ISO 8601 in UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _in_action(index: int, read):
    """read(), its error naming the action (`actions[1]: amount must be an integer`)."""
    try:
        return read()
    except WalletError as error:
        error.message = f"actions[{index}]: {error.message}"
        error.field = "actions"
        raise


class SoftSwissAdapter(Adapter):
    name = ProviderProtocol.SOFTSWISS
    title = "SoftSwiss / BGaming game provider API"
    operations = {
        "play": ("play", "op_play"),
        "rollback": ("rollback", "op_rollback"),
        "freespins": ("freespins", "op_freespins"),
    }
    options = {
        "session_id": Option(
            default="token",
            choices=("token", "aggregator"),
            help=(
                "token: `session_id` is the session token Pitboss issued at launch (checked "
                "against `user_id`); aggregator: it is the aggregator's own session id, not "
                "checked, and the call books against the newest session of the player "
                "`user_id` names (an open one first, in the call's currency)."
            ),
        ),
    }

    # --- authenticate --------------------------------------------------------------------------

    def authenticate(self, request, known: credentials.KnownProvider) -> None:
        offered = request.headers.get("X-Request-Sign", "")
        if not offered:
            raise InvalidSignature("X-Request-Sign is required")
        body = request.body
        _, matched = credentials.find_credential(
            known,
            lambda credential: credentials.hmac_hex_matches(credential.secret, body, offered),
            kinds=(CredentialKind.HMAC,),
        )
        if matched is None:
            raise InvalidSignature()

    # --- parse -----------------------------------------------------------------------------------

    def parse(self, operation: str, request) -> dict:
        return parse_body(request.body)

    def _actions(self, call: Call, *, kinds: tuple[str, ...]) -> list[dict]:
        """The call's `actions`, each an object of one of `kinds` with a unique action_id."""
        actions = call.data.get("actions")
        if not isinstance(actions, list):
            raise WrongType("actions must be an array", field="actions")
        if not actions:
            raise ValidationFailed("actions must not be empty", field="actions")
        seen: set[str] = set()
        for index, action in enumerate(actions):
            if not isinstance(action, dict):
                raise WrongType(f"actions[{index}] must be an object", field="actions")
            kind = _in_action(index, lambda action=action: required_str(action, "action"))
            if kind not in kinds:
                raise ValidationFailed(
                    f"actions[{index}]: action must be {' or '.join(kinds)}, not {kind!r}",
                    field="actions",
                )
            action_id = _in_action(index, lambda action=action: required_str(action, "action_id"))
            if action_id in seen:
                raise ValidationFailed(
                    f"actions[{index}]: action_id {action_id!r} appears twice", field="actions"
                )
            seen.add(action_id)
        return actions

    def _currency(self, call: Call, session) -> str:
        currency = required_str(call.data, "currency", max_length=16)
        if not is_known(currency):
            raise CurrencyMismatch(f"currency must be the player's ({session.currency})")
        return currency

    def _amount(self, index: int, action: dict, currency: str) -> int:
        """An action's amount: an integer of the currency's subunits (the ledger's minor units:
        exact, never rounded), not negative, at most the ledger's largest amount."""

        def read() -> int:
            units = required_int(action, "amount")
            return parse_amount(Decimal(units).scaleb(-exponent(currency)), currency).minor

        return _in_action(index, read)

    # --- call ------------------------------------------------------------------------------------

    def _session(self, call: Call):
        """The session the call books against, of the player `user_id` names; InvalidToken
        (code 101) when there is none or the session is another player's."""
        user = required_str(call.data, "user_id")
        if call.option("session_id") == "aggregator":
            currency = call.data.get("currency")
            session = player_session(
                call.provider.pk, user, currency=currency if is_known(currency) else ""
            ) or player_session(call.provider.pk, user)
            if session is None:
                raise InvalidToken(f"no player {user!r} has played at this provider")
            call.session = session
            return session
        token = required_str(call.data, "session_id", max_length=256)
        found = live_session(call.provider.pk, crypto.token_hash(token))
        if found is None:
            raise InvalidToken("unknown session_id")
        session, call.provider_status = found
        if session.player.external_id != user:
            raise InvalidToken("the session is another player's")
        call.session = session
        return session

    def _confirm(self, call: Call, session) -> None:
        """The first balance request or bet of an open session confirms it, as the native
        API's authenticate does (SoftSwiss has no such call): a restricted provider plays on
        only in sessions confirmed before the restriction, and idle cleanup tells sessions that
        were played from launches that lapsed. A confirmed session's token is remembered in
        this process: its plays of one action take the fast path (a confirmation is never
        undone)."""
        token = call.data.get("session_id")
        confirmed_key = (
            (call.provider.pk, crypto.token_hash(token))
            if call.option("session_id") == "token" and isinstance(token, str)
            else None
        )
        if session.authenticated_at is not None or session.status != SessionStatus.OPEN:
            if session.authenticated_at is not None and confirmed_key:
                _remember_confirmed(confirmed_key)
            return
        provider = copy.copy(call.provider)  # the cached one is shared: never change it
        provider.status = call.provider_status or (
            Provider.objects.values_list("status", flat=True).get(pk=provider.pk)
        )
        ledger.authenticate(provider=provider, session=session)
        if confirmed_key:
            _remember_confirmed(confirmed_key)

    def _fast_play(self, call: Call) -> dict | None:
        """A play of one action on a session already confirmed, booked by the token alone
        (the ledger function reads the session in the same round trip); None when the call
        needs the session read first (anything else, or a refusal that must say exactly
        why)."""
        if call.option("session_id") != "token":
            return None
        actions = call.data.get("actions")
        user, token = call.data.get("user_id"), call.data.get("session_id")
        if not (isinstance(actions, list) and len(actions) == 1):
            return None
        if not (isinstance(user, str) and isinstance(token, str) and 0 < len(token) <= 256):
            return None
        token_hash = crypto.token_hash(token)
        if (call.provider.pk, token_hash) not in _confirmed:
            return None
        identity = session_identity(call.provider.pk, token_hash)
        if identity is None or identity.player_external_id != user:
            return None
        try:
            (action,) = self._actions(call, kinds=("bet", "win"))
            currency = self._currency(call, identity)
            round_id = required_str(call.data, "game_id")
            amount = self._amount(0, action, currency)
            finished = optional_bool(call.data, "finished")
        except WalletError:
            return None  # the slow path refuses it, with the balance
        if finished and action["action"] == "bet":
            return None  # a round closed with no win: the slow path closes it
        game = call.data.get("game")
        session = ledger.SessionToken(token_hash, player_ref=user)
        try:
            if action["action"] == "bet":
                result = ledger.bet(
                    provider=call.provider,
                    session=session,
                    transaction_id=action["action_id"],
                    round_id=round_id,
                    amount_minor=amount,
                    currency=currency,
                    game_id=game[:128] if isinstance(game, str) else "",
                    context=call.context,
                )
            else:
                result = ledger.win(
                    provider=call.provider,
                    session=session,
                    transaction_id=action["action_id"],
                    round_id=round_id,
                    amount_minor=amount,
                    currency=currency,
                    round_closed=finished,
                    context=call.context,
                )
        except (InvalidToken, TransactionRolledBack):
            return None  # nothing was written: the slow path answers it
        call.note(result)
        return {
            "balance": result.available_minor,
            "game_id": round_id,
            "transactions": [
                {
                    "action_id": action["action_id"],
                    "tx_id": str(result.row.pk),
                    "processed_at": processed_at(result.row.created_at),
                }
            ],
        }

    def op_play(self, call: Call) -> dict:
        if call.data.get("actions") in (None, []):
            return self._balance(call)
        fast = self._fast_play(call)
        if fast is not None:
            return fast
        session = self._session(call)
        actions = self._actions(call, kinds=("bet", "win"))
        if any(action["action"] == "bet" for action in actions):
            self._confirm(call, session)
        currency = self._currency(call, session)
        round_id = required_str(call.data, "game_id")
        finished = optional_bool(call.data, "finished")
        game = call.data.get("game")
        game = game[:128] if isinstance(game, str) else ""
        last_win = max((i for i, a in enumerate(actions) if a["action"] == "win"), default=None)
        plays: list[ledger.PlayBet | ledger.PlayWin] = []
        for index, action in enumerate(actions):
            amount = self._amount(index, action, currency)
            if action["action"] == "bet":
                plays.append(ledger.PlayBet(action["action_id"], amount, game_id=game))
            else:
                closes = finished and index == last_win
                plays.append(ledger.PlayWin(action["action_id"], amount, round_closed=closes))
        try:
            results = ledger.play(
                provider=call.provider,
                session=session,
                round_id=round_id,
                currency=currency,
                actions=plays,
                context=call.context,
            )
        except TransactionRolledBack as error:
            raise AnsweredAsRolledBack(
                error, self._not_applied(call, session, round_id, actions, error)
            ) from None
        for result in results:
            call.note(result)
        if finished and last_win is None:
            ledger.close_round(provider=call.provider, session=session, round_id=round_id)
        return {
            "balance": results[-1].available_minor,
            "game_id": round_id,
            "transactions": [
                {
                    "action_id": action["action_id"],
                    "tx_id": str(result.row.pk),
                    "processed_at": processed_at(result.row.created_at),
                }
                for action, result in zip(actions, results, strict=True)
            ],
        }

    def _balance(self, call: Call) -> dict:
        session = self._session(call)
        currency = required_str(call.data, "currency", max_length=16)
        if currency != session.currency:
            raise CurrencyMismatch(f"currency must be the player's ({session.currency})")
        if session.authenticated_at is None and session.status == SessionStatus.OPEN:
            self._confirm(call, session)
        else:
            self._confirm(call, session)  # remembers a confirmed session's token; moves nothing
            ledger.touch_session(session)
        return {"balance": session.wallet.available_minor}

    def _not_applied(self, call: Call, session, round_id: str, actions, error) -> dict:
        """The answer to a play refused because an action of it was rolled back: each action's
        stored tx_id when it was applied before (a replay), else an empty one."""
        ids = [action["action_id"] for action in actions]
        stored = {
            external_id: (pk, created_at)
            for external_id, pk, created_at in Transaction.objects.filter(
                provider=call.provider,
                player_id=session.player_id,
                id_scope="",
                external_id__in=ids,
            ).values_list("external_id", "pk", "created_at")
        }
        now = datetime.now(UTC)
        balance = error.balance_minor
        if balance is None:
            balance = session.wallet.available_minor
        return {
            "balance": balance,
            "game_id": round_id,
            "transactions": [
                {
                    "action_id": action_id,
                    "tx_id": str(stored[action_id][0]) if action_id in stored else "",
                    "processed_at": processed_at(stored.get(action_id, (None, now))[1]),
                }
                for action_id in ids
            ],
        }

    def op_rollback(self, call: Call) -> dict:
        session = self._session(call)
        actions = self._actions(call, kinds=("rollback",))
        currency = self._currency(call, session)
        if currency != session.currency:
            raise CurrencyMismatch(f"currency must be the player's ({session.currency})")
        round_id = required_str(call.data, "game_id")
        pairs = [
            (
                action["action_id"],
                _in_action(index, lambda a=action: required_str(a, "original_action_id")),
            )
            for index, action in enumerate(actions)
        ]
        results = ledger.rollback_many(
            provider=call.provider,
            session=session,
            round_id=round_id,
            rollbacks=pairs,
            allow_win=True,
            context=call.context,
        )
        for result in results:
            call.note(result)
        # The ledger reverses wins before bets: the balance after the whole call is that of the
        # rollback applied last, whose row was written last.
        last = max(results, key=lambda result: result.row.pk)
        call.balance_minor = last.available_minor
        return {
            "balance": last.available_minor,
            "game_id": round_id,
            "transactions": [
                {
                    "action_id": own_id,
                    # An unknown original: nothing was rolled back (the tombstone stays).
                    "tx_id": "" if result.tombstone else str(result.row.pk),
                    "processed_at": processed_at(result.row.created_at),
                }
                for (own_id, _), result in zip(pairs, results, strict=True)
            ],
        }

    def op_freespins(self, call: Call) -> dict:
        """A free-spin issue's status: read, answered, nothing booked."""
        data = call.data
        issue_id = data.get("issue_id")
        if isinstance(issue_id, bool) or not isinstance(issue_id, (str, int)):
            raise ValidationFailed("issue_id is required (a string)", field="issue_id")
        required_str(data, "status", max_length=64)
        if data.get("total_amount") is not None:
            required_int(data, "total_amount")
        if data.get("user_id") is None:
            return {}
        user = required_str(data, "user_id")
        currency = data.get("currency")
        session = player_session(
            call.provider.pk, user, currency=currency if is_known(currency) else ""
        )
        if session is None:
            raise InvalidToken(f"no player {user!r} has played at this provider")
        call.session = session
        return {"balance": session.wallet.available_minor}

    # --- render ----------------------------------------------------------------------------------

    def render_ok(self, call: Call, payload: dict) -> WalletResponse:
        return WalletResponse(200, payload, protocol_status="200")

    def render_error(self, call: Call | None, error: WalletError) -> WalletResponse:
        if isinstance(error, AnsweredAsRolledBack):
            return WalletResponse(200, error.payload, protocol_status="200")
        if isinstance(error, UnknownOperation):
            http, code = 404, 404
        elif isinstance(error, MethodNotAllowed):
            http, code = 405, 400
        else:
            http, code = STATUSES.get(error.code) or (500, 500)
            if code is None:  # a rolled-back action outside a play: not expected
                http, code = 500, 500
        body = {"code": code, "message": self._message(code, error)}
        balance = error.balance_minor
        session = call.session if call else None
        if balance is None and session is not None:
            balance = session.wallet.available_minor
        if balance is not None:
            body["balance"] = balance
        return WalletResponse(http, body, protocol_status=f"{http}/{code}")

    def _message(self, code: int, error: WalletError) -> str:
        if isinstance(error, (InvalidSignature, SignatureExpired)):
            return SIGN_MISMATCH
        text = MESSAGES.get(code, MESSAGES[500])
        explained = code in _EXPLAINED or error.message != type(error).default_message
        if explained and error.message:
            return f"{text.rstrip('.')}: {error.message}"
        return text
