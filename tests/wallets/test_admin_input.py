"""Admin forms refuse bad input the way the API does, and a service's refusal after a valid
form is an error message, never a 500: currencies and IP allowlists are checked by the same
validators (wallets.validators) in the provider form and the API, with the same words."""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.messages import ERROR
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from wallets.models import AuditRecord, Provider, ProviderCredential

pytestmark = pytest.mark.django_db
ADD = "/admin/wallets/provider/add/"


@pytest.fixture
def admin():
    client = Client()
    client.force_login(factories.UserFactory(is_superuser=True))
    return client


@pytest.fixture
def api():
    client = APIClient()
    token = Token.objects.create(user=factories.UserFactory(is_superuser=True))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def provider_form(**overrides):
    fields = {
        "code": "newstudio",
        "name": "New Studio",
        "currencies": "EUR,USD",
        "ip_allowlist": "",
        "rounding_mode": "",
        "idle_timeout_seconds": 900,
        "round_timeout_seconds": 3600,
        "max_sessions_per_player": 3,
        "open_round_policy": "refund",
        "credentials-TOTAL_FORMS": 0,
        "credentials-INITIAL_FORMS": 0,
    }
    return fields | overrides


def admin_errors(response, field: str) -> list[str]:
    return list(response.context["adminform"].form.errors.get(field, []))


def api_errors(response, field: str) -> list[str]:
    body = response.json()[field]
    return [text for messages in body.values() for text in messages]


@pytest.mark.parametrize(
    ("currencies", "expected"),
    [
        ("eur", '"eur" is not a currency the wallet knows: an ISO 4217 code in capitals '
                "(write it EUR)"),
        ("XXX", '"XXX" is not a currency the wallet knows'),
        ("EUR,zzz", '"zzz" is not a currency the wallet knows'),
    ],
)  # fmt: skip
def test_unknown_or_lower_case_currencies_are_refused_in_the_admin_as_in_the_api(
    admin, api, currencies, expected
):
    response = admin.post(ADD, provider_form(currencies=currencies))
    assert response.status_code == 200
    (admin_message,) = admin_errors(response, "currencies")
    assert expected in admin_message
    body = {"code": "newstudio", "name": "New Studio", "currencies": currencies.split(",")}
    refused = api.post("/api/v1/providers/", body, format="json")
    assert refused.status_code == 400
    (api_message,) = api_errors(refused, "currencies")
    # SimpleArrayField prefixes the item's position; the validator's words are the same.
    assert admin_message.endswith(api_message)
    assert not Provider.objects.exists() and not ProviderCredential.objects.exists()


@pytest.mark.parametrize("entry", ["not-an-ip", "10.0.0.0/33", "300.1.2.3", "10.0.0.1/8/8"])
def test_bad_ip_allowlist_entries_are_refused_in_the_admin_as_in_the_api(admin, api, entry):
    response = admin.post(ADD, provider_form(ip_allowlist=f"203.0.113.7,{entry}"))
    assert response.status_code == 200
    (admin_message,) = admin_errors(response, "ip_allowlist")
    body = {"code": "newstudio", "name": "N", "currencies": ["EUR"], "ip_allowlist": [entry]}
    refused = api.post("/api/v1/providers/", body, format="json")
    assert refused.status_code == 400
    (api_message,) = api_errors(refused, "ip_allowlist")
    assert f'"{entry}" is not an IP address or network' in api_message
    assert admin_message.endswith(api_message)
    assert not Provider.objects.exists()


def test_good_currencies_and_networks_are_accepted_in_the_admin(admin):
    response = admin.post(
        ADD, provider_form(currencies="EUR,JPY", ip_allowlist="203.0.113.7,10.0.0.0/8,::1")
    )
    assert response.status_code == 302, admin_errors(response, "__all__")
    provider = Provider.objects.get(code="newstudio")
    assert provider.currencies == ["EUR", "JPY"]
    assert provider.ip_allowlist == ["203.0.113.7", "10.0.0.0/8", "::1"]


def _public_hex() -> str:
    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def test_a_service_refusal_after_a_valid_form_is_an_error_message_not_a_500(admin):
    provider, _ = factories.make_provider("acme")
    url = "/admin/wallets/providercredential/add/"
    key = _public_hex()
    assert admin.post(url, {"provider": provider.pk, "public_key": key}).status_code == 302
    before = (ProviderCredential.objects.count(), AuditRecord.objects.count())
    # The same key again (the service refuses it), then an expiry already past.
    past = timezone.localtime(timezone.now() - timedelta(days=1))
    for fields, reason in [
        ({"public_key": key}, "the provider already has this key"),
        (
            {
                "public_key": _public_hex(),
                "expires_at_0": past.strftime("%Y-%m-%d"),
                "expires_at_1": past.strftime("%H:%M:%S"),
            },
            "expires_at must be in the future",
        ),
    ]:
        response = admin.post(url, {"provider": provider.pk, **fields})
        assert response.status_code == 302 and response.url == url
        page = admin.get(response.url)  # back on the form, the reason shown once
        errors = [str(m) for m in page.context["messages"] if m.level == ERROR]
        assert errors == [f"Not saved: {reason}"]
        assert (ProviderCredential.objects.count(), AuditRecord.objects.count()) == before


# --- JSON fields and autocomplete fields of other apps' admins ---------------------------------


def _draft_form(rule, parameters: str) -> dict:
    """A rule's parameters change through a draft version (published later, audited)."""
    return {
        "rule": rule.pk,
        "action": rule.action,
        "parameters": parameters,
        "risk_points": rule.risk_points,
        "four_eyes_minor": "",
        "note": "tighter",
    }


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ("[" * 5000 + "]" * 5000, "nested deeper than 32 levels"),
        ('{"window_seconds": 3600, "window_seconds": 60}', "duplicate key &quot;window_seconds"),
        ('{"window_seconds": NaN}', "NaN is not a number"),
        ('{"window_seconds": "\\ud800"}', "lone surrogate"),
        ('{"window_seconds": "a\\u0000b"}', "NUL character"),
        ('{"window_seconds": 1e999999}', "too large"),
    ],
)
def test_admin_json_fields_are_read_strictly(admin, parameters, reason):
    from fraud import services as fraud_services
    from fraud.models import FraudRule, RuleVersion

    fraud_services.ensure_default_rules()
    rule = FraudRule.objects.get(key="withdrawal_velocity")
    versions = list(RuleVersion.objects.filter(rule=rule).values())
    response = admin.post("/admin/fraud/ruleversion/add/", _draft_form(rule, parameters))
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert list(RuleVersion.objects.filter(rule=rule).values()) == versions
    accepted = admin.post(
        "/admin/fraud/ruleversion/add/",
        _draft_form(rule, '{"window_seconds": 1.2e3, "max_withdrawals": 4}'),
    )
    assert accepted.status_code == 302
    draft = RuleVersion.objects.filter(rule=rule).exclude(pk__in=[v["id"] for v in versions]).get()
    assert (draft.state, draft.parameters) == (
        "draft",
        {"window_seconds": 1200, "max_withdrawals": 4},
    )


@pytest.mark.parametrize(
    ("thresholds", "stored"),
    [
        ('{"security_violations": "abc"}', None),
        ('{"security_violations": [1]}', None),
        ('{"security_violations": 1e30}', None),
        ('{"security_violations": -1}', None),
        ('{"security_violations": 0.1234567}', None),
        ('{"security_violations": 2.5}', {"security_violations": 2.5}),
        ('{"security_violations": "2.5"}', {"security_violations": "2.5"}),
    ],
)
def test_monitoring_source_thresholds_are_numbers_an_alert_can_hold(admin, thresholds, stored):
    from monitoring import services as monitoring_services

    factories.make_provider("acme")
    profile = monitoring_services.ensure_profiles()[Provider.objects.get().pk]
    url = f"/admin/monitoring/monitoringprofile/{profile.pk}/change/"
    original = profile.source_thresholds
    page = admin.get(url)
    fields = {
        name: field.value() if field.value() is not None else ""
        for name, field in ((f.name, f) for f in page.context["adminform"].form)
    }
    fields["source_thresholds"] = thresholds
    fields = {k: ("on" if v is True else v) for k, v in fields.items() if v is not False}
    response = admin.post(url, fields)
    profile.refresh_from_db()
    if stored is None:
        assert response.status_code == 200
        assert "6 decimals at most" in str(response.context["adminform"].form.errors)
        assert profile.source_thresholds == original
    else:
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert profile.source_thresholds == stored


@pytest.mark.parametrize("value", ["1.0", "abc", "\x00", "99999999999999999999999"])
def test_an_autocomplete_field_given_a_value_that_cannot_be_a_key_is_a_form_error(admin, value):
    from compliance.models import ProviderSecurityPolicy
    from reconciliation.models import ProviderReconciliationProfile

    for url, fields in [
        ("/admin/compliance/providersecuritypolicy/add/", {"provider": value}),
        (
            "/admin/reconciliation/providerreconciliationprofile/add/",
            {"provider": value, "grace_seconds": "300"},
        ),
    ]:
        response = admin.post(url, fields)
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["provider"]
    assert not ProviderSecurityPolicy.objects.exists()
    assert not ProviderReconciliationProfile.objects.exists()
