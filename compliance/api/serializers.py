from rest_framework import serializers

from compliance.models import POLICY_BOUNDS, POLICY_FIELDS, GlobalSecurityPolicy, SecurityViolation
from wallets.api.serializers import PG_INTEGER_MAX


def _bounded(name: str) -> dict:
    low, high = POLICY_BOUNDS[name]
    return {"min_value": low, "max_value": high, "required": False, "allow_null": True}


class SecurityViolationSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = SecurityViolation
        fields = [
            "id",
            "provider",
            "kind",
            "severity",
            "evidence",
            "occurred_at",
            "occurrences",
            "request_id",
            "client_ip",
        ]


class GlobalPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = GlobalSecurityPolicy
        fields = [*POLICY_FIELDS, "updated_at"]
        read_only_fields = ["updated_at"]


class PolicyUpdateSerializer(serializers.Serializer):
    """Partial update of a policy; on a provider's policy, null means "inherit the global"."""

    max_credential_lifetime_days = serializers.IntegerField(
        **_bounded("max_credential_lifetime_days")
    )
    issue_with_expiry = serializers.BooleanField(required=False, allow_null=True)
    require_tls = serializers.BooleanField(required=False, allow_null=True)
    signature_failure_threshold = serializers.IntegerField(
        min_value=0, max_value=PG_INTEGER_MAX, required=False, allow_null=True
    )
    signature_failure_window_seconds = serializers.IntegerField(
        **_bounded("signature_failure_window_seconds")
    )
    window_minutes = serializers.IntegerField(**_bounded("window_minutes"))
    alert_threshold = serializers.IntegerField(
        min_value=0, max_value=PG_INTEGER_MAX, required=False, allow_null=True
    )
    restrict_threshold = serializers.IntegerField(
        min_value=0, max_value=PG_INTEGER_MAX, required=False, allow_null=True
    )
    suspend_threshold = serializers.IntegerField(
        min_value=0, max_value=PG_INTEGER_MAX, required=False, allow_null=True
    )
    kill_sessions_on_suspend = serializers.BooleanField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class EffectivePolicySerializer(serializers.Serializer):
    provider = serializers.CharField()
    overrides = serializers.DictField()
    effective = serializers.DictField()
