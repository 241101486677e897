"""Celery tasks of the protection app: thin wrappers around protection.services."""

from celery import shared_task

from protection import services


@shared_task(name="protection.apply_due_limit_changes", ignore_result=True)
def apply_due_limit_changes() -> int:
    """Beat job (default every minute): limit increases and removals whose cooling-off ended."""
    return services.apply_due_limit_changes()


@shared_task(name="protection.end_sessions_past_time_limit", ignore_result=True)
def end_sessions_past_time_limit() -> int:
    """Beat job (default every minute): end sessions past their player's session-time limit."""
    return services.end_sessions_past_time_limit()
