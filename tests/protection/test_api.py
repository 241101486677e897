"""Limits and exclusions over HTTP: the back-office endpoints (`/api/v1/players/{id}/limits`,
`/exclusions`, `/session-limit`, `/reality-check`), the refusal a provider gets from the wallet
API, and the refusal of a deposit on the back-office API."""

import datetime
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from protection.models import PlayerLimit
from tests.wallets.test_backoffice_api import client_for
from wallets.models import AuditRecord, GameSession, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def put(client: APIClient, path: str, body: dict):
    return client.put(path, data=json.dumps(body).encode(), content_type="application/json")


def post(client: APIClient, path: str, body: dict):
    return client.post(path, data=json.dumps(body).encode(), content_type="application/json")


def limits_path(player) -> str:
    return f"/api/v1/players/{player.pk}/limits"


def a_limit(kind="loss", period="day", amount="50.00", reason="player asked"):
    return {"kind": kind, "period": period, "currency": "EUR", "amount": amount, "reason": reason}


def test_the_platform_sets_and_reads_limits_as_the_contract_says(wallet_api, token, player):
    integrator = client_for("integrator")
    response = put(integrator, limits_path(player), a_limit())
    assert response.status_code == 200, response.json()
    body = response.json()
    (limit,) = body["limits"]
    assert {k: limit[k] for k in ("kind", "period", "currency", "amount", "pending_amount")} == {
        "kind": "loss",
        "period": "day",
        "currency": "EUR",
        "amount": "50.00",
        "pending_amount": None,
    }
    assert limit["effective_from"] and limit["pending_from"] is None
    assert body["session_minutes"] is None
    # An increase waits for the cooling-off (24 h by default): pending, the old one holds.
    body = put(integrator, limits_path(player), a_limit(amount="80.00")).json()
    (limit,) = body["limits"]
    assert (limit["amount"], limit["pending_amount"]) == ("50.00", "80.00")
    pending_from = datetime.datetime.fromisoformat(limit["pending_from"])
    assert pending_from - timezone.now() > datetime.timedelta(hours=23, minutes=59)
    assert integrator.get(limits_path(player)).json() == body


def test_a_bet_past_the_limit_is_refused_limit_exceeded_saying_which(wallet_api, token, player):
    put(client_for("integrator"), limits_path(player), a_limit(amount="15.00"))
    ok = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t1",
        round_id="r1",
        amount="10.00",
        currency="EUR",
    )
    assert ok.status_code == 200, ok.json()
    refused = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t2",
        round_id="r2",
        amount="5.01",
        currency="EUR",
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "LIMIT_EXCEEDED"
    assert (
        refused.json()["message"] == "daily loss limit of 15.00 EUR reached: 10.00 EUR lost today"
    )
    assert refused.json()["balance"] == "90.00"
    # A win is always paid, and it makes room again.
    paid = wallet_api.call(
        "win",
        session_token=token,
        transaction_id="w1",
        round_id="r1",
        amount="3.00",
        currency="EUR",
    )
    assert paid.status_code == 200
    again = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t3",
        round_id="r3",
        amount="8.00",
        currency="EUR",
    )
    assert again.status_code == 200, again.json()
    counted = client_for("support").get(limits_path(player)).json()["limits"][0]["counted"]
    assert counted == "15.00"


def test_a_deposit_past_the_limit_is_refused_on_the_back_office_api(player):
    # The fixture's player deposited 100.00 this week: it counts against a limit set now.
    integrator = client_for("integrator")
    put(integrator, limits_path(player), a_limit(kind="deposit", period="week", amount="130.00"))
    deposit = {"player": player.pk, "currency": "EUR", "amount": "30.01", "external_id": "d-1"}
    response = post(integrator, "/api/v1/payments/deposits", deposit)
    assert response.status_code == 403
    assert response.json()["code"] == "LIMIT_EXCEEDED"
    assert "weekly deposit limit of 130.00 EUR" in response.json()["message"]
    deposit.update(amount="30.00", external_id="d-2")
    assert post(integrator, "/api/v1/payments/deposits", deposit).status_code == 201


def test_officers_only_lower_support_may_ask_for_an_increase(player):
    compliance, support = client_for("compliance"), client_for("support")
    assert put(compliance, limits_path(player), a_limit(amount="40.00")).status_code == 200
    refused = put(compliance, limits_path(player), a_limit(amount="60.00"))
    assert refused.status_code == 403
    assert refused.json()["code"] == "ONLY_LOWERING"
    refused = put(compliance, limits_path(player), a_limit(amount=None))
    assert refused.status_code == 403
    assert PlayerLimit.objects.get(player=player).pending_from is None
    body = put(support, limits_path(player), a_limit(amount=None)).json()
    assert body["limits"][0]["pending_removal"] is True
    assert AuditRecord.objects.filter(action="limit.set").count() == 2


def test_who_may_not_see_or_change_limits(player):
    back_office = client_for("back_office")
    assert back_office.get(limits_path(player)).status_code == 403
    assert put(back_office, limits_path(player), a_limit()).status_code == 403
    assert APIClient().get(limits_path(player)).status_code == 401
    assert not PlayerLimit.objects.exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"kind": "bonus"}, "kind"),
        ({"period": "year"}, "period"),
        ({"currency": "XXX"}, "currency"),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": [1]}, "amount"),
        ({"reason": ""}, "reason"),
    ],
)
def test_bad_limits_get_a_clear_error_and_change_nothing(player, change, field):
    response = put(client_for("integrator"), limits_path(player), {**a_limit(), **change})
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body or body.get("field") == field, body
    assert not PlayerLimit.objects.exists()


def test_an_unknown_player_is_404():
    assert client_for("integrator").get("/api/v1/players/999999/limits").status_code == 404


def test_session_limit_and_reality_check(wallet_api, token, player):
    integrator = client_for("integrator")
    response = put(
        integrator, f"/api/v1/players/{player.pk}/session-limit", {"minutes": 45, "reason": "x"}
    )
    assert response.status_code == 200
    assert response.json()["session_minutes"] == 45
    wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t1",
        round_id="r1",
        amount="10.00",
        currency="EUR",
    )
    wallet_api.call(
        "win",
        session_token=token,
        transaction_id="w1",
        round_id="r1",
        amount="2.50",
        currency="EUR",
    )
    body = integrator.get(f"/api/v1/players/{player.pk}/reality-check").json()
    (session,) = body["sessions"]
    assert (session["staked"], session["won"], session["net_result"]) == ("10.00", "2.50", "-7.50")
    assert session["minutes_left"] in (44, 45)
    assert body["session_minutes"] == 45
    # Past the limit, the provider's bet is refused.
    GameSession.objects.filter(player=player).update(
        created_at=timezone.now() - datetime.timedelta(minutes=46)
    )
    refused = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t2",
        round_id="r2",
        amount="1.00",
        currency="EUR",
    )
    assert refused.json()["code"] == "LIMIT_EXCEEDED"
    assert "session time limit of 45 minutes" in refused.json()["message"]


def test_an_exclusion_refuses_bets_and_deposits_and_pays_wins(wallet_api, token, player):
    support = client_for("support")
    bet = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t1",
        round_id="r1",
        amount="10.00",
        currency="EUR",
    )
    assert bet.status_code == 200
    until = (timezone.now() + datetime.timedelta(days=2)).isoformat()
    response = post(
        support,
        f"/api/v1/players/{player.pk}/exclusions",
        {"kind": "timeout", "until": until, "reason": "needs a break"},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["active"] is True
    assert GameSession.objects.get(player=player).status == "killed"
    # The round's win is paid into the ended session; a new bet is refused.
    win = wallet_api.call(
        "win",
        session_token=token,
        transaction_id="w1",
        round_id="r1",
        amount="4.00",
        currency="EUR",
    )
    assert win.status_code == 200, win.json()
    deposit = post(
        client_for("integrator"),
        "/api/v1/payments/deposits",
        {"player": player.pk, "currency": "EUR", "amount": "5.00", "external_id": "dx"},
    )
    assert (deposit.status_code, deposit.json()["code"]) == (403, "LIMIT_EXCEEDED")
    launch = post(
        client_for("integrator"),
        "/api/v1/sessions/",
        {
            "player": player.pk,
            "provider": GameSession.objects.get(player=player).provider.code,
            "currency": "EUR",
            "game_id": "g",
        },
    )
    assert (launch.status_code, launch.json()["code"]) == (403, "LIMIT_EXCEEDED")
    listed = support.get(f"/api/v1/players/{player.pk}/exclusions").json()
    assert listed["count"] == 1 and listed["results"][0]["kind"] == "timeout"
    assert Wallet.objects.get(player=player).balance_minor == 94_00


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "timeout", "until": None, "reason": "x"},
        {"kind": "timeout", "until": "not a time", "reason": "x"},
        {"kind": "self_exclusion", "until": "2000-01-01T00:00:00Z", "reason": "x"},
        {"kind": "forever", "until": None, "reason": "x"},
        {"kind": "self_exclusion", "until": None, "reason": ""},
    ],
)
def test_bad_exclusions_get_a_clear_error(player, body):
    response = post(client_for("integrator"), f"/api/v1/players/{player.pk}/exclusions", body)
    assert response.status_code == 400, response.content
    player.refresh_from_db()
    assert player.excluded_until is None


def test_a_permanent_self_exclusion(wallet_api, token, player):
    response = post(
        client_for("compliance"),
        f"/api/v1/players/{player.pk}/exclusions",
        {"kind": "self_exclusion", "until": None, "reason": "asked by the player"},
    )
    assert response.status_code == 201
    assert response.json()["until"] is None
    bet = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t1",
        round_id="r1",
        amount="1.00",
        currency="EUR",
    )
    assert (bet.status_code, bet.json()["code"]) == (403, "LIMIT_EXCEEDED")
    assert "permanently" in bet.json()["message"]
