"""Idempotency keys in a table of their own (IdempotencyKey), ready for the partitioned ledger,
which cannot hold a unique index without created_at. The ledger's insert trigger writes each
new row's key from now on (ledger.sql applied again; the functions look keys up there); the
keys of the rows written within the providers' retry horizon are then copied in batches,
newest first (the likeliest to be retried), each batch its own short transaction, so the
migration runs on a large ledger while it takes bets.

Until the copy reaches a row, a retry of that row's call finds no key and meets the ledger's
old unique index (still there until wallets 0022): it is answered with an error the provider
retries, and nothing is booked twice. Likewise a tombstone (a rollback that arrived before its
bet) is found through the key table once its key is copied.

Each wallet keeps the head of its hash chain (chain_head_id, chain_head_hash), written by the
chain trigger with each new row: added here, empty; a wallet's first new row finds the latest
row once and sets it."""

import datetime
from pathlib import Path

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models, transaction
from django.utils import timezone

from wallets.sql import apply_ledger_functions

# The ledger functions as they were before: what undoing this migration restores.
BEFORE = Path(__file__).with_name("ledger_before_0021.sql")
BATCH_IDS = 50_000


def copy_recent_keys(apps, schema_editor):
    cutoff = timezone.now() - datetime.timedelta(days=settings.PITBOSS_RETRY_HORIZON_DAYS)
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM wallets_transaction")
        low, high = cursor.fetchone()
        while high is not None and high >= low:
            with transaction.atomic(using=connection.alias):
                cursor.execute(
                    """INSERT INTO wallets_idempotencykey
                           (transaction_id, created_at, provider_id, kind, id_scope, external_id,
                            player_id, reference_external_id)
                       SELECT id, created_at, provider_id, kind, id_scope, external_id,
                              player_id, CASE WHEN kind = 'rollback'
                                              THEN reference_external_id ELSE '' END
                       FROM wallets_transaction
                       WHERE id > %s AND id <= %s AND created_at >= %s
                       ON CONFLICT DO NOTHING""",
                    [high - BATCH_IDS, high, cutoff],
                )
                cursor.execute(
                    "SELECT max(created_at) FROM wallets_transaction WHERE id > %s AND id <= %s",
                    [high - BATCH_IDS, high],
                )
                (newest,) = cursor.fetchone()
            if newest is not None and newest < cutoff:
                break  # every older row is older still (ids follow time): past the horizon
            high -= BATCH_IDS


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("wallets", "0020_payment_fingerprint_index")]

    operations = [
        migrations.CreateModel(
            name="IdempotencyKey",
            fields=[
                (
                    "transaction",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="wallets.transaction",
                    ),
                ),
                ("created_at", models.DateTimeField()),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("bet", "Bet"),
                            ("win", "Win"),
                            ("rollback", "Rollback"),
                            ("deposit", "Deposit"),
                            ("withdrawal", "Withdrawal"),
                            ("adjustment", "Adjustment"),
                            ("promo", "Promotional credit"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "id_scope",
                    models.CharField(blank=True, db_default="", default="", max_length=160),
                ),
                ("external_id", models.CharField(max_length=128)),
                (
                    "reference_external_id",
                    models.CharField(blank=True, db_default="", default="", max_length=128),
                ),
                (
                    "player",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="wallets.player",
                    ),
                ),
                (
                    "provider",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="wallets.provider",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("kind", "rollback")),
                        fields=["provider", "reference_external_id", "player"],
                        name="txn_key_rollback_reference",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("provider__isnull", False)),
                        fields=("provider", "external_id", "id_scope"),
                        name="txn_unique_key_provider_scope_id",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("provider__isnull", True)),
                        fields=("kind", "external_id"),
                        name="txn_unique_key_payment_id",
                    ),
                ],
            },
        ),
        # The head of each wallet's hash chain, kept on the wallet row by the chain trigger.
        migrations.AddField(
            model_name="wallet",
            name="chain_head_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="wallet",
            name="chain_head_hash",
            field=models.BinaryField(blank=True, editable=False, null=True),
        ),
        # Undone: the functions as they were (without the key trigger; the table goes next).
        apply_ledger_functions(reverse_sql=[BEFORE.read_text()]),
        migrations.RunPython(copy_recent_keys, migrations.RunPython.noop),
    ]
