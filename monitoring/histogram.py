"""Fixed-bucket latency histograms (Prometheus style) and percentiles from them.

Bucket i counts observations with BOUNDS_US[i-1] < value <= BOUNDS_US[i]; the last bucket
(index len(BOUNDS_US)) is +Inf. Bounds are log-spaced from 250 µs to 5 s and include the
default thresholds (50 ms lock wait, 500 ms latency), so "p95 above the threshold" is decided
exactly by bucket counts, not by interpolation.
"""

from bisect import bisect_left
from collections.abc import Iterable, Sequence

BOUNDS_US: tuple[int, ...] = (
    250,
    500,
    1_000,
    2_000,
    3_000,
    5_000,
    7_500,
    10_000,
    20_000,
    30_000,
    50_000,
    75_000,
    100_000,
    200_000,
    300_000,
    500_000,
    750_000,
    1_000_000,
    2_000_000,
    5_000_000,
)
BUCKETS = len(BOUNDS_US) + 1  # with +Inf


def bucket_index(value_us: int) -> int:
    """Index of the bucket a value falls in (upper bounds inclusive, as Prometheus `le`)."""
    return bisect_left(BOUNDS_US, value_us)


def empty() -> list[int]:
    return [0] * BUCKETS


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    total = empty()
    for histogram in histograms:
        for i, count in enumerate(histogram[:BUCKETS]):
            total[i] += int(count)
    return total


def percentile_us(histogram: Sequence[int], quantile: float) -> float | None:
    """The quantile (0 < q <= 1) estimated from bucket counts, interpolating linearly inside
    the bucket the rank falls in (as Prometheus' histogram_quantile). None without data; a rank
    in the +Inf bucket reports the highest finite bound."""
    total = sum(histogram)
    if total <= 0:
        return None
    rank = quantile * total
    cumulative = 0
    for i, count in enumerate(histogram):
        if count and cumulative + count >= rank:
            if i >= len(BOUNDS_US):
                return float(BOUNDS_US[-1])
            lower = BOUNDS_US[i - 1] if i > 0 else 0
            upper = BOUNDS_US[i]
            return lower + (upper - lower) * (rank - cumulative) / count
        cumulative += count
    return float(BOUNDS_US[-1])
