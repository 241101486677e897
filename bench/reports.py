"""Benchmark: the money reports over large ledgers.

    python -m bench.reports [--quick] [--repeats R] [--days D]

- GGR roll-up of one day of the 10,000,000-row ledger of bench.ledger_scale (target < 60 s):
  every provider's groups of the ledger's busiest day recomputed from the ledger
  (`reports.services.reroll_days`, what the incremental job does for a dirty day), R times;
  then an incremental run after the last 10,000 ledger rows (a few minutes of traffic).
- Report pages (target < 300 ms): the admin's GGR pages (by provider, by game, by month), a
  provider statement, the player's balance-history page, and the API's GGR report and
  balance-at, over the roll-up of the last D days of that ledger (rolled up first), through
  Django's test Client as a superuser, DEBUG off: median and worst of R requests after a
  warm-up.
- Point-in-time balance of one wallet with 100,000 ledger rows (target < 50 ms): a ledger of
  bench.ledger_scale with a single player (`pitboss_bench_ledger_100001`), the balance and
  reserved at 200 instants spread over its history (`reports.selectors.wallet_at`), and a
  day's statement.

The large ledgers are built by bench.ledger_scale (its bulk load turns the hash-chain trigger
off) and kept; --quick uses a 20,000-row ledger in a throwaway database (the balance figures
then come from its fullest wallet).
Prints one JSON line.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta

ROLLUP_TARGET_S = 60
PAGE_TARGET_MS = 300
BALANCE_TARGET_MS = 50


def _django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    from bench.common import setup_django

    setup_django()


def _ledger_span():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(created_at), MAX(created_at), MAX(id), COUNT(*) FROM wallets_transaction"
        )
        return cursor.fetchone()


def measure_rollup(repeats: int, days: int) -> dict:
    from reports import services
    from reports.models import RollupState

    _first, last, max_id, rows = _ledger_span()
    from django.db import connection

    # The day with the most rounds (the builder's rows come in waves: a quiet day would flatter).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (opened_at AT TIME ZONE 'UTC')::date FROM wallets_round "
            "GROUP BY 1 ORDER BY COUNT(*) DESC, 1 LIMIT 1"
        )
        middle = cursor.fetchone()[0]
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = services.reroll_days(start=middle, end=middle)
        runs.append(time.perf_counter() - started)
    from reports.models import GgrDaily

    day_rows = GgrDaily.objects.filter(day=middle).count()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM wallets_transaction t JOIN wallets_round r ON r.id = t.round_id "
            "WHERE r.opened_at >= %s AND r.opened_at < %s",
            [middle, middle + timedelta(days=1)],
        )
        ledger_rows_of_day = cursor.fetchone()[0]
    # The pages' data: the last `days` days rolled up.
    started = time.perf_counter()
    recent = services.reroll_days(start=last.date() - timedelta(days=days - 1), end=last.date())
    recent_s = time.perf_counter() - started
    # An incremental run after the last 10,000 rows.
    RollupState.objects.update_or_create(
        name="ggr", defaults={"last_id": max(max_id - 10_000, 0), "decided_through": last}
    )
    started = time.perf_counter()
    incremental = services.roll_up()
    incremental_s = time.perf_counter() - started
    return {
        "ledger_rows": rows,
        "day": middle.isoformat(),
        "ledger_rows_of_day": ledger_rows_of_day,
        "rollup_rows_of_day": day_rows,
        "provider_days": result.groups,
        "day_seconds_median": round(statistics.median(runs), 2),
        "day_seconds_max": round(max(runs), 2),
        "recent_days": days,
        "recent_days_seconds": round(recent_s, 1),
        "recent_rollup_rows": recent.rows,
        "incremental_after_10k_rows_seconds": round(incremental_s, 2),
        "incremental_provider_days": incremental.groups,
    }


def _pages() -> list[tuple[str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT code FROM wallets_provider ORDER BY id LIMIT 1")
        code = cursor.fetchone()[0]
        cursor.execute("SELECT MAX(day) FROM reports_ggrdaily")
        last_day = cursor.fetchone()[0]
        cursor.execute("SELECT player_id FROM wallets_wallet ORDER BY id DESC LIMIT 1")
        player = cursor.fetchone()[0]
        cursor.execute("SELECT MAX(created_at) FROM wallets_transaction")
        last_at = cursor.fetchone()[0]
    month = last_day.strftime("%Y-%m")
    to = last_day.isoformat()
    since = (last_day - timedelta(days=29)).isoformat()
    at = (last_at - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    day_ago = (last_at - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        ("admin GGR, 30 days by provider", f"/admin/reports/ggr/?from={since}&to={to}&by=provider"),
        ("admin GGR, 30 days by game", f"/admin/reports/ggr/?from={since}&to={to}&by=game"),
        (
            "admin GGR, 90 days by month",
            f"/admin/reports/ggr/?from={(last_day - timedelta(days=89)).isoformat()}&to={to}"
            "&period=month&by=provider",
        ),
        ("admin provider statement", f"/admin/reports/statements/?provider={code}&month={month}"),
        (
            "admin player balance history",
            f"/admin/reports/players/{player}/?at={at}&from={day_ago}",
        ),
        ("api GGR, 30 days, every group", f"/api/v1/reports/ggr?from={since}&to={to}"),
        (
            "api GGR by provider and month",
            f"/api/v1/reports/ggr?from={since}&to={to}&group=provider,currency,month",
        ),
        ("api balance-at", f"/api/v1/players/{player}/balance-at?at={at}"),
    ]


def measure_pages(repeats: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.filter(username="bench-admin").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-admin", "", None)
    client = Client()
    client.force_login(user)
    pages = []
    for name, url in _pages():
        response = client.get(url)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        pages.append(
            {
                "name": name,
                "url": url,
                "status": response.status_code,
                "median_ms": round(statistics.median(times), 1),
                "max_ms": round(max(times), 1),
            }
        )
    return pages


def measure_balance(samples: int) -> dict:
    from django.db import connection

    from reports import selectors
    from wallets.models import Wallet

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT wallet_id, COUNT(*) FROM wallets_transaction GROUP BY wallet_id "
            "ORDER BY 2 DESC LIMIT 1"
        )
        wallet_id, rows = cursor.fetchone()
    wallet = Wallet.objects.get(pk=wallet_id)
    first, last, _, _ = _ledger_span()
    rng = random.Random(7)
    instants = [first + (last - first) * rng.random() for _ in range(samples)]
    selectors.wallet_at(wallet, instants[0])  # warm-up
    times = []
    for at in instants:
        started = time.perf_counter()
        selectors.wallet_at(wallet, at)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    started = time.perf_counter()
    statement = selectors.wallet_statement(wallet, last - timedelta(days=1), last)
    statement_ms = (time.perf_counter() - started) * 1000
    return {
        "wallet_rows": rows,
        "samples": samples,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
        "max_ms": round(times[-1], 2),
        "statement_day_movements": len(statement.movements),
        "statement_day_ms": round(statement_ms, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--days", type=int, default=30, help="days rolled up for the pages")
    parser.add_argument("--measure", choices=["ledger", "wallet"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    from bench.common import drop_database, emit, log, run_module_on

    repeats = args.repeats or (2 if args.quick else 5)
    if args.measure == "ledger":
        _django(os.environ["DATABASE_URL"])
        result = measure_rollup(repeats, args.days)
        result["pages"] = measure_pages(repeats)
        emit(result)
        return 0
    if args.measure == "wallet":
        _django(os.environ["DATABASE_URL"])
        emit(measure_balance(40 if args.quick else 200))
        return 0

    from bench import ledger_scale

    server_url = os.environ["DATABASE_URL"]
    if args.quick:
        ledger = ("quick", 20_000, 1_000, f"pitboss_bench_reports_q{os.getpid()}")
        one_wallet = None  # the quick ledger's fullest wallet (one build is enough)
    else:
        ledger = ("10m", 10_000_000, None, ledger_scale.database_name_for(10_000_000))
        one_wallet = (100_001, ledger_scale.database_name_for(100_001))
    result = {"bench": "reports", "quick": args.quick}
    load = [os.getloadavg()[0]]
    try:
        _label, rows, players, name = ledger
        url, info = ledger_scale.ensure_ledger(
            server_url, name, rows, players=players, rebuild=args.quick
        )
        log(f"GGR roll-up and report pages over a {rows:,}-row ledger")
        result["ledger"] = {
            "build": info,
            **run_module_on(
                url,
                "bench.reports",
                "--measure=ledger",
                f"--repeats={repeats}",
                f"--days={args.days}",
            ),
        }
        if one_wallet is not None:
            wallet_rows, wallet_name = one_wallet
            url, info = ledger_scale.ensure_ledger(
                server_url, wallet_name, wallet_rows, players=1, rebuild=False
            )
        log("point-in-time balance of the fullest wallet")
        result["wallet"] = {
            "build": info,
            **run_module_on(url, "bench.reports", "--measure=wallet"),
        }
    finally:
        if args.quick:
            drop_database(server_url, ledger[3])
    load.append(os.getloadavg()[0])
    result["load_average_1m"] = [round(x, 2) for x in load]
    ledger_result, wallet_result = result["ledger"], result["wallet"]
    figures = [
        {
            "name": f"GGR roll-up of one day ({ledger_result['ledger_rows_of_day']:,} rows of a "
            f"{ledger_result['ledger_rows']:,}-row ledger)",
            "value": ledger_result["day_seconds_median"],
            "unit": "s",
            "target": "" if args.quick else f"< {ROLLUP_TARGET_S} s",
        },
        {
            "name": "GGR incremental run after 10,000 new rows",
            "value": ledger_result["incremental_after_10k_rows_seconds"],
            "unit": "s",
            "target": "",
        },
        *[
            {
                "name": page["name"],
                "value": page["median_ms"],
                "unit": "ms",
                "target": "" if args.quick else f"< {PAGE_TARGET_MS} ms",
            }
            for page in ledger_result["pages"]
        ],
        {
            "name": f"balance at an instant, wallet of {wallet_result['wallet_rows']:,} rows "
            "(median)",
            "value": wallet_result["median_ms"],
            "unit": "ms",
            "target": "" if args.quick else f"< {BALANCE_TARGET_MS} ms",
        },
        {
            "name": "the same, p95",
            "value": wallet_result["p95_ms"],
            "unit": "ms",
            "target": "" if args.quick else f"< {BALANCE_TARGET_MS} ms",
        },
    ]
    result["figures"] = figures
    result["ok"] = all(page["status"] == 200 for page in ledger_result["pages"])
    emit(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
