"""The review queue on the back-office API: /holds/ (the contract: list and filter, approve,
reject, assign) and /cases/ (the case manager), /snoozes/."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fraud import casework, selectors, services, statistics
from fraud.api import filters
from fraud.api import serializers as s
from fraud.models import Case, RuleSnooze
from wallets.errors import ValidationFailed


class HoldViewSet(viewsets.ReadOnlyModelViewSet):
    """Held transactions, declined bets and flags awaiting (or past) review."""

    serializer_class = s.CaseSerializer
    queryset = Case.objects.select_related(
        "player",
        "transaction",
        "provider",
        "assigned_to",
        "first_approved_by",
        "decided_by",
        "escalated_by",
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


class CaseViewSet(viewsets.ReadOnlyModelViewSet):
    """The case manager: held transactions, declined bets and flags with their queues, claims,
    notes, escalation, decisions with an outcome label, and snoozes."""

    queryset = Case.objects.select_related(
        "player",
        "transaction",
        "provider",
        "assigned_to",
        "first_approved_by",
        "decided_by",
        "escalated_by",
    )
    filterset_class = filters.CaseFilterSet
    ordering_fields = ["created_at", "amount_minor", "id", "decided_at"]
    ordering = ["created_at", "id"]

    # Reads need fraud.view_case (the model permission); each write names its own.
    WRITE_PERMISSIONS = {
        "claim": ["fraud.decide_case"],
        "release": ["fraud.decide_case"],
        "next": ["fraud.decide_case"],
        "escalate": ["fraud.decide_case"],
        "decide": ["fraud.decide_case"],
        "outcome": ["fraud.decide_case"],
        "assign": ["fraud.assign_case"],
        "snooze": ["fraud.snooze_rule"],
    }
    READ_PERMISSIONS = ["fraud.view_case"]

    @property
    def action_permissions(self):
        if self.action == "notes":
            method = self.request.method if self.request else "GET"
            return {"notes": ["fraud.decide_case"] if method == "POST" else self.READ_PERMISSIONS}
        if self.action in ("queues", "rule_stats"):
            return {self.action: self.READ_PERMISSIONS}
        return self.WRITE_PERMISSIONS

    def get_serializer_class(self):
        return s.CaseDetailSerializer if self.action == "retrieve" else s.CaseSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("notes__author")
        return queryset

    def _case(self, case):
        fresh = self.get_queryset().prefetch_related("notes__author").get(pk=case.pk)
        return Response(s.CaseDetailSerializer(fresh, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses=s.CaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        """Take the case (refused when someone else holds it)."""
        return self._case(casework.claim_case(case_id=self.get_object().pk, actor=request.user))

    @extend_schema(request=None, responses=s.CaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Give the case back to its queue (its holder, or a user who may assign cases)."""
        return self._case(casework.release_case(case_id=self.get_object().pk, actor=request.user))

    @extend_schema(request=s.AssignSerializer, responses=s.CaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        params = s.AssignSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        case = services.assign_case(
            case_id=self.get_object().pk,
            actor=request.user,
            assignee=params.validated_data["assignee"],
        )
        return self._case(case)

    @extend_schema(
        request=s.QueueRequest,
        responses={200: s.CaseDetailSerializer, 204: None},
    )
    @action(detail=False, methods=["post"])
    def next(self, request):
        """Claim the oldest unclaimed case of the queue that the caller may decide; 204 when
        there is none. Reviewers calling at once never get the same case."""
        params = s.QueueRequest(data=request.data)
        params.is_valid(raise_exception=True)
        case = casework.next_case(queue=params.validated_data["queue"], actor=request.user)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._case(case)

    @extend_schema(methods=["GET"], request=None, responses=s.CaseNoteSerializer(many=True))
    @extend_schema(methods=["POST"], request=s.NoteRequest, responses=s.CaseNoteSerializer)
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        """The case's notes thread (oldest first); POST appends one."""
        case = self.get_object()
        if request.method == "GET":
            return Response(
                s.CaseNoteSerializer(case.notes.select_related("author"), many=True).data
            )
        params = s.NoteRequest(data=request.data)
        params.is_valid(raise_exception=True)
        note = casework.add_note(
            case_id=case.pk, actor=request.user, body=params.validated_data["body"]
        )
        return Response(s.CaseNoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReasonRequest, responses=s.CaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request, pk=None):
        """Send the case to level 2 (it leaves the level-1 queues)."""
        params = s.ReasonRequest(data=request.data)
        params.is_valid(raise_exception=True)
        case = casework.escalate_case(
            case_id=self.get_object().pk,
            actor=request.user,
            reason=params.validated_data["reason"],
        )
        return self._case(case)

    @extend_schema(request=s.CaseDecisionRequest, responses=s.CaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Approve or reject with a reason code that fits the decision, a reason, and the
        outcome label (required here)."""
        params = s.CaseDecisionRequest(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        decide = services.approve_case if data["decision"] == "approve" else services.reject_case
        case = decide(
            case_id=self.get_object().pk,
            actor=request.user,
            reason_code=data["reason_code"],
            note=data["reason"],
            outcome=data["outcome"],
        )
        return self._case(case)

    @extend_schema(request=s.OutcomeRequest, responses=s.CaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        """Relabel a decided case's outcome when more is learned later (the decision and the
        money stay as they were)."""
        params = s.OutcomeRequest(data=request.data)
        params.is_valid(raise_exception=True)
        case = casework.relabel_outcome(
            case_id=self.get_object().pk, actor=request.user, **params.validated_data
        )
        return self._case(case)

    @extend_schema(request=s.SnoozeRequest, responses={201: s.SnoozeSerializer})
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        """Exempt the case's player from one of the rules that fired on it, for `days` (at
        most 180) or until an instant."""
        case = self.get_object()
        params = s.SnoozeRequest(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        snooze = casework.snooze_rule(
            player=case.player,
            rule_key=data["rule"],
            reason=data["reason"],
            actor=request.user,
            days=data.get("days"),
            until=data.get("until"),
            case=case,
        )
        return Response(s.SnoozeSerializer(snooze).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.QueueFiguresSerializer(many=True))
    @action(detail=False, methods=["get"])
    def queues(self, request):
        """Per queue: undecided, unclaimed, the caller's own, the oldest unclaimed case's age
        and SLA state, cases past their SLA, and whether the caller may work the queue."""
        figures = selectors.queue_overview(request.user)
        return Response(s.QueueFiguresSerializer(figures, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="first day (UTC)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day, inclusive"),
            OpenApiParameter("rule", OpenApiTypes.STR, description="one rule key"),
            OpenApiParameter(
                "version",
                OpenApiTypes.INT,
                description="with rule: only this version number in `versions`",
            ),
        ],
        responses=s.RuleStatisticsSerializer(many=True),
    )
    @action(detail=False, methods=["get"], url_path="rule-stats")
    def rule_stats(self, request):
        """Per rule over the days from..to (default: the last 30): hits per day, the actions
        taken, cases opened and decided, the outcome mix, the false-positive rate (false
        positives among labelled cases) and the median seconds to a decision; the same per
        version of the rule in `versions` (the live version that decided each hit; `version`
        null: hits from before versions were recorded)."""
        params = s.RuleStatisticsRequest(data=request.query_params)
        params.is_valid(raise_exception=True)
        today = timezone.now().date()
        until = params.validated_data.get("to") or today
        since = params.validated_data.get("from") or until - timedelta(days=29)
        try:
            figures = statistics.rule_statistics(
                since=since,
                until=until,
                rule=params.validated_data.get("rule"),
                version=params.validated_data.get("version"),
            )
        except statistics.VersionNotFound as error:
            raise ValidationFailed(str(error), field="version") from None
        except ValueError as error:
            raise ValidationFailed(str(error), field="from") from None
        return Response(
            {
                "from": since.isoformat(),
                "to": until.isoformat(),
                "results": s.RuleStatisticsSerializer(figures, many=True).data,
            }
        )


class SnoozeViewSet(viewsets.ReadOnlyModelViewSet):
    """Rule snoozes: list (filter by player, rule, active) and lift one early."""

    serializer_class = s.SnoozeSerializer
    queryset = RuleSnooze.objects.select_related("created_by", "lifted_by")
    filterset_class = filters.SnoozeFilterSet
    ordering_fields = ["until", "created_at", "id"]
    ordering = ["-created_at", "-id"]
    action_permissions = {"lift": ["fraud.snooze_rule"]}

    @extend_schema(request=s.LiftRequest, responses=s.SnoozeSerializer)
    @action(detail=True, methods=["post"])
    def lift(self, request, pk=None):
        """End the snooze now: the rule applies to the player again."""
        params = s.LiftRequest(data=request.data)
        params.is_valid(raise_exception=True)
        snooze = casework.lift_snooze(
            snooze_id=self.get_object().pk,
            actor=request.user,
            reason=params.validated_data["reason"],
        )
        return Response(s.SnoozeSerializer(snooze).data)
