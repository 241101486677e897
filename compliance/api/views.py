"""Compliance back-office API: violations (read) and security policies (read, update; audited)."""

import dataclasses

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from compliance import policies, services
from compliance.api import filters
from compliance.api import serializers as s
from compliance.models import POLICY_FIELDS, ProviderSecurityPolicy, SecurityViolation
from wallets.errors import ValidationFailed
from wallets.models import Provider


class SecurityViolationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.SecurityViolationSerializer
    queryset = SecurityViolation.objects.select_related("provider")
    filterset_class = filters.SecurityViolationFilterSet
    ordering_fields = ["occurred_at", "id", "severity"]


class SecurityPolicyViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """GET /compliance/policies/ (the global policy), POST .../global (update it);
    GET /compliance/policies/{provider code} (overrides and effective), POST it to update."""

    queryset = ProviderSecurityPolicy.objects.select_related("provider")
    lookup_field = "code"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    action_permissions = {
        "list": ["compliance.view_globalsecuritypolicy"],
        "update_global": ["compliance.change_globalsecuritypolicy"],
        "retrieve": ["compliance.view_providersecuritypolicy"],
        "update_provider": [
            "compliance.add_providersecuritypolicy",
            "compliance.change_providersecuritypolicy",
        ],
    }

    def _global(self):
        return s.GlobalPolicySerializer(policies.global_policy()).data

    @extend_schema(responses=s.GlobalPolicySerializer)
    def list(self, request):
        return Response(self._global())

    def _apply(self, request, policy):
        params = s.PolicyUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        values = dict(params.validated_data)
        reason = values.pop("reason", "")
        changed = [name for name in POLICY_FIELDS if name in values]
        if not changed:
            raise ValidationFailed("no policy field given")
        if not isinstance(policy, ProviderSecurityPolicy):
            for name in changed:
                if values[name] is None:
                    raise ValidationFailed(f"{name} may not be null", field=name)
        before = {name: getattr(policy, name) for name in changed}
        for name in changed:
            setattr(policy, name, values[name])
        services.save_policy(
            policy=policy, changed=changed, before=before, actor=request.user, reason=reason
        )

    @extend_schema(request=s.PolicyUpdateSerializer, responses=s.GlobalPolicySerializer)
    @action(detail=False, methods=["post"], url_path="global")
    def update_global(self, request):
        self._apply(request, policies.global_policy())
        return Response(self._global())

    def _provider_body(self, provider):
        override = ProviderSecurityPolicy.objects.filter(provider=provider).first()
        return {
            "provider": provider.code,
            "overrides": {
                name: getattr(override, name) for name in POLICY_FIELDS if override is not None
            },
            "effective": dataclasses.asdict(policies.for_provider(provider.pk)),
        }

    def _provider(self, code):
        provider = Provider.objects.filter(code=code).first()
        if provider is None:
            raise Http404
        return provider

    @extend_schema(responses=s.EffectivePolicySerializer)
    def retrieve(self, request, code=None):
        return Response(self._provider_body(self._provider(code)))

    @extend_schema(request=s.PolicyUpdateSerializer, responses=s.EffectivePolicySerializer)
    @action(detail=True, methods=["post"], url_path="update")
    def update_provider(self, request, code=None):
        provider = self._provider(code)
        policy = ProviderSecurityPolicy.objects.filter(provider=provider).first()
        self._apply(request, policy or ProviderSecurityPolicy(provider=provider))
        return Response(self._provider_body(provider))
