"""Bets, wins and rollbacks refresh a session's last activity only when it has aged by a step:
1 % of the provider's idle timeout, at most 10 seconds.

Before, every money call rewrote the session row, and since last_activity_at is indexed (idle
cleanup finds sessions by it) that update could never be HOT: all ten of the session's index
entries were written again with each bet. Now a session playing several calls a second is
written about once per step. What it changes: a session's last activity is known to within the
step, so idle cleanup can end a session up to 1 % of its timeout early (18 s of the default
30 minutes is capped at 10 s). A bet that draws on the session's buy-in still writes the session
at once (its reservation changes).

The functions of 0006 are taken as they are, with only their session updates replaced (and the
bet's provider check, which now also reads the step); each replaced text must be found exactly
once. The step is one SQL function, pitboss_activity_step, inlined where it is used.
"""

import importlib

from django.db import migrations

_0006 = importlib.import_module("wallets.migrations.0006_ledger_functions")

STEP = """
CREATE OR REPLACE FUNCTION pitboss_activity_step(p_idle_timeout_seconds integer)
RETURNS interval LANGUAGE sql IMMUTABLE AS $$
    SELECT LEAST(10, p_idle_timeout_seconds / 100.0) * interval '1 second'
$$;
"""

TOUCH = """
CREATE OR REPLACE FUNCTION pitboss_touch_session(p_session_id bigint, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE wallets_gamesession s SET last_activity_at = p_at
    FROM wallets_provider p
    WHERE s.id = p_session_id AND p.id = s.provider_id
      AND s.last_activity_at < p_at - pitboss_activity_step(p.idle_timeout_seconds);
END
$$;
"""

# The bet reads the provider's row anyway (is it suspended?): it takes the step from there and
# decides on the session row it has read, without another call.
_BET_DECLARE_OLD = """    differing text[] := '{}';
BEGIN"""
_BET_DECLARE_NEW = """    differing text[] := '{}';
    provider_status text;
    activity_step interval;
BEGIN"""
_BET_PROVIDER_OLD = """    PERFORM 1 FROM wallets_provider WHERE id = p_provider_id AND status = 'suspended';
    IF FOUND THEN outcome := 'PROVIDER_SUSPENDED'; RETURN; END IF;
"""
_BET_PROVIDER_NEW = """    SELECT status, pitboss_activity_step(idle_timeout_seconds)
    INTO provider_status, activity_step FROM wallets_provider WHERE id = p_provider_id;
    IF provider_status = 'suspended' THEN outcome := 'PROVIDER_SUSPENDED'; RETURN; END IF;
"""
_BET_OLD = """    UPDATE wallets_gamesession SET last_activity_at = txn_created_at,
        reserved_minor = s.reserved_minor - from_reservation
    WHERE id = s.id;
"""
_BET_NEW = """    IF from_reservation > 0 OR s.last_activity_at < txn_created_at - activity_step THEN
        UPDATE wallets_gamesession SET last_activity_at = txn_created_at,
            reserved_minor = s.reserved_minor - from_reservation
        WHERE id = s.id;
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


BET = _replaced(
    _0006.BET,
    [
        (_BET_DECLARE_OLD, _BET_DECLARE_NEW),
        (_BET_PROVIDER_OLD, _BET_PROVIDER_NEW),
        (_BET_OLD, _BET_NEW),
    ],
)
WIN = _replaced(_0006.WIN, [(_WIN_OLD, _WIN_NEW)])
ROLLBACK = _replaced(_0006.ROLLBACK, zip(_ROLLBACK_OLD, _ROLLBACK_NEW, strict=True))


class Migration(migrations.Migration):
    dependencies = [("wallets", "0009_partial_fk_indexes")]

    operations = [
        migrations.RunSQL(STEP, reverse_sql="DROP FUNCTION IF EXISTS pitboss_activity_step"),
        migrations.RunSQL(TOUCH, reverse_sql="DROP FUNCTION IF EXISTS pitboss_touch_session"),
        migrations.RunSQL(BET, reverse_sql=_0006.BET),
        migrations.RunSQL(WIN, reverse_sql=_0006.WIN),
        migrations.RunSQL(ROLLBACK, reverse_sql=_0006.ROLLBACK),
    ]
