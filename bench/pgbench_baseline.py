"""Baseline: PostgreSQL itself running a bet-shaped transaction, measured with pgbench.

    BEGIN; SELECT ... FOR UPDATE (wallet row); UPDATE it; INSERT a ledger-like row; COMMIT

on its own tables (bench_pg_wallet, bench_pg_ledger) in the database of DATABASE_URL, dropped
afterwards. Random rows (one of --rows wallets per transaction) and one hot row, at the given
client counts. Every HTTP figure of `make bench` is given as a ratio to the matching figure here.

    python -m bench.pgbench_baseline [--quick] [--duration S] [--rows N] [--clients 8,32]
"""

import argparse
import os
import re
import subprocess
import tempfile
import time

from bench.common import emit, find_pgbench, libpq_env, log

SETUP_SQL = """
DROP TABLE IF EXISTS bench_pg_ledger;
DROP TABLE IF EXISTS bench_pg_wallet;
DROP SEQUENCE IF EXISTS bench_pg_ext_seq;
CREATE SEQUENCE bench_pg_ext_seq;
CREATE TABLE bench_pg_wallet (
    id integer PRIMARY KEY,
    balance_minor bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bench_pg_ledger (
    id bigserial PRIMARY KEY,
    wallet_id integer NOT NULL REFERENCES bench_pg_wallet (id),
    external_id varchar(128) NOT NULL UNIQUE,
    amount_minor bigint NOT NULL,
    delta_minor bigint NOT NULL,
    balance_after_minor bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON bench_pg_ledger (wallet_id);
INSERT INTO bench_pg_wallet (id, balance_minor)
    SELECT g, 1000000000000 FROM generate_series(1, {rows}) AS g;
VACUUM ANALYZE bench_pg_wallet;
"""

TEARDOWN_SQL = """
DROP TABLE IF EXISTS bench_pg_ledger;
DROP TABLE IF EXISTS bench_pg_wallet;
DROP SEQUENCE IF EXISTS bench_pg_ext_seq;
"""

# The same statements a bet needs at the least: lock, update, append, commit.
BET_SCRIPT = """\\set wid random(1, :nrows)
BEGIN;
SELECT balance_minor FROM bench_pg_wallet WHERE id = :wid FOR UPDATE;
UPDATE bench_pg_wallet SET balance_minor = balance_minor - 100, updated_at = now() WHERE id = :wid;
INSERT INTO bench_pg_ledger (wallet_id, external_id, amount_minor, delta_minor, balance_after_minor)
    VALUES (:wid, 'tx-' || nextval('bench_pg_ext_seq'), 100, -100, 0);
COMMIT;
"""

# The ledger's own work with no Python in front: what the wallet API sends for a plain bet, one
# prepared statement calling the ledger function with the session's token hash (here fetched by
# session id inside the same statement, since pgbench cannot hold the tokens). Run on the
# bench's own seeded sessions; its figure is the ceiling any HTTP figure can reach on this
# database server.
LEDGER_SCRIPT = """\\set sid random(:smin, :smax)
\\set n random(1, 2000000000)
SELECT outcome FROM {function}(:pid, NULL, NULL,
    (SELECT token_hash FROM wallets_gamesession WHERE id = :sid), NULL,
    'pgb-' || :client_id || '-' || :n, false, 'pgbr-' || :client_id || '-' || :n, 1, 'EUR', '',
    NULL,
    false, '127.0.0.1', 'pgbench', 0);
"""

_TPS = re.compile(r"^tps = ([0-9.]+)", re.M)
_LAT = re.compile(r"^latency average = ([0-9.]+) ms", re.M)
_FAILED = re.compile(r"number of failed transactions: (\d+)")


def _psql(sql: str, database_url: str) -> None:
    env = {**os.environ, **libpq_env(database_url)}
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],  # noqa: S607
        input="SET client_min_messages = warning;\n" + sql,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.DEVNULL,
    )


def run_pgbench(
    database_url: str,
    *,
    clients: int,
    rows: int = 1,
    duration: float,
    threads: int = 2,
    script_text: str = BET_SCRIPT,
    defines: dict | None = None,
    prepared: bool = False,
) -> dict:
    """One pgbench run: {"tps", "latency_avg_ms", "failed"}."""
    pgbench = find_pgbench()
    if pgbench is None:
        raise RuntimeError("pgbench not found (it comes with the PostgreSQL client)")
    env = {**os.environ, **libpq_env(database_url)}
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(script_text)
    variables = {"nrows": rows, **(defines or {})}
    options = [item for name, value in variables.items() for item in ("-D", f"{name}={value}")]
    if prepared:
        options += ["-M", "prepared"]
    try:
        completed = subprocess.run(  # noqa: S603 - our own command line
            [
                pgbench,
                "-n",
                "-f",
                script.name,
                "-c",
                str(clients),
                "-j",
                str(min(threads, clients)),
                "-T",
                str(max(1, round(duration))),
                *options,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(script.name)
    if completed.returncode != 0:
        raise RuntimeError(f"pgbench failed: {completed.stderr.strip()[-500:]}")
    out = completed.stdout
    tps = _TPS.search(out)
    latency = _LAT.search(out)
    failed = _FAILED.search(out)
    return {
        "tps": float(tps.group(1)) if tps else 0.0,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "failed": int(failed.group(1)) if failed else 0,
    }


def run_baselines(
    database_url: str, *, rows: int, duration: float, clients=(8, 32)
) -> dict[str, dict]:
    """pgbench at each client count, random rows and one hot row; keys like "random_c32"."""
    _psql(SETUP_SQL.format(rows=int(rows)), database_url)
    results = {}
    try:
        for shape, nrows in (("random", rows), ("hot", 1)):
            for count in clients:
                log(f"pgbench {shape} rows={nrows} clients={count} {duration:.0f}s")
                results[f"{shape}_c{count}"] = run_pgbench(
                    database_url, clients=count, rows=nrows, duration=duration
                )
    finally:
        _psql(TEARDOWN_SQL, database_url)
    return results


def run_ledger_ceiling(
    database_url: str, *, session_ids: list[int], provider_id: int, clients: int, duration: float
) -> dict[str, dict]:
    """pgbench running the wallet API's bet statements (LEDGER_SCRIPT) on seeded sessions:
    random sessions and the first one (hot). Writes real bets (1 minor unit each).

    A third run calls `pitboss_bet_rules`, the bet without the wrapper that remembers refusals
    (`pitboss_bet` = the rules + recording a refusal): what remembering costs an accepted bet.
    Keyed `<shape>_c<clients>`, the third `random_c<clients>_rules`."""
    results = {}
    for key, shape, function in (
        (f"random_c{clients}", "random", "pitboss_bet"),
        (f"hot_c{clients}", "hot", "pitboss_bet"),
        (f"random_c{clients}_rules", "random", "pitboss_bet_rules"),
    ):
        low, high = (
            (min(session_ids), max(session_ids)) if shape == "random" else (session_ids[0],) * 2
        )
        log(f"pgbench ledger function {function} {shape} clients={clients} {duration:.0f}s")
        results[key] = run_pgbench(
            database_url,
            clients=clients,
            duration=duration,
            script_text=LEDGER_SCRIPT.replace("{function}", function),
            defines={"smin": low, "smax": high, "pid": provider_id},
            prepared=True,
        ) | {"shape": shape, "function": function}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--clients", default="8,32")
    args = parser.parse_args()
    duration = args.duration or (1 if args.quick else 10)
    database_url = os.environ.get("DATABASE_URL", "postgresql://pitboss@127.0.0.1:5432/pitboss")
    started = time.monotonic()
    results = run_baselines(
        database_url,
        rows=args.rows,
        duration=duration,
        clients=tuple(int(c) for c in args.clients.split(",")),
    )
    emit(
        {
            "module": "pgbench_baseline",
            "seconds": round(time.monotonic() - started, 1),
            "figures": [
                {"name": f"pgbench bet-shaped tps ({key})", "value": r["tps"], "unit": "tps"}
                for key, r in results.items()
            ],
        }
    )


if __name__ == "__main__":
    main()
