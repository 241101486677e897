#!/usr/bin/env bash
# `make soak`: the seeded money simulation (simulator/soak.py) against the private PostgreSQL and
# Redis (started or reused, as `make test` does), in a database of its own (pitboss_soak,
# created and migrated here) so that the development data is left alone.
#
#   make soak SEEDS=1-200 MINUTES=0.1 [WORKERS=4]    each seed plays MINUTES of traffic
#   make soak SEEDS=17 STEPS=60                       a fixed number of operations per worker
#
# Exit status: 0 when every seed held every invariant; 1 otherwise (the failing seeds and the
# command replaying each are printed).
set -euo pipefail
# shellcheck source=scripts/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
cd "$PITBOSS_ROOT"

ensure_venv
use_venv
services_start
export PITBOSS_ENV=development
export PYTHONUNBUFFERED=1

# The same server, its own database; no replica (the simulation reads only the primary).
soak_db=pitboss_soak
export DATABASE_URL="${DATABASE_URL%/*}/$soak_db"
unset DATABASE_REPLICA_URL
python - "$DATABASE_URL" <<'PY'
import sys

import psycopg

url = sys.argv[1]
server, name = url.rsplit("/", 1)
with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        conn.execute(f'CREATE DATABASE "{name}"')
PY
log "migrating the simulation's database ($soak_db)"
python manage.py migrate --noinput >/dev/null

args=(--seeds "${SEEDS:-1-10}" --workers "${WORKERS:-4}")
if [[ -n "${STEPS:-}" ]]; then
    args+=(--steps "$STEPS")
else
    args+=(--minutes "${MINUTES:-0.1}")
fi
log "python -m simulator.soak ${args[*]} $*"
exec python -m simulator.soak "${args[@]}" "$@"
