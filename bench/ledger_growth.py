"""Benchmark: does the wallet stay as fast as the ledger grows? The same measurements over a
smaller and a larger kept ledger (bench.ledger_scale; by default 1,000,000 and 10,000,000
rows, the ledgers the other scale benchmarks keep), each figure's large/small ratio against
the target: within 20 % (ratio <= 1.20).

    python -m bench.ledger_growth [--quick] [--sizes 1m,10m] [--duration S] [--turns T]
    python -m bench.ledger_growth --sizes 10m,50m     # the README's figure

Per ledger size, in this order:
- bets over HTTP: a fresh provider and 200 funded players with open sessions are added to the
  kept ledger, the production web server (config/server.py) runs on it, and wrk sends fresh
  bets at 32 connections (`--turns` runs, the best kept). The bets stay in the kept database
  (a few tens of thousands of rows against millions; bench.ledger_scale checks the rows it
  built, by id);
- list pages: bench.list_pages' admin and API pages, median of 5, the slowest reported;
- incremental reconciliation of 10,000 changed wallets (bench.reconciliation_incremental, from
  each wallet's checkpoint);
- the GGR roll-up of the busiest day (bench.reports). A larger ledger is a longer history at
  the same daily volume (bench.ledger_scale.span_days), so the day has as many rows at both
  sizes.

A large ledger takes long to build the first time (50M rows: about half an hour and 28 GB on
this machine, twice that with the local standby running; kept afterwards). --quick compares
5,000- and 10,000-row throwaway ledgers with one-second bet runs by 10 players (CI: it only
proves the harness runs). Prints one JSON line.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.20
STAKE_MINOR = 10


def _measure_bets(duration: float, turns: int, connections: int, players: int) -> dict:
    """In this process (DATABASE_URL = the ledger database): bets over HTTP."""
    from bench.adapters_bet_path import ACCEPTED, run_wrk, seed, write_bets
    from bench.common import setup_django
    from bench.run import Server, _throwaway_keys

    _throwaway_keys()
    setup_django()
    from django.db import connection

    tag = str(int(time.time()))
    code, secret, seats = seed("native", players, f"growth-{tag}")
    connection.close()
    server = Server(dict(os.environ), Path(tempfile.gettempdir()) / "bench-growth.log")
    runs = []
    try:
        server.wait_ready()
        for turn in range(turns):
            path = write_bets(
                "native", code, secret, seats, int(4000 * duration) + 1000, f"g{tag}-{turn}"
            )
            try:
                summary = run_wrk(
                    server.url,
                    path,
                    ACCEPTED["native"],
                    connections=connections,
                    duration=duration,
                )
            finally:
                path.unlink(missing_ok=True)
            runs.append({"rps": summary["rps"], "p99_ms": summary["latency_ms"]["p99"]})
    finally:
        server.stop()
    best = max(runs, key=lambda r: r["rps"])
    return {"runs": runs, "rps": best["rps"], "p99_ms": best["p99_ms"]}


def _ratio(small: float | None, large: float | None) -> float | None:
    if not small or large is None:
        return None
    return round(large / small, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default="1m,10m", help="two ledger sizes, smaller first")
    parser.add_argument("--duration", type=float, help="seconds per bet run")
    parser.add_argument("--turns", type=int)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--measure-bets", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from bench import ledger_scale, list_pages, reconciliation_incremental
    from bench.common import drop_database, emit, log, run_module_on

    duration = args.duration or (1.0 if args.quick else 8.0)
    turns = args.turns or (1 if args.quick else 2)
    if args.measure_bets:
        emit(_measure_bets(duration, turns, args.connections, 10 if args.quick else 200))
        return 0

    server_url = os.environ["DATABASE_URL"]
    if args.quick:
        sizes = [
            ("small", 5_000, f"pitboss_bench_growth_s{os.getpid()}"),
            ("large", 10_000, f"pitboss_bench_growth_l{os.getpid()}"),
        ]
    else:
        sizes = ledger_scale.kept_sizes(args.sizes)
        if len(sizes) != 2:
            parser.error("--sizes takes two sizes, e.g. 10m,50m")
    result = {"bench": "ledger_growth", "quick": args.quick, "target_ratio": TARGET_RATIO}
    load = [os.getloadavg()[0]]
    try:
        for label, rows, name in sizes:
            url, info = ledger_scale.ensure_ledger(
                server_url, name, rows, players=1_000 if args.quick else None, rebuild=args.quick
            )
            log(f"ledger growth: {rows:,}-row ledger ({'built' if info['built'] else 'kept'})")
            entry = {"rows": rows, "build": info}
            entry["bets"] = run_module_on(
                url,
                "bench.ledger_growth",
                "--measure-bets",
                f"--duration={duration}",
                f"--turns={turns}",
                f"--connections={args.connections}",
                *(["--quick"] if args.quick else []),
            )
            log(f"ledger growth: bets {entry['bets']['rps']:.0f} req/s")
            if not args.quick:
                pages = list_pages._measure_in_child(url, 5)["pages"]
                entry["pages_slowest_ms"] = max(page["median_ms"] for page in pages)
                entry["pages_median_ms"] = statistics.median(page["median_ms"] for page in pages)
                entry["pages_ok"] = all(page["status"] == 200 for page in pages)
                log(f"ledger growth: slowest list page {entry['pages_slowest_ms']} ms")
                recon = reconciliation_incremental._measure_in_child(url, 10_000, 3)
                entry["recon_s"] = recon["median_s"]
                entry["recon_ok"] = recon["ok"]
                log(f"ledger growth: incremental reconciliation {entry['recon_s']} s")
                rollup = run_module_on(url, "bench.reports", "--measure=ledger", "--repeats=3")
                entry["rollup_s"] = rollup["day_seconds_median"]
                entry["rollup_day_rows"] = rollup["ledger_rows_of_day"]
                log(f"ledger growth: roll-up of the busiest day {entry['rollup_s']} s")
            result[label] = entry
    finally:
        if args.quick:
            for _label, _rows, name in sizes:
                drop_database(server_url, name)
    load.append(os.getloadavg()[0])
    result["load_average_1m"] = [round(x, 2) for x in load]
    (small_label, small_rows, _), (large_label, large_rows, _) = sizes
    small, large = result[small_label], result[large_label]
    compared = [
        ("bets, 32 connections (time per bet)", 1 / small["bets"]["rps"], 1 / large["bets"]["rps"])
    ]
    if not args.quick:
        compared += [
            ("slowest list page", small["pages_slowest_ms"], large["pages_slowest_ms"]),
            ("incremental reconciliation", small["recon_s"], large["recon_s"]),
            ("roll-up of the busiest day", small["rollup_s"], large["rollup_s"]),
        ]
    figures = [
        {
            "name": f"{small_label}: bets, {args.connections} conns",
            "value": round(small["bets"]["rps"], 1),
            "unit": f"req/s (p99 {small['bets']['p99_ms']:.1f} ms)",
            "target": "",
        },
        {
            "name": f"{large_label}: bets, {args.connections} conns",
            "value": round(large["bets"]["rps"], 1),
            "unit": f"req/s (p99 {large['bets']['p99_ms']:.1f} ms)",
            "target": "",
        },
    ]
    over = []
    for name, small_value, large_value in compared:
        ratio = _ratio(small_value, large_value)
        figures.append(
            {
                "name": f"{name}, {large_rows:,} / {small_rows:,} rows",
                "value": ratio,
                "unit": "x",
                "target": "" if args.quick else f"<= {TARGET_RATIO}",
            }
        )
        if ratio is not None and ratio > TARGET_RATIO:
            over.append(name)
    result["figures"] = figures
    result["over_target"] = over
    result["ok"] = args.quick or all(
        result[label].get("pages_ok", True) and result[label].get("recon_ok", True)
        for label, _r, _n in sizes
    )
    emit(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
