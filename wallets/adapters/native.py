"""The native protocol: Pitboss's own wallet API (docs/wallet-api.md), at /wallet/v1/<operation>.

Authenticate: HMAC-SHA256 of "<X-Timestamp>.<path>.<body>" with the provider's secret (or an
Ed25519 signature of the same), within WALLET_SIGNATURE_WINDOW_SECONDS. Parse: a strict JSON
object (wallets.adapters.fields). Call: one ledger function per operation. Render:
`{"status": "OK", ...}` or `{"status": "ERROR", "code", "message", "field", "balance",
"currency"}` with the code's HTTP status; amounts as decimal strings with the currency's
decimals.

A plain bet or win whose fields are all good is booked by the session token alone: the ledger
function reads the session in the same round trip. Otherwise (a bad field, or a call a fraud
rule could act on) the session is read first, so errors come in the contract's order (an
unknown token before a bad field) and carry the balance.
"""

import copy
import time
from collections.abc import Callable

from django.conf import settings
from django.views.decorators.csrf import csrf_exempt

from wallets import crypto, ledger
from wallets.adapters import credentials
from wallets.adapters.base import Adapter, Call, MethodNotAllowed, WalletResponse, serve
from wallets.adapters.fields import (
    optional_bool,
    optional_str,
    parse_body,
    required_amount,
    required_str,
)
from wallets.choices import CredentialKind, ProviderProtocol
from wallets.currencies import is_known
from wallets.errors import (
    CurrencyMismatch,
    InvalidAmount,
    InvalidSignature,
    InvalidToken,
    SignatureExpired,
    WalletError,
)
from wallets.money import format_amount, parse_amount
from wallets.selectors import LiveSession, live_session

PREFIX = "/wallet/v1/"


# --- call: the ledger, one function per operation --------------------------------------------


def resolve_session(call: Call) -> LiveSession:
    """The session the token names at this provider, read in one query together with its
    player, its wallet and the provider's current status (never taken from the cache)."""
    token = required_str(call.data, "session_token", max_length=256)
    found = live_session(call.provider.pk, crypto.token_hash(token))
    if found is None:
        raise InvalidToken()
    call.session, call.provider_status = found
    return call.session


def _money(call: Call, session: LiveSession | None) -> tuple[int, str, object]:
    """(amount in minor units, currency, rounding residue or None) of a bet or win.

    The amount is read in the currency the caller named; the ledger then compares that
    currency with the session's, after its idempotency check, so a replay in another currency
    is a DUPLICATE_MISMATCH and a new call a CURRENCY_MISMATCH.
    """
    raw = required_amount(call.data)
    currency = required_str(call.data, "currency", max_length=16)
    if not is_known(currency):
        expected = f" ({session.currency})" if session is not None else ""
        raise CurrencyMismatch(f"currency must be the session's{expected}", field="currency")
    parsed = parse_amount(raw, currency, rounding_mode=call.provider.rounding_mode or None)
    residue = parsed.rounding_residue if parsed.rounding_residue else None
    return parsed.minor, currency, residue


def _session_for(call: Call, read_fields: Callable[[LiveSession | None], dict]):
    """(what to book against, the call's fields). When every field is good, the session's
    token alone; otherwise the session is read first (errors in the contract's order)."""
    try:
        token = required_str(call.data, "session_token", max_length=256)
        fields = read_fields(None)
    except WalletError:
        session = resolve_session(call)
        return session, read_fields(session)
    return ledger.SessionToken(crypto.token_hash(token)), fields


def _money_fields(result: ledger.LedgerResult) -> dict:
    return {
        "balance": format_amount(result.available_minor, result.currency),
        "currency": result.currency,
    }


def _transaction_fields(call: Call, result: ledger.LedgerResult) -> dict:
    call.note(result)
    return {
        **_money_fields(result),
        "transaction_id": call.data["transaction_id"],
        "wallet_transaction_id": str(result.row.pk),
        "duplicate": result.duplicate,
    }


def _bet_fields(call: Call, session: LiveSession | None) -> dict:
    fields = {
        "transaction_id": required_str(call.data, "transaction_id"),
        "round_id": required_str(call.data, "round_id"),
        "game_id": optional_str(call.data, "game_id"),
    }
    fields["amount_minor"], fields["currency"], fields["rounding_residue"] = _money(call, session)
    if fields["amount_minor"] == 0:
        # The ledger takes zero stakes for protocols that send them; this contract does not.
        raise InvalidAmount("a bet must be greater than zero", field="amount")
    return fields


def _win_fields(call: Call, session: LiveSession | None) -> dict:
    fields = {
        "transaction_id": required_str(call.data, "transaction_id"),
        "round_id": required_str(call.data, "round_id"),
        "round_closed": optional_bool(call.data, "round_closed"),
        "reference_transaction_id": optional_str(call.data, "reference_transaction_id"),
    }
    fields["amount_minor"], fields["currency"], fields["rounding_residue"] = _money(call, session)
    return fields


class NativeAdapter(Adapter):
    name = ProviderProtocol.NATIVE
    title = "Pitboss wallet API"
    operations = {
        "authenticate": ("authenticate", "op_authenticate"),
        "balance": ("balance", "op_balance"),
        "bet": ("bet", "op_bet"),
        "win": ("win", "op_win"),
        "rollback": ("rollback", "op_rollback"),
        "round/close": ("round/close", "op_round_close"),
        "session/close": ("session/close", "op_session_close"),
    }

    # --- authenticate --------------------------------------------------------------------------

    def provider_code(self, request, url_code: str | None) -> str:
        code = request.headers.get("X-Provider-Code", "")
        if not code or not request.headers.get("X-Timestamp", ""):
            raise InvalidSignature("X-Provider-Code, X-Timestamp and X-Signature are required")
        if not request.headers.get("X-Signature", ""):
            raise InvalidSignature("X-Provider-Code, X-Timestamp and X-Signature are required")
        return code

    def authenticate(self, request, known: credentials.KnownProvider) -> None:
        """Any unexpired, unrevoked credential of the provider may have signed (rotation
        overlap): a shared secret (HMAC, compared in constant time) or an Ed25519 public key."""
        timestamp = request.headers.get("X-Timestamp", "")
        offered = request.headers.get("X-Signature", "")
        message = crypto.signed_message(timestamp, request.path, request.body)
        offered_bytes = offered.encode("latin-1", errors="replace")

        def matches(credential: credentials.Credential) -> bool:
            if credential.kind == CredentialKind.ED25519:
                return crypto.verify_ed25519(
                    credential.public_key, timestamp, request.path, request.body, offered_bytes
                )
            return credentials.hmac_hex_matches(credential.secret, message, offered)

        _, matched = credentials.find_credential(
            known, matches, kinds=(CredentialKind.HMAC, CredentialKind.ED25519)
        )
        if matched is None:
            raise InvalidSignature()
        # Plain ASCII digits only: int() would also take " 17", "+17", "1_7" and other digits.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise InvalidSignature("X-Timestamp must be Unix seconds")
        # Whole seconds on both sides: exactly 300 s apart is inside the window, 301 s is not.
        if abs(int(time.time()) - int(timestamp)) > settings.WALLET_SIGNATURE_WINDOW_SECONDS:
            raise SignatureExpired()

    # --- parse -----------------------------------------------------------------------------------

    def parse(self, operation: str, request) -> dict:
        return parse_body(request.body)

    # --- call ------------------------------------------------------------------------------------

    def op_authenticate(self, call: Call) -> dict:
        session = resolve_session(call)
        provider = copy.copy(call.provider)  # the cached one is shared: never change it
        provider.status = call.provider_status
        session = ledger.authenticate(provider=provider, session=session)
        wallet = session.wallet  # read with the session a moment ago; no money moved
        return {
            "player_id": session.player.external_id,
            "currency": session.currency,
            "balance": format_amount(wallet.available_minor, wallet.currency),
            "session_id": str(session.pk),
        }

    def op_balance(self, call: Call) -> dict:
        session = resolve_session(call)
        ledger.touch_session(session)
        wallet = session.wallet  # read with the session: no second query for a read
        return {
            "balance": format_amount(wallet.available_minor, wallet.currency),
            "currency": wallet.currency,
        }

    def op_bet(self, call: Call) -> dict:
        session, fields = _session_for(call, lambda session: _bet_fields(call, session))
        result = ledger.bet(provider=call.provider, session=session, context=call.context, **fields)
        return _transaction_fields(call, result)

    def op_win(self, call: Call) -> dict:
        session, fields = _session_for(call, lambda session: _win_fields(call, session))
        result = ledger.win(provider=call.provider, session=session, context=call.context, **fields)
        return _transaction_fields(call, result)

    def op_rollback(self, call: Call) -> dict:
        session = resolve_session(call)
        transaction_id = required_str(call.data, "transaction_id")
        reference = required_str(call.data, "reference_transaction_id")
        round_id = required_str(call.data, "round_id")
        result = ledger.rollback(
            provider=call.provider,
            session=session,
            transaction_id=transaction_id,
            reference_transaction_id=reference,
            round_id=round_id,
            context=call.context,
        )
        return _transaction_fields(call, result)

    def op_round_close(self, call: Call) -> dict:
        session = resolve_session(call)
        round_id = required_str(call.data, "round_id")
        result = ledger.close_round(provider=call.provider, session=session, round_id=round_id)
        call.lock_wait_us = result.lock_wait_us
        return _money_fields(result)

    def op_session_close(self, call: Call) -> dict:
        session = resolve_session(call)
        return _money_fields(
            ledger.close_session_by_provider(provider=call.provider, session=session)
        )

    # --- render ----------------------------------------------------------------------------------

    def render_ok(self, call: Call, payload: dict) -> WalletResponse:
        return WalletResponse(200, {"status": "OK", **payload}, protocol_status="OK")

    def render_error(self, call: Call | None, error: WalletError) -> WalletResponse:
        payload = {"status": "ERROR", "code": error.code, "message": error.message}
        if error.field:
            payload["field"] = error.field
        balance_minor, currency = error.balance_minor, error.currency
        session = call.session if call else None
        if balance_minor is None and session is not None:
            # As read with the session a moment ago: errors raised before any money moved.
            balance_minor, currency = session.wallet.available_minor, session.wallet.currency
        if balance_minor is not None and currency:
            payload["balance"] = format_amount(balance_minor, currency)
            payload["currency"] = currency
        headers = (("Allow", "POST"),) if isinstance(error, MethodNotAllowed) else ()
        return WalletResponse(
            error.http_status, payload, headers=headers, protocol_status=error.code
        )


ADAPTER = NativeAdapter()


def handle(request, operation: str) -> WalletResponse:
    """Serve one native wallet API call (`operation`: its path after /wallet/v1/)."""
    return serve(ADAPTER, request, operation)


def wallet_view(operation: str):
    @csrf_exempt
    def view(request):
        return handle(request, operation).as_django()

    view.__name__ = f"wallet_{operation.replace('/', '_')}"
    return view
