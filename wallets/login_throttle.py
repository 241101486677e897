"""Login rate limiting for staff (the admin, the browsable API's login, any `authenticate()`).

Failed logins are counted per (username, client address) and per client address. Once a count
reaches its limit within the window, every further login attempt for that key is refused, even
with the right password, until the window has passed: a password cannot be guessed by trying
faster than ADMIN_LOGIN_MAX_FAILURES per ADMIN_LOGIN_LOCKOUT_SECONDS. A successful login clears
the (username, address) count.

The counts live in Redis (REDIS_URL) so that every web worker shares them; if Redis cannot be
reached, each process counts on its own in memory (the limit still holds per process).
Passwords are never logged or stored; usernames are hashed in the Redis keys.
"""

import hashlib
import logging
import threading
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied

logger = logging.getLogger("pitboss.security")

_PREFIX = "pitboss:login-fail"
_redis_client = None
_redis_lock = threading.Lock()
_local: dict[str, tuple[int, float]] = {}
_local_lock = threading.Lock()


def _limits() -> tuple[int, int, int]:
    per_user = getattr(settings, "ADMIN_LOGIN_MAX_FAILURES", 5)
    per_address = getattr(settings, "ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS", 4 * per_user)
    window = getattr(settings, "ADMIN_LOGIN_LOCKOUT_SECONDS", 900)
    return per_user, per_address, window


def _redis():
    global _redis_client
    with _redis_lock:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=0.2, socket_connect_timeout=0.2
            )
        return _redis_client


def _address(request) -> str:
    from wallets.adapters.credentials import client_ip

    return client_ip(request) or "unknown"


def _keys(request, username: str) -> tuple[str, str]:
    address = _address(request)
    who = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()[:32]
    return f"{_PREFIX}:user:{who}", f"{_PREFIX}:addr:{address}"


def _counts(keys: tuple[str, ...]) -> list[int]:
    try:
        values = _redis().mget(keys)
        return [int(value or 0) for value in values]
    except Exception:  # Redis down: this process's own counts
        now = time.monotonic()
        with _local_lock:
            return [
                c if (c := _local.get(k, (0, 0))[0]) and _local[k][1] > now else 0 for k in keys
            ]


def _add_failure(keys: tuple[str, ...], window: int) -> None:
    try:
        pipe = _redis().pipeline()
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, window)
        pipe.execute()
    except Exception:
        now = time.monotonic()
        with _local_lock:
            for key in keys:
                count, until = _local.get(key, (0, 0))
                _local[key] = (count + 1 if until > now else 1, now + window)


def _clear(key: str) -> None:
    try:
        _redis().delete(key)
    except Exception:
        logger.warning("could not clear a login failure count in Redis", exc_info=True)
    with _local_lock:
        _local.pop(key, None)


def locked_out(request, username: str) -> bool:
    per_user, per_address, _ = _limits()
    user_count, address_count = _counts(_keys(request, username))
    return user_count >= per_user or address_count >= per_address


class LoginThrottleBackend:
    """First in AUTHENTICATION_BACKENDS: refuses (PermissionDenied, which stops
    `authenticate()`) every attempt on a locked-out key; otherwise lets the next backend decide."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or username is None:
            return None
        if locked_out(request, username):
            logger.warning("login refused: too many failures for this user and address")
            raise PermissionDenied("too many failed logins; try again later")
        return None

    # No get_user(): this backend never logs anyone in, so no session may name it (a
    # get_user() here would make Client.force_login() and the like pick it, and log nobody in).


def on_login_failed(sender, credentials, request=None, **kwargs):
    if request is None:
        return
    username = credentials.get("username") or ""
    _, _, window = _limits()
    _add_failure(_keys(request, username), window)


def on_logged_in(sender, request, user, **kwargs):
    if request is None:
        return
    _clear(_keys(request, user.get_username())[0])
