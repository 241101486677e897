"""The provider-facing wallet API (contract: docs/wallet-api.md).

Each view parses and authenticates, calls one ledger function and renders. Every call, refused
or not, is reported to the monitoring hook with its outcome and wallet-side latency.
"""

import copy
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from wallets import crypto, hooks, ledger
from wallets.currencies import is_known
from wallets.errors import (
    CurrencyMismatch,
    InternalError,
    InvalidAmount,
    InvalidToken,
    ServiceUnavailable,
    WalletError,
)
from wallets.models import Provider
from wallets.money import format_amount, parse_amount
from wallets.provider_api.auth import authenticate_provider, client_ip
from wallets.provider_api.parsing import (
    optional_bool,
    optional_str,
    parse_body,
    required_amount,
    required_str,
)
from wallets.selectors import LiveSession, live_session

logger = logging.getLogger("pitboss.wallet_api")
UNKNOWN_PROVIDER = "unknown"


@dataclass
class Call:
    """One wallet API call as it is being handled."""

    provider: Provider
    data: dict
    context: ledger.CallContext
    session: LiveSession | None = None
    provider_status: str = ""
    lock_wait_us: int = 0
    duplicate: bool = False

    def resolve_session(self) -> LiveSession:
        """The session the token names at this provider, read in one query together with its
        player, its wallet and the provider's current status (never taken from the cache)."""
        token = required_str(self.data, "session_token", max_length=256)
        found = live_session(self.provider.pk, crypto.token_hash(token))
        if found is None:
            raise InvalidToken()
        self.session, self.provider_status = found
        return self.session

    def money(self, session: LiveSession | None) -> tuple[int, str, object]:
        """(amount in minor units, currency, rounding residue or None) of a bet or win.

        The amount is read in the currency the caller named; the ledger then compares that
        currency with the session's, after its idempotency check, so a replay in another
        currency is a DUPLICATE_MISMATCH and a new call a CURRENCY_MISMATCH.
        """
        raw = required_amount(self.data)
        currency = required_str(self.data, "currency", max_length=16)
        if not is_known(currency):
            expected = f" ({session.currency})" if session is not None else ""
            raise CurrencyMismatch(f"currency must be the session's{expected}", field="currency")
        parsed = parse_amount(raw, currency, rounding_mode=self.provider.rounding_mode or None)
        residue = parsed.rounding_residue if parsed.rounding_residue else None
        return parsed.minor, currency, residue

    def session_for(self, read_fields: Callable[[LiveSession | None], dict]):
        """(what to book against, the call's fields). When every field is good, the session's
        token alone: the ledger function reads the session in the same round trip. Otherwise
        the session is read first, as for every other operation, so errors come in the
        contract's order (an unknown token before a bad field) and carry the balance."""
        try:
            token = required_str(self.data, "session_token", max_length=256)
            fields = read_fields(None)
        except WalletError:
            session = self.resolve_session()
            return session, read_fields(session)
        return ledger.SessionToken(crypto.token_hash(token)), fields


def _money_fields(result: ledger.LedgerResult) -> dict:
    return {
        "balance": format_amount(result.available_minor, result.currency),
        "currency": result.currency,
    }


def _transaction_fields(call: Call, result: ledger.LedgerResult) -> dict:
    call.lock_wait_us = result.lock_wait_us
    call.duplicate = result.duplicate
    return {
        **_money_fields(result),
        "transaction_id": call.data["transaction_id"],
        "wallet_transaction_id": str(result.row.pk),
        "duplicate": result.duplicate,
    }


def op_authenticate(call: Call) -> dict:
    session = call.resolve_session()
    provider = copy.copy(call.provider)  # the cached one is shared: never change it
    provider.status = call.provider_status
    session = ledger.authenticate(provider=provider, session=session)
    wallet = session.wallet  # read with the session a moment ago; authenticate moves no money
    return {
        "player_id": session.player.external_id,
        "currency": session.currency,
        "balance": format_amount(wallet.available_minor, wallet.currency),
        "session_id": str(session.pk),
    }


def op_balance(call: Call) -> dict:
    session = call.resolve_session()
    ledger.touch_session(session)
    wallet = session.wallet  # read with the session: no second query for a read-only call
    return {
        "balance": format_amount(wallet.available_minor, wallet.currency),
        "currency": wallet.currency,
    }


def _bet_fields(call: Call, session: LiveSession | None) -> dict:
    fields = {
        "transaction_id": required_str(call.data, "transaction_id"),
        "round_id": required_str(call.data, "round_id"),
        "game_id": optional_str(call.data, "game_id"),
    }
    fields["amount_minor"], fields["currency"], fields["rounding_residue"] = call.money(session)
    if fields["amount_minor"] == 0:
        # The ledger takes zero stakes for protocols that send them; this contract does not.
        raise InvalidAmount("a bet must be greater than zero", field="amount")
    return fields


def op_bet(call: Call) -> dict:
    session, fields = call.session_for(lambda session: _bet_fields(call, session))
    result = ledger.bet(provider=call.provider, session=session, context=call.context, **fields)
    return _transaction_fields(call, result)


def _win_fields(call: Call, session: LiveSession | None) -> dict:
    fields = {
        "transaction_id": required_str(call.data, "transaction_id"),
        "round_id": required_str(call.data, "round_id"),
        "round_closed": optional_bool(call.data, "round_closed"),
        "reference_transaction_id": optional_str(call.data, "reference_transaction_id"),
    }
    fields["amount_minor"], fields["currency"], fields["rounding_residue"] = call.money(session)
    return fields


def op_win(call: Call) -> dict:
    session, fields = call.session_for(lambda session: _win_fields(call, session))
    result = ledger.win(provider=call.provider, session=session, context=call.context, **fields)
    return _transaction_fields(call, result)


def op_rollback(call: Call) -> dict:
    session = call.resolve_session()
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


def op_round_close(call: Call) -> dict:
    session = call.resolve_session()
    round_id = required_str(call.data, "round_id")
    result = ledger.close_round(provider=call.provider, session=session, round_id=round_id)
    call.lock_wait_us = result.lock_wait_us
    return _money_fields(result)


def op_session_close(call: Call) -> dict:
    session = call.resolve_session()
    return _money_fields(ledger.close_session_by_provider(provider=call.provider, session=session))


OPERATIONS: dict[str, Callable[[Call], dict]] = {
    "authenticate": op_authenticate,
    "balance": op_balance,
    "bet": op_bet,
    "win": op_win,
    "rollback": op_rollback,
    "round/close": op_round_close,
    "session/close": op_session_close,
}


@dataclass(frozen=True)
class WalletResponse:
    """A wallet API answer: status, JSON payload and any extra header. Through Django it becomes
    an HttpResponse (`as_django`); the wallet API's own way in (wsgi.py) writes it directly."""

    status: int
    payload: dict
    headers: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()

    def as_django(self) -> HttpResponse:
        response = HttpResponse(self.content(), status=self.status, content_type="application/json")
        for name, value in self.headers:
            response[name] = value
        return response


def _error_payload(error: WalletError, session: LiveSession | None) -> dict:
    payload = {"status": "ERROR", "code": error.code, "message": error.message}
    if error.field:
        payload["field"] = error.field
    balance_minor, currency = error.balance_minor, error.currency
    if balance_minor is None and session is not None:
        # As read with the session a moment ago: errors raised before any money moved.
        balance_minor, currency = session.wallet.available_minor, session.wallet.currency
    if balance_minor is not None and currency:
        payload["balance"] = format_amount(balance_minor, currency)
        payload["currency"] = currency
    return payload


def handle(request, operation: str) -> WalletResponse:
    started = time.perf_counter()
    call: Call | None = None
    address: str | None = None
    try:
        if request.method != "POST":
            response = WalletResponse(
                405,
                {"status": "ERROR", "code": "VALIDATION_ERROR", "message": "use POST"},
                headers=(("Allow", "POST"),),
            )
            outcome = "VALIDATION_ERROR"  # counted like any other call (rule 7)
        else:
            address = client_ip(request)
            provider = authenticate_provider(request, address=address)
            call = Call(
                provider=provider,
                data={},
                context=ledger.CallContext(
                    client_ip=address, request_id=request.request_id, started=started
                ),
            )
            call.data = parse_body(request.body)
            if hooks.request_inspectors:
                inspection = hooks.InspectedRequest(
                    provider=provider,
                    operation=operation,
                    data=call.data,
                    client_ip=address,
                    is_secure=request.is_secure(),
                    request_id=request.request_id,
                    request_id_from_caller=request.request_id_from_caller,
                )
                hooks.inspect_request(inspection)
                call.data = inspection.data
                if inspection.request_id != request.request_id:
                    request.request_id = inspection.request_id
                    call.context = dataclasses.replace(
                        call.context, request_id=inspection.request_id
                    )
            payload = OPERATIONS[operation](call)
            response = WalletResponse(200, {"status": "OK", **payload})
            outcome = "OK"
    except WalletError as error:
        response = WalletResponse(error.http_status, _error_payload(error, call and call.session))
        outcome = error.code
    except (OperationalError, InterfaceError):
        logger.warning("database unavailable during %s", operation, exc_info=True)
        error = ServiceUnavailable()
        response = WalletResponse(error.http_status, _error_payload(error, None))
        outcome = error.code
    except Exception:
        logger.exception("wallet API %s failed", operation)
        error = InternalError()
        response = WalletResponse(error.http_status, _error_payload(error, None))
        outcome = error.code
    provider = getattr(request, "wallet_provider", None)
    hooks.observe_call(
        hooks.CallObservation(
            # Calls naming no known provider are counted together, so that a stranger cannot
            # create metric keys at will.
            provider_code=provider.code if provider else UNKNOWN_PROVIDER,
            provider_id=provider.pk if provider else None,
            operation=operation,
            outcome=outcome,
            latency_us=int((time.perf_counter() - started) * 1_000_000),
            lock_wait_us=call.lock_wait_us if call else 0,
            duplicate=call.duplicate if call else False,
            client_ip=address,
            request_id=request.request_id,
        )
    )
    return response


def wallet_view(operation: str):
    @csrf_exempt
    def view(request):
        return handle(request, operation).as_django()

    view.__name__ = f"wallet_{operation.replace('/', '_')}"
    return view
