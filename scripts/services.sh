#!/usr/bin/env bash
# Private PostgreSQL and Redis servers for development and tests, kept under .data/.
#
#   scripts/services.sh start    start (or reuse) them; prints `export VAR=...` lines on stdout
#   scripts/services.sh stop     stop the private servers (never ones named by DATABASE_URL/REDIS_URL)
#   scripts/services.sh status   say what is running
#
# Sourced (as run.sh and test.sh do), it defines services_start, services_stop and
# services_stop_started; services_start exports DATABASE_URL and REDIS_URL and sets
# PITBOSS_STARTED_PG / PITBOSS_STARTED_REDIS to 1 for each server it started rather than reused.
#
# A server is private only when its *_URL variable is unset: with DATABASE_URL or REDIS_URL set,
# that server is used as it is and nothing is started for it.
#
# Settings: PITBOSS_PG_PORT (54329), PITBOSS_REDIS_PORT (63799), PITBOSS_PG_BINDIR (found).
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system user;
# when that user cannot reach .data/ (a checkout under /root, say), the cluster lives in
# /var/lib/pitboss/<hash of the checkout path> and .data/pg is a symlink to it.

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PITBOSS_STARTED_PG=0
PITBOSS_STARTED_REDIS=0
PITBOSS_STARTED_STANDBY=0
PITBOSS_PRIVATE_PG=0

_pg_port_wanted() { printf '%s' "${PITBOSS_PG_PORT:-54329}"; }
_redis_port_wanted() { printf '%s' "${PITBOSS_REDIS_PORT:-63799}"; }

# Something accepts TCP connections on 127.0.0.1:$1?
_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

_checkout_hash() { printf '%s' "$PITBOSS_ROOT" | sha1sum | cut -c1-12; }

# One services.sh at a time per checkout (make run and make test in two terminals, say).
# fd 9 is closed for every daemon we start, so no server ever holds the lock.
_services_lock() {
    mkdir -p "$PITBOSS_DATA"
    exec 9>"$PITBOSS_DATA/.services.lock"
    flock -w 300 9 || die "another scripts/services.sh has held $PITBOSS_DATA/.services.lock for 5 minutes"
}
_services_unlock() { exec 9>&-; }

# ---------------------------------------------------------------------------------------------
# PostgreSQL

PG_ROOT="$PITBOSS_DATA/pg" # the cluster's folder (or a symlink to it): data/, run/, postgresql.log
PGDATA_DIR="$PG_ROOT/data"
PG_LOG="$PG_ROOT/postgresql.log"
PG_OS_USER=""
PG_BIN=""

# Give the server physical paths: the postgres user may not be able to follow .data/pg itself.
_pg_resolve_root() {
    if [[ -d "$PG_ROOT" ]]; then
        PG_ROOT="$(cd "$PG_ROOT/" && pwd -P)"
        PGDATA_DIR="$PG_ROOT/data"
        PG_LOG="$PG_ROOT/postgresql.log"
    fi
}

_pg_os_user() {
    if is_root; then printf postgres; else id -un; fi
}

# as_pg CMD...: run CMD as the user that owns the cluster, from /, with the lock fd closed.
as_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@" 9>&-)
    else
        (cd / && "$@" 9>&-)
    fi
}

# The PostgreSQL server binaries: PITBOSS_PG_BINDIR, else those of the cluster's own version,
# else the newest under /usr/lib/postgresql, else whatever initdb is on PATH.
_pg_find_bindir() {
    if [[ -n "${PITBOSS_PG_BINDIR:-}" ]]; then
        printf '%s' "$PITBOSS_PG_BINDIR"
        return 0
    fi
    if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then
        local have
        have="$(cat "$PGDATA_DIR/PG_VERSION")"
        if [[ -x "/usr/lib/postgresql/$have/bin/postgres" ]]; then
            printf '%s' "/usr/lib/postgresql/$have/bin"
            return 0
        fi
    fi
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/postgres" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            printf '%s' "$dir"
            return 0
        fi
    done
    local initdb
    if initdb="$(command -v initdb 2>/dev/null)"; then
        dirname "$(readlink -f "$initdb")"
        return 0
    fi
    return 1
}

_pg_setup_bin() {
    if ! PG_BIN="$(_pg_find_bindir)"; then
        apt_install postgresql
        PG_BIN="$(_pg_find_bindir)" || die "PostgreSQL server binaries still not found after installing"
    fi
    local tool
    for tool in initdb pg_ctl postgres psql pg_isready createdb; do
        [[ -x "$PG_BIN/$tool" ]] || die "$PG_BIN/$tool not found: set PITBOSS_PG_BINDIR to PostgreSQL's bin folder"
    done
    if [[ -f "$PGDATA_DIR/PG_VERSION" ]]; then
        local have bin_major
        have="$(cat "$PGDATA_DIR/PG_VERSION")"
        bin_major="$("$PG_BIN/pg_ctl" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')"
        [[ "$have" == "$bin_major" ]] \
            || die "the cluster in $(readlink -f "$PG_ROOT") is PostgreSQL $have but the binaries found are $bin_major: remove that folder and .data/pg to start afresh (its data is lost), or set PITBOSS_PG_BINDIR"
    fi
}

_pg_setup_user() {
    PG_OS_USER="$(_pg_os_user)"
    if is_root && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        log "creating system user $PG_OS_USER (PostgreSQL does not run as root)"
        useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
            --shell /usr/sbin/nologin "$PG_OS_USER"
    fi
}

# Decide where the cluster lives and make sure its owner can reach and write it.
_pg_setup_dirs() {
    mkdir -p "$PITBOSS_DATA"
    if [[ ! -e "$PG_ROOT" && ! -L "$PG_ROOT" ]]; then
        if is_root; then
            chmod a+x "$PITBOSS_DATA"
            if ! as_pg test -x "$PITBOSS_DATA"; then
                local far
                far="/var/lib/pitboss/$(_checkout_hash)"
                note "user $PG_OS_USER cannot reach $PITBOSS_DATA; keeping the cluster in $far"
                # Left by an earlier checkout at this same path (CI's fresh clone, say): a new
                # checkout starts from an empty database, as it would in .data/.
                if [[ -d "$far" ]] && ! pid_alive "$(head -n 1 "$far/data/postmaster.pid" 2>/dev/null || true)" postgres; then
                    note "discarding the stopped cluster an earlier checkout left there"
                    rm -rf "$far"
                fi
                mkdir -p "$far"
                chmod 755 /var/lib/pitboss
                ln -sfn "$far" "$PG_ROOT"
            else
                mkdir -p "$PG_ROOT"
            fi
        else
            mkdir -p "$PG_ROOT"
        fi
    fi
    [[ -d "$PG_ROOT" ]] || die "$PG_ROOT is not a folder (a dangling symlink?): remove it and run again"
    _pg_resolve_root
    if is_root && [[ "$(stat -c %U "$PG_ROOT/")" != "$PG_OS_USER" ]]; then
        chown -R "$PG_OS_USER:" "$PG_ROOT/"
    fi
    chmod 700 "$PG_ROOT/"
    as_pg test -w "$PG_ROOT/" || die "user $PG_OS_USER cannot write $PG_ROOT"
}

# Unix socket folder: inside the cluster's folder unless that path is too long for a socket.
_pg_socket_dir() {
    local port="$1" dir
    dir="$PG_ROOT/run"
    if ((${#dir} + 16 > 100)); then
        dir="/tmp/pitboss-pg-$(_checkout_hash)"
    fi
    if [[ ! -d "$dir" ]]; then
        mkdir -p "$dir"
        is_root && chown "$PG_OS_USER:" "$dir"
        chmod 700 "$dir"
    fi
    printf '%s' "$dir"
}

_pg_initdb() {
    log "creating PostgreSQL cluster in $PG_ROOT (superuser pitboss, trust on loopback)"
    local locale_opts=(--no-locale)
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale_opts=(--locale=C.UTF-8)
    fi
    local out
    if ! out="$(as_pg env LC_ALL=C.UTF-8 "$PG_BIN/initdb" -D "$PGDATA_DIR" -U pitboss -A trust \
        -E UTF8 "${locale_opts[@]}" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "initdb failed"
    fi
    printf "\n# Pitboss: listen address, port and tuning are kept in pitboss.conf\ninclude_if_exists = 'pitboss.conf'\n" \
        >>"$PGDATA_DIR/postgresql.conf"
}

_pg_write_conf() {
    local port="$1" sockdir="$2"
    cat >"$PGDATA_DIR/pitboss.conf" <<EOF
# Written by scripts/services.sh on every start: edits here are lost.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
max_connections = 200
shared_buffers = 256MB
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    is_root && chown "$PG_OS_USER:" "$PGDATA_DIR/pitboss.conf"
    chmod 600 "$PGDATA_DIR/pitboss.conf"
}

_pg_postmaster_pid() { head -n 1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true; }

_pg_running() { pid_alive "$(_pg_postmaster_pid)" postgres; }

# A postmaster killed outright can linger as a zombie, and its postmaster.pid then blocks a start.
_pg_wait_for_dead_postmaster() {
    local pid i
    pid="$(_pg_postmaster_pid)"
    [[ -n "$pid" && -e "/proc/$pid" ]] || return 0
    note "waiting for the previous PostgreSQL (pid $pid, exited) to be reaped"
    for ((i = 0; i < 240; i++)); do
        [[ -e "/proc/$pid" ]] || return 0
        sleep 0.5
    done
    die "the previous PostgreSQL (pid $pid) has not gone away: try again in a minute"
}

# Port of the running postmaster (line 4 of postmaster.pid).
_pg_running_port() { sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true; }

_pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -U pitboss -d postgres -t 2 >/dev/null 2>&1; }

_psql() {
    local port="$1"
    shift
    PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" "host=127.0.0.1 port=$port user=pitboss dbname=postgres" \
        -X -q -v ON_ERROR_STOP=1 "$@"
}

pg_start() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        log "using the database in DATABASE_URL (not starting a private PostgreSQL)"
        return 0
    fi
    _pg_setup_bin
    _pg_setup_user
    _pg_setup_dirs
    local port
    if _pg_running; then
        port="$(_pg_running_port)"
        local i
        for ((i = 0; i < 60; i++)); do
            _pg_ready "$port" && break
            sleep 0.5
        done
        _pg_ready "$port" || die "PostgreSQL in $PG_ROOT is running but does not answer on 127.0.0.1:$port (see $PG_LOG)"
        log "reusing PostgreSQL on 127.0.0.1:$port (already running)"
        if [[ "$port" != "$(_pg_port_wanted)" ]]; then
            note "it runs on $port, not $(_pg_port_wanted): 'make stop' to restart it on the new port"
        fi
    else
        port="$(_pg_port_wanted)"
        [[ -f "$PGDATA_DIR/PG_VERSION" ]] || _pg_initdb
        _pg_wait_for_dead_postmaster
        if _port_open "$port"; then
            die "127.0.0.1:$port is taken by another program: set PITBOSS_PG_PORT to a free port (or DATABASE_URL to a server you have)"
        fi
        local sockdir
        sockdir="$(_pg_socket_dir "$port")"
        _pg_write_conf "$port" "$sockdir"
        log "starting PostgreSQL on 127.0.0.1:$port (data in $PG_ROOT)"
        if ! as_pg "$PG_BIN/pg_ctl" start -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 90 -s >/dev/null 2>&1; then
            tail -n 20 "$PG_LOG" >&2 || true
            die "PostgreSQL did not start (log above, in full in $PG_LOG)"
        fi
        _pg_ready "$port" || die "PostgreSQL started but does not answer on 127.0.0.1:$port (see $PG_LOG)"
        PITBOSS_STARTED_PG=1
    fi
    PITBOSS_PRIVATE_PG=1
    if [[ "$(_psql "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = 'pitboss'")" != 1 ]]; then
        log "creating database pitboss"
        _psql "$port" -c 'CREATE DATABASE pitboss OWNER pitboss'
    fi
    export DATABASE_URL="postgresql://pitboss@127.0.0.1:$port/pitboss"
}

pg_stop() {
    _pg_resolve_root
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] || return 0
    _pg_setup_user
    PG_BIN="$(_pg_find_bindir)" || die "cannot stop PostgreSQL: its binaries are gone"
    standby_stop
    if _pg_running; then
        log "stopping PostgreSQL on 127.0.0.1:$(_pg_running_port)"
        as_pg "$PG_BIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 60 -s >/dev/null \
            || die "PostgreSQL in $PG_ROOT did not stop (see $PG_LOG)"
    fi
}

pg_status() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        echo "PostgreSQL: DATABASE_URL is set, so the private one is not used"
    fi
    _pg_resolve_root
    if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
        echo "PostgreSQL: no private cluster yet ($PG_ROOT)"
        return 0
    fi
    _pg_setup_user
    PG_BIN="$(_pg_find_bindir)" || {
        echo "PostgreSQL: binaries not installed"
        return 0
    }
    if _pg_running; then
        echo "PostgreSQL: running on 127.0.0.1:$(_pg_running_port) (pid $(_pg_postmaster_pid), data in $PG_ROOT)"
    else
        echo "PostgreSQL: stopped (data in $PG_ROOT)"
    fi
    if _standby_running; then
        echo "PostgreSQL standby: running on 127.0.0.1:$(_standby_running_port) (pid $(_standby_pid), data in $(_standby_data))"
    elif [[ -f "$(_standby_data)/PG_VERSION" ]]; then
        echo "PostgreSQL standby: stopped (data in $(_standby_data))"
    fi
}

# ---------------------------------------------------------------------------------------------
# A streaming standby of the private PostgreSQL, for the back office's reads from a replica
# (DATABASE_REPLICA_URL). Started when PITBOSS_REPLICA=1 (make test sets it; `PITBOSS_REPLICA=1
# make services` or `make run` for local work): a base backup of the primary, then physical
# streaming replication on PITBOSS_PG_REPLICA_PORT (default: the primary's port + 1).

_standby_data() { printf '%s' "$PG_ROOT/standby"; }
_standby_pid() { head -n 1 "$(_standby_data)/postmaster.pid" 2>/dev/null || true; }
_standby_running() { pid_alive "$(_standby_pid)" postgres; }
_standby_running_port() { sed -n 4p "$(_standby_data)/postmaster.pid" 2>/dev/null || true; }
_standby_port_wanted() {
    printf '%s' "${PITBOSS_PG_REPLICA_PORT:-$(($(_pg_port_wanted) + 1))}"
}

# The cluster's system identifier: a standby copied from another (older) primary has another.
_pg_system_id() { _psql "$1" -tAc "SELECT system_identifier FROM pg_control_system()" 2>/dev/null || true; }

standby_start() {
    [[ "${PITBOSS_REPLICA:-0}" == 1 ]] || return 0
    if [[ -n "${DATABASE_REPLICA_URL:-}" ]]; then
        log "using the replica in DATABASE_REPLICA_URL (not starting a private standby)"
        return 0
    fi
    if [[ "$PITBOSS_PRIVATE_PG" != 1 ]]; then
        note "DATABASE_URL names your own server: no private standby (set DATABASE_REPLICA_URL to a replica of it)"
        return 0
    fi
    local primary data port sockdir i
    primary="$(_pg_running_port)"
    data="$(_standby_data)"
    if _standby_running; then
        port="$(_standby_running_port)"
        for ((i = 0; i < 60; i++)); do
            _pg_ready "$port" && break
            sleep 0.5
        done
        _pg_ready "$port" || die "the standby in $data is running but does not answer on 127.0.0.1:$port (see $PG_ROOT/standby.log)"
        if [[ "$(_pg_system_id "$port")" == "$(_pg_system_id "$primary")" ]]; then
            log "reusing the PostgreSQL standby on 127.0.0.1:$port (already running)"
            export DATABASE_REPLICA_URL="postgresql://pitboss@127.0.0.1:$port/pitboss"
            return 0
        fi
        note "the standby was copied from an earlier cluster: making a new one"
        as_pg "$PG_BIN/pg_ctl" stop -D "$data" -m fast -w -t 60 -s >/dev/null || true
        rm -rf "$data"
    fi
    port="$(_standby_port_wanted)"
    if _port_open "$port"; then
        die "127.0.0.1:$port is taken by another program: set PITBOSS_PG_REPLICA_PORT to a free port"
    fi
    [[ -x "$PG_BIN/pg_basebackup" ]] || die "$PG_BIN/pg_basebackup not found"
    if [[ -f "$data/PG_VERSION" && -f "$data/pitboss.primary" \
        && "$(cat "$data/pitboss.primary")" != "$(_pg_system_id "$primary")" ]]; then
        note "the stopped standby was copied from an earlier cluster: making a new one"
        rm -rf "$data"
    fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
        log "copying the primary into a streaming standby in $data"
        rm -rf "$data"
        local out
        if ! out="$(as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary" -U pitboss \
            -D "$data" -R -X stream -c fast 2>&1)"; then
            printf '%s\n' "$out" >&2
            die "pg_basebackup failed"
        fi
        _pg_system_id "$primary" >"$data/pitboss.primary"
        is_root && chown "$PG_OS_USER:" "$data/pitboss.primary"
    fi
    sockdir="$(_pg_socket_dir "$port")"
    cat >"$data/pitboss.conf" <<CONF
# Written by scripts/services.sh on every start: edits here are lost.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
max_connections = 200
shared_buffers = 128MB
hot_standby = on
hot_standby_feedback = on
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
CONF
    is_root && chown "$PG_OS_USER:" "$data/pitboss.conf"
    chmod 600 "$data/pitboss.conf"
    log "starting the PostgreSQL standby on 127.0.0.1:$port (streaming from 127.0.0.1:$primary)"
    if ! as_pg "$PG_BIN/pg_ctl" start -D "$data" -l "$PG_ROOT/standby.log" -w -t 90 -s >/dev/null 2>&1; then
        tail -n 20 "$PG_ROOT/standby.log" >&2 || true
        die "the standby did not start (log above, in full in $PG_ROOT/standby.log)"
    fi
    _pg_ready "$port" || die "the standby started but does not answer on 127.0.0.1:$port"
    PITBOSS_STARTED_STANDBY=1
    export DATABASE_REPLICA_URL="postgresql://pitboss@127.0.0.1:$port/pitboss"
}

standby_stop() {
    _standby_running || return 0
    log "stopping the PostgreSQL standby on 127.0.0.1:$(_standby_running_port)"
    as_pg "$PG_BIN/pg_ctl" stop -D "$(_standby_data)" -m fast -w -t 60 -s >/dev/null \
        || die "the standby in $(_standby_data) did not stop (see $PG_ROOT/standby.log)"
}

# ---------------------------------------------------------------------------------------------
# Redis

REDIS_DIR="$PITBOSS_DATA/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

# pid of our redis-server, if one is alive.
_redis_pid() {
    local pid
    pid="$(cat "$REDIS_PIDFILE" 2>/dev/null)" || return 1
    pid_alive "$pid" redis-server || return 1
    printf '%s' "$pid"
}

_redis_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }

redis_start() {
    if [[ -n "${REDIS_URL:-}" ]]; then
        log "using the Redis in REDIS_URL (not starting a private Redis)"
        return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        apt_install redis-server
    fi
    mkdir -p "$REDIS_DIR"
    local port
    if _redis_pid >/dev/null; then
        port="$(cat "$REDIS_DIR/port" 2>/dev/null || _redis_port_wanted)"
        local i
        for ((i = 0; i < 20; i++)); do
            _redis_ping "$port" && break
            sleep 0.25
        done
        _redis_ping "$port" || die "redis-server (pid $(_redis_pid)) is running but does not answer on 127.0.0.1:$port (see $REDIS_LOG)"
        log "reusing Redis on 127.0.0.1:$port (already running)"
        if [[ "$port" != "$(_redis_port_wanted)" ]]; then
            note "it runs on $port, not $(_redis_port_wanted): 'make stop' to restart it on the new port"
        fi
    else
        port="$(_redis_port_wanted)"
        if _port_open "$port"; then
            die "127.0.0.1:$port is taken by another program: set PITBOSS_REDIS_PORT to a free port (or REDIS_URL to a server you have)"
        fi
        rm -f "$REDIS_PIDFILE"
        cat >"$REDIS_DIR/redis.conf" <<EOF
# Written by scripts/services.sh on every start: edits here are lost.
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile "$REDIS_PIDFILE"
logfile "$REDIS_LOG"
dir "$REDIS_DIR"
save ""
appendonly no
EOF
        printf '%s\n' "$port" >"$REDIS_DIR/port"
        log "starting Redis on 127.0.0.1:$port"
        (cd "$REDIS_DIR" && redis-server "$REDIS_DIR/redis.conf" 9>&- </dev/null >/dev/null 2>&1) || {
            tail -n 20 "$REDIS_LOG" >&2 || true
            die "redis-server did not start (see $REDIS_LOG)"
        }
        local i
        for ((i = 0; i < 40; i++)); do
            _redis_ping "$port" && break
            sleep 0.25
        done
        if ! _redis_ping "$port"; then
            tail -n 20 "$REDIS_LOG" >&2 || true
            die "Redis did not answer on 127.0.0.1:$port (see $REDIS_LOG)"
        fi
        PITBOSS_STARTED_REDIS=1
    fi
    export REDIS_URL="redis://127.0.0.1:$port/0"
}

redis_stop() {
    local pid
    pid="$(_redis_pid)" || return 0
    log "stopping Redis on 127.0.0.1:$(cat "$REDIS_DIR/port" 2>/dev/null || echo '?')"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 40; i++)); do
        pid_alive "$pid" || break
        sleep 0.25
    done
    if pid_alive "$pid"; then
        warn "Redis (pid $pid) ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$REDIS_PIDFILE"
}

redis_status() {
    if [[ -n "${REDIS_URL:-}" ]]; then
        echo "Redis: REDIS_URL is set, so the private one is not used"
    fi
    local pid
    if pid="$(_redis_pid)"; then
        echo "Redis: running on 127.0.0.1:$(cat "$REDIS_DIR/port" 2>/dev/null || echo '?') (pid $pid)"
    else
        echo "Redis: stopped"
    fi
}

# ---------------------------------------------------------------------------------------------

services_start() {
    _services_lock
    pg_start
    standby_start
    redis_start
    _services_unlock
}

# Stop the private servers, whoever started them.
services_stop() {
    _services_lock
    redis_stop
    pg_stop
    _services_unlock
}

# Stop only what this shell's services_start started (run.sh, on its way out).
services_stop_started() {
    if [[ "$PITBOSS_STARTED_REDIS" == 1 ]]; then
        redis_stop || true
        PITBOSS_STARTED_REDIS=0
    fi
    if [[ "$PITBOSS_STARTED_STANDBY" == 1 ]]; then
        standby_stop || true
        PITBOSS_STARTED_STANDBY=0
    fi
    if [[ "$PITBOSS_STARTED_PG" == 1 ]]; then
        pg_stop || true
        PITBOSS_STARTED_PG=0
    fi
}

services_status() {
    pg_status
    redis_status
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    case "${1:-start}" in
    start)
        services_start
        printf 'export DATABASE_URL=%q\nexport REDIS_URL=%q\n' "$DATABASE_URL" "$REDIS_URL"
        if [[ -n "${DATABASE_REPLICA_URL:-}" ]]; then
            printf 'export DATABASE_REPLICA_URL=%q\n' "$DATABASE_REPLICA_URL"
        fi
        ;;
    stop) services_stop ;;
    status) services_status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
    esac
fi
