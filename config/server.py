"""The production web server: granian serving config.wsgi:application, with settings fitted to a
small machine (2 cores). `make run`, `make bench` and the reliability tests start it this way:

    python -m config.server [extra granian options]

Why granian: it parses HTTP and does its socket I/O in Rust, outside the GIL, so a worker's
Python time goes to the wallet call itself. On this machine it answered the wallet API's bets
25-31 % faster than gunicorn's gthread workers, with the same code and database (README,
Benchmarks).

- WEB_CONCURRENCY worker processes (default: one per core), each running the WSGI application
  on WEB_THREADS threads (default 4). A wallet call is mostly Python under the GIL plus one
  database round trip, so a few threads per process overlap those waits without piling up
  database connections (each thread keeps its own, CONN_MAX_AGE). Threads are kept while idle
  (an idle thread that exits takes its warm connection with it).
- A worker that dies (a crash, a kill) is started again by the main process.
- HTTP/1.1 keep-alive: providers send bursts over a few long-lived sockets.
- No access log by default (WEB_ACCESS_LOG=1 prints one): it costs a write per call and the
  monitoring app already records every wallet call.
- The server's database connections carry a statement timeout (DB_STATEMENT_TIMEOUT_MS, 30 s
  unless set; 0 turns it off): no statement of a request runs longer, so a wallet call or a page
  cannot hold a thread (4 per worker) on a runaway query. It is a limit of its own, not a copy of
  gunicorn's: gunicorn's gthread worker timeout never bounded a single request. Celery jobs and
  management commands have none.
- WEB_BIND is host:port; an IPv6 host goes in brackets ([::1]:8000).

Every value can be overridden from the environment; extra command-line arguments are passed on.
"""

import os
import shutil
import sys
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _granian() -> str:
    beside = Path(sys.executable).with_name("granian")  # the virtualenv's own
    return str(beside) if beside.exists() else (shutil.which("granian") or "granian")


def _bind() -> tuple[str, str]:
    bind = os.environ.get("WEB_BIND", "127.0.0.1:8000").strip()
    host, _, port = bind.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit():
        raise SystemExit(
            f"WEB_BIND must be host:port (e.g. 0.0.0.0:8000 or [::1]:8000), not {bind!r}"
        )
    return host, port


def argv(*extra: str) -> list[str]:
    """The granian command line for the current environment."""
    host, port = _bind()
    command = [
        _granian(),
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        port,
        "--workers",
        str(_int("WEB_CONCURRENCY", os.cpu_count() or 1)),
        "--blocking-threads",
        str(_int("WEB_THREADS", 4)),
        "--blocking-threads-idle-timeout",
        "600",
        "--backlog",
        str(_int("WEB_BACKLOG", 2048)),
        "--http",
        "1",
        "--no-ws",
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        str(_int("WEB_GRACEFUL_TIMEOUT", 10)),
        "--log-level",
        os.environ.get("WEB_LOG_LEVEL", "info"),
    ]
    if os.environ.get("WEB_ACCESS_LOG", "").lower() in {"1", "true", "yes"}:
        command.append("--access-log")
    return [*command, *extra, "config.wsgi:application"]


def main() -> None:
    os.environ.setdefault("DB_STATEMENT_TIMEOUT_MS", "30000")
    command = argv(*sys.argv[1:])
    os.execv(command[0], command)  # noqa: S606 - our own command line


if __name__ == "__main__":
    main()
