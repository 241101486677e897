"""The fraud rules on the back-office API (/api/v1/fraud/...): rules and their versions
(drafts, publish, shadow, restore), backtests, the shadow comparison and the lists. Each view
validates, calls one service, renders."""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from fraud import selectors, services
from fraud.api import rules_serializers as s
from fraud.models import Backtest, FraudList, FraudRule, ListEntry, RuleVersion


class RuleViewSet(viewsets.ReadOnlyModelViewSet):
    """The rules, each with its live and shadow version ids."""

    serializer_class = s.RuleSerializer
    queryset = FraudRule.objects.prefetch_related("versions")
    lookup_field = "key"
    ordering = ["key"]
    filterset_fields = ["enabled", "action"]


class RuleVersionViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Versions of the rules: create and edit drafts; publish, shadow, restore. Live, shadow and
    past versions never change (409 NOT_ALLOWED)."""

    serializer_class = s.RuleVersionSerializer
    queryset = RuleVersion.objects.select_related("rule", "created_by", "published_by")
    filterset_fields = {"state": ["exact"], "rule__key": ["exact"]}
    ordering_fields = ["created_at", "number", "id"]
    ordering = ["rule__key", "-number"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {
        "publish": ["fraud.publish_ruleversion"],
        "shadow": ["fraud.publish_ruleversion"],
        "stop_shadow": ["fraud.publish_ruleversion"],
        "restore": ["fraud.add_ruleversion"],
    }

    def _out(self, version, code=status.HTTP_200_OK):
        return Response(
            self.get_serializer(self.get_queryset().get(pk=version.pk)).data, status=code
        )

    @extend_schema(request=s.DraftCreateSerializer, responses=s.RuleVersionSerializer)
    def create(self, request, *args, **kwargs):
        params = s.DraftCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        version = services.create_draft(
            rule=data.pop("rule"), actor=request.user, note=data.pop("note", ""), **data
        )
        return self._out(version, status.HTTP_201_CREATED)

    @extend_schema(request=s.DraftUpdateSerializer, responses=s.RuleVersionSerializer)
    def partial_update(self, request, *args, **kwargs):
        params = s.DraftUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = services.update_draft(
            version_id=self.get_object().pk, actor=request.user, **params.validated_data
        )
        return self._out(version)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=s.VersionReasonSerializer, responses=s.RuleVersionSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Make this draft (or shadow version) live; the live one is superseded. Audited."""
        params = s.VersionReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = services.publish_version(
            version_id=self.get_object().pk, actor=request.user, **params.validated_data
        )
        return self._out(version)

    @extend_schema(request=s.VersionReasonSerializer, responses=s.RuleVersionSerializer)
    @action(detail=True, methods=["post"])
    def shadow(self, request, pk=None):
        """Run this draft in shadow next to the live version."""
        params = s.VersionReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = services.start_shadow(
            version_id=self.get_object().pk, actor=request.user, **params.validated_data
        )
        return self._out(version)

    @extend_schema(request=s.VersionReasonSerializer, responses=s.RuleVersionSerializer)
    @action(detail=True, methods=["post"], url_path="stop-shadow")
    def stop_shadow(self, request, pk=None):
        params = s.VersionReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = services.stop_shadow(
            version_id=self.get_object().pk, actor=request.user, **params.validated_data
        )
        return self._out(version)

    @extend_schema(request=s.VersionReasonSerializer, responses=s.RuleVersionSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        """A new draft with this version's settings."""
        params = s.VersionReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = services.restore_version(
            version_id=self.get_object().pk,
            actor=request.user,
            note=params.validated_data["reason"],
        )
        return self._out(version, status.HTTP_201_CREATED)


class BacktestViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Backtests: POST {version, days} queues one (a Celery job); GET shows progress and, when
    done, the report."""

    serializer_class = s.BacktestSerializer
    queryset = Backtest.objects.select_related("version__rule", "requested_by")
    filterset_fields = ["status", "version"]
    ordering = ["-created_at", "-id"]

    @extend_schema(request=s.BacktestCreateSerializer, responses=s.BacktestSerializer)
    def create(self, request, *args, **kwargs):
        params = s.BacktestCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        backtest = services.request_backtest(
            version_id=params.validated_data["version"].pk,
            days=params.validated_data["days"],
            actor=request.user,
        )
        return Response(
            self.get_serializer(self.get_queryset().get(pk=backtest.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class ShadowComparisonView(APIView):
    """GET ?version=ID&hours=24: the live and shadow decisions of a shadow version compared."""

    required_permissions = ["fraud.view_shadowdecision"]

    @extend_schema(parameters=[s.ShadowComparisonQuery], responses=s.ShadowComparisonSerializer)
    def get(self, request):
        params = s.ShadowComparisonQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        until = timezone.now()
        since = until - timedelta(hours=params.validated_data["hours"])
        comparison = selectors.shadow_comparison(
            version_id=params.validated_data["version"].pk, since=since, until=until
        )
        return Response(s.ShadowComparisonSerializer(comparison).data)


class FraudListViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    serializer_class = s.FraudListSerializer
    queryset = FraudList.objects.annotate(entry_total=Count("entries")).select_related("created_by")
    filterset_fields = ["kind", "purpose", "enabled"]
    ordering = ["name"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)


class ListEntryViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Entries: POST {list, value, reason, expires_at?} (value checked against the list's kind:
    a malformed range or an unknown country is a 400 naming `value`); DELETE with an optional
    {reason} removes one (audited)."""

    serializer_class = s.ListEntrySerializer
    queryset = ListEntry.objects.select_related("list", "added_by")
    filterset_fields = ["list"]
    search_fields = ["value", "reason"]
    ordering = ["list", "value"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def create(self, request, *args, **kwargs):
        params = self.get_serializer(data=request.data)
        params.is_valid(raise_exception=True)
        entry = services.add_list_entry(
            fraud_list=params.validated_data["list"],
            value=params.validated_data["value"],
            reason=params.validated_data["reason"],
            expires_at=params.validated_data.get("expires_at"),
            actor=request.user,
        )
        return Response(self.get_serializer(entry).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        params = s.ListEntryRemoveSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        services.remove_list_entry(
            entry=self.get_object(), actor=request.user, reason=params.validated_data["reason"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
