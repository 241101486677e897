"""Celery tasks of the reports app: thin wrappers around service functions."""

from celery import shared_task

from reports import services


@shared_task(name="reports.roll_up_ggr", ignore_result=True)
def roll_up_ggr() -> int:
    """Beat job (default every minute): the incremental GGR roll-up. Returns the provider-days
    re-rolled."""
    return services.roll_up().groups


@shared_task(name="reports.reroll_recent_days", ignore_result=True)
def reroll_recent_days(days: int = 3) -> int:
    """Beat job (default daily): the last `days` UTC days recomputed in full (the backstop)."""
    return services.reroll_recent_days(days=days).groups
