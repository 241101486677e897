import json
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from monitoring import capture, histogram
from monitoring.models import MetricMinute, MonitoringProfile
from monitoring.selectors import errors_of, floor_minute


@pytest.fixture(autouse=True)
def isolated_capture(settings):
    """Each test gets its own Redis key prefix and a fresh capture client and back-off."""
    settings.MONITORING_REDIS_PREFIX = f"pitboss:test:{uuid.uuid4().hex[:12]}"
    settings.MONITORING_REDIS_URL = ""
    # The production timeout (50 ms) can expire on a loaded CI machine; a lost observation is
    # counted, but tests asserting exact counts want none. Redis-down tests use a closed port.
    settings.MONITORING_REDIS_TIMEOUT_MS = 2000
    # Synchronous capture, so what a test recorded is in Redis when it looks; the background
    # sender is tested on its own (tests call capture.drain() there).
    settings.MONITORING_CAPTURE_MODE = "sync"
    settings.ALERT_EMAIL_TO = []
    settings.ALERT_WEBHOOK_URL = ""
    capture.reset()
    yield
    capture.reset()
    try:
        redis = capture.job_client()
        keys = list(redis.scan_iter(f"{settings.MONITORING_REDIS_PREFIX}:*"))
        if keys:
            redis.delete(*keys)
    except Exception:
        pass


class _HookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        with server.lock:
            server.requests.append(json.loads(body))
            fail = server.failures_left > 0
            if fail:
                server.failures_left -= 1
        self.send_response(500 if fail else 200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"boom" if fail else b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    """A real HTTP server on 127.0.0.1 that records POSTed JSON; set `failures_left` to make
    the next requests answer 500."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HookHandler)
    server.requests = []
    server.failures_left = 0
    server.lock = threading.Lock()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def put_minutes(
    provider,
    *,
    start,
    minutes: int,
    calls: int = 100,
    latency_us: int = 2_000,
    slow: int = 0,
    slow_latency_us: int = 900_000,
    errors: int = 0,
    lock_wait_us: int = 0,
    operation: str = "bet",
):
    """Roll-up rows as the flush job writes them: per minute `calls` calls, `slow` of them at
    `slow_latency_us`, `errors` with INTERNAL_ERROR."""
    for i in range(minutes):
        latency = histogram.empty()
        latency[histogram.bucket_index(latency_us)] += calls - slow
        latency[histogram.bucket_index(slow_latency_us)] += slow
        lock = histogram.empty()
        if lock_wait_us:
            lock[histogram.bucket_index(lock_wait_us)] += calls
        outcomes = {"OK": calls - errors}
        if errors:
            outcomes["INTERNAL_ERROR"] = errors
        MetricMinute.objects.update_or_create(
            provider=provider,
            minute=floor_minute(start) + timedelta(minutes=i),
            operation=operation,
            defaults={
                "calls": calls,
                "errors": errors_of(outcomes),
                "outcomes": outcomes,
                "latency_buckets": latency,
                "latency_sum_us": (calls - slow) * latency_us + slow * slow_latency_us,
                "lock_wait_buckets": lock,
                "lock_wait_sum_us": calls * lock_wait_us,
            },
        )


@pytest.fixture
def now():
    return floor_minute(timezone.now()) + timedelta(seconds=30)


def set_profile(provider, **fields):
    profile, _ = MonitoringProfile.objects.get_or_create(provider=provider)
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.save()
    return profile
