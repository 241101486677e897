"""django-filter FilterSets, shared by the back-office API and admin list pages."""

from datetime import timedelta

import django_filters
from django.utils import timezone

from wallets.choices import SessionStatus, TransactionKind, TransactionStatus
from wallets.models import AuditRecord, GameSession, Player, Provider, Transaction


class ProviderFilterSet(django_filters.FilterSet):
    class Meta:
        model = Provider
        fields = ["status"]


class PlayerFilterSet(django_filters.FilterSet):
    external_id = django_filters.CharFilter()
    registration_ip = django_filters.CharFilter()

    class Meta:
        model = Player
        fields = ["status", "currency", "country"]


class TransactionFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="provider__code")
    kind = django_filters.MultipleChoiceFilter(choices=TransactionKind.choices)
    status = django_filters.MultipleChoiceFilter(choices=TransactionStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    external_id = django_filters.CharFilter()
    round_id = django_filters.CharFilter(field_name="round_external_id")

    class Meta:
        model = Transaction
        fields = ["player", "wallet", "session", "currency"]


class SessionFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="provider__code")
    status = django_filters.MultipleChoiceFilter(choices=SessionStatus.choices)
    idle_since = django_filters.IsoDateTimeFilter(
        field_name="last_activity_at",
        lookup_expr="lte",
        help_text="Sessions with no call since this time.",
    )
    idle_minutes = django_filters.NumberFilter(
        method="filter_idle_minutes", help_text="Sessions idle for more than N minutes."
    )
    has_reservation = django_filters.BooleanFilter(method="filter_has_reservation")

    class Meta:
        model = GameSession
        fields = ["player", "currency", "game_id"]

    def filter_idle_minutes(self, queryset, name, value):
        return queryset.filter(last_activity_at__lt=timezone.now() - timedelta(minutes=value))

    def filter_has_reservation(self, queryset, name, value):
        if value:
            return queryset.filter(reserved_minor__gt=0)
        return queryset.filter(reserved_minor=0)


class AuditRecordFilterSet(django_filters.FilterSet):
    at_after = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    at_before = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")
    actor = django_filters.CharFilter(field_name="actor_label")

    class Meta:
        model = AuditRecord
        fields = ["action", "target_type", "target_id"]
