"""Sending notifications, shared by the direct per-alert deliveries (NotificationDelivery) and
the routed notifications (Notification): the alert's fields in a payload, the webhook POST, and
the loop that sends what is due with retries."""

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

# Both models' status choices share these values.
PENDING, SENT, FAILED = "pending", "sent", "failed"
SEND_ERRORS = (OSError, urllib.error.URLError, ValueError)


def alert_fields(alert) -> dict:
    """An alert as notifications carry it."""

    def iso(moment):
        return moment.isoformat() if moment else None

    return {
        "id": alert.pk,
        "rule": alert.rule,
        "fingerprint": alert.fingerprint,
        "state": alert.state,
        # Decimal strings, as every amount leaving Pitboss (drift is in minor units).
        "value": None if alert.value is None else str(alert.value),
        "threshold": None if alert.threshold is None else str(alert.threshold),
        "summary": alert.summary,
        "started_at": iso(alert.started_at),
        "fired_at": iso(alert.fired_at),
        "resolved_at": iso(alert.resolved_at),
    }


def post_json(url: str, payload: dict, *, timeout: float) -> int:
    """POST `payload` as JSON; returns the 2xx status, raises OSError (URLError, HTTPError,
    a timeout) otherwise."""
    request = urllib.request.Request(  # noqa: S310 - staff configure the URL
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "pitboss-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")
        return response.status


def send_due_rows(
    model,
    *,
    send: Callable,
    max_attempts: Callable,
    related: tuple[str, ...],
    now: datetime,
    limit: int,
) -> int:
    """Try every pending row of `model` that is due (`send(row)` raises on failure, else returns
    what to log). A failure is recorded (attempts, last error) and retried after
    ALERT_NOTIFY_BACKOFF_SECONDS * 2^(attempts-1) until `max_attempts(row)`, then the row is
    `failed`. Rows with an `attempt_log` get one entry per attempt. Concurrent runs skip rows
    another run is sending. Returns the number of rows sent."""
    sent = 0
    ids = list(
        model.objects.filter(status=PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    for row_id in ids:
        with transaction.atomic():
            row = (
                model.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related(*related)
                .filter(pk=row_id, status=PENDING)
                .first()
            )
            if row is None:
                continue
            row.attempts += 1
            entry = {"attempt": row.attempts, "at": now.isoformat()}
            try:
                entry["result"] = send(row) or "sent"
            except SEND_ERRORS as error:
                row.last_error = entry["error"] = f"{type(error).__name__}: {error}"[:500]
                if row.attempts >= max_attempts(row):
                    row.status = FAILED
                    row.next_attempt_at = None
                else:
                    delay = settings.ALERT_NOTIFY_BACKOFF_SECONDS * 2 ** (row.attempts - 1)
                    row.next_attempt_at = now + timedelta(seconds=delay)
                    entry["retry_at"] = row.next_attempt_at.isoformat()
            else:
                row.status = SENT
                row.sent_at = now
                row.next_attempt_at = None
                sent += 1
            if hasattr(row, "attempt_log"):
                row.attempt_log = [*row.attempt_log, entry]
            row.save()
    return sent
