from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reconciliation.choices import REPORT_KINDS, REPORT_STATUSES, ReportFormat
from reconciliation.models import (
    CorrectionRequest,
    Discrepancy,
    ProviderReport,
    ReconciliationRun,
    ReportRow,
)
from wallets.api.serializers import OptionalReasonSerializer, ReasonSerializer
from wallets.money import format_amount

__all__ = ["OptionalReasonSerializer", "ReasonSerializer"]  # shared with wallets' API


class RunSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="code", read_only=True)
    report = serializers.PrimaryKeyRelatedField(read_only=True)
    malformed_rows = serializers.SerializerMethodField()

    class Meta:
        model = ReconciliationRun
        fields = [
            "id", "kind", "status", "provider", "report", "triggered_by", "started_at",
            "finished_at", "duration_ms", "wallets_checked", "rows_total", "counts", "pending",
            "discrepancies_opened", "discrepancies_cleared", "watermark_at",
            "watermark_transaction_id", "phase_ms", "error", "malformed_rows",
        ]  # fmt: skip

    def get_malformed_rows(self, run) -> list[dict]:
        """The first malformed rows of a report run (line number and reason); all of them are
        listed by GET /reconciliation/report-rows/?report=<id>&outcome=malformed."""
        if not self.context.get("with_malformed"):
            return []
        report = getattr(run, "report", None)
        if report is None:
            return []
        rows = report.rows.filter(outcome="malformed").order_by("line_no")[:100]
        return [{"line": r.line_no, "error": r.error} for r in rows]


def _money(minor, currency):
    return format_amount(minor, currency) if minor is not None and currency else None


class CorrectionSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    amount = serializers.SerializerMethodField()

    class Meta:
        model = CorrectionRequest
        fields = [
            "id", "status", "delta_minor", "amount", "reason", "requested_by", "requested_at",
            "approved_by", "decided_at", "adjustment",
        ]  # fmt: skip

    def get_amount(self, correction) -> str:
        """Signed decimal string in the wallet's currency (negative: a debit)."""
        return format_amount(correction.delta_minor, correction.wallet.currency)


class DiscrepancySerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="code", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    provider_amount = serializers.SerializerMethodField()
    wallet_amount = serializers.SerializerMethodField()
    drift = serializers.SerializerMethodField()
    corrections = CorrectionSerializer(many=True, read_only=True)

    class Meta:
        model = Discrepancy
        fields = [
            "id", "kind", "status", "provider", "wallet", "ledger_transaction",
            "provider_transaction_id", "round_id", "player_external_id", "transaction_kind",
            "currency", "provider_currency", "provider_amount", "provider_status",
            "wallet_amount", "wallet_status", "cached_minor", "expected_minor", "drift_minor",
            "drift", "occurred_at", "first_seen_at", "last_seen_at", "opened_at", "report",
            "resolved_at", "resolved_by", "resolution_note", "corrections",
        ]  # fmt: skip

    def get_provider_amount(self, d) -> str | None:
        return _money(d.provider_amount_minor, d.provider_currency)

    def get_wallet_amount(self, d) -> str | None:
        return _money(d.wallet_amount_minor, d.currency)

    def get_drift(self, d) -> str | None:
        return _money(d.drift_minor, d.currency)


class ReportRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportRow
        fields = [
            "id", "report", "line_no", "outcome", "pending", "transaction_id", "round_id",
            "player", "kind", "amount_minor", "currency", "status", "occurred_at",
            "wallet_transaction", "error", "raw",
        ]  # fmt: skip


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "transaction_id": {"type": "string"},
            "round_id": {"type": "string"},
            "player": {"type": "string"},
            "kind": {"type": "string", "enum": list(REPORT_KINDS)},
            "amount": {"type": "string", "example": "12.50"},
            "currency": {"type": "string", "example": "EUR"},
            "status": {"type": "string", "enum": list(REPORT_STATUSES)},
            "time": {"type": "string", "format": "date-time"},
        },
    }
)
class ReportRowField(serializers.Field):
    """One report row as the body's JSON parser read it (wallets.strictjson: a JSON number is
    an exact Decimal). Rows are checked one by one when the report is read: a bad row is a
    malformed row of the run, not a refused report."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):  # pragma: no cover - input only
        return value


class ReportUploadSerializer(serializers.Serializer):
    """A multipart upload (`file`) or a JSON body (`rows`: a list of row objects)."""

    provider = serializers.CharField(help_text="Provider code.")
    file = serializers.FileField(required=False)
    rows = serializers.ListField(child=ReportRowField(), required=False)
    format = serializers.ChoiceField(choices=ReportFormat.choices, required=False)
    period_start = serializers.DateTimeField(required=False)
    period_end = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        if ("file" in attrs) == ("rows" in attrs):
            raise serializers.ValidationError({"file": "send either a file or rows"})
        start, end = attrs.get("period_start"), attrs.get("period_end")
        if start and end and start > end:
            raise serializers.ValidationError({"period_end": "before period_start"})
        return attrs


class ProviderReportSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = ProviderReport
        fields = [
            "id", "provider", "format", "filename", "uploaded_at", "period_start", "period_end",
            "rows_total", "rows_malformed", "run",
        ]  # fmt: skip


class ProposeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    amount = serializers.CharField(
        required=False,
        help_text="Decimal string in the wallet's currency; omitted: the suggested correction.",
    )
    direction = serializers.ChoiceField(
        choices=["credit", "debit"], required=False, help_text="Required with amount."
    )

    def validate(self, attrs):
        if ("amount" in attrs) != ("direction" in attrs):
            raise serializers.ValidationError({"direction": "give amount and direction together"})
        return attrs
