"""GET /healthz: 200 when PostgreSQL and Redis answer, 503 naming what is down."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return None
    except Exception as error:  # any failure means "down"; the reason is reported
        return f"{type(error).__name__}: {error}".splitlines()[0][:200]


def _redis_ok() -> str | None:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        client.ping()
        return None
    except Exception as error:
        return f"{type(error).__name__}: {error}".splitlines()[0][:200]


def healthz(request):
    checks = {"database": _database_ok(), "redis": _redis_ok()}
    down = {name: reason for name, reason in checks.items() if reason}
    body = {
        "status": "ok" if not down else "degraded",
        "checks": {name: ("ok" if reason is None else "down") for name, reason in checks.items()},
    }
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)
