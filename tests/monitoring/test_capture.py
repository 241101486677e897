"""Capture into Redis and the flush into PostgreSQL: exact under concurrency, idempotent, and
harmless to the wallet when Redis is down."""

import threading
import time

import pytest
from django.db.models import Sum

from monitoring import capture, histogram, services
from monitoring.models import FlushedBatch, MetricMinute, MetricTotal
from tests import factories
from wallets import hooks
from wallets.hooks import CallObservation
from wallets.models import Wallet

pytestmark = pytest.mark.django_db

LATER = 3600  # seconds: "now" for the flush, so every minute written is closed


def _flush():
    return services.flush_metrics(now=time.time() + LATER)


def _total(provider, field, **filters):
    return (
        MetricMinute.objects.filter(provider=provider, **filters).aggregate(n=Sum(field))["n"] or 0
    )


def test_threads_making_their_first_call_at_once_share_one_client(monkeypatch):
    # Each making its own, they replaced each other's, and a replaced client closed its
    # connections when collected, under a write still running on them: observations lost.
    # Making a client is slowed down here so that the threads meet while one is being made.
    make = capture.redis.Redis.from_url

    def slow_make(*args, **kwargs):
        time.sleep(0.02)
        return make(*args, **kwargs)

    monkeypatch.setattr(capture.redis.Redis, "from_url", slow_make)
    threads = 8
    start = threading.Barrier(threads)
    clients = []

    def first_call():
        start.wait()
        clients.append(capture.client())

    workers = [threading.Thread(target=first_call) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(clients) == threads
    assert all(made is clients[0] for made in clients)


def test_concurrent_capture_is_exact():
    acme, _ = factories.make_provider("acme")
    beta, _ = factories.make_provider("beta")
    threads, per_thread = 8, 250
    outcomes = ["OK", "OK", "OK", "INSUFFICIENT_FUNDS", "INTERNAL_ERROR"]

    def work(t):
        for i in range(per_thread):
            capture.record_call(
                CallObservation(
                    provider_code="acme" if (t + i) % 2 else "beta",
                    operation="bet" if i % 3 else "win",
                    outcome=outcomes[i % len(outcomes)],
                    latency_us=1_000 + 37 * i,
                    lock_wait_us=100 + i,
                    duplicate=i % 10 == 0,
                )
            )

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    result = _flush()

    assert capture.lost_in_this_process() == 0
    assert result.calls == threads * per_thread
    expected = {"acme": {}, "beta": {}}
    for t in range(threads):
        for i in range(per_thread):
            key = ("acme" if (t + i) % 2 else "beta", "bet" if i % 3 else "win")
            row = expected[key[0]].setdefault(
                key[1], {"calls": 0, "errors": 0, "dup": 0, "lat": 0, "lock": 0}
            )
            row["calls"] += 1
            row["errors"] += outcomes[i % len(outcomes)] == "INTERNAL_ERROR"
            row["dup"] += i % 10 == 0
            row["lat"] += 1_000 + 37 * i
            row["lock"] += 100 + i
    for provider in (acme, beta):
        for operation, want in expected[provider.code].items():
            assert _total(provider, "calls", operation=operation) == want["calls"]
            assert _total(provider, "errors", operation=operation) == want["errors"]
            assert _total(provider, "duplicates", operation=operation) == want["dup"]
            assert _total(provider, "latency_sum_us", operation=operation) == want["lat"]
            assert _total(provider, "lock_wait_sum_us", operation=operation) == want["lock"]
            rows = MetricMinute.objects.filter(provider=provider, operation=operation)
            assert sum(sum(r.latency_buckets) for r in rows) == want["calls"]
            assert sum(sum(r.lock_wait_buckets) for r in rows) == want["calls"]
            total = MetricTotal.objects.get(provider=provider, operation=operation)
            assert total.calls == want["calls"]
            assert total.errors == want["errors"]


def test_flush_twice_and_after_a_crash_never_double_counts(monkeypatch):
    provider, _ = factories.make_provider("acme")
    for _ in range(7):
        capture.record_call(CallObservation("acme", "bet", "OK", 1500))

    # The first flush dies after its PostgreSQL commit, before deleting the batch from Redis.
    redis = capture.job_client()
    monkeypatch.setattr(services.capture, "job_client", lambda: redis)

    def crash(*keys):
        raise ConnectionError("died before cleaning up")

    monkeypatch.setattr(redis, "delete", crash)
    with pytest.raises(ConnectionError):
        _flush()
    assert _total(provider, "calls") == 7
    monkeypatch.undo()

    again = _flush()
    assert again.skipped_batches == 1 and again.calls == 0
    assert _flush().batches == 0
    assert _total(provider, "calls") == 7
    assert MetricTotal.objects.get(provider=provider, operation="bet").calls == 7
    assert FlushedBatch.objects.count() == 1
    assert not capture.job_client().smembers(capture.flushing_set_key())


def test_open_minute_is_not_flushed_and_late_calls_are_added(monkeypatch):
    provider, _ = factories.make_provider("acme")
    fixed = 1_800_000_000.0  # a minute boundary
    monkeypatch.setattr(capture.time, "time", lambda: fixed + 10)
    capture.record_call(CallObservation("acme", "bet", "OK", 1500))
    monkeypatch.undo()
    assert services.flush_metrics(now=fixed + 30).batches == 0  # minute still open
    assert services.flush_metrics(now=fixed + 70).calls == 1
    monkeypatch.setattr(capture.time, "time", lambda: fixed + 59)
    capture.record_call(CallObservation("acme", "bet", "OK", 1500))  # late, same minute
    monkeypatch.undo()
    assert services.flush_metrics(now=fixed + 120).calls == 1
    row = MetricMinute.objects.get(provider=provider)
    assert row.calls == 2 and row.minute.timestamp() == fixed


def test_unknown_provider_codes_are_kept_apart():
    factories.make_provider("acme")
    capture.record_call(CallObservation("no-such|code", "bet", "INVALID_SIGNATURE", 900))
    _flush()
    row = MetricMinute.objects.get(provider__isnull=True)
    assert (row.calls, row.errors, row.outcomes) == (1, 1, {"INVALID_SIGNATURE": 1})


def test_real_wallet_calls_are_counted(wallet_api, provider, token):
    for i in range(5):
        response = wallet_api.call(
            "bet",
            session_token=token,
            transaction_id=f"b{i}",
            round_id=f"r{i}",
            amount="1.00",
            currency="EUR",
        )
        assert response.status_code == 200, response.content
    replay = wallet_api.call(
        "bet", session_token=token, transaction_id="b0", round_id="r0", amount="1.00",
        currency="EUR",
    )  # fmt: skip
    assert replay.json()["duplicate"] is True
    refused = wallet_api.call(
        "bet", session_token=token, transaction_id="big", round_id="rx", amount="1000.00",
        currency="EUR",
    )  # fmt: skip
    assert refused.json()["code"] == "INSUFFICIENT_FUNDS"
    wallet_api.call("balance", session_token=token)
    _flush()

    bets = MetricMinute.objects.get(provider=provider, operation="bet")
    assert bets.calls == 7
    assert bets.outcomes == {"OK": 6, "INSUFFICIENT_FUNDS": 1}
    assert bets.errors == 0  # a refusal the contract foresees is not a failed call
    assert bets.duplicates == 1
    assert sum(bets.latency_buckets) == 7
    # Every accepted bet (and the replay) reports its wallet-lock wait; the refused one does not:
    # the ledger raises INSUFFICIENT_FUNDS without handing back the wait it measured.
    assert sum(bets.lock_wait_buckets) == 6
    assert MetricMinute.objects.get(provider=provider, operation="balance").calls == 1


def test_redis_down_does_not_fail_a_bet_and_the_loss_is_counted(
    settings, wallet_api, player, token
):
    settings.MONITORING_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    # Backing off for the whole test, however slowly its calls run (the default is 1 s).
    settings.MONITORING_REDIS_BACKOFF_SECONDS = 3600
    capture.reset()
    failures_before = hooks.observer_failures["count"]
    for i in range(4):
        response = wallet_api.call(
            "bet", session_token=token, transaction_id=f"d{i}", round_id=f"r{i}",
            amount="2.50", currency="EUR",
        )  # fmt: skip
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "OK"
    assert Wallet.objects.get(player=player).balance_minor == 100_00 - 4 * 2_50
    assert capture.lost_in_this_process() == 4
    assert capture.state.down_until > time.time()  # backing off: Redis not retried for now
    assert hooks.observer_failures["count"] == failures_before  # swallowed by capture itself

    # Redis back: the next recorded call also reports the backlog, which the flush persists.
    settings.MONITORING_REDIS_URL = ""
    capture.state.down_until = 0.0
    capture.record_call(CallObservation("acme", "bet", "OK", 1500))
    assert capture.state.lost_unreported == 0
    result = _flush()
    assert result.lost == 4
    assert FlushedBatch.objects.aggregate(n=Sum("lost"))["n"] == 4


def test_histogram_bucket_bounds_are_inclusive():
    assert histogram.bucket_index(1_000) == histogram.BOUNDS_US.index(1_000)
    assert histogram.bucket_index(1_001) == histogram.BOUNDS_US.index(2_000)
    assert histogram.bucket_index(10**9) == len(histogram.BOUNDS_US)
    assert histogram.bucket_index(0) == 0


def test_background_capture_is_exact_under_concurrency(settings):
    settings.MONITORING_CAPTURE_MODE = "background"
    provider, _ = factories.make_provider("acme")
    threads, per_thread = 6, 200

    def work():
        for i in range(per_thread):
            capture.record_call(CallObservation("acme", "bet", "OK", 900 + i, 50))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert capture.state.sender_pid is not None  # a sender thread was started
    _flush()  # drains what the sender has not written yet
    assert _total(provider, "calls") == threads * per_thread
    assert _total(provider, "latency_sum_us") == threads * sum(900 + i for i in range(per_thread))
    assert capture.lost_in_this_process() == 0


def test_background_capture_with_redis_down_counts_the_loss(settings, wallet_api, player, token):
    settings.MONITORING_CAPTURE_MODE = "background"
    settings.MONITORING_REDIS_URL = "redis://127.0.0.1:1/0"
    capture.reset()
    for i in range(3):
        response = wallet_api.call(
            "bet", session_token=token, transaction_id=f"q{i}", round_id="r", amount="1.00",
            currency="EUR",
        )  # fmt: skip
        assert response.json()["status"] == "OK"
    capture.drain()
    assert capture.lost_in_this_process() == 3
    assert Wallet.objects.get(player=player).balance_minor == 100_00 - 3_00
