"""The policy: automatic restriction and suspension, alerts via the metric source, the job and
its command, and policy edits (audited)."""

import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from compliance import selectors, services
from compliance.choices import ViolationKind
from compliance.models import ProviderSecurityPolicy
from tests import factories
from tests.compliance.conftest import api_client, post_json
from wallets import hooks
from wallets.choices import ProviderStatus, SessionStatus
from wallets.models import AuditRecord, ProviderCredential, Wallet

pytestmark = pytest.mark.django_db


def violate(provider, n, kind=ViolationKind.CVV, minutes_ago=0):
    for _ in range(n):
        v = services.record_violation(
            provider_id=provider.pk, kind=kind, evidence={"test": True}, gate=False
        )
        if minutes_ago:
            v.occurred_at = timezone.now() - timezone.timedelta(minutes=minutes_ago)
            v.save(update_fields=["occurred_at"])


def expire_credentials():
    """Credentials with an expiry, so the job's credential check adds no violation here."""
    ProviderCredential.objects.update(expires_at=timezone.now() + timezone.timedelta(days=30))


def test_automatic_restriction_by_policy(provider, set_policy):
    expire_credentials()
    set_policy(provider, restrict_threshold=3, suspend_threshold=0, window_minutes=60)
    violate(provider, 2)
    violate(provider, 5, minutes_ago=61)  # outside the window
    assert services.run_evaluation().restricted == []
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.ACTIVE

    violate(provider, 1)
    result = services.run_evaluation()
    assert result.restricted == ["acme"]
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.RESTRICTED
    assert "3 violations in 60 min" in provider.status_reason
    audit = AuditRecord.objects.get(action="provider.status")
    assert audit.actor is None and audit.actor_label == "policy:security"
    assert (audit.before["status"], audit.after["status"]) == ("active", "restricted")
    # a second run changes nothing (already restricted)
    assert services.run_evaluation().restricted == []
    assert AuditRecord.objects.filter(action="provider.status").count() == 1


def test_automatic_suspension_kills_sessions_and_releases_reservations(provider, set_policy):
    set_policy(provider, restrict_threshold=2, suspend_threshold=4, kill_sessions_on_suspend=True)
    player = factories.funded_player(50_00)
    session, _ = factories.open_session(player, provider, buy_in_minor=20_00)
    expire_credentials()
    assert Wallet.objects.get(player=player).reserved_minor == 20_00
    violate(provider, 4)
    other, _ = factories.make_provider("calm")
    violate(other, 1)
    result = services.run_evaluation()
    assert result.suspended == ["acme"] and result.restricted == []
    provider.refresh_from_db()
    other.refresh_from_db()
    assert provider.status == ProviderStatus.SUSPENDED
    assert other.status == ProviderStatus.ACTIVE
    session.refresh_from_db()
    assert session.status == SessionStatus.KILLED
    wallet = Wallet.objects.get(player=player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (50_00, 0)


def test_metric_source_reports_counts_at_the_alert_threshold(provider, set_policy):
    set_policy(alert_threshold=3, restrict_threshold=0)
    quiet, _ = factories.make_provider("quiet")
    violate(provider, 3)
    violate(quiet, 2)
    assert hooks.metric_sources["security_violations"]() == {provider.pk: 3.0, quiet.pk: 0.0}
    assert hooks.metric_sources["security_violations_total"]() == {
        provider.pk: 3.0,
        quiet.pk: 2.0,
    }
    assert selectors.violation_counts() == {provider.pk: 3, quiet.pk: 2}


def test_the_command_runs_the_job(provider, set_policy):
    set_policy(provider, restrict_threshold=1)
    violate(provider, 1)
    out = io.StringIO()
    call_command("compliance_evaluate", stdout=out)
    assert "restricted: acme" in out.getvalue()
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.RESTRICTED


def test_the_beat_schedule_exists():
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.get(task="compliance.evaluate").interval.every == 60


def test_policy_api_is_audited_and_compliance_only(provider):
    client = api_client("compliance")
    response = post_json(
        client,
        "/api/v1/compliance/policies/acme/update",
        {"restrict_threshold": 2, "require_tls": True, "reason": "repeat offender"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["overrides"]["restrict_threshold"] == 2
    assert body["overrides"]["window_minutes"] is None  # inherited
    assert body["effective"]["require_tls"] is True
    assert body["effective"]["window_minutes"] == 60
    assert ProviderSecurityPolicy.objects.get(provider=provider).restrict_threshold == 2
    audit = AuditRecord.objects.get(action="compliance.policy")
    assert audit.reason == "repeat offender"
    assert audit.after == {"require_tls": True, "restrict_threshold": 2}
    assert audit.actor == client.user

    g = post_json(client, "/api/v1/compliance/policies/global", {"alert_threshold": 7})
    assert g.status_code == 200 and g.json()["alert_threshold"] == 7
    assert client.get("/api/v1/compliance/policies/").json()["alert_threshold"] == 7

    back_office = api_client("back_office")
    assert (
        post_json(
            back_office, "/api/v1/compliance/policies/global", {"alert_threshold": 1}
        ).status_code
        == 403
    )


def test_violation_api_lists_and_filters(provider):
    violate(provider, 2, kind=ViolationKind.CVV)
    violate(provider, 1, kind=ViolationKind.PLAIN_HTTP)
    client = api_client("compliance")
    response = client.get("/api/v1/compliance/violations/", {"provider": "acme", "kind": "cvv"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["kind"] for r in results] == ["cvv", "cvv"]
    assert results[0]["provider"] == "acme"
    assert api_client("support").get("/api/v1/compliance/violations/").status_code == 403
    assert json.dumps(results)  # serialisable evidence


def test_a_restored_provider_is_judged_on_new_violations_only(provider, set_policy):
    expire_credentials()
    set_policy(provider, restrict_threshold=2)
    violate(provider, 2)
    assert services.run_evaluation().restricted == ["acme"]
    officer = factories.UserFactory(groups=["compliance"])
    from wallets import services as wallet_services

    wallet_services.change_provider_status(
        provider=provider, status="active", reason="fixed their logging", actor=officer
    )
    assert services.run_evaluation().restricted == []
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.ACTIVE
    violate(provider, 2)
    assert services.run_evaluation().restricted == ["acme"]
