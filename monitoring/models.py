"""Monitoring: per-minute roll-ups of wallet calls, gauges, per-provider profiles, alerts,
silences and notification deliveries."""

from decimal import Context, Decimal, InvalidOperation

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring.choices import (
    OPEN_STATES,
    AlertRule,
    AlertState,
    DeliveryChannel,
    DeliveryEvent,
    DeliveryStatus,
    GroupLabel,
    InhibitingState,
    NotificationStatus,
    ProfileTemplate,
    ProtectionAction,
    ReceiverKind,
    Severity,
)


def _empty_thresholds() -> dict:
    return {"drift_open_discrepancies": 0, "security_violations": 0}


class MetricMinute(models.Model):
    """Wallet calls of one provider and operation in one minute, moved here from Redis by the
    flush job. `provider` is empty for calls naming an unknown provider code."""

    provider = models.ForeignKey(
        "wallets.Provider", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    minute = models.DateTimeField()
    operation = models.CharField(max_length=32)
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    outcomes = models.JSONField(default=dict)  # {code: count}
    latency_buckets = ArrayField(models.BigIntegerField())  # monitoring.histogram.BOUNDS_US
    latency_sum_us = models.BigIntegerField(default=0)
    lock_wait_buckets = ArrayField(models.BigIntegerField())
    lock_wait_sum_us = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "minute", "operation"],
                nulls_distinct=False,
                name="metricminute_one_row_per_key",
            )
        ]
        indexes = [models.Index(fields=["minute"]), models.Index(fields=["provider", "minute"])]

    def __str__(self) -> str:
        return f"{self.provider_id or '?'} {self.operation} {self.minute:%Y-%m-%d %H:%M}"


class MetricTotal(models.Model):
    """Running totals since the start (Prometheus counters for /metrics), kept by the flush job
    in the same transaction as the minute rows, so they never disagree."""

    provider = models.ForeignKey(
        "wallets.Provider", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    operation = models.CharField(max_length=32)
    calls = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    outcomes = models.JSONField(default=dict)
    latency_buckets = ArrayField(models.BigIntegerField())
    latency_sum_us = models.BigIntegerField(default=0)
    lock_wait_buckets = ArrayField(models.BigIntegerField())
    lock_wait_sum_us = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "operation"],
                nulls_distinct=False,
                name="metrictotal_one_row_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_id or '?'} {self.operation} totals"


class FlushedBatch(models.Model):
    """One Redis batch moved into PostgreSQL. Written in the same transaction as the roll-ups:
    a batch seen again (the job died before deleting it from Redis) is skipped, not counted
    twice."""

    batch_key = models.CharField(max_length=200, unique=True)
    minute = models.DateTimeField()
    calls = models.BigIntegerField(default=0)
    lost = models.BigIntegerField(default=0)  # observations processes could not record
    flushed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["minute"])]

    def __str__(self) -> str:
        return self.batch_key


class GaugeMinute(models.Model):
    """A point-in-time figure per provider and minute (open sessions, drift, published
    figures), written by the alert job so the dashboard can chart it."""

    provider = models.ForeignKey("wallets.Provider", on_delete=models.CASCADE, related_name="+")
    minute = models.DateTimeField()
    name = models.CharField(max_length=64)
    # Exact decimal, never float: figures such as drift are amounts in minor units.
    value = models.DecimalField(max_digits=30, decimal_places=6)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "name", "minute"], name="gaugeminute_one_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.name} {self.minute:%Y-%m-%d %H:%M} = {self.value:g}"


class MonitoringProfile(models.Model):
    """Alert thresholds and policies of one provider. Defaults are DESIGN.md's table (the
    `conservative` template every new provider starts on)."""

    provider = models.OneToOneField(
        "wallets.Provider", on_delete=models.CASCADE, related_name="monitoring_profile"
    )
    template = models.CharField(
        max_length=16, choices=ProfileTemplate.choices, default=ProfileTemplate.CONSERVATIVE
    )
    latency_p95_ms = models.PositiveIntegerField(
        default=500, help_text="Alert when p95 wallet latency exceeds this."
    )
    error_rate_percent = models.DecimalField(
        max_digits=6, decimal_places=2, default=1, help_text="Alert when failed calls exceed this."
    )
    lock_wait_p95_ms = models.PositiveIntegerField(
        default=50, help_text="Alert when p95 wallet row lock wait exceeds this."
    )
    drift_minor = models.BigIntegerField(
        default=1, help_text="Alert when the largest balance drift (minor units) exceeds this."
    )
    open_sessions_per_player = models.PositiveIntegerField(
        default=5, help_text="Alert when a player has more open sessions than this."
    )
    orphaned_sessions_per_hour = models.PositiveIntegerField(
        default=10, help_text="Alert when more sessions than this were orphaned in the last hour."
    )
    source_thresholds = models.JSONField(
        default=_empty_thresholds,
        blank=True,
        help_text="Other published figures (wallets.hooks.metric_sources): {name: threshold}; "
        "alert when the figure exceeds it.",
    )
    window_minutes = models.PositiveIntegerField(
        default=5, help_text="Latency, error-rate and lock rules look at this many minutes."
    )
    min_calls = models.PositiveIntegerField(
        default=20, help_text="Fewer calls in the window than this: no latency/error verdict."
    )
    pending_seconds = models.PositiveIntegerField(
        default=300, help_text="A condition must hold this long before the alert fires."
    )
    resolve_after_seconds = models.PositiveIntegerField(
        default=600, help_text="A firing alert resolves once its condition stayed clear so long."
    )
    auto_protection_enabled = models.BooleanField(default=False)
    auto_protection_action = models.CharField(
        max_length=16, choices=ProtectionAction.choices, default=ProtectionAction.RESTRICT
    )
    auto_protection_after_minutes = models.PositiveIntegerField(
        default=15,
        help_text="Restrict/suspend once latency or error rate stayed above threshold so long.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"monitoring profile of {self.provider}"

    def clean(self) -> None:
        """source_thresholds is {figure name: threshold}: a name of at most 64 characters and a
        non-negative number an alert can hold (Alert.threshold: below 10^24, at most 6
        decimals), as a JSON number or its text; the alert job reads them as exact decimals."""
        thresholds = self.source_thresholds
        if thresholds in (None, ""):
            self.source_thresholds = {}
            return
        if not isinstance(thresholds, dict):
            raise ValidationError({"source_thresholds": "an object of {name: threshold}"})
        for name, threshold in thresholds.items():
            if not name or len(name) > 64:
                raise ValidationError({"source_thresholds": f"{name[:64]!r}: 1 to 64 characters"})
            if not _is_threshold(threshold):
                reason = f"{name}: a number from 0, below 10^24, with 6 decimals at most"
                raise ValidationError({"source_thresholds": reason})


def _is_threshold(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return False
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return False
    return (
        number.is_finite()
        and 0 <= number < 10**24
        and number == number.quantize(Decimal("0.000001"), context=Context(prec=60))
    )


class Alert(models.Model):
    """One incident: a rule's condition for one fingerprint (rule + provider [+ player]).
    At most one open (pending, firing or acknowledged) alert per fingerprint."""

    rule = models.CharField(max_length=32, choices=AlertRule.choices)
    fingerprint = models.CharField(max_length=200)
    provider = models.ForeignKey(
        "wallets.Provider", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    player = models.ForeignKey(
        "wallets.Player", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source = models.CharField(max_length=64, blank=True, help_text="Published figure's name.")
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.PENDING)
    # Exact decimals, never float: the drift rule's value and threshold are minor units.
    value = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    threshold = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    summary = models.CharField(max_length=300)
    started_at = models.DateTimeField(help_text="When the condition was first seen.")
    fired_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(help_text="Last evaluation that saw the condition.")
    clear_since = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledgement_note = models.CharField(
        max_length=500, blank=True, help_text="Why it was acknowledged: who is on it, doing what."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.CharField(max_length=500, blank=True)
    protection_applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=Q(state__in=OPEN_STATES),
                name="alert_one_open_per_fingerprint",
            )
        ]
        indexes = [models.Index(fields=["state", "provider"])]
        permissions = [("manage_alert", "Acknowledge and resolve alerts")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.fingerprint} ({self.state})"


class Silence(models.Model):
    """While active, alerts it matches change state as usual but notify nobody (maintenance
    windows). Empty matchers match everything."""

    rule = models.CharField(max_length=32, choices=AlertRule.choices, blank=True)
    provider = models.ForeignKey(
        "wallets.Provider", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="silence_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        what = " ".join(filter(None, [self.rule, self.provider and self.provider.code])) or "all"
        return f"silence {what} {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%H:%M}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "A silence must end after it starts."})

    def matches(self, alert: Alert, now) -> bool:
        return (
            self.starts_at <= now < self.ends_at
            and (not self.rule or self.rule == alert.rule)
            and (self.provider_id is None or self.provider_id == alert.provider_id)
        )


class NotificationDelivery(models.Model):
    """One notification of one alert event to one channel, with every attempt's outcome."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=16, choices=DeliveryEvent.choices)
    channel = models.CharField(max_length=16, choices=DeliveryChannel.choices)
    target = models.CharField(max_length=500)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        verbose_name_plural = "notification deliveries"

    def __str__(self) -> str:
        return f"{self.event} alert #{self.alert_id} via {self.channel}: {self.status}"


# --- alert routing (modelled on Prometheus Alertmanager) -----------------------------------------


class Receiver(models.Model):
    """Where a route's notifications go: e-mail through Django's mail backend, or a webhook
    (HTTP POST of JSON). Failed sends are retried with back-off up to `max_attempts`; every
    attempt is logged on the notification."""

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ReceiverKind.choices)
    email_to = models.CharField(
        max_length=500, blank=True, help_text="E-mail addresses, separated by commas."
    )
    email_staff = models.BooleanField(
        default=False,
        help_text="Also every active staff user with an e-mail address (read when sending).",
    )
    webhook_url = models.URLField(max_length=500, blank=True)
    timeout_seconds = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    max_attempts = models.PositiveIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    send_resolved = models.BooleanField(
        default=True, help_text="Also notify when the group's alerts resolve."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        if self.kind == ReceiverKind.EMAIL and not (self.email_to.strip() or self.email_staff):
            raise ValidationError({"email_to": "Give addresses, or tick 'email staff'."})
        if self.kind == ReceiverKind.WEBHOOK and not self.webhook_url:
            raise ValidationError({"webhook_url": "A webhook receiver needs a URL."})


class MuteWindow(models.Model):
    """A recurring time (Alertmanager's mute_time_intervals) in which the routes naming it send
    nothing: weekdays and a time of day in the operator's time zone (TIME_ZONE). An end at or
    before the start wraps past midnight. Notifications held back are sent after it."""

    name = models.CharField(max_length=64, unique=True)
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(validators=[MaxValueValidator(6)]),
        blank=True,
        default=list,
        help_text="0 = Monday ... 6 = Sunday; empty: every day. A window past midnight "
        "belongs to the day it starts.",
    )
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def active_at(self, moment) -> bool:
        local = timezone.localtime(moment)
        clock = local.time()
        if self.start_time < self.end_time:
            inside, day = self.start_time <= clock < self.end_time, local.weekday()
        elif clock >= self.start_time:
            inside, day = True, local.weekday()
        elif clock < self.end_time:
            inside, day = True, (local.weekday() - 1) % 7  # after midnight: the start's day
        else:
            inside, day = False, local.weekday()
        return inside and (not self.weekdays or day in self.weekdays)


class Route(models.Model):
    """A node of the routing tree. An alert enters at the root (no parent; it matches every
    alert) and goes down into the first child whose matchers all match (empty matcher: any),
    depth first; with `continue_matching`, the siblings after a matching child are tried too.
    The deepest matching routes notify; when no child matches, the route itself does. Empty
    settings (receiver, group_by, the intervals) are inherited from the parent."""

    name = models.CharField(max_length=64, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    position = models.PositiveIntegerField(default=0, help_text="Order among its siblings.")
    severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    provider = models.ForeignKey(
        "wallets.Provider", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    rule = models.CharField(max_length=32, choices=AlertRule.choices, blank=True)
    receiver = models.ForeignKey(
        Receiver, null=True, blank=True, on_delete=models.PROTECT, related_name="routes"
    )
    group_by = ArrayField(
        models.CharField(max_length=16, choices=GroupLabel.choices),
        null=True,
        blank=True,
        help_text="Labels whose values make a group (provider, rule, severity); empty: inherit.",
    )
    group_wait_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Wait this long before a new group's first notification."
    )
    group_interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Wait this long before notifying a group's changes (new or resolved alerts).",
    )
    repeat_interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Notify an unchanged group of firing alerts again after this long.",
    )
    mute_windows = models.ManyToManyField(MuteWindow, blank=True, related_name="routes")
    continue_matching = models.BooleanField(
        default=False, help_text="Also try the next siblings after this route matched."
    )

    class Meta:
        ordering = ["parent_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                Coalesce("parent", models.Value(0)),
                condition=Q(parent__isnull=True),
                name="route_one_root",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.parent_id is None:
            missing = [
                name
                for name in (
                    "receiver",
                    "group_wait_seconds",
                    "group_interval_seconds",
                    "repeat_interval_seconds",
                )
                if getattr(self, name) is None
            ]
            if missing or self.group_by is None:
                raise ValidationError(
                    "The root route matches every alert and sets every default: it needs a "
                    "receiver, group_by and the three intervals."
                )
            if self.severity or self.provider_id or self.rule:
                raise ValidationError("The root route has no matchers (it matches every alert).")
        if self.group_interval_seconds == 0 or self.repeat_interval_seconds == 0:
            raise ValidationError("group_interval and repeat_interval must be positive.")
        node, seen = self.parent, {self.pk}
        while node is not None:
            if node.pk in seen:
                raise ValidationError({"parent": "A route cannot be its own ancestor."})
            seen.add(node.pk)
            node = node.parent


class InhibitRule(models.Model):
    """While a source is present, alerts matching the target are not notified (Alertmanager's
    inhibit_rules, with `equal: [provider]` when `equal_provider`). Sources: a firing or
    acknowledged alert matching source_rule / source_severity, or a provider in one of
    `source_provider_states`. An alert never inhibits itself."""

    name = models.CharField(max_length=64, unique=True)
    source_rule = models.CharField(max_length=32, choices=AlertRule.choices, blank=True)
    source_severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    source_provider_states = ArrayField(
        models.CharField(max_length=16, choices=InhibitingState.choices), blank=True, default=list
    )
    target_rules = ArrayField(
        models.CharField(max_length=32, choices=AlertRule.choices),
        blank=True,
        default=list,
        help_text="Empty: any rule.",
    )
    target_severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    equal_provider = models.BooleanField(
        default=True, help_text="Source and target must be about the same provider."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not (self.source_rule or self.source_severity or self.source_provider_states):
            raise ValidationError("Name a source: a rule, a severity or provider states.")


class NotificationGroup(models.Model):
    """Alertmanager's aggregation group: the alerts of one route with the same values of its
    group_by labels, and what was last notified about them."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="groups")
    key = models.CharField(max_length=300)
    labels = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    next_flush_at = models.DateTimeField()
    last_notified_at = models.DateTimeField(null=True, blank=True)
    notified_alerts = models.JSONField(default=list, help_text="Alert ids last notified firing.")

    class Meta:
        ordering = ["route_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["route", "key"], name="notificationgroup_one_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.route} {{{self.key}}}"


class Notification(models.Model):
    """One notification of a group to a receiver: the delivery log (every attempt is kept in
    `attempt_log`)."""

    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="notifications")
    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="notifications")
    group_key = models.CharField(max_length=300)
    firing = models.JSONField(default=list, help_text="Alert ids firing.")
    resolved = models.JSONField(default=list, help_text="Alert ids resolved since last time.")
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    attempt_log = models.JSONField(default=list)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.route} → {self.receiver.name} {{{self.group_key}}}: {self.status}"
