"""Celery tasks of the wallets app: thin wrappers around service functions."""

from celery import shared_task

from wallets import services


@shared_task(name="wallets.cleanup_sessions", ignore_result=True)
def cleanup_sessions() -> int:
    """Beat job (default every minute): end idle sessions, release reservations, apply the
    open-round policy. Returns the number of sessions ended."""
    return services.run_session_cleanup(triggered_by="beat").sessions_ended
