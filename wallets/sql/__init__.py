"""The ledger's database functions, kept as one readable file (ledger.sql) and applied whole.

A migration that changes a function edits ledger.sql and adds an operation
`apply_ledger_functions()`; every such migration applies the file as it is at that moment, so
the database ends with the current definitions whatever state it was migrated from. Applying
drops every `pitboss_*` function first (any signature, and the trigger that uses one), so a
changed parameter list never leaves an old overload behind; the file creates the trigger
again. The bodies are PL/pgSQL (or SQL that reads no table), which
PostgreSQL resolves when they first run, not when they are created: the file can be applied
before a later migration adds what a function reads, as long as that migration comes before
the first call.
"""

from pathlib import Path

from django.db import migrations

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


def ledger_sql() -> str:
    return LEDGER_SQL.read_text()


def _execute(schema_editor, sql: str) -> None:
    # No parameters: the text is sent as it is (its `%ROWTYPE` is not a placeholder).
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql)


def drop_ledger_functions(schema_editor) -> None:
    _execute(schema_editor, DROP_FUNCTIONS_SQL)


def reapply_ledger_functions(cursor) -> None:
    """Drop and create every ledger function (and the ledger's triggers) with `cursor`, inside
    the caller's transaction: for code that changes the ledger table outside a migration
    operation of its own (wallets.partitions)."""
    cursor.execute(DROP_FUNCTIONS_SQL)
    cursor.execute(ledger_sql())


def _apply(apps, schema_editor) -> None:
    drop_ledger_functions(schema_editor)
    _execute(schema_editor, ledger_sql())


def apply_ledger_functions(*, reverse_sql: list[str] | None = None) -> migrations.RunPython:
    """The migration operation that (re)creates every ledger function from ledger.sql.
    `reverse_sql`: the statements that recreate the previous definitions (after the current
    ones are dropped)."""

    def _reverse(apps, schema_editor) -> None:
        drop_ledger_functions(schema_editor)
        for statement in reverse_sql or ():
            _execute(schema_editor, statement)

    return migrations.RunPython(_apply, _reverse)
