"""The fraud rules API under /api/v1/fraud/: rules, versions (draft, publish, shadow,
restore), backtests, the shadow comparison and the lists; bad input is a 400 naming the field;
permissions follow the roles."""

import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fraud.choices import BacktestStatus, RuleKind, VersionState
from fraud.models import Backtest, FraudRule, ListEntry, RuleVersion
from tests import factories

pytestmark = pytest.mark.django_db


def client_for(*groups, superuser=False):
    user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


def send(client, method, path, body=None):
    return getattr(client, method)(
        path, data=json.dumps(body or {}), content_type="application/json"
    )


def test_rules_list_their_live_version():
    response = client_for("back_office").get("/api/v1/fraud/rules/")
    assert response.status_code == 200
    rules = {row["key"]: row for row in response.json()["results"]}
    velocity = rules[RuleKind.WITHDRAWAL_VELOCITY]
    assert (
        velocity["live_version"]
        == RuleVersion.objects.get(rule__key=RuleKind.WITHDRAWAL_VELOCITY, state="live").pk
    )
    assert velocity["shadow_version"] is None


def test_draft_edit_publish_and_restore_over_the_api():
    officer = client_for("compliance")
    created = send(
        officer,
        "post",
        "/api/v1/fraud/versions/",
        {"rule": "withdrawal_velocity", "parameters": {"max_withdrawals": 2}, "note": "tighter"},
    )
    assert created.status_code == 201, created.content
    draft = created.json()
    assert (draft["state"], draft["number"], draft["parameters"]["max_withdrawals"]) == (
        "draft",
        2,
        2,
    )
    patched = send(officer, "patch", f"/api/v1/fraud/versions/{draft['id']}/", {"action": "flag"})
    assert patched.status_code == 200 and patched.json()["action"] == "flag"
    published = send(
        officer, "post", f"/api/v1/fraud/versions/{draft['id']}/publish", {"reason": "go"}
    )
    assert published.status_code == 200 and published.json()["state"] == "live"
    assert FraudRule.objects.get(key="withdrawal_velocity").action == "flag"
    # A live version never changes.
    refused = send(officer, "patch", f"/api/v1/fraud/versions/{draft['id']}/", {"action": "hold"})
    assert refused.status_code == 409 and refused.json()["code"] == "NOT_ALLOWED"
    first = RuleVersion.objects.get(rule__key="withdrawal_velocity", number=1)
    restored = send(officer, "post", f"/api/v1/fraud/versions/{first.pk}/restore")
    assert restored.status_code == 201 and restored.json()["number"] == 3
    assert restored.json()["action"] == "hold"
    history = officer.get("/api/v1/fraud/versions/?rule__key=withdrawal_velocity").json()
    assert [row["state"] for row in history["results"]] == ["draft", "live", "superseded"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule": "withdrawal_velocity", "parameters": {"max_withdrawals": "x"}}, "parameters"),
        ({"rule": "withdrawal_velocity", "parameters": {"unknown": 1}}, "parameters"),
        ({"rule": "withdrawal_velocity", "action": "explode"}, "action"),
        ({"rule": "no_such_rule"}, "rule"),
        ({"rule": "withdrawal_velocity", "parameters": [1, 2]}, "parameters"),
    ],
)
def test_bad_drafts_are_a_400_naming_the_field(body, field):
    response = send(client_for("compliance"), "post", "/api/v1/fraud/versions/", body)
    assert response.status_code == 400
    data = response.json()
    assert field in data or data.get("field") == field
    assert RuleVersion.objects.count() == FraudRule.objects.count()


def test_back_office_reads_but_cannot_publish():
    version = RuleVersion.objects.get(rule__key="withdrawal_velocity", state="live")
    back_office = client_for("back_office")
    assert back_office.get(f"/api/v1/fraud/versions/{version.pk}/").status_code == 200
    draft = send(
        client_for("compliance"), "post", "/api/v1/fraud/versions/", {"rule": "withdrawal_velocity"}
    )
    response = send(back_office, "post", f"/api/v1/fraud/versions/{draft.json()['id']}/publish")
    assert response.status_code == 403
    assert RuleVersion.objects.get(pk=draft.json()["id"]).state == VersionState.DRAFT
    assert client_for("support").get("/api/v1/fraud/rules/").status_code == 403


def test_a_backtest_is_queued_and_read(django_capture_on_commit_callbacks, monkeypatch):
    from fraud import tasks

    queued = []
    monkeypatch.setattr(tasks.run_backtest, "delay", lambda backtest_id: queued.append(backtest_id))
    version = RuleVersion.objects.get(rule__key="withdrawal_velocity", state="live")
    officer = client_for("compliance")
    with django_capture_on_commit_callbacks(execute=True):
        response = send(
            officer, "post", "/api/v1/fraud/backtests/", {"version": version.pk, "days": 7}
        )
    assert response.status_code == 201 and response.json()["status"] == "queued"
    assert queued == [response.json()["id"]]
    tasks.run_backtest(queued[0])  # what the worker does
    done = officer.get(f"/api/v1/fraud/backtests/{queued[0]}/").json()
    assert done["status"] == BacktestStatus.DONE and done["progress"] == 100
    assert done["result"]["hits"] == 0
    for body in ({"version": version.pk, "days": 0}, {"version": 0, "days": 7}, {"days": 7}):
        assert send(officer, "post", "/api/v1/fraud/backtests/", body).status_code == 400
    assert Backtest.objects.count() == 1


def test_shadow_comparison_over_the_api():
    officer = client_for("compliance")
    draft = send(officer, "post", "/api/v1/fraud/versions/", {"rule": "withdrawal_velocity"}).json()
    assert (
        send(officer, "post", f"/api/v1/fraud/versions/{draft['id']}/shadow").json()["state"]
        == "shadow"
    )
    response = officer.get(f"/api/v1/fraud/shadow-comparison?version={draft['id']}&hours=2")
    assert response.status_code == 200 and response.json()["calls"] == 0
    assert officer.get("/api/v1/fraud/shadow-comparison?version=abc").status_code == 400
    assert (
        officer.get(f"/api/v1/fraud/shadow-comparison?version={draft['id']}&hours=0").status_code
        == 400
    )
    stopped = send(officer, "post", f"/api/v1/fraud/versions/{draft['id']}/stop-shadow")
    assert stopped.json()["state"] == "draft"


def test_lists_and_entries_over_the_api():
    officer = client_for("compliance")
    created = send(
        officer,
        "post",
        "/api/v1/fraud/lists/",
        {"name": "blocked ranges", "kind": "ip", "purpose": "block"},
    )
    assert created.status_code == 201, created.content
    list_id = created.json()["id"]
    entry = send(
        officer,
        "post",
        "/api/v1/fraud/list-entries/",
        {"list": list_id, "value": "203.0.113.0/24", "reason": "fraud ring"},
    )
    assert entry.status_code == 201 and entry.json()["added_by"] == officer.user.username
    for value in ("203.0.113.1/24", "300.1.1.1", "not an ip"):
        bad = send(
            officer,
            "post",
            "/api/v1/fraud/list-entries/",
            {"list": list_id, "value": value, "reason": "x"},
        )
        assert bad.status_code == 400 and bad.json()["field"] == "value", value
    countries = send(
        officer,
        "post",
        "/api/v1/fraud/lists/",
        {"name": "c", "kind": "country", "purpose": "review"},
    ).json()
    bad = send(
        officer,
        "post",
        "/api/v1/fraud/list-entries/",
        {"list": countries["id"], "value": "ZZ", "reason": "x"},
    )
    assert bad.status_code == 400 and "not a country" in bad.json()["message"]
    bad_kind = send(
        officer, "post", "/api/v1/fraud/lists/", {"name": "d", "kind": "email", "purpose": "block"}
    )
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()
    assert ListEntry.objects.count() == 1
    listed = officer.get(f"/api/v1/fraud/list-entries/?list={list_id}").json()
    assert [row["value"] for row in listed["results"]] == ["203.0.113.0/24"]
    removed = send(
        officer, "delete", f"/api/v1/fraud/list-entries/{entry.json()['id']}/", {"reason": "gone"}
    )
    assert removed.status_code == 204 and not ListEntry.objects.exists()
    assert (
        send(
            client_for("back_office"),
            "post",
            "/api/v1/fraud/lists/",
            {"name": "e", "kind": "ip", "purpose": "block"},
        ).status_code
        == 403
    )
