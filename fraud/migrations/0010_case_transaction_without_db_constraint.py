"""A case's ledger row keeps no database foreign key: the ledger becomes partitioned by
created_at (wallets 0022), and a foreign key into it would need created_at too. The ledger's
rows are never deleted; the fraud code writes only ids of rows it has just read."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0009_backfill_rule_hit_versions"),
        ("wallets", "0021_idempotency_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="case",
            name="transaction",
            field=models.OneToOneField(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="fraud_case",
                to="wallets.transaction",
            ),
        ),
    ]
