"""The ledger's list pages filtered by a rare kind (a rollback, a payment, a correction, a
promotional credit), newest first, read an index of those rows alone. Built online on every
partition (wallets.partitions.add_ledger_index: concurrently, then attached)."""

from django.db import migrations, models

NAME = "txn_rare_kinds"
DEFINITION = """("kind", "id" DESC) WHERE NOT ("kind" IN ('bet', 'win'))"""


def forwards(apps, schema_editor):
    from wallets.partitions import add_ledger_index

    add_ledger_index(NAME, DEFINITION)


def backwards(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("wallets", "0024_ledger_archives")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="transaction",
                    index=models.Index(
                        condition=models.Q(("kind__in", ["bet", "win"]), _negated=True),
                        fields=["kind", "-id"],
                        name=NAME,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
