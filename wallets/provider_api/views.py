"""The provider-facing wallet API (contract: shared/wallet-api.md).

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

from wallets import crypto, db, hooks, ledger
from wallets.currencies import is_known
from wallets.errors import (
    CurrencyMismatch,
    InternalError,
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

logger = logging.getLogger("pitboss.wallet_api")
UNKNOWN_PROVIDER = "unknown"

_SESSION_SQL = """
SELECT s.id, s.status, s.currency, s.game_id, s.authenticated_at, s.reserved_minor, s.player_id,
       s.wallet_id, pl.external_id, pl.status, w.balance_minor, w.reserved_minor, p.status
FROM wallets_gamesession s
JOIN wallets_player pl ON pl.id = s.player_id
JOIN wallets_wallet w ON w.id = s.wallet_id
JOIN wallets_provider p ON p.id = s.provider_id
WHERE s.token_hash = %s AND s.provider_id = %s
"""


@dataclass(slots=True)
class LivePlayer:
    pk: int
    external_id: str
    status: str


@dataclass(slots=True)
class LiveWallet:
    pk: int
    currency: str
    balance_minor: int
    reserved_minor: int

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.reserved_minor


@dataclass(slots=True)
class LiveSession:
    """A game session as one wallet call read it, with its player and wallet: what the ledger
    functions read of a GameSession (they take either). Plain objects: building three model
    instances per call cost a quarter of the call's Python time."""

    pk: int
    status: str
    currency: str
    game_id: str
    authenticated_at: object
    reserved_minor: int
    provider_id: int
    player_id: int
    wallet_id: int
    player: LivePlayer
    wallet: LiveWallet
    last_activity_at: object = None


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
        row = db.fetch_one(_SESSION_SQL, [crypto.token_hash(token), self.provider.pk])
        if row is None:
            raise InvalidToken()
        (pk, status, currency, game_id, authenticated_at, reserved_minor, player_id, wallet_id,
         player_external_id, player_status, balance_minor, wallet_reserved_minor,
         provider_status) = row  # fmt: skip
        session = LiveSession(
            pk=pk,
            status=status,
            currency=currency,
            game_id=game_id,
            authenticated_at=authenticated_at,
            reserved_minor=reserved_minor,
            provider_id=self.provider.pk,
            player_id=player_id,
            wallet_id=wallet_id,
            player=LivePlayer(pk=player_id, external_id=player_external_id, status=player_status),
            wallet=LiveWallet(
                pk=wallet_id,
                currency=currency,
                balance_minor=balance_minor,
                reserved_minor=wallet_reserved_minor,
            ),
        )
        self.session = session
        self.provider_status = provider_status
        return session

    def money(self, session: LiveSession) -> tuple[int, str, object]:
        """(amount in minor units, currency, rounding residue or None) of a bet or win.

        The amount is read in the currency the caller named; the ledger then compares that
        currency with the session's, after its idempotency check, so a replay in another
        currency is a DUPLICATE_MISMATCH and a new call a CURRENCY_MISMATCH.
        """
        raw = required_amount(self.data)
        currency = required_str(self.data, "currency", max_length=16)
        if not is_known(currency):
            raise CurrencyMismatch(
                f"currency must be the session's ({session.currency})", field="currency"
            )
        parsed = parse_amount(raw, currency, rounding_mode=self.provider.rounding_mode or None)
        residue = parsed.rounding_residue if parsed.rounding_residue else None
        return parsed.minor, currency, residue


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
        "wallet_transaction_id": str(result.transaction.pk),
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


def op_bet(call: Call) -> dict:
    session = call.resolve_session()
    transaction_id = required_str(call.data, "transaction_id")
    round_id = required_str(call.data, "round_id")
    game_id = optional_str(call.data, "game_id")
    amount_minor, currency, residue = call.money(session)
    result = ledger.bet(
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
    return _transaction_fields(call, result)


def op_win(call: Call) -> dict:
    session = call.resolve_session()
    transaction_id = required_str(call.data, "transaction_id")
    round_id = required_str(call.data, "round_id")
    round_closed = optional_bool(call.data, "round_closed")
    reference = optional_str(call.data, "reference_transaction_id")
    amount_minor, currency, residue = call.money(session)
    result = ledger.win(
        provider=call.provider,
        session=session,
        transaction_id=transaction_id,
        round_id=round_id,
        amount_minor=amount_minor,
        currency=currency,
        round_closed=round_closed,
        reference_transaction_id=reference,
        rounding_residue=residue,
        context=call.context,
    )
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


def _json_response(payload: dict, status: int) -> HttpResponse:
    return HttpResponse(
        json.dumps(payload, separators=(",", ":")), status=status, content_type="application/json"
    )


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


def handle(request, operation: str) -> HttpResponse:
    started = time.perf_counter()
    call: Call | None = None
    address: str | None = None
    try:
        if request.method != "POST":
            response = _json_response(
                {"status": "ERROR", "code": "VALIDATION_ERROR", "message": "use POST"}, 405
            )
            response["Allow"] = "POST"
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
            response = _json_response({"status": "OK", **payload}, 200)
            outcome = "OK"
    except WalletError as error:
        response = _json_response(_error_payload(error, call and call.session), error.http_status)
        outcome = error.code
    except (OperationalError, InterfaceError):
        logger.warning("database unavailable during %s", operation, exc_info=True)
        error = ServiceUnavailable()
        response = _json_response(_error_payload(error, None), error.http_status)
        outcome = error.code
    except Exception:
        logger.exception("wallet API %s failed", operation)
        error = InternalError()
        response = _json_response(_error_payload(error, None), error.http_status)
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
        return handle(request, operation)

    view.__name__ = f"wallet_{operation.replace('/', '_')}"
    return view
