"""Serializers of the review-queue API."""

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import serializers

from fraud.choices import DecisionReason
from fraud.models import Case
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
        ]
        read_only_fields = fields

    def get_amount(self, case) -> str | None:
        if not case.currency:
            return None
        return format_amount(case.amount_minor, case.currency)

    def get_age_seconds(self, case) -> int:
        return int((timezone.now() - case.created_at).total_seconds())


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

    def validate(self, attrs):
        note = attrs.get("reason") or attrs.get("note")
        if not note or not note.strip():
            raise serializers.ValidationError({"reason": "a decision needs a reason"})
        return {"reason_code": attrs["reason_code"], "note": note.strip()}


class AssignSerializer(serializers.Serializer):
    assignee = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        help_text="Username of the reviewer; null takes the case back.",
    )
