from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

DUE_CHANGES = "Player protection: limit changes after their cooling-off"
SESSION_TIME = "Player protection: end sessions past their time limit"


def forwards(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=DUE_CHANGES,
        task="protection.apply_due_limit_changes",
        every_seconds=60,
        description="Applies limit increases and removals whose cooling-off period has ended.",
    )
    ensure_interval_task(
        apps,
        name=SESSION_TIME,
        task="protection.end_sessions_past_time_limit",
        every_seconds=60,
        description="Ends game sessions played longer than their player's session-time limit "
        "(their bets are refused already) and releases their buy-ins.",
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=DUE_CHANGES)
    remove_task(apps, name=SESSION_TIME)


class Migration(migrations.Migration):
    dependencies = [
        ("protection", "0001_limits_and_exclusions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
