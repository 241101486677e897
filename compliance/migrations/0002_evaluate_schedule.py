from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

NAME = "Security compliance: credential checks and policy actions"


def forwards(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=NAME,
        task="compliance.evaluate",
        every_seconds=60,
        description="Records credentials older than the policy's lifetime or without expiry, "
        "folds repeated violations, and restricts or suspends providers whose violations "
        "reached the policy's thresholds (manage.py compliance_evaluate runs it once).",
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
