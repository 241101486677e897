"""Who may call what on the back-office API: one table, endpoint x role -> status.

The groups come from the data migration (wallets/migrations/0002_role_groups.py), which applies
wallets.roles.ROLE_PERMISSIONS; the expectations below are backoffice-api.md's "who" column.
A refused call (401 anonymous, 403 forbidden) must change nothing; an allowed write must change
something, and an allowed read nothing.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from wallets.models import (
    AuditRecord,
    GameSession,
    Player,
    Provider,
    ProviderCredential,
    Transaction,
    Wallet,
)
from wallets.roles import ROLE_PERMISSIONS, sync_role_groups

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Every test makes staff users; the production hasher would spend most of the run hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


ROLES = ["anonymous", "no_group", "back_office", "compliance", "support", "integrator", "superuser"]
ALL_STAFF = {"back_office", "compliance", "support", "integrator", "superuser"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # formatted with the world's ids
    allowed: frozenset[str]
    success: int = 200
    body: dict[str, Any] | None = None

    @property
    def writes(self) -> bool:
        return self.method != "get"


def endpoint(name, method, path, allowed, success=200, body=None) -> Endpoint:
    return Endpoint(name, method, path, frozenset(allowed), success, body)


ENDPOINTS = [
    endpoint("providers.list", "get", "/api/v1/providers/", ALL_STAFF),
    endpoint("providers.retrieve", "get", "/api/v1/providers/acme/", ALL_STAFF),
    endpoint(
        "providers.create",
        "post",
        "/api/v1/providers/",
        {"integrator", "superuser"},
        201,
        {"code": "newcomer", "name": "Newcomer", "currencies": ["EUR"]},
    ),
    endpoint(
        "providers.suspend",
        "post",
        "/api/v1/providers/acme/suspend",
        {"compliance", "superuser"},
        body={"reason": "investigation", "kill_open_sessions": True},
    ),
    endpoint(
        "providers.restrict",
        "post",
        "/api/v1/providers/acme/restrict",
        {"compliance", "superuser"},
        body={"reason": "investigation"},
    ),
    endpoint(
        "providers.restore",
        "post",
        "/api/v1/providers/quiet/restore",
        {"compliance", "superuser"},
        body={"reason": "cleared"},
    ),
    endpoint(
        "providers.rotate_secret",
        "post",
        "/api/v1/providers/acme/rotate-secret",
        {"integrator", "compliance", "superuser"},
        body={"reason": "scheduled"},
    ),
    endpoint(
        "players.create",
        "post",
        "/api/v1/players/",
        {"integrator", "superuser"},
        201,
        {"external_id": "newcomer", "currency": "EUR"},
    ),
    endpoint("players.list", "get", "/api/v1/players/", ALL_STAFF),
    endpoint("players.retrieve", "get", "/api/v1/players/{player}/", ALL_STAFF),
    endpoint(
        "payments.deposit",
        "post",
        "/api/v1/payments/deposits",
        {"integrator", "superuser"},
        201,
        {"player": "{player}", "amount": "5.00", "currency": "EUR", "external_id": "dep-x"},
    ),
    endpoint(
        "payments.withdrawal",
        "post",
        "/api/v1/payments/withdrawals",
        {"integrator", "superuser"},
        201,
        {"player": "{player}", "amount": "5.00", "currency": "EUR", "external_id": "wd-x"},
    ),
    endpoint(
        "sessions.create",
        "post",
        "/api/v1/sessions/",
        {"integrator", "superuser"},
        201,
        {"player": "{player}", "provider": "acme", "currency": "EUR", "buy_in": "1.00"},
    ),
    endpoint("sessions.list", "get", "/api/v1/sessions/", {"back_office", "support", "superuser"}),
    endpoint(
        "sessions.retrieve",
        "get",
        "/api/v1/sessions/{session}/",
        {"back_office", "support", "superuser"},
    ),
    endpoint(
        "sessions.close",
        "post",
        "/api/v1/sessions/{session}/close",
        {"support", "superuser"},
        body={"reason": "orphaned"},
    ),
    endpoint("transactions.list", "get", "/api/v1/transactions/", ALL_STAFF),
    endpoint("transactions.retrieve", "get", "/api/v1/transactions/{transaction}/", ALL_STAFF),
    endpoint("audit.list", "get", "/api/v1/audit/", {"back_office", "compliance", "superuser"}),
]


@pytest.fixture
def world() -> dict[str, int]:
    """One of everything each endpoint acts on."""
    factories.make_provider("acme")
    quiet, _ = factories.make_provider("quiet")
    Provider.objects.filter(pk=quiet.pk).update(status="restricted", status_reason="earlier")
    player = factories.funded_player(100_00)
    session, _ = factories.open_session(
        player, Provider.objects.get(code="acme"), buy_in_minor=10_00
    )
    return {
        "player": player.pk,
        "session": session.pk,
        "transaction": Transaction.objects.get(player=player).pk,
    }


def client_as(role: str) -> APIClient:
    client = APIClient()
    if role == "anonymous":
        return client
    groups = [] if role in {"no_group", "superuser"} else [role]
    user = factories.UserFactory(groups=groups, is_superuser=role == "superuser")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def state() -> dict:
    """Everything any endpoint could change, in comparable form."""
    return {
        "counts": {
            model.__name__: model.objects.count()
            for model in (
                Provider,
                ProviderCredential,
                Player,
                Wallet,
                Transaction,
                GameSession,
                AuditRecord,
            )
        },
        "providers": sorted(Provider.objects.values_list("code", "status", "status_reason")),
        "credentials": sorted(
            ProviderCredential.objects.values_list("pk", "expires_at", "revoked_at")
        ),
        "sessions": sorted(GameSession.objects.values_list("pk", "status", "reserved_minor")),
        "wallets": sorted(Wallet.objects.values_list("pk", "balance_minor", "reserved_minor")),
        "transactions": sorted(Transaction.objects.values_list("pk", "status")),
    }


def fill(value, ids: dict[str, int]):
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
    client = client_as(role)
    before = state()
    path = ep.path.format(**world)
    if ep.writes:
        response = client.post(path, fill(ep.body or {}, world), format="json")
    else:
        response = client.get(path)
    after = state()

    if role == "anonymous":
        assert response.status_code == 401, response.content
        assert response.json()["detail"]
        assert after == before
    elif role in ep.allowed:
        assert response.status_code == ep.success, response.content
        if ep.writes:
            assert after != before, "an allowed write changed nothing"
        else:
            assert after == before
    else:
        assert response.status_code == 403, response.content
        assert response.json()["detail"]
        assert after == before, "a forbidden call changed something"


def test_the_table_covers_every_role_and_the_contract():
    assert set(ROLE_PERMISSIONS) == {"back_office", "compliance", "support", "integrator"}
    for ep in ENDPOINTS:
        assert "superuser" in ep.allowed, ep.name
        assert "anonymous" not in ep.allowed and "no_group" not in ep.allowed


def test_migration_created_the_groups_with_every_listed_permission():
    for role, names in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        granted = {
            f"{app}.{code}"
            for app, code in group.permissions.values_list("content_type__app_label", "codename")
        }
        # Every name in the table exists (a typo would silently grant nothing) and is granted;
        # nothing else is.
        assert granted == set(names), role


def test_permission_names_in_the_table_exist():
    for names in ROLE_PERMISSIONS.values():
        for name in names:
            app, code = name.split(".", 1)
            assert Permission.objects.filter(content_type__app_label=app, codename=code).exists(), (
                name
            )


def test_sync_is_idempotent_and_keeps_what_an_operator_added():
    support = Group.objects.get(name="support")
    extra = Permission.objects.get(content_type__app_label="wallets", codename="view_auditrecord")
    support.permissions.add(extra)
    count = support.permissions.count()
    sync_role_groups()
    sync_role_groups()
    assert support.permissions.count() == count
    assert support.permissions.filter(pk=extra.pk).exists()
    assert Group.objects.filter(name__in=ROLE_PERMISSIONS).count() == 4


def test_a_group_permission_is_what_grants_access(world):
    """Access follows Django permissions, not the group's name: an operator who grants a role
    one more permission in the admin grants that endpoint."""
    client = client_as("support")
    assert client.get("/api/v1/audit/").status_code == 403
    Group.objects.get(name="support").permissions.add(
        Permission.objects.get(content_type__app_label="wallets", codename="view_auditrecord")
    )
    assert client.get("/api/v1/audit/").status_code == 200
