"""Admin of reconciliation: runs and reports are records (read-only); a report is added by
uploading its file; discrepancies are worked through actions that call the services (four
eyes for corrections, a reason for everything)."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from reconciliation import parsing, selectors, services
from reconciliation.choices import ReportFormat
from reconciliation.models import (
    CorrectionRequest,
    Discrepancy,
    ProviderReconciliationProfile,
    ProviderReport,
    ReconciliationRun,
    ReportRow,
)
from wallets.admin_actions import KeysOnlyAutocompleteMixin, ReadOnlyAdminMixin, reason_action
from wallets.admin_filters import attention_filter
from wallets.errors import WalletError
from wallets.money import format_amount


def _counts(counts: dict) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "-"


@admin.register(ProviderReconciliationProfile)
class ProviderReconciliationProfileAdmin(KeysOnlyAutocompleteMixin, admin.ModelAdmin):
    list_display = ["provider", "grace_seconds"]
    autocomplete_fields = ["provider"]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id", "kind", "status", "provider", "started_at", "duration_ms", "wallets_checked",
        "rows_total", "counts_summary", "pending", "discrepancies_opened",
    ]  # fmt: skip
    list_filter = ["kind", "status", "provider"]
    list_select_related = ["provider"]
    date_hierarchy = "started_at"

    @admin.display(description="counts per class")
    def counts_summary(self, run):
        return _counts(run.counts)


class ReportUploadForm(forms.ModelForm):
    file = forms.FileField(help_text="CSV with a header row, or JSON (array or JSON lines).")
    format = forms.ChoiceField(
        choices=[("", "by file name"), *ReportFormat.choices], required=False
    )

    class Meta:
        model = ProviderReport
        fields = ["provider", "period_start", "period_end"]

    def clean(self):
        cleaned = super().clean()
        uploaded = cleaned.get("file")
        if uploaded is not None:
            report_format = parsing.report_format_for(uploaded.name or "", cleaned.get("format"))
            try:
                # Reads only the header (or first chunk) now; the rows are streamed on save.
                self.rows = parsing.iter_rows(parsing.open_upload(uploaded), report_format)
            except WalletError as error:
                raise forms.ValidationError({"file": error.message}) from None
            self.report_format = report_format
        return cleaned


@admin.register(ProviderReport)
class ProviderReportAdmin(admin.ModelAdmin):
    list_display = [
        "id", "provider", "filename", "uploaded_at", "uploaded_by", "rows_total",
        "rows_malformed", "run_counts", "rows_link",
    ]  # fmt: skip
    list_filter = ["provider", "format"]
    list_select_related = ["provider", "run", "uploaded_by"]
    readonly_fields = [
        "provider", "format", "filename", "uploaded_by", "uploaded_at", "period_start",
        "period_end", "rows_total", "rows_malformed", "run", "run_counts", "rows_link",
    ]  # fmt: skip

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ReportUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["provider", "file", "format", "period_start", "period_end"]
        return self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Upload: the service stores the report and its rows and reconciles it."""
        run = services.reconcile_provider_report(
            provider=form.cleaned_data["provider"],
            rows=form.rows,
            report_format=form.report_format,
            filename=form.cleaned_data["file"].name or "",
            uploaded_by=request.user,
            period_start=form.cleaned_data.get("period_start"),
            period_end=form.cleaned_data.get("period_end"),
        )
        stored = ProviderReport.objects.get(run=run)
        obj.pk = stored.pk
        obj.__dict__.update({k: v for k, v in stored.__dict__.items() if not k.startswith("_")})

    @admin.display(description="counts per class")
    def run_counts(self, report):
        return _counts(report.run.counts) if report.run else "-"

    @admin.display(description="rows")
    def rows_link(self, report):
        return format_html(
            '<a href="../../reportrow/?report__id__exact={}">rows</a> · '
            '<a href="../../reportrow/?report__id__exact={}&outcome__exact=malformed">'
            "malformed</a>",
            report.pk,
            report.pk,
        )


@admin.register(ReportRow)
class ReportRowAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "report", "line_no", "outcome", "pending", "transaction_id", "player", "kind",
        "amount_minor", "currency", "status", "occurred_at", "error",
    ]  # fmt: skip
    list_filter = ["outcome", "pending"]
    search_fields = ["transaction_id"]
    show_full_result_count = False

    def lookup_allowed(self, lookup, value, request=None):
        if lookup in ("report", "report__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)


class CorrectionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CorrectionRequest
    fields = ["status", "delta_minor", "reason", "requested_by", "approved_by", "adjustment"]
    readonly_fields = fields
    extra = 0


def _propose(request, discrepancy, reason):
    services.propose_correction(discrepancy=discrepancy, actor=request.user, reason=reason)


def _close(request, discrepancy, reason):
    services.close_discrepancy(discrepancy=discrepancy, actor=request.user, reason=reason)


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id", "kind", "status", "provider", "player_external_id", "provider_transaction_id",
        "currency", "drift", "occurred_at", "opened_at",
    ]  # fmt: skip
    list_filter = [
        attention_filter(
            parameter="open_queue",
            title="queue",
            choice="Open (to work)",
            selector=selectors.open_discrepancies,
        ),
        "status",
        "kind",
        "provider",
        "currency",
    ]
    list_select_related = ["provider"]
    search_fields = ["provider_transaction_id", "player_external_id", "round_id"]
    date_hierarchy = "occurred_at"
    inlines = [CorrectionInline]
    actions = [
        reason_action(
            name="explain_and_close",
            description="Explain and close",
            permission="close",
            apply=_close,
            confirm="The ledger is not changed; the explanation is kept and audited.",
        ),
        reason_action(
            name="propose_suggested_correction",
            description="Propose the suggested correction",
            permission="propose",
            apply=_propose,
            confirm="A second staff user must approve each correction before it is posted.",
        ),
    ]

    @admin.display(description="drift", ordering="drift_minor")
    def drift(self, d):
        return format_amount(d.drift_minor, d.currency) if d.currency else d.drift_minor

    def has_close_permission(self, request):
        return request.user.has_perm("reconciliation.close_discrepancy")

    def has_propose_permission(self, request):
        return request.user.has_perm("reconciliation.propose_correction")


def _approve(request, correction, reason):
    services.approve_correction(
        discrepancy=correction.discrepancy, actor=request.user, reason=reason
    )


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id", "discrepancy", "status", "delta_minor", "reason", "requested_by", "approved_by",
        "adjustment",
    ]  # fmt: skip
    list_filter = ["status"]
    actions = [
        reason_action(
            name="approve_corrections",
            description="Approve and post (four eyes)",
            permission="approve",
            apply=_approve,
            confirm="Posts an adjustment ledger row. You cannot approve your own proposal.",
        )
    ]

    def has_approve_permission(self, request):
        return request.user.has_perm("reconciliation.approve_correction")
