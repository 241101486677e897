"""A discrepancy's ledger row and a correction's adjustment keep no database foreign key: the
ledger becomes partitioned by created_at (wallets 0022), and a foreign key into it would need
created_at too. Ledger rows are never deleted; these ids come from rows just read or written."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0004_wallet_checkpoints"),
        ("wallets", "0021_idempotency_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="discrepancy",
            name="ledger_transaction",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="The wallet's ledger row, when there is one.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="wallets.transaction",
            ),
        ),
        migrations.AlterField(
            model_name="correctionrequest",
            name="adjustment",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="wallets.transaction",
            ),
        ),
    ]
