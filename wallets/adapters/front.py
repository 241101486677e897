"""The wallet's own short way in: every protocol's calls (`/wallet/v1/<operation>` for the
native API, `/wallet/<protocol>/<provider code>/<path>` for the others) are answered here,
before Django's request handler; every other path goes to Django unchanged.

A wallet call needs none of what Django's stack does for the back office (sessions, users, CSRF,
messages, static files, URL resolution), and on this path that stack cost more CPU than the
call's own work. What it did that the wallet API does need is done here, once, the same way:
the host check (ALLOWED_HOSTS), the request id (wallets.middleware rules), the security response
headers, the HTTPS redirect (such requests are handed to Django, which redirects them), and the
database connection housekeeping Django does at the start and end of each request. The call
itself goes through the same `base.serve` as through Django (tests use both ways).
"""

import functools
import uuid
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.test.signals import setting_changed

from wallets.adapters.base import serve
from wallets.adapters.native import ADAPTER as NATIVE
from wallets.adapters.native import PREFIX
from wallets.adapters.registry import adapter_for
from wallets.middleware import _VALID_REQUEST_ID

WALLET_PREFIX = "/wallet/"


class _Headers:
    """request.headers.get(name) over the WSGI environ, as Django's HttpHeaders reads it."""

    __slots__ = ("environ",)

    def __init__(self, environ: dict) -> None:
        self.environ = environ

    def get(self, name: str, default: str = "") -> str:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        return self.environ.get(key, default)


class WalletRequest:
    """What views.handle reads of a request, straight from the WSGI environ."""

    def __init__(self, environ: dict) -> None:
        self.environ = environ
        self.META = environ
        self.method = environ["REQUEST_METHOD"].upper()
        self.content_type = environ.get("CONTENT_TYPE", "")
        # As Django's request.path: the script prefix and the path, without query string.
        self.path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        self.headers = _Headers(environ)
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        self.request_id_from_caller = bool(_VALID_REQUEST_ID.fullmatch(incoming))
        self.request_id = incoming if self.request_id_from_caller else uuid.uuid4().hex
        self._body: bytes | None = None
        self._secure: bool | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and length > limit:
                raise RequestDataTooBig()
            stream = self.environ["wsgi.input"]
            # Without a length (chunked), read up to one byte past the limit to tell.
            self._body = stream.read(length) if length else stream.read((limit or 1 << 20) + 1)
            if limit is not None and len(self._body) > limit:
                raise RequestDataTooBig()
        return self._body

    def is_secure(self) -> bool:
        if self._secure is None:
            self._secure = self.environ.get("wsgi.url_scheme") == "https"
            header = settings.SECURE_PROXY_SSL_HEADER
            if header:
                name, secure_value = header
                value = self.environ.get(name)
                if value is not None:
                    self._secure = value.split(",")[0].strip() == secure_value
        return self._secure

    def host_allowed(self) -> bool:
        host = self.environ.get("HTTP_HOST") or self.environ.get("SERVER_NAME", "")
        allowed = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed:
            allowed = [".localhost", "127.0.0.1", "[::1]"]
        return _host_allowed(host, tuple(allowed))


@functools.lru_cache(maxsize=256)
def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Django's host validation, remembered per (Host header, ALLOWED_HOSTS): providers send
    the same few Host values on every call."""
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _connection_housekeeping() -> None:
    """What Django does at each request's start and end (close_old_connections): close a
    connection that broke or outlived CONN_MAX_AGE. The wallet API uses the default database
    only. Never inside a transaction (only a test client calls in one)."""
    connection = connections[DEFAULT_DB_ALIAS]
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def _unused_get_response(request):  # pragma: no cover - process_response alone is used
    raise NotImplementedError


class _Secure:
    """The one thing the header middleware asks of a request."""

    def __init__(self, secure: bool) -> None:
        self.secure = secure

    def is_secure(self) -> bool:
        return self.secure


@functools.cache
def _security_headers(secure: bool) -> tuple[tuple[str, str], ...]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add to a JSON response
    of a plain (or, `secure`, an HTTPS) request: they are worked out by those middlewares, once
    per setting, not restated here. A wallet response never sets any of them itself."""
    response = HttpResponse(content_type="application/json")
    for middleware in (
        SecurityMiddleware(_unused_get_response),
        XFrameOptionsMiddleware(_unused_get_response),
    ):
        middleware.process_response(_Secure(secure), response)
    return tuple((name, value) for name, value in response.items() if name != "Content-Type")


def _settings_changed(**kwargs) -> None:
    _security_headers.cache_clear()


setting_changed.connect(_settings_changed)

_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def route(path: str):
    """(adapter, path within its protocol, provider code in the URL) of a wallet call, or None
    for a path Django answers."""
    if path.startswith(PREFIX):
        operation = path[len(PREFIX) :]
        return (NATIVE, operation, None) if operation in NATIVE.operations else None
    if not path.startswith(WALLET_PREFIX):
        return None
    parts = path[len(WALLET_PREFIX) :].split("/", 2)
    if len(parts) != 3 or not parts[1]:
        return None
    adapter = adapter_for(parts[0])
    if adapter is None or adapter is NATIVE:
        return None
    return adapter, parts[2], parts[1]


class WalletApiFirst:
    """WSGI application: wallet calls answered by base.serve directly, the rest by
    `application` (Django's handler)."""

    def __init__(self, application) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response):
        found = route(environ.get("PATH_INFO", ""))
        if found is None:
            return self.application(environ, start_response)
        adapter, path, code = found
        request = WalletRequest(environ)
        secure = request.is_secure()
        if (settings.SECURE_SSL_REDIRECT and not secure) or not request.host_allowed():
            # Django answers these (the redirect, or its 400 for a host it does not serve).
            return self.application(environ, start_response)
        _connection_housekeeping()
        try:
            response = serve(adapter, request, path, code)
        finally:
            _connection_housekeeping()
        content = response.content()
        headers = [
            ("Content-Type", response.content_type),
            *response.headers,
            ("X-Request-Id", request.request_id),
            *_security_headers(secure),
            ("Content-Length", str(len(content))),
        ]
        start_response(_STATUS_LINES[response.status], headers)
        return [content]
