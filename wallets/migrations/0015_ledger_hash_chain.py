"""A tamper-evident ledger: each wallet's rows form a hash chain written with the row, in the
same transaction, by a trigger (wallets/sql/ledger.sql). Rows written before are not chained
(their hash stays null); each wallet's chain starts at its first row written after this
migration. Adding a nullable column rewrites nothing."""

from django.db import migrations, models

from wallets.sql import apply_ledger_functions, ledger_sql


class Migration(migrations.Migration):
    dependencies = [("wallets", "0014_provider_protocols")]

    operations = [
        migrations.AddField(
            model_name="transaction",
            name="chain_hash",
            field=models.BinaryField(blank=True, editable=False, null=True),
        ),
        # Undone: the functions as they are, without the trigger (the column goes next).
        apply_ledger_functions(
            reverse_sql=[
                ledger_sql(),
                "DROP TRIGGER IF EXISTS pitboss_chain ON wallets_transaction",
            ]
        ),
    ]
