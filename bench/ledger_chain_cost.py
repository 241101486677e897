"""Benchmark: what the ledger's hash chain adds to the bet path (target: at most 5 %).

Each ledger row's chain hash is written in the row's own transaction from the chain's head on
the wallet row (a SHA-256 of it and the row): by pitboss_bet itself for a bet, by a trigger
for every other writer. This module places bets through wallets.ledger.bet, the function the
wallet API calls, in alternating blocks with the trigger on and off (ALTER TABLE between
blocks; since the bet hashes its own row, "off" only spares the deposits of the set-up, and
the two modes should now agree), and reads the chain's own time per row from PostgreSQL
(pg_stat_user_functions, with track_functions on: the self time of pitboss_chain_digest and
of the trigger function): on a shared machine the difference of two end-to-end figures is
mostly noise; the chain's own time is not.

Runs in a throwaway database (`pitboss_bench_chain`, dropped afterwards) and prints one JSON
line: mean and p50 microseconds per bet in each mode, bets per second, the added cost in per
cent, and the trigger's mean time per row.

    python -m bench.ledger_chain_cost [--quick] [--bets N] [--blocks N]
"""

import argparse
import os
import random
import time

DB_NAME = "pitboss_bench_chain"
TARGET_PCT = 5.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a few hundred bets")
    parser.add_argument("--bets", type=int, default=500, help="bets per block")
    parser.add_argument("--blocks", type=int, default=10, help="blocks per mode")
    args = parser.parse_args()
    bets, blocks = (50, 3) if args.quick else (args.bets, args.blocks)

    from bench.common import drop_database, emit, log, migrated_database, setup_django

    base_url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = migrated_database(base_url, DB_NAME)
    setup_django()
    from django.db import connection

    try:
        log(f"ledger chain cost: {blocks} blocks of {bets} bets per mode")
        result = {"bench": "ledger_chain_cost", "bets_per_mode": bets * blocks}
        result.update(_run(bets, blocks))
        result["target_pct"] = TARGET_PCT
        # Judged on the trigger's own time: the end-to-end difference (added_pct) of two
        # throughputs on a shared machine moves by more than the trigger costs.
        result["ok"] = result.get("trigger_pct_of_bet", result["added_pct"]) <= TARGET_PCT
    finally:
        connection.close()
        drop_database(base_url, DB_NAME)
    emit(result)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def _run(bets: int, blocks: int) -> dict:
    from django.db import connection

    from tests import factories
    from wallets import hooks, ledger

    # The ledger alone: no other app's screener or listener in either mode.
    hooks.screener = None
    hooks.ledger_listeners[:] = []
    hooks.decline_recorders[:] = []
    provider, _ = factories.make_provider("bench-chain")
    sessions = []
    for n in range(20):
        player = factories.make_player(external_id=f"bench-chain-{n}")
        ledger.deposit(
            player=player, currency="EUR", amount_minor=10**10, external_id=f"bench-chain-d{n}"
        )
        session, _ = factories.open_session(player, provider)
        sessions.append(ledger.authenticate(provider=provider, session=session))
        # A history per wallet, so the trigger's look-up of the previous row is a real one.
        for k in range(50):
            _bet(ledger, provider, session, f"seed-{n}-{k}")

    rng = random.Random(7)
    timings: dict[str, list[float]] = {"on": [], "off": []}
    seconds = {"on": 0.0, "off": 0.0}
    counter = 0
    with connection.cursor() as cursor:
        cursor.execute("SET track_functions = 'pl'")
        cursor.execute("SELECT pg_stat_reset()")
    for block in range(2 * blocks + 2):
        mode = ("on", "off")[block % 2]
        _trigger(connection, enabled=mode == "on")
        block_started = time.perf_counter()
        for _ in range(bets):
            counter += 1
            started = time.perf_counter()
            _bet(ledger, provider, rng.choice(sessions), f"b{counter}")
            if block >= 2:  # the first block of each mode warms up
                timings[mode].append((time.perf_counter() - started) * 1_000_000)
        if block >= 2:
            seconds[mode] += time.perf_counter() - block_started
    _trigger(connection, enabled=True)
    with connection.cursor() as cursor:
        # This session's function figures reach the statistics when it is next idle.
        cursor.execute("SELECT pg_stat_force_next_flush()")
    time.sleep(0.2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        # Rows hashed: the digest's calls; the chain's time: its own and the trigger's.
        cursor.execute(
            "SELECT sum(calls) FILTER (WHERE funcname = 'pitboss_chain_digest'), "
            "sum(self_time) FROM pg_stat_user_functions "
            "WHERE funcname IN ('pitboss_chain_row', 'pitboss_chain_digest')"
        )
        found = cursor.fetchone()
    figures = {}
    for mode, values in timings.items():
        figures[f"{mode}_mean_us"] = round(sum(values) / len(values))
        figures[f"{mode}_p50_us"] = round(_percentile(values, 0.50))
        figures[f"{mode}_bets_per_s"] = round(len(values) / seconds[mode], 1)
    figures["added_pct"] = round(
        100 * (figures["off_bets_per_s"] - figures["on_bets_per_s"]) / figures["off_bets_per_s"],
        2,
    )
    if found and found[0]:
        calls, total_ms = int(found[0]), float(found[1])
        figures["trigger_mean_us"] = round(1000 * total_ms / calls, 1)
        figures["trigger_pct_of_bet"] = round(
            100 * figures["trigger_mean_us"] / figures["on_mean_us"], 2
        )
    return figures


def _trigger(connection, *, enabled: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE wallets_transaction "
            f"{'ENABLE' if enabled else 'DISABLE'} TRIGGER pitboss_chain"
        )


def _bet(ledger, provider, session, txn: str) -> None:
    ledger.bet(
        provider=provider,
        session=session,
        transaction_id=txn,
        round_id=f"r-{txn}",
        amount_minor=1_00,
        currency="EUR",
    )


if __name__ == "__main__":
    main()
