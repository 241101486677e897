"""Benchmark: each protocol adapter's bet path beside the native one, in the same run, over
HTTP to the production web server (config/server.py), with wrk replaying pre-built requests
(bench/wrk/replay_any.lua). Target: an adapter costs at most 10 % of the native throughput
(ratio >= 0.90).

Every protocol gets its own provider and the same number of funded players with open,
authenticated sessions; each request is a fresh bet of 0.10 EUR built and signed by that
protocol's client (simulator/protocols) as the provider would send it. The protocols are run
in turns (twice by default, `--turns`) in alternating order, at the same connection count, and
each figure is the best of its runs (the machine's load moves between runs). Afterwards the
ledger rows of every run are counted against the accepted answers.

Runs in a throwaway database (`pitboss_bench_adapters`, dropped afterwards); prints one JSON
line.

    python -m bench.adapters_bet_path [--quick] [--players N] [--duration S] [--connections C]
        [--turns T]
"""

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from bench.common import (
    ROOT,
    drop_database,
    emit,
    ensure_wrk,
    log,
    migrated_database,
    setup_django,
)

DB_NAME = "pitboss_bench_adapters"
LUA_SCRIPT = ROOT / "bench" / "wrk" / "replay_any.lua"
STAKE_MINOR = 10
# The body text of an accepted bet, per protocol.
ACCEPTED = {
    "native": '"status":"OK"',
    "hub88": '"status":"RS_OK"',
    "evolution": '"status":"OK"',
    "pragmatic": '"error":0',
    "softswiss": '"transactions"',
}
SEPARATOR = "\x1f"


class Recorder:
    """A transport that keeps each request instead of sending it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def request(self, method: str, path: str, body: bytes | None, headers: dict):
        from simulator.clients import HttpResult

        headers = dict(headers)
        content_type = headers.pop("Content-Type", "application/json")
        packed = SEPARATOR.join(f"{name}={value}" for name, value in headers.items())
        text = (body or b"").decode()
        if "\t" in text or "\n" in text:
            raise ValueError("a request body with a tab or a newline cannot be replayed")
        self.lines.append(f"{path}\t{content_type}\t{packed}\t{text}")
        return HttpResult(200, {})


def seed(protocol: str, players: int, name: str | None = None) -> tuple[str, str, list]:
    """(provider code, signing credential, seats) for a new provider of `protocol`; `name`
    (default `bench-<protocol>`) is its code and the prefix of its players' ids."""
    from simulator.protocols.base import Seat
    from simulator.protocols.hub88 import new_key_pair
    from wallets import ledger, services

    extra, credential = {}, None
    if protocol == "hub88":
        credential, public = new_key_pair()
        extra["public_key"] = public
    code = name or f"bench-{protocol}"
    provider, secret = services.create_provider(
        code=code, name=code, currencies=["EUR"], protocol=protocol, **extra
    )
    seats = []
    for n in range(players):
        player = services.create_player(external_id=f"{code}-{n}", currency="EUR", country="MT")
        ledger.deposit(
            player=player,
            currency="EUR",
            amount_minor=10_000_000,
            external_id=f"{code}-deposit-{n}",
        )
        session, token = ledger.open_session(
            player=player, provider=provider, currency="EUR", game_id="bench-slot"
        )
        ledger.authenticate(provider=provider, session=session)
        seats.append(Seat(token, player.external_id, "EUR"))
    return code, credential or secret, seats


def write_bets(protocol: str, code: str, credential: str, seats, count: int, tag: str) -> Path:
    from simulator.protocols import kits
    from simulator.protocols.native import NativeClient

    recorder = Recorder()
    client = (
        NativeClient(recorder, code, credential)
        if protocol == "native"
        else kits.client(protocol, recorder, code, credential)
    )
    for n in range(count):
        seat = seats[n % len(seats)]
        client.bet(seat, f"{tag}-b{n}", f"{tag}-r{n}", STAKE_MINOR)
    handle, name = tempfile.mkstemp(prefix=f"bench-{protocol}-", suffix=".txt")
    os.close(handle)
    path = Path(name)
    path.write_text("\n".join(recorder.lines) + "\n")
    return path


def run_wrk(url: str, path: Path, marker: str, *, connections: int, duration: float) -> dict:
    import json

    threads = min(2, connections)
    completed = subprocess.run(  # noqa: S603 - our own command line
        [
            ensure_wrk(),
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            url,
            "--",
            str(path),
            str(threads),
            marker,
        ],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed: {completed.stderr.strip()[-500:]}")
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no summary from wrk: {completed.stdout[-500:]}")


def rows_of(tag: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM wallets_transaction WHERE external_id LIKE %s", [tag + "-b%"]
        )
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs (CI)")
    parser.add_argument("--players", type=int)
    parser.add_argument("--duration", type=float, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--turns", type=int, default=2, help="rounds over every protocol (order alternates)"
    )
    args = parser.parse_args()
    players = args.players or (10 if args.quick else 200)
    duration = args.duration or (1.0 if args.quick else 8.0)
    from bench.run import Server, _throwaway_keys

    # The keys first: the providers' secrets are encrypted here and read by the server.
    _throwaway_keys()
    base_url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = migrated_database(base_url, DB_NAME)
    os.environ.setdefault("PITBOSS_ENV", "development")
    setup_django()
    from django.db import connection

    from wallets.adapters.registry import PROTOCOLS

    server = None
    try:
        protocols = ["native", *sorted(p for p in PROTOCOLS if p != "native" and p in ACCEPTED)]
        log(f"adapters: seeding {players} players for each of {', '.join(protocols)}")
        seeded = {protocol: seed(protocol, players) for protocol in protocols}
        connection.close()
        server = Server(dict(os.environ), Path(tempfile.gettempdir()) / "bench-adapters.log")
        server.wait_ready()
        capacity = int(4000 * duration) + 1000  # more fresh bets than any run can send
        runs: dict[str, list[dict]] = {p: [] for p in protocols}
        checks = []
        orders = [
            protocols if turn % 2 == 0 else list(reversed(protocols))
            for turn in range(max(args.turns, 1))
        ]
        for turn, order in enumerate(orders):
            for protocol in order:
                code, credential, seats = seeded[protocol]
                tag = f"{protocol}-t{turn}"
                path = write_bets(protocol, code, credential, seats, capacity, tag)
                try:
                    summary = run_wrk(
                        server.url,
                        path,
                        ACCEPTED[protocol],
                        connections=args.connections,
                        duration=duration,
                    )
                finally:
                    path.unlink(missing_ok=True)
                rows = rows_of(tag)
                in_flight = max(summary["sent"] - summary["requests"], 0)
                checks.append(
                    summary["accepted"] <= rows <= summary["accepted"] + in_flight
                    and summary["wrapped"] == 0
                )
                summary["rows"] = rows
                runs[protocol].append(summary)
                log(
                    f"adapters: {protocol} turn {turn + 1}: {summary['rps']:.0f} req/s, "
                    f"p99 {summary['latency_ms']['p99']:.1f} ms, refused {summary['refused']}"
                )
        server.stop()
        server = None
        best = {p: max(runs[p], key=lambda r: r["rps"]) for p in protocols}
        native_rps = best["native"]["rps"]
        figures = []
        for protocol in protocols:
            figure = best[protocol]
            ratio = figure["rps"] / native_rps if native_rps else None
            figures.append(
                {
                    "name": f"bet, {args.connections} conns, {protocol}",
                    "value": round(figure["rps"], 1),
                    "unit": f"req/s (p99 {figure['latency_ms']['p99']:.1f} ms, "
                    f"ratio to native {ratio:.3f})",
                    "target": "" if protocol == "native" else ">= 0.90 of native",
                    "ratio": round(ratio, 4) if ratio else None,
                    "refused": figure["refused"],
                }
            )
        result = {
            "bench": "adapters_bet_path",
            "players": players,
            "duration_s": duration,
            "connections": args.connections,
            "rows_check": "ok" if all(checks) else "MISMATCH",
            "figures": figures,
        }
    finally:
        if server is not None:
            server.stop()
        connection.close()
        drop_database(base_url, DB_NAME)
    emit(result)


if __name__ == "__main__":
    main()
