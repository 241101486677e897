"""Daily beat jobs of the partitioned ledger: create the monthly partitions ahead, and prune
the idempotency keys past the providers' retry horizon (wallets.partitions)."""

from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

PARTITIONS = "Ledger: create the monthly partitions ahead"
KEYS = "Ledger: prune idempotency keys past the retry horizon"
DAY = 24 * 3600


def forwards(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=PARTITIONS,
        task="wallets.ensure_ledger_partitions",
        every_seconds=DAY,
        description="Creates the ledger's monthly partitions so that the next "
        "PITBOSS_LEDGER_PARTITIONS_AHEAD months exist; logs an error when fewer than two do.",
    )
    ensure_interval_task(
        apps,
        name=KEYS,
        task="wallets.prune_idempotency_keys",
        every_seconds=DAY,
        description="Deletes idempotency keys (and remembered bet refusals) older than "
        "PITBOSS_RETRY_HORIZON_DAYS, in batches.",
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=PARTITIONS)
    remove_task(apps, name=KEYS)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0022_partitioned_ledger"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
