"""Benchmark: admin and back-office API list pages over a 10,000,000-row ledger (every
page renders in under 300 ms).

    python -m bench.list_pages [--quick] [--repeats R] [--sizes 10m,1m]

Full mode uses the kept databases of bench.ledger_scale (`pitboss_bench_ledger_10m` and `_1m`,
built when missing). --quick builds a 20,000-row ledger in a throwaway database (CI).

Server-side render time through Django's test Client (no network, no web server): the whole
request (middleware, authentication, view, every SQL query, template or JSON rendering) as a
logged-in superuser, DEBUG off. Per page: one warm-up request (whose SQL queries are captured:
how many, and the slowest), then R timed requests; the median and the worst are reported, with
the status and, for API pages, the `count` and whether it is an estimate (X-Count-Estimated).
Pages: the Django admin changelists of ledger transactions (first page, staff searches and
filters, a later page), rounds, sessions, audit records, wallets and players; the API lists of
transactions (first page, filters, a later page), sessions, audit records and players.
Prints one JSON line.
"""

import argparse
import datetime
import os
import statistics
import sys
import time
from contextlib import ExitStack

TARGET_MS = 300


def _pages(sample: dict) -> list[tuple[str, str]]:
    player, player_ext = sample["player_id"], sample["player_external_id"]
    provider_id, provider_code = sample["provider_id"], sample["provider_code"]
    day_from, day_to = sample["day_from"], sample["day_to"]
    admin = "/admin/wallets/transaction/"
    api = "/api/v1/transactions/"
    return [
        ("admin transactions, first page", admin),
        ("admin transactions, page 50", f"{admin}?p=50"),
        ("admin transactions, by player (raw id filter)", f"{admin}?player__id__exact={player}"),
        ("admin transactions, search player external id", f"{admin}?q={player_ext}"),
        ("admin transactions, search transaction id", f"{admin}?q={sample['external_id']}"),
        ("admin transactions, search round id", f"{admin}?q={sample['round_external_id']}"),
        ("admin transactions, by provider", f"{admin}?provider__id__exact={provider_id}"),
        ("admin transactions, status=held", f"{admin}?status__exact=held"),
        ("admin transactions, kind=rollback", f"{admin}?kind__exact=rollback"),
        (
            "admin transactions, provider + status=rolled_back",
            f"{admin}?provider__id__exact={provider_id}&status__exact=rolled_back",
        ),
        ("admin rounds, first page", "/admin/wallets/round/"),
        ("admin sessions, first page", "/admin/wallets/gamesession/"),
        ("admin sessions, status=open", "/admin/wallets/gamesession/?status__exact=open"),
        ("admin audit records, first page", "/admin/wallets/auditrecord/"),
        ("admin audit records, by action", "/admin/wallets/auditrecord/?action=player.block"),
        ("admin wallets, first page", "/admin/wallets/wallet/"),
        ("admin players, search", f"/admin/wallets/player/?q={player_ext}"),
        ("api transactions, first page", api),
        ("api transactions, page 100", f"{api}?page=100"),
        ("api transactions, by player", f"{api}?player={player}"),
        ("api transactions, by provider", f"{api}?provider={provider_code}"),
        ("api transactions, status=held", f"{api}?status=held"),
        ("api transactions, kind=rollback", f"{api}?kind=rollback"),
        ("api transactions, kind=bet", f"{api}?kind=bet"),
        ("api transactions, kind=bet or win", f"{api}?kind=bet&kind=win"),
        ("api transactions, by transaction id", f"{api}?external_id={sample['external_id']}"),
        ("api transactions, by round id", f"{api}?round_id={sample['round_external_id']}"),
        (
            "api transactions, one day",
            f"{api}?created_after={day_from}&created_before={day_to}",
        ),
        (
            "api transactions, provider + kind=rollback",
            f"{api}?provider={provider_code}&kind=rollback",
        ),
        ("api transactions, ordering=-created_at", f"{api}?ordering=-created_at"),
        ("api sessions, first page", "/api/v1/sessions/"),
        ("api sessions, status=open", "/api/v1/sessions/?status=open"),
        ("api audit, first page", "/api/v1/audit/"),
        ("api players, first page", "/api/v1/players/"),
    ]


def _sample() -> dict:
    """Values staff would filter by, taken from the data (a row near the end of the ledger)."""
    from urllib.parse import quote

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.player_id, p.external_id, t.provider_id, pr.code, t.external_id, "
            "       t.round_external_id, t.created_at "
            "FROM wallets_transaction t JOIN wallets_player p ON p.id = t.player_id "
            "JOIN wallets_provider pr ON pr.id = t.provider_id "
            "WHERE t.id <= (SELECT MAX(id) FROM wallets_transaction) * 9 / 10 "
            "  AND t.kind = 'bet' ORDER BY t.id DESC LIMIT 1"
        )
        row = cursor.fetchone()
    moment = row[6].replace(microsecond=0)
    return {
        "player_id": row[0],
        "player_external_id": row[1],
        "provider_id": row[2],
        "provider_code": row[3],
        "external_id": row[4],
        "round_external_id": row[5],
        "day_from": quote(moment.isoformat()),
        "day_to": quote((moment + datetime.timedelta(days=1)).isoformat()),
    }


def _measure(repeats: int) -> dict:
    """In this process (DATABASE_URL = the ledger database)."""
    os.environ["DEBUG"] = "false"
    os.environ["ALLOWED_HOSTS"] = "testserver"  # the test Client's host
    from bench.common import setup_django

    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection, connections, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.filter(username="bench-admin").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench-admin", "", None)
    client = Client()
    client.force_login(user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM wallets_transaction")
        ledger_rows = cursor.fetchone()[0]
    pages = []
    for name, url in _pages(_sample()):
        reset_queries()
        # Every database's queries: with a replica configured, back-office pages read there.
        with ExitStack() as stack:
            captures = {
                alias: stack.enter_context(CaptureQueriesContext(connections[alias]))
                for alias in connections
            }
            response = client.get(url)
        queries = [q for capture in captures.values() for q in capture.captured_queries]
        read_on = sorted(alias for alias, capture in captures.items() if capture.captured_queries)
        slowest = max(queries, key=lambda q: float(q["time"]), default=None)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        page = {
            "name": name,
            "url": url,
            "status": response.status_code,
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "queries": len(queries),
            "databases": read_on,
            "slowest_query_ms": round(float(slowest["time"]) * 1000, 1) if slowest else None,
            "slowest_query": slowest["sql"][:300] if slowest else None,
        }
        if url.startswith("/api/") and response.status_code == 200:
            page["count"] = response.json()["count"]
            page["count_estimated"] = response.get("X-Count-Estimated") == "true"
        pages.append(page)
    return {"ledger_rows": ledger_rows, "repeats": repeats, "pages": pages}


def _measure_in_child(url: str, repeats: int) -> dict:
    from bench.common import run_module_on

    return run_module_on(url, "bench.list_pages", "--measure", f"--repeats={repeats}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--sizes", default="10m,1m", help="full mode: ledger sizes, e.g. 10m")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from bench.common import drop_database, emit, log

    if args.measure:
        emit(_measure(args.repeats))
        return 0

    from bench import ledger_scale

    server_url = os.environ["DATABASE_URL"]
    repeats = args.repeats or (3 if args.quick else 7)
    if args.quick:
        sizes = [("quick", 20_000, f"pitboss_bench_lists_q{os.getpid()}")]
    else:
        sizes = ledger_scale.kept_sizes(args.sizes)
    result = {"bench": "list_pages", "quick": args.quick, "target_ms": TARGET_MS}
    load = [os.getloadavg()[0]]
    try:
        for label, rows, name in sizes:
            url, info = ledger_scale.ensure_ledger(
                server_url, name, rows, players=1_000 if args.quick else None, rebuild=args.quick
            )
            log(f"list pages over a {rows:,}-row ledger")
            result[label] = {"build": info, **_measure_in_child(url, repeats)}
    finally:
        if args.quick:
            for _label, _rows, name in sizes:
                drop_database(server_url, name)
    load.append(os.getloadavg()[0])
    result["load_average_1m"] = [round(x, 2) for x in load]
    figures, slow = [], []
    for label, _rows, _name in sizes:
        for page in result[label]["pages"]:
            figures.append(
                {
                    "name": f"{label}: {page['name']}",
                    "value": page["median_ms"],
                    "unit": "ms",
                    "target": "" if args.quick else f"< {TARGET_MS} ms",
                }
            )
            if page["median_ms"] >= TARGET_MS:
                slow.append(f"{label}: {page['name']}")
    result["figures"] = figures
    result["pages_over_target"] = slow
    result["ok"] = all(
        page["status"] == 200 for label, _r, _n in sizes for page in result[label]["pages"]
    )
    emit(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
