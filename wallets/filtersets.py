"""django-filter FilterSets, shared by the back-office API and admin list pages."""

from datetime import timedelta

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from wallets.choices import SessionStatus, TransactionKind, TransactionStatus
from wallets.models import AuditRecord, GameSession, Player, Provider, Transaction

MAX_IDLE_MINUTES = 10 * 366 * 24 * 60


def transaction_external_id_q(value: str) -> Q:
    """Ledger rows whose external_id is `value`, written so that the two ledger indexes answer
    it (provider_id = ANY(all providers) / kind = ANY(all kinds), then external_id): the column
    has no index of its own, and a plain `external_id = value` reads the whole ledger."""
    provider_ids = list(Provider.objects.values_list("pk", flat=True))
    return Q(provider_id__in=provider_ids, external_id=value) | Q(
        provider__isnull=True, kind__in=TransactionKind.values, external_id=value
    )


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
    # distinct=False: a column of the row itself cannot yield duplicates, and SELECT DISTINCT
    # would de-duplicate every matching row (millions) before the page's LIMIT.
    kind = django_filters.MultipleChoiceFilter(choices=TransactionKind.choices, distinct=False)
    status = django_filters.MultipleChoiceFilter(choices=TransactionStatus.choices, distinct=False)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    external_id = django_filters.CharFilter(method="filter_external_id")
    round_id = django_filters.CharFilter(field_name="round_external_id")
    # Every payment made with one card, account or e-wallet (exact; the partial index
    # txn_by_payment_fingerprint holds the payments that carry one).
    payment_fingerprint = django_filters.CharFilter(
        field_name="payment_fingerprint", max_length=128
    )

    class Meta:
        model = Transaction
        fields = ["player", "wallet", "session", "currency"]

    def filter_external_id(self, queryset, name, value):
        return queryset.filter(transaction_external_id_q(value))

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        window = self.form.cleaned_data
        if window.get("created_after") or window.get("created_before"):
            # Still newest first, but read along txn_by_time from the window's end: by id, the
            # planner walks the primary key back from the newest row and reads every row newer
            # than the window first (a million rows for a day three months ago). An explicit
            # ?ordering= is applied after this and wins.
            queryset = queryset.order_by("-created_at", "-id")
        return queryset


class SessionFilterSet(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="provider__code")
    status = django_filters.MultipleChoiceFilter(choices=SessionStatus.choices, distinct=False)
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
