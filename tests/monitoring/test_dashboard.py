"""The admin dashboard pages render, with data and without, for staff only."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from monitoring import services
from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert, GaugeMinute
from tests import factories
from tests.monitoring.conftest import put_minutes
from wallets import services as wallet_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(factories.UserFactory(groups=["back_office"]))
    return client


def test_front_page_without_providers(staff_client):
    response = staff_client.get("/admin/monitoring/dashboard/")
    assert response.status_code == 200
    assert b"No providers yet." in response.content
    assert b"No open alerts." in response.content


def test_front_page_shows_health_at_a_glance(staff_client):
    now = timezone.now()
    healthy, _ = factories.make_provider("healthy")
    degraded, _ = factories.make_provider("degraded")
    suspended, _ = factories.make_provider("gone")
    wallet_services.change_provider_status(
        provider=suspended, status="suspended", reason="compliance", actor=None
    )
    Alert.objects.create(
        rule=AlertRule.ERROR_RATE,
        fingerprint=f"error_rate:{degraded.pk}",
        provider=degraded,
        state=AlertState.FIRING,
        summary="degraded: error rate 4 %",
        started_at=now,
        fired_at=now,
        last_seen_at=now,
    )
    put_minutes(healthy, start=now - timedelta(minutes=5), minutes=3)
    response = staff_client.get("/admin/monitoring/dashboard/")
    assert response.status_code == 200
    rows = {row.provider.code: row for row in response.context["rows"]}
    assert rows["healthy"].health == "healthy" and rows["healthy"].stats.calls == 300
    assert rows["degraded"].health == "degraded"
    # Health is read from figures; the status of a suspended provider is what it is counted as.
    assert rows["gone"].state == "suspended"
    assert response.context["counts"] == {
        "healthy": 1,
        "degraded": 1,
        "failing": 0,
        "restricted": 0,
        "suspended": 1,
    }
    assert b"degraded: error rate 4 %" in response.content
    assert b'class="status-suspended"' in response.content


def test_provider_page_with_data_draws_charts(staff_client):
    provider, _ = factories.make_provider("acme")
    now = timezone.now()
    put_minutes(provider, start=now - timedelta(minutes=50), minutes=45, slow=3, errors=1)
    services.evaluate_alerts(now=now)
    GaugeMinute.objects.create(
        provider=provider, minute=now - timedelta(minutes=20), name="drift_largest_minor", value=2
    )
    response = staff_client.get("/admin/monitoring/dashboard/acme/?hours=1")
    assert response.status_code == 200
    content = response.content.decode()
    assert (
        content.count('class="pitboss-chart"') == 5
    )  # latency, calls, error rate, sessions, drift
    assert "<polyline" in content
    assert response.context["stats"].calls == 4500
    assert response.context["hours"] == 1
    # Everything the page loads is served by the project itself (no CDN).
    assert not re.search(r'(src|href)="(https?:)?//', content)


def test_provider_page_without_data_shows_empty_states(staff_client):
    factories.make_provider("idle")
    for hours in (1, 6, 24, 168, 999):
        response = staff_client.get(f"/admin/monitoring/dashboard/idle/?hours={hours}")
        assert response.status_code == 200
        assert b"pitboss-chart" not in response.content
        assert response.content.count(b"No data in this window.") == 5
        assert b"No alerts in this window." in response.content


def test_dashboard_is_for_staff_only(db):
    factories.make_provider("acme")
    anonymous = Client().get("/admin/monitoring/dashboard/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    player_like = factories.UserFactory(is_staff=False)
    client = Client()
    client.force_login(player_like)
    assert client.get("/admin/monitoring/dashboard/acme/").status_code == 302


def test_unknown_provider_is_404(staff_client):
    assert staff_client.get("/admin/monitoring/dashboard/nope/").status_code == 404


def test_admin_index_links_the_dashboard(staff_client):
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    assert b'href="/admin/monitoring/dashboard/"' in response.content
