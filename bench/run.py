"""`make bench`: the whole benchmark in one run, every figure next to its baseline.

1. (Re)creates the database BENCH_DATABASE (default pitboss_bench) on the server of
   DATABASE_URL, migrates it, and seeds a provider and N funded players with open,
   authenticated sessions through wallets.services / wallets.ledger.
2. Baseline: pgbench running a bet-shaped transaction on its own tables in that database, at 8
   and 32 clients, random rows and one hot row (bench/pgbench_baseline.py).
3. Starts the web server with the production settings (config/server.py: granian,
   PITBOSS_ENV=production, throwaway keys, DEBUG off) on 127.0.0.1 and replays pre-signed
   requests with wrk
   (bench/http_load.py): bet, win, rollback and a mixed stream, at 8 and 32 connections,
   random players and one hot player. Each figure is given as a ratio to pgbench's.
4. Checks that no transaction was lost or duplicated and that every wallet's balance equals
   the sum of its ledger rows.
5. Runs the other bench modules (bench/<app>_*.py) with --quick in quick mode, collecting the
   JSON result each prints last.
6. Prints a markdown table and writes it to bench-results/latest.md, with latest.json.

    python -m bench.run [--quick] [--players N] [--duration S] [--profile] [--keep-db]
"""

import argparse
import base64
import datetime
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.common import (
    DEFAULT_BENCH_DB,
    ROOT,
    TEMPLATE_ENV,
    admin_connect,
    database_name,
    drop_database,
    last_json_line,
    log,
    recreate_database,
    setup_django,
)

# Our own modules; every other bench/*.py is another engineer's benchmark, run as a module.
OWN_MODULES = {"__init__", "common", "run", "http_load", "pgbench_baseline", "profile_bet"}

TARGETS = {
    ("bet", "random", 32): ("ratio >= 0.30, p99 <= 50 ms", 0.30, 50.0),
    ("bet", "hot", 32): ("ratio >= 0.50 (hot row)", 0.50, None),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _throwaway_keys() -> None:
    """Production settings need real keys; a benchmark run makes its own, used by the seeding
    process and the server alike (provider secrets are encrypted with the second)."""
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(40))
    os.environ.setdefault(
        "PITBOSS_ENCRYPTION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def migrate(env: dict) -> None:
    log("migrating the bench database")
    subprocess.run(  # noqa: S603
        [_python(), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


class Server:
    """The production web server (config/server.py) on a free loopback port."""

    def __init__(self, env: dict, log_path: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        server_env = {
            **env,
            "PITBOSS_ENV": "production",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "WEB_BIND": f"127.0.0.1:{self.port}",
            "WEB_LOG_LEVEL": "warning",
        }
        self.log_file = log_path.open("w")
        self.process = subprocess.Popen(  # noqa: S603
            [_python(), "-m", "config.server"],
            cwd=ROOT,
            env=server_env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"the web server exited ({code}); see its log")
            try:
                health = self.url + "/healthz"  # http on loopback, built here
                with urllib.request.urlopen(health, timeout=2) as response:  # noqa: S310
                    if response.status < 500:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the web server did not answer /healthz in time")

    def description(self) -> str:
        from config import server

        command = server.argv()
        workers = command[command.index("--workers") + 1]
        threads = command[command.index("--blocking-threads") + 1]
        return f"granian, {workers} workers x {threads} threads"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log_file.close()


def other_modules() -> list[str]:
    return sorted(
        path.stem
        for path in (ROOT / "bench").glob("*.py")
        if path.stem not in OWN_MODULES and not path.stem.startswith("_")
    )


def run_other_module(name: str, *, quick: bool, env: dict) -> dict:
    command = [_python(), "-m", f"bench.{name}"] + (["--quick"] if quick else [])
    log(f"running bench.{name}{' --quick' if quick else ''}")
    started = time.monotonic()
    try:
        completed = subprocess.run(  # noqa: S603
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120 if quick else 3600,
        )
    except subprocess.TimeoutExpired:
        return {"module": name, "error": "timed out"}
    seconds = round(time.monotonic() - started, 1)
    result = last_json_line(completed.stdout)
    if completed.returncode != 0 or result is None:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or [""]
        return {"module": name, "error": f"exit {completed.returncode}: {tail[0][:200]}"}
    return {"module": name, "seconds": seconds, "result": result}


def _numbers(result: dict, prefix: str = ""):
    """(name, value) of every number in a module's JSON result, nested keys joined by '.'."""
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            yield name, value
        elif isinstance(value, dict):
            yield from _numbers(value, name + ".")


def _fmt(value, digits=1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def build_table(report: dict) -> str:
    lines = [
        f"# Pitboss benchmark ({'quick' if report['quick'] else 'full'} mode)",
        "",
        f"{report['date']} on {report['machine']}; {report['players']} players, "
        f"{report['duration']:.0f} s per run; server: {report['server']}.",
        "",
        "| figure | value (req/s) | p50 ms | p95 ms | p99 ms | refused | baseline "
        "(pgbench tps) | ratio | target | rows check |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["http"]:
        lines.append(
            f"| {row['figure']} | {_fmt(row['rps'])} | {_fmt(row['p50'], 2)} | "
            f"{_fmt(row['p95'], 2)} | {_fmt(row['p99'], 2)} | {row['refused']} | "
            f"{_fmt(row['baseline'])} | {_fmt(row['ratio'], 3)} | {row['target']} | "
            f"{row['rows']} |"
        )
    for key, figure in report.get("ledger_ceiling", {}).items():
        shape, connections = key.split("_")[0], key.split("_c")[1].split("_")[0]
        baseline = report["baselines"].get(f"{shape}_c{connections}", {}).get("tps")
        ratio = figure["tps"] / baseline if baseline else None
        players = "one hot player" if shape == "hot" else "random players"
        function = figure.get("function", "pitboss_bet")
        what = "ceiling" if function == "pitboss_bet" else "without remembering refusals"
        lines.append(
            f"| ledger function alone (pgbench, one prepared {function} call by token), "
            f"{players}, {connections} clients | {_fmt(figure['tps'])} | | | | "
            f"{figure['failed']} | {_fmt(baseline)} | {_fmt(ratio, 3)} | {what} | |"
        )
    invariant = report["invariant"]
    lines += [
        "",
        f"Ledger invariant (balance == SUM(delta) per wallet): "
        f"{invariant['wallets_off_ledger']} of {invariant['wallets']} wallets off.",
    ]
    if report["modules"]:
        lines += ["", "| module figure | value | target |", "|---|---|---|"]
        for module in report["modules"]:
            if "error" in module:
                lines.append(f"| bench.{module['module']} | error: {module['error']} | |")
                continue
            result = module["result"]
            figures = result.get("figures")
            if isinstance(figures, list):
                for figure in figures:
                    unit = f" {figure['unit']}" if figure.get("unit") else ""
                    lines.append(
                        f"| {module['module']}: {figure.get('name', '?')} | "
                        f"{_fmt(figure.get('value'), 3)}{unit} | {figure.get('target', '')} |"
                    )
            else:
                for name, value in _numbers(result):
                    lines.append(f"| {module['module']}: {name} | {_fmt(value, 3)} | |")
    lines.append("")
    return "\n".join(lines)


def http_rows(scenarios, baselines: dict) -> list[dict]:
    rows = []
    for scenario in scenarios:
        if scenario.op == "bet-supply":
            continue
        result = scenario.result
        baseline = baselines.get(f"{scenario.players}_c{scenario.connections}", {}).get("tps")
        ratio = result["rps"] / baseline if baseline else None
        target, min_ratio, max_p99 = TARGETS.get(
            (scenario.op, scenario.players, scenario.connections), ("", None, None)
        )
        met = ""
        if min_ratio is not None and ratio is not None:
            good = ratio >= min_ratio and (
                max_p99 is None or result["latency_ms"]["p99"] <= max_p99
            )
            good = good and result["refused"] == 0 and result["rows_ok"]
            met = " (met)" if good else " (NOT met)"
        players = "one hot player" if scenario.players == "hot" else "random players"
        refused = result["refused"] + sum(result["socket_errors"].values())
        rows.append(
            {
                "figure": f"{scenario.op}, {players}, {scenario.connections} conns",
                "key": scenario.key,
                "rps": result["rps"],
                "p50": result["latency_ms"]["p50"],
                "p95": result["latency_ms"]["p95"],
                "p99": result["latency_ms"]["p99"],
                "refused": refused,
                "codes": result["codes"],
                "baseline": baseline,
                "ratio": ratio,
                "target": target + met,
                "rows": (
                    f"{'ok' if result['rows_ok'] else 'MISMATCH'} "
                    f"({result['rows']} rows / {result['accepted']} accepted)"
                ),
                "raw": result,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description="Pitboss benchmark suite")
    parser.add_argument("--quick", action="store_true", help="small and short (CI)")
    parser.add_argument("--players", type=int)
    parser.add_argument("--duration", type=float, help="seconds per load run")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("BENCH_OUT", "")))
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database")
    parser.add_argument("--profile", action="store_true", help="also profile one bet call")
    parser.add_argument("--skip-modules", action="store_true", help="skip bench/<app>_*.py")
    parser.add_argument("--connections", default="8,32", help="wrk connection counts")
    parser.add_argument("--shapes", default="random,hot", help="random and/or hot")
    args = parser.parse_args()
    quick = args.quick
    players = args.players or (20 if quick else 500)
    duration = args.duration or (1.0 if quick else 10.0)
    out_dir = args.out if str(args.out) not in {"", "."} else ROOT / "bench-results"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        print("DATABASE_URL is not set (scripts/bench.sh sets it)", file=sys.stderr)
        return 2
    bench_db = os.environ.get("BENCH_DATABASE", DEFAULT_BENCH_DB)
    _throwaway_keys()
    bench_url = recreate_database(server_url, bench_db)
    bench_db = database_name(bench_url)
    os.environ["DATABASE_URL"] = bench_url
    os.environ["PITBOSS_ENV"] = "development"  # this process: seeding and checks
    os.environ["DEBUG"] = "false"  # as in production (no query log) for --profile
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env = dict(os.environ)
    server = None
    template_db = f"{bench_db}_template"
    try:
        migrate(env)
        # An empty migrated copy for other bench modules (bench.common.migrated_database).
        if not drop_database(server_url, template_db):
            template_db = f"{template_db}_{int(time.time())}"
        with admin_connect(server_url) as conn:
            conn.execute(f'CREATE DATABASE "{template_db}" TEMPLATE "{bench_db}"')
        env[TEMPLATE_ENV] = template_db
        setup_django()
        from bench import http_load, pgbench_baseline

        log(f"seeding {players} players")
        seed = http_load.seed(players)
        if args.keep_db:  # for `python -m bench.http_load --seed ...` against the kept database
            seed.save(out_dir / "seed.json")
        from django.db import connection

        connection.close()

        baselines = pgbench_baseline.run_baselines(bench_url, rows=players, duration=duration)

        server = Server(env, out_dir / "server.log")
        server.wait_ready()
        server_desc = server.description()
        scenarios = http_load.run_suite(
            server.url,
            seed,
            duration=duration,
            workdir=out_dir,
            capacity_rps=3000 if quick else 4000,
            supply_runs=not quick,
            warmup=1 if quick else 3,
            connections=tuple(int(c) for c in args.connections.split(",")),
            shapes=tuple(args.shapes.split(",")),
        )
        server.stop()
        server = None
        # The same bets with no Python in front: how far the database alone goes (the
        # ceiling of every HTTP figure above), next to the same run's bet-shaped baseline.
        from wallets.models import GameSession

        ceiling = pgbench_baseline.run_ledger_ceiling(
            bench_url,
            session_ids=[session_id for session_id, _ in seed.sessions],
            provider_id=GameSession.objects.get(pk=seed.sessions[0][0]).provider_id,
            clients=32,
            duration=duration,
        )
        invariant = http_load.ledger_invariant()
        connection.close()

        if args.profile:
            from bench import profile_bet

            profile_bet.profile(seed, out_dir)
            connection.close()

        modules = []
        if not args.skip_modules:
            for name in other_modules():
                modules.append(run_other_module(name, quick=quick, env=env))

        report = {
            "quick": quick,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores",
            "players": players,
            "duration": duration,
            "server": server_desc,
            "baselines": baselines,
            "ledger_ceiling": ceiling,
            "http": http_rows(scenarios, baselines),
            "invariant": invariant,
            "modules": modules,
            "seconds": round(time.monotonic() - started, 1),
        }
        table = build_table(report)
        (out_dir / "latest.md").write_text(table)
        (out_dir / "latest.json").write_text(json.dumps(report, indent=2, default=str))
        print(table)
        log(f"done in {report['seconds']} s; written to {out_dir}/latest.md and latest.json")
        ok = invariant["wallets_off_ledger"] == 0 and all(
            "MISMATCH" not in row["rows"] for row in report["http"]
        )
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        if not args.keep_db:
            if "fraud.screening" in sys.modules:
                from fraud.screening import baseline_writer

                baseline_writer.stop()  # its queued updates, before the database goes
            if "django.db" in sys.modules:
                from django.db import connections

                connections.close_all()
            drop_database(server_url, bench_db)
            drop_database(server_url, template_db)


if __name__ == "__main__":
    sys.exit(main())
