from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

NAME = "Session cleanup: end idle sessions, release reservations"


def forwards(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=NAME,
        task="wallets.cleanup_sessions",
        every_seconds=60,
        description="Ends sessions idle past their provider's timeout (abandoned or expired), "
        "releases their buy-in reservations and applies the open-round policy.",
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0003_session_cleanup"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
