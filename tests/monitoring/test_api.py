"""GET /api/v1/alerts/ with filters; acknowledge and resolve (back office and compliance),
audited."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert, NotificationDelivery
from tests import factories
from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db


def _alert(provider, rule=AlertRule.LATENCY_P95, state=AlertState.FIRING, **fields):
    now = timezone.now()
    return Alert.objects.create(
        rule=rule,
        fingerprint=f"{rule}:{provider.pk}",
        provider=provider,
        state=state,
        summary=f"{provider.code} {rule}",
        started_at=now - timedelta(minutes=10),
        fired_at=now - timedelta(minutes=5) if state != AlertState.PENDING else None,
        last_seen_at=now,
        **fields,
    )


def _client(*groups):
    api = APIClient()
    api.force_authenticate(factories.UserFactory(groups=list(groups)))
    return api


@pytest.fixture
def alerts(db):
    acme, _ = factories.make_provider("acme")
    beta, _ = factories.make_provider("beta")
    return {
        "acme_latency": _alert(acme),
        "acme_errors": _alert(acme, AlertRule.ERROR_RATE, AlertState.ACKNOWLEDGED),
        "beta_latency": _alert(beta, state=AlertState.RESOLVED, resolved_at=timezone.now()),
    }


def test_list_and_filters(alerts):
    api = _client("back_office")
    everything = api.get("/api/v1/alerts/")
    assert everything.status_code == 200
    assert everything.json()["count"] == 3
    ids = lambda r: sorted(a["id"] for a in r.json()["results"])  # noqa: E731
    assert ids(api.get("/api/v1/alerts/?state=firing")) == [alerts["acme_latency"].pk]
    assert ids(api.get("/api/v1/alerts/?provider=beta")) == [alerts["beta_latency"].pk]
    assert ids(api.get("/api/v1/alerts/?rule=error_rate")) == [alerts["acme_errors"].pk]
    assert ids(api.get("/api/v1/alerts/?provider=acme&rule=latency_p95")) == [
        alerts["acme_latency"].pk
    ]
    body = api.get(f"/api/v1/alerts/{alerts['acme_latency'].pk}/").json()
    assert body["provider"] == "acme" and body["state"] == "firing"


@pytest.mark.parametrize("role", ["back_office", "compliance"])
def test_acknowledge_then_resolve(alerts, role, settings):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    api = _client(role)
    alert = alerts["acme_latency"]
    ack = api.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {"note": "looking"}, format="json")
    assert ack.status_code == 200, ack.content
    assert ack.json()["state"] == "acknowledged" and ack.json()["acknowledged_by"]
    again = api.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "NOT_ALLOWED"
    resolved = api.post(f"/api/v1/alerts/{alert.pk}/resolve", {"note": "fixed"}, format="json")
    assert resolved.status_code == 200
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["resolution_note"] == "fixed"
    actions = list(
        AuditRecord.objects.filter(target_id=str(alert.pk), target_type="monitoring.alert")
        .order_by("id")
        .values_list("action", "reason")
    )
    assert actions == [
        ("monitoring.alert_acknowledge", "looking"),
        ("monitoring.alert_resolve", "fixed"),
    ]
    # It had fired, so its resolution is notified.
    assert NotificationDelivery.objects.get(alert=alert).event == "resolved"


def test_support_may_not_see_or_act(alerts):
    api = _client("support")
    assert api.get("/api/v1/alerts/").status_code == 403
    alert = alerts["acme_latency"]
    assert api.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {}, format="json").status_code == 403
    alert.refresh_from_db()
    assert alert.state == AlertState.FIRING


def test_anonymous_is_refused(alerts):
    assert APIClient().get("/api/v1/alerts/").status_code in (401, 403)


def test_resolving_a_resolved_alert_is_refused(alerts):
    api = _client("back_office")
    response = api.post(f"/api/v1/alerts/{alerts['beta_latency'].pk}/resolve", {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "NOT_ALLOWED"
