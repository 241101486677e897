"""Default alert routing: every alert is grouped per provider and kept in the delivery log;
critical alerts are e-mailed to staff; a suspended or failing provider's latency, error-rate,
lock-wait and drift alerts are inhibited (its suspension or its provider_failing alert says it
all). The dispatcher's beat schedule. Staff edit all of it in the admin."""

from django.db import migrations

from wallets.schedules import ensure_interval_task, remove_task

DISPATCH = "Monitoring: route and send alert notifications"
INHIBITED_RULES = ["latency_p95", "error_rate", "lock_contention_p95", "drift"]


def forwards(apps, schema_editor):
    Receiver = apps.get_model("monitoring", "Receiver")
    Route = apps.get_model("monitoring", "Route")
    InhibitRule = apps.get_model("monitoring", "InhibitRule")
    log_only, _ = Receiver.objects.get_or_create(name="delivery-log", defaults={"kind": "log"})
    staff, _ = Receiver.objects.get_or_create(
        name="staff-email", defaults={"kind": "email", "email_staff": True}
    )
    root = Route.objects.filter(parent__isnull=True).first()
    if root is None:
        root = Route.objects.create(
            name="default",
            receiver=log_only,
            group_by=["provider"],
            group_wait_seconds=30,
            group_interval_seconds=300,
            repeat_interval_seconds=4 * 3600,
        )
    Route.objects.get_or_create(
        name="critical to staff",
        defaults={"parent": root, "position": 0, "severity": "critical", "receiver": staff},
    )
    InhibitRule.objects.get_or_create(
        name="suspended provider",
        defaults={"source_provider_states": ["suspended"], "target_rules": INHIBITED_RULES},
    )
    InhibitRule.objects.get_or_create(
        name="failing provider",
        defaults={"source_rule": "provider_failing", "target_rules": INHIBITED_RULES},
    )
    ensure_interval_task(
        apps,
        name=DISPATCH,
        task="monitoring.dispatch_notifications",
        every_seconds=30,
        description="Routes firing alerts through the routing tree, groups them per route, "
        "applies inhibition, silences and mute windows, sends and retries notifications.",
    )


def backwards(apps, schema_editor):
    remove_task(apps, name=DISPATCH)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0004_alert_routing"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
