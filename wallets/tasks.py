"""Celery tasks of the wallets app: thin wrappers around service functions."""

from celery import shared_task

from wallets import services


@shared_task(name="wallets.cleanup_sessions", ignore_result=True)
def cleanup_sessions() -> int:
    """Beat job (default every minute): end idle sessions, release reservations, apply the
    open-round policy. Returns the number of sessions ended."""
    return services.run_session_cleanup(triggered_by="beat").sessions_ended


@shared_task(name="wallets.ensure_ledger_partitions", ignore_result=True)
def ensure_ledger_partitions() -> int:
    """Beat job (default daily): create the ledger's monthly partitions ahead
    (settings.PITBOSS_LEDGER_PARTITIONS_AHEAD). Returns the number created."""
    from wallets import partitions

    return len(partitions.ensure_ledger_partitions().created)


@shared_task(name="wallets.prune_idempotency_keys", ignore_result=True)
def prune_idempotency_keys() -> int:
    """Beat job (default daily): delete idempotency keys past the providers' retry horizon, in
    batches. Returns the number deleted."""
    from wallets import partitions

    return partitions.prune_idempotency_keys()
