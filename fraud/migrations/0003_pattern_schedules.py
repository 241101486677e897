from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

MULTI_ACCOUNT = "Fraud: many accounts from one IP"
BONUS_FARMING = "Fraud: repeated minimum deposits (bonus farming)"


def forwards(apps, schema_editor):
    ensure_interval_task(
        apps,
        name=MULTI_ACCOUNT,
        task="fraud.scan_multi_account_ips",
        every_seconds=300,
        description="Flags accounts registering or depositing from one IP address within the "
        "rule's window (fraud rule multi_account_ip).",
    )
    ensure_interval_task(
        apps,
        name=BONUS_FARMING,
        task="fraud.scan_bonus_farming",
        every_seconds=600,
        description="Flags players making repeated minimum deposits and holds their next "
        "withdrawal (fraud rule bonus_farming).",
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=MULTI_ACCOUNT)
    remove_task(apps, name=BONUS_FARMING)


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0002_default_rules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
