"""Benchmark: a provider report of 1,000,000 rows reconciled end to end.

    PITBOSS_ENV=development DATABASE_URL=... \\
        .venv/bin/python -m bench.reconciliation_report [--quick]

Creates a provider, players and a ledger holding the report's transactions (set-based SQL,
not the ORM), writes the report as a CSV file on disk (streamed), reconciles it through
reconciliation.services.reconcile_provider_report (parse, COPY to staging, classify in SQL,
discrepancies), prints one JSON line, then deletes everything it created. About one row in a
thousand is made to mismatch (amount, status, missing on either side), and a few are malformed.

Peak memory is ru_maxrss of this process (the database server's memory is not included); it is
printed before and after the reconciliation, to show it does not grow with the report.
"""

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


PLAYERS = 2000


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _backend_cpu_s(backend_pid: int) -> float | None:
    """CPU seconds of this connection's PostgreSQL backend, when the server runs here."""
    try:
        with open(f"/proc/{backend_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _seed_ledger(cursor, *, provider_id: int, tag: str, rows: int, base: datetime) -> None:
    """Players, wallets and `rows` ledger rows of the provider, set-based. Every 1000th row
    (offset 500) is left out of the ledger: missing in wallet. Balances are not consistent
    with these rows (the report reconciliation does not look at them); all is deleted after."""
    cursor.execute(
        """
        INSERT INTO wallets_player (external_id, currency, country, status, status_reason,
                                    created_at)
        SELECT %(tag)s || '-p' || g, 'EUR', 'MT', 'active', '', now()
        FROM generate_series(1, %(players)s) g
        """,
        {"tag": tag, "players": PLAYERS},
    )
    cursor.execute(
        """
        INSERT INTO wallets_wallet (player_id, currency, balance_minor, reserved_minor,
                                    created_at, updated_at)
        SELECT id, 'EUR', 0, 0, now(), now() FROM wallets_player
        WHERE external_id LIKE %(prefix)s
        """,
        {"prefix": f"{tag}-p%"},
    )
    cursor.execute(
        """
        WITH w AS (
            SELECT w.id, w.player_id, substring(p.external_id from %(skip)s)::int AS n
            FROM wallets_wallet w JOIN wallets_player p ON p.id = w.player_id
            WHERE p.external_id LIKE %(prefix)s
        )
        INSERT INTO wallets_transaction (
            kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
            balance_after_minor, external_id, round_external_id, reference_external_id,
            game_id, request_id, processing_us, lock_wait_us, note, created_at,
            player_id, provider_id, wallet_id)
        SELECT CASE WHEN g %% 3 = 0 THEN 'win' ELSE 'bet' END,
               CASE WHEN g %% 1000 = 300 THEN 'rolled_back' ELSE 'posted' END,
               'EUR', 100 + g %% 5000,
               CASE WHEN g %% 3 = 0 THEN 100 + g %% 5000 ELSE -(100 + g %% 5000) END,
               0, 0, %(tag)s || '-t' || g, %(tag)s || '-r' || (g / 2), '', 'slot', '', 0, 0, '',
               %(base)s + g * interval '1 millisecond',
               w.player_id, %(provider)s, w.id
        FROM generate_series(1, %(rows)s) g
        JOIN w ON w.n = 1 + g %% %(players)s
        WHERE g %% 1000 <> 500
        """,
        {
            "tag": tag,
            "prefix": f"{tag}-p%",
            "skip": len(tag) + 3,
            "provider": provider_id,
            "rows": rows,
            "base": base,
            "players": PLAYERS,
        },
    )
    # Ledger rows the report will not list: missing at provider.
    cursor.execute(
        """
        INSERT INTO wallets_transaction (
            kind, status, currency, amount_minor, delta_minor, reserved_used_minor,
            balance_after_minor, external_id, round_external_id, reference_external_id,
            game_id, request_id, processing_us, lock_wait_us, note, created_at,
            player_id, provider_id, wallet_id)
        SELECT 'win', 'posted', 'EUR', 777, 777, 0, 0, %(tag)s || '-extra' || g, '', '', '', '',
               0, 0, '', %(base)s + g * interval '1 second', w.player_id, %(provider)s, w.id
        FROM generate_series(1, %(extra)s) g
        CROSS JOIN LATERAL (SELECT id, player_id FROM wallets_wallet
                            ORDER BY id DESC LIMIT 1) w
        """,
        {"tag": tag, "provider": provider_id, "base": base, "extra": max(1, rows // 1000)},
    )
    cursor.execute("ANALYZE wallets_transaction")


def _write_report(path: str, *, tag: str, rows: int, base: datetime) -> None:
    """The provider's report, streamed to disk: row g as the ledger has it, except every
    1000th (offset 100) with another amount and offset 300 said posted where the wallet rolled
    it back; every 10000th (offset 7) is malformed."""
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["transaction_id", "round_id", "player", "kind", "amount", "currency", "status", "time"]
        )
        for g in range(1, rows + 1):
            amount_minor = 100 + g % 5000
            if g % 1000 == 100:
                amount_minor += 1
            amount = f"{amount_minor // 100}.{amount_minor % 100:02d}"
            if g % 10000 == 7:
                amount = "n/a"
            moment = base + timedelta(milliseconds=g)
            writer.writerow(
                [
                    f"{tag}-t{g}",
                    f"{tag}-r{g // 2}",
                    f"{tag}-p{1 + g % PLAYERS}",
                    "win" if g % 3 == 0 else "bet",
                    amount,
                    "EUR",
                    "posted",
                    moment.isoformat(),
                ]
            )


def _cleanup(cursor, *, provider_id: int, tag: str) -> None:
    cursor.execute(
        "DELETE FROM reconciliation_reportrow WHERE report_id IN "
        "(SELECT id FROM reconciliation_providerreport WHERE provider_id = %s)",
        [provider_id],
    )
    cursor.execute("DELETE FROM reconciliation_discrepancy WHERE provider_id = %s", [provider_id])
    cursor.execute(
        "SELECT run_id FROM reconciliation_providerreport WHERE provider_id = %s", [provider_id]
    )
    runs = [r[0] for r in cursor.fetchall()]
    cursor.execute(
        "DELETE FROM reconciliation_providerreport WHERE provider_id = %s", [provider_id]
    )
    cursor.execute("DELETE FROM reconciliation_reconciliationrun WHERE id = ANY(%s)", [runs])
    cursor.execute("DELETE FROM wallets_idempotencykey WHERE provider_id = %s", [provider_id])
    cursor.execute("DELETE FROM wallets_transaction WHERE provider_id = %s", [provider_id])
    cursor.execute(
        "DELETE FROM wallets_wallet WHERE player_id IN "
        "(SELECT id FROM wallets_player WHERE external_id LIKE %s)",
        [f"{tag}-p%"],
    )
    cursor.execute("DELETE FROM wallets_player WHERE external_id LIKE %s", [f"{tag}-p%"])
    cursor.execute("DELETE FROM wallets_providercredential WHERE provider_id = %s", [provider_id])
    cursor.execute("DELETE FROM wallets_provider WHERE id = %s", [provider_id])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args(argv)
    rows = args.rows or (10_000 if args.quick else 1_000_000)

    _setup_django()
    from django.db import connection

    from reconciliation import parsing, services
    from wallets.models import Provider

    tag = f"benchrec{uuid.uuid4().hex[:8]}"
    provider = Provider.objects.create(
        code=tag, name="Reconciliation benchmark", currencies=["EUR"]
    )
    base = datetime.now(UTC) - timedelta(days=2)
    result: dict = {"bench": "reconciliation_report", "rows": rows}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "report.csv")
        try:
            started = time.perf_counter()
            with connection.cursor() as cursor:
                _seed_ledger(cursor, provider_id=provider.pk, tag=tag, rows=rows, base=base)
            result["seed_ledger_s"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            _write_report(path, tag=tag, rows=rows, base=base)
            result["write_report_s"] = round(time.perf_counter() - started, 2)
            result["report_mb"] = round(os.path.getsize(path) / 1e6, 1)

            rss_before = _rss_mb()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend_pid = cursor.fetchone()[0]
            cpu_before, backend_before = _cpu_s(), _backend_cpu_s(backend_pid)
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            with open(path, "rb") as stream:
                run = services.reconcile_provider_report(
                    provider=provider,
                    rows=parsing.iter_csv(stream),
                    report_format="csv",
                    filename="report.csv",
                )
            result["reconcile_s"] = round(time.perf_counter() - started, 2)
            # CPU time, which does not depend on how busy the machine is: this process
            # (reading, validating) and its PostgreSQL backend (COPY, SQL). The wall time above
            # does; the load average says how busy the machine was.
            result["cpu_s_python"] = round(_cpu_s() - cpu_before, 2)
            backend_after = _backend_cpu_s(backend_pid)
            if backend_before is not None and backend_after is not None:
                result["cpu_s_postgres"] = round(backend_after - backend_before, 2)
            result["load_average_1m"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
            result["peak_rss_mb_before"] = round(rss_before, 1)
            result["peak_rss_mb"] = round(_rss_mb(), 1)
            result["phase_ms"] = run.phase_ms
            result["counts"] = run.counts
            result["pending"] = run.pending
            result["discrepancies_opened"] = run.discrepancies_opened
            result["target_s"] = 20
        finally:
            started = time.perf_counter()
            with connection.cursor() as cursor:
                _cleanup(cursor, provider_id=provider.pk, tag=tag)
            result["cleanup_s"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
