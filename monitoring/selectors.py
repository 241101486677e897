"""Reads of the monitoring app: call statistics over a window (roll-ups plus what is still in
Redis), chart series, the provider overview. Dashboards and alerts read roll-ups, never the
transaction table."""

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from monitoring import capture, histogram
from monitoring.choices import OPEN_STATES, AlertState, is_error_outcome
from monitoring.models import Alert, FlushedBatch, GaugeMinute
from wallets.choices import ProviderStatus
from wallets.models import Provider

logger = logging.getLogger("pitboss.monitoring")


@dataclass
class CallStats:
    calls: int = 0
    errors: int = 0
    duplicates: int = 0
    latency_buckets: list[int] = field(default_factory=histogram.empty)
    latency_sum_us: int = 0
    lock_wait_buckets: list[int] = field(default_factory=histogram.empty)
    lock_wait_sum_us: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, *, calls, errors, duplicates, outcomes, latency_buckets, latency_sum_us,
            lock_wait_buckets, lock_wait_sum_us) -> None:  # fmt: skip
        self.calls += calls
        self.errors += errors
        self.duplicates += duplicates
        for code, count in outcomes.items():
            self.outcomes[code] = self.outcomes.get(code, 0) + count
        self.latency_buckets = histogram.merge([self.latency_buckets, latency_buckets])
        self.lock_wait_buckets = histogram.merge([self.lock_wait_buckets, lock_wait_buckets])
        self.latency_sum_us += latency_sum_us
        self.lock_wait_sum_us += lock_wait_sum_us

    @property
    def lock_waits(self) -> int:
        return sum(self.lock_wait_buckets)

    @property
    def error_rate_percent(self) -> float | None:
        return 100.0 * self.errors / self.calls if self.calls else None

    def latency_ms(self, quantile: float) -> float | None:
        value = histogram.percentile_us(self.latency_buckets, quantile)
        return None if value is None else value / 1000

    def lock_wait_ms(self, quantile: float) -> float | None:
        value = histogram.percentile_us(self.lock_wait_buckets, quantile)
        return None if value is None else value / 1000


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def errors_of(outcomes: dict[str, int]) -> int:
    return sum(count for code, count in outcomes.items() if is_error_outcome(code))


def provider_ids_by_code() -> dict[str, int]:
    return dict(Provider.objects.values_list("code", "id"))


def live_minutes(minutes: list[int], *, include_flushing: bool = False):
    """Figures still in Redis: [(minute epoch, {(code, operation): figures}, lost)].

    With include_flushing, batches being moved whose PostgreSQL commit has not happened yet are
    included too (so /metrics counters never dip during a flush). Redis down: nothing, logged."""
    out = []
    try:
        redis = capture.job_client()
        keys = [(m, capture.minute_key(m)) for m in minutes]
        if include_flushing:
            batches = sorted(redis.smembers(capture.flushing_set_key()))
            done = set(
                FlushedBatch.objects.filter(batch_key__in=batches).values_list(
                    "batch_key", flat=True
                )
            )
            keys += [(int(b.rsplit(":", 2)[-2]), b) for b in batches if b not in done]
        pipe = redis.pipeline(transaction=False)
        for _, key in keys:
            pipe.hgetall(key)
        for (minute, _), raw in zip(keys, pipe.execute(), strict=True):
            if raw:
                groups, lost = capture.parse_minute_hash(raw)
                out.append((minute, groups, lost))
    except Exception:
        logger.warning("reading live metrics from Redis failed", exc_info=True)
    return out


def pending_minutes() -> list[int]:
    """Minutes with figures in Redis not yet moved to PostgreSQL."""
    try:
        return sorted(int(m) for m in capture.job_client().smembers(capture.minutes_set_key()))
    except Exception:
        logger.warning("reading the minutes set from Redis failed", exc_info=True)
        return []


_WINDOW_TOTALS_SQL = """
SELECT provider_id, SUM(calls), SUM(errors), SUM(duplicates), SUM(latency_sum_us),
       SUM(lock_wait_sum_us)
FROM monitoring_metricminute
WHERE minute >= %(start)s AND minute <= %(end)s AND provider_id IS NOT NULL
GROUP BY provider_id
"""
_WINDOW_BUCKETS_SQL = """
SELECT m.provider_id, 'l', u.i, SUM(u.n)
FROM monitoring_metricminute m, unnest(m.latency_buckets) WITH ORDINALITY AS u(n, i)
WHERE m.minute >= %(start)s AND m.minute <= %(end)s AND m.provider_id IS NOT NULL GROUP BY 1, 3
UNION ALL
SELECT m.provider_id, 'w', u.i, SUM(u.n)
FROM monitoring_metricminute m, unnest(m.lock_wait_buckets) WITH ORDINALITY AS u(n, i)
WHERE m.minute >= %(start)s AND m.minute <= %(end)s AND m.provider_id IS NOT NULL GROUP BY 1, 3
"""
_WINDOW_OUTCOMES_SQL = """
SELECT m.provider_id, o.key, SUM(o.value::bigint)
FROM monitoring_metricminute m, jsonb_each_text(m.outcomes) AS o
WHERE m.minute >= %(start)s AND m.minute <= %(end)s AND m.provider_id IS NOT NULL GROUP BY 1, 2
"""


def window_call_stats(*, minutes: int, now: datetime | None = None, live: bool = True):
    """{provider id: CallStats} over the current minute and the `minutes` before it, from the
    roll-ups plus, with `live`, the minutes still in Redis. Calls naming unknown provider codes
    are left out."""
    now = now or timezone.now()
    start = floor_minute(now) - timedelta(minutes=minutes)
    stats: dict[int, CallStats] = {}
    params = {"start": start, "end": now}
    with connection.cursor() as cursor:
        # Summed in the database: a week of minutes is ~10^4 rows per provider and operation.
        cursor.execute(_WINDOW_TOTALS_SQL, params)
        for pid, calls, errors, dups, lat_sum, lock_sum in cursor.fetchall():
            figures = stats.setdefault(pid, CallStats())
            figures.calls, figures.errors, figures.duplicates = int(calls), int(errors), int(dups)
            figures.latency_sum_us, figures.lock_wait_sum_us = int(lat_sum), int(lock_sum)
        cursor.execute(_WINDOW_BUCKETS_SQL, params)
        for pid, which, index, count in cursor.fetchall():
            target = stats[pid].latency_buckets if which == "l" else stats[pid].lock_wait_buckets
            if 1 <= index <= histogram.BUCKETS:
                target[index - 1] = int(count)
        cursor.execute(_WINDOW_OUTCOMES_SQL, params)
        for pid, code, count in cursor.fetchall():
            stats[pid].outcomes[code] = int(count)
    if live:
        first = int(start.timestamp())
        last = int(floor_minute(now).timestamp())
        ids = provider_ids_by_code()
        in_redis = [m for m in pending_minutes() if first <= m <= last]
        for _, groups, _ in live_minutes(in_redis):
            for (code, _operation), figures in groups.items():
                pid = ids.get(code)
                if pid is None:
                    continue
                stats.setdefault(pid, CallStats()).add(
                    errors=errors_of(figures["outcomes"]), **figures
                )
    return stats


# --- dashboard ------------------------------------------------------------------------------

HEALTHY, DEGRADED = "healthy", "degraded"


@dataclass
class ProviderHealth:
    provider: Provider
    health: str  # healthy | degraded | restricted | suspended
    open_alerts: int
    firing_alerts: int
    stats: CallStats

    @property
    def latency_p95_ms(self) -> float | None:
        return self.stats.latency_ms(0.95)


def provider_overview(*, now: datetime | None = None, minutes: int = 60) -> list[ProviderHealth]:
    """Every provider: healthy, degraded (an alert is firing or acknowledged), restricted or
    suspended; open alerts and the last hour's calls."""
    now = now or timezone.now()
    stats = window_call_stats(minutes=minutes, now=now)
    alert_counts = {
        (row["provider_id"], row["state"]): row["n"]
        for row in Alert.objects.filter(state__in=OPEN_STATES)
        .values("provider_id", "state")
        .annotate(n=Count("id"))
    }
    out = []
    for provider in Provider.objects.order_by("code"):
        firing = alert_counts.get((provider.pk, AlertState.FIRING), 0) + alert_counts.get(
            (provider.pk, AlertState.ACKNOWLEDGED), 0
        )
        open_alerts = firing + alert_counts.get((provider.pk, AlertState.PENDING), 0)
        if provider.status != ProviderStatus.ACTIVE:
            health = provider.status
        elif firing:
            health = DEGRADED
        else:
            health = HEALTHY
        out.append(
            ProviderHealth(
                provider=provider,
                health=health,
                open_alerts=open_alerts,
                firing_alerts=firing,
                stats=stats.get(provider.pk, CallStats()),
            )
        )
    return out


_SERIES_SQL = """
SELECT floor(extract(epoch FROM m.minute) / %(bin)s)::bigint AS bin,
       SUM(m.calls), SUM(m.errors)
FROM monitoring_metricminute m
WHERE m.provider_id = %(provider)s AND m.minute >= %(start)s AND m.minute <= %(end)s
GROUP BY 1
"""

# Element-wise sum of the histogram arrays per time bin, in the database.
_BUCKETS_SQL = """
SELECT floor(extract(epoch FROM m.minute) / %(bin)s)::bigint AS bin, u.i, SUM(u.n)
FROM monitoring_metricminute m,
     unnest(m.latency_buckets) WITH ORDINALITY AS u(n, i)
WHERE m.provider_id = %(provider)s AND m.minute >= %(start)s AND m.minute <= %(end)s
GROUP BY 1, 2
"""


@dataclass
class Series:
    """Chart series over a window: parallel lists, one point per time bin (None: no data)."""

    times: list[datetime]
    latency_p50_ms: list[float | None]
    latency_p95_ms: list[float | None]
    latency_p99_ms: list[float | None]
    calls: list[int]
    error_rate_percent: list[float | None]
    gauges: dict[str, list[float | None]]
    bin_seconds: int

    @property
    def has_calls(self) -> bool:
        return any(self.calls)


def provider_series(
    *, provider: Provider, hours: int, now: datetime | None = None, points: int = 60
) -> Series:
    """Latency percentiles, calls, error rate and gauges of one provider over the last `hours`,
    in about `points` time bins (whole minutes)."""
    now = now or timezone.now()
    bin_seconds = max(60, math.ceil(hours * 3600 / points / 60) * 60)
    end_epoch = int(now.timestamp())
    first_bin = (end_epoch - hours * 3600) // bin_seconds
    last_bin = end_epoch // bin_seconds
    start = datetime.fromtimestamp(first_bin * bin_seconds, tz=UTC)
    params = {"bin": bin_seconds, "provider": provider.pk, "start": start, "end": now}
    with connection.cursor() as cursor:
        cursor.execute(_SERIES_SQL, params)
        totals = {b: (int(c), int(e)) for b, c, e in cursor.fetchall()}
        cursor.execute(_BUCKETS_SQL, params)
        buckets: dict[int, list[int]] = {}
        for b, i, n in cursor.fetchall():
            buckets.setdefault(b, histogram.empty())[i - 1] = int(n)
    gauge_rows = (
        GaugeMinute.objects.filter(provider=provider, minute__gte=start, minute__lte=now)
        .order_by("minute")
        .values_list("name", "minute", "value")
    )
    gauge_bins: dict[str, dict[int, float]] = {}
    for name, minute, value in gauge_rows:
        # The highest value in the bin: a spike must not be averaged away.
        b = int(minute.timestamp()) // bin_seconds
        current = gauge_bins.setdefault(name, {}).get(b)
        gauge_bins[name][b] = value if current is None else max(current, value)
    bins = list(range(first_bin, last_bin + 1))
    series = Series(
        times=[datetime.fromtimestamp(b * bin_seconds, tz=UTC) for b in bins],
        latency_p50_ms=[],
        latency_p95_ms=[],
        latency_p99_ms=[],
        calls=[],
        error_rate_percent=[],
        gauges={name: [values.get(b) for b in bins] for name, values in gauge_bins.items()},
        bin_seconds=bin_seconds,
    )
    for b in bins:
        calls, errors = totals.get(b, (0, 0))
        series.calls.append(calls)
        series.error_rate_percent.append(100.0 * errors / calls if calls else None)
        hist = buckets.get(b)
        for quantile, target in (
            (0.50, series.latency_p50_ms),
            (0.95, series.latency_p95_ms),
            (0.99, series.latency_p99_ms),
        ):
            value = histogram.percentile_us(hist, quantile) if hist else None
            target.append(None if value is None else value / 1000)
    return series


def minute_epoch_now() -> int:
    return int(time.time()) // 60 * 60
