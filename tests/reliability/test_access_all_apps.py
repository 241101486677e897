"""Who may call what on the back-office endpoints of the monitoring, reconciliation, fraud and
compliance apps (and the compliance endpoints of the core: credentials, audit export): one
table, endpoint x role.

Expectations come from wallets/roles.py (the permission table the groups are built from) and the
"who" column of backoffice-api.md where it lists the endpoint. Roles: anonymous, a staff user
with no group, the four groups, a superuser, and a provider's wallet-API signature headers
(a valid HMAC of the body) sent to the staff API, which must not authenticate anybody.

- An allowed call works: the expected 2xx, or a 4xx about the body/state (never 401/403, never a
  500); an allowed 2xx write changes something, an allowed read nothing.
- A refused call is 401 (anonymous, signature headers) or 403 and changes nothing: every row of
  every model of the four apps and of the core is compared before and after.
- The admin changelist of every model of the four apps: 200 (or a redirect inside the admin) for
  a role with the model's view or change permission, 403 without, the login page for anonymous.
"""

import json
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from compliance import policies
from compliance.choices import Severity, ViolationKind
from compliance.models import SecurityViolation
from fraud.choices import CaseKind
from fraud.models import Case, RuleSnooze
from monitoring.choices import AlertRule, AlertState
from monitoring.models import Alert
from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus
from reconciliation.models import Discrepancy, ReconciliationRun
from tests import factories
from tests.reconciliation.helpers import age_ledger, play, reconcile_rows, row
from tests.reliability.servers import sign
from wallets.models import ProviderCredential, Wallet
from wallets.roles import ROLE_PERMISSIONS

pytestmark = pytest.mark.django_db

APPS = ("monitoring", "reconciliation", "fraud", "compliance")
GROUPS = ("back_office", "compliance", "support", "integrator")
ROLES = ["anonymous", "no_group", *GROUPS, "superuser", "wallet_signature"]
UNAUTHENTICATED = {"anonymous", "wallet_signature"}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # formatted with the world's ids
    allowed: frozenset[str]
    ok: frozenset[int]  # what an allowed role may get
    body: dict[str, Any] | None = None

    @property
    def writes(self) -> bool:
        return self.method != "get"


def endpoint(name, method, path, allowed, ok=(200,), body=None) -> Endpoint:
    return Endpoint(name, method, path, frozenset({*allowed, "superuser"}), frozenset(ok), body)


def public_hex() -> str:
    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )


BO, CO, IN = "back_office", "compliance", "integrator"
WRITE_OK = (200, 201, 204, 400, 404, 409)

ENDPOINTS = [
    # monitoring (backoffice-api.md: back office, compliance)
    endpoint("alerts.list", "get", "/api/v1/alerts/", {BO, CO}),
    endpoint("alerts.retrieve", "get", "/api/v1/alerts/{alert}/", {BO, CO}),
    endpoint("alerts.acknowledge", "post", "/api/v1/alerts/{alert}/acknowledge", {BO, CO},
             body={"note": "on it"}),
    endpoint("alerts.resolve", "post", "/api/v1/alerts/{alert}/resolve", {BO, CO},
             body={"note": "fixed"}),
    # reconciliation (reports: integrator; discrepancies: back office; runs and rows: roles.py)
    endpoint("reconciliation.runs.list", "get", "/api/v1/reconciliation/runs/", {BO, IN}),
    endpoint("reconciliation.runs.retrieve", "get", "/api/v1/reconciliation/runs/{run}/",
             {BO, IN}),
    endpoint("reconciliation.report_rows.list", "get", "/api/v1/reconciliation/report-rows/",
             {BO, IN}),
    endpoint("reconciliation.reports.upload", "post", "/api/v1/reconciliation/reports", {IN},
             ok=(201,), body={"provider": "acme", "rows": "{report_rows}"}),
    endpoint("discrepancies.list", "get", "/api/v1/discrepancies/", {BO}),
    endpoint("discrepancies.retrieve", "get", "/api/v1/discrepancies/{discrepancy}/", {BO}),
    endpoint("discrepancies.propose", "post", "/api/v1/discrepancies/{discrepancy}/propose",
             {BO}, body={"reason": "provider is right", "amount": "1.00", "direction": "credit"}),
    # nothing proposed yet: approving is refused for the state (4xx), but not for the role
    endpoint("discrepancies.approve", "post", "/api/v1/discrepancies/{discrepancy}/approve",
             {BO}, ok=(400, 404, 409, 422), body={"reason": "checked"}),
    endpoint("discrepancies.close", "post", "/api/v1/discrepancies/{discrepancy}/close", {BO},
             body={"reason": "explained by the provider"}),
    # fraud (backoffice-api.md: back office)
    endpoint("holds.list", "get", "/api/v1/holds/", {BO}),
    endpoint("holds.retrieve", "get", "/api/v1/holds/{case}/", {BO}),
    endpoint("holds.approve", "post", "/api/v1/holds/{case}/approve", {BO},
             body={"reason_code": "legitimate_pattern", "reason": "seen before"}),
    endpoint("holds.reject", "post", "/api/v1/holds/{case}/reject", {BO},
             body={"reason_code": "suspected_fraud", "reason": "mule"}),
    endpoint("holds.assign", "post", "/api/v1/holds/{case}/assign", {BO},
             body={"assignee": "{reviewer}"}),
    # the case manager (roles.py: back office; level 2 needs its own permission)
    endpoint("cases.list", "get", "/api/v1/cases/", {BO}),
    endpoint("cases.retrieve", "get", "/api/v1/cases/{case}/", {BO}),
    endpoint("cases.queues", "get", "/api/v1/cases/queues", {BO}),
    endpoint("cases.rule_stats", "get", "/api/v1/cases/rule-stats", {BO}),
    endpoint("cases.next", "post", "/api/v1/cases/next", {BO}, body={"queue": "flag"}),
    endpoint("cases.claim", "post", "/api/v1/cases/{case}/claim", {BO}),
    # nobody holds the case: releasing it is refused for the state, not for the role
    endpoint("cases.release", "post", "/api/v1/cases/{case}/release", {BO}, ok=(409,)),
    endpoint("cases.assign", "post", "/api/v1/cases/{case}/assign", {BO},
             body={"assignee": "{reviewer}"}),
    endpoint("cases.notes", "get", "/api/v1/cases/{case}/notes", {BO}),
    endpoint("cases.notes.add", "post", "/api/v1/cases/{case}/notes", {BO}, ok=(201,),
             body={"body": "called the player"}),
    endpoint("cases.escalate", "post", "/api/v1/cases/{case}/escalate", {BO},
             body={"reason": "ring"}),
    endpoint("cases.decide", "post", "/api/v1/cases/{case}/decide", {BO},
             body={"decision": "reject", "reason_code": "suspected_fraud", "reason": "mule",
                   "outcome": "confirmed_fraud"}),
    # the case is not decided: relabelling is refused for the state, not for the role
    endpoint("cases.outcome", "post", "/api/v1/cases/{case}/outcome", {BO}, ok=(409,),
             body={"outcome": "confirmed_fraud", "reason": "chargeback"}),
    endpoint("cases.snooze", "post", "/api/v1/cases/{case}/snooze", {BO}, ok=(201,),
             body={"rule": "withdrawal_velocity", "days": 3, "reason": "salary"}),
    endpoint("snoozes.list", "get", "/api/v1/snoozes/", {BO}),
    endpoint("snoozes.retrieve", "get", "/api/v1/snoozes/{snooze}/", {BO}),
    endpoint("snoozes.lift", "post", "/api/v1/snoozes/{snooze}/lift", {BO},
             body={"reason": "chargeback"}),
    # fraud rules (roles.py: compliance changes them, back office reads them)
    endpoint("fraud.rules.list", "get", "/api/v1/fraud/rules/", {BO, CO}),
    endpoint("fraud.rules.retrieve", "get", "/api/v1/fraud/rules/withdrawal_velocity/", {BO, CO}),
    endpoint("fraud.versions.list", "get", "/api/v1/fraud/versions/", {BO, CO}),
    endpoint("fraud.versions.retrieve", "get", "/api/v1/fraud/versions/{version}/", {BO, CO}),
    endpoint("fraud.versions.create", "post", "/api/v1/fraud/versions/", {CO}, ok=(201,),
             body={"rule": "withdrawal_velocity"}),
    endpoint("fraud.versions.shadow", "post", "/api/v1/fraud/versions/{version}/shadow", {CO},
             ok=WRITE_OK, body={"reason": "r"}),
    endpoint("fraud.versions.stop_shadow", "post",
             "/api/v1/fraud/versions/{version}/stop-shadow", {CO}, ok=WRITE_OK,
             body={"reason": "r"}),
    endpoint("fraud.versions.publish", "post", "/api/v1/fraud/versions/{version}/publish", {CO},
             ok=WRITE_OK, body={"reason": "r"}),
    endpoint("fraud.versions.restore", "post", "/api/v1/fraud/versions/{version}/restore", {CO},
             ok=WRITE_OK, body={"reason": "r"}),
    endpoint("fraud.shadow_comparison", "get", "/api/v1/fraud/shadow-comparison", {BO, CO},
             ok=(200, 400)),
    endpoint("fraud.backtests.list", "get", "/api/v1/fraud/backtests/", {BO, CO}),
    endpoint("fraud.backtests.retrieve", "get", "/api/v1/fraud/backtests/{backtest}/", {BO, CO}),
    endpoint("fraud.backtests.create", "post", "/api/v1/fraud/backtests/", {CO}, ok=(201,),
             body={"version": "{version}", "days": 1}),
    endpoint("fraud.lists.list", "get", "/api/v1/fraud/lists/", {BO, CO}),
    endpoint("fraud.lists.retrieve", "get", "/api/v1/fraud/lists/{fraud_list}/", {BO, CO}),
    endpoint("fraud.lists.create", "post", "/api/v1/fraud/lists/", {CO}, ok=WRITE_OK,
             body={"name": "ranges", "kind": "ip", "purpose": "block"}),
    endpoint("fraud.entries.list", "get", "/api/v1/fraud/list-entries/", {BO, CO}),
    endpoint("fraud.entries.retrieve", "get", "/api/v1/fraud/list-entries/{entry}/", {BO, CO}),
    endpoint("fraud.entries.create", "post", "/api/v1/fraud/list-entries/", {CO}, ok=WRITE_OK,
             body={"list": "{fraud_list}", "value": "10.0.0.0/8", "reason": "r"}),
    # compliance (roles.py only: not in backoffice-api.md's table)
    endpoint("compliance.violations.list", "get", "/api/v1/compliance/violations/", {CO}),
    endpoint("compliance.violations.retrieve", "get",
             "/api/v1/compliance/violations/{violation}/", {CO}),
    endpoint("compliance.policies.global", "get", "/api/v1/compliance/policies/", {CO}),
    endpoint("compliance.policies.update_global", "post", "/api/v1/compliance/policies/global",
             {CO}, body={"signature_failure_threshold": 7, "reason": "tighter"}),
    endpoint("compliance.policies.provider", "get", "/api/v1/compliance/policies/acme/", {CO}),
    endpoint("compliance.policies.update_provider", "post",
             "/api/v1/compliance/policies/acme/update", {CO},
             body={"max_credential_lifetime_days": 30, "reason": "tighter"}),
    endpoint("providers.credentials.add", "post", "/api/v1/providers/acme/credentials", {CO, IN},
             ok=(201,), body={"public_key": "{public_key}", "reason": "new key"}),
    endpoint("providers.credentials.revoke", "post",
             "/api/v1/providers/acme/credentials/{fingerprint}/revoke", {CO, IN},
             body={"reason": "leaked"}),
    endpoint("audit.export", "get", "/api/v1/audit/export.csv", {BO, CO}),
]  # fmt: skip


@pytest.fixture
def world() -> dict[str, Any]:
    """One of everything the endpoints act on."""
    acme, secret = factories.make_provider("acme")
    player = factories.funded_player(100_00)
    play(acme, player, bets=[("b1", 10_00)])
    age_ledger(3600)
    run = reconcile_rows(acme, [row("b1", player, amount="10.00")])
    now = timezone.now()
    alert = Alert.objects.create(
        rule=AlertRule.LATENCY_P95, fingerprint=f"latency:{acme.pk}", provider=acme,
        state=AlertState.FIRING, summary="acme latency", started_at=now - timedelta(minutes=10),
        fired_at=now - timedelta(minutes=5), last_seen_at=now,
    )  # fmt: skip
    wallet = Wallet.objects.get(player=player, currency="EUR")
    discrepancy = Discrepancy.objects.create(
        kind=DiscrepancyKind.AMOUNT_MISMATCH, status=DiscrepancyStatus.OPEN, provider=acme,
        wallet=wallet, provider_transaction_id="b9", round_id="r-b9",
        player_external_id=player.external_id, transaction_kind="bet", currency="EUR",
        provider_amount_minor=9_00, wallet_amount_minor=10_00, drift_minor=1_00,
        occurred_at=now - timedelta(hours=2), opened_at=now - timedelta(hours=1),
    )  # fmt: skip
    case = Case.objects.create(
        kind=CaseKind.FLAG, player=player, wallet=wallet, provider=acme, currency="EUR",
        rule_keys=["withdrawal_velocity"], hits=[],
    )  # fmt: skip
    violation = SecurityViolation.objects.create(
        provider=acme, kind=ViolationKind.SIGNATURE_FAILURES, severity=Severity.HIGH,
        occurred_at=now,
    )  # fmt: skip
    reviewer = factories.UserFactory(groups=["back_office"])
    snooze = RuleSnooze.objects.create(
        player=player, rule_key="bonus_farming", starts_at=now,
        until=now + timedelta(days=7), reason="verified", created_by=reviewer,
    )  # fmt: skip
    from fraud import services as fraud_services
    from fraud.models import Backtest, FraudList, FraudRule

    version = fraud_services.create_draft(
        rule=FraudRule.objects.get(key="withdrawal_velocity"), actor=None
    )
    backtest = Backtest.objects.create(version=version, days=1)
    fraud_list = FraudList.objects.create(name="world", kind="ip", purpose="review")
    entry = fraud_services.add_list_entry(
        fraud_list=fraud_list, value="203.0.113.0/24", reason="r", actor=None
    )
    # The global policy row is created on first use with the settings' defaults (by a read too):
    # made here so that a read of it is not counted as a change.
    policies.global_policy()
    return {
        "secret": secret,
        "alert": alert.pk,
        "run": run.pk,
        "discrepancy": discrepancy.pk,
        "case": case.pk,
        "snooze": snooze.pk,
        "violation": violation.pk,
        "reviewer": reviewer.username,
        "version": version.pk,
        "backtest": backtest.pk,
        "fraud_list": fraud_list.pk,
        "entry": entry.pk,
        "fingerprint": ProviderCredential.objects.get(provider=acme).fingerprint,
        "public_key": public_hex(),
        "report_rows": [row("b1", player, amount="10.00")],
    }


def client_as(role: str, world: dict) -> APIClient:
    client = APIClient()
    if role in UNAUTHENTICATED:
        return client
    groups = [] if role in {"no_group", "superuser"} else [role]
    user = factories.UserFactory(groups=groups, is_superuser=role == "superuser")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def signature_headers(secret: str, path: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "HTTP_X_PROVIDER_CODE": "acme",
        "HTTP_X_TIMESTAMP": timestamp,
        "HTTP_X_SIGNATURE": sign(secret, timestamp, path, body),
    }


WATCHED = [
    model
    for label in (*APPS, "wallets", "authtoken")
    for model in apps.get_app_config(label).get_models()
    if model._meta.label not in {"authtoken.Token"}
]


def state() -> dict[str, list]:
    """Every row of every model of the four apps and of the core, in comparable form."""
    return {
        model._meta.label: sorted(map(repr, model.objects.values_list()))
        for model in WATCHED
    }  # fmt: skip


def fill(value, ids: dict[str, Any]):
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


CASES = [
    pytest.param(ep, role, id=f"{ep.name}-{role}")
    for ep in ENDPOINTS
    for role in ROLES
]  # fmt: skip


@pytest.mark.parametrize(("ep", "role"), CASES)
def test_endpoint_by_role(world, ep: Endpoint, role: str):
    client = client_as(role, world)
    path = ep.path.format(**{k: v for k, v in world.items() if not isinstance(v, list)})
    body = json.dumps(fill(ep.body or {}, world)).encode() if ep.writes else b""
    extra = signature_headers(world["secret"], path, body) if role == "wallet_signature" else {}
    before = state()
    if ep.writes:
        response = client.post(path, body, content_type="application/json", **extra)
    else:
        response = client.get(path, **extra)
    after = state()
    content = response.content if not hasattr(response, "streaming_content") else b""

    if role in UNAUTHENTICATED:
        assert response.status_code == 401, content
        assert response.json()["detail"]
        assert after == before, "an unauthenticated call changed something"
    elif role in ep.allowed:
        assert response.status_code in ep.ok, (response.status_code, content)
        if response.status_code >= 300:
            assert response.json(), "a refusal without a reason"
        elif ep.writes:
            assert after != before, "an allowed write changed nothing"
        else:
            assert after == before, "a read changed something"
    else:
        assert response.status_code == 403, (response.status_code, content)
        assert response.json()["detail"]
        assert after == before, "a forbidden call changed something"


def test_the_table_lists_every_route_of_the_four_apps():
    """Every route of the four apps' API is called by some row of the table (a route added
    without a row here fails this test)."""
    from django.urls import get_resolver

    called = [re.sub(r"\{[a-z_]+\}", "1", ep.path).removeprefix("/api/v1/") for ep in ENDPOINTS]
    routes = [
        sub.pattern
        for pattern in get_resolver().url_patterns
        if str(pattern.pattern) == "api/v1/"
        for sub in pattern.url_patterns
        if getattr(sub.callback, "__module__", "").split(".")[0] in APPS
    ]
    assert len(routes) >= 20
    missing = [str(route) for route in routes if not any(route.match(path) for path in called)]
    assert not missing, missing


# --- admin ----------------------------------------------------------------------------------------

ADMIN_MODELS = sorted(
    (model._meta.app_label, model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label in APPS
)


def may_view(role: str, app: str, model: str) -> bool:
    if role == "superuser":
        return True
    perms = set(ROLE_PERMISSIONS.get(role, []))
    return bool({f"{app}.view_{model}", f"{app}.change_{model}"} & perms)


ADMIN_ROLES = ["anonymous", "no_group", *GROUPS, "superuser"]


@pytest.mark.parametrize("role", ADMIN_ROLES)
def test_admin_changelists_by_role(role):
    client = APIClient()
    if role != "anonymous":
        groups = [] if role in {"no_group", "superuser"} else [role]
        client.force_login(factories.UserFactory(groups=groups, is_superuser=role == "superuser"))
    wrong = []
    for app, model in ADMIN_MODELS:
        url = reverse(f"admin:{app}_{model}_changelist")
        response = client.get(url)
        if role == "anonymous":
            good = response.status_code == 302 and "/login/" in response["Location"]
        elif may_view(role, app, model):
            good = response.status_code == 200 or (
                response.status_code == 302 and response["Location"].startswith("/admin/")
                and "/login/" not in response["Location"]
            )  # fmt: skip
        else:
            good = response.status_code == 403
        if not good:
            wrong.append((f"{app}.{model}", response.status_code, response.get("Location")))
    assert not wrong, wrong


def test_role_groups_exist():
    assert set(Group.objects.filter(name__in=GROUPS).values_list("name", flat=True)) == set(GROUPS)
    assert ADMIN_MODELS, "no admin model found for the four apps"
    assert ReconciliationRun._meta.app_label == "reconciliation"
