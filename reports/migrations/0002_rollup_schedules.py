from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

INCREMENTAL = "Reports: GGR roll-up (incremental)"
BACKSTOP = "Reports: GGR roll-up of the last 3 days (full, daily)"


def forwards(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=INCREMENTAL,
        task="reports.roll_up_ggr",
        every_seconds=60,
        description="Re-rolls every (provider, day) that ledger rows past the watermark or hold "
        "decisions touched, late wins and rollbacks of past days included.",
    )
    ensure_interval_task(
        apps,
        name=BACKSTOP,
        task="reports.reroll_recent_days",
        every_seconds=86400,
        description="Recomputes the last 3 UTC days of every provider from the ledger.",
        kwargs='{"days": 3}',
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=INCREMENTAL)
    remove_task(apps, name=BACKSTOP)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_ggr_rollup_fees_invoices"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
