"""Reconciliation API: validate input, call one service, render."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from reconciliation import parsing, services
from reconciliation.api import filters
from reconciliation.api import serializers as s
from reconciliation.models import CorrectionRequest, Discrepancy, ReconciliationRun, ReportRow
from wallets.errors import ValidationFailed
from wallets.models import Provider
from wallets.money import parse_amount


class ReportUploadView(APIView):
    """POST /api/v1/reconciliation/reports: a provider's transaction report, reconciled now."""

    required_permissions = ["reconciliation.add_providerreport"]

    @extend_schema(request=s.ReportUploadSerializer, responses={201: s.RunSerializer})
    def post(self, request):
        params = s.ReportUploadSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        provider = Provider.objects.filter(code=data["provider"]).first()
        if provider is None:
            raise ValidationFailed("unknown provider", field="provider")
        common = {
            "provider": provider,
            "uploaded_by": request.user,
            "period_start": data.get("period_start"),
            "period_end": data.get("period_end"),
        }
        if "rows" in data:
            run = services.reconcile_provider_report(
                rows=parsing.iter_objects(data["rows"]), report_format="json", **common
            )
        else:
            uploaded = data["file"]
            report_format = parsing.report_format_for(uploaded.name or "", data.get("format"))
            stream = parsing.open_upload(uploaded)
            try:
                run = services.reconcile_provider_report(
                    rows=parsing.iter_rows(stream, report_format),
                    report_format=report_format,
                    filename=uploaded.name or "",
                    **common,
                )
            finally:
                stream.close()
        run = ReconciliationRun.objects.select_related("provider", "report").get(pk=run.pk)
        body = s.RunSerializer(run, context={"with_malformed": True}).data
        return Response(body, status=status.HTTP_201_CREATED)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.RunSerializer
    queryset = ReconciliationRun.objects.select_related("provider", "report")
    filterset_class = filters.RunFilterSet
    ordering_fields = ["id", "started_at", "duration_ms"]

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "with_malformed": self.action == "retrieve"}


class ReportRowViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """A report's rows with their outcome; filter by report and outcome."""

    serializer_class = s.ReportRowSerializer
    queryset = ReportRow.objects.all()
    filterset_class = filters.ReportRowFilterSet
    ordering_fields = ["id", "line_no"]


class DiscrepancyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.DiscrepancySerializer
    queryset = Discrepancy.objects.select_related("provider", "resolved_by").prefetch_related(
        Prefetch(
            "corrections",
            queryset=CorrectionRequest.objects.select_related(
                "wallet", "requested_by", "approved_by"
            ),
        )
    )
    filterset_class = filters.DiscrepancyFilterSet
    search_fields = ["provider_transaction_id", "player_external_id", "round_id"]
    ordering_fields = ["id", "occurred_at", "drift_minor", "opened_at"]
    action_permissions = {
        "propose": ["reconciliation.propose_correction"],
        "approve": ["reconciliation.approve_correction"],
        "close": ["reconciliation.close_discrepancy"],
    }

    def _render(self, discrepancy):
        return Response(self.get_serializer(self.get_queryset().get(pk=discrepancy.pk)).data)

    @extend_schema(request=s.ProposeSerializer, responses=s.DiscrepancySerializer)
    @action(detail=True, methods=["post"])
    def propose(self, request, pk=None):
        """Propose the correction (the suggested one, or `amount` and `direction`); a second
        staff user approves it."""
        params = s.ProposeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        discrepancy = self.get_object()
        delta_minor = None
        if "amount" in params.validated_data:
            if discrepancy.wallet_id is None:
                raise ValidationFailed("the discrepancy has no wallet", field="amount")
            minor = parse_amount(params.validated_data["amount"], discrepancy.wallet.currency).minor
            delta_minor = minor if params.validated_data["direction"] == "credit" else -minor
        services.propose_correction(
            discrepancy=discrepancy,
            actor=request.user,
            reason=params.validated_data["reason"],
            delta_minor=delta_minor,
        )
        return self._render(discrepancy)

    @extend_schema(request=s.OptionalReasonSerializer, responses=s.DiscrepancySerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve and post the proposed correction (not by the user who proposed it)."""
        params = s.OptionalReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        discrepancy = self.get_object()
        services.approve_correction(
            discrepancy=discrepancy, actor=request.user, reason=params.validated_data["reason"]
        )
        return self._render(discrepancy)

    @extend_schema(request=s.ReasonSerializer, responses=s.DiscrepancySerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close with an explanation; the ledger is not touched."""
        params = s.ReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        discrepancy = self.get_object()
        services.close_discrepancy(
            discrepancy=discrepancy, actor=request.user, reason=params.validated_data["reason"]
        )
        return self._render(discrepancy)
