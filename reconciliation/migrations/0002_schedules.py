from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

INCREMENTAL = "Reconciliation: changed wallets against the ledger (incremental)"
FULL = "Reconciliation: every wallet against the ledger (full, daily)"


def forwards(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=INCREMENTAL,
        task="reconciliation.reconcile_wallets_incremental",
        every_seconds=120,
        description="Compares the cached balance and reserved of wallets written since the last "
        "run's watermark with their ledger, and re-checks pending provider mismatches.",
    )
    ensure_interval_task(
        apps,
        name=FULL,
        task="reconciliation.reconcile_wallets_full",
        every_seconds=86400,
        description="Compares every wallet's cached balance and reserved with its ledger.",
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=INCREMENTAL)
    remove_task(apps, name=FULL)


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0001_initial"),
        ("wallets", "0004_cleanup_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
