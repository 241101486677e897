"""Capture of every wallet API call into Redis counters, at almost no cost to the wallet.

Per minute there is one Redis hash, `<prefix>:m:<minute epoch>`, whose fields are
`<provider code>|<operation>|<metric>` with metric one of:

    c      calls                          o:<CODE>  calls by outcome code
    l:<i>  latency histogram bucket i     ls        latency sum (µs)
    w:<i>  lock-wait histogram bucket i   ws        lock-wait sum (µs)
    d      duplicates (idempotent replays)

plus `_lost`, observations this process could not record earlier, reported late. The minute is
also added to the set `<prefix>:minutes` so the flush job knows what to move to PostgreSQL. Keys
expire (MONITORING_REDIS_TTL_SECONDS) so an unflushed minute never lingers for ever.

Writes are one pipelined round trip of HINCRBYs. In `background` mode (the default) the wallet
thread only appends the observation to an in-process queue; a sender thread per process writes
the queue every MONITORING_CAPTURE_INTERVAL_MS (and at exit). In `sync` mode each call does the
round trip itself.

Redis trouble must never fail or slow a wallet call: the client has short socket timeouts, every
error is swallowed and counted as lost, and after a failure Redis is not tried again for
MONITORING_REDIS_BACKOFF_SECONDS (observations are counted as lost at once). What a process
killed outright (SIGKILL) had queued, at most one interval's worth, is lost uncounted.
"""

import logging
import os
import threading
import time
from collections import deque

import redis
from django.conf import settings

from monitoring import histogram
from wallets import lifecycle
from wallets.hooks import CallObservation

logger = logging.getLogger("pitboss.monitoring")

LOST_FIELD = "_lost"


def prefix() -> str:
    return settings.MONITORING_REDIS_PREFIX


def minute_key(minute_epoch: int) -> str:
    return f"{prefix()}:m:{minute_epoch}"


def minutes_set_key() -> str:
    return f"{prefix()}:minutes"


def flushing_set_key() -> str:
    return f"{prefix()}:flushing"


class _State:
    """Process-wide capture state. Counters are guarded by a lock: the web server may run
    threads, and a lost count must be exact."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: redis.Redis | None = None
        self.url: str | None = None
        self.down_until = 0.0
        self.lost_total = 0  # observations this process failed to record, ever
        self.lost_unreported = 0  # of those, not yet added to Redis' `_lost` field
        self.enabled = True
        self.queue: deque = deque()  # (minute epoch, CallObservation) waiting for the sender
        self.send_lock = threading.Lock()
        self.sender_pid: int | None = None


state = _State()


def client() -> redis.Redis:
    """The capture client: short timeouts (MONITORING_REDIS_TIMEOUT_MS) for connect and I/O.

    Made under the state lock: threads that each made their own on their first call (sync
    capture in a threaded server) replaced each other's, and a replaced client, no longer
    referenced, closes its connection pool when collected, under the feet of a pipeline still
    running on it ("I/O operation on closed file": its observations lost, capture backed off)."""
    url = settings.MONITORING_REDIS_URL or settings.REDIS_URL
    current = state.client
    if current is not None and state.url == url:
        return current  # the common case: no lock on the wallet's path
    with state.lock:
        if state.client is None or state.url != url:
            timeout = settings.MONITORING_REDIS_TIMEOUT_MS / 1000
            state.client = redis.Redis.from_url(
                url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry_on_timeout=False,
                health_check_interval=0,
            )
            state.url = url
        return state.client


def job_client() -> redis.Redis:
    """A client for the flush job and readers: they may wait a little longer than the wallet."""
    return redis.Redis.from_url(
        settings.MONITORING_REDIS_URL or settings.REDIS_URL,
        socket_connect_timeout=2,
        socket_timeout=5,
        decode_responses=True,
    )


def reset() -> None:
    """Forget the client, the queue and the back-off (tests, and after settings change)."""
    with state.lock:
        state.queue.clear()
        state.sender_pid = None  # a running sender stops after its sleep
        state.client = None
        state.url = None
        state.down_until = 0.0
        state.lost_total = 0
        state.lost_unreported = 0


def lost_in_this_process() -> int:
    return state.lost_total


def _count_lost(now: float, *, failed: bool) -> None:
    with state.lock:
        state.lost_total += 1
        state.lost_unreported += 1
        if failed:
            state.down_until = now + settings.MONITORING_REDIS_BACKOFF_SECONDS


def _fields(observation: CallObservation) -> list[tuple[str, int]]:
    base = f"{observation.provider_code}|{observation.operation}|"
    fields = [
        (base + "c", 1),
        (f"{base}o:{observation.outcome}", 1),
        (f"{base}l:{histogram.bucket_index(observation.latency_us)}", 1),
        (base + "ls", observation.latency_us),
    ]
    if observation.lock_wait_us > 0:
        fields.append((f"{base}w:{histogram.bucket_index(observation.lock_wait_us)}", 1))
        fields.append((base + "ws", observation.lock_wait_us))
    if observation.duplicate:
        fields.append((base + "d", 1))
    return fields


def _write(increments: dict[int, dict[str, int]], observations: int) -> bool:
    """One pipelined round trip: HINCRBY every field of every minute's hash, EXPIRE, SADD the
    minutes; the backlog of lost observations rides along. On failure the `observations` are
    counted as lost and capture backs off. Never raises."""
    with state.lock:  # take the backlog, so two writers never report the same losses
        reported, state.lost_unreported = state.lost_unreported, 0
    try:
        # Held until the round trip is over: a client is closed when it is collected.
        redis_client = client()
        pipe = redis_client.pipeline(transaction=False)
        ttl = settings.MONITORING_REDIS_TTL_SECONDS
        for n, (minute, fields) in enumerate(sorted(increments.items())):
            key = minute_key(minute)
            for field, amount in fields.items():
                pipe.hincrby(key, field, amount)
            if reported and n == 0:
                pipe.hincrby(key, LOST_FIELD, reported)
            pipe.expire(key, ttl)
            pipe.sadd(minutes_set_key(), minute)
        pipe.execute()
        return True
    except Exception as error:  # any Redis trouble: count, back off, never raise into the wallet
        with state.lock:
            state.lost_unreported += reported
            state.lost_total += observations
            state.lost_unreported += observations
            state.down_until = time.time() + settings.MONITORING_REDIS_BACKOFF_SECONDS
        logger.warning("metrics capture failed (%s: %s); backing off", type(error).__name__, error)
        return False


def record_call(observation: CallObservation) -> None:
    """The call observer (wallets.hooks.call_observers). Never raises.

    `background` mode (default): the observation is queued in process memory and a sender
    thread writes the queue to Redis every MONITORING_CAPTURE_INTERVAL_MS in one pipelined round
    trip, so the wallet thread pays a deque append, not a network round trip. `sync` mode: one
    pipelined round trip inside the call."""
    if not state.enabled:
        return
    now = time.time()
    if now < state.down_until:
        _count_lost(now, failed=False)
        return
    minute = int(now) // 60 * 60
    if settings.MONITORING_CAPTURE_MODE == "sync":
        _write({minute: dict(_fields(observation))}, 1)
        return
    if len(state.queue) >= settings.MONITORING_CAPTURE_QUEUE_LIMIT:
        _count_lost(now, failed=False)  # Redis too slow to keep up: drop, counted
        return
    state.queue.append((minute, observation))
    if state.sender_pid != os.getpid():
        _start_sender()


def drain() -> int:
    """Write everything queued in this process now (the sender thread, tests, at exit).
    Returns the number of observations taken from the queue."""
    with state.send_lock:
        taken = []
        for _ in range(len(state.queue)):
            try:
                taken.append(state.queue.popleft())
            except IndexError:
                break
        if not taken:
            return 0
        increments: dict[int, dict[str, int]] = {}
        for minute, observation in taken:
            fields = increments.setdefault(minute, {})
            for field, amount in _fields(observation):
                fields[field] = fields.get(field, 0) + amount
        if time.time() < state.down_until:
            with state.lock:
                state.lost_total += len(taken)
                state.lost_unreported += len(taken)
        else:
            _write(increments, len(taken))
        return len(taken)


def _sender_loop(pid: int) -> None:
    interval = settings.MONITORING_CAPTURE_INTERVAL_MS / 1000
    while state.sender_pid == pid:
        time.sleep(interval)
        try:
            drain()
        except Exception:  # never let the sender die
            logger.exception("metrics sender failed")


def _start_sender() -> None:
    with state.lock:
        pid = os.getpid()
        if state.sender_pid == pid:
            return
        if state.sender_pid is not None:
            # Forked from a process that had a sender: its queue is the parent's to write.
            state.queue.clear()
        state.sender_pid = pid
        lifecycle.at_exit(drain)  # in this process: also a forked web server worker
    threading.Thread(target=_sender_loop, args=(pid,), name="metrics-sender", daemon=True).start()


def parse_minute_hash(raw: dict) -> tuple[dict[tuple[str, str], dict], int]:
    """{(provider code, operation): figures} and the lost count, from a minute hash.

    figures: calls, duplicates, outcomes {code: n}, latency_buckets, latency_sum_us,
    lock_wait_buckets, lock_wait_sum_us.
    """
    groups: dict[tuple[str, str], dict] = {}
    lost = 0
    for field, value in raw.items():
        field = field.decode() if isinstance(field, bytes) else field
        count = int(value)
        if field == LOST_FIELD:
            lost += count
            continue
        try:
            code, operation, metric = field.rsplit("|", 2)
        except ValueError:
            continue
        figures = groups.get((code, operation))
        if figures is None:
            figures = groups[(code, operation)] = new_figures()
        if metric == "c":
            figures["calls"] += count
        elif metric == "d":
            figures["duplicates"] += count
        elif metric == "ls":
            figures["latency_sum_us"] += count
        elif metric == "ws":
            figures["lock_wait_sum_us"] += count
        elif metric.startswith("o:"):
            outcome = metric[2:]
            figures["outcomes"][outcome] = figures["outcomes"].get(outcome, 0) + count
        elif metric.startswith(("l:", "w:")):
            index = int(metric[2:])
            if 0 <= index < histogram.BUCKETS:
                name = "latency_buckets" if metric[0] == "l" else "lock_wait_buckets"
                figures[name][index] += count
    return groups, lost


def new_figures() -> dict:
    return {
        "calls": 0,
        "duplicates": 0,
        "outcomes": {},
        "latency_buckets": histogram.empty(),
        "latency_sum_us": 0,
        "lock_wait_buckets": histogram.empty(),
        "lock_wait_sum_us": 0,
    }
