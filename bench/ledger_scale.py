"""A large ledger for the scale benchmarks: N ledger rows over realistic players,
wallets, providers, sessions, rounds and audit records, built with set-based SQL.

    python -m bench.ledger_scale [--quick] [--rows N] [--players P] [--name DB] [--rebuild]

Built once and kept: a database that already holds a finished build of the wanted size is only
migrated (new migrations, e.g. indexes) and reused. bench.reconciliation_incremental and
bench.list_pages call `ensure_ledger` for their 1,000,000- and 10,000,000-row databases
(`pitboss_bench_ledger_1m`, `pitboss_bench_ledger_10m`). --quick builds 20,000 rows in a
throwaway database, checks it and drops it (that is what `bench.run --quick` runs).

The data: P players (100,000 from a million rows on), one EUR wallet each, five providers. Row
ids are explicit: the P opening deposits first, then game rows g = 1..N-P, wallet
w = (g-1) % P + 1 and per-wallet ordinal k = (g-1) / P, so that every wallet's rows are spread
over the whole table (as a player's rows are over time), never clustered. Up to 10,000,000 rows
span 90 days; a larger ledger spans proportionally longer (50,000,000 rows: 450 days), so that a
day holds the same volume at every size. Per wallet: a session
every 50 rows (the provider changes with it), a round every bet + win (two rows); about one
round in 500 is rolled back (the bet `rolled_back` plus its `rollback` row) and about one in
20,000 is replaced by a held withdrawal (no provider; counted in `reserved` only). Wallet
balances and reserved equal the ledger's sums by the rule of wallets.models.Transaction, and
`balance_after_minor` is the running balance. Secondary indexes and foreign keys of the two big
tables are dropped for the load and rebuilt after (a 10M-row load then takes minutes).
"""

# The load's SQL is composed from numbers computed here (sizes, ids), never from input.
# ruff: noqa: S608

import argparse
import json
import os
import sys
import time

PROVIDERS = 5
ROWS_PER_SESSION = 50
# Game rows spread over this period, for ledgers of up to SPAN_ROWS rows; a larger ledger is a
# longer history at the same daily volume (so a day's roll-up reads as many rows at any size).
SPAN_DAYS = 90
SPAN_ROWS = 10_000_000


def span_days(rows: int) -> int:
    return max(SPAN_DAYS, -(-SPAN_DAYS * rows // SPAN_ROWS))


META_TABLE = "bench_ledger_scale"


def default_players(rows: int) -> int:
    return 100_000 if rows >= 1_000_000 else max(rows // 20, 10)


def _connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True)


def built_rows(url: str) -> int | None:
    """Rows of the finished build in the database at `url`, or None (missing or unfinished)."""
    import psycopg

    try:
        with _connect(url) as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [META_TABLE]).fetchone()
            if not row[0]:
                return None
            row = conn.execute(f"SELECT rows FROM {META_TABLE} LIMIT 1").fetchone()
            return row[0] if row else None
    except psycopg.OperationalError:
        return None


def _migrate(url: str) -> None:
    import subprocess

    from bench.common import ROOT

    python = ROOT / ".venv" / "bin" / "python"
    subprocess.run(  # noqa: S603 - our own command line
        [str(python) if python.exists() else sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )


def ensure_ledger(
    server_url: str, name: str, rows: int, *, players: int | None = None, rebuild: bool = False
) -> tuple[str, dict]:
    """The URL of database `name` holding a finished build of `rows` ledger rows, building it
    when missing, unfinished or of another size; and what was done ({"built", "seconds"})."""
    from bench.common import log, migrated_database, with_database

    url = with_database(server_url, name)
    if not rebuild and built_rows(url) == rows:
        _migrate(url)  # a kept database gets the newer migrations (indexes)
        started = time.perf_counter()
        mended = _mend_ledger_indexes(url)
        if mended:
            log(
                f"{name}: rebuilt {len(mended)} ledger indexes in "
                f"{time.perf_counter() - started:.0f} s (an earlier build left them invalid)"
            )
        return url, {"built": False, "seconds": 0.0}
    started = time.perf_counter()
    log(f"building {name}: {rows:,} ledger rows")
    url = migrated_database(server_url, name)
    build(url, rows=rows, players=players or default_players(rows))
    seconds = round(time.perf_counter() - started, 1)
    log(f"built {name} in {seconds} s")
    return url, {"built": True, "seconds": seconds}


def _detach_indexes(conn, table: str) -> list[str]:
    """Drop the secondary indexes and foreign keys of `table`; the statements recreating them."""
    restore = []
    for name, definition in conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('f', 'u')",
        [table],
    ).fetchall():
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.tablename = %s AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        [table],
    ).fetchall():
        conn.execute(f'DROP INDEX "{name}"')
        # A partitioned table's index is defined "ON ONLY" the parent: recreated that way it
        # would be an invalid index on the parent alone, with none on the partitions.
        definition = definition.replace(f" ON ONLY public.{table} ", f" ON public.{table} ", 1)
        restore.insert(0, definition)  # indexes before the constraints that use them
    return restore


def _invalid_ledger_indexes(conn) -> list[tuple[str, str]]:
    """(name, definition) of the ledger's invalid indexes."""
    return conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'wallets_transaction'::regclass AND NOT i.indisvalid"
    ).fetchall()


def _mend_ledger_indexes(url: str) -> list[str]:
    """Rebuild the ledger's invalid indexes (a build on the partitioned ledger by an earlier
    version of this module recreated its indexes on the parent alone); their names."""
    with _connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        invalid = _invalid_ledger_indexes(conn)
        for name, definition in invalid:
            conn.execute(f'DROP INDEX "{name}"')
            conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
    return [name for name, _ in invalid]


def _partition_history_by_month(conn, days: int) -> list[str]:
    """Give the load's span monthly partitions, as a ledger partitioned for that long has.

    A freshly migrated database's ledger is one (empty) history partition for everything before
    next month plus the months ahead; loaded as it is, every row of the build would sit in that
    one partition. Here the history partition is re-attached to end before the first row of the
    build, and each month from there to its old end gets its own partition: a 10,000,000-row
    build spans 4 months, a 50,000,000-row one 16. Returns the partitions created."""
    import datetime

    from wallets.partitions import HISTORY, LEDGER, add_months, month_start, partition_name

    kind = conn.execute(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [LEDGER]
    ).fetchone()
    if not kind or kind[0] != "p":
        return []  # the plain ledger of a checkout before partitioning
    end = conn.execute(
        """SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                'TO \\(''([^'']+)''\\)'))[1]::timestamptz
           FROM pg_class c WHERE c.relname = %s""",
        [HISTORY],
    ).fetchone()[0]
    # The opening deposits are a day before the first game row, which is `days` days and an
    # hour ago: the history keeps nothing of the build.
    first = month_start(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days + 3))
    if first >= end:
        return []
    created = []
    conn.execute(f"ALTER TABLE {LEDGER} DETACH PARTITION {HISTORY}")
    conn.execute(
        f"ALTER TABLE {LEDGER} ATTACH PARTITION {HISTORY} "
        f"FOR VALUES FROM (MINVALUE) TO ('{first.isoformat()}')"
    )
    start = first
    while start < end:
        name = partition_name(start)
        conn.execute(
            f"CREATE TABLE {name} PARTITION OF {LEDGER} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{add_months(start, 1).isoformat()}')"
        )
        created.append(name)
        start = add_months(start, 1)
    return created


def _sql(rows: int, players: int) -> list[tuple[str, str]]:
    """(label, statement) of the load, in order. Literals only (numbers we computed)."""
    p, g_max = players, rows - players
    per_wallet = -(-g_max // p)  # rows per wallet, rounded up
    sessions_per_wallet = -(-per_wallet // ROWS_PER_SESSION)
    rounds_per_wallet = -(-per_wallet // 2)
    deposit = 1_000_000 + 10_000 * per_wallet
    # created_at of game row g: BASE + g * STEP.
    # ... ending an hour ago: nothing looks written "just now" (the reconciliation's watermark).
    days = span_days(rows)
    base = f"(now() - interval '{days} days 1 hour')"
    step = f"(interval '{days} days' / {max(g_max, 1)})"
    # Per game row g: wallet w, ordinal k and what the row is.
    w, k = f"((g - 1) % {p} + 1)", f"((g - 1) / {p})"
    held_wd = f"({k} % 2 = 1 AND ({w} + {k}) % 20011 = 7)"
    rollback = f"({k} % 2 = 1 AND NOT {held_wd} AND ({w} + {k}) % 500 = 1)"
    # The bet of row g (k even) is rolled back when row g + P is its rollback.
    bet_rolled = f"(({w} + {k} + 1) % 500 = 1 AND ({w} + {k} + 1) % 20011 <> 7)"
    bet_amount = "(100 + ((g) * 37) % 4900)"
    prev_bet_amount = f"(100 + ((g - {p}) * 37) % 4900)"
    kind = (
        f"CASE WHEN {held_wd} THEN 'withdrawal' WHEN {rollback} THEN 'rollback' "
        f"WHEN {k} % 2 = 0 THEN 'bet' ELSE 'win' END"
    )
    amount = (
        f"CASE WHEN {held_wd} THEN 500 WHEN {rollback} THEN {prev_bet_amount} "
        f"WHEN {k} % 2 = 0 THEN {bet_amount} "
        f"WHEN {k} % 4 = 1 THEN 2 * {prev_bet_amount} ELSE 0 END"
    )
    delta = f"CASE WHEN {held_wd} THEN -500 WHEN {k} % 2 = 0 THEN -{bet_amount} ELSE {amount} END"
    counted = f"CASE WHEN {held_wd} THEN 0 ELSE {delta} END"
    provider = f"(1 + ({w} + {k} / {ROWS_PER_SESSION}) % {PROVIDERS})"
    session_id = f"(({k} / {ROWS_PER_SESSION}) * {p} + {w})"
    round_id = f"(({k} / 2) * {p} + {w})"
    return [
        (
            "providers",
            f"""INSERT INTO wallets_provider (id, code, name, currencies, status, status_reason,
                ip_allowlist, rounding_mode, idle_timeout_seconds, round_timeout_seconds,
                max_sessions_per_player, open_round_policy, created_at)
            SELECT i, 'bench-prov-' || i, 'Bench provider ' || i, ARRAY['EUR'], 'active', '',
                   ARRAY[]::varchar[], '', 1800, 3600, 5, 'refund', {base} - interval '30 days'
            FROM generate_series(1, {PROVIDERS}) i""",
        ),
        (
            "players",
            f"""INSERT INTO wallets_player (id, external_id, currency, country, status,
                status_reason, created_at)
            SELECT w, 'player-' || w, 'EUR', (ARRAY['MT', 'DE', 'SE', 'FI', 'IE'])[1 + w % 5],
                   CASE WHEN w % 100 = 0 THEN 'blocked' ELSE 'active' END,
                   CASE WHEN w % 100 = 0 THEN 'bench' ELSE '' END,
                   {base} - interval '10 days' + w * interval '1 millisecond'
            FROM generate_series(1, {p}) w""",
        ),
        (
            "wallets",
            f"""INSERT INTO wallets_wallet (id, player_id, currency, balance_minor,
                reserved_minor, created_at, updated_at)
            SELECT w, w, 'EUR', 0, 0, {base} - interval '10 days', {base}
            FROM generate_series(1, {p}) w""",
        ),
        (
            "sessions",
            f"""INSERT INTO wallets_gamesession (id, token_hash, player_id, provider_id,
                wallet_id, currency, game_id, status, created_at, authenticated_at,
                last_activity_at, ended_at, end_reason, end_note, buy_in_minor, reserved_minor)
            SELECT s * {p} + w, encode(sha256(('bench-session-' || (s * {p} + w))::bytea), 'hex'),
                   w, 1 + (w + s) % {PROVIDERS}, w, 'EUR', 'slot-' || (w + s) % 40,
                   CASE WHEN last AND w % 10 = 0 THEN 'open' ELSE 'closed' END,
                   t0, t0, t1, CASE WHEN last AND w % 10 = 0 THEN NULL ELSE t1 END,
                   CASE WHEN last AND w % 10 = 0 THEN '' ELSE 'graceful' END, '', 0, 0
            FROM generate_series(0, {sessions_per_wallet - 1}) s
            CROSS JOIN generate_series(1, {p}) w
            CROSS JOIN LATERAL (SELECT
                {base} + (s * {ROWS_PER_SESSION} * {p} + w) * {step} AS t0,
                {base} + LEAST(((s + 1) * {ROWS_PER_SESSION} - 1) * {p} + w, {g_max}) * {step}
                    AS t1,
                (s + 1) * {ROWS_PER_SESSION} * {p} + w > {g_max} AS last) x
            WHERE s * {ROWS_PER_SESSION} * {p} + w <= {g_max}""",
        ),
        (
            "rounds",
            f"""INSERT INTO wallets_round (id, provider_id, player_id, session_id, external_id,
                status, has_bet, opened_at, closed_at)
            SELECT r * {p} + w, 1 + (w + (2 * r) / {ROWS_PER_SESSION}) % {PROVIDERS}, w,
                   ((2 * r) / {ROWS_PER_SESSION}) * {p} + w, 'r' || (r * {p} + w),
                   CASE WHEN ((w + 2 * r + 1) % 500 = 1) THEN 'cancelled' ELSE 'settled' END,
                   true, {base} + (2 * r * {p} + w) * {step},
                   {base} + (2 * r * {p} + w) * {step} + interval '1 second'
            FROM generate_series(0, {rounds_per_wallet - 1}) r
            CROSS JOIN generate_series(1, {p}) w
            WHERE 2 * r * {p} + w <= {g_max}""",
        ),
        (
            "deposits",
            f"""INSERT INTO wallets_transaction (id, wallet_id, player_id, kind, status,
                currency, amount_minor, delta_minor, reserved_used_minor, balance_after_minor,
                external_id, round_external_id, reference_external_id, game_id, request_id,
                processing_us, lock_wait_us, note, created_at)
            SELECT w, w, w, 'deposit', 'posted', 'EUR', {deposit}, {deposit}, 0, {deposit},
                   'dep' || w, '', '', '', '', 900, 0, '',
                   {base} - interval '1 day' + w * interval '1 millisecond'
            FROM generate_series(1, {p}) w""",
        ),
        (
            "game rows",
            f"""INSERT INTO wallets_transaction (id, wallet_id, player_id, provider_id,
                session_id, round_id, kind, status, currency, amount_minor, delta_minor,
                reserved_used_minor, balance_after_minor, external_id, round_external_id,
                reference_id, reference_external_id, game_id, request_id, processing_us,
                lock_wait_us, note, created_at)
            SELECT {p} + g, {w}, {w},
                   CASE WHEN {held_wd} THEN NULL ELSE {provider} END,
                   CASE WHEN {held_wd} THEN NULL ELSE {session_id} END,
                   CASE WHEN {held_wd} THEN NULL ELSE {round_id} END,
                   {kind},
                   CASE WHEN {held_wd} THEN 'held'
                        WHEN {k} % 2 = 0 AND {bet_rolled} AND g + {p} <= {g_max}
                        THEN 'rolled_back' ELSE 'posted' END,
                   'EUR', {amount}, {delta}, 0, {deposit} + running,
                   CASE WHEN {held_wd} THEN 'wd' || g ELSE 't' || g END,
                   CASE WHEN {held_wd} THEN '' ELSE 'r' || {round_id} END,
                   CASE WHEN {rollback} THEN g END,
                   CASE WHEN {rollback} THEN 't' || (g - {p}) ELSE '' END,
                   CASE WHEN {held_wd} THEN '' ELSE 'slot-' || ({w} + {k} / 50) % 40 END,
                   'req-' || g, 150 + (g * 7) % 3000, (g * 13) % 40, '',
                   {base} + g * {step}
            FROM (
                SELECT g, running FROM (
                    SELECT g, SUM({counted}) OVER (PARTITION BY {w} ORDER BY g) AS running
                    FROM generate_series(1, {g_max}) g
                ) by_wallet
                ORDER BY g
            ) ordered""",
        ),
        (
            "wallet balances",
            """UPDATE wallets_wallet w
            SET balance_minor = l.balance_minor, reserved_minor = l.held_minor,
                updated_at = l.last_at
            FROM (
                SELECT wallet_id,
                       SUM(delta_minor) FILTER (
                           WHERE status IN ('posted', 'rolled_back')
                              OR (status = 'held' AND delta_minor > 0)) AS balance_minor,
                       COALESCE(SUM(amount_minor) FILTER (WHERE status = 'held'), 0)
                           AS held_minor,
                       MAX(created_at) AS last_at
                FROM wallets_transaction GROUP BY wallet_id
            ) l
            WHERE l.wallet_id = w.id""",
        ),
        (
            "audit records",
            f"""INSERT INTO wallets_auditrecord (at, actor_label, action, target_type, target_id,
                target_label, reason, before, after)
            SELECT {base} + i * (interval '{days} days' / {max(rows // 50, 1)}),
                   'staff-' || i % 20,
                   (ARRAY['player.block', 'player.unblock', 'provider.settings',
                          'session.close', 'transaction.approve'])[1 + i % 5],
                   'player', (1 + i % {p})::text, 'player-' || (1 + i % {p}),
                   'bench record ' || i, '{{}}'::jsonb, jsonb_build_object('n', i)
            FROM generate_series(1, {max(rows // 50, 1)}) i""",
        ),
    ]


def build(url: str, *, rows: int, players: int) -> dict:
    """Load a freshly migrated database (ids are explicit: it must be empty)."""
    from bench.common import log

    if rows <= players:
        raise ValueError("rows must exceed players (one opening deposit per wallet)")
    timings = {}
    with _connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET synchronous_commit = off")
        partitions = _partition_history_by_month(conn, span_days(rows))
        if partitions:
            log(f"  monthly partitions for the build: {partitions[0]} .. {partitions[-1]}")
        restore = []
        for table in ("wallets_transaction", "wallets_round", "wallets_gamesession"):
            restore += _detach_indexes(conn, table)
        # A bulk load with explicit ids: its rows are written as rows from before the ledger's
        # hash chain (unchained); what the benchmarks write afterwards is chained.
        # The idempotency keys too are written set-based afterwards (those inside the retry
        # horizon, as the migration that introduced them copied), not row by row.
        conn.execute("ALTER TABLE wallets_transaction DISABLE TRIGGER pitboss_chain")
        conn.execute("ALTER TABLE wallets_transaction DISABLE TRIGGER pitboss_key")
        for label, statement in _sql(rows, players):
            started = time.perf_counter()
            conn.execute(statement)
            timings[label] = round(time.perf_counter() - started, 1)
            log(f"  {label}: {timings[label]} s")
        started = time.perf_counter()
        conn.execute(
            # The key row as the ledger's pitboss_key_row trigger writes it.
            """INSERT INTO wallets_idempotencykey
                   (transaction_id, created_at, provider_id, kind, id_scope, external_id,
                    player_id, reference_external_id)
               SELECT id, created_at, provider_id, kind, id_scope, external_id, player_id,
                      CASE WHEN kind = 'rollback' THEN reference_external_id ELSE '' END
               FROM wallets_transaction WHERE created_at >= now() - interval '30 days'"""
        )
        timings["idempotency keys"] = round(time.perf_counter() - started, 1)
        conn.execute("ALTER TABLE wallets_transaction ENABLE TRIGGER pitboss_key")
        conn.execute("ALTER TABLE wallets_transaction ENABLE TRIGGER pitboss_chain")
        started = time.perf_counter()
        for statement in restore:
            conn.execute(statement)
        timings["indexes"] = round(time.perf_counter() - started, 1)
        log(f"  indexes and foreign keys: {timings['indexes']} s")
        for table in (
            "wallets_provider",
            "wallets_player",
            "wallets_wallet",
            "wallets_gamesession",
            "wallets_round",
            "wallets_transaction",
            "wallets_auditrecord",
        ):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        timings["vacuum"] = round(time.perf_counter() - started, 1)
        conn.execute(
            f"CREATE TABLE {META_TABLE} (rows bigint NOT NULL, players integer NOT NULL, "
            "built_at timestamptz NOT NULL DEFAULT now(), timings jsonb)"
        )
        conn.execute(
            f"INSERT INTO {META_TABLE} (rows, players, timings) VALUES (%s, %s, %s)",
            [rows, players, json.dumps(timings)],
        )
    return timings


def check(url: str, rows: int) -> dict:
    """Row counts (all, and those of the build: ids 1..rows; benchmarks may have added bets
    since), wallets whose balance or reserved is off their ledger, and the ledger's largest
    per-wallet running-balance error (balance_after_minor)."""
    with _connect(url) as conn:
        ledger_rows = conn.execute("SELECT COUNT(*) FROM wallets_transaction").fetchone()[0]
        built = conn.execute(
            "SELECT COUNT(*) FROM wallets_transaction WHERE id <= %s", [rows]
        ).fetchone()[0]
        off = conn.execute(
            """
            SELECT COUNT(*) FROM wallets_wallet w
            LEFT JOIN (
                SELECT wallet_id,
                       SUM(delta_minor) FILTER (
                           WHERE status IN ('posted', 'rolled_back')
                              OR (status = 'held' AND delta_minor > 0)) AS balance_minor,
                       COALESCE(SUM(amount_minor) FILTER (WHERE status = 'held'), 0) AS held
                FROM wallets_transaction GROUP BY wallet_id) l ON l.wallet_id = w.id
            WHERE w.balance_minor <> COALESCE(l.balance_minor, 0)
               OR w.reserved_minor <> COALESCE(l.held, 0)
               OR w.reserved_minor > w.balance_minor
            """
        ).fetchone()[0]
        last_after_off = conn.execute(
            """
            SELECT COUNT(*) FROM wallets_wallet w
            JOIN LATERAL (SELECT balance_after_minor FROM wallets_transaction t
                          WHERE t.wallet_id = w.id ORDER BY id DESC LIMIT 1) t ON TRUE
            WHERE t.balance_after_minor <> w.balance_minor
            """
        ).fetchone()[0]
        invalid_indexes = [name for name, _ in _invalid_ledger_indexes(conn)]
        partitions = dict(
            conn.execute(
                "SELECT c.relname, COALESCE(n.rows, 0) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid LEFT JOIN ("
                "  SELECT tableoid, COUNT(*) AS rows FROM wallets_transaction GROUP BY 1"
                ") n ON n.tableoid = c.oid "
                "WHERE i.inhparent = 'wallets_transaction'::regclass"
            ).fetchall()
        )
        kinds = dict(
            conn.execute(
                "SELECT kind || '/' || status, COUNT(*) FROM wallets_transaction GROUP BY 1"
            ).fetchall()
        )
    return {
        "ledger_rows": ledger_rows,
        "built_rows": built,
        "wallets_off_ledger": off,
        "wallets_last_balance_after_off": last_after_off,
        "invalid_ledger_indexes": invalid_indexes,
        "partitions": partitions,
        "kinds": kinds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows, checked, dropped")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--players", type=int)
    parser.add_argument("--name", help="database name (default from the size)")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    from bench.common import database_name, drop_database, emit

    server_url = os.environ["DATABASE_URL"]
    rows = 20_000 if args.quick else args.rows
    name = args.name or (
        f"pitboss_bench_ledger_q{os.getpid()}" if args.quick else database_name_for(rows)
    )
    url, info = ensure_ledger(
        server_url, name, rows, players=args.players, rebuild=args.rebuild or args.quick
    )
    try:
        result = {"bench": "ledger_scale", "rows": rows, **info, **check(url, rows)}
    finally:
        if args.quick:
            drop_database(server_url, database_name(url))
    result["ok"] = (
        result["built_rows"] == rows
        and result["wallets_off_ledger"] == 0
        and not result["invalid_ledger_indexes"]
    )
    emit(result)
    return 0 if result["ok"] else 1


def kept_sizes(labels: str) -> list[tuple[str, int, str]]:
    """(label, rows, kept database name) for each size of a comma-separated list such as
    "1m,10m" (millions of ledger rows)."""
    sizes = []
    for label in labels.split(","):
        millions = label.strip().removesuffix("m")
        if not millions.isdigit() or int(millions) == 0:
            raise SystemExit(
                f"a ledger size is a whole number of millions such as 10m, not {label!r}"
            )
        rows = int(millions) * 1_000_000
        sizes.append((label.strip(), rows, database_name_for(rows)))
    return sizes


def database_name_for(rows: int) -> str:
    if rows % 1_000_000 == 0:
        return f"pitboss_bench_ledger_{rows // 1_000_000}m"
    return f"pitboss_bench_ledger_{rows}"


if __name__ == "__main__":
    sys.exit(main())
