"""Idempotency keys with a scope, promotional credits, and the ledger functions of contract
revision 2, applied from their one readable home (wallets/sql/ledger.sql).

- `id_scope`: a provider's transaction ids are unique within a scope, so that protocols whose
  cancel reuses its bet's id, or whose ids are unique only per player, keep exact idempotency.
  Every existing row is in the scope '' (a column with a constant default is added without
  rewriting the table). The unique index moves in 0012, built concurrently.
- `credit_type` and the kind `promo`: credits with no stake (free rounds, promotions, jackpots).
- The functions: a restricted provider's bet needs a session authenticated before the
  restriction (PROVIDER_RESTRICTED); a rollback of a bet whose round already paid a win is
  refused (BET_SETTLED); a win into a round whose bets were all rolled back, or naming a
  rolled-back bet, credits nothing (ROLLED_BACK); ids are looked up within their scope; a
  rollback may reverse a win where the protocol allows it.
"""

import importlib

from django.db import migrations, models

from wallets.sql import apply_ledger_functions

_0010 = importlib.import_module("wallets.migrations.0010_session_activity_step")


class Migration(migrations.Migration):
    dependencies = [("wallets", "0010_session_activity_step")]

    operations = [
        migrations.AddField(
            model_name="transaction",
            name="id_scope",
            field=models.CharField(blank=True, db_default="", default="", max_length=160),
        ),
        migrations.AddField(
            model_name="transaction",
            name="credit_type",
            field=models.CharField(
                blank=True,
                choices=[
                    ("free_round", "Free rounds"),
                    ("promo", "Promotion"),
                    ("jackpot", "Jackpot"),
                    ("reward", "Reward or tournament prize"),
                ],
                db_default="",
                default="",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="kind",
            field=models.CharField(
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
        apply_ledger_functions(
            reverse_sql=[_0010.STEP, _0010.TOUCH, _0010.BET, _0010.WIN, _0010.ROLLBACK]
        ),
    ]
