from rest_framework import serializers

from compliance.models import POLICY_FIELDS, GlobalSecurityPolicy, SecurityViolation


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
        min_value=1, required=False, allow_null=True
    )
    issue_with_expiry = serializers.BooleanField(required=False, allow_null=True)
    require_tls = serializers.BooleanField(required=False, allow_null=True)
    signature_failure_threshold = serializers.IntegerField(
        min_value=0, required=False, allow_null=True
    )
    signature_failure_window_seconds = serializers.IntegerField(
        min_value=1, required=False, allow_null=True
    )
    window_minutes = serializers.IntegerField(
        min_value=1, max_value=10080, required=False, allow_null=True
    )
    alert_threshold = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    restrict_threshold = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    suspend_threshold = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    kill_sessions_on_suspend = serializers.BooleanField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class EffectivePolicySerializer(serializers.Serializer):
    provider = serializers.CharField()
    overrides = serializers.DictField()
    effective = serializers.DictField()
