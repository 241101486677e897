#!/usr/bin/env bash
# `make test`: the test suite against the private PostgreSQL and Redis (started or reused).
#
# Extra pytest arguments come from PYTEST_ARGS (shell-quoted, e.g. PYTEST_ARGS='-x -k "wallet and not slow"')
# and from this script's own arguments. The exit status is pytest's. The servers are left running
# for the next run; `make stop` stops them.
set -euo pipefail
# shellcheck source=scripts/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
cd "$PITBOSS_ROOT"

ensure_venv
use_venv
# The replica-routing tests read from a real streaming standby of the private PostgreSQL.
export PITBOSS_REPLICA=1
services_start

export PITBOSS_ENV=development
export PYTHONUNBUFFERED=1

extra=()
if [[ -n "${PYTEST_ARGS:-}" ]]; then
    # Split like a shell would, so quoted arguments survive (it is the caller's own command line).
    eval "extra=($PYTEST_ARGS)"
fi
# The browser tests (tests/e2e) drive Debian's Chromium; Playwright never downloads a browser.
# As root (CI) install the package when it is missing; otherwise those tests skip and say why.
if [[ ! -x /usr/bin/chromium ]]; then
    if is_root; then
        apt_install chromium
    else
        warn "/usr/bin/chromium is missing: the browser tests will skip (sudo apt-get install chromium)"
    fi
fi
# The suite runs in one worker process per core (pytest-xdist); PYTEST_WORKERS=1 runs it in this
# process. Tests are handed out in collection order, which pytest-django sorts so that the
# transactional tests (whose flush empties what data migrations seeded) come last: each worker
# keeps that order. tests/xdist_isolation.py gives each worker a Redis database of its own.
workers="${PYTEST_WORKERS:-$(nproc)}"
parallel=()
if (( workers > 1 )); then
    parallel=(-p tests.xdist_isolation -n "$workers" --dist loadgroup)
fi
log "running pytest ${parallel[*]} ${extra[*]} $*"
exec python -m pytest "${parallel[@]}" "${extra[@]}" "$@"
