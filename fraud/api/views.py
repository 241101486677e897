"""The review queue on the back-office API: list and filter cases, approve, reject, assign."""

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fraud import services
from fraud.api import filters
from fraud.api import serializers as s
from fraud.models import Case


class HoldViewSet(viewsets.ReadOnlyModelViewSet):
    """Held transactions, declined bets and flags awaiting (or past) review."""

    serializer_class = s.CaseSerializer
    queryset = Case.objects.select_related(
        "player", "transaction", "provider", "assigned_to", "first_approved_by", "decided_by"
    )
    filterset_class = filters.CaseFilterSet
    ordering_fields = ["created_at", "amount_minor", "id"]
    ordering = ["created_at", "id"]
    action_permissions = {
        "approve": ["fraud.decide_case"],
        "reject": ["fraud.decide_case"],
        "assign": ["fraud.assign_case"],
    }

    def _decided(self, case):
        return Response(self.get_serializer(self.get_queryset().get(pk=case.pk)).data)

    @extend_schema(request=s.DecisionSerializer, responses=s.CaseSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve: a held transaction is posted. From the four-eyes threshold, the first
        approval is recorded and a second, different user completes it."""
        params = s.DecisionSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        case = services.approve_case(
            case_id=self.get_object().pk, actor=request.user, **params.validated_data
        )
        return self._decided(case)

    @extend_schema(request=s.DecisionSerializer, responses=s.CaseSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject: a held credit is removed, a held withdrawal returns to available."""
        params = s.DecisionSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        case = services.reject_case(
            case_id=self.get_object().pk, actor=request.user, **params.validated_data
        )
        return self._decided(case)

    @extend_schema(request=s.AssignSerializer, responses=s.CaseSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        params = s.AssignSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        case = services.assign_case(
            case_id=self.get_object().pk,
            actor=request.user,
            assignee=params.validated_data["assignee"],
        )
        return self._decided(case)
