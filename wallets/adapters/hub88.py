"""Hub88's operator wallet API (the RS_* family, Caleta's `/wallet/*` spelling included), at
/wallet/hub88/<provider code>/. The integrator's page: docs/integrations/hub88.md.

Authenticate: `X-Hub88-Signature` (Caleta: `X-Auth-Signature`) is the base64 RSA PKCS#1 v1.5
SHA-256 signature of the raw body, verified with the provider's RSA public key (a credential
of kind rsa; rotation overlap as for every credential). Parse: a strict JSON object; amounts
are integers of 1/100,000 of the currency's major unit. Call: the ledger, with wins naming
their bet (`reference_transaction_uuid`) and rollbacks that may reverse a win. Render: HTTP
200 always, `{"user", "status", "request_uuid", "currency", "balance"}` with `status` RS_OK or
RS_ERROR_*; the balance (in the same units) comes with RS_ERROR_NOT_ENOUGH_MONEY and every
error where the player is known.

Choices where the sources disagree (written down in the integration page): a win after its bet
was rolled back is RS_ERROR_TRANSACTION_ROLLED_BACK (Hub88's own wrapper and Caleta) rather
than RS_ERROR_TRANSACTION_DOES_NOT_EXIST; tokens are not checked for wins and rollbacks (they
may come long after the session); an `is_free` bet is a stake the promotion pays: booked at
zero, its win a free-round credit.
"""

import base64
from decimal import Decimal

from wallets import crypto, ledger
from wallets.adapters import credentials
from wallets.adapters.base import Adapter, Call, UnknownOperation, WalletResponse
from wallets.adapters.fields import (
    WrongType,
    optional_bool,
    optional_str,
    parse_body,
    required_int,
    required_str,
)
from wallets.choices import CredentialKind, CreditType, ProviderProtocol
from wallets.currencies import exponent, is_known
from wallets.errors import CurrencyMismatch, InvalidSignature, InvalidToken, WalletError
from wallets.models import Player, Transaction
from wallets.money import parse_amount
from wallets.selectors import live_session, session_identity

UNITS_PER_MAJOR = 100_000

# The ledger's outcome codes, as Hub88 names them. A code with no counterpart is
# RS_ERROR_UNKNOWN (Hub88 retries it, which is right for a fault, harmless for the rest).
STATUSES = {
    "VALIDATION_ERROR": "RS_ERROR_WRONG_SYNTAX",
    "INVALID_AMOUNT": "RS_ERROR_WRONG_TYPES",
    "CURRENCY_MISMATCH": "RS_ERROR_WRONG_CURRENCY",
    "INVALID_SIGNATURE": "RS_ERROR_INVALID_SIGNATURE",
    "SIGNATURE_EXPIRED": "RS_ERROR_INVALID_SIGNATURE",
    "INVALID_TOKEN": "RS_ERROR_INVALID_TOKEN",
    "SESSION_EXPIRED": "RS_ERROR_TOKEN_EXPIRED",
    "INSUFFICIENT_FUNDS": "RS_ERROR_NOT_ENOUGH_MONEY",
    "IP_NOT_ALLOWED": "RS_ERROR_INVALID_PARTNER",
    "PROVIDER_SUSPENDED": "RS_ERROR_INVALID_PARTNER",
    "PROVIDER_RESTRICTED": "RS_ERROR_INVALID_PARTNER",
    "PLAYER_BLOCKED": "RS_ERROR_USER_DISABLED",
    "LIMIT_EXCEEDED": "RS_ERROR_LIMIT_REACHED",
    "BET_DECLINED": "RS_ERROR_UNKNOWN",
    "INVALID_REFERENCE": "RS_ERROR_TRANSACTION_DOES_NOT_EXIST",
    "BET_NOT_FOUND": "RS_ERROR_TRANSACTION_DOES_NOT_EXIST",
    "DUPLICATE_MISMATCH": "RS_ERROR_DUPLICATE_TRANSACTION",
    "TRANSACTION_ROLLED_BACK": "RS_ERROR_TRANSACTION_ROLLED_BACK",
    "ROUND_CLOSED": "RS_ERROR_UNKNOWN",
    "BET_SETTLED": "RS_ERROR_UNKNOWN",
    "ROUND_SETTLED": "RS_ERROR_UNKNOWN",
    "SESSION_LIMIT": "RS_ERROR_UNKNOWN",
    "INTERNAL_ERROR": "RS_ERROR_UNKNOWN",
    "SERVICE_UNAVAILABLE": "RS_ERROR_UNKNOWN",
}


def to_minor(units: int, currency: str, rounding_mode: str | None):
    """Hub88 units (1/100,000 of a major unit) as the ledger's minor units, with the residue
    when the provider's rounding mode had to round."""
    return parse_amount(Decimal(units).scaleb(-5), currency, rounding_mode=rounding_mode)


def to_units(minor: int, currency: str) -> int:
    """Minor units as Hub88 units (exact: every currency has at most 5 decimals)."""
    return minor * UNITS_PER_MAJOR // 10 ** exponent(currency)


class Hub88Adapter(Adapter):
    name = ProviderProtocol.HUB88
    title = "Hub88 operator wallet API"
    operations = {
        "user/info": ("authenticate", "op_user_info"),
        "user/balance": ("balance", "op_balance"),
        "transaction/bet": ("bet", "op_bet"),
        "transaction/win": ("win", "op_win"),
        "transaction/rollback": ("rollback", "op_rollback"),
        # Caleta's spelling of the same operations.
        "wallet/balance": ("balance", "op_balance"),
        "wallet/bet": ("bet", "op_bet"),
        "wallet/win": ("win", "op_win"),
        "wallet/rollback": ("rollback", "op_rollback"),
    }

    # --- authenticate --------------------------------------------------------------------------

    def authenticate(self, request, known: credentials.KnownProvider) -> None:
        header = request.headers.get("X-Hub88-Signature", "") or request.headers.get(
            "X-Auth-Signature", ""
        )
        if not header:
            raise InvalidSignature("X-Hub88-Signature is required")
        try:
            signature = base64.b64decode(header.encode("latin-1"), validate=True)
        except ValueError:
            raise InvalidSignature("X-Hub88-Signature is not base64") from None
        body = request.body
        _, matched = credentials.find_credential(
            known,
            lambda credential: credentials.rsa_sha256_matches(
                credential.public_key, body, signature
            ),
            kinds=(CredentialKind.RSA,),
        )
        if matched is None:
            raise InvalidSignature()

    # --- parse -----------------------------------------------------------------------------------

    def parse(self, operation: str, request) -> dict:
        data = parse_body(request.body)
        # Echoed in every answer, also an error: read first, so a bad field still echoes it.
        uuid = data.get("request_uuid")
        request.hub88_echo = {
            "user": data.get("user") if isinstance(data.get("user"), str) else None,
            "request_uuid": uuid if isinstance(uuid, str) else None,
        }
        required_str(data, "request_uuid")
        required_str(data, "user")
        return data

    def _money(self, call: Call) -> tuple[int, str, object]:
        """(minor units, currency, rounding residue or None) of the call's amount, read in the
        currency it names; the ledger compares that with the session's (after its
        idempotency check: a replay in another currency is a duplicate mismatch)."""
        units = required_int(call.data, "amount")
        currency = required_str(call.data, "currency", max_length=16)
        if not is_known(currency):
            raise CurrencyMismatch(f"unknown currency {currency!r}")
        parsed = to_minor(units, currency, call.provider.rounding_mode or None)
        return parsed.minor, currency, parsed.rounding_residue or None

    def _book(self, call: Call, read, book, *, by_reference: str = ""):
        """Book with the token alone (the ledger function reads the session in the same round
        trip) when the token's session is the `user`'s; otherwise, and when the ledger does
        not know the token, the session is read first and the refusal says exactly why (and
        carries the balance). `read()` reads the call's fields, `book(session, fields)` calls
        the ledger."""
        user = required_str(call.data, "user")
        token = required_str(call.data, "token", max_length=256)
        token_hash = crypto.token_hash(token)
        identity = session_identity(call.provider.pk, token_hash)
        if identity is not None and identity.player_external_id == user:
            try:
                fields = read()
            except WalletError:
                self._session(call, by_reference=by_reference)  # for the refusal's balance
                raise
            try:
                return book(ledger.SessionToken(token_hash, player_ref=user), fields)
            except InvalidToken:
                pass  # gone since: read it, and say why
        session = self._session(call, by_reference=by_reference)
        return book(session, read())

    # --- call ------------------------------------------------------------------------------------

    def _session(self, call: Call, *, by_reference: str = ""):
        """The session the token names, checked against `user`. Wins and rollbacks may come
        after the session (and its token) are gone: then the session of the transaction they
        name, if it is this user's."""
        user = required_str(call.data, "user")
        token = required_str(call.data, "token", max_length=256)
        found = live_session(call.provider.pk, crypto.token_hash(token))
        if found is not None:
            session, call.provider_status = found
            if session.player.external_id != user:
                raise InvalidToken("the token is another user's")
            call.session = session
            return session
        if by_reference:
            row = (
                Transaction.objects.filter(
                    provider=call.provider,
                    external_id=by_reference,
                    player__external_id=user,
                    session__isnull=False,
                )
                .select_related("session__wallet", "session__player")
                .first()
            )
            if row is not None:
                call.session = row.session
                return row.session
        raise InvalidToken()

    def _answer(self, call: Call, result: ledger.LedgerResult) -> dict:
        call.note(result)
        return {
            "currency": result.currency,
            "balance": to_units(result.available_minor, result.currency),
        }

    def op_user_info(self, call: Call) -> dict:
        session = self._session(call)
        country, registered = Player.objects.values_list("country", "created_at").get(
            pk=session.player_id
        )
        return {
            "country": country,
            "currency": session.currency,
            "registration_date": registered.date().isoformat(),
        }

    def op_balance(self, call: Call) -> dict:
        session = self._session(call)
        ledger.touch_session(session)
        wallet = session.wallet
        return {
            "currency": wallet.currency,
            "balance": to_units(wallet.available_minor, wallet.currency),
        }

    def op_bet(self, call: Call) -> dict:
        def read():
            transaction_id = required_str(call.data, "transaction_uuid")
            round_id = required_str(call.data, "round")
            amount_minor, currency, residue = self._money(call)
            if optional_bool(call.data, "is_free"):
                # The promotion pays the stake: nothing leaves the player's balance.
                amount_minor, residue = 0, None
            return transaction_id, round_id, amount_minor, currency, residue, self._game(call)

        def book(session, fields):
            transaction_id, round_id, amount_minor, currency, residue, game_id = fields
            return ledger.bet(
                provider=call.provider,
                session=session,
                transaction_id=transaction_id,
                round_id=round_id,
                amount_minor=amount_minor,
                currency=currency,
                game_id=game_id,
                rounding_residue=residue,
                context=call.context,
            )

        return self._answer(call, self._book(call, read, book))

    def op_win(self, call: Call) -> dict:
        reference = optional_str(call.data, "reference_transaction_uuid")

        def read():
            transaction_id = required_str(call.data, "transaction_uuid")
            round_id = required_str(call.data, "round")
            amount_minor, currency, residue = self._money(call)
            free = optional_bool(call.data, "is_free")
            supplier_promo = optional_bool(call.data, "is_supplier_promo")
            credit_type = (
                CreditType.FREE_ROUND if free else (CreditType.PROMO if supplier_promo else "")
            )
            closed = optional_bool(call.data, "round_closed")
            return transaction_id, round_id, amount_minor, currency, residue, credit_type, closed

        def book(session, fields):
            transaction_id, round_id, amount_minor, currency, residue, credit_type, closed = fields
            return ledger.win(
                provider=call.provider,
                session=session,
                transaction_id=transaction_id,
                round_id=round_id,
                amount_minor=amount_minor,
                currency=currency,
                round_closed=closed,
                reference_transaction_id=reference,
                rounding_residue=residue,
                # A win names its bet; a supplier's promotion may come without one.
                requires_bet=credit_type != CreditType.PROMO,
                credit_type=credit_type,
                context=call.context,
            )

        return self._answer(call, self._book(call, read, book, by_reference=reference))

    def op_rollback(self, call: Call) -> dict:
        reference = required_str(call.data, "reference_transaction_uuid")
        session = self._session(call, by_reference=reference)
        result = ledger.rollback(
            provider=call.provider,
            session=session,
            transaction_id=required_str(call.data, "transaction_uuid"),
            reference_transaction_id=reference,
            round_id=optional_str(call.data, "round"),
            allow_win=True,
            context=call.context,
        )
        # An unknown reference: RS_OK with the balance (the tombstone refuses a late bet).
        return self._answer(call, result)

    def _game(self, call: Call) -> str:
        game = call.data.get("game_code", call.data.get("game_id"))
        if game is None:
            return ""
        if isinstance(game, bool) or not isinstance(game, (str, int, Decimal)):
            raise WrongType("game_code must be a string", field="game_code")
        return str(game)[:128]

    # --- render ----------------------------------------------------------------------------------

    def _echo(self, call: Call | None) -> dict:
        echo = getattr(call.request, "hub88_echo", None) if call else None
        return echo or {"user": None, "request_uuid": None}

    def render_ok(self, call: Call, payload: dict) -> WalletResponse:
        body = {**self._echo(call), "status": "RS_OK", **payload}
        return WalletResponse(200, body, protocol_status="RS_OK")

    def render_error(self, call: Call | None, error: WalletError) -> WalletResponse:
        status = STATUSES.get(error.code, "RS_ERROR_UNKNOWN")
        if isinstance(error, WrongType):
            status = "RS_ERROR_WRONG_TYPES"
        if isinstance(error, UnknownOperation):
            return WalletResponse(404, {"status": status}, protocol_status=status)
        body = {**self._echo(call), "status": status}
        balance_minor, currency = error.balance_minor, error.currency
        session = call.session if call else None
        if balance_minor is None and session is not None:
            wallet = session.wallet
            balance_minor, currency = wallet.available_minor, wallet.currency
        if balance_minor is not None and currency:
            body["currency"] = currency
            body["balance"] = to_units(balance_minor, currency)
        return WalletResponse(200, body, protocol_status=status)
