"""Reads of the monitoring app: call statistics over a window (roll-ups plus what is still in
Redis), chart series, the provider overview. Dashboards and alerts read roll-ups, never the
transaction table."""

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
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


# --- current figures and health ----------------------------------------------------------------

HEALTHY, DEGRADED, FAILING = "healthy", "degraded", "failing"
HEALTH_STATES = (HEALTHY, DEGRADED, FAILING)
# An error rate at least this many times the profile's threshold is "far above": failing.
FAILING_ERROR_FACTOR = 5


@dataclass
class ProviderFigures:
    """A provider's current figures: its profile's window (the last `window_minutes` closed
    minutes plus the current one, roll-ups and what is still in Redis). Health, the overview,
    the provider page's summary and the alert rules all read these, so they cannot disagree."""

    provider_id: int
    window_minutes: int
    min_calls: int
    stats: CallStats
    window_start: datetime
    now: datetime

    @property
    def calls(self) -> int:
        return self.stats.calls

    @property
    def errors(self) -> int:
        return self.stats.errors

    @property
    def successful(self) -> int:
        """Calls that were not errors (OK, or a refusal the contract foresees)."""
        return self.stats.calls - self.stats.errors

    @property
    def error_rate_percent(self) -> float | None:
        return self.stats.error_rate_percent

    @property
    def p50_ms(self) -> float | None:
        return self.stats.latency_ms(0.50)

    @property
    def p95_ms(self) -> float | None:
        return self.stats.latency_ms(0.95)

    @property
    def p99_ms(self) -> float | None:
        return self.stats.latency_ms(0.99)

    @property
    def enough_calls(self) -> bool:
        """Latency and error-rate verdicts need at least the profile's `min_calls`."""
        return self.stats.calls >= self.min_calls

    @property
    def current_minute_seconds(self) -> int:
        """How much of the window's last minute has passed (0-59 s): the last minute is
        partial, so the window covers `window_minutes` minutes plus these seconds."""
        return self.now.second

    @property
    def covered_seconds(self) -> int:
        return int((self.now - self.window_start).total_seconds())


def current_figures(
    *, now: datetime | None = None, profiles: dict | None = None
) -> dict[int, ProviderFigures]:
    """{provider id: ProviderFigures} for every provider, each over its own profile's window.
    `profiles` is {provider id: MonitoringProfile} (missing ones are created)."""
    from monitoring.services import ensure_profiles  # services imports this module

    now = now or timezone.now()
    profiles = profiles if profiles is not None else ensure_profiles()
    by_window = {
        window: window_call_stats(minutes=window, now=now)
        for window in {p.window_minutes for p in profiles.values()}
    }
    return {
        pid: ProviderFigures(
            provider_id=pid,
            window_minutes=profile.window_minutes,
            min_calls=profile.min_calls,
            stats=by_window[profile.window_minutes].get(pid, CallStats()),
            window_start=floor_minute(now) - timedelta(minutes=profile.window_minutes),
            now=now,
        )
        for pid, profile in profiles.items()
    }


def failing_threshold(profile) -> float:
    """The error rate (%) above which a provider is failing: FAILING_ERROR_FACTOR times its
    profile's threshold, below 100 % so that no successful call at all always is."""
    return min(float(profile.error_rate_percent) * FAILING_ERROR_FACTOR, 99.99)


def failing_reasons(figures: ProviderFigures, profile) -> list[str]:
    """Why the provider is failing (empty: it is not). Read by health and by the
    provider_failing alert rule alike."""
    if not figures.enough_calls:
        return []
    rate = figures.error_rate_percent
    if figures.successful == 0:
        return [f"no successful call of {figures.calls} in {figures.window_minutes} min"]
    if rate > failing_threshold(profile):
        return [
            f"error rate {rate:.2f} % is far above the threshold "
            f"{float(profile.error_rate_percent):g} % ({figures.errors} of {figures.calls} calls)"
        ]
    return []


def health_of(figures: ProviderFigures, profile, open_alerts: list[Alert]) -> tuple[str, list]:
    """(healthy | degraded | failing, reasons) from the provider's current figures against its
    profile, and its open alerts:

    - failing: enough calls and none succeeded, or an error rate above FAILING_ERROR_FACTOR
      times the profile's threshold (`failing_reasons`, also the provider_failing rule);
    - degraded: an open alert (pending included: the condition holds, it just has not held
      long enough to notify), or the error rate or latency p95 above the profile's threshold;
    - healthy otherwise (too few calls for a verdict is said so in the reasons)."""
    failing, degraded = failing_reasons(figures, profile), []
    threshold = float(profile.error_rate_percent)
    if figures.enough_calls:
        rate = figures.error_rate_percent
        if not failing and rate > threshold:
            degraded.append(f"error rate {rate:.2f} % above the threshold {threshold:g} %")
        p95 = figures.p95_ms
        if p95 is not None and p95 > profile.latency_p95_ms:
            degraded.append(f"latency p95 {p95:.1f} ms above {profile.latency_p95_ms} ms")
    for alert in open_alerts:
        degraded.append(f"{alert.state} alert: {alert.summary}")
    if failing:
        return FAILING, failing + degraded
    if degraded:
        return DEGRADED, degraded
    if not figures.calls:
        return HEALTHY, [f"no call in the last {figures.window_minutes} min"]
    if not figures.enough_calls:
        return HEALTHY, [
            f"{figures.calls} calls in {figures.window_minutes} min: fewer than "
            f"{figures.min_calls}, no latency or error verdict"
        ]
    return HEALTHY, []


@dataclass
class ProviderHealth:
    provider: Provider
    health: str  # healthy | degraded | failing (from figures and alerts)
    reasons: list[str]
    open_alerts: int
    firing_alerts: int
    pending_alerts: int
    figures: ProviderFigures
    profile: object
    sparkline: object = None  # inline SVG of calls per minute over the last hour

    @property
    def stats(self) -> CallStats:
        return self.figures.stats

    @property
    def state(self) -> str:
        """What the overview counts: the provider's status when it is restricted or suspended
        (no new sessions or no bets whatever the figures), else its health."""
        if self.provider.status != ProviderStatus.ACTIVE:
            return self.provider.status
        return self.health

    @property
    def latency_p95_ms(self) -> float | None:
        return self.figures.p95_ms


OVERVIEW_STATES = (
    HEALTHY,
    DEGRADED,
    FAILING,
    ProviderStatus.RESTRICTED.value,
    ProviderStatus.SUSPENDED.value,
)


def open_alerts(queryset=None):
    """Open alerts (pending, firing or acknowledged): the alerts card's count and the alert
    list it links to (the admin's "open" filter) both come from here."""
    queryset = Alert.objects.all() if queryset is None else queryset
    return queryset.filter(state__in=OPEN_STATES)


def provider_health(*, now: datetime | None = None, figures=None, profiles=None) -> dict:
    """{provider id: ProviderHealth} for every provider."""
    from monitoring.services import ensure_profiles

    now = now or timezone.now()
    profiles = profiles if profiles is not None else ensure_profiles()
    figures = figures if figures is not None else current_figures(now=now, profiles=profiles)
    alerts_by_provider: dict[int, list[Alert]] = {}
    for alert in open_alerts().exclude(provider=None).order_by("started_at", "id"):
        alerts_by_provider.setdefault(alert.provider_id, []).append(alert)
    out = {}
    for provider in Provider.objects.order_by("code"):
        alerts = alerts_by_provider.get(provider.pk, [])
        health, reasons = health_of(figures[provider.pk], profiles[provider.pk], alerts)
        firing = sum(1 for a in alerts if a.state != AlertState.PENDING)
        out[provider.pk] = ProviderHealth(
            provider=provider,
            health=health,
            reasons=reasons,
            open_alerts=len(alerts),
            firing_alerts=firing,
            pending_alerts=len(alerts) - firing,
            figures=figures[provider.pk],
            profile=profiles[provider.pk],
        )
    return out


def provider_overview(*, now: datetime | None = None) -> list[ProviderHealth]:
    """Every provider, by code: health with its reasons, status, current figures."""
    return list(provider_health(now=now).values())


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
    # Everything the bins hold, added up: the page's summary over the window is this, so it
    # cannot disagree with the charts.
    total: CallStats = field(default_factory=CallStats)
    # Seconds of the last bin that have passed (equal to bin_seconds when it is complete).
    last_bin_seconds: int = 0

    @property
    def has_calls(self) -> bool:
        return any(self.calls)

    @property
    def last_bin_partial(self) -> bool:
        return self.last_bin_seconds < self.bin_seconds

    @property
    def calls_per_minute(self) -> list[float | None]:
        """Calls per bin as a rate: the partial last bin is divided by the minutes that have
        passed in it, so it does not look like a drop."""
        rates: list[float | None] = [c * 60 / self.bin_seconds for c in self.calls]
        if rates and self.last_bin_partial:
            elapsed = max(self.last_bin_seconds, 1)
            rates[-1] = self.calls[-1] * 60 / elapsed if self.last_bin_seconds >= 5 else None
        return rates


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
    # Minutes still in Redis (not flushed yet), as the alert rules and the overview see them.
    in_redis = [m for m in pending_minutes() if int(start.timestamp()) <= m <= end_epoch]
    for minute, groups, _ in live_minutes(in_redis):
        b = minute // bin_seconds
        for (code, _operation), figures in groups.items():
            if code != provider.code:
                continue
            calls, errors = totals.get(b, (0, 0))
            totals[b] = (calls + figures["calls"], errors + errors_of(figures["outcomes"]))
            buckets[b] = histogram.merge(
                [buckets.get(b, histogram.empty()), figures["latency_buckets"]]
            )
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
        last_bin_seconds=min(bin_seconds, end_epoch - last_bin * bin_seconds),
    )
    for b in bins:
        calls, errors = totals.get(b, (0, 0))
        series.total.calls += calls
        series.total.errors += errors
        if b in buckets:
            series.total.latency_buckets = histogram.merge(
                [series.total.latency_buckets, buckets[b]]
            )
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


_CALLS_PER_MINUTE_SQL = """
SELECT provider_id, minute, SUM(calls) FROM monitoring_metricminute
WHERE minute >= %(start)s AND minute <= %(end)s AND provider_id IS NOT NULL
GROUP BY 1, 2
"""


def calls_per_minute(*, now: datetime | None = None, minutes: int = 60) -> dict[int, list]:
    """{provider id: calls per minute} over the last `minutes` minutes and the current one
    (roll-ups plus Redis), for the overview's sparklines. The current minute is partial: its
    count is scaled to a per-minute rate over the seconds that have passed (None in its first
    5 s), so the line never drops at its end just because the minute is not over."""
    now = now or timezone.now()
    start = floor_minute(now) - timedelta(minutes=minutes)
    first = int(start.timestamp())
    counts: dict[int, dict[int, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_CALLS_PER_MINUTE_SQL, {"start": start, "end": now})
        for pid, minute, calls in cursor.fetchall():
            counts.setdefault(pid, {})[int(minute.timestamp())] = int(calls)
    ids = provider_ids_by_code()
    last = int(floor_minute(now).timestamp())
    for minute, groups, _ in live_minutes([m for m in pending_minutes() if first <= m <= last]):
        for (code, _operation), figures in groups.items():
            pid = ids.get(code)
            if pid is not None:
                per = counts.setdefault(pid, {})
                per[minute] = per.get(minute, 0) + figures["calls"]
    out = {}
    for pid, per in counts.items():
        points: list[float | None] = [float(per.get(first + 60 * i, 0)) for i in range(minutes + 1)]
        points[-1] = points[-1] * 60 / now.second if now.second >= 5 else None
        out[pid] = points
    return out
