"""Celery tasks of the fraud app: thin wrappers around fraud.services."""

from celery import shared_task

from fraud import services


@shared_task(name="fraud.scan_multi_account_ips", ignore_result=True)
def scan_multi_account_ips() -> int:
    """Beat job (default every 5 minutes): flag accounts sharing an IP address."""
    return services.scan_multi_account_ips()


@shared_task(name="fraud.scan_bonus_farming", ignore_result=True)
def scan_bonus_farming() -> int:
    """Beat job (default every 10 minutes): flag repeated minimum deposits."""
    return services.scan_bonus_farming()


@shared_task(name="fraud.run_backtest", ignore_result=True)
def run_backtest(backtest_id: int) -> None:
    """Run one queued backtest (fraud.backtest.run_backtest)."""
    from fraud import backtest

    backtest.run_backtest(backtest_id=backtest_id)
