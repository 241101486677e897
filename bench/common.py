"""Shared helpers of the benchmark harness (`make bench`): database URLs, Django setup,
request signing, tool discovery and result lines.

Every bench module prints its result as one JSON object on the last line of stdout; the runner
(bench/run.py) collects those lines into the results table.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH_DB = "pitboss_bench"


def setup_django() -> None:
    """Configure Django from the environment (DATABASE_URL, PITBOSS_ENV) and set it up."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("PITBOSS_ENV", "development")
    import django

    django.setup()


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead (query string kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def libpq_env(url: str) -> dict[str, str]:
    """PG* environment variables for psql/pgbench reaching the database in `url`."""
    parts = urlsplit(url)
    env = {
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGDATABASE": parts.path.lstrip("/") or "postgres",
    }
    if parts.username:
        env["PGUSER"] = parts.username
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def admin_connect(url: str):
    """An autocommit psycopg connection to the server's `postgres` database."""
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or None,
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    )


# DROP DATABASE waits for every backend of the server to acknowledge a barrier; a backend stuck
# elsewhere (a client that stopped in the middle of a COPY, say) would hold it up forever.
DROP_TIMEOUT = "30s"


def _drop(conn, name: str) -> bool:
    """Drop database `name` (ending its sessions); False when the server could not in time."""
    import psycopg

    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        [name],
    )
    conn.execute(f"SET statement_timeout = '{DROP_TIMEOUT}'")
    try:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    except psycopg.errors.QueryCanceled:
        log(f"could not drop database {name} within {DROP_TIMEOUT}; left in place")
        return False
    finally:
        conn.execute("RESET statement_timeout")
    return True


def _check_name(name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {name!r}")


def recreate_database(url: str, name: str) -> str:
    """Drop (terminating its sessions) and create database `name`; returns its URL.

    When the old one cannot be dropped in time, a fresh `<name>_<n>` is created instead, so
    the URL returned is the one to use (and to drop afterwards).
    """
    _check_name(name)
    with admin_connect(url) as conn:
        if not _drop(conn, name):
            name = f"{name}_{int(time.time())}"
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(url, name)


# Set by bench/run.py: an empty, migrated database that bench modules may copy instead of
# migrating their own (CREATE DATABASE ... TEMPLATE takes a second; migrate takes many).
TEMPLATE_ENV = "BENCH_TEMPLATE_DATABASE"


def migrated_database(url: str, name: str) -> str:
    """A fresh, migrated database `name` on the server of `url`; returns its URL.

    Copies the runner's migrated template (BENCH_TEMPLATE_DATABASE) when there is one, else
    creates the database and runs the migrations. Drop it with drop_database when done.
    """
    _check_name(name)
    template = os.environ.get(TEMPLATE_ENV, "")
    if template:
        _check_name(template)
        with admin_connect(url) as conn:
            if not _drop(conn, name):
                name = f"{name}_{int(time.time())}"
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return with_database(url, name)
    new_url = recreate_database(url, name)
    python = ROOT / ".venv" / "bin" / "python"
    subprocess.run(  # noqa: S603 - our own command line
        [str(python) if python.exists() else sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": new_url},
        check=True,
    )
    return new_url


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def drop_database(url: str, name: str) -> bool:
    """Drop database `name` if it exists; False (and a warning) when it could not in time."""
    _check_name(name)
    with admin_connect(url) as conn:
        return _drop(conn, name)


def find_pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    return None


def ensure_wrk() -> str:
    """Path of `wrk`, installing the Debian package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("wrk is not installed: apt-get install wrk (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, **quiet).returncode != 0:  # noqa: S603
        subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)  # noqa: S607
        subprocess.run(install, check=True, **quiet)  # noqa: S603
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk still not found after apt-get install wrk")
    return found


def emit(result: dict) -> None:
    """Print a bench module's result: one JSON line, the last line of stdout."""
    print(json.dumps(result, separators=(",", ":"), sort_keys=True), flush=True)


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def run_module_on(url: str, module: str, *args: str) -> dict:
    """`python -m <module> <args>` with DATABASE_URL=url (Django set up afresh on that
    database); the JSON line it prints last. RuntimeError with its stderr when it fails."""
    completed = subprocess.run(  # noqa: S603 - our own module and arguments
        [sys.executable, "-m", module, *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    result = last_json_line(completed.stdout)
    if completed.returncode != 0 or result is None:
        raise RuntimeError(f"{module} failed: {completed.stderr[-2000:]}")
    return result


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
