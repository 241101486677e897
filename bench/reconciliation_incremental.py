"""Benchmark: the incremental internal reconciliation with 10,000 changed wallets, over a ledger
of 10,000,000 rows and one of 1,000,000 rows (the two should cost about the same).

    python -m bench.reconciliation_incremental [--quick] [--changed N] [--repeats R]

Full mode uses the kept databases of bench.ledger_scale (`pitboss_bench_ledger_1m` and `_10m`,
built when missing; 100,000 wallets each, so a wallet has 10 or 100 ledger rows). --quick builds
20,000- and 200,000-row ledgers (1,000 wallets, 200 changed) in throwaway databases.

Each repetition, in its own process per database: a finished incremental run is recorded as the
previous one (watermark = now, the ledger's last id), as the beat job would have left it; then
N random wallets are written the way the ledger writes them (one new deposit row each, balance
and updated_at updated, set-based), ten of them with a cached balance made 1 minor unit wrong;
then reconciliation.services.reconcile_wallets() runs as the beat job runs it and is timed:
wall clock, and the CPU time of its PostgreSQL backend when the server is local (the wall time
depends on how busy the machine is, the CPU time hardly). It must check exactly the N wallets
and find exactly the ten drifts; the rows, the drift and the discrepancies are then undone, so
that the kept database stays consistent and of its size (the wallets' checkpoints put back as
they were). Every wallet is proven at its latest row once first (a full run, as after
installing; kept with the database): the incremental runs start at those checkpoints, so their
cost follows the rows written since, not each wallet's history. Prints one JSON line: per
ledger size the median seconds and backend CPU seconds, the runs, and the large/small time
ratio.
"""

import argparse
import json
import os
import statistics
import sys
import time

DRIFTS = 10

# The rows a repetition added (ids past its watermark, so a primary-key range) and their effect
# on the balances.
# The rows' idempotency keys go with them (the ledger's delete trigger). The wallets' chain heads
# are cleared: the next row written finds the head again from the ledger (pitboss_chain_start).
UNDO_SQL = """
WITH gone AS (
    DELETE FROM wallets_transaction
    WHERE id > %(after)s AND external_id LIKE %(prefix)s
    RETURNING id, wallet_id, delta_minor
)
UPDATE wallets_wallet w SET balance_minor = w.balance_minor - g.total,
    chain_head_id = NULL, chain_head_hash = NULL
FROM (SELECT wallet_id, SUM(delta_minor) AS total FROM gone GROUP BY wallet_id) g
WHERE w.id = g.wallet_id
"""


def _backend_cpu_s(backend_pid: int) -> float | None:
    """CPU seconds of a PostgreSQL backend, when the server runs on this machine: a figure
    that, unlike the wall time, hardly depends on how busy the machine is."""
    try:
        with open(f"/proc/{backend_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _measure(changed: int, repeats: int) -> dict:
    """In this process (DATABASE_URL = the ledger database): `repeats` timed runs."""
    from bench.common import setup_django

    setup_django()
    from django.db import connection

    from reconciliation import services
    from reconciliation.choices import DiscrepancyKind, RunKind, RunStatus
    from reconciliation.models import Discrepancy, ReconciliationRun

    runs, last_write = [], 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM wallets_wallet")
        wallets = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM wallets_transaction")
        ledger_rows = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM reconciliation_walletcheckpoint")
        proven = cursor.fetchone()[0]
    checkpoint_build_s = None
    if proven < wallets:
        # Every wallet proven at its latest row once (what the first run after installing
        # does): the incremental runs below start at those checkpoints.
        started = time.perf_counter()
        proving = services.reconcile_wallets(full=True, triggered_by="bench (checkpoints)")
        checkpoint_build_s = round(time.perf_counter() - started, 1)
        Discrepancy.objects.filter(last_run=proving).delete()
    for repeat in range(repeats):
        # Wallets written by the previous repetition are inside the watermark's overlap window
        # for this long; wait it out so this run sees only this repetition's wallets.
        wait = services.WATERMARK_OVERLAP_SECONDS + 1 - (time.monotonic() - last_write)
        if wait > 0:
            time.sleep(wait)
        with connection.cursor() as cursor:
            cursor.execute("SELECT now(), COALESCE(MAX(id), 0) FROM wallets_transaction")
            watermark_at, watermark_id = cursor.fetchone()
        ReconciliationRun.objects.create(
            kind=RunKind.INCREMENTAL,
            status=RunStatus.FINISHED,
            triggered_by="bench (previous run)",
            watermark_at=watermark_at,
            watermark_transaction_id=watermark_id,
        )
        tag = f"{int(time.time() * 1000)}-{repeat}"
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(%s)", [((repeat * 7919) % 1000) / 1000])
            cursor.execute(
                "CREATE TEMPORARY TABLE bench_changed AS "
                "SELECT id, row_number() OVER () AS n FROM "
                "(SELECT id FROM wallets_wallet ORDER BY random() LIMIT %s) pick",
                [changed],
            )
            # What a ledger deposit writes: the row, the balance, updated_at (the watermark).
            # Two statements: the ledger's chain trigger moves the wallet's chain head when the
            # row is inserted, and one command may not update the same wallet row twice.
            cursor.execute(
                """
                INSERT INTO wallets_transaction (wallet_id, player_id, kind, status,
                    currency, amount_minor, delta_minor, reserved_used_minor,
                    balance_after_minor, external_id, round_external_id,
                    reference_external_id, game_id, request_id, processing_us, lock_wait_us,
                    note, created_at)
                SELECT w.id, w.player_id, 'deposit', 'posted', w.currency, 100, 100, 0,
                       w.balance_minor + 100, 'bench-inc-' || %(tag)s || '-' || c.n, '', '',
                       '', '', 0, 0, '', now()
                FROM bench_changed c JOIN wallets_wallet w ON w.id = c.id
                """,
                {"tag": tag},
            )
            cursor.execute(
                """
                UPDATE wallets_wallet w
                SET balance_minor = balance_minor + 100
                    + CASE WHEN c.n <= %(drifts)s THEN 1 ELSE 0 END,
                    updated_at = now()
                FROM bench_changed c
                WHERE w.id = c.id
                """,
                {"drifts": DRIFTS},
            )
            cursor.execute("SELECT id FROM bench_changed WHERE n <= %s", [DRIFTS])
            drifted = sorted(row[0] for row in cursor.fetchall())
            # The run moves these wallets' checkpoints past the rows undone below: kept to
            # be put back.
            cursor.execute(
                "CREATE TEMPORARY TABLE bench_checkpoints AS SELECT * FROM "
                "reconciliation_walletcheckpoint WHERE wallet_id IN (SELECT id FROM bench_changed)"
            )
            cursor.execute("DROP TABLE bench_changed")
        last_write = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
        backend_before = _backend_cpu_s(backend_pid)
        cpu_before = time.process_time()
        started = time.perf_counter()
        run = services.reconcile_wallets(triggered_by="bench")
        seconds = time.perf_counter() - started
        backend_after = _backend_cpu_s(backend_pid)
        found = sorted(
            Discrepancy.objects.filter(
                last_run=run, kind=DiscrepancyKind.BALANCE_DRIFT
            ).values_list("wallet_id", flat=True)
        )
        # Undo this repetition (its rows, their balance and the injected drift), so that the
        # kept database stays consistent and of the size it was built at.
        with connection.cursor() as cursor:
            cursor.execute(UNDO_SQL, {"after": watermark_id, "prefix": f"bench-inc-{tag}-%"})
            cursor.execute(
                "UPDATE wallets_wallet SET balance_minor = balance_minor - 1 WHERE id = ANY(%s)",
                [drifted],
            )
            cursor.execute(
                "DELETE FROM reconciliation_walletcheckpoint WHERE wallet_id IN "
                "(SELECT wallet_id FROM bench_checkpoints)"
            )
            cursor.execute(
                "INSERT INTO reconciliation_walletcheckpoint SELECT * FROM bench_checkpoints"
            )
            cursor.execute("DROP TABLE bench_checkpoints")
        Discrepancy.objects.filter(last_run=run).delete()
        runs.append(
            {
                "seconds": round(seconds, 3),
                "python_cpu_s": round(time.process_time() - cpu_before, 3),
                "postgres_cpu_s": (
                    round(backend_after - backend_before, 3)
                    if backend_before is not None and backend_after is not None
                    else None
                ),
                "wallets_checked": run.wallets_checked,
                "drifts_found": len(found),
                "ok": run.wallets_checked == changed and found == drifted,
            }
        )
    return {
        "wallets": wallets,
        "ledger_rows": ledger_rows,
        "rows_per_wallet": round(ledger_rows / max(wallets, 1), 1),
        "changed_wallets": changed,
        "checkpoint_build_s": checkpoint_build_s,
        "median_s": round(statistics.median(r["seconds"] for r in runs), 3),
        "median_postgres_cpu_s": (
            round(statistics.median(r["postgres_cpu_s"] for r in runs), 3)
            if all(r["postgres_cpu_s"] is not None for r in runs)
            else None
        ),
        "runs": runs,
        "ok": all(r["ok"] for r in runs),
    }


def _measure_in_child(url: str, changed: int, repeats: int) -> dict:
    from bench.common import run_module_on

    return run_module_on(
        url,
        "bench.reconciliation_incremental",
        "--measure",
        f"--changed={changed}",
        f"--repeats={repeats}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--changed", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from bench.common import database_name, drop_database, emit, log

    if args.measure:
        emit(_measure(args.changed, args.repeats))
        return 0

    from bench import ledger_scale

    server_url = os.environ["DATABASE_URL"]
    changed = args.changed or (200 if args.quick else 10_000)
    repeats = args.repeats or (2 if args.quick else 3)
    if args.quick:
        sizes = [("small", 20_000, f"pitboss_bench_recinc_s{os.getpid()}"),
                 ("large", 200_000, f"pitboss_bench_recinc_l{os.getpid()}")]  # fmt: skip
        players = 1_000
    else:
        sizes = [(label, rows, ledger_scale.database_name_for(rows))
                 for label, rows in (("1m", 1_000_000), ("10m", 10_000_000))]  # fmt: skip
        players = None
    result = {"bench": "reconciliation_incremental", "quick": args.quick, "changed": changed}
    load = [os.getloadavg()[0]]
    try:
        for label, rows, name in sizes:
            url, info = ledger_scale.ensure_ledger(
                server_url, name, rows, players=players, rebuild=args.quick
            )
            log(f"incremental reconciliation, {changed} changed wallets, {rows:,}-row ledger")
            result[label] = {"build": info, **_measure_in_child(url, changed, repeats)}
            if args.quick:
                drop_database(server_url, database_name(url))
    finally:
        if args.quick:
            for _label, _rows, name in sizes:
                drop_database(server_url, name)
    load.append(os.getloadavg()[0])
    small, large = (result[label] for label, _rows, _name in sizes)
    result["ratio_large_to_small"] = round(large["median_s"] / max(small["median_s"], 1e-6), 2)
    result["load_average_1m"] = [round(x, 2) for x in load]
    result["ok"] = small["ok"] and large["ok"]
    result["figures"] = [
        {
            "name": f"incremental recon, {changed} changed wallets, "
            f"{result[label]['ledger_rows']:,}-row ledger",
            "value": result[label]["median_s"],
            "unit": "s",
            "target": "about the same at 1M and 10M rows" if not args.quick else "",
        }
        for label, _rows, _name in sizes
    ]
    result["figures"] += [
        {
            "name": f"incremental recon, PostgreSQL CPU, {result[label]['ledger_rows']:,}-row "
            "ledger",
            "value": result[label]["median_postgres_cpu_s"],
            "unit": "s",
            "target": "",
        }
        for label, _rows, _name in sizes
        if result[label]["median_postgres_cpu_s"] is not None
    ]
    result["figures"] += [
        {
            "name": "incremental recon, large/small ledger time ratio",
            "value": result["ratio_large_to_small"],
            "unit": "x",
            "target": "~1" if not args.quick else "",
        }
    ]
    print(json.dumps({k: result[k] for k in ("ok", "ratio_large_to_small")}), file=sys.stderr)
    emit(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
