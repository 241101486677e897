"""The audit records' admin list costs the same at any number of records: its filters' values
are found by walking their indexes and its date drill-down by probing the time index, never by
reading every record (a DISTINCT or a total count), and they offer exactly what is there."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db

URL = "/admin/wallets/auditrecord/"


def _record(action: str, target_type: str, at: datetime.datetime) -> None:
    record = AuditRecord.objects.create(
        actor_label="system", action=action, target_type=target_type, target_id="1"
    )
    AuditRecord.objects.filter(pk=record.pk).update(at=at)


@pytest.fixture
def records():
    utc = datetime.UTC
    _record("player.block", "player", datetime.datetime(2025, 3, 9, 10, tzinfo=utc))
    _record("player.block", "player", datetime.datetime(2026, 2, 1, 0, 30, tzinfo=utc))
    _record("provider.suspend", "provider", datetime.datetime(2026, 2, 28, 23, tzinfo=utc))
    _record("hold.approve", "transaction", datetime.datetime(2026, 11, 5, 12, tzinfo=utc))


def _get(client, params=""):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL + params)
    assert response.status_code == 200
    statements = [query["sql"] for query in queries.captured_queries]
    for sql in statements:
        # Nothing reads every record: no DISTINCT, no COUNT(*) without a LIMIT.
        assert "DISTINCT" not in sql, sql
        assert not (sql.startswith("SELECT COUNT(*)") and "LIMIT" not in sql), sql
    return response.content.decode()


def test_the_filters_offer_the_values_there_are(admin_client, records):
    page = _get(admin_client)
    for action in ("player.block", "provider.suspend", "hold.approve"):
        assert f"?action={action}" in page
    for target_type in ("player", "provider", "transaction"):
        assert f"?target_type={target_type}" in page
    filtered = _get(admin_client, "?action=player.block")
    assert filtered.count('class="field-action"') == 2


def test_the_date_drill_down_offers_the_periods_that_hold_records(admin_client, records):
    years = _get(admin_client)
    assert "at__year=2025" in years and "at__year=2026" in years
    assert "at__year=2024" not in years
    months = _get(admin_client, "?at__year=2026")
    assert "at__month=2" in months and "at__month=11" in months
    assert "at__month=3" not in months and "at__month=10" not in months
    days = _get(admin_client, "?at__year=2026&at__month=2")
    assert "at__day=1" in days and "at__day=28" in days
    assert "at__day=2&" not in days and "at__day=27" not in days
    # Filters and dates together: only player.block's periods.
    blocked = _get(admin_client, "?action=player.block")
    assert "at__year=2025" in blocked and "at__year=2026" in blocked
    suspended = _get(admin_client, "?action=provider.suspend&at__year=2026")
    assert "at__month=2" in suspended and "at__month=11" not in suspended
