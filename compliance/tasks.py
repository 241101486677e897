"""Celery tasks of the compliance app: thin wrappers around compliance.services."""

from celery import shared_task

from compliance import services


@shared_task(name="compliance.evaluate", ignore_result=True)
def evaluate() -> dict:
    """Beat job (default every minute): credential checks, repeat folding, policy actions."""
    result = services.run_evaluation()
    return {
        "credential_violations": result.credential_violations,
        "repeats_folded": result.repeats_folded,
        "restricted": result.restricted,
        "suspended": result.suspended,
    }
