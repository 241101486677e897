"""The ledger's database functions, kept as one readable file (ledger.sql) and applied whole.

A migration that changes a function edits ledger.sql and adds an operation
`apply_ledger_functions()`; every such migration applies the file as it is at that moment, so
the database ends with the current definitions whatever state it was migrated from. The bodies
are PL/pgSQL (or SQL that reads no table), which PostgreSQL resolves when they first run, not
when they are created: the file can be applied before a later migration adds what a function
reads, as long as that migration comes before the first call.

Applying never fails a call in flight (the ledger takes bets while migrations run):

- every function is replaced in place (CREATE OR REPLACE: the same function, a new body, which
  a session picks up at its next call), so no session ever calls a function that was dropped
  under it; a `pitboss_*` function the file no longer defines (an old overload, a changed
  parameter list) is dropped afterwards, and one whose signature names a row type the file
  does not (the ledger's old table, renamed when it became the historic partition) before;
  only when a function's result type changed otherwise (which CREATE OR REPLACE refuses) is
  everything dropped and created again;
- the ledger's table lock is taken first, in the mode re-creating its triggers needs (ACCESS
  EXCLUSIVE: a call that read the ledger and then waits to write it would otherwise hold the
  lock the re-creation upgrades to, a deadlock), with a lock timeout: calls in flight finish,
  new ones queue behind it for the moment the catalog changes take (reads of the ledger too).
  A timeout is retried (wallets.partitions does it for its switch; a migration fails cleanly
  and is run again).
"""

import re
from pathlib import Path

from django.db import migrations, transaction
from django.db.utils import DatabaseError

LEDGER_SQL = Path(__file__).with_name("ledger.sql")

DROP_FUNCTIONS_SQL = """
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'pitboss\\_%'
    LOOP
        -- CASCADE: a trigger using a function goes with it; ledger.sql creates it again.
        EXECUTE 'DROP FUNCTION ' || f || ' CASCADE';
    END LOOP;
END
$$;
"""

_FUNCTIONS_SQL = """
SELECT p.oid, p.xmin::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema() AND p.proname LIKE 'pitboss\\_%'
"""

# Functions whose parameters or result name a table's row type the definitions do not name
# (the ledger's old table, renamed when it became a partition): replaced by new ones, dropped
# first, so nothing else has to be dropped.
_ROW_TYPES_SQL = """
SELECT DISTINCT p.oid, t.typname FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_type t ON t.oid = ANY(p.proargtypes::oid[] || p.prorettype) AND t.typrelid <> 0
WHERE n.nspname = current_schema() AND p.proname LIKE 'pitboss\\_%'
"""

# Taken first: the lock the triggers' re-creation needs (DROP TRIGGER: ACCESS EXCLUSIVE), so
# it is never upgraded while a call holds a weaker one.
LOCK_TIMEOUT = "10s"
_LOCK_SQL = f"""
SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';
DO $$
BEGIN
    IF to_regclass('wallets_transaction') IS NOT NULL THEN
        LOCK TABLE wallets_transaction IN ACCESS EXCLUSIVE MODE;
    END IF;
END
$$;
"""


def ledger_sql() -> str:
    return LEDGER_SQL.read_text()


def replacing(sql: str) -> str:
    """`sql` with every CREATE FUNCTION / CREATE TRIGGER made CREATE OR REPLACE."""
    return sql.replace("CREATE FUNCTION ", "CREATE OR REPLACE FUNCTION ").replace(
        "CREATE TRIGGER ", "CREATE OR REPLACE TRIGGER "
    )


def apply_sql(cursor, sql: str) -> None:
    """Apply a full set of ledger definitions (ledger.sql, or an earlier one) with `cursor`, in
    one transaction (the caller's, if any), without failing a call in flight (module
    docstring)."""
    with transaction.atomic(using=cursor.db.alias):
        cursor.execute(_LOCK_SQL)
        cursor.execute(_ROW_TYPES_SQL)
        for oid, type_name in cursor.fetchall():
            if not re.search(rf"\b{re.escape(type_name)}\b", sql):
                cursor.execute(f"DROP FUNCTION {_regprocedure(cursor, oid)} CASCADE")
        cursor.execute(_FUNCTIONS_SQL)
        before = dict(cursor.fetchall())
        try:
            with transaction.atomic(using=cursor.db.alias):  # a refused replacement: undone
                cursor.execute(replacing(sql))
        except DatabaseError as error:
            if getattr(error.__cause__, "sqlstate", None) != "42P13":  # invalid definition
                raise
            # A function's result type changed: it cannot be replaced in place.
            cursor.execute(DROP_FUNCTIONS_SQL)
            cursor.execute(sql)
            return
        # Each function the file defines was written again (a new row version); one left as
        # it was is defined no more.
        cursor.execute(_FUNCTIONS_SQL)
        for oid, xmin in cursor.fetchall():
            if before.get(oid) == xmin:
                cursor.execute(f"DROP FUNCTION {_regprocedure(cursor, oid)} CASCADE")


def _regprocedure(cursor, oid: int) -> str:
    cursor.execute("SELECT %s::regprocedure::text", [oid])
    return cursor.fetchone()[0]


def _execute(schema_editor, sql: str) -> None:
    # No parameters: the text is sent as it is (its `%ROWTYPE` is not a placeholder).
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql)


def drop_ledger_functions(schema_editor) -> None:
    _execute(schema_editor, DROP_FUNCTIONS_SQL)


def reapply_ledger_functions(cursor) -> None:
    """(Re)create every ledger function (and the ledger's triggers) with `cursor`, inside the
    caller's transaction: for code that changes the ledger table outside a migration operation
    of its own (wallets.partitions)."""
    apply_sql(cursor, ledger_sql())


def _apply(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        apply_sql(cursor, ledger_sql())


def apply_ledger_functions(*, reverse_sql: list[str] | None = None) -> migrations.RunPython:
    """The migration operation that (re)creates every ledger function from ledger.sql.
    `reverse_sql`: the statements that recreate the previous definitions."""

    def _reverse(apps, schema_editor) -> None:
        with schema_editor.connection.cursor() as cursor:
            apply_sql(cursor, ";\n".join(reverse_sql or ()))

    return migrations.RunPython(_apply, _reverse)
