"""Benchmark: back-office reads moved to the streaming replica while bets load the primary —
how far behind the replica falls, what share of the staff's reads it serves, and what the same
reads cost the bets when they stay on the primary.

Needs DATABASE_REPLICA_URL (a streaming standby of the primary; `make bench` starts one). In a
throwaway database (`pitboss_bench_replica`, made on the primary, reaching the standby by
replication), funded players with open sessions take fresh bets over HTTP from wrk (32
connections) against the production web server, in three phases per turn:

- `bets alone`: nothing else runs;
- `reads on the replica`: back-office reader threads page through the API's list endpoints
  (transactions, sessions, audit records) with a staff token, the server routing them to the
  replica (REPLICA_READS on);
- `reads on the primary`: the same readers with REPLICA_READS=0 (the server restarted).

During the phases with readers the primary's `pg_stat_replication` is sampled every 100 ms
(replay lag in time and in WAL bytes), each reader answer's `X-Read-From` is counted, and the
rows each server returned (pg_stat_database tup_returned + tup_fetched) are compared. Each
figure is the best (bets) or the pooled samples (lag) of `--turns` turns.

    python -m bench.replica_offload [--quick] [--players N] [--duration S] [--readers R]
        [--turns T]

Prints one JSON line.
"""

import argparse
import http.client
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.adapters_bet_path import ACCEPTED, run_wrk, seed, write_bets
from bench.common import (
    admin_connect,
    drop_database,
    emit,
    log,
    migrated_database,
    setup_django,
    with_database,
)

DB_NAME = "pitboss_bench_replica"
READ_PATHS = [
    "/api/v1/transactions/",
    "/api/v1/transactions/?page=2",
    "/api/v1/transactions/?kind=bet",
    "/api/v1/sessions/?status=open",
    "/api/v1/audit/",
]


def staff_token() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_superuser("bench-reader", password=None)
    return Token.objects.create(user=user).key


class Readers:
    """`count` threads reading back-office lists over keep-alive connections until stopped."""

    def __init__(self, url: str, token: str, count: int):
        self.host, self.port = url.removeprefix("http://").split(":")
        self.token = token
        self.count = count
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.answers = 0
        self.failures: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.lags: list[float] = []
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.threads = [
            threading.Thread(target=self._read, args=(n,), daemon=True) for n in range(self.count)
        ]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join()

    def _read(self, n: int) -> None:
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        headers = {"Authorization": f"Token {self.token}", "Host": "127.0.0.1"}
        step = n
        while not self.stop_event.is_set():
            path = READ_PATHS[step % len(READ_PATHS)]
            step += 1
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                self._failed("connection error")
                continue
            source = response.getheader("X-Read-From", "none")
            with self.lock:
                if response.status != 200:
                    status = str(response.status)
                    self.failures[status] = self.failures.get(status, 0) + 1
                    continue
                self.answers += 1
                where = source.split(";")[0]
                self.sources[where] = self.sources.get(where, 0) + 1
                for part in source.split(";")[1:]:
                    name, _, value = part.strip().partition("=")
                    if name == "lag":
                        self.lags.append(float(value))
        connection.close()

    def _failed(self, why: str) -> None:
        with self.lock:
            self.failures[why] = self.failures.get(why, 0) + 1


class LagSampler:
    """The primary's view of its standby every 100 ms: replay lag (s) and WAL bytes behind."""

    SQL = """
        SELECT COALESCE(EXTRACT(EPOCH FROM replay_lag)::float8, 0),
               pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8
        FROM pg_stat_replication ORDER BY replay_lsn LIMIT 1
    """

    def __init__(self, url: str):
        self.url = url
        self.seconds: list[float] = []
        self.bytes: list[float] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join()

    def _sample(self) -> None:
        with admin_connect(self.url) as conn:
            while not self.stop_event.wait(0.1):
                row = conn.execute(self.SQL).fetchone()
                if row is not None:
                    self.seconds.append(row[0])
                    self.bytes.append(row[1])


def rows_returned(url: str) -> int:
    """Rows the server has returned for the bench database since its statistics began."""
    with admin_connect(url) as conn:
        row = conn.execute(
            "SELECT tup_returned + tup_fetched FROM pg_stat_database WHERE datname = %s",
            [DB_NAME],
        ).fetchone()
    return int(row[0]) if row else 0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs (CI)")
    parser.add_argument("--players", type=int)
    parser.add_argument("--duration", type=float, help="seconds per phase")
    parser.add_argument("--readers", type=int, default=4, help="back-office reader threads")
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    replica_url = os.environ.get("DATABASE_REPLICA_URL", "")
    if not replica_url:
        emit(
            {
                "bench": "replica_offload",
                "skipped": "no DATABASE_REPLICA_URL (PITBOSS_REPLICA=1 starts a local standby)",
                "figures": [],
            }
        )
        return
    players = args.players or (10 if args.quick else 200)
    duration = args.duration or (1.0 if args.quick else 8.0)
    turns = 1 if args.quick else max(args.turns, 1)
    from bench.run import Server, _throwaway_keys

    _throwaway_keys()
    base_url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = migrated_database(base_url, DB_NAME)
    os.environ.setdefault("PITBOSS_ENV", "development")
    setup_django()
    from django.db import connection

    primary_db = with_database(base_url, DB_NAME)
    standby_db = with_database(replica_url, DB_NAME)
    server = None
    phases = ("bets alone", "reads on the replica", "reads on the primary")
    results: dict[str, list[dict]] = {phase: [] for phase in phases}
    lag_seconds: list[float] = []
    lag_bytes: list[float] = []
    try:
        log(f"replica offload: seeding {players} players")
        code, secret, seats = seed("native", players)
        token = staff_token()
        connection.close()
        capacity = int(4000 * duration) + 1000
        for turn in range(turns):
            for phase in phases:
                env = dict(os.environ)
                env["REPLICA_READS"] = "0" if phase == "reads on the primary" else "1"
                server = Server(env, Path(tempfile.gettempdir()) / "bench-replica.log")
                server.wait_ready()
                path = write_bets("native", code, secret, seats, capacity, f"t{turn}-{phase[:5]}")
                readers = sampler = None
                before = {
                    "primary": rows_returned(primary_db),
                    "standby": rows_returned(standby_db),
                }
                if phase != "bets alone":
                    readers = Readers(server.url, token, args.readers)
                    sampler = LagSampler(primary_db)
                    sampler.start()
                    readers.start()
                started = time.monotonic()
                try:
                    summary = run_wrk(
                        server.url,
                        path,
                        ACCEPTED["native"],
                        connections=args.connections,
                        duration=duration,
                    )
                finally:
                    elapsed = time.monotonic() - started
                    if readers is not None:
                        readers.stop()
                        sampler.stop()
                    path.unlink(missing_ok=True)
                    server.stop()
                    server = None
                returned = {
                    "primary": rows_returned(primary_db) - before["primary"],
                    "standby": rows_returned(standby_db) - before["standby"],
                }
                entry = {"rps": summary["rps"], "p99": summary["latency_ms"]["p99"]}
                if readers is not None:
                    entry.update(
                        reads_per_s=readers.answers / elapsed,
                        failures=readers.failures,
                        sources=readers.sources,
                        rows_primary=returned["primary"],
                        rows_standby=returned["standby"],
                    )
                    if phase == "reads on the replica":
                        lag_seconds += sampler.seconds
                        lag_bytes += sampler.bytes
                results[phase].append(entry)
                log(
                    f"replica offload: turn {turn + 1}, {phase}: bets {summary['rps']:.0f} req/s"
                    + (
                        f", reads {entry['reads_per_s']:.0f}/s from {entry['sources']}"
                        if readers is not None
                        else ""
                    )
                )
        best = {phase: max(results[phase], key=lambda e: e["rps"]) for phase in phases}
        alone = best["bets alone"]["rps"]
        on_replica, on_primary = best["reads on the replica"], best["reads on the primary"]
        served = sum(e["sources"].get("replica", 0) for e in results["reads on the replica"])
        total = sum(sum(e["sources"].values()) for e in results["reads on the replica"])
        standby_rows = sum(e["rows_standby"] for e in results["reads on the replica"])
        primary_rows = sum(e["rows_primary"] for e in results["reads on the replica"])
        figures = [
            {"name": "bets alone, 32 conns", "value": round(alone, 1), "unit": "req/s"},
            {
                "name": "bets with back-office reads on the replica",
                "value": round(on_replica["rps"], 1),
                "unit": f"req/s ({on_replica['rps'] / alone:.3f} of alone; "
                f"reads {on_replica['reads_per_s']:.0f}/s)",
            },
            {
                "name": "bets with the same reads on the primary",
                "value": round(on_primary["rps"], 1),
                "unit": f"req/s ({on_primary['rps'] / alone:.3f} of alone; "
                f"reads {on_primary['reads_per_s']:.0f}/s)",
            },
            {
                "name": "back-office reads served by the replica",
                "value": round(100 * served / total, 1) if total else None,
                "unit": f"% of {total} answers; rows returned: standby {standby_rows:,}, "
                f"primary {primary_rows:,} (bets included)",
            },
            {
                "name": "replica replay lag under load (pg_stat_replication)",
                "value": round(1000 * (percentile(lag_seconds, 0.99) or 0), 1),
                "unit": f"ms p99 (p50 {1000 * (percentile(lag_seconds, 0.5) or 0):.1f} ms, "
                f"max {1000 * max(lag_seconds or [0]):.1f} ms; WAL behind p99 "
                f"{(percentile(lag_bytes, 0.99) or 0) / 1024:.0f} KiB, "
                f"{len(lag_seconds)} samples)",
            },
        ]
        result = {
            "bench": "replica_offload",
            "players": players,
            "duration_s": duration,
            "readers": args.readers,
            "turns": turns,
            "reader_failures": [e["failures"] for phase in phases[1:] for e in results[phase]],
            "figures": figures,
            "median_bets": {
                phase: round(statistics.median(e["rps"] for e in results[phase]), 1)
                for phase in phases
            },
        }
    finally:
        if server is not None:
            server.stop()
        connection.close()
        drop_database(base_url, DB_NAME)
    emit(result)


if __name__ == "__main__":
    main()
