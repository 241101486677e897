"""Benchmark: what player-protection limits add to the bet path (target: at most 5 % more).

Calls wallets.ledger.bet directly (the one-statement fast path: pitboss_bet), many times, for
players without limits and for players with every limit set (deposit, loss and wager per day,
week and month: the bet is checked against six and counts six figures), in the same run and
alternating in small blocks so both modes meet the same machine load. The fraud and monitoring
hooks are off in both modes: the figure is the limits' share of the ledger's own work, the
strictest ratio (with the hooks on, the same added time is a smaller share).

Two measures per mode:
- wall time per bet (p50 and mean), as the caller sees it;
- CPU per bet: this process's CPU plus the PostgreSQL backend's (from /proc), the work the
  machine does for a bet, less sensitive to other load on a shared machine than wall time.

Runs in a throwaway database (`pitboss_bench_protection`, dropped afterwards) and prints one
JSON line.

    python -m bench.protection_bet_path [--quick] [--bets N]
"""

import argparse
import os
import random
import time

DB_NAME = "pitboss_bench_protection"
BLOCK = 100  # bets per block; modes alternate block by block


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1,000 bets per mode")
    parser.add_argument("--bets", type=int, default=6_000, help="bets per mode")
    args = parser.parse_args()
    bets = 1_000 if args.quick else args.bets

    from bench.common import drop_database, emit, log, recreate_database, setup_django

    base_url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = recreate_database(base_url, DB_NAME)
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        log(f"protection bet path: {bets} bets per mode, alternating in blocks of {BLOCK}")
        result = {"bench": "protection_bet_path", "bets_per_mode": bets, **_run(bets)}
    finally:
        connection.close()
        drop_database(base_url, DB_NAME)
    emit(result)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def _backend_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(bets: int) -> dict:
    from django.db import connection

    from protection import services as protection
    from tests import factories
    from wallets import hooks, ledger

    hooks.screener = None
    hooks.ledger_listeners[:] = []
    hooks.decline_recorders[:] = []
    hooks.call_observers[:] = []

    provider, _ = factories.make_provider("bench-protection")
    sessions: dict[str, list] = {"without": [], "with": []}
    for mode in sessions:
        for n in range(20):
            player = factories.funded_player(10_000_000_00, external_id=f"bench-{mode}-{n}")
            if mode == "with":
                for kind in ("deposit", "loss", "wager"):
                    for period in ("day", "week", "month"):
                        protection.set_limit(
                            player=player,
                            kind=kind,
                            period=period,
                            currency="EUR",
                            amount=1_000_000_000_00,
                            reason="benchmark",
                        )
            session, _ = factories.open_session(player, provider)
            sessions[mode].append(session)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    rng = random.Random(7)
    counter = 0

    def one_bet(mode: str) -> None:
        nonlocal counter
        counter += 1
        ledger.bet(
            provider=provider,
            session=rng.choice(sessions[mode]),
            transaction_id=f"pb-{counter}",
            round_id=f"pr-{counter}",
            amount_minor=rng.choice([1_00, 2_00, 5_00, 10_00]),
            currency="EUR",
        )

    for mode in ("without", "with") * 100:  # warm up: connection, plans, caches
        one_bet(mode)
    wall: dict[str, list[float]] = {"without": [], "with": []}
    cpu = {"without": 0.0, "with": 0.0}
    for block in range(2 * (bets // BLOCK)):
        mode = ("without", "with")[block % 2]
        cpu_before = time.process_time() + _backend_cpu_seconds(backend)
        for _ in range(BLOCK):
            started = time.perf_counter()
            one_bet(mode)
            wall[mode].append((time.perf_counter() - started) * 1_000_000)
        cpu[mode] += time.process_time() + _backend_cpu_seconds(backend) - cpu_before

    figures: dict = {}
    for mode in ("without", "with"):
        figures[f"{mode}_p50_us"] = round(_percentile(wall[mode], 0.50))
        figures[f"{mode}_mean_us"] = round(sum(wall[mode]) / len(wall[mode]))
        figures[f"{mode}_cpu_us_per_bet"] = round(cpu[mode] / len(wall[mode]) * 1_000_000)
    figures["p50_added_pct"] = _pct(figures["with_p50_us"], figures["without_p50_us"])
    figures["mean_added_pct"] = _pct(figures["with_mean_us"], figures["without_mean_us"])
    figures["cpu_added_pct"] = _pct(
        figures["with_cpu_us_per_bet"], figures["without_cpu_us_per_bet"]
    )
    figures["target_pct"] = 5.0
    figures["ok"] = figures["cpu_added_pct"] <= 5.0
    return figures


def _pct(value: float, base: float) -> float:
    return round((value - base) / base * 100, 1) if base else 0.0


if __name__ == "__main__":
    main()
