import django_filters

from compliance.models import SecurityViolation


class SecurityViolationFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="provider__code")
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = SecurityViolation
        fields = ["kind", "severity", "request_id"]
