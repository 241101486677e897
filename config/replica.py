"""Back-office reads from a streaming replica, with a lag guard.

With DATABASE_REPLICA_URL set (the `replica` database), the pages and lists staff read —
admin pages and the back-office API's list and export endpoints (REPLICA_READ_PATHS), GET only —
read from the replica while it is no more than REPLICA_MAX_LAG_SECONDS behind the primary;
above that, or when it cannot be reached, they read the primary. Everything else reads the
primary: the wallet API, every write and what it reads to decide, background jobs, and the
tables behind authentication (users, tokens, sessions, permissions: a revoked token or a
deactivated user takes effect at once). A user who just wrote (any non-GET request) reads the
primary for REPLICA_PIN_SECONDS, so they see what they did.

Each response says where it read: `X-Read-From: replica; lag=0.21` or `primary` (with the
reason the replica was passed over); admin pages show it in their header.
"""

import contextvars
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connections

REPLICA = "replica"
PIN_COOKIE = "pitboss_primary_until"
# Never from the replica: authentication and authorisation must see the latest state.
PRIMARY_ONLY_APPS = frozenset({"auth", "authtoken", "sessions", "admin", "contenttypes", "otp"})


@dataclass(frozen=True)
class ReadSource:
    """Where a request's reads go: `replica` or `primary`, the replica's lag when known, and
    why the replica was not used."""

    database: str
    lag_seconds: float | None = None
    reason: str = ""

    @property
    def header(self) -> str:
        parts = [self.database]
        if self.lag_seconds is not None:
            parts.append(f"lag={self.lag_seconds:.2f}")
        if self.reason:
            parts.append(f"reason={self.reason}")
        return "; ".join(parts)

    @property
    def text(self) -> str:
        if self.database == REPLICA:
            return f"Read from the replica, {self.lag_seconds or 0:.1f} s behind"
        if self.reason:
            return f"Read from the primary ({self.reason})"
        return "Read from the primary"


PRIMARY = ReadSource("primary")
_source: contextvars.ContextVar[ReadSource] = contextvars.ContextVar(
    "pitboss_read_source", default=PRIMARY
)


def configured() -> bool:
    return REPLICA in settings.DATABASES and settings.REPLICA_READS


def current() -> ReadSource:
    return _source.get()


# --- the lag guard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaState:
    usable: bool
    lag_seconds: float | None
    reason: str
    measured_at: float


_state: ReplicaState | None = None
_state_lock = threading.Lock()

# Caught up: the replica has replayed the primary's current WAL position. Otherwise the lag is
# the time since the last transaction it replayed (how stale what it shows can be).
_LAG_SQL = """
SELECT pg_is_in_recovery(),
       COALESCE(pg_last_wal_replay_lsn() >= %s::pg_lsn, false),
       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
"""


def measure() -> ReplicaState:
    """The replica's lag now, against the primary's WAL position (two small queries)."""
    now = time.monotonic()
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            (primary_lsn,) = cursor.fetchone()
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(_LAG_SQL, [primary_lsn])
            in_recovery, caught_up, since_replay = cursor.fetchone()
    except DatabaseError as error:
        connections[REPLICA].close()
        first_line = str(error).strip().splitlines()[0][:120] if str(error).strip() else ""
        return ReplicaState(False, None, f"replica unreachable: {first_line}", now)
    if not in_recovery:
        return ReplicaState(False, None, "the replica URL names a primary", now)
    lag = 0.0 if caught_up else (since_replay if since_replay is not None else None)
    if lag is None:
        return ReplicaState(False, None, "replica has replayed nothing yet", now)
    limit = settings.REPLICA_MAX_LAG_SECONDS
    if lag > limit:
        return ReplicaState(False, lag, f"replica {lag:.1f} s behind, over {limit} s", now)
    return ReplicaState(True, lag, "", now)


def state() -> ReplicaState:
    """The replica's last measured state, measured again when older than
    REPLICA_CHECK_SECONDS (once per process at a time)."""
    global _state
    found = _state
    if found is not None and time.monotonic() - found.measured_at < settings.REPLICA_CHECK_SECONDS:
        return found
    with _state_lock:
        found = _state
        if found is None or time.monotonic() - found.measured_at >= settings.REPLICA_CHECK_SECONDS:
            found = _state = measure()
    return found


def forget_state() -> None:
    """Measure again on the next request (tests; after changing the settings)."""
    global _state
    _state = None


# --- routing ------------------------------------------------------------------------------------


class ReplicaRouter:
    """Reads go to the replica only inside a request the middleware chose it for."""

    def db_for_read(self, model, **hints):
        if _source.get().database == REPLICA and model._meta.app_label not in PRIMARY_ONLY_APPS:
            return REPLICA
        return "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, **hints):
        return db == "default"


_paths: tuple[str, re.Pattern] | None = None


def _read_paths() -> re.Pattern:
    global _paths
    wanted = "|".join(f"(?:{p})" for p in settings.REPLICA_READ_PATHS)
    if _paths is None or _paths[0] != wanted:
        _paths = (wanted, re.compile(wanted))
    return _paths[1]


def choose(request) -> ReadSource:
    """Where this request reads from."""
    if not configured() or request.method not in ("GET", "HEAD"):
        return PRIMARY
    if not _read_paths().match(request.path_info):
        return PRIMARY
    try:
        pinned_until = float(request.COOKIES.get(PIN_COOKIE, "0"))
    except ValueError:
        pinned_until = 0.0
    if pinned_until > time.time():
        return ReadSource("primary", reason="you changed something a moment ago")
    found = state()
    if not found.usable:
        return ReadSource("primary", found.lag_seconds, found.reason)
    return ReadSource(REPLICA, found.lag_seconds)


class ReplicaReadsMiddleware:
    """Chooses each request's read database (see the module docstring) and says which."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        source = choose(request)
        token = _source.set(source)
        try:
            response = self.get_response(request)
        finally:
            _source.reset(token)
        if configured():
            response["X-Read-From"] = source.header
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                seconds = settings.REPLICA_PIN_SECONDS
                response.set_cookie(
                    PIN_COOKIE,
                    f"{time.time() + seconds:.0f}",
                    max_age=seconds,
                    httponly=True,
                    samesite="Lax",
                    secure=request.is_secure(),
                )
        return response


def read_source(request) -> dict:
    """Template context: where the page read its figures (shown in the admin's header)."""
    if not configured():
        return {}
    return {"read_source": _source.get()}
