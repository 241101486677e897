"""Parsing of report parameters, shared by the API and the admin pages: one place says what a
valid period, grouping or instant is, and every refusal names the field and the reason."""

import re
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reports.selectors import GROUP_FIELDS
from wallets.errors import ValidationFailed

FIRST_YEAR, LAST_YEAR = 2000, 9000  # dates far outside this are typing errors
MAX_DAYS = 3700  # ten years and a bit, in one report
DEFAULT_DAYS = 30


def parse_day(raw: str | None, field: str) -> date | None:
    if raw in (None, ""):
        return None
    try:
        day = date.fromisoformat(raw)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field} must be a date as YYYY-MM-DD", field=field) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValidationFailed(f"{field} must be between {FIRST_YEAR} and {LAST_YEAR}", field=field)
    return day


def parse_period(raw_from: str | None, raw_to: str | None) -> tuple[date, date]:
    """(from, to) UTC days, inclusive; by default the last 30 days up to today."""
    end = parse_day(raw_to, "to")
    start = parse_day(raw_from, "from")
    if end is None:
        end = timezone.now().date() if start is None else start + timedelta(days=DEFAULT_DAYS - 1)
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed("from must not be after to", field="from")
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_DAYS} days", field="from")
    return start, end


def parse_group(raw: str | None) -> tuple[str, ...]:
    """The grouping keys, e.g. "provider,day"; by default provider, game, currency and day."""
    if raw in (None, ""):
        return ("provider", "game", "currency", "day")
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    unknown = [key for key in keys if key not in GROUP_FIELDS]
    if unknown:
        raise ValidationFailed(
            f"unknown group {', '.join(unknown)!s}: use provider, game, currency, and day or month",
            field="group",
        )
    if "day" in keys and "month" in keys:
        raise ValidationFailed("group by day or by month, not both", field="group")
    if len(set(keys)) != len(keys):
        raise ValidationFailed("a group key is named twice", field="group")
    return tuple(keys)


def parse_month(raw: str | None, field: str = "month") -> date:
    if raw in (None, ""):
        today = timezone.now().date().replace(day=1)
        return (today - timedelta(days=1)).replace(day=1)  # the last full month
    try:
        month = datetime.strptime(raw, "%Y-%m").date()
    except ValueError:
        raise ValidationFailed(f"{field} must be a month as YYYY-MM", field=field) from None
    if not FIRST_YEAR <= month.year <= LAST_YEAR:
        raise ValidationFailed(f"{field} must be between {FIRST_YEAR} and {LAST_YEAR}", field=field)
    return month


def parse_instant(raw: str | None, field: str = "at", *, default_now: bool = False) -> datetime:
    """An ISO-8601 instant; without an offset it is read as UTC. Not in the future."""
    now = timezone.now()
    if raw in (None, ""):
        if default_now:
            return now
        raise ValidationFailed(
            f"{field} is required (ISO-8601, e.g. 2026-12-01T12:00:00Z)", field=field
        )
    text = raw.strip()
    # An unescaped "+01:00" in a query string arrives as " 01:00".
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", text)
    try:
        value = parse_datetime(text)
        if value is None:
            day = date.fromisoformat(text)
            value = datetime(day.year, day.month, day.day)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be an ISO-8601 instant, e.g. 2026-12-01T12:00:00Z", field=field
        ) from None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    if value > now:
        raise ValidationFailed(f"{field} is in the future", field=field)
    if value.year < 2000:
        raise ValidationFailed(f"{field} is before 2000", field=field)
    return value.astimezone(UTC)
