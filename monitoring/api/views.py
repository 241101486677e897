"""Back-office API for alerts: list (filters state, provider, rule), acknowledge, resolve."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from monitoring import services
from monitoring.api import filters
from monitoring.api import serializers as s
from monitoring.models import Alert


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.AlertSerializer
    queryset = Alert.objects.select_related("provider", "acknowledged_by", "resolved_by")
    filterset_class = filters.AlertFilterSet
    search_fields = ["summary", "fingerprint"]
    ordering_fields = ["started_at", "fired_at", "state", "rule"]
    ordering = ["-started_at", "-id"]
    action_permissions = {
        "acknowledge": ["monitoring.manage_alert"],
        "resolve": ["monitoring.manage_alert"],
    }

    @extend_schema(request=s.AlertNoteSerializer, responses=s.AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Pending or firing → acknowledged (someone is on it; `note` says why). Audited."""
        params = s.AlertNoteSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        alert = services.acknowledge_alert(
            alert=self.get_object(), actor=request.user, note=params.validated_data["note"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(request=s.AlertNoteSerializer, responses=s.AlertSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Close an open alert by hand; a resolve notification goes out if it had fired."""
        params = s.AlertNoteSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        alert = services.resolve_alert(
            alert=self.get_object(), actor=request.user, note=params.validated_data["note"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=alert.pk)).data)
