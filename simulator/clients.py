"""Plain HTTP clients of Pitboss: the signed provider wallet API and the staff (token) API.

Standard library only (http.client with keep-alive), no Django: the conformance kit and the
simulator talk to a wallet exactly as an outside integrator would, and this module can be copied
into a provider's own tooling as it is.
"""

import hashlib
import hmac
import http.client
import json
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal

# ISO 4217 minor-unit exponents (the wallet's list; anything else has two decimals).
_ZERO = "CLP ISK JPY KRW PYG UGX VND XAF XOF".split()
_THREE = "BHD IQD JOD KWD LYD OMR TND".split()


def exponent(currency: str) -> int:
    if currency in _ZERO:
        return 0
    if currency in _THREE:
        return 3
    return 2


def format_amount(minor: int, currency: str) -> str:
    """Minor units as the decimal string the contract wants ("12.50", "350", "1.005")."""
    places = exponent(currency)
    if places == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{fraction:0{places}d}"


def parse_minor(text: str, currency: str) -> int:
    """Minor units of a rendered amount (exact: Decimal from the text, never a float)."""
    return int(Decimal(str(text)).scaleb(exponent(currency)))


def sign(secret: str | bytes, timestamp: str, path: str, body: bytes) -> str:
    """X-Signature: lowercase hex HMAC-SHA256(secret, "<timestamp>.<path>.<body>"), the path
    being what is requested, without query string (contract revision 2)."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = timestamp.encode() + b"." + path.encode() + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass
class HttpResult:
    status: int  # 0: no HTTP answer (connection refused, timeout)
    body: object = None  # parsed JSON, or None
    headers: dict = field(default_factory=dict)
    elapsed_ms: float = 0.0
    error: str = ""  # the network error, when status is 0

    @property
    def ok(self) -> bool:
        return (
            self.status == 200 and isinstance(self.body, dict) and self.body.get("status") == "OK"
        )

    @property
    def code(self) -> str:
        """ "OK", the contract's error code, HTTP_<status> for anything else, or NETWORK_ERROR."""
        if self.status == 0:
            return "NETWORK_ERROR"
        if self.ok:
            return "OK"
        if isinstance(self.body, dict) and isinstance(self.body.get("code"), str):
            return self.body["code"]
        return f"HTTP_{self.status}"

    def get(self, name: str, default=None):
        return self.body.get(name, default) if isinstance(self.body, dict) else default


class Connection:
    """One keep-alive connection to a base URL (one per thread: http.client is not thread-safe)."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValueError(f"base URL must be http(s)://host[:port], not {base_url!r}")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port
        self.prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (
                http.client.HTTPSConnection
                if self.scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
        *,
        body_delay: float = 0.0,
    ) -> HttpResult:
        """Send one request. With `body_delay`, the headers and the first half of the body go
        out, then the rest after that many seconds: a slow provider network as the wallet sees
        it (its latency clock runs while it reads the body).

        A stale keep-alive connection is reopened and the request sent once more; every call
        this is used for is idempotent (wallet calls by transaction id, payments by external id).
        """
        started = time.perf_counter()
        for attempt in (1, 2):
            conn = self._connect()
            try:
                conn.putrequest(method, self.prefix + path, skip_accept_encoding=True)
                all_headers = {"Accept": "application/json", **(headers or {})}
                if body is not None:
                    all_headers.setdefault("Content-Type", "application/json")
                    all_headers["Content-Length"] = str(len(body))
                for name, value in all_headers.items():
                    conn.putheader(name, value)
                conn.endheaders()
                if body:
                    if body_delay > 0 and len(body) > 1:
                        half = len(body) // 2
                        conn.send(body[:half])
                        time.sleep(body_delay)
                        conn.send(body[half:])
                    else:
                        conn.send(body)
                response = conn.getresponse()
                raw = response.read()
                result_headers = {k.lower(): v for k, v in response.getheaders()}
                status = response.status
                if response.will_close:
                    self.close()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self.close()
                if attempt == 2:
                    return HttpResult(0, error=repr(error), elapsed_ms=_ms(started))
            except (OSError, http.client.HTTPException) as error:  # refused, timeout, garbage
                self.close()
                return HttpResult(0, error=repr(error), elapsed_ms=_ms(started))
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return HttpResult(status, parsed, result_headers, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def dumps(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class WalletClient:
    """Signed calls to `POST /wallet/v1/<operation>` as one provider."""

    def __init__(self, base_url: str, provider_code: str, secret: str, *, timeout: float = 30.0):
        self.connection = Connection(base_url, timeout)
        self.provider_code = provider_code
        self.secret = secret

    def close(self) -> None:
        self.connection.close()

    def send(
        self,
        operation: str,
        body: bytes,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        provider_code: str | None = None,
        headers: dict | None = None,
        body_delay: float = 0.0,
    ) -> HttpResult:
        """POST raw body bytes, signed now unless a timestamp / signature is forced."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        path = f"/wallet/v1/{operation}"
        all_headers = {
            "X-Provider-Code": self.provider_code if provider_code is None else provider_code,
            "X-Timestamp": ts,
            "X-Signature": sign(self.secret, ts, path, body) if signature is None else signature,
            **(headers or {}),
        }
        return self.connection.request("POST", path, body, all_headers, body_delay=body_delay)

    def call(self, operation: str, body_delay: float = 0.0, **fields) -> HttpResult:
        return self.send(operation, dumps(fields), body_delay=body_delay)


class StaffClient:
    """The back-office API (`/api/v1/...`) with a DRF token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0):
        self.connection = Connection(base_url, timeout)
        self.token = token

    def close(self) -> None:
        self.connection.close()

    def _headers(self) -> dict:
        return {"Authorization": f"Token {self.token}"}

    def get(self, path: str, **params) -> HttpResult:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self.connection.request("GET", f"/api/v1/{path}{query}", None, self._headers())

    def post(self, path: str, data: dict) -> HttpResult:
        return self.connection.request("POST", f"/api/v1/{path}", dumps(data), self._headers())


def port_open(base_url: str, timeout: float = 1.0) -> bool:
    parsed = urllib.parse.urlsplit(base_url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
