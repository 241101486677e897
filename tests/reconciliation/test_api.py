"""Reconciliation over the back-office API: reports, runs, discrepancies, four eyes."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reconciliation.models import Discrepancy
from tests import factories
from tests.reconciliation.helpers import age_ledger, csv_bytes, play, row
from wallets.models import Transaction

pytestmark = pytest.mark.django_db


def client_for(*groups: str):
    user = factories.UserFactory(groups=list(groups))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


@pytest.fixture
def gambler(provider):
    player = factories.funded_player(100_00)
    play(provider, player, bets=[("b1", 10_00), ("b2", 5_00)])
    age_ledger(3600)
    return player


def test_upload_csv_report_returns_the_run_with_counts(provider, gambler):
    integrator = client_for("integrator")
    data = csv_bytes(
        [row("b1", gambler, amount="10.00"), row("b2", gambler, amount="4.00")],
        raw_lines=[f"bad,r,{gambler.external_id},bet,1.00,EUR,posted,yesterday"],
    )
    response = integrator.post(
        "/api/v1/reconciliation/reports",
        {"provider": provider.code, "file": SimpleUploadedFile("acme.csv", data)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "provider_report"
    assert body["provider"] == provider.code
    assert body["rows_total"] == 3
    assert body["counts"]["matched"] == 1
    assert body["counts"]["amount_mismatch"] == 1
    assert body["counts"]["malformed"] == 1
    assert body["malformed_rows"] == [{"line": 4, "error": body["malformed_rows"][0]["error"]}]
    assert body["malformed_rows"][0]["error"].startswith("time:")

    rows = integrator.get(
        "/api/v1/reconciliation/report-rows/", {"report": body["report"], "outcome": "malformed"}
    ).json()
    assert rows["count"] == 1 and rows["results"][0]["line_no"] == 4


def test_upload_json_body_and_json_file(provider, gambler):
    integrator = client_for("integrator")
    response = integrator.post(
        "/api/v1/reconciliation/reports",
        {"provider": provider.code, "rows": [row("b1", gambler, amount="10.00"), "junk"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["counts"]["matched"] == 1
    assert response.json()["counts"]["malformed"] == 1

    payload = json.dumps([row("b2", gambler, amount="5.00")]).encode()
    response = integrator.post(
        "/api/v1/reconciliation/reports",
        {"provider": provider.code, "file": SimpleUploadedFile("r.json", payload)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["counts"]["matched"] == 1


def test_upload_refusals(provider):
    integrator = client_for("integrator")
    url = "/api/v1/reconciliation/reports"
    r = integrator.post(url, {"provider": "nope", "rows": []}, format="json")
    assert r.status_code == 400
    r = integrator.post(url, {"provider": provider.code}, format="json")
    assert r.status_code == 400
    bad_header = SimpleUploadedFile("r.csv", b"id,amount\n1,2\n")
    r = integrator.post(url, {"provider": provider.code, "file": bad_header}, format="multipart")
    assert r.status_code == 400
    assert "lacks the columns" in r.content.decode()
    r = client_for("support").post(url, {"provider": provider.code, "rows": []}, format="json")
    assert r.status_code == 403


def test_discrepancy_queue_and_four_eyes_over_the_api(provider, gambler):
    alice, bob = client_for("back_office"), client_for("back_office")
    integrator = client_for("integrator")
    integrator.post(
        "/api/v1/reconciliation/reports",
        {"provider": provider.code, "rows": [row("x9", gambler, amount="7.00")]},
        format="json",
    )
    listing = alice.get("/api/v1/discrepancies/", {"status": "open", "provider": provider.code})
    assert listing.status_code == 200
    assert listing.json()["count"] == 1
    d = listing.json()["results"][0]
    assert (d["kind"], d["provider_amount"], d["drift"]) == ("missing_in_wallet", "7.00", "7.00")
    assert alice.get("/api/v1/discrepancies/", {"kind": "amount_mismatch"}).json()["count"] == 0

    url = f"/api/v1/discrepancies/{d['id']}"
    r = alice.post(f"{url}/propose", {"reason": "lost bet"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["corrections"][0]["amount"] == "-7.00"
    r = alice.post(f"{url}/approve", {}, format="json")
    assert r.status_code == 409
    assert r.json()["code"] == "FOUR_EYES_REQUIRED"
    assert not Transaction.objects.filter(kind="adjustment").exists()
    r = integrator.post(f"{url}/approve", {}, format="json")
    assert r.status_code == 403
    r = bob.post(f"{url}/approve", {"reason": "ok"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "corrected"
    assert gambler.wallets.get().balance_minor == 85_00 - 7_00


def test_propose_explicit_amount_and_close(provider, gambler):
    staff = client_for("back_office")
    client_for("integrator").post(
        "/api/v1/reconciliation/reports",
        {"provider": provider.code, "rows": [row("b1", gambler, amount="10.00", currency="USD")]},
        format="json",
    )
    d = Discrepancy.objects.get()
    url = f"/api/v1/discrepancies/{d.pk}"
    r = staff.post(f"{url}/propose", {"reason": "x", "amount": "1.00"}, format="json")
    assert r.status_code == 400  # amount without direction
    r = staff.post(
        f"{url}/propose", {"reason": "x", "amount": "1.00", "direction": "credit"}, format="json"
    )
    assert r.status_code == 200
    assert r.json()["corrections"][0]["delta_minor"] == 100
    r = staff.post(f"{url}/close", {}, format="json")
    assert r.status_code == 400
    r = staff.post(f"{url}/close", {"reason": "provider resent in EUR"}, format="json")
    assert r.status_code == 200
    assert r.json()["status"] == "closed"


def test_runs_listing_with_filters(provider, gambler):
    from reconciliation import services

    services.reconcile_wallets(full=True)
    staff = client_for("back_office")
    body = staff.get("/api/v1/reconciliation/runs/", {"kind": "full"}).json()
    assert body["count"] == 1
    assert body["results"][0]["wallets_checked"] == 1
    assert staff.get("/api/v1/reconciliation/runs/", {"kind": "incremental"}).json()["count"] == 0
    assert client_for("support").get("/api/v1/reconciliation/runs/").status_code == 403
