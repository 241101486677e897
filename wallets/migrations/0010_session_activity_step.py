"""Bets, wins and rollbacks refresh a session's last activity only when it has aged by a step:
1 % of the provider's idle timeout, at most 10 seconds (issue 8).

Before, every money call rewrote the session row, and since last_activity_at is indexed (idle
cleanup finds sessions by it) that update could never be HOT: all ten of the session's index
entries were written again with each bet. Now a session playing several calls a second is
written about once per step. What it changes: a session's last activity is known to within the
step, so idle cleanup can end a session up to 1 % of its timeout early (18 s of the default
30 minutes is capped at 10 s). A bet that draws on the session's buy-in still writes the session
at once (its reservation changes).

The functions of 0006 are taken as they are, with only their session updates replaced; each
replaced statement must be found exactly once.
"""

import importlib

from django.db import migrations

_0006 = importlib.import_module("wallets.migrations.0006_ledger_functions")

TOUCH = """
CREATE OR REPLACE FUNCTION pitboss_touch_session(p_session_id bigint, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE wallets_gamesession s SET last_activity_at = p_at
    FROM wallets_provider p
    WHERE s.id = p_session_id AND p.id = s.provider_id
      AND s.last_activity_at
          < p_at - LEAST(10, p.idle_timeout_seconds / 100.0) * interval '1 second';
END
$$;
"""

_BET_OLD = """    UPDATE wallets_gamesession SET last_activity_at = txn_created_at,
        reserved_minor = s.reserved_minor - from_reservation
    WHERE id = s.id;
"""
_BET_NEW = """    IF from_reservation > 0 THEN
        UPDATE wallets_gamesession SET last_activity_at = txn_created_at,
            reserved_minor = s.reserved_minor - from_reservation
        WHERE id = s.id;
    ELSE
        PERFORM pitboss_touch_session(s.id, txn_created_at);
    END IF;
"""
_WIN_OLD = "    UPDATE wallets_gamesession SET last_activity_at = txn_created_at WHERE id = s.id;\n"
_WIN_NEW = "    PERFORM pitboss_touch_session(s.id, txn_created_at);\n"
_ROLLBACK_OLD = (
    """        UPDATE wallets_gamesession SET last_activity_at = txn_created_at
        WHERE id = p_session_id;
""",
    "    UPDATE wallets_gamesession SET last_activity_at = txn_created_at"
    " WHERE id = p_session_id;\n",
)
_ROLLBACK_NEW = (
    "        PERFORM pitboss_touch_session(p_session_id, txn_created_at);\n",
    "    PERFORM pitboss_touch_session(p_session_id, txn_created_at);\n",
)


def _replaced(sql: str, pairs) -> str:
    for old, new in pairs:
        if sql.count(old) != 1:
            raise RuntimeError(f"0010: expected one {old.strip()!r} in the 0006 function")
        sql = sql.replace(old, new)
    return sql


BET = _replaced(_0006.BET, [(_BET_OLD, _BET_NEW)])
WIN = _replaced(_0006.WIN, [(_WIN_OLD, _WIN_NEW)])
ROLLBACK = _replaced(_0006.ROLLBACK, zip(_ROLLBACK_OLD, _ROLLBACK_NEW, strict=True))


class Migration(migrations.Migration):
    dependencies = [("wallets", "0009_partial_fk_indexes")]

    operations = [
        migrations.RunSQL(TOUCH, reverse_sql="DROP FUNCTION IF EXISTS pitboss_touch_session"),
        migrations.RunSQL(BET, reverse_sql=_0006.BET),
        migrations.RunSQL(WIN, reverse_sql=_0006.WIN),
        migrations.RunSQL(ROLLBACK, reverse_sql=_0006.ROLLBACK),
    ]
