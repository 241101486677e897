"""django-filter FilterSets, shared by the back-office API and admin list pages."""

from datetime import timedelta

import django_filters
from django import forms
from django.utils import timezone

from wallets.choices import SessionStatus, TransactionKind, TransactionStatus
from wallets.models import AuditRecord, GameSession, Player, Provider, Transaction

MAX_IDLE_MINUTES = 10 * 366 * 24 * 60


class ProviderFilterSet(django_filters.FilterSet):
    class Meta:
        model = Provider
        fields = ["status"]


class IPAddressFilter(django_filters.CharFilter):
    """An address, validated first: PostgreSQL's inet refuses other text with an error."""

    field_class = forms.GenericIPAddressField


class PlayerFilterSet(django_filters.FilterSet):
    external_id = django_filters.CharFilter()
    registration_ip = IPAddressFilter()

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
    # Bounded (0 to ten years) so that `now - minutes` can neither overflow nor run backwards.
    idle_minutes = django_filters.NumberFilter(
        method="filter_idle_minutes",
        min_value=0,
        max_value=MAX_IDLE_MINUTES,
        help_text="Sessions idle for more than N minutes.",
    )
    # Strict: a value other than true/false is a 400, not silently "no filter".
    has_reservation = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_has_reservation",
        help_text="true: sessions holding a buy-in reservation; false: the others.",
    )

    class Meta:
        model = GameSession
        fields = ["player", "currency", "game_id"]

    def filter_idle_minutes(self, queryset, name, value):
        # `value` is a Decimal, which timedelta does not take: whole seconds are enough here.
        idle_for = timedelta(seconds=int(value * 60))
        return queryset.filter(last_activity_at__lt=timezone.now() - idle_for)

    def filter_has_reservation(self, queryset, name, value):
        if value == "true":
            return queryset.filter(reserved_minor__gt=0)
        return queryset.filter(reserved_minor=0)


class AuditRecordFilterSet(django_filters.FilterSet):
    at_after = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    at_before = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")
    actor = django_filters.CharFilter(field_name="actor_label")

    class Meta:
        model = AuditRecord
        fields = ["action", "target_type", "target_id"]
