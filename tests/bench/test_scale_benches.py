"""The scale benchmarks in their short mode, so that they never rot: the ledger builder
yields a consistent ledger, and the incremental-reconciliation and list-page benchmarks complete
and yield their figures. No speed is asserted (the figures are for the README, measured in full
mode on a quiet machine)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import last_json_line

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--quick"],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = last_json_line(completed.stdout)
    assert completed.returncode == 0 and result, completed.stdout[-2000:] + completed.stderr[-3000:]
    return result


@pytest.fixture(autouse=True)
def _database_url():
    if not os.environ.get("DATABASE_URL"):
        pytest.skip("the benchmarks need DATABASE_URL (a PostgreSQL server)")


def test_ledger_builder_yields_a_consistent_ledger():
    result = _run("ledger_scale")
    assert result["ok"] and result["built"]
    assert result["ledger_rows"] == 20_000
    assert result["wallets_off_ledger"] == 0
    assert result["wallets_last_balance_after_off"] == 0  # balance_after_minor is the running sum
    kinds = result["kinds"]
    # Every shape of row the list pages filter on is there.
    for shape in ("bet/posted", "bet/rolled_back", "rollback/posted", "win/posted",
                  "deposit/posted", "withdrawal/held"):  # fmt: skip
        assert kinds.get(shape, 0) > 0, shape
    assert kinds["bet/rolled_back"] == kinds["rollback/posted"]
    # The ledger as a partitioned one is after months of use: every index valid on every
    # partition (the benchmarks read through them), the 90 days of the build in monthly
    # partitions, nothing left in the history partition.
    assert result["invalid_ledger_indexes"] == []
    partitions = result["partitions"]
    assert partitions.get("wallets_transaction_history", 0) == 0
    assert len([name for name, count in partitions.items() if count]) >= 4
    assert sum(partitions.values()) == 20_000


def test_incremental_reconciliation_bench_checks_exactly_the_changed_wallets():
    result = _run("reconciliation_incremental")
    assert result["ok"]
    for size in ("small", "large"):
        figures = result[size]
        assert figures["changed_wallets"] == 200
        for run in figures["runs"]:
            assert run["wallets_checked"] == 200
            assert run["drifts_found"] == 10
            assert run["seconds"] > 0
    assert result["large"]["rows_per_wallet"] > result["small"]["rows_per_wallet"]
    assert result["ratio_large_to_small"] > 0


def test_list_pages_bench_renders_every_page():
    result = _run("list_pages")
    assert result["ok"]
    pages = result["quick"]["pages"]
    assert len(pages) >= 30
    assert {page["status"] for page in pages} == {200}
    assert all(page["median_ms"] > 0 and page["queries"] > 0 for page in pages)
    names = {page["name"] for page in pages}
    assert {"admin transactions, first page", "api transactions, first page"} <= names
    assert {figure["unit"] for figure in result["figures"]} == {"ms"}
