"""Admin of the monitoring app. Roll-ups, alerts and deliveries are records (read-only here);
alerts change state through services (acknowledge / resolve actions, audited); profiles are
editable and every change is audited; templates are applied with an action."""

from django.contrib import admin
from django.utils.html import format_html

from monitoring import selectors, services
from monitoring.choices import ProfileTemplate
from monitoring.models import Alert, MetricMinute, MonitoringProfile, NotificationDelivery, Silence
from wallets.admin_actions import STRICT_JSON_FORMFIELDS, ReadOnlyAdminMixin, reason_action
from wallets.admin_filters import attention_filter


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


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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

    def has_manage_permission(self, request):
        return request.user.has_perm("monitoring.manage_alert")

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
class MetricMinuteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["minute", "provider", "operation", "calls", "errors", "duplicates"]
    list_filter = ["operation", "provider"]
    date_hierarchy = "minute"
