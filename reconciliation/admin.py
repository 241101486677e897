"""Admin of reconciliation: runs and reports are records (read-only); a report is added by
uploading its file; discrepancies are worked through actions that call the services (four
eyes for corrections, a reason for everything)."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from reconciliation import parsing, selectors, services
from reconciliation.choices import (
    WALLET_KINDS,
    CorrectionStatus,
    DiscrepancyStatus,
    ReportFormat,
)
from reconciliation.models import (
    CorrectionRequest,
    Discrepancy,
    ProviderReconciliationProfile,
    ProviderReport,
    ReconciliationRun,
    ReportRow,
)
from wallets.admin_actions import (
    KeysOnlyAutocompleteMixin,
    ReadOnlyAdminMixin,
    ReasonForm,
    reason_action,
)
from wallets.admin_display import (
    STYLE,
    MoneyFieldsMixin,
    ReadableJSONMixin,
    audit_history,
    money,
)
from wallets.admin_filters import attention_filter
from wallets.admin_object_actions import ObjectAction, ObjectActionsMixin
from wallets.errors import ValidationFailed, WalletError
from wallets.models import Wallet
from wallets.money import format_amount, parse_amount


def _counts(counts: dict) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "-"


@admin.register(ProviderReconciliationProfile)
class ProviderReconciliationProfileAdmin(KeysOnlyAutocompleteMixin, admin.ModelAdmin):
    list_display = ["provider", "grace_seconds"]
    autocomplete_fields = ["provider"]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadableJSONMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
class ReportRowAdmin(MoneyFieldsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "report", "line_no", "outcome", "pending", "transaction_id", "player", "kind",
        "amount", "status", "occurred_at", "error",
    ]  # fmt: skip
    list_filter = ["outcome", "pending"]
    search_fields = ["transaction_id"]
    show_full_result_count = False

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, row):
        return money(row.amount_minor, row.currency)

    def lookup_allowed(self, lookup, value, request=None):
        if lookup in ("report", "report__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)


class CorrectionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CorrectionRequest
    fields = ["status", "change", "reason", "requested_by", "approved_by", "adjustment"]
    readonly_fields = fields
    extra = 0

    @admin.display(description="change to the balance")
    def change(self, correction):
        return money(correction.delta_minor, correction.wallet.currency, signed=True)


CREDIT, DEBIT = "credit", "debit"


class ProposeCorrectionForm(ReasonForm):
    amount = forms.CharField(
        max_length=24, help_text="In the wallet's currency, e.g. 12.50; no sign."
    )
    direction = forms.ChoiceField(
        choices=[(CREDIT, "credit: add to the balance"), (DEBIT, "debit: take from the balance")],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, currency: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        if currency:
            self.fields["amount"].label = f"Amount ({currency})"

    def clean_amount(self):
        raw = self.cleaned_data["amount"].strip().replace(",", "")
        try:
            minor = parse_amount(raw, self.currency).minor
        except WalletError as error:
            raise forms.ValidationError(error.message) from None
        if minor == 0:
            raise forms.ValidationError("a correction must change the balance")
        return minor

    def delta_minor(self) -> int:
        amount = self.cleaned_data["amount"]
        return amount if self.cleaned_data["direction"] == CREDIT else -amount


def _suggested_initial(discrepancy):
    suggested = services.suggested_correction_minor(discrepancy)
    if suggested is None or not discrepancy.currency:
        return {}
    return {
        "amount": format_amount(abs(suggested), discrepancy.currency),
        "direction": CREDIT if suggested > 0 else DEBIT,
    }


def _correction_preview(discrepancy, cleaned):
    wallet = Wallet.objects.get(pk=discrepancy.wallet_id)
    amount = cleaned["amount"]
    delta = amount if cleaned["direction"] == CREDIT else -amount
    after = wallet.balance_minor + delta
    if after < wallet.reserved_minor:
        reserved = money(wallet.reserved_minor, wallet.currency)
        raise ValidationFailed(
            f"a debit of {money(amount, wallet.currency)} would leave "
            f"{money(after, wallet.currency)}, below the {reserved} reserved: the approval "
            "would be refused",
            field="amount",
        )
    suggested = services.suggested_correction_minor(discrepancy)
    return [
        ("player's wallet", f"{wallet.player} ({wallet.currency})"),
        ("amount", money(amount, wallet.currency)),
        (
            "direction",
            "credit: adds to the balance" if delta > 0 else "debit: takes from the balance",
        ),
        ("balance now", money(wallet.balance_minor, wallet.currency)),
        ("resulting balance", money(after, wallet.currency)),
        (
            "available after (balance less reserved)",
            money(after - wallet.reserved_minor, wallet.currency),
        ),
        (
            "suggested by the reconciliation",
            money(suggested, wallet.currency, signed=True) if suggested is not None else "none",
        ),
        ("what happens next", "nothing is posted until a second staff user approves it"),
    ]


def _discrepancy_facts(d):
    currency = d.currency or None
    return [
        ("kind", d.get_kind_display()),
        (
            "provider and transaction",
            f"{d.provider.code if d.provider else '-'}, "
            f"{d.provider_transaction_id or '-'} ({d.transaction_kind or '-'})",
        ),
        ("player", d.player_external_id or "-"),
        (
            "provider says",
            f"{money(d.provider_amount_minor, d.provider_currency or currency)}, "
            f"{d.provider_status or '-'}",
        ),
        ("wallet says", f"{money(d.wallet_amount_minor, currency)}, {d.wallet_status or '-'}"),
    ]


def _propose_from_page(request, discrepancy, cleaned):
    amount = cleaned["amount"]
    delta = amount if cleaned["direction"] == CREDIT else -amount
    correction = services.propose_correction(
        discrepancy=discrepancy, actor=request.user, reason=cleaned["reason"], delta_minor=delta
    )
    return (
        f"Correction of {money(delta, discrepancy.currency, signed=True)} proposed "
        f"(#{correction.pk}); a second staff user must approve it before it is posted."
    )


def _close_from_page(request, discrepancy, cleaned):
    services.close_discrepancy(
        discrepancy=discrepancy, actor=request.user, reason=cleaned["reason"]
    )
    return f"Discrepancy {discrepancy.pk} closed; the ledger is unchanged."


def _may_propose(discrepancy) -> bool:
    return (
        discrepancy.status == DiscrepancyStatus.OPEN
        and discrepancy.kind not in WALLET_KINDS
        and discrepancy.wallet_id is not None
        and not discrepancy.corrections.filter(status=CorrectionStatus.PROPOSED).exists()
    )


def _propose(request, discrepancy, reason):
    services.propose_correction(discrepancy=discrepancy, actor=request.user, reason=reason)


def _close(request, discrepancy, reason):
    services.close_discrepancy(discrepancy=discrepancy, actor=request.user, reason=reason)


@admin.register(Discrepancy)
class DiscrepancyAdmin(ObjectActionsMixin, MoneyFieldsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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

    object_actions = [
        ObjectAction(
            name="propose",
            label="Propose a correction",
            permission="propose",
            form=ProposeCorrectionForm,
            form_kwargs=lambda d: {"currency": d.wallet.currency if d.wallet_id else d.currency},
            initial=_suggested_initial,
            preview=_correction_preview,
            facts=_discrepancy_facts,
            apply=_propose_from_page,
            available=_may_propose,
            explain="An adjustment ledger row, proposed now and posted only when a second staff "
            "user approves it (four eyes). The amount, the direction and the resulting balance "
            "are shown before you confirm.",
        ),
        ObjectAction(
            name="close",
            label="Explain and close",
            permission="close",
            apply=_close_from_page,
            facts=_discrepancy_facts,
            available=lambda d: d.status in (DiscrepancyStatus.PENDING, DiscrepancyStatus.OPEN),
            explain="The ledger is not changed; your explanation is kept and audited. A proposed "
            "correction is cancelled.",
        ),
    ]

    def get_fields(self, request, obj=None):
        return [*super().get_fields(request, obj), "history"]

    @admin.display(description="who did what")
    def history(self, discrepancy):
        return format_html(
            "{}{}", STYLE, audit_history(discrepancy, currency=discrepancy.currency or None)
        )

    @admin.display(description="drift", ordering="drift_minor")
    def drift(self, d):
        return money(d.drift_minor, d.currency)

    def has_close_permission(self, request):
        return request.user.has_perm("reconciliation.close_discrepancy")

    def has_propose_permission(self, request):
        return request.user.has_perm("reconciliation.propose_correction")


def _approve(request, correction, reason):
    services.approve_correction(
        discrepancy=correction.discrepancy, actor=request.user, reason=reason
    )


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(MoneyFieldsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id", "discrepancy", "status", "change", "reason", "requested_by", "approved_by",
        "adjustment",
    ]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["wallet", "discrepancy", "requested_by", "approved_by"]

    def money_currency(self, correction):
        return correction.wallet.currency

    @admin.display(description="change to the balance", ordering="delta_minor")
    def change(self, correction):
        return money(correction.delta_minor, correction.wallet.currency, signed=True)

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
