"""Percentiles from merged bucket histograms, against known distributions."""

import random
import time

import pytest

from monitoring import capture, histogram, selectors, services
from tests import factories
from wallets.hooks import CallObservation


def test_percentile_interpolates_inside_the_bucket():
    buckets = histogram.empty()
    buckets[histogram.bucket_index(1_500)] = 900  # (1 ms, 2 ms]
    buckets[histogram.bucket_index(40_000)] = 90  # (30 ms, 50 ms]
    buckets[histogram.bucket_index(600_000)] = 10  # (500 ms, 750 ms]
    # rank 500 of 900 in (1000, 2000]
    assert histogram.percentile_us(buckets, 0.50) == pytest.approx(1_000 + 1_000 * 500 / 900)
    # rank 950: 50 of 90 into (30000, 50000]
    assert histogram.percentile_us(buckets, 0.95) == pytest.approx(30_000 + 20_000 * 50 / 90)
    assert histogram.percentile_us(buckets, 0.99) == pytest.approx(50_000)
    assert histogram.percentile_us(buckets, 1.0) == pytest.approx(750_000)
    assert histogram.percentile_us(histogram.empty(), 0.5) is None


def test_rank_in_the_overflow_bucket_reports_the_highest_bound():
    buckets = histogram.empty()
    buckets[-1] = 5
    assert histogram.percentile_us(buckets, 0.5) == histogram.BOUNDS_US[-1]


@pytest.mark.django_db
def test_rollup_percentiles_match_a_known_distribution():
    """Log-uniform latencies recorded through capture, flushed, merged over the window: every
    estimated percentile lies in the same bucket as the exact one."""
    provider, _ = factories.make_provider("acme")
    rng = random.Random(4)
    values = [int(10 ** rng.uniform(2.7, 6.3)) for _ in range(3000)]  # 0.5 ms .. 2 s
    for value in values:
        capture.record_call(CallObservation("acme", "bet", "OK", value))
    services.flush_metrics(now=time.time() + 3600)
    stats = selectors.window_call_stats(minutes=10)[provider.pk]
    assert stats.calls == len(values)
    assert stats.latency_sum_us == sum(values)
    ordered = sorted(values)
    for quantile in (0.50, 0.95, 0.99):
        exact = ordered[int(quantile * len(ordered)) - 1]
        estimate_us = stats.latency_ms(quantile) * 1000
        index = histogram.bucket_index(exact)
        lower = histogram.BOUNDS_US[index - 1] if index else 0
        assert lower <= estimate_us <= histogram.BOUNDS_US[index], (quantile, exact, estimate_us)


@pytest.mark.django_db
def test_window_merges_rollups_with_minutes_still_in_redis():
    provider, _ = factories.make_provider("acme")
    for _ in range(3):
        capture.record_call(CallObservation("acme", "bet", "OK", 1500))
    services.flush_metrics(now=time.time() + 3600)
    for _ in range(2):
        capture.record_call(CallObservation("acme", "bet", "INTERNAL_ERROR", 80_000))
    stats = selectors.window_call_stats(minutes=5)[provider.pk]
    assert (stats.calls, stats.errors) == (5, 2)
    assert selectors.window_call_stats(minutes=5, live=False)[provider.pk].calls == 3
