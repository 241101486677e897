"""Reads of the compliance app."""

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from compliance import policies
from compliance.models import SecurityViolation
from wallets.choices import SessionStatus
from wallets.models import AuditRecord, GameSession, Provider, ProviderCredential

MAX_WINDOW_MINUTES = 7 * 24 * 60


def violation_counts(now=None, since: dict | None = None) -> dict[int, int]:
    """{provider id: violations (occurrences included) in its policy window} for every provider
    with at least one; `since` ({provider id: datetime}) starts a provider's window later.
    One query over the widest window in use, bounded by the index."""
    now = now or timezone.now()
    default = policies.for_provider(0)
    widest = max(
        [default.window_minutes] + [p.window_minutes for p in policies._cache.by_provider.values()]
    )
    widest = min(widest, MAX_WINDOW_MINUTES)
    rows = (
        SecurityViolation.objects.filter(occurred_at__gte=now - timedelta(minutes=widest))
        .values_list("provider_id", "occurred_at", "occurrences")
        .order_by()
    )
    counts: dict[int, int] = {}
    for provider_id, occurred_at, occurrences in rows.iterator():
        window = policies.for_provider(provider_id).window_minutes
        start = now - timedelta(minutes=window)
        if since and since.get(provider_id) and since[provider_id] > start:
            start = since[provider_id]
        if occurred_at >= start:
            counts[provider_id] = counts.get(provider_id, 0) + occurrences
    return counts


def violations_in_window(queryset=None, *, now=None):
    """Violation records inside their provider's policy window (at most MAX_WINDOW_MINUTES):
    the rows `violation_counts` adds up. The admin home panel's card and the violation list
    it links to (`?in_window=yes`) both come from here."""
    now = now or timezone.now()
    queryset = SecurityViolation.objects.all() if queryset is None else queryset
    default = min(policies.for_provider(0).window_minutes, MAX_WINDOW_MINUTES)
    overrides = {
        pk: min(policies.for_provider(pk).window_minutes, MAX_WINDOW_MINUTES)
        for pk in list(policies._cache.by_provider)
    }
    inside = Q(occurred_at__gte=now - timedelta(minutes=default)) & ~Q(
        provider_id__in=list(overrides)
    )
    for pk, minutes in overrides.items():
        inside |= Q(provider_id=pk, occurred_at__gte=now - timedelta(minutes=minutes))
    return queryset.filter(inside)


def alerting_violation_counts() -> dict[int, int]:
    """Metric source "security_violations": a provider's violations in its window once they
    reach its policy's alert threshold (0 below it), so monitoring's default rule (alert when
    above 0) raises exactly the policy's alerts."""
    figures = {}
    for provider_id, count in violation_counts().items():
        threshold = policies.for_provider(provider_id).alert_threshold
        figures[provider_id] = float(count) if threshold and count >= threshold else 0.0
    return figures


def total_violation_counts() -> dict[int, int]:
    """Metric source "security_violations_total": violations in the window, no threshold."""
    return {k: float(v) for k, v in violation_counts().items()}


def provider_page(provider: Provider, *, limit: int = 100) -> dict:
    """What the compliance officer's provider page shows."""
    now = timezone.now()
    policy = policies.for_provider(provider.pk)
    violations = SecurityViolation.objects.filter(provider=provider)
    return {
        "provider": provider,
        "policy": policy,
        "status_history": list(
            AuditRecord.objects.filter(
                target_type=Provider._meta.label_lower,
                target_id=str(provider.pk),
            ).filter(
                Q(action="provider.status")
                | Q(action__startswith="provider.credential")
                | Q(action="provider.rotate_secret")
            )[:limit]
        ),
        "violations": list(violations[:limit]),
        "violation_summary": list(
            violations.filter(occurred_at__gte=now - timedelta(minutes=policy.window_minutes))
            .values("kind", "severity")
            .annotate(rows=Count("id"), occurrences=Sum("occurrences"))
            .order_by("kind")
        ),
        "window_count": violation_counts(now=now).get(provider.pk, 0),
        "credentials": list(ProviderCredential.objects.filter(provider=provider)),
        "open_sessions": list(
            GameSession.objects.filter(provider=provider, status=SessionStatus.OPEN)
            .select_related("player")
            .order_by("-id")[:limit]
        ),
        "open_session_count": GameSession.objects.filter(
            provider=provider, status=SessionStatus.OPEN
        ).count(),
        "now": now,
    }
