"""The monitoring dashboard in the admin (staff only): a front page with every provider's
health, and a per-provider page with charts over a chosen window."""

from datetime import timedelta

from django.contrib import admin
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from monitoring import charts, selectors, services
from monitoring.choices import AlertState
from monitoring.models import Alert
from monitoring.selectors import OVERVIEW_STATES
from wallets.models import Provider

WINDOWS = (1, 6, 24, 168)  # hours
# Charts whose points are figures of calls in a bin (their last bin may still be filling).
_BINNED_CHARTS = {"Latency (wallet side)", "Calls per minute", "Error rate"}


def overview_rows(*, now=None) -> list[selectors.ProviderHealth]:
    """Every provider's health and current figures, with a sparkline of its calls per minute
    over the last hour."""
    now = now or timezone.now()
    rows = selectors.provider_overview(now=now)
    trends = selectors.calls_per_minute(now=now, minutes=60)
    for row in rows:
        row.sparkline = charts.sparkline(
            trends.get(row.provider.pk, []),
            title=f"{row.provider.code}: calls per minute over the last hour",
        )
    return rows


def state_counts(rows) -> dict[str, int]:
    return {state: sum(1 for row in rows if row.state == state) for state in OVERVIEW_STATES}


def front_page(request):
    overview = overview_rows()
    context = {
        **admin.site.each_context(request),
        "title": "Monitoring dashboard",
        "rows": overview,
        "counts": state_counts(overview),
        "open_alerts": selectors.open_alerts()
        .select_related("provider")
        .order_by("-started_at")[:50],
    }
    return TemplateResponse(request, "admin/monitoring/dashboard.html", context)


def provider_page(request, code: str):
    provider = get_object_or_404(Provider, code=code)
    try:
        hours = int(request.GET.get("hours", 6))
    except ValueError:
        hours = 6
    if hours not in WINDOWS:
        hours = 6
    now = timezone.now()
    profile = services.profile_for(provider)
    series = selectors.provider_series(provider=provider, hours=hours, now=now)
    start = now - timedelta(hours=hours)
    gauges = series.gauges
    chart_specs = [
        (
            "Latency (wallet side)",
            [
                ("p50", series.latency_p50_ms),
                ("p95", series.latency_p95_ms),
                ("p99", series.latency_p99_ms),
            ],
            " ms",
            profile.latency_p95_ms,
        ),
        (
            "Calls per minute",
            [("calls / min", series.calls_per_minute if series.has_calls else [])],
            "",
            None,
        ),
        (
            "Error rate",
            [("errors %", series.error_rate_percent)],
            " %",
            float(profile.error_rate_percent),
        ),
        (
            "Open sessions",
            [
                ("open", gauges.get("open_sessions", [])),
                ("max per player", gauges.get("max_open_sessions_per_player", [])),
                ("orphaned", gauges.get("orphaned_sessions", [])),
            ],
            "",
            None,
        ),
        (
            "Balance drift (largest, minor units)",
            [("drift", gauges.get("drift_largest_minor", []))],
            "",
            float(profile.drift_minor),
        ),
    ]
    partial = ""
    if series.last_bin_partial:
        partial = (
            f"partial: {series.last_bin_seconds // 60} of {series.bin_seconds // 60} min"
            if series.bin_seconds > 60
            else f"partial: {series.last_bin_seconds} s"
        )
    chart_list = []
    for title, lines, unit, threshold in chart_specs:
        lines = [(label, points) for label, points in lines if points]
        svg = (
            charts.line_chart(
                times=series.times,
                series=lines,
                unit=unit,
                threshold=threshold,
                # Gauges are readings, not sums: a partial bin's reading is already whole.
                partial_last=partial if title in _BINNED_CHARTS else "",
            )
            if lines
            else None
        )
        chart_list.append({"title": title, "svg": svg})
    # The summary over the window is the charts' own bins added up: it cannot disagree.
    window_stats = series.total
    health = selectors.provider_health(now=now)[provider.pk]
    alerts = (
        Alert.objects.filter(provider=provider)
        .filter(Q(started_at__gte=start) | ~Q(state=AlertState.RESOLVED))
        .order_by("-started_at")[:100]
    )
    context = {
        **admin.site.each_context(request),
        "title": f"Monitoring: {provider.code}",
        "provider": provider,
        "profile": profile,
        "hours": hours,
        "windows": WINDOWS,
        "charts": chart_list,
        "stats": window_stats,
        "p50": window_stats.latency_ms(0.5),
        "p95": window_stats.latency_ms(0.95),
        "p99": window_stats.latency_ms(0.99),
        "alerts": alerts,
        "bin_minutes": series.bin_seconds // 60,
        "partial": partial,
        "health": health,
        "current": health.figures,
    }
    return TemplateResponse(request, "admin/monitoring/provider.html", context)


urlpatterns = [
    path("dashboard/", admin.site.admin_view(front_page), name="monitoring-dashboard"),
    path(
        "dashboard/<slug:code>/",
        admin.site.admin_view(provider_page),
        name="monitoring-provider-dashboard",
    ),
]
