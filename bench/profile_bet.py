"""Where the time of one bet call goes: pyinstrument over many in-process bet requests
(through the whole middleware stack, DEBUG off), and the SQL statements of one bet.

`python -m bench.run --profile` runs it after the load; standalone it makes its own database:

    python -m bench.profile_bet [--calls N]

Writes profile-bet.txt (pyinstrument's call tree when it is installed, else cProfile) and
profile-bet-sql.txt (the SQL of one bet, and statement counts per operation) to the output
folder, and prints a JSON summary line.
"""

import argparse
import hashlib
import hmac
import json
import os
import time
from pathlib import Path

from bench.common import ROOT, drop_database, emit, log, recreate_database, setup_django


def _signed(seed, op: str, body: dict) -> tuple[bytes, dict]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    message = f"{timestamp}./wallet/v1/{op}.".encode() + raw
    signature = hmac.new(seed.secret.encode(), message, hashlib.sha256)
    return raw, {
        "HTTP_X_PROVIDER_CODE": seed.provider_code,
        "HTTP_X_TIMESTAMP": timestamp,
        "HTTP_X_SIGNATURE": signature.hexdigest(),
    }


def profile(seed, out_dir: Path, *, calls: int = 300) -> dict:
    """Profile `calls` bet requests of the seed's hot player; returns the summary."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_HOST="127.0.0.1")
    _, token = seed.sessions[0]
    counter = iter(range(10**9))

    def bet() -> int:
        n = next(counter)
        raw, headers = _signed(
            seed,
            "bet",
            {
                "session_token": token,
                "transaction_id": f"prof-{n}",
                "round_id": f"prof-r{n}",
                "amount": "0.10",
                "currency": "EUR",
                "game_id": "bench-slot",
            },
        )
        response = client.post("/wallet/v1/bet", raw, content_type="application/json", **headers)
        assert response.status_code == 200, response.content
        return response.status_code

    def call(op: str, body: dict) -> None:
        raw, headers = _signed(seed, op, {"session_token": token, **body})
        response = client.post(f"/wallet/v1/{op}", raw, content_type="application/json", **headers)
        assert response.status_code == 200, response.content

    def count_sql(op: str, body: dict) -> int:
        with CaptureQueriesContext(connection) as captured:
            call(op, body)
        return len(captured.captured_queries)

    for _ in range(20):  # warm caches, connections, imports
        bet()
    money = {"amount": "0.10", "currency": "EUR"}
    sql_per_op = {
        "balance": count_sql("balance", {}),
        "bet": count_sql("bet", {"transaction_id": "q-b1", "round_id": "q-r1", **money}),
        "win": count_sql(
            "win",
            {"transaction_id": "q-w1", "round_id": "q-r1", "round_closed": True, **money},
        ),
        "bet (replay)": count_sql("bet", {"transaction_id": "q-b1", "round_id": "q-r1", **money}),
    }
    call("bet", {"transaction_id": "q-b2", "round_id": "q-r2", **money})
    sql_per_op["rollback"] = count_sql(
        "rollback",
        {"transaction_id": "q-x2", "reference_transaction_id": "q-b2", "round_id": "q-r2"},
    )
    with CaptureQueriesContext(connection) as captured:
        bet()
    queries = [q["sql"] for q in captured.captured_queries]
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        bet()
    per_call_ms = (time.perf_counter() - started) * 1000 / calls
    cpu_ms = (time.process_time() - cpu) * 1000 / calls
    try:
        from pyinstrument import Profiler
    except ImportError:  # not a project dependency: fall back to cProfile
        Profiler = None
    if Profiler is not None:
        profiler = Profiler(interval=0.001)
        profiler.start()
        for _ in range(calls):
            bet()
        profiler.stop()
        text = profiler.output_text(unicode=True, color=False, show_all=False)
    else:
        import cProfile
        import io
        import pstats

        cprofiler = cProfile.Profile()
        cprofiler.enable()
        for _ in range(calls):
            bet()
        cprofiler.disable()
        buffer = io.StringIO()
        pstats.Stats(cprofiler, stream=buffer).sort_stats("cumulative").print_stats(60)
        text = "pip install pyinstrument for a call tree; cProfile:\n" + buffer.getvalue()
    (out_dir / "profile-bet.txt").write_text(text)
    per_op = ", ".join(f"{op} {n}" for op, n in sql_per_op.items())
    (out_dir / "profile-bet-sql.txt").write_text(
        f"SQL statements per call: {per_op} (BEGIN/COMMIT and after-commit work included)\n\n"
        f"{len(queries)} statements for one bet call:\n\n" + "\n\n".join(queries) + "\n"
    )
    log(
        f"profile: {per_call_ms:.2f} ms per bet in-process ({cpu_ms:.2f} ms CPU in Python), "
        f"{len(queries)} SQL statements"
    )
    return {
        "per_call_ms": round(per_call_ms, 3),
        "python_cpu_ms": round(cpu_ms, 3),
        "sql_per_bet": len(queries),
        "sql_per_call": sql_per_op,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="profile one bet call")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args()
    import base64
    import secrets
    import subprocess

    from bench.run import _python

    os.environ.setdefault(
        "PITBOSS_ENCRYPTION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    server_url = os.environ["DATABASE_URL"]
    name = os.environ.get("BENCH_DATABASE", "pitboss_bench") + "_profile"
    os.environ["DATABASE_URL"] = recreate_database(server_url, name)
    name = os.environ["DATABASE_URL"].rsplit("/", 1)[-1]
    os.environ["PITBOSS_ENV"] = "development"
    os.environ.setdefault("DEBUG", "false")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        migrate = [_python(), "manage.py", "migrate", "--noinput", "-v", "0"]
        subprocess.run(migrate, check=True)  # noqa: S603
        setup_django()
        from bench.http_load import seed

        summary = profile(seed(3), args.out, calls=args.calls)
        from django.db import connections

        from fraud.screening import baseline_writer

        baseline_writer.stop()  # its queued updates, before the database goes
        connections.close_all()
    finally:
        drop_database(server_url, name)
    emit({"module": "profile_bet", **summary})


if __name__ == "__main__":
    main()
