#!/usr/bin/env bash
# `make bench`: the benchmark suite (bench/run.py) against the private PostgreSQL and Redis.
#
#   make bench            full mode (minutes): the figures for the README's benchmark table
#   make bench QUICK=1    short mode (under a minute), as CI runs it: no targets asserted
#
# Starts the private servers if needed (stopping again only those it started), installs wrk
# (Debian package) when missing, and runs `python -m bench.run`, which uses its own database
# (BENCH_DATABASE, default pitboss_bench: created and dropped) and prints the results table,
# also written to bench-results/latest.md and latest.json (BENCH_OUT changes the folder).
# Extra arguments go to bench.run (e.g. --profile, --players 1000, --duration 20).
set -euo pipefail
# shellcheck source=scripts/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
cd "$PITBOSS_ROOT"

ensure_venv
use_venv
trap 'services_stop_started' EXIT
# The replica benchmark (bench/replica_offload.py) reads from a real streaming standby, which
# holds a copy of every database of the primary (the kept scale ledgers too: twice their disk).
# PITBOSS_REPLICA=0 make bench runs without it (that benchmark then says it was skipped).
export PITBOSS_REPLICA="${PITBOSS_REPLICA:-1}"
services_start

if ! command -v wrk >/dev/null 2>&1; then
    apt_install wrk
fi

export PYTHONUNBUFFERED=1
args=()
if [[ "${QUICK:-}" == 1 ]]; then
    args+=(--quick)
fi
log "running the benchmark${args[*]:+ (${args[*]})}"
python -m bench.run "${args[@]}" "$@"
