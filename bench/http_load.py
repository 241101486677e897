"""HTTP load on the provider wallet API with `wrk` replaying pre-signed requests.

The requests are generated and signed here, right before each run (their X-Timestamp must be
inside the 300 s window), and written one per line to a file that bench/wrk/replay.lua cycles
through, each wrk thread taking its own slice. Python signs; wrk only sends, so the load
generator costs the server as little CPU as possible.

Scenarios, each at every connection count, for random players and for one hot player:
- bet: fresh bets (new round each);
- win: wins settling (round_closed) the rounds of bets accepted by a previous bet run, then,
  when those run out, free-spin wins (their own round);
- rollback: rollbacks of bets accepted by a second bet run, then tombstones (unknown reference);
- mixed: a realistic stream: ~40 % bets, ~36 % wins and ~4 % rollbacks settling bets placed
  well earlier in the stream, ~20 % balance calls.

After every run the ledger rows written under the run's id prefix are counted against the
accepted responses (see `check_rows`).

Usually driven by bench/run.py; standalone, against a server on the database that
`python -m bench.run --keep-db` left (it writes bench-results/seed.json):
    DATABASE_URL=.../pitboss_bench python -m bench.http_load --url http://127.0.0.1:8000 \
        --seed bench-results/seed.json [--quick]
"""

import argparse
import hashlib
import hmac
import json
import os
import random
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, emit, ensure_wrk, log

LUA_SCRIPT = ROOT / "bench" / "wrk" / "replay.lua"
BET_AMOUNT = "0.10"
WIN_AMOUNT = "0.15"
CURRENCY = "EUR"
# Lines between a bet and the call that settles it in the mixed stream: far more than the
# requests in flight, so the bet has been answered before its settlement is sent.
SETTLE_LAG = 2000


@dataclass
class Seed:
    provider_code: str
    secret: str
    # (session id, token) per player; the first is the hot player.
    sessions: list[tuple[int, str]]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__))

    @classmethod
    def load(cls, path: Path) -> "Seed":
        data = json.loads(path.read_text())
        return cls(data["provider_code"], data["secret"], [tuple(s) for s in data["sessions"]])


def seed(players: int, *, deposit_minor: int = 10_000_000) -> Seed:
    """A provider and `players` funded players, each with an open, authenticated session.

    Everything goes through wallets.services and wallets.ledger (deposits are ledger rows), so
    the ledger invariant holds from the start. Needs Django set up on the bench database.
    """
    from wallets import ledger, services

    provider, secret = services.create_provider(
        code="benchprov", name="Bench provider", currencies=[CURRENCY]
    )
    sessions = []
    for n in range(players):
        player = services.create_player(
            external_id=f"bench-player-{n}", currency=CURRENCY, country="MT"
        )
        ledger.deposit(
            player=player,
            currency=CURRENCY,
            amount_minor=deposit_minor,
            external_id=f"bench-deposit-{n}",
        )
        session, token = ledger.open_session(
            player=player, provider=provider, currency=CURRENCY, game_id="bench-slot"
        )
        ledger.authenticate(provider=provider, session=session)
        sessions.append((session.pk, token))
    return Seed(provider.code, secret, sessions)


# --- request files ---------------------------------------------------------------------------


class RequestWriter:
    """Signs and writes request lines: "<op>\\t<ts>\\t<signature>\\t<body>"."""

    def __init__(self, seed: Seed, path: Path):
        self.key = seed.secret.encode()
        self.timestamp = str(int(time.time()))
        self.file = path.open("w")
        self.count = 0

    def add(self, op: str, body: dict) -> None:
        raw = json.dumps(body, separators=(",", ":"))
        message = f"{self.timestamp}./wallet/v1/{op}.{raw}".encode()
        signature = hmac.new(self.key, message, hashlib.sha256).hexdigest()
        self.file.write(f"{op}\t{self.timestamp}\t{signature}\t{raw}\n")
        self.count += 1

    def close(self) -> None:
        self.file.close()


def _pick(seed: Seed, hot: bool, rng: random.Random) -> tuple[int, str]:
    return seed.sessions[0] if hot else rng.choice(seed.sessions)


def write_bets(writer: RequestWriter, seed: Seed, prefix: str, count: int, hot: bool, rng):
    for n in range(count):
        _, token = _pick(seed, hot, rng)
        writer.add(
            "bet",
            {
                "session_token": token,
                "transaction_id": f"{prefix}-b{n}",
                "round_id": f"{prefix}-r{n}",
                "amount": BET_AMOUNT,
                "currency": CURRENCY,
                "game_id": "bench-slot",
            },
        )


def accepted_bets(prefix: str) -> list[tuple[str, str, int]]:
    """(transaction id, round id, session id) of the posted bets under `prefix`, in order."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT external_id, round_external_id, session_id FROM wallets_transaction "
            "WHERE kind = 'bet' AND status = 'posted' AND external_id LIKE %s ORDER BY id",
            [prefix + "-%"],
        )
        return list(cursor.fetchall())


def write_wins(writer, seed: Seed, prefix: str, count: int, hot: bool, rng, bets) -> int:
    """Wins settling `bets`, then free-spin wins up to `count`; returns how many settle."""
    tokens = dict(seed.sessions)
    settling = 0
    for n in range(count):
        if n < len(bets):
            bet_id, round_id, session_id = bets[n]
            token, reference = tokens[session_id], bet_id
            settling += 1
        else:
            _, token = _pick(seed, hot, rng)
            round_id, reference = f"{prefix}-fr{n}", ""
        body = {
            "session_token": token,
            "transaction_id": f"{prefix}-w{n}",
            "round_id": round_id,
            "amount": WIN_AMOUNT,
            "currency": CURRENCY,
            "round_closed": True,
        }
        if reference:
            body["reference_transaction_id"] = reference
        writer.add("win", body)
    return settling


def write_rollbacks(writer, seed: Seed, prefix: str, count: int, hot: bool, rng, bets) -> int:
    """Rollbacks of `bets`, then tombstones (unknown reference) up to `count`."""
    tokens = dict(seed.sessions)
    refunding = 0
    for n in range(count):
        if n < len(bets):
            bet_id, round_id, session_id = bets[n]
            token = tokens[session_id]
            refunding += 1
        else:
            _, token = _pick(seed, hot, rng)
            bet_id, round_id = f"{prefix}-unknown{n}", f"{prefix}-ur{n}"
        writer.add(
            "rollback",
            {
                "session_token": token,
                "transaction_id": f"{prefix}-x{n}",
                "reference_transaction_id": bet_id,
                "round_id": round_id,
            },
        )
    return refunding


def write_mixed(writer, seed: Seed, prefix: str, count: int, hot: bool, rng) -> dict:
    """The realistic stream; returns how many of each operation it holds."""
    pending: deque = deque()
    made = {"bet": 0, "win": 0, "rollback": 0, "balance": 0}
    for line in range(count):
        draw = rng.random()
        if pending and pending[0][0] <= line - SETTLE_LAG and draw < 0.45:
            _, n, token = pending.popleft()
            if rng.random() < 0.9:
                writer.add(
                    "win",
                    {
                        "session_token": token,
                        "transaction_id": f"{prefix}-w{n}",
                        "round_id": f"{prefix}-r{n}",
                        "amount": WIN_AMOUNT,
                        "currency": CURRENCY,
                        "round_closed": True,
                        "reference_transaction_id": f"{prefix}-b{n}",
                    },
                )
                made["win"] += 1
            else:
                writer.add(
                    "rollback",
                    {
                        "session_token": token,
                        "transaction_id": f"{prefix}-x{n}",
                        "reference_transaction_id": f"{prefix}-b{n}",
                        "round_id": f"{prefix}-r{n}",
                    },
                )
                made["rollback"] += 1
        elif draw < 0.65:
            _, token = _pick(seed, hot, rng)
            writer.add("balance", {"session_token": token})
            made["balance"] += 1
        else:
            _, token = _pick(seed, hot, rng)
            n = made["bet"]
            writer.add(
                "bet",
                {
                    "session_token": token,
                    "transaction_id": f"{prefix}-b{n}",
                    "round_id": f"{prefix}-r{n}",
                    "amount": BET_AMOUNT,
                    "currency": CURRENCY,
                    "game_id": "bench-slot",
                },
            )
            pending.append((line, n, token))
            made["bet"] += 1
    return made


# --- running wrk -----------------------------------------------------------------------------


def run_wrk(
    url: str,
    requests_file: Path,
    provider_code: str,
    *,
    connections: int,
    duration: float,
    threads: int = 2,
) -> dict:
    """One wrk run replaying `requests_file`; the JSON summary printed by replay.lua."""
    wrk = ensure_wrk()
    threads = min(threads, connections)
    completed = subprocess.run(  # noqa: S603 - our own command line
        [
            wrk,
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
            str(requests_file),
            str(threads),
            provider_code,
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


def check_rows(prefix: str, summary: dict, connections: int) -> dict:
    """Ledger rows under `prefix` against accepted responses.

    Every accepted money call must have exactly one row (no loss: rows >= accepted). Requests
    still in flight when wrk stopped may have been applied without wrk reading the answer, so
    up to `connections` more rows are normal; more than that would mean duplicates. Ids are
    unique in the database, and the wrk summary also counts replays answered `duplicate`.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT external_id) FROM wallets_transaction "
            "WHERE external_id LIKE %s",
            [prefix + "-%"],
        )
        rows, distinct = cursor.fetchone()
    accepted = summary["txn_ok"]
    in_flight = summary["sent"] - summary["requests"]
    ok = (
        rows == distinct
        and accepted <= rows <= accepted + max(in_flight, 0)
        and summary["duplicates"] == 0
    )
    return {
        "rows": rows,
        "accepted": accepted,
        "in_flight_at_stop": in_flight,
        "rows_ok": ok,
    }


@dataclass
class Scenario:
    op: str
    players: str  # "random" or "hot"
    connections: int
    result: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.op}_{self.players}_c{self.connections}"


def run_suite(
    url: str,
    seed: Seed,
    *,
    duration: float,
    connections=(8, 32),
    shapes=("random", "hot"),
    capacity_rps: int = 4000,
    workdir: Path | None = None,
    supply_runs: bool = True,
    warmup: float = 2,
) -> list[Scenario]:
    """Every scenario, in an order that gives wins and rollbacks real bets to settle.

    `supply_runs`: a second bet run per shape and connection count, so that wins and
    rollbacks each have a full run's worth of bets (without: they share the bet run's).
    """
    rng = random.Random(8)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="pitboss-bench-"))
    count = int(capacity_rps * duration) + 2000
    run_id = f"{int(time.time()) % 100000}"
    scenarios = []

    def one(op, shape, conns, write, wrk_threads=2) -> Scenario:
        scenario = Scenario(op, shape, conns)
        prefix = f"bn{run_id}-{op[:3]}-{shape[0]}{conns}"
        path = workdir / f"{scenario.key}.txt"
        writer = RequestWriter(seed, path)
        extra = write(writer, prefix)
        writer.close()
        log(f"wrk {scenario.key}: {conns} connections, {duration:.0f}s, {writer.count} requests")
        summary = run_wrk(
            url, path, seed.provider_code, connections=conns, duration=duration, threads=wrk_threads
        )
        summary.update(check_rows(prefix, summary, conns))
        if extra:
            summary["stream"] = extra
        summary["prefix"] = prefix
        scenario.result = summary
        scenarios.append(scenario)
        path.unlink()
        return scenario

    # Warm-up (not reported): every server thread opens its database connection and fills its
    # caches before the first measured run.
    path = workdir / "warmup.txt"
    writer = RequestWriter(seed, path)
    for n in range(count):
        writer.add("balance", {"session_token": seed.sessions[n % len(seed.sessions)][1]})
    writer.close()
    log(f"wrk warm-up: balance calls, {max(connections)} connections, {warmup:.0f}s")
    run_wrk(url, path, seed.provider_code, connections=max(connections), duration=warmup)
    path.unlink()

    for shape in shapes:
        hot = shape == "hot"
        for conns in connections:

            def bets(writer, prefix, hot=hot):
                return write_bets(writer, seed, prefix, count, hot, rng)

            bet = one("bet", shape, conns, bets)
            pool = accepted_bets(bet.result["prefix"])
            if supply_runs:
                # A second, unreported bet run supplies the rollbacks with bets of their own.
                supply = one("bet-supply", shape, conns, bets)
                win_pool, rollback_pool = pool, accepted_bets(supply.result["prefix"])
            else:  # quick: the one bet run's bets, shared out
                win_pool, rollback_pool = pool[::2], pool[1::2]

            def wins(writer, prefix, hot=hot, pool=win_pool):
                return {"settling": write_wins(writer, seed, prefix, count, hot, rng, pool)}

            one("win", shape, conns, wins)

            def rollbacks(writer, prefix, hot=hot, pool=rollback_pool):
                return {"refunding": write_rollbacks(writer, seed, prefix, count, hot, rng, pool)}

            one("rollback", shape, conns, rollbacks)

            def mixed(writer, prefix, hot=hot):
                return write_mixed(writer, seed, prefix, count, hot, rng)

            # One wrk thread: the stream goes out in its order (two threads each take every
            # other line and drift apart over a run, until settlements overtake their bets).
            one("mixed", shape, conns, mixed, wrk_threads=1)
    return scenarios


def ledger_invariant() -> dict:
    """Wallets whose balance differs from the sum of their ledger rows (must be none)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM wallets_wallet w LEFT JOIN ("
            "  SELECT wallet_id, sum(delta_minor) AS total FROM wallets_transaction"
            "  GROUP BY wallet_id) t ON t.wallet_id = w.id "
            "WHERE w.balance_minor <> coalesce(t.total, 0)"
        )
        broken = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM wallets_wallet")
        wallets = cursor.fetchone()[0]
    return {"wallets": wallets, "wallets_off_ledger": broken}


def main() -> None:
    parser = argparse.ArgumentParser(description="wrk load on the wallet API")
    parser.add_argument("--url", default=os.environ.get("BENCH_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--seed", required=True, type=Path, help="seed file from bench.run")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    args = parser.parse_args()
    from bench.common import setup_django

    setup_django()
    seed_data = Seed.load(args.seed)
    scenarios = run_suite(args.url, seed_data, duration=args.duration or (1 if args.quick else 10))
    emit({"module": "http_load", "scenarios": {s.key: s.result for s in scenarios}})


if __name__ == "__main__":
    main()
