"""One Redis database per pytest-xdist worker, chosen before Django reads its settings.

`make test` runs the suite in several worker processes. pytest-django gives each worker a test
database of its own (test_pitboss_gw0, ...); Redis has no such thing, and the compliance counters,
monitoring series, login throttle and Celery queues of two workers would meet under the same keys.
pytest imports this plugin (`-p tests.xdist_isolation` in pyproject.toml) before pytest-django
loads the settings, so rewriting the URLs in the environment here is enough: worker gwN uses
database N + 1 of the same server (0 stays the one of a plain, single-process run), and so do
the servers the tests start as subprocesses, which inherit the environment.
"""

import os
from urllib.parse import urlsplit, urlunsplit

# The variables whose Redis URL a worker rewrites (those the settings read; empty ones stay empty).
REDIS_URL_VARIABLES = ("REDIS_URL", "CELERY_BROKER_URL", "MONITORING_REDIS_URL")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"  # as config/settings.py


def worker_redis_url(url: str, worker: str) -> str:
    """The URL of the same Redis server with worker gwN's database (N + 1)."""
    number = int(worker.removeprefix("gw"))
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{number + 1}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    for _name in REDIS_URL_VARIABLES:
        _url = os.environ.get(_name, DEFAULT_REDIS_URL if _name == "REDIS_URL" else "")
        if _url:
            os.environ[_name] = worker_redis_url(_url, _worker)
