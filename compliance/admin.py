"""Compliance in the admin: policies (edits audited), violations (read-only records), and the
compliance officer's provider page (status history, violations, credentials, open sessions)."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from compliance import policies, selectors, services
from compliance.models import (
    POLICY_FIELDS,
    GlobalSecurityPolicy,
    ProviderCompliance,
    ProviderSecurityPolicy,
    SecurityViolation,
)
from wallets.admin_actions import KeysOnlyAutocompleteMixin
from wallets.admin_display import ReadableJSONMixin
from wallets.admin_filters import attention_filter

POLICY_LIST = [
    "max_credential_lifetime_days",
    "require_tls",
    "window_minutes",
    "alert_threshold",
    "restrict_threshold",
    "suspend_threshold",
    "updated_at",
]


class _AuditedPolicyAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        changed = [name for name in form.changed_data if name in POLICY_FIELDS]
        if not change:
            changed = [name for name in POLICY_FIELDS if hasattr(obj, name)]
        before = {name: form.initial.get(name) for name in changed}
        services.save_policy(policy=obj, changed=changed, before=before, actor=request.user)

    def has_delete_permission(self, request, obj=None):
        if self.model is GlobalSecurityPolicy:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(GlobalSecurityPolicy)
class GlobalSecurityPolicyAdmin(_AuditedPolicyAdmin):
    list_display = ["__str__", *POLICY_LIST]

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        policies.global_policy()  # the row exists once anyone looks
        return super().changelist_view(request, extra_context)


@admin.register(ProviderSecurityPolicy)
class ProviderSecurityPolicyAdmin(KeysOnlyAutocompleteMixin, _AuditedPolicyAdmin):
    list_display = ["provider", *POLICY_LIST]
    autocomplete_fields = ["provider"]
    search_fields = ["provider__code"]


@admin.register(SecurityViolation)
class SecurityViolationAdmin(ReadableJSONMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "provider_link", "kind", "severity", "occurrences",
                    "request_id", "client_ip"]  # fmt: skip
    list_filter = [
        attention_filter(
            parameter="in_window",
            title="policy window",
            choice="Inside the provider's policy window",
            selector=selectors.violations_in_window,
        ),
        "kind",
        "severity",
        "provider",
    ]
    search_fields = ["provider__code", "=request_id"]
    date_hierarchy = "occurred_at"
    list_select_related = ["provider"]
    readonly_fields = ["provider", "kind", "severity", "evidence", "occurred_at", "occurrences",
                       "request_id", "client_ip"]  # fmt: skip

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="provider", ordering="provider__code")
    def provider_link(self, violation):
        url = reverse("admin:compliance_providercompliance_change", args=[violation.provider_id])
        return format_html('<a href="{}">{}</a>', url, violation.provider.code)


@admin.register(ProviderCompliance)
class ProviderComplianceAdmin(admin.ModelAdmin):
    """One page per provider for compliance officers. Status changes are made on the provider
    (wallets admin actions or the API), which this page links to."""

    list_display = ["code", "name", "status", "status_changed_at", "violations_in_window"]
    list_filter = ["status"]
    search_fields = ["code", "name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        self._counts = selectors.violation_counts()
        return super().changelist_view(request, extra_context)

    @admin.display(description="violations in window")
    def violations_in_window(self, provider):
        return getattr(self, "_counts", {}).get(provider.pk, 0)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        provider = self.get_object(request, object_id)
        if provider is None or not self.has_view_permission(request, provider):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        context = {
            **self.admin_site.each_context(request),
            **selectors.provider_page(provider),
            "opts": self.opts,
            "title": f"Compliance: {provider.code}",
            "can_change_status": request.user.has_perm("wallets.change_provider_status"),
            "provider_admin_url": reverse("admin:wallets_provider_change", args=[provider.pk]),
        }
        return TemplateResponse(request, "admin/compliance/provider_page.html", context)
