"""The back-office API (/api/v1/...) end to end through DRF, against real PostgreSQL and Redis.

Who may call what is in test_roles.py; here every call is made by a user allowed to make it,
and the assertions are on exact balances, rows and audit records.
"""

import json
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from tests.conftest import WalletApiClient
from wallets.models import (
    AuditRecord,
    GameSession,
    Player,
    Provider,
    ProviderCredential,
    Transaction,
    Wallet,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Every test makes staff users; the production hasher would spend most of the run hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(*groups: str, superuser: bool = False) -> APIClient:
    user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


@pytest.fixture
def integrator():
    return client_for("integrator")


@pytest.fixture
def compliance():
    return client_for("compliance")


@pytest.fixture
def support():
    return client_for("support")


@pytest.fixture
def back_office():
    return client_for("back_office")


def post_json(client: APIClient, path: str, body: bytes | dict):
    """POST a JSON body; bytes are sent as they are (exact JSON numbers, odd documents)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, data=raw, content_type="application/json")


def wallet_of(player: Player, currency: str = "EUR") -> Wallet:
    return Wallet.objects.get(player=player, currency=currency)


def names_field(response, field: str) -> bool:
    """A 4xx JSON body names `field`: DRF's {field: [...]} or our {code, field, message}."""
    body = response.json()
    return field in body or body.get("field") == field


# --- providers ------------------------------------------------------------------------------


def test_create_provider_shows_secret_once_and_the_secret_signs_wallet_calls(
    integrator, back_office
):
    response = post_json(
        integrator,
        "/api/v1/providers/",
        {"code": "neon", "name": "Neon Games", "currencies": ["EUR", "JPY", "EUR"]},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert len(secret) >= 32
    assert body["code"] == "neon"
    assert body["currencies"] == ["EUR", "JPY"]
    assert body["status"] == "active"
    assert body["open_sessions"] == 0
    assert len(body["credentials"]) == 1
    assert "secret_ciphertext" not in json.dumps(body)
    provider = Provider.objects.get(code="neon")
    audit = AuditRecord.objects.get(action="provider.create", target_id=str(provider.pk))
    assert audit.actor == integrator.user
    assert secret not in json.dumps(audit.after)

    # Never again: neither the detail nor the list shows it.
    detail = back_office.get("/api/v1/providers/neon/")
    listing = back_office.get("/api/v1/providers/")
    assert detail.status_code == 200 and listing.status_code == 200
    for response in (detail, listing):
        assert secret.encode() not in response.content
        assert b'"secret"' not in response.content
    assert detail.json()["credentials"][0]["fingerprint"] == body["credentials"][0]["fingerprint"]

    # The secret signs wallet calls for a session launched at that provider.
    player = factories.funded_player(20_00)
    _, token = factories.open_session(player, provider)
    good = WalletApiClient("neon", secret).call("authenticate", session_token=token)
    assert good.status_code == 200, good.content
    assert good.json()["balance"] == "20.00"
    bad = WalletApiClient("neon", secret[:-1] + "x").call("balance", session_token=token)
    assert bad.status_code == 401
    assert bad.json()["code"] == "INVALID_SIGNATURE"


def test_create_provider_with_profile_settings(integrator):
    response = post_json(
        integrator,
        "/api/v1/providers/",
        {
            "code": "tables",
            "name": "Tables",
            "currencies": ["EUR"],
            "ip_allowlist": ["10.0.0.0/8", "192.0.2.7"],
            "rounding_mode": "half_even",
            "idle_timeout_seconds": 600,
            "max_sessions_per_player": 2,
            "open_round_policy": "flag",
        },
    )
    assert response.status_code == 201, response.content
    provider = Provider.objects.get(code="tables")
    assert provider.ip_allowlist == ["10.0.0.0/8", "192.0.2.7"]
    assert provider.rounding_mode == "half_even"
    assert provider.idle_timeout_seconds == 600
    assert provider.round_timeout_seconds == 3600
    assert provider.max_sessions_per_player == 2
    assert provider.open_round_policy == "flag"


VALID_PROVIDER = {"code": "x", "name": "X", "currencies": ["EUR"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"code": None}, "code"),
        ({"name": None}, "name"),
        ({"currencies": None}, "currencies"),
        ({"currencies": []}, "currencies"),
        ({"currencies": ["EUR", "XXX"]}, "currencies"),
        ({"currencies": "EUR"}, "currencies"),
        ({"code": "not a slug"}, "code"),
        ({"code": "x" * 65}, "code"),
        ({"ip_allowlist": ["nope"]}, "ip_allowlist"),
        ({"rounding_mode": "bankers"}, "rounding_mode"),
        ({"idle_timeout_seconds": 5}, "idle_timeout_seconds"),
        ({"idle_timeout_seconds": 10**12}, "idle_timeout_seconds"),
        ({"round_timeout_seconds": 2**31}, "round_timeout_seconds"),
        ({"max_sessions_per_player": 2**40}, "max_sessions_per_player"),
        ({"max_sessions_per_player": 0}, "max_sessions_per_player"),
        ({"open_round_policy": "ignore"}, "open_round_policy"),
        ({"name": "X\x00"}, "name"),
    ],
)
def test_create_provider_refuses_bad_input_naming_the_field(integrator, change, field):
    # None here means "left out".
    body = {k: v for k, v in {**VALID_PROVIDER, **change}.items() if v is not None}
    response = post_json(integrator, "/api/v1/providers/", body)
    assert response.status_code == 400, response.content
    assert names_field(response, field), response.json()
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{", b'{"code": NaN}', b"null"]
)
def test_create_provider_refuses_malformed_documents(integrator, raw):
    response = post_json(integrator, "/api/v1/providers/", raw)
    assert response.status_code == 400, response.content
    assert response.json()
    assert not Provider.objects.exists()


def test_create_provider_with_a_taken_code_is_400_naming_code(integrator):
    factories.make_provider("taken")
    response = post_json(
        integrator, "/api/v1/providers/", {"code": "taken", "name": "Again", "currencies": ["EUR"]}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "code"
    assert Provider.objects.count() == 1
    assert ProviderCredential.objects.count() == 1


def test_provider_list_paginates_orders_filters_and_shows_live_figures(back_office):
    for code in ["bravo", "alpha", "charlie"]:
        factories.make_provider(code)
    charlie = Provider.objects.get(code="charlie")
    charlie.status = "restricted"
    charlie.save()
    player = factories.funded_player(0)
    factories.open_session(player, Provider.objects.get(code="alpha"))
    factories.open_session(player, Provider.objects.get(code="alpha"))

    body = back_office.get("/api/v1/providers/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert [p["code"] for p in body["results"]] == ["alpha", "bravo", "charlie"]
    assert {p["code"]: p["open_sessions"] for p in body["results"]} == {
        "alpha": 2,
        "bravo": 0,
        "charlie": 0,
    }
    assert body["results"][0]["max_sessions_per_player"] == 5
    assert body["results"][0]["idle_timeout_seconds"] == 1800

    ordered = back_office.get("/api/v1/providers/?ordering=-code").json()
    assert [p["code"] for p in ordered["results"]] == ["charlie", "bravo", "alpha"]
    restricted = back_office.get("/api/v1/providers/?status=restricted").json()
    assert [p["code"] for p in restricted["results"]] == ["charlie"]
    assert back_office.get("/api/v1/providers/?search=brav").json()["count"] == 1

    paged = back_office.get("/api/v1/providers/?page_size=2").json()
    assert paged["count"] == 3 and len(paged["results"]) == 2
    assert paged["previous"] is None and "page=2" in paged["next"]
    page2 = back_office.get(paged["next"]).json()
    assert [p["code"] for p in page2["results"]] == ["charlie"]
    assert page2["next"] is None and page2["previous"] is not None

    assert back_office.get("/api/v1/providers/?status=dormant").status_code == 400
    assert back_office.get("/api/v1/providers/?page=99").status_code == 404
    assert back_office.get("/api/v1/providers/nope/").status_code == 404


@pytest.mark.parametrize(
    ("action", "start", "end"),
    [("suspend", "active", "suspended"), ("restrict", "active", "restricted"),
     ("restore", "suspended", "active"), ("restore", "restricted", "active")],
)  # fmt: skip
def test_status_change_needs_a_reason_and_is_audited(compliance, provider, action, start, end):
    Provider.objects.filter(pk=provider.pk).update(status=start, status_reason="earlier")
    path = f"/api/v1/providers/acme/{action}"
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": None}, {"reason": "x" * 501}):
        refused = post_json(compliance, path, body)
        assert refused.status_code == 400, (body, refused.content)
        assert names_field(refused, "reason")
    provider.refresh_from_db()
    assert provider.status == start
    assert not AuditRecord.objects.filter(action="provider.status").exists()

    response = post_json(compliance, path, {"reason": " ticket 42 "})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == end
    assert response.json()["status_reason"] == "ticket 42"
    provider.refresh_from_db()
    assert provider.status == end
    assert provider.status_changed_at is not None
    audit = AuditRecord.objects.get(action="provider.status")
    assert audit.actor == compliance.user
    assert audit.actor_label == compliance.user.username
    assert audit.target_type == "wallets.provider"
    assert audit.target_id == str(provider.pk)
    assert audit.reason.strip() == "ticket 42"
    assert audit.before == {"status": start, "reason": "earlier"}
    assert audit.after["status"] == end

    again = post_json(compliance, path, {"reason": "twice"})
    assert again.status_code == 409
    assert again.json()["code"] == "NOT_ALLOWED"
    assert AuditRecord.objects.filter(action="provider.status").count() == 1


def test_status_change_of_unknown_provider_is_404(compliance):
    response = post_json(compliance, "/api/v1/providers/ghost/suspend", {"reason": "r"})
    assert response.status_code == 404


def test_suspend_with_kill_open_sessions_kills_them_and_releases_reservations(compliance, provider):
    other_provider, _ = factories.make_provider("other")
    alice = factories.funded_player(100_00)
    bob = factories.funded_player(50_00)
    s1, _ = factories.open_session(alice, provider, buy_in_minor=30_00)
    s2, _ = factories.open_session(alice, provider, buy_in_minor=20_00)
    s3, _ = factories.open_session(bob, provider, buy_in_minor=50_00)
    elsewhere, _ = factories.open_session(alice, other_provider, buy_in_minor=10_00)
    assert wallet_of(alice).reserved_minor == 60_00

    response = post_json(
        compliance,
        "/api/v1/providers/acme/suspend",
        {"reason": "fraud ring", "kill_open_sessions": True},
    )
    assert response.status_code == 200, response.content
    assert response.json()["open_sessions"] == 0
    for session in (s1, s2, s3):
        session.refresh_from_db()
        assert session.status == "killed"
        assert session.end_reason == "provider_suspension"
        assert session.reserved_minor == 0
        assert session.ended_by == compliance.user
    elsewhere.refresh_from_db()
    assert elsewhere.status == "open" and elsewhere.reserved_minor == 10_00
    a, b = wallet_of(alice), wallet_of(bob)
    assert (a.balance_minor, a.reserved_minor) == (100_00, 10_00)
    assert (b.balance_minor, b.reserved_minor) == (50_00, 0)
    audit = AuditRecord.objects.get(action="provider.status")
    assert audit.before["status"] == "active"
    assert audit.after == {"status": "suspended", "kill_open_sessions": True}


def test_suspend_without_kill_leaves_sessions_open(compliance, provider, player):
    session, _ = factories.open_session(player, provider, buy_in_minor=40_00)
    response = post_json(compliance, "/api/v1/providers/acme/suspend", {"reason": "review"})
    assert response.status_code == 200
    session.refresh_from_db()
    assert session.status == "open" and session.reserved_minor == 40_00
    assert wallet_of(player).reserved_minor == 40_00
    assert response.json()["open_sessions"] == 1


@pytest.mark.parametrize("role", ["integrator", "compliance"])
def test_rotate_secret_overlap_then_old_secret_stops(role, provider_and_secret, player):
    provider, old_secret = provider_and_secret
    client = client_for(role)
    _, token = factories.open_session(player, provider)
    old_cred = ProviderCredential.objects.get(provider=provider)

    response = post_json(client, "/api/v1/providers/acme/rotate-secret", {"reason": "yearly"})
    assert response.status_code == 200, response.content
    new_secret = response.json()["secret"]
    assert new_secret != old_secret
    old_cred.refresh_from_db()
    assert ProviderCredential.objects.filter(provider=provider).count() == 2
    new_cred = ProviderCredential.objects.exclude(pk=old_cred.pk).get(provider=provider)
    assert response.json()["fingerprint"] == new_cred.fingerprint
    assert new_cred.expires_at is None
    overlap = old_cred.expires_at - timezone.now()
    assert timedelta(minutes=59) < overlap <= timedelta(hours=1)

    old_api, new_api = WalletApiClient("acme", old_secret), WalletApiClient("acme", new_secret)
    assert new_api.call("balance", session_token=token).status_code == 200
    assert old_api.call("balance", session_token=token).status_code == 200

    # The overlap ends: the old secret stops, the new one goes on.
    old_cred.refresh_from_db()
    old_cred.expires_at = timezone.now() - timedelta(seconds=1)
    old_cred.save(update_fields=["expires_at"])  # as staff would: the signal drops the cache
    refused = old_api.call("balance", session_token=token)
    assert refused.status_code == 401
    assert refused.json()["code"] == "INVALID_SIGNATURE"
    assert new_api.call("balance", session_token=token).status_code == 200

    audit = AuditRecord.objects.get(action="provider.rotate_secret")
    assert audit.actor == client.user
    assert audit.reason == "yearly"
    assert audit.before == {"credentials": [old_cred.fingerprint]}
    assert audit.after["new_credential"] == new_cred.fingerprint
    assert new_secret not in json.dumps(audit.after) + json.dumps(audit.before)

    # Only the live credential is listed afterwards; the secret never is.
    detail = client.get("/api/v1/providers/acme/") if role == "integrator" else None
    if detail is not None:
        assert [c["fingerprint"] for c in detail.json()["credentials"]] == [new_cred.fingerprint]
        assert new_secret.encode() not in detail.content


def test_rotate_secret_without_body_and_with_bad_reason(integrator, provider):
    assert integrator.post("/api/v1/providers/acme/rotate-secret").status_code == 200
    bad = post_json(integrator, "/api/v1/providers/acme/rotate-secret", {"reason": "a\x00b"})
    assert bad.status_code == 400
    assert names_field(bad, "reason")
    assert ProviderCredential.objects.filter(provider=provider).count() == 2
    assert post_json(integrator, "/api/v1/providers/nope/rotate-secret", {}).status_code == 404


# --- players --------------------------------------------------------------------------------


def test_create_player_and_read_balances_per_currency(integrator, support, provider):
    response = post_json(
        integrator,
        "/api/v1/players/",
        {"external_id": "p-1", "currency": "EUR", "country": "mt", "registration_ip": "10.0.0.1"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    player = Player.objects.get(pk=body["id"])
    assert (player.external_id, player.country, player.registration_ip) == ("p-1", "MT", "10.0.0.1")
    assert body["balances"] == [
        {"currency": "EUR", "balance": "0.00", "reserved": "0.00", "available": "0.00"}
    ]

    assert (
        post_json(
            integrator,
            "/api/v1/payments/deposits",
            {"player": player.pk, "amount": "100.00", "currency": "EUR", "external_id": "d1"},
        ).status_code
        == 201
    )
    assert (
        post_json(
            integrator,
            "/api/v1/payments/deposits",
            {"player": player.pk, "amount": "350", "currency": "JPY", "external_id": "d2"},
        ).status_code
        == 201
    )
    created = post_json(
        integrator,
        "/api/v1/sessions/",
        {"player": player.pk, "provider": "acme", "currency": "EUR", "buy_in": "30.05"},
    )
    assert created.status_code == 201, created.content

    detail = support.get(f"/api/v1/players/{player.pk}/")
    assert detail.status_code == 200
    assert detail.json()["balances"] == [
        {"currency": "EUR", "balance": "100.00", "reserved": "30.05", "available": "69.95"},
        {"currency": "JPY", "balance": "350", "reserved": "0", "available": "350"},
    ]
    assert detail.json()["external_id"] == "p-1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "EUR"}, "external_id"),
        ({"external_id": "p"}, "currency"),
        ({"external_id": "p", "currency": "XXX"}, "currency"),
        ({"external_id": "p", "currency": "EUR", "country": "Malta"}, "country"),
        ({"external_id": "p", "currency": "EUR", "registration_ip": "999.1.1"}, "registration_ip"),
        ({"external_id": "x" * 129, "currency": "EUR"}, "external_id"),
        ({"external_id": "p\x00", "currency": "EUR"}, "external_id"),
        ({"external_id": ["p"], "currency": "EUR"}, "external_id"),
    ],
)
def test_create_player_refuses_bad_input(integrator, body, field):
    response = post_json(integrator, "/api/v1/players/", body)
    assert response.status_code == 400, response.content
    assert names_field(response, field), response.json()
    assert not Player.objects.exists()


def test_create_player_twice_is_400_naming_external_id(integrator):
    body = {"external_id": "dup", "currency": "EUR"}
    assert post_json(integrator, "/api/v1/players/", body).status_code == 201
    again = post_json(integrator, "/api/v1/players/", body)
    assert again.status_code == 400
    assert again.json()["field"] == "external_id"
    assert Player.objects.count() == 1 and Wallet.objects.count() == 1


@pytest.mark.parametrize("pk", ["abc", "0", "-1", "99999999", "99999999999999999999999"])
def test_unknown_player_is_404(support, pk):
    assert support.get(f"/api/v1/players/{pk}/").status_code == 404


def test_player_list_filters(back_office):
    factories.make_player("EUR", external_id="eu-1", country="MT")
    factories.make_player("JPY", external_id="jp-1", country="JP")
    body = back_office.get("/api/v1/players/?currency=JPY").json()
    assert [p["external_id"] for p in body["results"]] == ["jp-1"]
    assert back_office.get("/api/v1/players/?external_id=eu-1").json()["count"] == 1
    assert back_office.get("/api/v1/players/?country=MT").json()["count"] == 1


# --- payments -------------------------------------------------------------------------------


def deposit(client, player, amount, currency="EUR", external_id="dep-1", **extra):
    body = {"player": player.pk, "amount": amount, "currency": currency, "external_id": external_id}
    return post_json(client, "/api/v1/payments/deposits", {**body, **extra})


def withdraw(client, player, amount, currency="EUR", external_id="wd-1", **extra):
    body = {"player": player.pk, "amount": amount, "currency": currency, "external_id": external_id}
    return post_json(client, "/api/v1/payments/withdrawals", {**body, **extra})


def test_deposit_credits_exactly_and_replays_idempotently(integrator):
    player = factories.make_player("EUR")
    response = deposit(integrator, player, "12.50", ip="203.0.113.9")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "deposit" and body["status"] == "posted"
    assert (body["amount"], body["delta"], body["balance_after"]) == ("12.50", "12.50", "12.50")
    assert body["currency"] == "EUR" and body["duplicate"] is False
    assert body["external_id"] == "dep-1" and body["player"] == player.pk
    assert body["client_ip"] == "203.0.113.9"
    assert body["request_id"]
    assert wallet_of(player).balance_minor == 12_50

    replay = deposit(integrator, player, "12.50", ip="203.0.113.9")
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert replay.json()["id"] == body["id"]
    assert replay.json()["balance_after"] == "12.50"
    # The same amount written differently is the same payload.
    assert deposit(integrator, player, "12.5").json()["duplicate"] is True
    assert wallet_of(player).balance_minor == 12_50
    assert Transaction.objects.filter(kind="deposit").count() == 1

    for changed in (
        {"amount": "12.51"},
        {"currency": "JPY", "amount": "12"},
        {"player_obj": factories.make_player("EUR")},
    ):
        other_player = changed.pop("player_obj", player)
        args = {"amount": "12.50", **changed}
        mismatch = deposit(integrator, other_player, **args)
        assert mismatch.status_code == 409, mismatch.content
        assert mismatch.json()["code"] == "DUPLICATE_MISMATCH"
        assert mismatch.json()["field"] == "external_id"
    assert Transaction.objects.filter(kind="deposit").count() == 1
    assert wallet_of(player).balance_minor == 12_50


@pytest.mark.parametrize(
    ("raw_amount", "currency", "minor"),
    [
        (b"12.50", "EUR", 12_50),
        (b"0.1", "EUR", 10),
        (b"1.10", "EUR", 1_10),
        (b"19.99", "EUR", 19_99),
        (b"7", "EUR", 7_00),
        (b"1e2", "EUR", 100_00),
        (b"350", "JPY", 350),
        (b"350.0", "JPY", 350),
        (b"1.005", "BHD", 1_005),
        (b"999999999999.99", "EUR", 99_999_999_999_999),
        (b'"0.30"', "EUR", 30),
        (b'"1000000000000"', "EUR", 100_000_000_000_000),
    ],
)
def test_deposit_takes_exact_json_numbers_and_decimal_strings(
    integrator, raw_amount, currency, minor
):
    player = factories.make_player("EUR")
    raw = b'{"player": %d, "amount": %s, "currency": "%s", "external_id": "x"}' % (
        player.pk,
        raw_amount,
        currency.encode(),
    )
    response = post_json(integrator, "/api/v1/payments/deposits", raw)
    assert response.status_code == 201, response.content
    assert wallet_of(player, currency).balance_minor == minor
    assert Transaction.objects.get().amount_minor == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("12.345", "EUR"), ("0.001", "EUR"), ("1.5", "JPY"), ("1.0005", "BHD"),
     (b"12.345", "EUR"), (b"0.1e-2", "EUR")],
)  # fmt: skip
def test_too_many_decimals_is_invalid_amount_naming_amount(integrator, amount, currency):
    player = factories.funded_player(100_00)
    for path in ("/api/v1/payments/deposits", "/api/v1/payments/withdrawals"):
        value = amount.decode() if isinstance(amount, bytes) else json.dumps(amount)
        raw = (
            f'{{"player": {player.pk}, "amount": {value}, '
            f'"currency": "{currency}", "external_id": "e"}}'
        )
        response = post_json(integrator, path, raw.encode())
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "INVALID_AMOUNT"
        assert response.json()["field"] == "amount"
    assert Transaction.objects.count() == 1  # the seed deposit
    assert wallet_of(player).balance_minor == 100_00


@pytest.mark.parametrize(
    "raw_amount",
    [b'"-1.00"', b"-1", b'""', b'"abc"', b'"1e3"', b'"NaN"', b'"Infinity"', b"0", b'"0.00"',
     b"null", b"true", b"[1]", b'{"v": 1}', b'" 1.00"', b'"1,00"', b'"1000000000000.01"',
     b"1" + b"0" * 60, b'"1' + b"0" * 50 + b'"', b"-0"],
)  # fmt: skip
def test_bad_amounts_are_refused_naming_amount(integrator, raw_amount):
    player = factories.funded_player(100_00)
    for path in ("/api/v1/payments/deposits", "/api/v1/payments/withdrawals"):
        raw = b'{"player": %d, "amount": %s, "currency": "EUR", "external_id": "e"}' % (
            player.pk,
            raw_amount,
        )
        response = post_json(integrator, path, raw)
        assert response.status_code == 400, (path, response.content)
        assert names_field(response, "amount"), response.json()
    assert wallet_of(player).balance_minor == 100_00
    assert Transaction.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"player": None}, "player"),
        ({"player": 99999999}, "player"),
        ({"player": "abc"}, "player"),
        ({"player": 10**30}, "player"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": None}, "currency"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "e" * 129}, "external_id"),
        ({"ip": "not-an-ip"}, "ip"),
        ({"amount": None, "drop": "amount"}, "amount"),
    ],
)
def test_payment_refuses_bad_fields(integrator, player, change, field):
    body = {"player": player.pk, "amount": "1.00", "currency": "EUR", "external_id": "e"}
    drop = change.pop("drop", None)
    body.update(change)
    if drop:
        del body[drop]
    for path in ("/api/v1/payments/deposits", "/api/v1/payments/withdrawals"):
        response = post_json(integrator, path, body)
        assert response.status_code == 400, response.content
        assert names_field(response, field), response.json()
    assert Transaction.objects.count() == 1


def test_withdrawal_debits_exactly_and_replays(integrator):
    player = factories.funded_player(100_00)
    response = withdraw(integrator, player, "40.01")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["amount"], body["delta"], body["balance_after"]) == (
        "withdrawal",
        "posted",
        "40.01",
        "-40.01",
        "59.99",
    )
    assert wallet_of(player).balance_minor == 59_99
    replay = withdraw(integrator, player, "40.01")
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert wallet_of(player).balance_minor == 59_99
    mismatch = withdraw(integrator, player, "40.00")
    assert mismatch.status_code == 409 and mismatch.json()["code"] == "DUPLICATE_MISMATCH"
    # A deposit and a withdrawal may share a gateway id: the kinds are separate keys.
    assert deposit(integrator, player, "1.00", external_id="wd-1").status_code == 201
    assert wallet_of(player).balance_minor == 60_99


def test_withdrawal_beyond_available_is_402_and_changes_nothing(integrator, provider):
    player = factories.funded_player(100_00)
    factories.open_session(player, provider, buy_in_minor=60_00)
    response = withdraw(integrator, player, "40.01")
    assert response.status_code == 402
    assert response.json() == {
        "code": "INSUFFICIENT_FUNDS",
        "message": "insufficient funds",
        "available": "40.00",
        "currency": "EUR",
    }
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (100_00, 60_00)
    assert not Transaction.objects.filter(kind="withdrawal").exists()
    assert withdraw(integrator, player, "40.00").status_code == 201
    assert wallet_of(player).available_minor == 0
    # No wallet in that currency at all.
    none = withdraw(integrator, player, "1", currency="JPY", external_id="wd-2")
    assert none.status_code == 402 and none.json()["available"] == "0"


@pytest.fixture
def holding_screener(monkeypatch):
    """A fraud screener that holds every payment (as a rule of the fraud app would)."""
    from wallets import hooks

    seen = []

    def screener(request):
        seen.append(request)
        return hooks.Screening(action=hooks.HOLD, hits=({"rule": "test"},))

    monkeypatch.setattr(hooks, "screener", screener)
    return seen


def test_held_payments_are_201_with_status_held(integrator, holding_screener):
    player = factories.make_player("EUR")
    held_deposit = deposit(integrator, player, "80.00", ip="198.51.100.4")
    assert held_deposit.status_code == 201, held_deposit.content
    assert held_deposit.json()["status"] == "held"
    wallet = wallet_of(player)
    # A held credit is in the balance and in reserved until decided.
    assert (wallet.balance_minor, wallet.reserved_minor) == (80_00, 80_00)
    assert holding_screener[0].client_ip == "198.51.100.4"
    assert holding_screener[0].amount_minor == 80_00

    from wallets import ledger

    ledger.decide_hold(
        transaction_id=held_deposit.json()["id"], approve=True, actor=integrator.user
    )
    held_withdrawal = withdraw(integrator, player, "30.00")
    assert held_withdrawal.status_code == 201
    assert held_withdrawal.json()["status"] == "held"
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (80_00, 30_00)
    replay = withdraw(integrator, player, "30.00")
    assert replay.status_code == 200 and replay.json()["status"] == "held"
    assert wallet_of(player).reserved_minor == 30_00


# --- sessions -------------------------------------------------------------------------------


def launch(client, player, provider_code="acme", currency="EUR", **extra):
    body = {"player": player.pk, "provider": provider_code, "currency": currency, **extra}
    return post_json(client, "/api/v1/sessions/", body)


def test_launch_session_returns_token_once_and_reserves_buy_in(integrator, support, player):
    factories.make_provider("acme")
    response = launch(integrator, player, game_id="blackjack-7", buy_in="25.50")
    assert response.status_code == 201, response.content
    body = response.json()
    token = body["session_token"]
    assert len(token) >= 32
    assert (body["status"], body["buy_in"], body["reserved"], body["game_id"]) == (
        "open",
        "25.50",
        "25.50",
        "blackjack-7",
    )
    assert body["provider"] == "acme" and body["player"] == player.pk
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (100_00, 25_50)
    session = GameSession.objects.get(pk=body["id"])
    assert token not in session.token_hash

    # The token is never shown again.
    for response in (
        support.get("/api/v1/sessions/"),
        support.get(f"/api/v1/sessions/{session.pk}/"),
    ):
        assert response.status_code == 200
        assert token.encode() not in response.content
        assert b"session_token" not in response.content
        assert b"token_hash" not in response.content


def test_launched_token_is_accepted_by_the_wallet_api(integrator, player, wallet_api):
    response = launch(integrator, player, buy_in="10")
    token = response.json()["session_token"]
    authenticated = wallet_api.call("authenticate", session_token=token)
    assert authenticated.status_code == 200, authenticated.content
    assert authenticated.json()["balance"] == "90.00"
    assert authenticated.json()["session_id"] == str(response.json()["id"])


def test_session_limit_is_409_past_the_providers_maximum(integrator):
    factories.make_provider("acme", max_sessions_per_player=2)
    player = factories.funded_player(100_00)
    assert launch(integrator, player, buy_in="10").status_code == 201
    assert launch(integrator, player, buy_in="10").status_code == 201
    third = launch(integrator, player, buy_in="10")
    assert third.status_code == 409
    assert third.json()["code"] == "SESSION_LIMIT"
    assert GameSession.objects.count() == 2
    assert wallet_of(player).reserved_minor == 20_00
    # Another player is not affected; a closed session frees a place.
    assert launch(integrator, factories.funded_player(0)).status_code == 201
    first = GameSession.objects.filter(player=player).order_by("id").first()
    staff = client_for("support")
    assert (
        post_json(staff, f"/api/v1/sessions/{first.pk}/close", {"reason": "r"}).status_code == 200
    )
    assert launch(integrator, player).status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "field_or_code"),
    [
        ({"buy_in": "100.01"}, 402, "INSUFFICIENT_FUNDS"),
        ({"buy_in": "1.001"}, 400, "buy_in"),
        ({"buy_in": "-1"}, 400, "buy_in"),
        ({"buy_in": "abc"}, 400, "buy_in"),
        ({"buy_in": None}, 400, "buy_in"),
        ({"provider": "ghost"}, 400, "provider"),
        ({"player": 99999999}, 400, "player"),
        ({"currency": "USD"}, 400, "currency"),
        ({"currency": "XXX"}, 400, "currency"),
        ({"game_id": "g" * 129}, 400, "game_id"),
    ],
)
def test_launch_refuses_bad_input(integrator, player, provider, change, status, field_or_code):
    body = {"player": player.pk, "provider": "acme", "currency": "EUR", **change}
    response = post_json(integrator, "/api/v1/sessions/", body)
    assert response.status_code == status, response.content
    assert names_field(response, field_or_code) or response.json()["code"] == field_or_code
    assert not GameSession.objects.exists()
    assert wallet_of(player).reserved_minor == 0


@pytest.mark.parametrize(
    ("provider_status", "code"),
    [("suspended", "PROVIDER_SUSPENDED"), ("restricted", "PROVIDER_RESTRICTED")],
)
def test_launch_at_a_stopped_provider_is_refused(
    integrator, player, provider, provider_status, code
):
    Provider.objects.filter(pk=provider.pk).update(status=provider_status)
    response = launch(integrator, player, buy_in="5")
    assert response.status_code == 403
    assert response.json()["code"] == code
    assert not GameSession.objects.exists()


def test_launch_for_a_blocked_player_is_refused(integrator, player, provider):
    Player.objects.filter(pk=player.pk).update(status="blocked")
    response = launch(integrator, player, buy_in="5")
    assert response.status_code == 403
    assert response.json()["code"] == "PLAYER_BLOCKED"
    assert not GameSession.objects.exists()
    assert wallet_of(player).reserved_minor == 0


def test_suspend_refuses_a_non_boolean_kill_flag(compliance, provider):
    response = post_json(
        compliance, "/api/v1/providers/acme/suspend", {"reason": "r", "kill_open_sessions": "maybe"}
    )
    assert response.status_code == 400
    assert names_field(response, "kill_open_sessions")
    provider.refresh_from_db()
    assert provider.status == "active"


def test_session_list_filters(back_office, provider):
    other, _ = factories.make_provider("other")
    alice, bob = factories.funded_player(100_00), factories.funded_player(100_00)
    a1, _ = factories.open_session(alice, provider, buy_in_minor=10_00)
    a2, _ = factories.open_session(alice, other)
    b1, _ = factories.open_session(bob, provider)
    b2, _ = factories.open_session(bob, provider)
    services_close = client_for("support")
    assert (
        post_json(services_close, f"/api/v1/sessions/{b2.pk}/close", {"reason": "r"}).status_code
        == 200
    )
    now = timezone.now()
    GameSession.objects.filter(pk=a1.pk).update(last_activity_at=now - timedelta(minutes=45))
    GameSession.objects.filter(pk=b1.pk).update(last_activity_at=now - timedelta(minutes=10))

    def ids(query: str) -> list[int]:
        response = back_office.get(f"/api/v1/sessions/{query}")
        assert response.status_code == 200, response.content
        return sorted(s["id"] for s in response.json()["results"])

    assert ids("") == sorted([a1.pk, a2.pk, b1.pk, b2.pk])
    assert ids(f"?player={alice.pk}") == sorted([a1.pk, a2.pk])
    assert ids("?provider=other") == [a2.pk]
    assert ids("?status=open") == sorted([a1.pk, a2.pk, b1.pk])
    assert ids("?status=killed") == [b2.pk]
    assert ids("?status=killed&status=open") == sorted([a1.pk, a2.pk, b1.pk, b2.pk])
    assert ids(f"?player={bob.pk}&status=open") == [b1.pk]
    assert ids("?idle_minutes=30") == [a1.pk]
    assert ids("?idle_minutes=5") == sorted([a1.pk, b1.pk])
    assert ids("?idle_minutes=5.5&status=open") == sorted([a1.pk, b1.pk])
    since = (now - timedelta(minutes=20)).isoformat()
    assert ids(f"?idle_since={since.replace('+', '%2B')}") == [a1.pk]
    assert ids("?has_reservation=true") == [a1.pk]
    assert ids("?has_reservation=false") == sorted([a2.pk, b1.pk, b2.pk])
    ordered = back_office.get("/api/v1/sessions/?ordering=last_activity_at").json()["results"]
    assert [s["id"] for s in ordered][:2] == [a1.pk, b1.pk]
    assert ordered[0]["idle_seconds"] >= 45 * 60
    assert ordered[0]["reserved"] == "10.00"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("idle_minutes=abc", "idle_minutes"),
        ("idle_minutes=-5", "idle_minutes"),
        ("idle_minutes=1e30", "idle_minutes"),
        ("idle_minutes=NaN", "idle_minutes"),
        ("idle_minutes=99999999999", "idle_minutes"),
        ("idle_since=yesterday", "idle_since"),
        ("status=lost", "status"),
        ("player=abc", "player"),
        ("player=99999999999999999999999", "player"),
        ("has_reservation=perhaps", "has_reservation"),
    ],
)
def test_session_list_refuses_bad_filters_naming_them(back_office, query, field):
    response = back_office.get(f"/api/v1/sessions/?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_close_session_releases_reservation_is_audited_and_happens_once(support, provider):
    player = factories.funded_player(100_00)
    session, _ = factories.open_session(player, provider, buy_in_minor=30_00)
    path = f"/api/v1/sessions/{session.pk}/close"

    for body in ({}, {"reason": ""}, {"reason": "  "}):
        refused = post_json(support, path, body)
        assert refused.status_code == 400 and names_field(refused, "reason")
    session.refresh_from_db()
    assert session.status == "open"

    response = post_json(support, path, {"reason": "orphaned after outage"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["end_reason"], body["reserved"], body["buy_in"]) == (
        "killed",
        "staff",
        "0.00",
        "30.00",
    )
    assert body["ended_by"] == support.user.pk
    assert body["end_note"] == "orphaned after outage"
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (100_00, 0)
    audit = AuditRecord.objects.get(action="session.close")
    assert audit.actor == support.user
    assert audit.target_type == "wallets.gamesession" and audit.target_id == str(session.pk)
    assert audit.reason == "orphaned after outage"
    assert audit.before == {"status": "open", "reserved_minor": 30_00}
    assert audit.after == {"status": "killed", "released_minor": 30_00}

    again = post_json(support, path, {"reason": "again"})
    assert again.status_code == 409
    assert again.json()["code"] == "NOT_ALLOWED"
    assert AuditRecord.objects.filter(action="session.close").count() == 1
    assert wallet_of(player).reserved_minor == 0

    assert post_json(support, "/api/v1/sessions/99999999/close", {"reason": "r"}).status_code == 404
    assert post_json(support, "/api/v1/sessions/abc/close", {"reason": "r"}).status_code == 404


def test_close_audit_states_what_was_really_released(support, player, wallet_api):
    """The audit's figures are read under the wallet lock, not from the caller's copy."""
    from wallets import services

    session, token = factories.open_session(player, Provider.objects.get(code="acme"), "EUR", 30_00)
    stale = GameSession.objects.get(pk=session.pk)
    bet = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="b1",
        round_id="r1",
        amount="5.00",
        currency="EUR",
    )
    assert bet.status_code == 200, bet.content
    services.close_session_by_staff(session=stale, reason="stuck", actor=support.user)
    audit = AuditRecord.objects.get(action="session.close")
    assert audit.before == {"status": "open", "reserved_minor": 25_00}
    assert audit.after == {"status": "killed", "released_minor": 25_00}
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (95_00, 0)


def test_closing_a_session_the_provider_already_closed_is_409(support, player, wallet_api, token):
    assert wallet_api.call("session/close", session_token=token).status_code == 200
    session = GameSession.objects.get()
    response = post_json(support, f"/api/v1/sessions/{session.pk}/close", {"reason": "late"})
    assert response.status_code == 409
    session.refresh_from_db()
    assert session.status == "closed" and session.end_reason == "graceful"
    assert not AuditRecord.objects.filter(action="session.close").exists()


# --- transactions ---------------------------------------------------------------------------


def test_transaction_list_filters_order_and_paginates(integrator, back_office, wallet_api):
    provider = Provider.objects.get(code="acme")
    factories.make_provider("other")
    alice, bob = factories.funded_player(100_00), factories.funded_player(50_00)
    _, token = factories.open_session(alice, provider)
    bet = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="b1",
        round_id="r1",
        amount="5.00",
        currency="EUR",
    )
    assert bet.status_code == 200, bet.content
    win = wallet_api.call(
        "win",
        session_token=token,
        transaction_id="w1",
        round_id="r1",
        amount="7.50",
        currency="EUR",
    )
    assert win.status_code == 200, win.content
    assert withdraw(integrator, bob, "20.00").status_code == 201
    old = Transaction.objects.filter(player=bob, kind="deposit").get()
    Transaction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert Transaction.objects.count() == 5

    def kinds(query: str) -> list[str]:
        response = back_office.get(f"/api/v1/transactions/{query}")
        assert response.status_code == 200, response.content
        return [t["kind"] for t in response.json()["results"]]

    assert kinds("") == ["withdrawal", "win", "bet", "deposit", "deposit"]  # newest first
    assert kinds(f"?player={alice.pk}") == ["win", "bet", "deposit"]
    assert kinds("?provider=acme") == ["win", "bet"]
    assert kinds("?provider=other") == []
    assert kinds("?kind=deposit") == ["deposit", "deposit"]
    assert kinds("?kind=bet&kind=win") == ["win", "bet"]
    assert kinds("?status=posted&kind=withdrawal") == ["withdrawal"]
    assert kinds("?status=held") == []
    two_days_ago = (timezone.now() - timedelta(days=2)).isoformat().replace("+", "%2B")
    assert kinds(f"?created_before={two_days_ago}") == ["deposit"]
    assert len(kinds(f"?created_after={two_days_ago}")) == 4
    assert kinds("?external_id=b1") == ["bet"]
    assert kinds("?round_id=r1") == ["win", "bet"]
    assert kinds("?ordering=created_at")[0] == "deposit"
    by_amount = back_office.get("/api/v1/transactions/?ordering=-amount_minor").json()["results"]
    assert [t["amount"] for t in by_amount] == ["100.00", "50.00", "20.00", "7.50", "5.00"]

    bet_row = back_office.get("/api/v1/transactions/?kind=bet").json()["results"][0]
    assert (bet_row["amount"], bet_row["delta"], bet_row["balance_after"]) == (
        "5.00",
        "-5.00",
        "95.00",
    )
    assert bet_row["provider"] == "acme" and bet_row["round_external_id"] == "r1"
    detail = back_office.get(f"/api/v1/transactions/{bet_row['id']}/")
    assert detail.status_code == 200 and detail.json()["external_id"] == "b1"

    page = back_office.get("/api/v1/transactions/?page_size=2&ordering=id").json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["previous"] is None
    page3 = back_office.get("/api/v1/transactions/?page_size=2&ordering=id&page=3").json()
    assert len(page3["results"]) == 1 and page3["next"] is None
    seen = [t["id"] for t in page["results"]] + [t["id"] for t in page3["results"]]
    assert seen == sorted(seen)


def test_transaction_list_default_page_is_50(back_office):
    player = factories.make_player("JPY")
    from wallets import ledger

    for i in range(51):
        ledger.deposit(player=player, currency="JPY", amount_minor=1, external_id=f"d{i}")
    body = back_office.get("/api/v1/transactions/").json()
    assert body["count"] == 51 and len(body["results"]) == 50 and body["next"]
    assert Transaction.objects.aggregate(total=Sum("amount_minor"))["total"] == 51


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=gift", "kind"),
        ("status=lost", "status"),
        ("created_after=soon", "created_after"),
        ("created_before=2024-13-45", "created_before"),
        ("player=abc", "player"),
        ("session=abc", "session"),
    ],
)
def test_transaction_list_refuses_bad_filters(back_office, query, field):
    response = back_office.get(f"/api/v1/transactions/?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_unknown_transaction_is_404(back_office):
    assert back_office.get("/api/v1/transactions/999999/").status_code == 404
    assert back_office.get("/api/v1/transactions/abc/").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "search=%00",
        "ordering=%00",
        "ordering=nonsense",
        "ordering=-",
        "page=abc",
        "page_size=-1",
        "page_size=100000000000000000000",
        "registration_ip=abc",
        "registration_ip=1:2",
        "registration_ip=%00",
        "external_id=%00",
        "created_after=9999-12-31T23:59:59-10:00",
        "created_before=0001-01-01T00:00:00%2B10:00",
        "at_after=9999-12-31T23:59:59-10:00",
        "idle_since=0001-01-01T00:00:00%2B14:00",
        "wallet=99999999999999999999999",
        "currency=ABCDEFGHIJ",
        "game_id=%00",
        "target_id=" + "x" * 1000,
    ],
)
def test_odd_query_strings_never_500(back_office, player, query):
    for path in (
        "/api/v1/providers/",
        "/api/v1/players/",
        "/api/v1/sessions/",
        "/api/v1/transactions/",
        "/api/v1/audit/",
    ):
        response = back_office.get(f"{path}?{query}")
        assert response.status_code < 500, (path, query, response.content)


# --- audit ----------------------------------------------------------------------------------


def test_audit_list_filters_by_action(compliance, provider):
    post_json(compliance, "/api/v1/providers/acme/restrict", {"reason": "r1"})
    post_json(compliance, "/api/v1/providers/acme/restore", {"reason": "r2"})
    body = compliance.get("/api/v1/audit/?action=provider.status").json()
    assert [a["reason"] for a in body["results"]] == ["r2", "r1"]
    assert body["results"][0]["before"]["status"] == "restricted"


# --- errors, auth, health, docs -------------------------------------------------------------


def test_anonymous_and_bad_tokens_are_401_with_json(provider):
    anonymous = APIClient()
    response = anonymous.get("/api/v1/providers/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "detail" in response.json()
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert bad.get("/api/v1/providers/").status_code == 401
    inactive = client_for("back_office")
    inactive.user.is_active = False
    inactive.user.save()
    assert inactive.get("/api/v1/providers/").status_code == 401


def test_unsupported_methods_are_405(provider):
    # Permissions are checked before the method: only a superuser gets as far as a 405.
    integrator = client_for(superuser=True)
    assert integrator.delete("/api/v1/providers/acme/").status_code == 405
    assert integrator.put("/api/v1/providers/acme/", {}, format="json").status_code == 405
    assert integrator.get("/api/v1/payments/deposits").status_code == 405
    assert Provider.objects.filter(code="acme").exists()


def test_every_response_has_a_request_id(back_office):
    response = back_office.get("/api/v1/providers/", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-Id"] == "abc-123"


def test_healthz_ok():
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert response.json()["status"] == "ok"


def test_healthz_503_names_redis_when_it_is_down(unused_tcp_port):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{unused_tcp_port}/0"):
        response = APIClient().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "redis": "down"}
    assert set(body["down"]) == {"redis"}
    assert body["status"] == "degraded"


@pytest.fixture
def unused_tcp_port() -> int:
    """A local port nothing listens on (bound and released, so it is closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_swagger_ui_is_served_from_the_sidecar(back_office):
    response = back_office.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "/api/schema/" in html
    for cdn in ("cdn.", "unpkg", "jsdelivr", "cdnjs", "googleapis", "http://", "https://"):
        assert cdn not in html, cdn
