"""Celery tasks of the reconciliation app: thin wrappers around service functions."""

from celery import shared_task

from reconciliation import services


@shared_task(name="reconciliation.reconcile_wallets_incremental", ignore_result=True)
def reconcile_wallets_incremental() -> int:
    """Beat job (default every 2 minutes): wallets written since the last watermark against
    their ledger, and pending provider mismatches re-checked. Returns the run id."""
    return services.reconcile_wallets(full=False, triggered_by="beat").pk


@shared_task(name="reconciliation.reconcile_wallets_full", ignore_result=True)
def reconcile_wallets_full() -> int:
    """Beat job (default daily): every wallet against its ledger. Returns the run id."""
    return services.reconcile_wallets(full=True, triggered_by="beat").pk
