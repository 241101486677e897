"""django-filter FilterSets of the fraud app, shared by the API and the admin."""

import math
from datetime import timedelta
from decimal import Decimal

import django_filters
from django.db.models import Q
from django.utils import timezone

from fraud.choices import CaseKind, CaseStatus, RuleKind
from fraud.models import Case
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

    class Meta:
        model = Case
        fields = ["player", "currency", "request_kind"]

    def filter_min_amount(self, queryset, name, value):
        return queryset.filter(_per_exponent(Decimal(value), "gte", math.ceil))

    def filter_max_amount(self, queryset, name, value):
        return queryset.filter(_per_exponent(Decimal(value), "lte", math.floor))

    def filter_rule(self, queryset, name, value):
        return queryset.filter(rule_keys__contains=[value])

    def filter_older_than(self, queryset, name, value):
        return queryset.filter(created_at__lt=timezone.now() - timedelta(seconds=int(value)))


def _per_exponent(value: Decimal, lookup: str, rounding) -> Q:
    """`amount_minor <lookup> value` for every currency, the value scaled by its exponent."""
    condition = Q(pk__in=[])
    for exponent in sorted(set(EXPONENTS.values())):
        currencies = [code for code, e in EXPONENTS.items() if e == exponent]
        minor = int(rounding(value.scaleb(exponent)))
        condition |= Q(currency__in=currencies, **{f"amount_minor__{lookup}": minor})
    return condition
