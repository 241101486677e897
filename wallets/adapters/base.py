"""What every protocol adapter shares: one way to serve a call, count it and answer it.

An adapter does four things and nothing else (see wallets/adapters/__init__.py): it
authenticates the request the protocol's way, parses its body into the ledger's operations,
calls the ledger (the same functions the native API calls) and renders the outcome as the
protocol answers. `serve` runs those steps for every protocol in the same order, with the same
hooks as the native API: the request inspectors (compliance: sensitive data) see the parsed
body, the call observers (monitoring) see every call, refused or not, with the canonical
outcome code beside the protocol's own status, and a database outage is answered as the
protocol's retryable error.
"""

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs

from django.db import InterfaceError, OperationalError

from wallets import hooks, ledger
from wallets.adapters import credentials
from wallets.errors import (
    InternalError,
    InvalidSignature,
    IpNotAllowed,
    ServiceUnavailable,
    ValidationFailed,
    WalletError,
)
from wallets.models import Provider

logger = logging.getLogger("pitboss.wallet_api")
UNKNOWN_PROVIDER = "unknown"


@dataclass(frozen=True)
class WalletResponse:
    """A wallet answer: HTTP status, body and extra headers. Through Django it becomes an
    HttpResponse (`as_django`); the wallet's own way in (wallets.adapters.front) writes it
    directly. `protocol_status` is the protocol's own status word for the call, for the call
    observers (the canonical outcome code is counted beside it)."""

    status: int
    payload: dict
    headers: tuple[tuple[str, str], ...] = ()
    protocol_status: str = ""
    content_type: str = "application/json"

    def content(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()

    def as_django(self):
        from django.http import HttpResponse

        response = HttpResponse(self.content(), status=self.status, content_type=self.content_type)
        for name, value in self.headers:
            response[name] = value
        return response


@dataclass
class Call:
    """One adapter call as it is being served: who called, what they sent, what it did."""

    adapter: "Adapter"
    operation: str
    provider: Provider
    request: Any
    context: ledger.CallContext
    data: dict = field(default_factory=dict)
    # The session and player the call was booked against, once known (for errors' balances).
    session: Any = None
    balance_minor: int | None = None
    currency: str = ""
    lock_wait_us: int = 0
    duplicate: bool = False
    # The provider's status as the session look-up read it (never from the credential cache).
    provider_status: str = ""

    def note(self, result: ledger.LedgerResult) -> ledger.LedgerResult:
        """Remember a ledger result's figures (for the answer and the observers)."""
        self.lock_wait_us += result.lock_wait_us
        self.duplicate = self.duplicate or result.duplicate
        self.balance_minor, self.currency = result.available_minor, result.currency
        return result

    def option(self, name: str) -> Any:
        return self.adapter.option(self.provider, name)


@dataclass(frozen=True)
class Option:
    """A per-provider setting of a protocol (Provider.protocol_options), with its default."""

    default: Any
    choices: tuple = ()
    help: str = ""

    def check(self, name: str, value: Any) -> Any:
        if self.choices and value not in self.choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, self.choices))}")
        if not self.choices and type(value) is not type(self.default):
            raise ValueError(f"{name} must be a {type(self.default).__name__}")
        return value


class MethodNotAllowed(ValidationFailed):
    http_status = 405
    default_message = "use POST"


class UnknownOperation(ValidationFailed):
    http_status = 404
    default_message = "no such operation in this protocol"


class Adapter:
    """The shape every protocol module fills in. Subclasses set `name`, `operations` (the
    protocol's own paths under /wallet/<name>/<provider code>/, each to a canonical operation
    name counted by monitoring, and its handler) and implement the four steps."""

    name: ClassVar[str]
    title: ClassVar[str]
    # path -> (canonical operation, handler method name)
    operations: ClassVar[dict[str, tuple[str, str]]]
    options: ClassVar[dict[str, Option]] = {}

    # --- the four steps (handlers are the third: they call the ledger) -----------------------

    def provider_code(self, request, url_code: str | None) -> str:
        """Which provider the call claims to come from: the code in the URL, unless the
        protocol names it otherwise (a header)."""
        return url_code or ""

    def authenticate(self, request, known: credentials.KnownProvider) -> None:
        """Raise InvalidSignature (or SignatureExpired) unless the request is the provider's."""
        raise NotImplementedError

    def parse(self, operation: str, request) -> dict:
        """The request's fields as a dict; ValidationFailed when it cannot be read."""
        raise NotImplementedError

    def render_ok(self, call: Call, payload: dict) -> WalletResponse:
        raise NotImplementedError

    def render_error(self, call: Call | None, error: WalletError) -> WalletResponse:
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------

    def option(self, provider: Provider, name: str) -> Any:
        stored = (provider.protocol_options or {}).get(name)
        return self.options[name].default if stored is None else stored

    @classmethod
    def validate_options(cls, options: Any) -> dict:
        """Provider.protocol_options for this protocol, checked; ValueError naming the
        first problem."""
        if options in (None, ""):
            return {}
        if not isinstance(options, dict):
            raise ValueError("protocol options must be a JSON object")
        unknown = sorted(set(options) - set(cls.options))
        if unknown:
            known = ", ".join(cls.options) or "none"
            raise ValueError(
                f"unknown options for {cls.name}: {', '.join(unknown)}; known: {known}"
            )
        return {name: cls.options[name].check(name, value) for name, value in options.items()}


def query_params(request) -> dict[str, str]:
    """The query string's parameters (the first value of each), from Django or the WSGI front."""
    raw = request.META.get("QUERY_STRING", "")
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def _inspect(call: Call) -> None:
    if not hooks.request_inspectors:
        return
    request = call.request
    inspection = hooks.InspectedRequest(
        provider=call.provider,
        operation=call.operation,
        data=call.data,
        client_ip=call.context.client_ip,
        is_secure=request.is_secure(),
        request_id=request.request_id,
        request_id_from_caller=request.request_id_from_caller,
    )
    hooks.inspect_request(inspection)
    call.data = inspection.data
    if inspection.request_id != request.request_id:
        request.request_id = inspection.request_id
        call.context = dataclasses.replace(call.context, request_id=inspection.request_id)


def serve(adapter: Adapter, request, path: str, url_code: str | None = None) -> WalletResponse:
    """Serve one call of `adapter`'s protocol: `path` is what follows the protocol's prefix,
    `url_code` the provider code in the URL (None where the protocol names it otherwise)."""
    started = time.perf_counter()
    call: Call | None = None
    address: str | None = None
    provider: Provider | None = None
    operation, handler_name = adapter.operations.get(path, (path or "unknown", ""))
    try:
        if request.method != "POST":
            raise MethodNotAllowed()
        address = credentials.client_ip(request)
        known = credentials.known_provider(adapter.provider_code(request, url_code))
        if known is None or known.provider.protocol != adapter.name:
            raise InvalidSignature()
        # Known from here on, even if what follows fails: failures count against it.
        provider = known.provider
        if not handler_name:
            raise UnknownOperation(f"{adapter.name} has no operation {path!r}")
        credentials.read_body(request)
        adapter.authenticate(request, known)
        if not credentials.ip_allowed(address, provider.ip_allowlist):
            raise IpNotAllowed()
        call = Call(
            adapter=adapter,
            operation=operation,
            provider=provider,
            request=request,
            context=ledger.CallContext(
                client_ip=address, request_id=request.request_id, started=started
            ),
        )
        call.data = adapter.parse(operation, request)
        _inspect(call)
        handler: Callable[[Call], dict] = getattr(adapter, handler_name)
        response = adapter.render_ok(call, handler(call))
        outcome = "OK"
    except WalletError as error:
        response = adapter.render_error(call, error)
        outcome = error.code
    except (OperationalError, InterfaceError):
        logger.warning("database unavailable during %s %s", adapter.name, path, exc_info=True)
        error = ServiceUnavailable()
        response = adapter.render_error(call, error)
        outcome = error.code
    except Exception:
        logger.exception("wallet API %s %s failed", adapter.name, path)
        error = InternalError()
        response = adapter.render_error(call, error)
        outcome = error.code
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
            protocol=adapter.name,
            protocol_status=response.protocol_status,
        )
    )
    return response
