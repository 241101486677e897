"""The fixed API rows: GET /api/v1/reports/ggr and GET /api/v1/players/{id}/balance-at, their
permissions, their refusals (400 naming the field, never a 5xx), and their figures against sums
taken directly from the ledger."""

import csv
import io
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from reports import services
from tests import factories
from tests.reports.helpers import direct_ggr
from wallets import ledger

pytestmark = pytest.mark.django_db


def client_for(*groups, superuser=False):
    client = APIClient()
    user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
    client.force_authenticate(user)
    return client


@pytest.fixture
def activity(db):
    provider, _ = factories.make_provider(f"api-{uuid.uuid4().hex[:8]}")
    player = factories.funded_player(500_00)
    session, _ = factories.open_session(player, provider)
    ledger.bet(
        provider=provider,
        session=session,
        transaction_id="a1",
        round_id="r1",
        amount_minor=30_00,
        currency="EUR",
    )
    ledger.win(
        provider=provider,
        session=session,
        transaction_id="a2",
        round_id="r1",
        amount_minor=12_50,
        currency="EUR",
    )
    ledger.bet(
        provider=provider,
        session=session,
        transaction_id="a3",
        round_id="r2",
        amount_minor=5_00,
        currency="EUR",
    )
    ledger.rollback(
        provider=provider,
        session=session,
        transaction_id="a4",
        reference_transaction_id="a3",
        round_id="r2",
    )
    ledger.credit_promo(
        provider=provider,
        player=player,
        currency="EUR",
        transaction_id="a5",
        amount_minor=7_00,
        credit_type="jackpot",
    )
    services.roll_up()
    return provider, player, session


def test_ggr_fixed_fields_and_figures(activity):
    provider, _, _ = activity
    today = timezone.now().date().isoformat()
    response = client_for("back_office").get(
        "/api/v1/reports/ggr", {"from": today, "to": today, "group": "provider,currency,day"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"count", "next", "previous", "results"} <= set(body)
    (row,) = [r for r in body["results"] if r["provider"] == provider.code]
    assert row["day"] == today and row["currency"] == "EUR" and "month" not in row
    assert row["stakes"] == "35.00"
    assert row["refunds"] == "5.00"
    assert row["wins"] == "12.50"
    assert row["promo_credits"] == "7.00"
    assert row["ggr"] == "17.50"
    assert Decimal(row["ggr"]) == Decimal(row["stakes"]) - Decimal(row["refunds"]) - Decimal(
        row["wins"]
    )
    assert row["rounds"] == 2
    assert row["jackpot_credits"] == "7.00" and row["ngr"] == "10.50"


def test_ggr_by_month_and_totals_agree_with_the_ledger(activity):
    response = client_for("compliance").get("/api/v1/reports/ggr", {"group": "currency,month"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert all("month" in r and "day" not in r and r["provider"] is None for r in results)
    direct = direct_ggr()
    eur = [r for r in results if r["currency"] == "EUR"]
    stakes = sum(v["stakes_minor"] for k, v in direct.items() if k[2] == "EUR")
    assert sum(Decimal(r["stakes"]) for r in eur) * 100 == stakes


@pytest.mark.parametrize(
    "query, field",
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "from"),
        ({"from": "1990-01-01", "to": "2026-01-01"}, "from"),
        ({"group": "day,month"}, "group"),
        ({"group": "day,day"}, "group"),
        ({"ordering": "-password"}, "ordering"),
        ({"from": "2026-12-01\x00"}, "from"),
        ({"from": "9999-12-31"}, "from"),
        ({"to": "0001-01-01"}, "to"),
    ],
)
def test_ggr_refuses_bad_queries_naming_the_field(db, query, field):
    response = client_for("back_office").get("/api/v1/reports/ggr", query)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_ggr_permissions(db):
    assert APIClient().get("/api/v1/reports/ggr").status_code == 401
    for role in ("support", "integrator"):
        assert client_for(role).get("/api/v1/reports/ggr").status_code == 403
    assert client_for(superuser=True).get("/api/v1/reports/ggr").status_code == 200


def test_ggr_csv_has_exact_minor_units(activity):
    provider, _, _ = activity
    response = client_for("back_office").get(
        "/api/v1/reports/ggr/export.csv", {"provider": provider.code, "group": "provider,currency"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    (row,) = rows
    assert row["ggr"] == "17.50" and row["ggr_minor"] == "1750" and row["stakes_minor"] == "3500"


def test_ggr_ordering_and_filters(activity):
    activity  # noqa: B018
    other, _ = factories.make_provider(f"api-{uuid.uuid4().hex[:8]}")
    response = client_for("back_office").get(
        "/api/v1/reports/ggr", {"provider": other.code, "group": "provider"}
    )
    assert response.json()["results"] == []
    response = client_for("back_office").get(
        "/api/v1/reports/ggr", {"group": "provider,game,currency", "ordering": "-ggr"}
    )
    ggrs = [Decimal(r["ggr"]) for r in response.json()["results"]]
    assert ggrs == sorted(ggrs, reverse=True)


def test_balance_at(activity):
    _, player, session = activity
    before_any = player.created_at - timedelta(seconds=1)
    client = client_for("support")
    response = client.get(f"/api/v1/players/{player.pk}/balance-at", {"at": before_any.isoformat()})
    assert response.status_code == 200
    assert response.json()["wallets"] == []
    now = timezone.now()
    response = client.get(f"/api/v1/players/{player.pk}/balance-at", {"at": now.isoformat()})
    body = response.json()
    wallet = session.wallet
    wallet.refresh_from_db()
    assert body["wallets"] == [
        {
            "currency": "EUR",
            "balance": f"{wallet.balance_minor / 100:.2f}",
            "reserved": "0.00",
            "available": f"{wallet.available_minor / 100:.2f}",
        }
    ]
    assert body["at"].endswith("Z")


@pytest.mark.parametrize(
    "at", ["", "not-a-time", "2026-02-30T00:00:00Z", "2999-01-01T00:00:00Z", "1999-01-01", "\x00"]
)
def test_balance_at_refuses_bad_instants(activity, at):
    _, player, _ = activity
    response = client_for("back_office").get(f"/api/v1/players/{player.pk}/balance-at", {"at": at})
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "at"


def test_balance_at_reads_an_unescaped_offset_and_a_bare_day(activity):
    _, player, _ = activity
    client = client_for("back_office")
    day = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert client.get(f"/api/v1/players/{player.pk}/balance-at?at={day}").status_code == 200
    response = client.get(f"/api/v1/players/{player.pk}/balance-at?at={day}T10:00:00+01:00")
    assert response.status_code == 200
    assert response.json()["at"].startswith(f"{day}T09:00:00")


def test_balance_at_permissions_and_unknown_players(activity):
    _, player, _ = activity
    url = f"/api/v1/players/{player.pk}/balance-at?at=2026-01-01T00:00:00Z"
    assert client_for("compliance").get(url).status_code == 403
    assert client_for("integrator").get(url).status_code == 403
    assert client_for("back_office").get(url).status_code == 200
    assert (
        client_for("support").get("/api/v1/players/999999999/balance-at?at=2026-01-01").status_code
        == 404
    )
    response = client_for("support").get("/api/v1/players/abc/balance-at?at=2026-01-01")
    assert response.status_code == 400


def test_player_statement_api(activity):
    _, player, _ = activity
    client = client_for("support")
    start = (player.created_at - timedelta(seconds=1)).isoformat()
    response = client.get(
        f"/api/v1/players/{player.pk}/statement", {"currency": "EUR", "from": start}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["opening"]["balance"] == "0.00"
    kinds = [m["kind"] for m in body["movements"]]
    assert kinds == ["deposit", "bet", "win", "bet", "rollback", "promo"]
    assert body["movements"][-1]["balance_after"] == body["closing"]["balance"]
    response = client.get(
        f"/api/v1/players/{player.pk}/statement", {"currency": "USD", "from": start}
    )
    assert response.status_code == 400 and response.json()["field"] == "currency"


def test_the_schema_documents_the_report_endpoints(db):
    response = client_for(superuser=True).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/reports/ggr" in paths
    assert "/api/v1/players/{player_id}/balance-at" in paths
