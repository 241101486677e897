"""Monitoring profiles: templates applied by a service and an admin action, edits audited."""

from decimal import Decimal

import pytest
from django.test import Client

from monitoring import services
from monitoring.models import MonitoringProfile
from tests import factories
from wallets.errors import ValidationFailed
from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db


def test_apply_template_is_audited(provider):
    officer = factories.UserFactory(groups=["compliance"])
    profile = services.profile_for(provider)
    services.apply_profile_template(profile=profile, template="proven", actor=officer)
    profile.refresh_from_db()
    assert profile.template == "proven"
    assert (profile.latency_p95_ms, profile.error_rate_percent) == (300, Decimal("0.50"))
    audit = AuditRecord.objects.get(action="monitoring.profile_template")
    assert audit.actor == officer
    assert audit.before["latency_p95_ms"] == "500" and audit.after["latency_p95_ms"] == "300"
    with pytest.raises(ValidationFailed):
        services.apply_profile_template(profile=profile, template="reckless", actor=officer)


def test_hand_edit_makes_the_profile_custom_and_is_audited(provider):
    profile = services.profile_for(provider)
    services.update_profile(
        profile=profile, changes={"latency_p95_ms": 650}, actor=None, reason="slow studio"
    )
    profile.refresh_from_db()
    assert (profile.template, profile.latency_p95_ms) == ("custom", 650)
    audit = AuditRecord.objects.get(action="monitoring.profile_change")
    assert audit.before == {"latency_p95_ms": "500", "template": "conservative"}
    assert audit.after == {"latency_p95_ms": "650", "template": "custom"}


def test_admin_action_applies_a_template(provider):
    officer = factories.UserFactory(groups=["compliance"])
    client = Client()
    client.force_login(officer)
    profile = services.profile_for(provider)
    response = client.post(
        "/admin/monitoring/monitoringprofile/",
        {
            "action": "apply_standard_template",
            "_selected_action": [profile.pk],
            "apply": "1",
            "reason": "six months without incident",
        },
    )
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.template == "standard" and profile.latency_p95_ms == 400
    assert AuditRecord.objects.get(action="monitoring.profile_template").reason == (
        "six months without incident"
    )


def test_admin_lists_profiles_for_every_provider(provider):
    factories.make_provider("beta")
    client = Client()
    client.force_login(factories.UserFactory(groups=["back_office"]))
    response = client.get("/admin/monitoring/monitoringprofile/")
    assert response.status_code == 200
    assert MonitoringProfile.objects.count() == 2


def test_admin_edit_goes_through_the_audited_service(provider):
    officer = factories.UserFactory(groups=["compliance"])
    client = Client()
    client.force_login(officer)
    profile = services.profile_for(provider)
    form = client.get(f"/admin/monitoring/monitoringprofile/{profile.pk}/change/")
    assert form.status_code == 200
    data = {
        name: getattr(profile, name)
        for name in [
            "latency_p95_ms", "error_rate_percent", "lock_wait_p95_ms", "drift_minor",
            "open_sessions_per_player", "orphaned_sessions_per_hour", "window_minutes",
            "min_calls", "pending_seconds", "resolve_after_seconds",
            "auto_protection_action", "auto_protection_after_minutes",
        ]
    }  # fmt: skip
    data.update(
        source_thresholds='{"security_violations": 0}',
        auto_protection_enabled="on",
        auto_protection_action="suspend",
    )
    response = client.post(f"/admin/monitoring/monitoringprofile/{profile.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    profile.refresh_from_db()
    assert profile.auto_protection_enabled and profile.auto_protection_action == "suspend"
    audit = AuditRecord.objects.get(action="monitoring.profile_change")
    assert audit.actor == officer and audit.after["auto_protection_enabled"] == "True"
    assert profile.template == "conservative"  # thresholds untouched
