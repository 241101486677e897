"""Celery tasks of the simulator: thin wrappers around simulator.services.

Nothing schedules them by default (a simulator has no place in production); to keep a demo
alive, add a periodic task for `simulator.simulate_burst` in the admin (django-celery-beat),
e.g. every 2 minutes with kwargs {"duration": 100, "rate": 2}.
"""

from celery import shared_task

from simulator import services
from simulator.engine import parse_faults


@shared_task(name="simulator.simulate_burst", ignore_result=True)
def simulate_burst(
    duration: float = 60.0,
    rate: float = 2.0,
    base_url: str | None = None,
    faults: str = "",
    seed: int | None = None,
) -> dict:
    """Drive the wallet API for `duration` seconds at `rate` requests/s (development
    credentials from the database). Returns the run's counts."""
    summary = services.run_burst(
        duration=duration, rate=rate, base_url=base_url, faults=parse_faults(faults), seed=seed
    )
    return {
        "calls": summary.calls,
        "wallet_calls": summary.wallet_calls,
        "server_errors": summary.server_errors,
        "unexpected": len(summary.unexpected),
    }
