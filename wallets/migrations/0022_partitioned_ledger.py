"""The ledger becomes a table partitioned by month of created_at, online
(wallets.partitions.partition_ledger: a validated CHECK and concurrent index builds first,
then one short catalog-only switch that attaches the old table as the historic partition).
Its primary key becomes (id, created_at) in the database; Django keeps `id`. The unique keys
move to IdempotencyKey (wallets 0021); foreign keys into the ledger are dropped (the models
say db_constraint=False). Irreversible: going back would copy the whole ledger."""

import django.db.models.deletion
from django.db import migrations, models


def partition(apps, schema_editor):
    from wallets.partitions import partition_ledger

    partition_ledger()


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("wallets", "0021_idempotency_keys"),
        ("fraud", "0010_case_transaction_without_db_constraint"),
        ("reconciliation", "0005_ledger_references_without_db_constraint"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="transaction", name="txn_unique_payment_external_id"
                ),
                migrations.RemoveConstraint(
                    model_name="transaction", name="txn_unique_provider_scope_id"
                ),
                migrations.AlterField(
                    model_name="transaction",
                    name="reference",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="referenced_by",
                        to="wallets.transaction",
                    ),
                ),
                migrations.AddIndex(
                    model_name="transaction",
                    index=models.Index(
                        condition=models.Q(("provider__isnull", False)),
                        fields=["provider", "external_id", "id_scope"],
                        name="txn_by_provider_id",
                    ),
                ),
                migrations.AddIndex(
                    model_name="transaction",
                    index=models.Index(
                        condition=models.Q(("provider__isnull", True)),
                        fields=["kind", "external_id"],
                        name="txn_by_payment_id",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(partition)],
        ),
    ]
