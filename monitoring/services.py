"""Writes of the monitoring app: moving captured metrics into PostgreSQL, monitoring profiles,
the alert engine, auto-protection, notifications, acknowledging and resolving alerts, silences.

Every staff change is audited (wallets.services.record_audit). Nothing here moves money.
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from monitoring import capture, histogram, retries, selectors
from monitoring.choices import (
    IMMEDIATE_RULES,
    OPEN_STATES,
    AlertRule,
    AlertState,
    DeliveryChannel,
    DeliveryEvent,
    DeliveryStatus,
    ProfileTemplate,
    ProtectionAction,
)
from monitoring.models import (
    Alert,
    FlushedBatch,
    GaugeMinute,
    MetricMinute,
    MetricTotal,
    MonitoringProfile,
    NotificationDelivery,
    Silence,
)
from monitoring.profiles import TEMPLATE_FIELDS, TEMPLATES
from wallets import hooks
from wallets import selectors as wallet_selectors
from wallets import services as wallet_services
from wallets.choices import ProviderStatus
from wallets.errors import NotAllowed, ValidationFailed
from wallets.models import Provider

logger = logging.getLogger("pitboss.monitoring")

# pg advisory lock keys: one flusher and one evaluator at a time.
_FLUSH_LOCK = 0x6D6F6E01
_EVALUATE_LOCK = 0x6D6F6E02
# A minute is closed this long after its end (calls observed at :59.99 may still be in flight).
FLUSH_GRACE_SECONDS = 5
AUTO_PROTECTION_LABEL = "policy:auto-protection"


# --- capture → PostgreSQL ---------------------------------------------------------------------


@dataclass
class FlushResult:
    batches: int = 0
    calls: int = 0
    lost: int = 0
    skipped_batches: int = 0  # already flushed before (idempotency)
    pruned: int = 0


def flush_metrics(*, now: float | None = None, prune: bool = True) -> FlushResult:
    """Move every closed minute from Redis into MetricMinute / MetricTotal rows.

    Guarantees: a captured call is counted exactly once in PostgreSQL. Each minute's hash is
    renamed to a unique batch key (atomic in Redis, so one flusher takes it), then added to the
    roll-ups in one transaction that also records the batch in FlushedBatch; the batch is deleted
    from Redis only after that commit. A run that died in between finds the batch in the
    `flushing` set and skips it if FlushedBatch has it, so flushing twice never double counts.
    Late calls for a minute already flushed land in a fresh hash and are added on the next run.
    """
    now = time.time() if now is None else now
    capture.drain()  # what this process still has queued (a no-op in a worker)
    redis_client = capture.job_client()
    result = FlushResult()
    for batch in sorted(redis_client.smembers(capture.flushing_set_key())):
        _flush_batch(redis_client, batch, result)
    for minute in _minutes_in_redis(redis_client):
        if minute + 60 + FLUSH_GRACE_SECONDS > now:
            continue
        batch = f"{capture.prefix()}:f:{minute}:{uuid.uuid4().hex}"
        # Announce the batch before taking it, so a run that dies here leaves a trace the next
        # run finishes (an empty batch, if the rename never happened).
        redis_client.sadd(capture.flushing_set_key(), batch)
        try:
            redis_client.rename(capture.minute_key(minute), batch)
        except redis.ResponseError:  # no such key: expired, or another flusher took it
            redis_client.srem(capture.flushing_set_key(), batch)
            redis_client.srem(capture.minutes_set_key(), minute)
            continue
        # A late call re-creates the minute's hash; the key scan below finds it next time.
        redis_client.srem(capture.minutes_set_key(), minute)
        _flush_batch(redis_client, batch, result)
    if prune:
        result.pruned = prune_metrics()
    return result


def _minutes_in_redis(redis_client) -> list[int]:
    """Minutes with a hash in Redis: the minutes set, plus a key scan (a minute whose set entry
    was removed while a late call re-created its hash is still found)."""
    minutes = {int(m) for m in redis_client.smembers(capture.minutes_set_key())}
    pattern = capture.minute_key(0)[:-1] + "*"
    for key in redis_client.scan_iter(match=pattern, count=1000):
        minutes.add(int(key.rsplit(":", 1)[-1]))
    return sorted(minutes)


def _flush_batch(redis_client, batch: str, result: FlushResult) -> None:
    minute_epoch = int(batch.rsplit(":", 2)[-2])
    minute = datetime.fromtimestamp(minute_epoch, tz=UTC)
    groups, lost = capture.parse_minute_hash(redis_client.hgetall(batch))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FLUSH_LOCK])
        if FlushedBatch.objects.filter(batch_key=batch).exists():
            result.skipped_batches += 1
        else:
            calls = _add_to_rollups(minute, groups)
            FlushedBatch.objects.create(batch_key=batch, minute=minute, calls=calls, lost=lost)
            result.batches += 1
            result.calls += calls
            result.lost += lost
    redis_client.delete(batch)
    redis_client.srem(capture.flushing_set_key(), batch)


def _merge_figures(target: dict, figures: dict) -> None:
    target["calls"] += figures["calls"]
    target["duplicates"] += figures["duplicates"]
    for code, count in figures["outcomes"].items():
        target["outcomes"][code] = target["outcomes"].get(code, 0) + count
    target["latency_buckets"] = histogram.merge(
        [target["latency_buckets"], figures["latency_buckets"]]
    )
    target["lock_wait_buckets"] = histogram.merge(
        [target["lock_wait_buckets"], figures["lock_wait_buckets"]]
    )
    target["latency_sum_us"] += figures["latency_sum_us"]
    target["lock_wait_sum_us"] += figures["lock_wait_sum_us"]


def _add_row(row, figures: dict) -> None:
    row.calls += figures["calls"]
    row.errors += selectors.errors_of(figures["outcomes"])
    row.duplicates += figures["duplicates"]
    outcomes = dict(row.outcomes)
    for code, count in figures["outcomes"].items():
        outcomes[code] = outcomes.get(code, 0) + count
    row.outcomes = outcomes
    row.latency_buckets = histogram.merge([row.latency_buckets, figures["latency_buckets"]])
    row.lock_wait_buckets = histogram.merge([row.lock_wait_buckets, figures["lock_wait_buckets"]])
    row.latency_sum_us += figures["latency_sum_us"]
    row.lock_wait_sum_us += figures["lock_wait_sum_us"]


_ROW_FIELDS = [
    "calls",
    "errors",
    "duplicates",
    "outcomes",
    "latency_buckets",
    "latency_sum_us",
    "lock_wait_buckets",
    "lock_wait_sum_us",
]


def _blank(model, **key):
    return model(
        **key,
        outcomes={},
        latency_buckets=histogram.empty(),
        lock_wait_buckets=histogram.empty(),
    )


def _add_to_rollups(minute: datetime, groups: dict) -> int:
    """Add one batch to the minute rows and the running totals (caller holds the flush lock)."""
    ids = selectors.provider_ids_by_code()
    merged: dict[tuple[int | None, str], dict] = {}
    for (code, operation), figures in groups.items():
        key = (ids.get(code), operation[:32])
        _merge_figures(merged.setdefault(key, capture.new_figures()), figures)
    if not merged:
        return 0
    existing = {(r.provider_id, r.operation): r for r in MetricMinute.objects.filter(minute=minute)}
    totals = {(r.provider_id, r.operation): r for r in MetricTotal.objects.all()}
    new_minutes, new_totals = [], []
    for (provider_id, operation), figures in merged.items():
        for model, rows, created, key in (
            (MetricMinute, existing, new_minutes, {"minute": minute}),
            (MetricTotal, totals, new_totals, {}),
        ):
            row = rows.get((provider_id, operation))
            if row is None:
                row = _blank(model, provider_id=provider_id, operation=operation, **key)
                created.append(row)
            _add_row(row, figures)
    changed_minutes = [r for r in existing.values() if r.pk and r not in new_minutes]
    MetricMinute.objects.bulk_create(new_minutes)
    MetricMinute.objects.bulk_update(changed_minutes, _ROW_FIELDS)
    MetricTotal.objects.bulk_create(new_totals)
    MetricTotal.objects.bulk_update([r for r in totals.values() if r.pk], _ROW_FIELDS)
    return sum(f["calls"] for f in merged.values())


def prune_metrics(*, now: datetime | None = None) -> int:
    """Delete roll-ups, gauges and flush records older than MONITORING_RETENTION_DAYS."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.MONITORING_RETENTION_DAYS)
    deleted = 0
    for model in (MetricMinute, GaugeMinute, FlushedBatch):
        deleted += model.objects.filter(minute__lt=cutoff).delete()[0]
    return deleted


# --- monitoring profiles --------------------------------------------------------------------


def ensure_profiles() -> dict[int, MonitoringProfile]:
    """Every provider's profile, creating missing ones on the `conservative` template
    (idempotent; concurrent callers do not clash)."""
    profiles = {p.provider_id: p for p in MonitoringProfile.objects.all()}
    missing = Provider.objects.exclude(pk__in=profiles.keys()).values_list("pk", flat=True)
    if missing:
        MonitoringProfile.objects.bulk_create(
            [MonitoringProfile(provider_id=pk) for pk in missing], ignore_conflicts=True
        )
        profiles = {p.provider_id: p for p in MonitoringProfile.objects.all()}
    return profiles


def profile_for(provider: Provider) -> MonitoringProfile:
    profile, _ = MonitoringProfile.objects.get_or_create(provider=provider)
    return profile


def _profile_snapshot(profile: MonitoringProfile, names) -> dict:
    return {name: str(getattr(profile, name)) for name in names}


def apply_profile_template(
    *, profile: MonitoringProfile, template: str, actor, reason: str = ""
) -> MonitoringProfile:
    """Set the profile's thresholds and periods to a template's values; audited with before and
    after. Auto-protection settings are left as they are (a separate, deliberate choice)."""
    if template not in TEMPLATES:
        raise ValidationFailed(f"unknown template {template!r}", field="template")
    names = ["template", *TEMPLATE_FIELDS]
    with transaction.atomic():
        profile = MonitoringProfile.objects.select_for_update().get(pk=profile.pk)
        before = _profile_snapshot(profile, names)
        for name, value in TEMPLATES[template].items():
            setattr(profile, name, value)
        profile.template = template
        profile.save()
        wallet_services.record_audit(
            actor=actor,
            action="monitoring.profile_template",
            target=profile.provider,
            reason=reason or f"applied template {template}",
            before=before,
            after=_profile_snapshot(profile, names),
        )
    return profile


def update_profile(*, profile: MonitoringProfile, changes: dict, actor, reason: str = ""):
    """Change profile fields by hand (admin); audited. Changed thresholds make it `custom`."""
    allowed = {f.name for f in MonitoringProfile._meta.concrete_fields} - {
        "id",
        "provider",
        "updated_at",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        profile = MonitoringProfile.objects.select_for_update().get(pk=profile.pk)
        names = sorted(set(changes) | {"template"})
        before = _profile_snapshot(profile, names)
        for name, value in changes.items():
            setattr(profile, name, value)
        if "template" not in changes and set(changes) & set(TEMPLATE_FIELDS):
            profile.template = ProfileTemplate.CUSTOM
        profile.full_clean()
        profile.save()
        wallet_services.record_audit(
            actor=actor,
            action="monitoring.profile_change",
            target=profile.provider,
            reason=reason,
            before=before,
            after=_profile_snapshot(profile, names),
        )
    return profile


# --- the alert engine -----------------------------------------------------------------------


@dataclass
class Condition:
    """What one rule saw for one fingerprint in this evaluation."""

    rule: str
    fingerprint: str
    provider_id: int | None
    # Exact for minor units (drift) and published figures; latency and rates may be floats.
    value: int | float | Decimal
    threshold: int | float | Decimal
    summary: str
    player_id: int | None = None
    source: str = ""

    @property
    def active(self) -> bool:
        return self.value > self.threshold


@dataclass
class EvaluationResult:
    evaluated: int = 0
    pending: list[int] = field(default_factory=list)
    fired: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    dropped: int = 0  # pending alerts whose condition cleared before firing (blips)
    protected: list[str] = field(default_factory=list)  # provider codes
    deliveries: int = 0


def _exact(value) -> int | Decimal:
    """A published figure or threshold as an exact number: integers (minor units, counts) stay
    integers, anything else becomes the Decimal of its text (never a binary float)."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return value
    return Decimal(str(value))


def _published_figures() -> dict[str, dict[int, int | Decimal]]:
    """Every registered metric source's figures; a failing source counts as no data."""
    figures = {}
    for name, source in list(hooks.metric_sources.items()):
        try:
            figures[name] = {int(k): _exact(v) for k, v in (source() or {}).items()}
        except Exception:
            logger.exception("metric source %s failed", name)
    return figures


_OPEN_PER_PLAYER_SQL = """
SELECT provider_id, player_id, COUNT(*) FROM wallets_gamesession
WHERE status = 'open' GROUP BY provider_id, player_id HAVING COUNT(*) > %s
ORDER BY COUNT(*) DESC LIMIT 1000
"""


def collect_conditions(*, now: datetime, profiles: dict[int, MonitoringProfile]):
    """Every rule's figure per provider (and player) with its threshold, plus gauges to chart.

    Rules with no data (too few calls, an unregistered source) yield no condition: no data is
    treated as clear."""
    providers = {p.pk: p for p in Provider.objects.all()}
    conditions: list[Condition] = []
    gauges: list[tuple[int, str, float]] = []
    current = selectors.current_figures(now=now, profiles=profiles)
    sessions = {f.provider_id: f for f in wallet_selectors.session_figures(now=now)}
    published = _published_figures()
    for pid, provider in providers.items():
        profile = profiles[pid]
        figures = current[pid]
        stats = figures.stats
        minutes = profile.window_minutes
        if figures.enough_calls:
            p95 = figures.p95_ms
            conditions.append(
                Condition(
                    AlertRule.LATENCY_P95,
                    f"latency_p95:{pid}",
                    pid,
                    p95,
                    profile.latency_p95_ms,
                    f"{provider.code}: wallet latency p95 {p95:.1f} ms over {minutes} min "
                    f"(threshold {profile.latency_p95_ms} ms, {stats.calls} calls)",
                )
            )
            rate = figures.error_rate_percent
            conditions.append(
                Condition(
                    AlertRule.ERROR_RATE,
                    f"error_rate:{pid}",
                    pid,
                    rate,
                    profile.error_rate_percent,
                    f"{provider.code}: error rate {rate:.2f} % over {minutes} min "
                    f"({stats.errors} of {stats.calls} calls; threshold "
                    f"{profile.error_rate_percent} %)",
                )
            )
            reasons = selectors.failing_reasons(figures, profile)
            conditions.append(
                Condition(
                    AlertRule.PROVIDER_FAILING,
                    f"provider_failing:{pid}",
                    pid,
                    rate,
                    selectors.failing_threshold(profile),
                    f"{provider.code} is failing: "
                    + ("; ".join(reasons) or f"error rate {rate:.2f} % over {minutes} min"),
                )
            )
        if stats.lock_waits >= profile.min_calls:
            lock_p95 = stats.lock_wait_ms(0.95)
            conditions.append(
                Condition(
                    AlertRule.LOCK_CONTENTION_P95,
                    f"lock_contention_p95:{pid}",
                    pid,
                    lock_p95,
                    profile.lock_wait_p95_ms,
                    f"{provider.code}: wallet lock wait p95 {lock_p95:.1f} ms over {minutes} "
                    f"min (threshold {profile.lock_wait_p95_ms} ms)",
                )
            )
        session = sessions.get(pid)
        if session is not None:
            orphaned = session.abandoned_last_hour + session.orphaned_open_sessions
            conditions.append(
                Condition(
                    AlertRule.ORPHANED_SESSIONS,
                    f"orphaned_sessions:{pid}",
                    pid,
                    orphaned,
                    profile.orphaned_sessions_per_hour,
                    f"{provider.code}: {orphaned} sessions orphaned in the last hour "
                    f"(threshold {profile.orphaned_sessions_per_hour})",
                )
            )
            gauges += [
                (pid, "open_sessions", session.open_sessions),
                (pid, "max_open_sessions_per_player", session.max_open_sessions_per_player),
                (pid, "orphaned_sessions", orphaned),
            ]
        drift = published.get("drift_largest_minor", {}).get(pid)
        if drift is not None:
            conditions.append(
                Condition(
                    AlertRule.DRIFT,
                    f"drift:{pid}",
                    pid,
                    drift,
                    profile.drift_minor,
                    f"{provider.code}: largest balance drift {drift:g} minor units "
                    f"(threshold {profile.drift_minor})",
                    source="drift_largest_minor",
                )
            )
        for name, threshold in sorted((profile.source_thresholds or {}).items()):
            value = published.get(name, {}).get(pid)
            if value is None or name == "drift_largest_minor":
                continue
            conditions.append(
                Condition(
                    AlertRule.METRIC_SOURCE,
                    f"metric_source:{name}:{pid}",
                    pid,
                    value,
                    _exact(threshold),
                    f"{provider.code}: {name} is {value:g} (threshold {threshold})",
                    source=name,
                )
            )
        for name, values in published.items():
            if pid in values:
                gauges.append((pid, name[:64], values[pid]))
    conditions += _ledger_break_conditions(providers)
    lowest = min((p.open_sessions_per_player for p in profiles.values()), default=0)
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_PER_PLAYER_SQL, [lowest])
        for pid, player_id, count in cursor.fetchall():
            limit = profiles[pid].open_sessions_per_player
            conditions.append(
                Condition(
                    AlertRule.OPEN_SESSIONS_PER_PLAYER,
                    f"open_sessions_per_player:{pid}:{player_id}",
                    pid,
                    count,
                    limit,
                    f"{providers[pid].code}: player #{player_id} has {count} open sessions "
                    f"(threshold {limit})",
                    player_id=player_id,
                )
            )
    return conditions, gauges


def _ledger_break_conditions(providers: dict[int, Provider]) -> list[Condition]:
    """One condition per wallet whose hash chain verification found a broken row, naming that
    row: it holds until staff settle the break where the source says."""
    conditions = []
    for source in list(hooks.ledger_break_sources):
        try:
            breaks = source()
        except Exception:
            logger.exception("ledger break source %r failed", source)
            continue
        for found in breaks:
            provider = providers.get(found.provider_id)
            row = f"row #{found.row_id}" if found.row_id is not None else "a missing row"
            conditions.append(
                Condition(
                    AlertRule.LEDGER_TAMPERED,
                    f"ledger_tampered:{found.wallet_id}",
                    found.provider_id,
                    1,
                    0,
                    f"ledger of wallet #{found.wallet_id} ({found.currency or 'no currency'}, "
                    f"player #{found.player_id}) edited outside the ledger: the hash chain "
                    f"breaks at {row}"
                    + (f" ({provider.code})" if provider else "")
                    + f"; settle it in {found.reference}",
                    player_id=found.player_id,
                )
            )
    return conditions


def _record_gauges(now: datetime, gauges: list[tuple[int, str, float]]) -> None:
    minute = selectors.floor_minute(now)
    GaugeMinute.objects.bulk_create(
        [
            GaugeMinute(provider_id=pid, name=name, minute=minute, value=v)
            for pid, name, v in gauges
        ],
        update_conflicts=True,
        unique_fields=["provider", "name", "minute"],
        update_fields=["value"],
    )


def evaluate_alerts(*, now: datetime | None = None, deliver: bool = True) -> EvaluationResult:
    """One run of the alert engine (beat job, default every 30 s).

    Per fingerprint: a condition that holds opens a `pending` alert; once it held for the
    profile's pending period the alert fires (notified). A pending alert whose condition clears is
    dropped (a blip, nobody was told). A firing or acknowledged alert resolves (notified) once
    its condition stayed clear for the resolve period. At most one open alert per fingerprint
    (a partial unique index guarantees it). Auto-protection runs after the rules. Runs are
    serialised by an advisory lock; notifications are sent after the commit.
    """
    now = now or timezone.now()
    result = EvaluationResult()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVALUATE_LOCK])
        profiles = ensure_profiles()
        conditions, gauges = collect_conditions(now=now, profiles=profiles)
        _record_gauges(now, gauges)
        result.evaluated = len(conditions)
        open_alerts = {
            a.fingerprint: a
            for a in Alert.objects.select_for_update().filter(state__in=OPEN_STATES)
        }
        active = {c.fingerprint: c for c in conditions if c.active}
        for fingerprint, condition in active.items():
            _apply_active(open_alerts.get(fingerprint), condition, profiles, now, result)
        for fingerprint, alert in open_alerts.items():
            if fingerprint in active or alert.rule == AlertRule.AUTO_PROTECTION:
                continue
            _apply_clear(alert, profiles.get(alert.provider_id), now, result)
        _auto_protect(profiles, now, result)
        _resolve_auto_protection_alerts(now, result)
    if deliver:
        result.deliveries = deliver_notifications(now=now)
    return result


def _periods(profile: MonitoringProfile | None) -> tuple[int, int]:
    if profile is None:
        defaults = TEMPLATES[ProfileTemplate.CONSERVATIVE]
        return defaults["pending_seconds"], defaults["resolve_after_seconds"]
    return profile.pending_seconds, profile.resolve_after_seconds


def _apply_active(alert, condition: Condition, profiles, now, result) -> None:
    pending_seconds, _ = _periods(profiles.get(condition.provider_id))
    if condition.rule in IMMEDIATE_RULES:
        pending_seconds = 0
    if alert is None:
        alert = Alert.objects.create(
            rule=condition.rule,
            fingerprint=condition.fingerprint,
            provider_id=condition.provider_id,
            player_id=condition.player_id,
            source=condition.source,
            state=AlertState.PENDING,
            value=condition.value,
            threshold=condition.threshold,
            summary=condition.summary[:300],
            started_at=now,
            last_seen_at=now,
        )
    else:
        alert.value = condition.value
        alert.threshold = condition.threshold
        alert.summary = condition.summary[:300]
        alert.last_seen_at = now
        alert.clear_since = None
    if alert.state == AlertState.PENDING and now - alert.started_at >= timedelta(
        seconds=pending_seconds
    ):
        alert.state = AlertState.FIRING
        alert.fired_at = now
        alert.save()
        result.fired.append(alert.pk)
        queue_notifications(alert=alert, event=DeliveryEvent.FIRED, now=now)
        return
    alert.save()
    if alert.state == AlertState.PENDING:
        result.pending.append(alert.pk)


def _apply_clear(alert: Alert, profile, now, result) -> None:
    if alert.state == AlertState.PENDING:
        alert.delete()
        result.dropped += 1
        return
    _, resolve_after = _periods(profile)
    if alert.clear_since is None:
        alert.clear_since = now
    if now - alert.clear_since >= timedelta(seconds=resolve_after):
        _resolve(alert, now=now, note="condition cleared")
        result.resolved.append(alert.pk)
        return
    alert.save(update_fields=["clear_since"])


def _resolve(alert: Alert, *, now, actor=None, note: str = "") -> None:
    was_notified = alert.fired_at is not None
    alert.state = AlertState.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = actor
    alert.resolution_note = note[:500]
    alert.save()
    if was_notified:
        queue_notifications(alert=alert, event=DeliveryEvent.RESOLVED, now=now)


# --- automatic provider protection ----------------------------------------------------------

_PROTECTING_RULES = (AlertRule.LATENCY_P95, AlertRule.ERROR_RATE)


def _auto_protect(profiles, now, result) -> None:
    """Restrict or suspend providers whose latency or error rate stayed above threshold for the
    profile's auto-protection period (profiles with auto-protection on only). Once per alert:
    after a compliance officer restores the provider, the same episode does not strike again."""
    enabled = {pid: p for pid, p in profiles.items() if p.auto_protection_enabled}
    if not enabled:
        return
    candidates = Alert.objects.select_for_update().filter(
        rule__in=_PROTECTING_RULES,
        state__in=(AlertState.FIRING, AlertState.ACKNOWLEDGED),
        provider_id__in=enabled.keys(),
        clear_since__isnull=True,
        protection_applied_at__isnull=True,
    )
    for alert in candidates:
        profile = enabled[alert.provider_id]
        if now - alert.started_at < timedelta(minutes=profile.auto_protection_after_minutes):
            continue
        provider = Provider.objects.get(pk=alert.provider_id)
        target = (
            ProviderStatus.SUSPENDED
            if profile.auto_protection_action == ProtectionAction.SUSPEND
            else ProviderStatus.RESTRICTED
        )
        alert.protection_applied_at = now
        alert.save(update_fields=["protection_applied_at"])
        already = provider.status == ProviderStatus.SUSPENDED or provider.status == target
        if already:
            continue
        reason = (
            f"auto-protection: {alert.get_rule_display()} above threshold for "
            f"{profile.auto_protection_after_minutes} min — {alert.summary}"
        )[:500]
        wallet_services.change_provider_status(
            provider=provider,
            status=target,
            reason=reason,
            actor=None,
            actor_label=AUTO_PROTECTION_LABEL,
        )
        result.protected.append(provider.code)
        protection = Alert.objects.filter(
            fingerprint=f"auto_protection:{provider.pk}", state__in=OPEN_STATES
        ).first()
        if protection is None:
            protection = Alert.objects.create(
                rule=AlertRule.AUTO_PROTECTION,
                fingerprint=f"auto_protection:{provider.pk}",
                provider=provider,
                state=AlertState.FIRING,
                value=alert.value,
                threshold=alert.threshold,
                summary=f"{provider.code} {target} by auto-protection ({alert.summary})"[:300],
                started_at=now,
                fired_at=now,
                last_seen_at=now,
            )
            result.fired.append(protection.pk)
            queue_notifications(alert=protection, event=DeliveryEvent.FIRED, now=now)


def _resolve_auto_protection_alerts(now, result) -> None:
    """An auto-protection alert stays open until the provider is active again (a compliance
    officer restored it)."""
    for alert in Alert.objects.select_for_update().filter(
        rule=AlertRule.AUTO_PROTECTION,
        state__in=OPEN_STATES,
        provider__status=ProviderStatus.ACTIVE,
    ):
        _resolve(alert, now=now, note="provider restored")
        result.resolved.append(alert.pk)


# --- notifications --------------------------------------------------------------------------


def _channels() -> list[tuple[str, str]]:
    channels = []
    if settings.ALERT_EMAIL_TO:
        channels.append((DeliveryChannel.EMAIL, ", ".join(settings.ALERT_EMAIL_TO)))
    if settings.ALERT_WEBHOOK_URL:
        channels.append((DeliveryChannel.WEBHOOK, settings.ALERT_WEBHOOK_URL))
    return channels


def active_silence(alert: Alert, now) -> Silence | None:
    for silence in Silence.objects.filter(starts_at__lte=now, ends_at__gt=now):
        if silence.matches(alert, now):
            return silence
    return None


def queue_notifications(*, alert: Alert, event: str, now) -> list[NotificationDelivery]:
    """One delivery per configured channel (ALERT_EMAIL_TO, ALERT_WEBHOOK_URL). Under an active
    silence the deliveries are recorded as suppressed and never sent."""
    silence = active_silence(alert, now)
    deliveries = [
        NotificationDelivery(
            alert=alert,
            event=event,
            channel=channel,
            target=target[:500],
            status=DeliveryStatus.SUPPRESSED if silence else DeliveryStatus.PENDING,
            next_attempt_at=None if silence else now,
            last_error=f"silenced: {silence.reason}"[:500] if silence else "",
        )
        for channel, target in _channels()
    ]
    return NotificationDelivery.objects.bulk_create(deliveries)


def alert_payload(alert: Alert, event: str) -> dict:
    fields = retries.alert_fields(alert)
    return {
        "event": event,
        "alert": {
            **fields,
            "provider": alert.provider.code if alert.provider_id else None,
            "player_id": alert.player_id,
        },
    }


def _send(delivery: NotificationDelivery) -> None:
    alert = delivery.alert
    payload = alert_payload(alert, delivery.event)
    if delivery.channel == DeliveryChannel.WEBHOOK:
        retries.post_json(delivery.target, payload, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS)
        return
    verb = "FIRING" if delivery.event == DeliveryEvent.FIRED else "RESOLVED"
    send_mail(
        subject=f"[Pitboss {verb}] {alert.summary}"[:200],
        message=json.dumps(payload, indent=2),
        from_email=settings.ALERT_EMAIL_FROM,
        recipient_list=[t.strip() for t in delivery.target.split(",") if t.strip()],
        fail_silently=False,
    )


def deliver_notifications(*, now: datetime | None = None, limit: int = 100) -> int:
    """Try every pending delivery that is due. A failure is recorded (attempts, last error) and
    retried with exponential back-off (ALERT_NOTIFY_BACKOFF_SECONDS * 2^(attempts-1)) until
    ALERT_NOTIFY_MAX_ATTEMPTS, then the delivery is `failed`. Concurrent runs skip rows another
    run is sending. Returns the number of deliveries sent."""
    return retries.send_due_rows(
        NotificationDelivery,
        send=_send,
        max_attempts=lambda delivery: settings.ALERT_NOTIFY_MAX_ATTEMPTS,
        related=("alert__provider",),
        now=now or timezone.now(),
        limit=limit,
    )


# --- staff actions on alerts and silences ---------------------------------------------------


def acknowledge_alert(*, alert: Alert, actor, note: str = "") -> Alert:
    """Pending or firing → acknowledged: someone is on it, and `note` says why (kept on the
    alert, shown on its page). Audited. The alert still auto-resolves when its condition
    clears. A pending alert acknowledged before its pending period ends never fires: nobody is
    notified of what someone already works on."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.state not in (AlertState.PENDING, AlertState.FIRING):
            raise NotAllowed(
                f"only a pending or firing alert can be acknowledged (this one is {alert.state})"
            )
        before = {"state": alert.state}
        alert.state = AlertState.ACKNOWLEDGED
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = actor
        alert.acknowledgement_note = (note or "").strip()[:500]
        alert.save()
        wallet_services.record_audit(
            actor=actor,
            action="monitoring.alert_acknowledge",
            target=alert,
            reason=note,
            before=before,
            after={"state": alert.state},
        )
    return alert


def resolve_alert(*, alert: Alert, actor, note: str = "") -> Alert:
    """Close an open alert by hand (resolve notification if it had fired). Audited. If the
    condition still holds, the engine opens a new alert for it on its next run."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.state not in OPEN_STATES:
            raise NotAllowed("alert is already resolved")
        before = {"state": alert.state}
        _resolve(alert, now=timezone.now(), actor=actor, note=note or "resolved by staff")
        wallet_services.record_audit(
            actor=actor,
            action="monitoring.alert_resolve",
            target=alert,
            reason=note,
            before=before,
            after={"state": alert.state},
        )
    return alert


def create_silence(
    *, starts_at, ends_at, reason: str, actor, rule: str = "", provider=None
) -> Silence:
    """A maintenance window: matching alerts notify nobody between starts_at and ends_at."""
    if not reason or not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    if ends_at <= starts_at:
        raise ValidationFailed("a silence must end after it starts", field="ends_at")
    if rule and rule not in AlertRule.values:
        raise ValidationFailed(f"unknown rule {rule!r}", field="rule")
    with transaction.atomic():
        silence = Silence.objects.create(
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason.strip()[:500],
            rule=rule,
            provider=provider,
            created_by=actor,
        )
        wallet_services.record_audit(
            actor=actor,
            action="monitoring.silence_create",
            target=silence,
            reason=reason,
            after={
                "rule": rule,
                "provider": provider.code if provider else None,
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
            },
        )
    return silence
