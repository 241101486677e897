"""The benchmark harness in its short mode, so that it never rots.

Runs `python -m bench.run --quick` end to end (own database, the web server with the production
settings, wrk, pgbench, the other engineers' bench modules) and checks only that it completes and
yields numbers, with no transaction lost or duplicated: no speed target is asserted here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_completes_and_yields_numbers(tmp_path):
    env = {
        **os.environ,
        "BENCH_DATABASE": f"pitboss_bench_ci_{os.getpid()}",
        "BENCH_OUT": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    report = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("# Pitboss benchmark (quick mode)")

    assert set(report["baselines"]) == {"random_c8", "random_c32", "hot_c8", "hot_c32"}
    assert all(baseline["tps"] > 0 for baseline in report["baselines"].values())

    figures = {row["key"]: row for row in report["http"]}
    expected = {
        f"{op}_{players}_c{conns}"
        for op in ("bet", "win", "rollback", "mixed")
        for players in ("random", "hot")
        for conns in (8, 32)
    }
    assert set(figures) == expected
    for key, row in figures.items():
        raw = row["raw"]
        # Numbers, not speeds: on a busy machine a 1 s run may finish few requests.
        assert raw["sent"] > 0, key
        assert row["rps"] >= 0 and row["ratio"] is not None, key
        if raw["requests"]:
            assert 0 < row["p50"] <= row["p95"] <= row["p99"], key
        # Every answer was a success: no refusal, no socket error, no replayed request.
        assert row["refused"] == 0, (key, row["codes"], raw["socket_errors"])
        assert raw["duplicates"] == 0 and raw["wrapped"] == 0, key
        assert raw["rows_ok"], (key, row["rows"])
    assert sum(row["raw"]["txn_ok"] for row in figures.values()) > 0
    assert report["invariant"]["wallets_off_ledger"] == 0
    assert report["invariant"]["wallets"] == report["players"]

    for module in report["modules"]:
        assert "error" not in module, module
        assert module["result"], module
