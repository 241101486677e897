"""The player's page in the admin: limits and exclusions shown, changed through forms with a
reason; compliance officers only lower, support agents may ask for an increase."""

import pytest
from django.test import Client

from protection.models import Exclusion, PlayerLimit
from tests import factories
from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def browser_for(*groups: str) -> Client:
    client = Client()
    client.force_login(factories.UserFactory(groups=list(groups)))
    return client


def change_limit(client, player, **fields):
    body = {"kind": "loss", "period": "day", "currency": "EUR", "amount": "", "reason": "asked"}
    body.update(fields)
    return client.post(f"/admin/protection/playerlimit/player/{player.pk}/change-limit/", body)


def test_the_player_page_shows_limits_and_the_links(player):
    compliance = browser_for("compliance")
    assert change_limit(compliance, player, amount="25.00").status_code == 302
    page = compliance.get(f"/admin/wallets/player/{player.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Player protection: limits" in html
    assert "25.00 EUR" in html
    assert "Change a limit" in html and "Exclude (time-out or self-exclusion)" in html


def test_an_officer_lowers_but_may_not_raise(player):
    compliance = browser_for("compliance")
    change_limit(compliance, player, amount="25.00")
    refused = change_limit(compliance, player, amount="30.00")
    assert refused.status_code == 200
    assert "you may only lower a limit" in refused.content.decode()
    assert PlayerLimit.objects.get(player=player).pending_from is None
    assert change_limit(compliance, player, amount="20.00").status_code == 302
    assert PlayerLimit.objects.get(player=player).amount == 20_00


def test_support_asks_for_an_increase_that_waits(player):
    browser_for("compliance")
    support = browser_for("support")
    change_limit(support, player, amount="25.00")
    response = change_limit(support, player, amount="50.00", reason="player called")
    assert response.status_code == 302
    limit = PlayerLimit.objects.get(player=player)
    assert (limit.amount, limit.pending_amount) == (25_00, 50_00)
    record = AuditRecord.objects.filter(action="limit.set").latest("id")
    assert record.reason == "player called"


def test_every_change_needs_a_reason_and_bad_amounts_are_form_errors(player):
    support = browser_for("support")
    for fields in ({"amount": "10.00", "reason": ""}, {"amount": "1.001"}, {"amount": "x"}):
        response = change_limit(support, player, **fields)
        assert response.status_code == 200
        assert "errorlist" in response.content.decode()
    assert not PlayerLimit.objects.exists()


def test_staff_exclude_a_player_from_the_page(player):
    support = browser_for("support")
    response = support.post(
        f"/admin/protection/playerlimit/player/{player.pk}/exclude/",
        {"length": "24h", "reason": "asked for a break on the phone"},
    )
    assert response.status_code == 302
    exclusion = Exclusion.objects.get(player=player)
    assert exclusion.kind == "timeout"
    player.refresh_from_db()
    assert player.excluded_until is not None
    assert AuditRecord.objects.filter(action="player.exclude").exists()


def test_back_office_may_not_change_limits(player):
    back_office = browser_for("back_office")
    assert change_limit(back_office, player, amount="1.00").status_code == 403
    response = back_office.get(f"/admin/protection/playerlimit/player/{player.pk}/exclude/")
    assert response.status_code == 403
