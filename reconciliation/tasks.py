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


@shared_task(name="reconciliation.verify_ledger", ignore_result=True)
def verify_ledger(full: bool = False) -> int:
    """Beat job (hourly incremental, daily full): every wallet's hash chain, the first broken
    row of each named in a discrepancy. Returns the number of broken chains."""
    return len(services.verify_ledger(full=full).broken)
