"""The policy's durations have bounds (compliance.models.POLICY_BOUNDS), checked alike by the
admin and the API: a lifetime that would overflow a date when a credential is issued is
refused with a clear error, and a row stored past the bounds before they existed acts at the
bound (rotation, the credential check and the violation counts never overflow)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from compliance import policies, selectors
from compliance import services as compliance_services
from compliance.models import GlobalSecurityPolicy, ProviderSecurityPolicy
from tests import factories
from tests.compliance.conftest import api_client, post_json
from wallets import services
from wallets.models import AuditRecord, ProviderCredential

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_credential_lifetime_days", 36_501),
        ("max_credential_lifetime_days", 2_000_000_000),
        ("max_credential_lifetime_days", 10**30),
        ("window_minutes", 10_081),
        ("signature_failure_window_seconds", 7 * 24 * 3600 + 1),
        ("alert_threshold", 2**31),
    ],
)
def test_the_api_refuses_a_policy_past_its_bounds_naming_the_field(provider, field, value):
    client = api_client("compliance")
    before = GlobalSecurityPolicy.objects.filter(pk=1).values().first()
    for path in ("/api/v1/compliance/policies/global", "/api/v1/compliance/policies/acme/update"):
        response = post_json(client, path, {field: value, "issue_with_expiry": True})
        assert response.status_code == 400, response.content
        assert field in response.json()
    assert GlobalSecurityPolicy.objects.filter(pk=1).values().first() == before
    assert not ProviderSecurityPolicy.objects.exists()
    assert not AuditRecord.objects.filter(action__startswith="compliance.").exists()


def test_the_largest_lifetime_is_accepted_and_rotation_issues_a_credential(provider):
    client = api_client("compliance", "integrator")
    body = {"max_credential_lifetime_days": 36_500, "issue_with_expiry": True}
    response = post_json(client, "/api/v1/compliance/policies/global", body)
    assert response.status_code == 200, response.content
    response = post_json(client, "/api/v1/providers/acme/rotate-secret", {})
    assert response.status_code == 200, response.content
    expires_at = ProviderCredential.objects.filter(provider=provider).latest("pk").expires_at
    assert expires_at - timezone.now() > timedelta(days=36_499)


@pytest.mark.parametrize("model", ["global", "provider"])
def test_the_admin_refuses_a_policy_past_its_bounds(provider, model):
    client = Client()
    client.force_login(factories.UserFactory(is_superuser=True))
    fields = {
        "max_credential_lifetime_days": "2000000000",
        "signature_failure_threshold": "10",
        "signature_failure_window_seconds": "300",
        "window_minutes": "60",
        "alert_threshold": "3",
        "restrict_threshold": "10",
        "suspend_threshold": "0",
        "issue_with_expiry": "on",
    }
    if model == "global":
        policy = policies.global_policy()
        url = f"/admin/compliance/globalsecuritypolicy/{policy.pk}/change/"
    else:
        url = "/admin/compliance/providersecuritypolicy/add/"
        fields["provider"] = str(provider.pk)
    response = client.post(url, fields)
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 36500" in response.content.decode()
    assert GlobalSecurityPolicy.objects.get(pk=1).max_credential_lifetime_days == 365
    assert not ProviderSecurityPolicy.objects.exists()


def test_a_row_stored_past_the_bounds_acts_at_the_bound(provider):
    # As if written before the bounds existed: straight to the table, no validation.
    policies.global_policy()
    GlobalSecurityPolicy.objects.filter(pk=1).update(
        max_credential_lifetime_days=2_000_000_000,
        issue_with_expiry=True,
        window_minutes=2_000_000_000,
        signature_failure_window_seconds=2_000_000_000,
    )
    policies.invalidate()
    effective = policies.for_provider(provider.pk)
    assert effective.max_credential_lifetime_days == 36_500
    assert effective.window_minutes == 7 * 24 * 60
    services.rotate_provider_secret(provider=provider, reason="yearly")
    expires_at = ProviderCredential.objects.filter(provider=provider).latest("pk").expires_at
    assert timedelta(days=36_499) < expires_at - timezone.now() <= timedelta(days=36_500)
    compliance_services.check_credentials()
    assert selectors.violation_counts() == {}
