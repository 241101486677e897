"""django-filter FilterSets of the monitoring app, shared by the API."""

import django_filters

from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert


class AlertFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=AlertState.choices)
    rule = django_filters.MultipleChoiceFilter(choices=AlertRule.choices)
    provider = django_filters.CharFilter(field_name="provider__code")
    open = django_filters.BooleanFilter(method="filter_open", label="open (not resolved)")

    class Meta:
        model = Alert
        fields = ["state", "rule", "provider"]

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        if value:
            return queryset.exclude(state=AlertState.RESOLVED)
        return queryset.filter(state=AlertState.RESOLVED)
