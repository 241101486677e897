"""Benchmark: backtests of the default rules over a large ledger (target: 10,000,000 ledger rows
in under 60 s per backtest).

Uses the kept scale database of bench.ledger_scale (built once: `pitboss_bench_ledger_10m` for
10,000,000 rows, ~20 minutes on the shared development machine; reused and migrated after).
Its game rows spread over 90 days, so a 90-day backtest reads every row. Each default rule's
live version is backtested through fraud.backtest.run_backtest (the function the Celery task
runs) and timed; the hits found are printed beside the time.

    python -m bench.fraud_backtest [--quick] [--rows N] [--days D] [--rules key,key]

--quick backtests a 20,000-row ledger in a throwaway database (dropped afterwards): what
`make bench QUICK=1` and the suite run, with no target.
"""

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="20,000 rows, throwaway database")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rules", default="", help="comma-separated rule keys (default: all)")
    args = parser.parse_args()

    from bench.common import drop_database, setup_django
    from bench.ledger_scale import database_name_for, ensure_ledger

    server_url = os.environ["DATABASE_URL"]
    rows_wanted = 20_000 if args.quick else args.rows
    name = f"pitboss_bench_backtest_q{os.getpid()}" if args.quick else database_name_for(args.rows)
    url, _ = ensure_ledger(server_url, name, rows_wanted, rebuild=args.quick)
    os.environ["DATABASE_URL"] = url
    setup_django()
    try:
        run(args)
    finally:
        if args.quick:
            from django.db import connections

            connections.close_all()
            drop_database(server_url, name)


def run(args) -> None:
    from django.db import connection

    from bench.common import emit, log
    from fraud import services
    from fraud.models import Backtest, FraudRule

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wallets_transaction")
        rows = cursor.fetchone()[0]
    keys = [k for k in args.rules.split(",") if k] or list(
        FraudRule.objects.order_by("key").values_list("key", flat=True)
    )
    result = {"bench": "fraud_backtest", "ledger_rows": rows, "days": args.days, "rules": {}}
    for key in keys:
        version = services.live_version(FraudRule.objects.get(key=key))
        log(f"backtest {key} over {args.days} days of {rows:,} rows")
        started = time.perf_counter()
        backtest = services.request_backtest(
            version_id=version.pk, days=args.days, actor=None, run_now=True
        )
        seconds = round(time.perf_counter() - started, 2)
        result["rules"][key] = {
            "seconds": seconds,
            "status": backtest.status,
            "hits": (backtest.result or {}).get("hits"),
            "players_affected": (backtest.result or {}).get("players_affected"),
            "error": backtest.error or None,
        }
        Backtest.objects.filter(pk=backtest.pk).delete()  # the bench leaves the data as it was
        log(f"  {seconds} s, {backtest.status}, hits {result['rules'][key]['hits']}")
    result["max_seconds"] = max(rule["seconds"] for rule in result["rules"].values())
    result["target_seconds"] = None if args.quick else 60
    result["ok"] = (args.quick or result["max_seconds"] < 60) and all(
        rule["status"] == "done" for rule in result["rules"].values()
    )
    emit(result)


if __name__ == "__main__":
    main()
