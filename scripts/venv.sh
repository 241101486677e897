#!/usr/bin/env bash
# Create .venv (if missing or broken) and install the project with its dev extras.
# Writes .venv/.installed on success; `make venv` re-runs this only when pyproject.toml is newer.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$PITBOSS_ROOT"

PYTHON="${PYTHON:-python3}"

if [[ -e "$PITBOSS_VENV" ]] && ! "$PITBOSS_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "removing broken virtualenv $PITBOSS_VENV"
    rm -rf "$PITBOSS_VENV"
fi

if [[ ! -x "$PITBOSS_VENV/bin/python" ]]; then
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3.11 or newer"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); Pitboss needs Python 3.11 or newer (set PYTHON=...)"
    log "creating virtualenv .venv with $("$PYTHON" -V 2>&1)"
    if ! "$PYTHON" -m venv "$PITBOSS_VENV" 2>/dev/null; then
        rm -rf "$PITBOSS_VENV"
        # Debian's own python3 ships venv/ensurepip separately.
        if [[ "$(command -v "$PYTHON")" == /usr/bin/* ]]; then
            apt_install python3-venv
        fi
        "$PYTHON" -m venv "$PITBOSS_VENV" || die "could not create a virtualenv with $PYTHON"
    fi
fi

log "installing Python dependencies (pip install -e '.[dev]')"
rm -f "$PITBOSS_VENV_STAMP"
"$PITBOSS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -e '.[dev]'
touch "$PITBOSS_VENV_STAMP"
