"""A wallet's deposits and withdrawals by time, for the fraud rules that decide on them under
the wallet lock (rapid deposits, withdrawal velocity). Built concurrently: the ledger keeps
taking bets, which never enter this partial index."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("wallets", "0012_unique_id_within_scope")]

    operations = [
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=Q(kind__in=["deposit", "withdrawal"]),
                fields=["wallet", "-created_at"],
                name="txn_payments_by_wallet",
            ),
        ),
    ]
