"""Indexes for the ledger at ten million rows, built CONCURRENTLY: a plain CREATE INDEX
would block every ledger write for as long as the build takes (tens of seconds at that size).

- txn_by_wallet_covering replaces txn_by_wallet (same key, wallet then newest first) and also
  carries status, delta_minor and amount_minor, so a wallet's ledger sums (the reconciliation)
  are an index-only scan instead of one heap page per ledger row. It is built before the old
  one is dropped, so queries by wallet always have an index.
- txn_by_round_external_id: staff search and the API's `round_id` filter (no index had it).
- txn_not_posted: the list filters on a status other than posted (rolled back, held, rejected),
  a small index since almost every row is posted; with the provider and kind, so that such a
  filter's count (combined with a provider or kind) reads the index only.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("wallets", "0006_ledger_functions"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                fields=["wallet", "-id"],
                include=["status", "delta_minor", "amount_minor"],
                name="txn_by_wallet_covering",
            ),
        ),
        RemoveIndexConcurrently(model_name="transaction", name="txn_by_wallet"),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("round_external_id", ""), _negated=True),
                fields=["round_external_id"],
                name="txn_by_round_external_id",
            ),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("status", "posted"), _negated=True),
                fields=["status", "-id"],
                include=["provider", "kind"],
                name="txn_not_posted",
            ),
        ),
    ]
