"""Monitoring profile templates. `conservative` is DESIGN.md's defaults table, what every new
provider starts on: the thresholds operators start from, with long pending and resolve periods
while the provider's normal behaviour is still unknown. As its record grows, staff tighten it to
`standard`, then `proven` (lower thresholds and shorter pending periods: deviations from a
well-known baseline mean more)."""

from decimal import Decimal

from monitoring.choices import ProfileTemplate

TEMPLATE_FIELDS = (
    "latency_p95_ms",
    "error_rate_percent",
    "lock_wait_p95_ms",
    "drift_minor",
    "open_sessions_per_player",
    "orphaned_sessions_per_hour",
    "window_minutes",
    "min_calls",
    "pending_seconds",
    "resolve_after_seconds",
)

TEMPLATES: dict[str, dict] = {
    ProfileTemplate.CONSERVATIVE: {
        "latency_p95_ms": 500,
        "error_rate_percent": Decimal("1.00"),
        "lock_wait_p95_ms": 50,
        "drift_minor": 1,
        "open_sessions_per_player": 5,
        "orphaned_sessions_per_hour": 10,
        "window_minutes": 5,
        "min_calls": 20,
        "pending_seconds": 300,
        "resolve_after_seconds": 600,
    },
    ProfileTemplate.STANDARD: {
        "latency_p95_ms": 400,
        "error_rate_percent": Decimal("0.75"),
        "lock_wait_p95_ms": 50,
        "drift_minor": 1,
        "open_sessions_per_player": 5,
        "orphaned_sessions_per_hour": 10,
        "window_minutes": 5,
        "min_calls": 50,
        "pending_seconds": 180,
        "resolve_after_seconds": 300,
    },
    ProfileTemplate.PROVEN: {
        "latency_p95_ms": 300,
        "error_rate_percent": Decimal("0.50"),
        "lock_wait_p95_ms": 30,
        "drift_minor": 0,
        "open_sessions_per_player": 4,
        "orphaned_sessions_per_hour": 5,
        "window_minutes": 5,
        "min_calls": 100,
        "pending_seconds": 120,
        "resolve_after_seconds": 300,
    },
}
