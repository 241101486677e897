"""Evolution's One Wallet (the operator's side of Evolution's seamless wallet), at
/wallet/evolution/<provider code>/. The integrator's page: docs/integrations/evolution.md.

Authenticate: the shared secret in the `authToken` query parameter, compared in constant time
with the provider's secret (any unexpired, unrevoked one: rotation overlap). Parse: a strict
JSON object; `sid` is the session token, `userId` the player's external id, amounts are JSON
numbers in major units. Call: check renews the sid (the old one stops working at once);
debit, credit and cancel name their bet by `transaction.refId`, which is the ledger's round
(one bet per refId); cancel reuses its debit's transaction id (its own id lives in the
ledger's "cancel" namespace); promo_payout is a credit without a stake. Render: HTTP 200 with
`{"status", "balance", "bonus", "uuid"}` (check and sid: `{"status", "sid", "uuid"}`), the
balance and bonus as JSON numbers with six decimals, `uuid` echoed; the balance comes with
every error where the player is known, null where not.

Choices where the sources disagree (written down in the integration page):
- A wrong or missing authToken is INVALID_TOKEN_ID with HTTP 200 (the operator whose run of
  Evolution's own test tool is public answers so), not valkyrie's 401: Evolution reads the
  status word, and every other answer is 200.
- A valid sid sent with another userId: the per-provider option `user_mismatch_status`,
  INVALID_PARAMETER by default (Evolution's own test tool) or INVALID_SID (valkyrie's copy of
  Evolution's licensee tests). The sid stays valid.
- An exact replay of a debit is OK with the balance, nothing debited twice (valkyrie requires
  it, the tool accepts it); the same transaction id with another amount or refId is
  BET_ALREADY_EXIST.
- A second credit of a settled refId (a new transaction id) is BET_ALREADY_SETTLED, the
  balance unchanged; a replay of the same credit (the same transaction id) is OK.
- A second cancel, a cancel after the credit and a credit after the cancel are
  BET_ALREADY_SETTLED. A cancel of a debit never seen is BET_DOES_NOT_EXIST and is
  remembered: the debit, if it arrives later, is FINAL_ERROR_ACTION_FAILED.
- A cancel refunds the stored debit amount, whatever amount it carries.
- A replayed promo_payout is OK with the balance, paid once (valkyrie; the tool accepts it).
  Promotions are paid into the cash balance; `bonus` is always 0.
- Credits and cancels are accepted on an ended session (the bet exists: the player is paid or
  refunded); a sid replaced by check is unknown for every call (INVALID_SID).
- Internal faults and an unavailable database are TEMPORARY_ERROR (retryable) with HTTP 200.
- Refusals Evolution has no word for: a blocked player or a suspended provider is INVALID_SID
  (the session may not be used), a player-protection limit or a fraud decline
  FINAL_ERROR_ACTION_FAILED (refused for good, not to be retried).

The `sid` path is Evolution's test tool asking the operator for a fresh session of a user. It
exists only where the provider's option `test_launches` is true.
"""

import copy
import json
from decimal import Decimal

from django.db.models import Case, Q, When

from wallets import crypto, ledger, services
from wallets.adapters import credentials
from wallets.adapters.base import (
    Adapter,
    Call,
    MethodNotAllowed,
    Option,
    UnknownOperation,
    WalletResponse,
    query_params,
)
from wallets.adapters.fields import (
    WrongType,
    optional_object,
    optional_str,
    parse_body,
    required_amount,
    required_str,
)
from wallets.choices import (
    CredentialKind,
    CreditType,
    ProviderProtocol,
    SessionEndReason,
    SessionStatus,
    TransactionKind,
)
from wallets.currencies import is_known
from wallets.errors import (
    CurrencyMismatch,
    InvalidSignature,
    InvalidToken,
    NotAllowed,
    SessionExpired,
    SessionLimit,
    ValidationFailed,
    WalletError,
)
from wallets.models import GameSession, Player, Transaction
from wallets.money import format_amount, parse_amount
from wallets.selectors import live_session, player_session, session_identity

# The ledger's outcome codes, as Evolution names them.
STATUSES = {
    "VALIDATION_ERROR": "INVALID_PARAMETER",
    "INVALID_AMOUNT": "INVALID_PARAMETER",
    "CURRENCY_MISMATCH": "INVALID_PARAMETER",
    "INVALID_SIGNATURE": "INVALID_TOKEN_ID",
    "SIGNATURE_EXPIRED": "INVALID_TOKEN_ID",
    "IP_NOT_ALLOWED": "INVALID_TOKEN_ID",
    "INVALID_TOKEN": "INVALID_SID",
    "SESSION_EXPIRED": "INVALID_SID",
    "PROVIDER_SUSPENDED": "INVALID_SID",
    "PROVIDER_RESTRICTED": "INVALID_SID",
    "PLAYER_BLOCKED": "INVALID_SID",
    "INSUFFICIENT_FUNDS": "INSUFFICIENT_FUNDS",
    "LIMIT_EXCEEDED": "FINAL_ERROR_ACTION_FAILED",
    "BET_DECLINED": "FINAL_ERROR_ACTION_FAILED",
    "BET_NOT_FOUND": "BET_DOES_NOT_EXIST",
    "INVALID_REFERENCE": "BET_DOES_NOT_EXIST",
    "DUPLICATE_MISMATCH": "BET_ALREADY_EXIST",
    "TRANSACTION_ROLLED_BACK": "BET_ALREADY_SETTLED",
    "BET_SETTLED": "BET_ALREADY_SETTLED",
    "ROUND_SETTLED": "BET_ALREADY_SETTLED",
    "ROUND_CLOSED": "BET_ALREADY_SETTLED",
    "SESSION_LIMIT": "UNKNOWN_ERROR",
    "NOT_ALLOWED": "UNKNOWN_ERROR",
    "FOUR_EYES_REQUIRED": "UNKNOWN_ERROR",
    "INTERNAL_ERROR": "TEMPORARY_ERROR",
    "SERVICE_UNAVAILABLE": "TEMPORARY_ERROR",
}

# Where one operation names an outcome otherwise (by canonical operation).
OPERATION_STATUSES = {
    # The debit of a cancelled transaction (its cancel came first).
    "bet": {"TRANSACTION_ROLLED_BACK": "FINAL_ERROR_ACTION_FAILED"},
    # A credit, cancel or promo id used before with another payload: that bet or promotion
    # has been settled by it.
    "win": {"DUPLICATE_MISMATCH": "BET_ALREADY_SETTLED"},
    "rollback": {"DUPLICATE_MISMATCH": "BET_ALREADY_SETTLED"},
    "promo": {"DUPLICATE_MISMATCH": "BET_ALREADY_SETTLED"},
}

USER_MISMATCH_STATUSES = ("INVALID_PARAMETER", "INVALID_SID")

# promoTransaction.type -> what the revenue reports call the credit. Reward types are many
# (RewardGamePlayableSpent, RewardGameWinCapReached, ...): every "Reward..." is a reward; any
# other type, including ones Evolution adds later, is paid as a promotion.
PROMO_TYPES = {
    "FreeRoundPlayableSpent": CreditType.FREE_ROUND,
    "JackpotWin": CreditType.JACKPOT,
    "RtrMonetaryReward": CreditType.REWARD,
}

# Evolution's balances carry six decimals, whatever the currency's minor unit.
DECIMALS = 6


class UserMismatch(InvalidToken):
    """A known sid sent with another userId (the protocol option says how it is answered)."""

    default_message = "the sid is another user's"


def credit_type(promo_type: str) -> str:
    if promo_type in PROMO_TYPES:
        return PROMO_TYPES[promo_type]
    if promo_type.startswith("Reward"):
        return CreditType.REWARD
    return CreditType.PROMO


def six_decimals(minor: int, currency: str) -> Decimal:
    """`minor` as Evolution writes a balance: major units with exactly six decimals (exact)."""
    whole, _, fraction = format_amount(minor, currency).partition(".")
    return Decimal(f"{whole}.{fraction.ljust(DECIMALS, '0')}")


def dumps(payload: dict) -> bytes:
    """A flat JSON object whose Decimal values are written as JSON numbers from their exact
    text (json.dumps would refuse them, and a float would not keep 1.100000 as written)."""
    members = []
    for key, value in payload.items():
        text = format(value, "f") if isinstance(value, Decimal) else json.dumps(value)
        members.append(f"{json.dumps(key)}:{text}")
    return ("{" + ",".join(members) + "}").encode()


class EvolutionResponse(WalletResponse):
    """A WalletResponse whose exact decimal numbers stay as written."""

    def content(self) -> bytes:
        return dumps(self.payload)


def _member(data: dict, parent: str) -> dict:
    """A required member object (`transaction`, `promoTransaction`)."""
    if data.get(parent) is None:
        raise ValidationFailed(f"{parent} is required", field=parent)
    return optional_object(data, parent)


def _nested(read, obj: dict, parent: str, name: str, **options):
    """read(obj, name) with errors naming the field by its path (`transaction.id`)."""
    try:
        return read(obj, name, **options)
    except ValidationFailed as error:
        error.field = f"{parent}.{name}"
        error.message = f"{parent}.{error.message}"
        error.args = (error.message,)
        raise


class EvolutionAdapter(Adapter):
    name = ProviderProtocol.EVOLUTION
    title = "Evolution One Wallet"
    operations = {
        "check": ("authenticate", "op_check"),
        "balance": ("balance", "op_balance"),
        "debit": ("bet", "op_debit"),
        "credit": ("win", "op_credit"),
        "cancel": ("rollback", "op_cancel"),
        "promo_payout": ("promo", "op_promo_payout"),
        "sid": ("launch", "op_sid"),
    }
    options = {
        "user_mismatch_status": Option(
            default="INVALID_PARAMETER",
            choices=USER_MISMATCH_STATUSES,
            help="The answer to a valid sid sent with another userId: INVALID_PARAMETER "
            "(Evolution's test tool) or INVALID_SID (Evolution's licensee tests).",
        ),
        "test_launches": Option(
            default=False,
            help="Answer Evolution's test tool's `sid` call: a new session for a userId. "
            "For integration testing only.",
        ),
    }

    # --- authenticate --------------------------------------------------------------------------

    def authenticate(self, request, known: credentials.KnownProvider) -> None:
        offered = query_params(request).get("authToken", "")
        if not offered:
            raise InvalidSignature("the authToken query parameter is required")
        _, matched = credentials.find_credential(
            known,
            lambda credential: credentials.secret_matches(credential.secret, offered),
            kinds=(CredentialKind.HMAC,),
        )
        if matched is None:
            raise InvalidSignature("authToken is not the provider's")

    # --- parse -----------------------------------------------------------------------------------

    def parse(self, operation: str, request) -> dict:
        data = parse_body(request.body)
        # Echoed in every answer, also an error: read first, so a bad field still echoes it.
        uuid = data.get("uuid")
        request.evolution_uuid = uuid if isinstance(uuid, str) else None
        optional_str(data, "uuid", max_length=256)
        return data

    def _currency(self, call: Call, session) -> str:
        currency = required_str(call.data, "currency", max_length=16)
        if currency != session.currency:
            raise CurrencyMismatch(f"currency must be the session's ({session.currency})")
        return currency

    def _transaction(self, call: Call) -> tuple[str, str]:
        """(transaction.id, transaction.refId)."""
        transaction = _member(call.data, "transaction")
        return (
            _nested(required_str, transaction, "transaction", "id"),
            _nested(required_str, transaction, "transaction", "refId"),
        )

    def _amount(self, call: Call, parent: str, currency: str):
        raw = _nested(required_amount, _member(call.data, parent), parent, "amount")
        return parse_amount(
            raw,
            currency,
            rounding_mode=call.provider.rounding_mode or None,
            field=f"{parent}.amount",
        )

    def _game_round(self, call: Call) -> str:
        """Evolution's game round id (`game.id`): kept on the ledger row, for support."""
        game = optional_object(call.data, "game")
        return _nested(optional_str, game, "game", "id")

    # --- call ------------------------------------------------------------------------------------

    def _session(self, call: Call, *, open_only: bool = False):
        """The session of the sid, any status (credits and cancels may come after it ended),
        if it is `userId`'s; with `open_only`, an ended session is INVALID_SID."""
        sid = required_str(call.data, "sid", max_length=256)
        user = required_str(call.data, "userId")
        found = live_session(call.provider.pk, crypto.token_hash(sid))
        if found is None:
            raise InvalidToken("unknown sid")
        session, call.provider_status = found
        if session.player.external_id != user:
            raise UserMismatch()
        call.session = session
        if open_only and session.status != SessionStatus.OPEN:
            raise SessionExpired()
        return session

    def _answer(self, call: Call, result: ledger.LedgerResult, status: str = "OK") -> dict:
        call.note(result)
        return {
            "status": status,
            "balance_minor": result.available_minor,
            "currency": result.currency,
        }

    def op_sid(self, call: Call) -> dict:
        if not call.option("test_launches"):
            raise UnknownOperation("sid is for Evolution's test tool (option test_launches)")
        user = required_str(call.data, "userId")
        player = Player.objects.filter(external_id=user).first()
        if player is None:
            raise ValidationFailed("no player has this userId", field="userId")
        currency = optional_str(call.data, "currency", max_length=16) or player.currency
        if not is_known(currency):
            raise ValidationFailed(f"unknown currency {currency!r}", field="currency")
        try:
            _, token = ledger.open_session(player=player, provider=call.provider, currency=currency)
        except SessionLimit:
            # The tool launches a session per scenario: the player's least recently used
            # session here makes room (its sid stops working).
            oldest = (
                GameSession.objects.filter(
                    provider=call.provider, player=player, status=SessionStatus.OPEN
                )
                .order_by("last_activity_at", "id")
                .first()
            )
            if oldest is None:  # pragma: no cover - ended by someone else a moment ago
                raise
            ledger.end_session(
                session=oldest,
                status=SessionStatus.CLOSED,
                reason=SessionEndReason.GRACEFUL,
                note="replaced by a test launch (Evolution sid)",
                missing_ok=True,
            )
            _, token = ledger.open_session(player=player, provider=call.provider, currency=currency)
        return {"sid": token}

    def op_check(self, call: Call) -> dict:
        session = self._session(call, open_only=True)
        provider = copy.copy(call.provider)  # the cached one is shared: never change it
        provider.status = call.provider_status
        ledger.authenticate(provider=provider, session=session)
        try:
            return {"sid": services.reissue_session_token(session_pk=session.pk)}
        except NotAllowed:
            raise SessionExpired() from None

    def op_balance(self, call: Call) -> dict:
        session = self._session(call, open_only=True)
        if call.data.get("currency") is not None:
            self._currency(call, session)
        ledger.touch_session(session)
        wallet = session.wallet  # read with the session a moment ago
        return {
            "status": "OK",
            "balance_minor": wallet.available_minor,
            "currency": wallet.currency,
        }

    def _book(self, call: Call, read, book):
        """Book with the sid alone (the ledger function reads the session in the same round
        trip) when the sid's session is the `userId`'s; otherwise, and when the ledger does
        not know the sid, the session is read first and the refusal says exactly why (and
        carries the balance). `read(currency)` reads the call's fields, `book(session,
        currency, fields)` calls the ledger."""
        sid = required_str(call.data, "sid", max_length=256)
        user = required_str(call.data, "userId")
        token_hash = crypto.token_hash(sid)
        identity = session_identity(call.provider.pk, token_hash)
        if identity is not None and identity.player_external_id == user:
            try:
                currency = self._currency(call, identity)
                fields = read(currency)
            except WalletError:
                self._session(call)  # the refusal carries the balance
                raise
            try:
                return book(ledger.SessionToken(token_hash, player_ref=user), currency, fields)
            except InvalidToken:
                pass  # gone since: read it, and say why
        session = self._session(call)
        currency = self._currency(call, session)
        return book(session, currency, read(currency))

    def op_debit(self, call: Call) -> dict:
        def read(currency):
            transaction_id, ref_id = self._transaction(call)
            amount = self._amount(call, "transaction", currency)
            return transaction_id, ref_id, amount, self._game_round(call)

        def book(session, currency, fields):
            transaction_id, ref_id, amount, game_round = fields
            return ledger.bet(
                provider=call.provider,
                session=session,
                transaction_id=transaction_id,
                round_id=ref_id,
                amount_minor=amount.minor,
                currency=currency,
                game_id=game_round,
                rounding_residue=amount.rounding_residue or None,
                context=call.context,
            )

        return self._answer(call, self._book(call, read, book))

    def op_credit(self, call: Call) -> dict:
        def read(currency):
            transaction_id, ref_id = self._transaction(call)
            amount = self._amount(call, "transaction", currency)
            self._game_round(call)
            return transaction_id, ref_id, amount

        def book(session, currency, fields):
            transaction_id, ref_id, amount = fields
            return ledger.win(
                provider=call.provider,
                session=session,
                transaction_id=transaction_id,
                round_id=ref_id,
                amount_minor=amount.minor,
                currency=currency,
                # A credit settles its bet: once, and no later debit joins it.
                round_closed=True,
                requires_bet=True,
                settles_once=True,
                rounding_residue=amount.rounding_residue or None,
                context=call.context,
            )

        return self._answer(call, self._book(call, read, book))

    def op_cancel(self, call: Call) -> dict:
        session = self._session(call)
        self._currency(call, session)
        transaction_id, ref_id = self._transaction(call)
        self._game_round(call)
        # The amount is not read: the stored debit is refunded in full.
        result = ledger.rollback(
            provider=call.provider,
            session=session,
            transaction_id=transaction_id,
            reference_transaction_id=self._cancelled_debit(call, session, transaction_id, ref_id),
            round_id=ref_id,
            id_namespace="cancel",
            context=call.context,
        )
        if result.tombstone:
            # Remembered: the debit, if it comes now, is refused (FINAL_ERROR_ACTION_FAILED).
            return self._answer(call, result, "BET_DOES_NOT_EXIST")
        if result.duplicate:
            return self._answer(call, result, "BET_ALREADY_SETTLED")
        return self._answer(call, result)

    def _cancelled_debit(self, call: Call, session, transaction_id: str, ref_id: str) -> str:
        """The id of the debit a cancel names: its own transaction id (Evolution's cancel
        reuses the debit's), else the debit of its refId (a cancel sent with a new id), else
        its own id (no such debit yet: the ledger remembers the cancel for it)."""
        return (
            Transaction.objects.filter(
                provider=call.provider,
                player_id=session.player_id,
                kind=TransactionKind.BET,
                id_scope="",
            )
            .filter(Q(external_id=transaction_id) | Q(round_external_id=ref_id))
            .order_by(Case(When(external_id=transaction_id, then=0), default=1), "id")
            .values_list("external_id", flat=True)
            .first()
            or transaction_id
        )

    def op_promo_payout(self, call: Call) -> dict:
        session = self._promo_session(call)
        currency = self._currency(call, session)
        promo = _member(call.data, "promoTransaction")
        promo_id = _nested(required_str, promo, "promoTransaction", "id")
        # The type may be empty (valkyrie's copy sends none): paid as a promotion.
        promo_type = promo.get("type") or ""
        if not isinstance(promo_type, str):
            raise WrongType("promoTransaction.type must be a string", field="promoTransaction.type")
        voucher = promo.get("voucherId")
        amount = self._amount(call, "promoTransaction", currency)
        booked = GameSession.objects.select_related("player").get(pk=session.pk)
        note = f"Evolution {promo_type or 'promotion'}"
        if isinstance(voucher, str) and voucher:
            note += f", voucher {voucher}"
        result = ledger.credit_promo(
            provider=call.provider,
            player=booked.player,
            currency=currency,
            transaction_id=promo_id,
            amount_minor=amount.minor,
            credit_type=credit_type(promo_type),
            round_id=self._game_round(call),
            session=booked,
            id_namespace="promo",
            rounding_residue=amount.rounding_residue or None,
            note=note,
            context=call.context,
        )
        return self._answer(call, result)

    def _promo_session(self, call: Call):
        """The session of the sid; a promotion may be paid after it is gone (free rounds
        used up later): then the user's latest session here in that currency."""
        try:
            return self._session(call)
        except UserMismatch:
            raise
        except InvalidToken:
            user = required_str(call.data, "userId")
            currency = optional_str(call.data, "currency", max_length=16)
            session = player_session(call.provider.pk, user, currency=currency)
            if session is None:
                raise
            call.session = session
            return session

    # --- render ----------------------------------------------------------------------------------

    def _uuid(self, call: Call | None):
        return getattr(call.request, "evolution_uuid", None) if call else None

    def render_ok(self, call: Call, payload: dict) -> WalletResponse:
        if "sid" in payload:
            body = {"status": "OK", "sid": payload["sid"], "uuid": self._uuid(call)}
            return EvolutionResponse(200, body, protocol_status="OK")
        status = payload["status"]
        body = {
            "status": status,
            "balance": six_decimals(payload["balance_minor"], payload["currency"]),
            "bonus": six_decimals(0, payload["currency"]),
            "uuid": self._uuid(call),
        }
        return EvolutionResponse(200, body, protocol_status=status)

    def status_of(self, call: Call | None, error: WalletError) -> str:
        if isinstance(error, UserMismatch) and call is not None:
            return call.option("user_mismatch_status")
        if isinstance(error, WrongType):
            return "INVALID_PARAMETER"
        overrides = OPERATION_STATUSES.get(call.operation, {}) if call else {}
        return overrides.get(error.code) or STATUSES.get(error.code, "UNKNOWN_ERROR")

    def render_error(self, call: Call | None, error: WalletError) -> WalletResponse:
        status = self.status_of(call, error)
        http_status, headers = 200, ()
        if isinstance(error, UnknownOperation):
            http_status = 404
        elif isinstance(error, MethodNotAllowed):
            http_status, headers = 405, (("Allow", "POST"),)
        body = {"status": status, "balance": None, "bonus": None, "uuid": self._uuid(call)}
        balance_minor, currency = error.balance_minor, error.currency
        session = call.session if call else None
        if balance_minor is None and session is not None:
            wallet = session.wallet  # as read with the session: no money moved
            balance_minor, currency = wallet.available_minor, wallet.currency
        if balance_minor is not None and currency:
            body["balance"] = six_decimals(balance_minor, currency)
            body["bonus"] = six_decimals(0, currency)
        return EvolutionResponse(http_status, body, headers=headers, protocol_status=status)
