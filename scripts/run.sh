#!/usr/bin/env bash
# `make run`: the whole of Pitboss on this machine, in the foreground.
#
# Starts (or reuses) the private PostgreSQL and Redis, migrates, collects static files, seeds the
# demo data, then runs the web server, a Celery worker and Celery beat side by side.
# Ctrl-C (or SIGTERM) stops all of them, and the private servers if this run started them.
# If any of the three exits, the others are stopped too and run.sh exits non-zero.
#
#   PORT=8000            web port (always bound to 127.0.0.1)
#   PITBOSS_RELOAD=1     Django's autoreloading runserver instead of granian
#   WEB_CONCURRENCY=2    web server workers (default: one per core; WEB_THREADS threads each)
#   PITBOSS_STOP_TIMEOUT=20  seconds to wait for a graceful stop before SIGKILL
#   PITBOSS_SIMULATE=1   provider simulator against the web port (0: off)
#   PITBOSS_SIMULATE_RATE=2  its requests per second; PITBOSS_SIMULATE_FAULTS=... its faults
# shellcheck disable=SC2317  # functions run from traps
set -euo pipefail
# shellcheck source=scripts/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
cd "$PITBOSS_ROOT"

PORT="${PORT:-8000}"
STOP_TIMEOUT="${PITBOSS_STOP_TIMEOUT:-20}"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "PORT must be a number, not '$PORT'"

CHILD_PIDS=()  # each child leads its own process group (setsid), so pid == pgid
CHILD_NAMES=()
FORCE=0
CLEANED=0

# Prefix each line a child prints with its name. The filter ignores Ctrl-C and SIGTERM, so it
# keeps relaying the children's shutdown messages and ends when they close their output.
_prefix() {
    trap '' INT TERM HUP
    exec sed -u "s/^/$(printf '%-7s' "[$1]") /"
}

start_child() {
    local name="$1"
    shift
    setsid "$@" </dev/null > >(_prefix "$name") 2>&1 &
    CHILD_PIDS+=("$!")
    CHILD_NAMES+=("$name")
}

_group_alive() { kill -0 -- "-$1" 2>/dev/null; }

stop_children() {
    local i pid any deadline
    ((${#CHILD_PIDS[@]})) || return 0
    # The simulator first, while the web server still answers its last session closes.
    for i in "${!CHILD_NAMES[@]}"; do
        [[ "${CHILD_NAMES[$i]}" == sim ]] || continue
        kill -TERM "${CHILD_PIDS[$i]}" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while ((SECONDS < deadline && !FORCE)) && kill -0 "${CHILD_PIDS[$i]}" 2>/dev/null; do
            sleep 0.2
        done
    done
    for pid in "${CHILD_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Graceful: wait for each leader (granian main process, celery worker, beat) to finish.
    deadline=$((SECONDS + STOP_TIMEOUT))
    while ((SECONDS < deadline && !FORCE)); do
        any=0
        for pid in "${CHILD_PIDS[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then any=1; fi
        done
        ((any)) || break
        sleep 0.2
    done
    # Then whatever is left in their process groups (stragglers, or everything after the timeout).
    for i in "${!CHILD_PIDS[@]}"; do
        pid="${CHILD_PIDS[$i]}"
        if _group_alive "$pid"; then
            if ((!FORCE)) && kill -0 "$pid" 2>/dev/null; then
                warn "${CHILD_NAMES[$i]} did not stop within ${STOP_TIMEOUT}s; killing it"
            fi
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done
    wait "${CHILD_PIDS[@]}" 2>/dev/null || true
    CHILD_PIDS=()
}

cleanup() {
    local rc=$?
    ((CLEANED)) && return
    CLEANED=1
    # A second Ctrl-C while stopping skips the graceful wait.
    trap 'FORCE=1' INT TERM HUP
    if ((${#CHILD_PIDS[@]})); then
        log "stopping web, worker and beat"
    fi
    stop_children
    services_stop_started
    exit "$rc"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ensure_venv
use_venv
services_start

export PITBOSS_ENV=development
export PYTHONUNBUFFERED=1

if _port_open "$PORT"; then
    die "127.0.0.1:$PORT is already taken: stop what is using it, or run with PORT=<another port>"
fi

log "applying migrations"
python manage.py migrate --noinput
log "collecting static files"
python manage.py collectstatic --noinput -v 0
log "seeding demo data"
python manage.py seed_demo

if [[ "${PITBOSS_RELOAD:-}" == 1 ]]; then
    log "starting runserver (autoreload) on 127.0.0.1:$PORT"
    start_child web python manage.py runserver "127.0.0.1:$PORT"
else
    log "starting the web server (granian) on 127.0.0.1:$PORT"
    # Production server settings (config/server.py), with an access log for local work.
    start_child web env WEB_BIND="127.0.0.1:$PORT" WEB_ACCESS_LOG=1 python -m config.server
fi
log "starting Celery worker and beat"
start_child worker celery -A config worker -l info --concurrency 2
start_child beat celery -A config beat -l info \
    --scheduler django_celery_beat.schedulers:DatabaseScheduler
if [[ "${PITBOSS_SIMULATE:-1}" != 0 ]]; then
    log "starting the provider simulator at ${PITBOSS_SIMULATE_RATE:-2} req/s (PITBOSS_SIMULATE=0 turns it off)"
    start_child sim python manage.py simulate --base-url "http://127.0.0.1:$PORT" \
        --rate "${PITBOSS_SIMULATE_RATE:-2}" --duration 0 --no-progress --wait 120 \
        --faults "${PITBOSS_SIMULATE_FAULTS:-latency=royale-live:250ms,errors=spinwave:2%}"
fi

# Wait until the web port answers (then print where to go), or until a child exits.
# `wait -n` reports a child that exits while we wait; one that exited between two waits has
# already been reaped and `wait -n` would never name it, so each round also polls with kill -0.
ready=0
rounds=0
dead=""
rc=0
while [[ -z "$dead" ]]; do
    sleep 0.5 &
    ticker=$!
    finished=""
    status=0
    wait -n -p finished "${CHILD_PIDS[@]}" "$ticker" || status=$?
    if [[ -n "$finished" && "$finished" != "$ticker" ]]; then
        kill "$ticker" 2>/dev/null || true
        dead="$finished"
        rc="$status"
        break
    fi
    for pid in "${CHILD_PIDS[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            dead="$pid"
            wait "$pid" || rc=$?
            break
        fi
    done
    [[ -z "$dead" ]] || break
    ((ready)) && continue
    if _port_open "$PORT"; then
        ready=1
        cat >&2 <<EOF

==> Pitboss is running (PITBOSS_ENV=development)
    admin      http://127.0.0.1:$PORT/admin/   (demo admin login: printed by seed_demo above)
    API docs   http://127.0.0.1:$PORT/api/docs/
    health     http://127.0.0.1:$PORT/healthz
    database   $DATABASE_URL
    redis      $REDIS_URL
    Ctrl-C stops everything.

EOF
    else
        rounds=$((rounds + 1))
        if ((rounds == 120)); then
            warn "the web server has not answered on 127.0.0.1:$PORT for 60 s"
        fi
    fi
done

name="?"
for i in "${!CHILD_PIDS[@]}"; do
    [[ "${CHILD_PIDS[$i]}" == "$dead" ]] && name="${CHILD_NAMES[$i]}"
done
((rc != 0)) || rc=1
warn "$name (pid $dead) exited (status $rc); stopping the rest"
exit "$rc"
