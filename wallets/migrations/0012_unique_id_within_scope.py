"""A provider's transaction id is unique within its scope: the unique index becomes
(provider, external_id, id_scope), built concurrently (the ledger keeps taking bets while it
is built), and the old (provider, external_id) index is dropped the same way. Lookups by
(provider, external_id) alone, as the list pages' search does, still use the new index.
"""

from django.db import migrations, models
from django.db.models import Q

CREATE = (
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS txn_unique_provider_scope_id"
    " ON wallets_transaction (provider_id, external_id, id_scope)"
    " WHERE provider_id IS NOT NULL"
)
DROP_OLD = "DROP INDEX CONCURRENTLY IF EXISTS txn_unique_provider_external_id"
CREATE_OLD = (
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS txn_unique_provider_external_id"
    " ON wallets_transaction (provider_id, external_id) WHERE provider_id IS NOT NULL"
)
DROP = "DROP INDEX CONCURRENTLY IF EXISTS txn_unique_provider_scope_id"


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("wallets", "0011_id_scopes_and_promo_credits")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(CREATE, reverse_sql=DROP),
                migrations.RunSQL(DROP_OLD, reverse_sql=CREATE_OLD),
            ],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="transaction", name="txn_unique_provider_external_id"
                ),
                migrations.AddConstraint(
                    model_name="transaction",
                    constraint=models.UniqueConstraint(
                        condition=Q(provider__isnull=False),
                        fields=("provider", "external_id", "id_scope"),
                        name="txn_unique_provider_scope_id",
                    ),
                ),
            ],
        ),
    ]
