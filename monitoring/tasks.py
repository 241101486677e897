"""Celery tasks of the monitoring app: thin wrappers around service functions."""

from celery import shared_task

from monitoring import routing, services


@shared_task(name="monitoring.flush_metrics", ignore_result=True)
def flush_metrics() -> int:
    """Beat job (default every minute): move closed minutes from Redis into PostgreSQL."""
    return services.flush_metrics().calls


@shared_task(name="monitoring.evaluate_alerts", ignore_result=True)
def evaluate_alerts() -> int:
    """Beat job (default every 30 s): run the alert rules, auto-protection, and send due
    notifications (retries included). Returns the number of alerts that fired."""
    return len(services.evaluate_alerts().fired)


@shared_task(name="monitoring.dispatch_notifications", ignore_result=True)
def dispatch_notifications() -> int:
    """Beat job (default every 30 s): route, group, inhibit and send alert notifications
    (monitoring.routing). Returns the number of notifications sent."""
    return routing.dispatch_notifications().sent
