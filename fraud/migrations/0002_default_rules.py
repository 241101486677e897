"""Seed the fraud rules with their default parameters (fraud.rules.DEFAULT_RULES). Existing
rules are never changed: an operator's edits stay."""

from django.db import migrations


def seed_rules(apps, schema_editor):
    from fraud.services import ensure_default_rules

    ensure_default_rules(rule_model=apps.get_model("fraud", "FraudRule"))


class Migration(migrations.Migration):
    dependencies = [("fraud", "0001_initial")]

    operations = [migrations.RunPython(seed_rules, migrations.RunPython.noop)]
