from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

FLUSH = "Monitoring: move wallet call metrics from Redis to PostgreSQL"
EVALUATE = "Monitoring: evaluate alert rules, auto-protection, notifications"


def forwards(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=FLUSH,
        task="monitoring.flush_metrics",
        every_seconds=60,
        description="Moves closed minutes of per-provider call counters and latency histograms "
        "from Redis into MetricMinute roll-ups (idempotent), prunes old roll-ups.",
    )
    ensure_interval_task(
        apps,
        name=EVALUATE,
        task="monitoring.evaluate_alerts",
        every_seconds=30,
        description="Runs the alert rules over roll-ups and live figures, fires and resolves "
        "alerts, applies auto-protection, sends and retries notifications.",
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=FLUSH)
    remove_task(apps, name=EVALUATE)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("wallets", "0004_cleanup_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
