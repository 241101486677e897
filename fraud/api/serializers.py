"""Serializers of the review-queue API."""

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fraud import selectors
from fraud.choices import (
    MAX_SNOOZE_DAYS,
    CaseOutcome,
    CaseQueue,
    DecisionReason,
    RuleKind,
)
from fraud.models import Case, CaseNote, RuleSnooze
from wallets.money import format_amount


class CaseSerializer(serializers.ModelSerializer):
    player_external_id = serializers.CharField(source="player.external_id", read_only=True)
    transaction_status = serializers.CharField(
        source="transaction.status", read_only=True, default=None
    )
    provider = serializers.SlugRelatedField(slug_field="code", read_only=True)
    amount = serializers.SerializerMethodField()
    age_seconds = serializers.SerializerMethodField()
    assigned_to = serializers.SlugRelatedField(slug_field="username", read_only=True)
    first_approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    # Plain strings on output: one enum (DecisionRequest.reason_code) documents the choices.
    reason_code = serializers.CharField(read_only=True)
    first_reason_code = serializers.CharField(read_only=True)
    outcome = serializers.CharField(read_only=True)
    escalated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    sla_state = serializers.SerializerMethodField(
        help_text="ok, warning (75 % of the kind's SLA used) or breached; for a decided case, "
        "as it stood at the decision."
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "kind",
            "status",
            "player",
            "player_external_id",
            "transaction",
            "transaction_status",
            "provider",
            "session",
            "request_kind",
            "currency",
            "amount",
            "amount_minor",
            "client_ip",
            "rule_keys",
            "hits",
            "assigned_to",
            "assigned_at",
            "first_approved_by",
            "first_approved_at",
            "first_reason_code",
            "first_note",
            "decided_by",
            "decided_at",
            "reason_code",
            "decision_note",
            "created_at",
            "age_seconds",
            "sla_state",
            "level",
            "escalated_by",
            "escalated_at",
            "escalation_reason",
            "outcome",
        ]
        read_only_fields = fields

    def get_amount(self, case) -> str | None:
        if not case.currency:
            return None
        return format_amount(case.amount_minor, case.currency)

    def get_age_seconds(self, case) -> int:
        return int((timezone.now() - case.created_at).total_seconds())

    def get_sla_state(self, case) -> str:
        return selectors.case_sla_state(case)


class DecisionSerializer(serializers.Serializer):
    """The contract's body is `{reason}`; `reason_code` classifies the decision (default
    `other`), `note` is an older name of `reason`."""

    reason = serializers.CharField(
        max_length=1000, required=False, allow_blank=False, help_text="Why: kept as the note."
    )
    reason_code = serializers.ChoiceField(
        choices=DecisionReason.choices, required=False, default=DecisionReason.OTHER
    )
    note = serializers.CharField(
        max_length=1000, required=False, allow_blank=False, help_text="Same as `reason`."
    )
    outcome = serializers.ChoiceField(
        choices=CaseOutcome.choices,
        required=False,
        help_text="What the case turned out to be; without it: a rejection is confirmed_fraud, "
        "an approval for legitimate_pattern a false_positive, any other approval legitimate.",
    )

    def validate(self, attrs):
        note = attrs.get("reason") or attrs.get("note")
        if not note or not note.strip():
            raise serializers.ValidationError({"reason": "a decision needs a reason"})
        return {
            "reason_code": attrs["reason_code"],
            "note": note.strip(),
            "outcome": attrs.get("outcome"),
        }


class AssignSerializer(serializers.Serializer):
    assignee = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        help_text="Username of the reviewer; null takes the case back.",
    )


class CaseNoteSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CaseNote
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class NoteRequest(serializers.Serializer):
    body = serializers.CharField(max_length=4000, allow_blank=False, trim_whitespace=True)


class SnoozeSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule_key", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    lifted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = RuleSnooze
        fields = [
            "id",
            "player",
            "rule",
            "starts_at",
            "until",
            "reason",
            "created_by",
            "case",
            "active",
            "lifted_at",
            "lifted_by",
            "lift_reason",
            "created_at",
        ]
        read_only_fields = fields

    def get_active(self, snooze) -> bool:
        return snooze.is_active()


class CaseDetailSerializer(CaseSerializer):
    notes = CaseNoteSerializer(many=True, read_only=True)
    player_snoozes = serializers.SerializerMethodField()
    sla_seconds = serializers.SerializerMethodField()

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "sla_seconds", "notes", "player_snoozes"]
        read_only_fields = fields

    def get_sla_seconds(self, case) -> int:
        return selectors.sla_seconds(case.kind)

    @extend_schema_field(SnoozeSerializer(many=True))
    def get_player_snoozes(self, case):
        snoozes = RuleSnooze.objects.filter(player_id=case.player_id).select_related(
            "created_by", "lifted_by"
        )[:50]
        return SnoozeSerializer(snoozes, many=True).data


class QueueRequest(serializers.Serializer):
    queue = serializers.ChoiceField(choices=CaseQueue.choices)


class ReasonRequest(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, allow_blank=False, trim_whitespace=True)


class CaseDecisionRequest(serializers.Serializer):
    """The case manager's decision: the outcome label is required here (the holds endpoints
    default it)."""

    decision = serializers.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    reason_code = serializers.ChoiceField(choices=DecisionReason.choices)
    reason = serializers.CharField(max_length=1000, allow_blank=False, trim_whitespace=True)
    outcome = serializers.ChoiceField(choices=CaseOutcome.choices)


class OutcomeRequest(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=CaseOutcome.choices)
    reason = serializers.CharField(max_length=1000, allow_blank=False, trim_whitespace=True)


class SnoozeRequest(serializers.Serializer):
    rule = serializers.ChoiceField(choices=RuleKind.choices)
    days = serializers.IntegerField(min_value=1, max_value=MAX_SNOOZE_DAYS, required=False)
    until = serializers.DateTimeField(required=False)
    reason = serializers.CharField(max_length=1000, allow_blank=False, trim_whitespace=True)

    def validate(self, attrs):
        if ("days" in attrs) == ("until" in attrs):
            raise serializers.ValidationError({"days": "give either days or until"})
        return attrs


class LiftRequest(ReasonRequest):
    pass


class QueueFiguresSerializer(serializers.Serializer):
    queue = serializers.CharField()
    label = serializers.CharField()
    undecided = serializers.IntegerField()
    unclaimed = serializers.IntegerField()
    mine = serializers.IntegerField()
    oldest_unclaimed_seconds = serializers.FloatField(allow_null=True)
    breached = serializers.IntegerField()
    sla_state = serializers.CharField(allow_null=True)
    may_work = serializers.BooleanField()


class RuleStatisticsRequest(serializers.Serializer):
    # "from" is a Python keyword: the field is declared below under its query name.
    to = serializers.DateField(required=False)
    rule = serializers.CharField(required=False, max_length=64)
    version = serializers.IntegerField(required=False, min_value=1, max_value=2_147_483_647)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False)
        return fields


class _FiguresSerializer(serializers.Serializer):
    hits = serializers.IntegerField()
    hits_per_day = serializers.SerializerMethodField()
    actions = serializers.DictField(child=serializers.IntegerField())
    cases_opened = serializers.IntegerField()
    decided = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    escalated = serializers.IntegerField()
    outcomes = serializers.DictField(child=serializers.IntegerField())
    false_positive_rate = serializers.FloatField(allow_null=True)
    median_decision_seconds = serializers.FloatField(allow_null=True)

    def get_hits_per_day(self, stats) -> list[dict]:
        return [{"day": day.isoformat(), "hits": count} for day, count in stats.hits_per_day]


class VersionStatisticsSerializer(_FiguresSerializer):
    version_id = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(
        source="number", allow_null=True, help_text="null: hits from before versions were recorded"
    )
    label = serializers.CharField()
    state = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    superseded_at = serializers.DateTimeField(allow_null=True)


class RuleStatisticsSerializer(_FiguresSerializer):
    rule = serializers.CharField()
    name = serializers.CharField()
    versions = VersionStatisticsSerializer(many=True)

    def get_fields(self):
        # The rule's own fields first, as before versions were added.
        fields = super().get_fields()
        ordered = {name: fields.pop(name) for name in ("rule", "name")}
        ordered.update(fields)
        return ordered
