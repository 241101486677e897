"""Every rule gets its live version 1 (its settings as they are), and the two list rules are
seeded (their block and review lists start empty, so they cost nothing until filled)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from fraud import services

    services.ensure_default_rules(
        rule_model=apps.get_model("fraud", "FraudRule"),
        version_model=apps.get_model("fraud", "RuleVersion"),
    )


class Migration(migrations.Migration):
    dependencies = [("fraud", "0005_rule_versions_shadow_backtests_lists")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
