"""Benchmark: the idle-session cleanup over 100,000 idle sessions (target < 10 s).

Creates its own data with set-based SQL in a throwaway database (`<db>_bench_cleanup`), half of
the sessions holding a buy-in reservation, runs the same service the beat job runs, checks that
every session was ended once and every reservation released, and prints one JSON line.

    python -m bench.wallets_session_cleanup [--quick] [--sessions N]
"""

import argparse
import json
import os
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5,000 sessions")
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args()
    sessions = 5_000 if args.quick else args.sessions
    players = max(sessions // 10, 1)

    from bench.common import admin_connect, recreate_database, setup_django

    base_url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = recreate_database(base_url, "pitboss_bench_cleanup")
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        result = _run(sessions, players)
    finally:
        connection.close()
        with admin_connect(base_url) as conn:
            conn.execute('DROP DATABASE IF EXISTS "pitboss_bench_cleanup"')
    print(json.dumps(result))


def _run(sessions: int, players: int) -> dict:
    from django.db import connection

    from tests import factories
    from wallets import services

    provider, _ = factories.make_provider("bench-cleanup", idle_timeout_seconds=60)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO wallets_player (external_id, currency, country, status, status_reason,
                                        created_at)
            SELECT 'bench-' || g, 'EUR', 'MT', 'active', '', now()
            FROM generate_series(1, %(players)s) g;
            INSERT INTO wallets_wallet (player_id, currency, balance_minor, reserved_minor,
                                        created_at, updated_at)
            SELECT id, 'EUR', 10000000, 0, now(), now() FROM wallets_player;
            INSERT INTO wallets_gamesession (token_hash, player_id, provider_id, wallet_id,
                currency, game_id, status, created_at, last_activity_at, end_reason, end_note,
                buy_in_minor, reserved_minor, authenticated_at)
            SELECT md5('bench-token-' || g), w.player_id, %(provider)s, w.id, 'EUR', 'slot',
                   'open', now() - interval '2 hours', now() - interval '1 hour', '', '',
                   CASE WHEN g %% 2 = 0 THEN 100 ELSE 0 END,
                   CASE WHEN g %% 2 = 0 THEN 100 ELSE 0 END,
                   now() - interval '2 hours'
            FROM generate_series(1, %(sessions)s) g
            JOIN (SELECT id, player_id, row_number() OVER (ORDER BY id) - 1 AS rn
                  FROM wallets_wallet) w ON w.rn = g %% %(players)s;
            UPDATE wallets_wallet w SET reserved_minor = s.total
            FROM (SELECT wallet_id, SUM(reserved_minor) total FROM wallets_gamesession
                  GROUP BY wallet_id) s WHERE s.wallet_id = w.id;
            ANALYZE;
            """,
            {"players": players, "sessions": sessions, "provider": provider.pk},
        )
    started = time.perf_counter()
    run = services.run_session_cleanup(batch_size=5000, time_budget_seconds=600)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM wallets_gamesession WHERE status = 'open'),"
            " (SELECT COALESCE(SUM(reserved_minor), 0) FROM wallets_wallet)"
        )
        still_open, still_reserved = cursor.fetchone()
    ok = run.sessions_ended == sessions and still_open == 0 and still_reserved == 0
    return {
        "bench": "session_cleanup",
        "sessions": sessions,
        "seconds": round(seconds, 3),
        "sessions_per_second": round(sessions / seconds),
        "target_seconds": 10 if sessions >= 100_000 else None,
        "ok": ok,
    }


if __name__ == "__main__":
    sys.exit(main())
