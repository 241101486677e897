"""Serializers of the fraud rules API: rules, versions, backtests, shadow comparison, lists."""

from rest_framework import serializers

from fraud.choices import RuleAction
from fraud.models import Backtest, FraudList, FraudRule, ListEntry, RuleVersion


class RuleVersionSerializer(serializers.ModelSerializer):
    rule = serializers.SlugRelatedField(slug_field="key", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RuleVersion
        fields = [
            "id",
            "rule",
            "number",
            "state",
            "action",
            "parameters",
            "risk_points",
            "four_eyes_minor",
            "note",
            "restored_from",
            "created_by",
            "created_at",
            "published_by",
            "published_at",
            "shadow_since",
            "superseded_at",
        ]
        read_only_fields = fields


class RuleSerializer(serializers.ModelSerializer):
    live_version = serializers.SerializerMethodField()
    shadow_version = serializers.SerializerMethodField()

    class Meta:
        model = FraudRule
        fields = [
            "key",
            "name",
            "enabled",
            "description",
            "action",
            "parameters",
            "risk_points",
            "four_eyes_minor",
            "live_version",
            "shadow_version",
            "updated_at",
        ]
        read_only_fields = fields

    def _version(self, rule, state):
        version = next((v for v in rule.versions.all() if v.state == state), None)
        return version.pk if version else None

    def get_live_version(self, rule) -> int | None:
        return self._version(rule, "live")

    def get_shadow_version(self, rule) -> int | None:
        return self._version(rule, "shadow")


class DraftCreateSerializer(serializers.Serializer):
    """A new draft of `rule`: the live version's settings with the fields given changed."""

    rule = serializers.SlugRelatedField(slug_field="key", queryset=FraudRule.objects.all())
    action = serializers.ChoiceField(choices=RuleAction.choices, required=False)
    parameters = serializers.JSONField(required=False)
    risk_points = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)
    four_eyes_minor = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class DraftUpdateSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=RuleAction.choices, required=False)
    parameters = serializers.JSONField(required=False)
    risk_points = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)
    four_eyes_minor = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class VersionReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class BacktestSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="version.rule.key", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Backtest
        fields = [
            "id",
            "version",
            "rule",
            "days",
            "status",
            "progress",
            "stage",
            "window_start",
            "window_end",
            "result",
            "error",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class BacktestCreateSerializer(serializers.Serializer):
    version = serializers.PrimaryKeyRelatedField(queryset=RuleVersion.objects.all())
    days = serializers.IntegerField(min_value=1, max_value=365)


class ShadowComparisonQuery(serializers.Serializer):
    version = serializers.PrimaryKeyRelatedField(queryset=RuleVersion.objects.all())
    hours = serializers.IntegerField(min_value=1, max_value=24 * 90, required=False, default=24)


class ListEntrySerializer(serializers.ModelSerializer):
    added_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ListEntry
        fields = ["id", "list", "value", "reason", "expires_at", "added_by", "created_at"]
        read_only_fields = ["id", "added_by", "created_at"]
        # Uniqueness is checked by the service with a clearer message.
        validators = []


class ListEntryRemoveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class FraudListSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    entry_count = serializers.SerializerMethodField()

    class Meta:
        model = FraudList
        fields = [
            "id",
            "name",
            "kind",
            "purpose",
            "description",
            "enabled",
            "entry_count",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "entry_count", "created_by", "created_at"]

    def get_entry_count(self, fraud_list) -> int:
        total = getattr(fraud_list, "entry_total", None)
        return fraud_list.entries.count() if total is None else total

    def validate_kind(self, value):
        if (
            self.instance is not None
            and value != self.instance.kind
            and self.instance.entries.exists()
        ):
            raise serializers.ValidationError("a list with entries keeps its kind")
        return value


class ShadowComparisonRowSerializer(serializers.Serializer):
    request_kind = serializers.CharField()
    live_action = serializers.CharField()
    shadow_action = serializers.CharField()
    calls = serializers.IntegerField()


class ShadowByLiveVersionSerializer(serializers.Serializer):
    live_version_id = serializers.IntegerField(allow_null=True)
    live_version = serializers.IntegerField(
        allow_null=True, help_text="the live version's number; null: no live version ran"
    )
    calls = serializers.IntegerField()
    agree = serializers.IntegerField()
    disagree = serializers.IntegerField()


class ShadowComparisonSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    calls = serializers.IntegerField()
    agree = serializers.IntegerField()
    disagree = serializers.IntegerField()
    live_hits = serializers.IntegerField()
    shadow_hits = serializers.IntegerField()
    only_live = serializers.IntegerField()
    only_shadow = serializers.IntegerField()
    breakdown = ShadowComparisonRowSerializer(many=True)
    by_live_version = ShadowByLiveVersionSerializer(many=True)
