# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Shared helpers for the scripts in this folder. Source it; it sets no shell options of its own.
#
# Every path is derived from this file's location, never from the caller's environment or working
# directory, so the scripts behave the same from make, from .ci/run, or typed by hand.

if [[ -n "${_PITBOSS_COMMON_LOADED:-}" ]]; then
    return 0
fi
_PITBOSS_COMMON_LOADED=1

PITBOSS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PITBOSS_DATA="$PITBOSS_ROOT/.data"
PITBOSS_VENV="$PITBOSS_ROOT/.venv"
PITBOSS_VENV_STAMP="$PITBOSS_VENV/.installed"

# runuser, useradd and friends live in sbin, which a non-login PATH may lack.
case ":$PATH:" in
*:/usr/sbin:*) ;;
*) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;;
esac

# Progress lines go to stderr, so that stdout stays usable (`make -s services` prints exports).
log() { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# pid_alive PID [COMM]: the process exists, is not a zombie, and (if given) its name is COMM.
# (A killed daemon can stay a zombie for a while where PID 1 is slow to reap; kill -0 says alive.)
pid_alive() {
    local stat
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    # /proc/PID/stat is "PID (COMM) STATE ..."; COMM may contain spaces or parentheses.
    local comm="${stat#*(}" state="${stat##*) }"
    comm="${comm%)*}"
    [[ "${state:0:1}" != Z ]] || return 1
    [[ -z "${2:-}" || "$comm" == "$2" ]]
}

# apt_install PKG...: install Debian packages when we are root, or explain what to do when not.
_PITBOSS_APT_UPDATED=""
apt_install() {
    if ! is_root; then
        die "missing $*: install with 'sudo apt-get install -y $*' (or point the matching *_URL variable at a server you already have)"
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing $* and apt-get is not available: install $* by hand"
    log "installing $* with apt-get (first run on this machine)"
    export DEBIAN_FRONTEND=noninteractive
    local out
    if [[ -z "$_PITBOSS_APT_UPDATED" ]]; then
        out="$(apt-get update -qq 2>&1)" || {
            printf '%s\n' "$out" >&2
            die "apt-get update failed"
        }
        _PITBOSS_APT_UPDATED=1
    fi
    # Debian starts a package's system-wide service on install (PostgreSQL on 5432, Redis on 6379).
    # We run private servers instead, so keep those from starting unless the machine already says.
    local made_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
    fi
    local rc=0
    out="$(apt-get install -y -q --no-install-recommends "$@" 2>&1)" || rc=$?
    if [[ -n "$made_policy" ]]; then rm -f /usr/sbin/policy-rc.d; fi
    if [[ "$rc" -ne 0 ]]; then
        printf '%s\n' "$out" | tail -n 30 >&2
        die "apt-get install $* failed (exit $rc)"
    fi
}

# ensure_venv: create .venv and install the project when it is missing or pyproject.toml changed.
ensure_venv() {
    if [[ ! -f "$PITBOSS_VENV_STAMP" || "$PITBOSS_ROOT/pyproject.toml" -nt "$PITBOSS_VENV_STAMP" ]]; then
        bash "$PITBOSS_ROOT/scripts/venv.sh"
    fi
}

# use_venv: put the virtualenv first on PATH for this shell and its children.
use_venv() {
    export VIRTUAL_ENV="$PITBOSS_VENV"
    export PATH="$PITBOSS_VENV/bin:$PATH"
    unset PYTHONHOME
}
