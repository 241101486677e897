"""The payments made with one card, account or e-wallet: a partial index over the ledger rows
that carry a payment fingerprint. Built concurrently: the ledger keeps taking bets while the
index is built over an existing table (no row carries a fingerprint before 0019, so it is built
empty, after one pass over the table)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("wallets", "0019_transaction_payment_fingerprint")]

    operations = [
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(payment_fingerprint__isnull=False),
                fields=["payment_fingerprint", "-id"],
                name="txn_by_payment_fingerprint",
            ),
        ),
    ]
