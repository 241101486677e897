"""The reports benchmark in its short mode, so that it never rots: the roll-up of a day, the
report pages and the point-in-time balance run and yield their figures. No speed is asserted
(the figures are for the README, measured in full mode)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import last_json_line

ROOT = Path(__file__).resolve().parents[2]


def test_reports_bench_yields_its_figures():
    if not os.environ.get("DATABASE_URL"):
        pytest.skip("the benchmarks need DATABASE_URL (a PostgreSQL server)")
    completed = subprocess.run(
        [sys.executable, "-m", "bench.reports", "--quick", "--repeats", "1"],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    result = last_json_line(completed.stdout)
    assert completed.returncode == 0 and result, completed.stdout[-2000:] + completed.stderr[-3000:]
    assert result["ok"]
    assert {page["status"] for page in result["ledger"]["pages"]} == {200}
    assert result["ledger"]["rollup_rows_of_day"] > 0
    assert result["wallet"]["samples"] > 0 and result["wallet"]["median_ms"] > 0
