"""django-filter FilterSets of the reconciliation app, shared by the API and the admin."""

import django_filters

from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus, Outcome, RunKind
from reconciliation.models import Discrepancy, ReconciliationRun, ReportRow


class RunFilterSet(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=RunKind.choices)
    provider = django_filters.CharFilter(field_name="provider__code")
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = ReconciliationRun
        fields = ["status"]


class DiscrepancyFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DiscrepancyStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=DiscrepancyKind.choices)
    provider = django_filters.CharFilter(field_name="provider__code")
    player = django_filters.CharFilter(field_name="player_external_id")
    transaction_id = django_filters.CharFilter(field_name="provider_transaction_id")
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    min_drift_minor = django_filters.NumberFilter(field_name="drift_minor", lookup_expr="gte")

    class Meta:
        model = Discrepancy
        fields = ["wallet", "currency", "report"]


class ReportRowFilterSet(django_filters.FilterSet):
    outcome = django_filters.MultipleChoiceFilter(choices=Outcome.choices)

    class Meta:
        model = ReportRow
        fields = ["report", "pending", "transaction_id"]
