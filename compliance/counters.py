"""Cheap counting for the checks that see many calls: Redis, with an in-process fallback.

- signature failures per provider per fixed window: one INCR (pipelined with EXPIRE);
- the duplicate gate: at most one violation row per provider and kind per minute; repeats
  inside the minute are counted on the row's Redis occurrence counter, folded into the row by
  the evaluation job.

Redis trouble never fails a wallet call: short timeouts, errors swallowed, and for
BACKOFF_SECONDS after a failure the in-process fallback counts instead.
"""

import logging
import threading
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

DEDUPE_SECONDS = 60
BACKOFF_SECONDS = 5
TIMEOUT_SECONDS = 0.05


def prefix() -> str:
    return getattr(settings, "COMPLIANCE_REDIS_PREFIX", "pitboss:comp")


class _State:
    def __init__(self) -> None:
        self.client: redis.Redis | None = None
        self.down_until = 0.0
        self.lock = threading.Lock()
        self.local_counts: dict[str, tuple[float, int]] = {}  # key -> (expires, count)
        self.local_gate: dict[str, float] = {}  # key -> until


_state = _State()


def _client() -> redis.Redis | None:
    if time.monotonic() < _state.down_until:
        return None
    if _state.client is None:
        _state.client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
        )
    return _state.client


def _failed() -> None:
    _state.down_until = time.monotonic() + BACKOFF_SECONDS
    logger.warning("compliance counters: Redis unavailable, counting in process")


def _local_incr(key: str, ttl: int) -> int:
    now = time.monotonic()
    with _state.lock:
        expires, count = _state.local_counts.get(key, (now + ttl, 0))
        if expires <= now:
            expires, count = now + ttl, 0
        count += 1
        _state.local_counts[key] = (expires, count)
        if len(_state.local_counts) > 10_000:
            _state.local_counts = {k: v for k, v in _state.local_counts.items() if v[0] > now}
        return count


def incr_window(name: str, provider_id: int, window_seconds: int) -> int:
    """Count one event in the provider's current fixed window; the count so far."""
    window_seconds = max(1, window_seconds)
    bucket = int(time.time()) // window_seconds
    key = f"{prefix()}:{name}:{provider_id}:{bucket}"
    client = _client()
    if client is not None:
        try:
            pipe = client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, window_seconds * 2)
            return int(pipe.execute()[0])
        except redis.RedisError:
            _failed()
    return _local_incr(key, window_seconds)


def claim(provider_id: int, kind: str) -> tuple[bool, int | None]:
    """(True, None) when a violation of this kind may be recorded for the provider now;
    (False, row id or None) when one was recorded less than DEDUPE_SECONDS ago."""
    key = f"{prefix()}:gate:{provider_id}:{kind}"
    client = _client()
    if client is not None:
        try:
            if client.set(key, "0", nx=True, ex=DEDUPE_SECONDS):
                return True, None
            value = client.get(key)
            return False, int(value) if value and value != b"0" else None
        except redis.RedisError:
            _failed()
    now = time.monotonic()
    with _state.lock:
        if _state.local_gate.get(key, 0.0) > now:
            return False, None
        _state.local_gate[key] = now + DEDUPE_SECONDS
        return True, None


def claimed(provider_id: int, kind: str, violation_id: int) -> None:
    """Remember the row that holds this minute's violation, for the folded repeats."""
    client = _client()
    if client is None:
        return
    try:
        client.set(
            f"{prefix()}:gate:{provider_id}:{kind}", str(violation_id), xx=True, keepttl=True
        )
    except redis.RedisError:
        _failed()


def release(provider_id: int, kind: str) -> None:
    """Give the gate back (the violation could not be written)."""
    client = _client()
    if client is not None:
        try:
            client.delete(f"{prefix()}:gate:{provider_id}:{kind}")
        except redis.RedisError:
            _failed()
    _state.local_gate.pop(f"{prefix()}:gate:{provider_id}:{kind}", None)


def count_repeat(violation_id: int) -> None:
    client = _client()
    if client is None:
        return
    try:
        client.hincrby(f"{prefix()}:repeats", str(violation_id), 1)
    except redis.RedisError:
        _failed()


def take_repeats() -> dict[int, int]:
    """{violation id: repeats} counted since the last call, removed from Redis atomically."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    key = f"{prefix()}:repeats"
    pipe = client.pipeline(transaction=True)
    pipe.hgetall(key)
    pipe.delete(key)
    values, _ = pipe.execute()
    return {int(k): int(v) for k, v in values.items()}


def reset_local() -> None:
    """Forget in-process state (tests)."""
    _state.local_counts.clear()
    _state.local_gate.clear()
    _state.down_until = 0.0
