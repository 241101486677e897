from rest_framework import serializers

from monitoring.models import Alert


class AlertSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="code", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "fingerprint",
            "provider",
            "player",
            "source",
            "state",
            "value",
            "threshold",
            "summary",
            "started_at",
            "fired_at",
            "last_seen_at",
            "clear_since",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledgement_note",
            "resolved_at",
            "resolved_by",
            "resolution_note",
            "protection_applied_at",
        ]
        read_only_fields = fields


class AlertNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
