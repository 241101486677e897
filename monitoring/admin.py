"""Admin of the monitoring app. Roll-ups, alerts and deliveries are records (read-only here);
alerts change state through services (acknowledge / resolve actions, audited); profiles are
editable and every change is audited; templates are applied with an action."""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.contrib.postgres.fields import ArrayField
from django.utils import timezone
from django.utils.html import format_html

from monitoring import selectors, services
from monitoring.choices import OPEN_STATES, AlertState, ProfileTemplate
from monitoring.models import (
    Alert,
    InhibitRule,
    MetricMinute,
    MonitoringProfile,
    MuteWindow,
    Notification,
    NotificationDelivery,
    NotificationGroup,
    Receiver,
    Route,
    Silence,
)
from wallets import services as wallet_services
from wallets.admin_actions import (
    STRICT_JSON_FORMFIELDS,
    ReadOnlyAdminMixin,
    ReasonForm,
    reason_action,
)
from wallets.admin_display import STYLE, ReadableJSONMixin, audit_history
from wallets.admin_filters import attention_filter
from wallets.admin_object_actions import ObjectAction, ObjectActionsMixin


def _apply_template(template):
    def apply(request, profile, reason):
        services.apply_profile_template(
            profile=profile, template=template, actor=request.user, reason=reason
        )

    return apply


@admin.register(MonitoringProfile)
class MonitoringProfileAdmin(admin.ModelAdmin):
    formfield_overrides = STRICT_JSON_FORMFIELDS
    list_display = [
        "provider",
        "template",
        "latency_p95_ms",
        "error_rate_percent",
        "lock_wait_p95_ms",
        "pending_seconds",
        "auto_protection_enabled",
        "auto_protection_action",
        "updated_at",
    ]
    list_filter = ["template", "auto_protection_enabled"]
    search_fields = ["provider__code"]
    readonly_fields = ["provider", "template", "updated_at"]
    fieldsets = [
        (None, {"fields": ["provider", "template", "updated_at"]}),
        (
            "Thresholds",
            {
                "fields": [
                    "latency_p95_ms",
                    "error_rate_percent",
                    "lock_wait_p95_ms",
                    "drift_minor",
                    "open_sessions_per_player",
                    "orphaned_sessions_per_hour",
                    "source_thresholds",
                ]
            },
        ),
        (
            "Evaluation",
            {"fields": ["window_minutes", "min_calls", "pending_seconds", "resolve_after_seconds"]},
        ),
        (
            "Automatic provider protection",
            {
                "fields": [
                    "auto_protection_enabled",
                    "auto_protection_action",
                    "auto_protection_after_minutes",
                ]
            },
        ),
    ]
    actions = [
        reason_action(
            name=f"apply_{template.value}_template",
            description=f"Apply the {template.value} template",
            permission="change",
            apply=_apply_template(template.value),
        )
        for template in ProfileTemplate
        if template != ProfileTemplate.CUSTOM
    ]

    def has_add_permission(self, request):
        return False  # one per provider, created on demand

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        services.ensure_profiles()
        return super().get_queryset(request).select_related("provider")

    def save_model(self, request, obj, form, change):
        # Through the service: audited, and a hand-edited threshold makes the profile custom.
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        if changes:
            services.update_profile(profile=obj, changes=changes, actor=request.user)
        obj.refresh_from_db()


def _acknowledge(request, alert, reason):
    services.acknowledge_alert(alert=alert, actor=request.user, note=reason)


def _resolve(request, alert, reason):
    services.resolve_alert(alert=alert, actor=request.user, note=reason)


# How each rule's value reads (the drift rule's figures are the largest drift, in minor units).
FIGURE_UNITS = {
    "latency_p95": " ms",
    "lock_contention_p95": " ms",
    "error_rate": " %",
    "drift": " minor units",
    "orphaned_sessions": " sessions",
    "open_sessions_per_player": " sessions",
}


class SilenceAlertForm(ReasonForm):
    hours = forms.IntegerField(
        min_value=1,
        max_value=24 * 14,
        initial=2,
        label="For how many hours",
        help_text="From now; at most two weeks.",
    )


def _silence(request, alert, cleaned):
    now = timezone.now()
    ends_at = now + timedelta(hours=cleaned["hours"])
    services.create_silence(
        starts_at=now,
        ends_at=ends_at,
        reason=cleaned["reason"],
        rule=alert.rule,
        provider=alert.provider,
        actor=request.user,
    )
    whom = alert.provider.code if alert.provider else "every provider"
    until = timezone.localtime(ends_at).strftime("%Y-%m-%d %H:%M")
    return (
        f"Silenced {alert.get_rule_display()} for {whom} until {until}: its alerts change "
        "state as usual but notify nobody."
    )


def _alert_facts(alert):
    return [
        ("state", alert.state),
        ("rule", alert.get_rule_display()),
        ("provider", alert.provider.code if alert.provider else "all"),
        ("summary", alert.summary),
        ("since", timezone.localtime(alert.started_at).strftime("%Y-%m-%d %H:%M")),
    ]


@admin.register(Alert)
class AlertAdmin(ObjectActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "state_badge",
        "rule",
        "provider",
        "summary",
        "started_at",
        "fired_at",
        "resolved_at",
    ]
    list_filter = [
        attention_filter(
            parameter="open",
            title="open",
            choice="Open (pending, firing or acknowledged)",
            selector=selectors.open_alerts,
        ),
        "state",
        "rule",
        "provider",
    ]
    search_fields = ["summary", "fingerprint"]
    date_hierarchy = "started_at"
    fieldsets = [
        (None, {"fields": ["state_badge", "rule", "provider", "player", "summary", "figure"]}),
        (
            "Who is on it",
            {"fields": ["acknowledgement_note", "acknowledged_by", "acknowledged_at"]},
        ),
        ("When", {"fields": ["started_at", "fired_at", "last_seen_at", "clear_since"]}),
        ("Resolution", {"fields": ["resolved_at", "resolved_by", "resolution_note"]}),
        ("Silences", {"fields": ["silenced_by"]}),
        ("History", {"fields": ["history"]}),
    ]
    readonly_fields = ["state_badge", "figure", "silenced_by", "history"]
    actions = [
        reason_action(
            name="acknowledge_alerts",
            description="Acknowledge",
            permission="manage",
            apply=_acknowledge,
        ),
        reason_action(
            name="resolve_alerts", description="Resolve", permission="manage", apply=_resolve
        ),
    ]
    object_actions = [
        ObjectAction(
            name="acknowledge",
            facts=_alert_facts,
            label="Acknowledge",
            permission="manage",
            apply=lambda request, alert, cleaned: _acknowledge(request, alert, cleaned["reason"]),
            available=lambda alert: alert.state in (AlertState.PENDING, AlertState.FIRING),
            explain="Says someone is on it. The reason is shown on the alert. A pending alert "
            "acknowledged now never fires (nobody is notified); it still resolves by itself "
            "when its condition clears.",
        ),
        ObjectAction(
            name="resolve",
            facts=_alert_facts,
            label="Resolve",
            permission="manage",
            apply=lambda request, alert, cleaned: _resolve(request, alert, cleaned["reason"]),
            available=lambda alert: alert.state in OPEN_STATES,
            explain="Closes the alert now; a resolve notification goes out if it had fired. If "
            "the condition still holds, a new alert opens on the next evaluation.",
        ),
        ObjectAction(
            name="silence",
            facts=_alert_facts,
            label="Silence",
            permission="silence",
            form=SilenceAlertForm,
            apply=_silence,
            explain="A maintenance window for this rule and provider: matching alerts change "
            "state as usual but notify nobody until it ends.",
        ),
    ]

    def has_manage_permission(self, request):
        return request.user.has_perm("monitoring.manage_alert")

    def has_silence_permission(self, request):
        return request.user.has_perm("monitoring.add_silence")

    @admin.display(description="state", ordering="state")
    def state_badge(self, alert):
        colour = {
            "pending": "#777",
            "firing": "#c62828",
            "acknowledged": "#ef6c00",
            "resolved": "#2e7d32",
        }
        return format_html(
            '<b style="color:{}">{}</b>', colour.get(alert.state, "#555"), alert.state
        )

    @admin.display(description="figure")
    def figure(self, alert):
        if alert.value is None:
            return "-"
        unit = FIGURE_UNITS.get(alert.rule, "")

        def number(value):
            return f"{value.normalize():f}{unit}" if value is not None else "-"

        return f"{number(alert.value)} (alert above {number(alert.threshold)})"

    @admin.display(description="silenced by")
    def silenced_by(self, alert):
        now = timezone.now()
        silences = [
            s
            for s in Silence.objects.filter(starts_at__lte=now, ends_at__gt=now)
            if s.matches(alert, now)
        ]
        if not silences:
            return "Not silenced."
        return format_html(
            "{}",
            "; ".join(
                f"until {timezone.localtime(s.ends_at):%Y-%m-%d %H:%M} by {s.created_by or '-'}: "
                f"{s.reason}"
                for s in silences
            ),
        )

    @admin.display(description="who did what")
    def history(self, alert):
        return format_html("{}{}", STYLE, audit_history(alert))


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ["id", "rule", "provider", "starts_at", "ends_at", "reason", "created_by"]
    list_filter = ["rule"]
    fields = ["rule", "provider", "starts_at", "ends_at", "reason"]

    def has_change_permission(self, request, obj=None):
        return False  # a silence is a record: end one early by deleting it

    def save_model(self, request, obj, form, change):
        # Through the service (audited); the form already checked the dates (Silence.clean).
        silence = services.create_silence(
            starts_at=form.cleaned_data["starts_at"],
            ends_at=form.cleaned_data["ends_at"],
            reason=form.cleaned_data["reason"],
            rule=form.cleaned_data.get("rule") or "",
            provider=form.cleaned_data.get("provider"),
            actor=request.user,
        )
        obj.pk = silence.pk
        obj.refresh_from_db()


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "alert",
        "event",
        "channel",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    ]
    list_filter = ["status", "channel", "event"]


@admin.register(MetricMinute)
class MetricMinuteAdmin(ReadableJSONMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["minute", "provider", "operation", "calls", "errors", "duplicates"]
    list_filter = ["operation", "provider"]
    date_hierarchy = "minute"


# --- alert routing ------------------------------------------------------------------------------


WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class AuditedConfigAdmin(admin.ModelAdmin):
    """Routing configuration: every change and deletion is audited. Lists of choices (group_by,
    target rules, provider states, weekdays) are edited as checkboxes: only known values."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, ArrayField):
            base = db_field.base_field
            choices = WEEKDAYS if db_field.name == "weekdays" else base.choices
            return forms.TypedMultipleChoiceField(
                choices=choices,
                coerce=int if db_field.name == "weekdays" else str,
                required=False,
                widget=forms.CheckboxSelectMultiple,
                label=db_field.verbose_name.capitalize(),
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        name = obj._meta.model_name
        wallet_services.record_audit(
            actor=request.user,
            action=f"monitoring.{name}_{'change' if change else 'create'}",
            target=obj,
            after={field: str(form.cleaned_data.get(field)) for field in form.changed_data},
        )

    def delete_model(self, request, obj):
        wallet_services.record_audit(
            actor=request.user,
            action=f"monitoring.{obj._meta.model_name}_delete",
            target=obj,
            before={"name": str(obj)},
        )
        super().delete_model(request, obj)


@admin.register(Receiver)
class ReceiverAdmin(AuditedConfigAdmin):
    list_display = ["name", "kind", "email_to", "email_staff", "webhook_url", "send_resolved"]
    list_filter = ["kind"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "webhook_url":
            kwargs["assume_scheme"] = "https"  # a URL typed without a scheme is https
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(MuteWindow)
class MuteWindowAdmin(AuditedConfigAdmin):
    list_display = ["name", "weekdays", "start_time", "end_time"]


@admin.register(Route)
class RouteAdmin(AuditedConfigAdmin):
    list_display = [
        "tree_name",
        "severity",
        "provider",
        "rule",
        "receiver",
        "group_by",
        "group_wait_seconds",
        "group_interval_seconds",
        "repeat_interval_seconds",
        "continue_matching",
    ]
    list_select_related = ["receiver", "provider", "parent"]
    filter_horizontal = ["mute_windows"]
    fieldsets = [
        (None, {"fields": ["name", "parent", "position"]}),
        ("Matchers (empty: any)", {"fields": ["severity", "provider", "rule"]}),
        (
            "Notification (empty: inherited from the parent)",
            {
                "fields": [
                    "receiver",
                    "group_by",
                    "group_wait_seconds",
                    "group_interval_seconds",
                    "repeat_interval_seconds",
                    "mute_windows",
                    "continue_matching",
                ]
            },
        ),
    ]

    @admin.display(description="route")
    def tree_name(self, route):
        depth, node = 0, route.parent
        while node is not None and depth < 20:
            depth, node = depth + 1, node.parent
        return format_html("{}{}", "\u2003" * depth + ("\u21b3 " if depth else ""), route.name)


@admin.register(InhibitRule)
class InhibitRuleAdmin(AuditedConfigAdmin):
    list_display = [
        "name",
        "source_rule",
        "source_severity",
        "source_provider_states",
        "target_rules",
        "target_severity",
        "equal_provider",
    ]


@admin.register(NotificationGroup)
class NotificationGroupAdmin(ReadableJSONMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["route", "key", "created_at", "next_flush_at", "last_notified_at"]
    list_filter = ["route"]


@admin.register(Notification)
class NotificationAdmin(ReadableJSONMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The delivery log: what was sent to whom, with every attempt."""

    list_display = [
        "id",
        "created_at",
        "route",
        "receiver",
        "group_key",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    ]
    list_filter = ["status", "receiver", "route"]
    search_fields = ["group_key"]
    date_hierarchy = "created_at"
