"""django-filter FilterSets of the fraud app, shared by the API and the admin."""

import math
from datetime import timedelta
from decimal import Decimal

import django_filters
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from fraud import selectors
from fraud.choices import (
    UNDECIDED_STATUSES,
    CaseKind,
    CaseLevel,
    CaseOutcome,
    CaseQueue,
    CaseStatus,
    RuleKind,
    SlaState,
)
from fraud.models import Case, RuleSnooze
from wallets.currencies import EXPONENTS

MAX_AGE_SECONDS = 10 * 366 * 24 * 3600


class CaseFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CaseStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=CaseKind.choices)
    rule = django_filters.ChoiceFilter(
        choices=RuleKind.choices, method="filter_rule", help_text="Cases where this rule fired."
    )
    min_amount_minor = django_filters.NumberFilter(field_name="amount_minor", lookup_expr="gte")
    max_amount_minor = django_filters.NumberFilter(field_name="amount_minor", lookup_expr="lte")
    # Major units ("100.00"), compared in each case's own currency.
    min_amount = django_filters.NumberFilter(
        method="filter_min_amount",
        min_value=0,
        max_value=10**12,
        help_text="Amount at least this (major units).",
    )
    max_amount = django_filters.NumberFilter(
        method="filter_max_amount",
        min_value=0,
        max_value=10**12,
        help_text="Amount at most this (major units).",
    )
    older_than = django_filters.NumberFilter(
        method="filter_older_than",
        min_value=0,
        max_value=MAX_AGE_SECONDS,
        help_text="Cases opened more than N seconds ago.",
    )
    assigned_to = django_filters.CharFilter(field_name="assigned_to__username")
    unassigned = django_filters.BooleanFilter(field_name="assigned_to", lookup_expr="isnull")
    mine = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        method="filter_mine",
        help_text="true: cases claimed by (assigned to) the caller; false: all others.",
    )
    level = django_filters.TypedChoiceFilter(choices=CaseLevel.choices, coerce=int)
    outcome = django_filters.MultipleChoiceFilter(choices=CaseOutcome.choices)
    queue = django_filters.ChoiceFilter(
        choices=CaseQueue.choices,
        method="filter_queue",
        help_text="Undecided cases of one queue (a kind at level 1, or the escalated ones).",
    )
    sla = django_filters.ChoiceFilter(
        choices=SlaState.choices,
        method="filter_sla",
        help_text="Undecided cases by SLA state (per kind: FRAUD_SLA_*_MINUTES).",
    )

    class Meta:
        model = Case
        fields = ["player", "currency", "request_kind"]

    def filter_min_amount(self, queryset, name, value):
        return queryset.filter(_per_exponent(Decimal(value), "gte", math.ceil))

    def filter_max_amount(self, queryset, name, value):
        return queryset.filter(_per_exponent(Decimal(value), "lte", math.floor))

    def filter_rule(self, queryset, name, value):
        return queryset.filter(rule_keys__contains=[value])

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if value is None or user is None or not user.is_authenticated:
            return queryset
        return (
            queryset.filter(assigned_to=user.pk) if value else queryset.exclude(assigned_to=user.pk)
        )

    def filter_queue(self, queryset, name, value):
        return queryset & selectors.queue_cases(value)

    def filter_sla(self, queryset, name, value):
        now = timezone.now()
        condition = Q(pk__in=[])
        for kind in CaseKind.values:
            limit = selectors.sla_seconds(kind)
            breach_at = now - timedelta(seconds=limit)
            warn_at = now - timedelta(seconds=limit * selectors.SLA_WARNING_SHARE)
            if value == SlaState.BREACHED:
                age = Q(created_at__lt=breach_at)
            elif value == SlaState.WARNING:
                age = Q(created_at__gte=breach_at, created_at__lte=warn_at)
            else:
                age = Q(created_at__gt=warn_at)
            condition |= Q(kind=kind) & age
        return queryset.filter(condition, status__in=UNDECIDED_STATUSES)

    def filter_older_than(self, queryset, name, value):
        return queryset.filter(created_at__lt=timezone.now() - timedelta(seconds=int(value)))


class SnoozeFilterSet(django_filters.FilterSet):
    rule = django_filters.ChoiceFilter(field_name="rule_key", choices=RuleKind.choices)
    active = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        method="filter_active",
        help_text="true: in force now (not lifted, not past `until`).",
    )

    class Meta:
        model = RuleSnooze
        fields = ["player", "case"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_active(self, queryset, name, value):
        if value is None:
            return queryset
        active = Q(lifted_at__isnull=True, until__gt=timezone.now())
        return queryset.filter(active) if value else queryset.exclude(active)


def _per_exponent(value: Decimal, lookup: str, rounding) -> Q:
    """`amount_minor <lookup> value` for every currency, the value scaled by its exponent."""
    condition = Q(pk__in=[])
    for exponent in sorted(set(EXPONENTS.values())):
        currencies = [code for code, e in EXPONENTS.items() if e == exponent]
        minor = int(rounding(value.scaleb(exponent)))
        condition |= Q(currency__in=currencies, **{f"amount_minor__{lookup}": minor})
    return condition
