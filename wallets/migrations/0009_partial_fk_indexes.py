"""Ledger writes touch fewer indexes: every bet inserts a ledger row and a round, and
each index on them is one more entry to write and log.

- The nullable references (a ledger row's reference, creator and approver; a session's ender)
  are indexed only where set: nearly every row has none, and a plain index holds an entry for
  each NULL. The partial indexes are built CONCURRENTLY first (ledger writes go on meanwhile),
  then the plain ones are dropped.
- A round's provider and a wallet's player lose their own index: the unique constraints
  round_unique_per_player (provider, player, external_id) and wallet_one_per_currency
  (player, currency) start with that column and serve the same look-ups.
- A round's flagged_at is indexed where set (the flagged rounds support works through).
The old indexes are dropped CONCURRENTLY too, foreign keys untouched: no step blocks ledger writes.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


def _state_only_drop_index(index: str, table: str, column: str, alter_field):
    """`alter_field` (a field's db_index turned off) for Django's model state, and for the
    database only its index dropped CONCURRENTLY. Django's own AlterField would also drop and
    re-add the column's foreign key, and re-adding it checks the whole table while blocking
    writes: seconds of stalled bets on a large ledger."""
    return migrations.SeparateDatabaseAndState(
        state_operations=[alter_field],
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX CONCURRENTLY IF EXISTS "{index}"',
                reverse_sql=f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index}" '
                f'ON "{table}" ("{column}")',
            )
        ],
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("wallets", "0008_ledger_fk_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="gamesession",
            index=models.Index(
                condition=models.Q(("ended_by__isnull", False)),
                fields=["ended_by"],
                name="session_ended_by",
            ),
        ),
        AddIndexConcurrently(
            model_name="round",
            index=models.Index(
                condition=models.Q(("flagged_at__isnull", False)),
                fields=["flagged_at"],
                name="round_flagged",
            ),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("reference__isnull", False)),
                fields=["reference"],
                name="txn_reference",
            ),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("created_by__isnull", False)),
                fields=["created_by"],
                name="txn_created_by",
            ),
        ),
        AddIndexConcurrently(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("approved_by__isnull", False)),
                fields=["approved_by"],
                name="txn_approved_by",
            ),
        ),
        _state_only_drop_index(
            "wallets_gamesession_ended_by_id_10e5931b",
            "wallets_gamesession",
            "ended_by_id",
            migrations.AlterField(
                model_name="gamesession",
                name="ended_by",
                field=models.ForeignKey(
                    blank=True,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to=settings.AUTH_USER_MODEL,
                ),
            ),
        ),
        _state_only_drop_index(
            "wallets_round_flagged_at_71ee04f9",
            "wallets_round",
            "flagged_at",
            migrations.AlterField(
                model_name="round",
                name="flagged_at",
                field=models.DateTimeField(blank=True, null=True),
            ),
        ),
        _state_only_drop_index(
            "wallets_round_provider_id_2d04ba26",
            "wallets_round",
            "provider_id",
            migrations.AlterField(
                model_name="round",
                name="provider",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="rounds",
                    to="wallets.provider",
                ),
            ),
        ),
        _state_only_drop_index(
            "wallets_transaction_approved_by_id_f3d8af95",
            "wallets_transaction",
            "approved_by_id",
            migrations.AlterField(
                model_name="transaction",
                name="approved_by",
                field=models.ForeignKey(
                    blank=True,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to=settings.AUTH_USER_MODEL,
                ),
            ),
        ),
        _state_only_drop_index(
            "wallets_transaction_created_by_id_7ae97905",
            "wallets_transaction",
            "created_by_id",
            migrations.AlterField(
                model_name="transaction",
                name="created_by",
                field=models.ForeignKey(
                    blank=True,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="+",
                    to=settings.AUTH_USER_MODEL,
                ),
            ),
        ),
        _state_only_drop_index(
            "wallets_transaction_reference_id_e4484b1b",
            "wallets_transaction",
            "reference_id",
            migrations.AlterField(
                model_name="transaction",
                name="reference",
                field=models.ForeignKey(
                    blank=True,
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="referenced_by",
                    to="wallets.transaction",
                ),
            ),
        ),
        _state_only_drop_index(
            "wallets_wallet_player_id_b02bd0a3",
            "wallets_wallet",
            "player_id",
            migrations.AlterField(
                model_name="wallet",
                name="player",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.PROTECT,
                    related_name="wallets",
                    to="wallets.player",
                ),
            ),
        ),
    ]
