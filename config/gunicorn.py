"""Gunicorn settings for production, fitted to a small machine (2 cores); `make run` and
`make bench` use them too. Every value can be overridden from the environment.

- gthread workers: keep-alive connections from providers are held open (a sync worker closes
  every connection after one request, so each call would pay a new TCP handshake), and the
  threads of a worker overlap their database waits.
- WEB_CONCURRENCY workers (default: cores + 1) x GUNICORN_THREADS threads (default 4). A wallet
  call is mostly Python work under the GIL plus a few short database round trips, so a few
  processes with a few threads each fill the cores without piling up database connections
  (each thread keeps its own, CONN_MAX_AGE).
- No access log by default (GUNICORN_ACCESS_LOG=- prints one); it costs a write per call and
  the monitoring app already records every wallet call.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1)
threads = _int("GUNICORN_THREADS", 4)
# Keep provider connections open between calls (providers send bursts over a few sockets).
keepalive = _int("GUNICORN_KEEPALIVE", 30)
# The ledger holds row locks for milliseconds; a request still running after this is stuck.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 10)
backlog = _int("GUNICORN_BACKLOG", 2048)
# Recycle workers now and then so a slow leak cannot grow without bound; jitter staggers them.
max_requests = _int("GUNICORN_MAX_REQUESTS", 100_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 10_000)
# Load the application before forking: workers share its memory and start at once.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") not in {"0", "false", "no"}
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Recent gunicorn opens a control socket under ~/.gunicorn, one path for every checkout on the
# machine; nothing here needs it (older versions ignore the unknown setting).
control_socket_disable = True
