"""The case manager on the back-office API (/api/v1/cases/, /api/v1/snoozes/): a reviewer's
day (next, note, snooze, decide with an outcome), filters, and the boundaries: a forbidden call
is 403 and changes nothing; bad input is a 400 naming the field and changes nothing."""

import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fraud.models import Case, CaseNote, RuleSnooze
from tests import factories
from tests.fraud.casework_helpers import level2_reviewer, make_case
from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db

VELOCITY = "withdrawal_velocity"


def client_for(*groups, user=None):
    user = user or factories.UserFactory(groups=list(groups))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


def post(client, path, body=None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def player():
    return factories.make_player()


def state(case):
    case.refresh_from_db()
    return (case.status, case.level, case.assigned_to_id, case.outcome, case.notes.count())


def test_a_reviewers_day_through_the_api(player):
    older = make_case(player, age_minutes=40, rules=(VELOCITY,))
    make_case(player, age_minutes=5)
    client = client_for("back_office")
    queues = client.get("/api/v1/cases/queues").json()
    flags = next(row for row in queues if row["queue"] == "flag")
    assert (flags["undecided"], flags["unclaimed"], flags["may_work"]) == (2, 2, True)
    response = post(client, "/api/v1/cases/next", {"queue": "flag"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == older.pk and body["assigned_to"] == client.user.username
    assert body["sla_state"] == "ok" and body["sla_seconds"] == 24 * 3600
    note = post(client, f"/api/v1/cases/{older.pk}/notes", {"body": "salary every Friday"})
    assert note.status_code == 201 and note.json()["author"] == client.user.username
    snooze = post(
        client,
        f"/api/v1/cases/{older.pk}/snooze",
        {"rule": VELOCITY, "days": 30, "reason": "verified employer payouts"},
    )
    assert snooze.status_code == 201, snooze.content
    assert snooze.json()["active"] is True and snooze.json()["rule"] == VELOCITY
    decided = post(
        client,
        f"/api/v1/cases/{older.pk}/decide",
        {
            "decision": "approve",
            "reason_code": "verified_player",
            "reason": "employer confirmed",
            "outcome": "false_positive",
        },
    )
    assert decided.status_code == 200, decided.content
    detail = client.get(f"/api/v1/cases/{older.pk}/").json()
    assert (detail["status"], detail["outcome"]) == ("approved", "false_positive")
    bodies = [n["body"] for n in detail["notes"]]
    assert bodies[0] == "salary every Friday" and bodies[1].startswith(
        "Snoozed withdrawal_velocity for this player until "
    )
    assert len(bodies) == 2
    assert detail["player_snoozes"][0]["reason"] == "verified employer payouts"
    listed = client.get("/api/v1/cases/?outcome=false_positive").json()
    assert [row["id"] for row in listed["results"]] == [older.pk]
    assert client.get("/api/v1/cases/?queue=flag").json()["count"] == 1
    assert client.get("/api/v1/cases/?mine=true&status=approved").json()["count"] == 1
    assert client.get("/api/v1/cases/?sla=ok").json()["count"] == 1
    snoozes = client.get(f"/api/v1/snoozes/?player={player.pk}&active=true").json()
    assert snoozes["count"] == 1
    lifted = post(
        client, f"/api/v1/snoozes/{snoozes['results'][0]['id']}/lift", {"reason": "chargeback"}
    )
    assert lifted.status_code == 200 and lifted.json()["active"] is False
    post(client, "/api/v1/cases/next", {"queue": "flag"})
    assert post(client, "/api/v1/cases/next", {"queue": "flag"}).status_code == 204


def test_decide_needs_an_outcome_and_fitting_reasons(player):
    case = make_case(player)
    client = client_for("back_office")
    base = {"decision": "reject", "reason_code": "suspected_fraud", "reason": "ring"}
    for body, field in (
        (base, "outcome"),
        ({**base, "outcome": "maybe"}, "outcome"),
        ({**base, "decision": "hold", "outcome": "confirmed_fraud"}, "decision"),
        ({**base, "reason": "  ", "outcome": "confirmed_fraud"}, "reason"),
        ({**base, "outcome": "legitimate"}, "outcome"),
        ({**base, "reason_code": "verified_player", "outcome": "confirmed_fraud"}, "reason_code"),
    ):
        response = post(client, f"/api/v1/cases/{case.pk}/decide", body)
        assert response.status_code == 400, body
        assert field in response.content.decode(), (body, response.content)
    assert state(case) == ("open", 1, None, "", 0)
    assert not AuditRecord.objects.exists()


def test_bad_input_names_the_field_and_changes_nothing(player):
    case = make_case(player, rules=(VELOCITY,))
    client = client_for("back_office")
    checks = [
        ("/api/v1/cases/next", {"queue": "nope"}, "queue"),
        ("/api/v1/cases/next", {}, "queue"),
        (f"/api/v1/cases/{case.pk}/notes", {"body": ""}, "body"),
        (f"/api/v1/cases/{case.pk}/notes", {"body": "x" * 4001}, "body"),
        (f"/api/v1/cases/{case.pk}/escalate", {"reason": ""}, "reason"),
        (f"/api/v1/cases/{case.pk}/assign", {"assignee": "nobody-here"}, "assignee"),
        (f"/api/v1/cases/{case.pk}/snooze", {"rule": VELOCITY, "days": 181, "reason": "x"}, "days"),
        (f"/api/v1/cases/{case.pk}/snooze", {"rule": VELOCITY, "reason": "x"}, "days"),
        (f"/api/v1/cases/{case.pk}/snooze", {"rule": "nope", "days": 1, "reason": "x"}, "rule"),
        (
            f"/api/v1/cases/{case.pk}/snooze",
            {"rule": "bonus_farming", "days": 1, "reason": "x"},
            "rule",
        ),
        (f"/api/v1/cases/{case.pk}/snooze", {"rule": VELOCITY, "days": 1, "reason": ""}, "reason"),
        (
            f"/api/v1/cases/{case.pk}/snooze",
            {"rule": VELOCITY, "until": "2020-01-01T00:00:00Z", "reason": "x"},
            "until",
        ),
        (
            f"/api/v1/cases/{case.pk}/snooze",
            {"rule": VELOCITY, "until": "not a time", "reason": "x"},
            "until",
        ),
    ]
    for path, body, field in checks:
        response = post(client, path, body)
        assert response.status_code == 400, (path, body, response.content)
        assert field in response.content.decode(), (path, body, response.content)
    for query in ("level=3", "queue=x", "sla=purple", "outcome=x", "mine=perhaps"):
        assert client.get(f"/api/v1/cases/?{query}").status_code == 400, query
    assert client.get("/api/v1/cases/999999/").status_code == 404
    assert post(client, "/api/v1/cases/999999/claim").status_code == 404
    assert state(case) == ("open", 1, None, "", 0)
    assert not RuleSnooze.objects.exists() and not AuditRecord.objects.exists()


@pytest.mark.parametrize("role", ["support", "compliance", "integrator"])
def test_forbidden_calls_are_403_and_change_nothing(player, role):
    case = make_case(player, rules=(VELOCITY,))
    client = client_for(role)
    calls = [
        ("post", "/api/v1/cases/next", {"queue": "flag"}),
        ("post", f"/api/v1/cases/{case.pk}/claim", {}),
        ("post", f"/api/v1/cases/{case.pk}/notes", {"body": "hello"}),
        ("post", f"/api/v1/cases/{case.pk}/escalate", {"reason": "x"}),
        ("post", f"/api/v1/cases/{case.pk}/assign", {"assignee": None}),
        (
            "post",
            f"/api/v1/cases/{case.pk}/decide",
            {"decision": "approve", "reason_code": "other", "reason": "x", "outcome": "legitimate"},
        ),
        ("post", f"/api/v1/cases/{case.pk}/snooze", {"rule": VELOCITY, "days": 3, "reason": "x"}),
        ("get", "/api/v1/cases/", None),
        ("get", f"/api/v1/cases/{case.pk}/notes", None),
        ("get", "/api/v1/cases/queues", None),
    ]
    for method, path, body in calls:
        response = post(client, path, body) if method == "post" else client.get(path)
        assert response.status_code == 403, (role, path, response.status_code)
    assert state(case) == ("open", 1, None, "", 0)
    assert not RuleSnooze.objects.exists() and not AuditRecord.objects.exists()
    assert APIClient().get("/api/v1/cases/").status_code == 401


def test_escalation_over_the_api(player):
    case = make_case(player)
    reviewer = client_for("back_office")
    response = post(reviewer, f"/api/v1/cases/{case.pk}/escalate", {"reason": "ring of five"})
    assert response.status_code == 200 and response.json()["level"] == 2
    # Level 1 may no longer claim, decide or take the escalated queue: 403, nothing changes.
    before = state(case)
    decide = {"decision": "approve", "reason_code": "other", "reason": "x", "outcome": "legitimate"}
    for path, body in (
        (f"/api/v1/cases/{case.pk}/claim", {}),
        (f"/api/v1/cases/{case.pk}/decide", decide),
        ("/api/v1/cases/next", {"queue": "escalated"}),
    ):
        refused = post(reviewer, path, body)
        assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN", path
    # The holds endpoint of the contract refuses it too.
    refused = post(reviewer, f"/api/v1/holds/{case.pk}/approve", {"reason": "fine"})
    assert refused.status_code == 403
    assert state(case) == before
    assert post(reviewer, "/api/v1/cases/next", {"queue": "flag"}).status_code == 204
    senior = client_for(user=level2_reviewer())
    taken = post(senior, "/api/v1/cases/next", {"queue": "escalated"})
    assert taken.status_code == 200 and taken.json()["id"] == case.pk
    done = post(
        senior,
        f"/api/v1/cases/{case.pk}/decide",
        {
            **decide,
            "decision": "reject",
            "reason_code": "multi_accounting",
            "outcome": "confirmed_fraud",
        },
    )
    assert done.status_code == 200 and done.json()["status"] == "rejected"
    assert CaseNote.objects.filter(case=case, body__startswith="Escalated").exists()


def test_the_contract_reason_alone_still_decides_and_labels_the_outcome(player):
    case = make_case(player)
    client = client_for("back_office")
    response = post(client, f"/api/v1/holds/{case.pk}/approve", {"reason": "checked by phone"})
    assert response.status_code == 200, response.content
    assert (response.json()["reason_code"], response.json()["outcome"]) == ("other", "legitimate")
    other = make_case(player)
    response = post(client, f"/api/v1/holds/{other.pk}/reject", {"reason": "mule"})
    assert response.status_code == 200 and response.json()["outcome"] == "confirmed_fraud"
    assert Case.objects.filter(outcome="").count() == 0


def test_relabelling_a_decided_case_outcome(player):
    case = make_case(player)
    client = client_for("back_office")
    body = {"outcome": "confirmed_fraud", "reason": "chargeback received"}
    early = post(client, f"/api/v1/cases/{case.pk}/outcome", body)
    assert early.status_code == 409  # undecided: decide it with its outcome instead
    post(client, f"/api/v1/holds/{case.pk}/approve", {"reason": "looked fine"})
    assert (
        post(
            client, f"/api/v1/cases/{case.pk}/outcome", {"outcome": "x", "reason": "y"}
        ).status_code
        == 400
    )
    assert (
        post(client, f"/api/v1/cases/{case.pk}/outcome", {"outcome": "confirmed_fraud"}).status_code
        == 400
    )
    done = post(client, f"/api/v1/cases/{case.pk}/outcome", body)
    assert done.status_code == 200, done.content
    assert (done.json()["outcome"], done.json()["status"]) == ("confirmed_fraud", "approved")
    assert done.json()["notes"][-1]["body"] == (
        "Outcome changed from legitimate to confirmed_fraud: chargeback received"
    )
    record = AuditRecord.objects.get(action="fraud.case.outcome")
    assert (record.before, record.after) == (
        {"outcome": "legitimate"},
        {"outcome": "confirmed_fraud"},
    )
    assert post(client_for("support"), f"/api/v1/cases/{case.pk}/outcome", body).status_code == 403


def test_the_case_list_costs_the_same_queries_for_many_rows(player):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for("back_office")
    reviewer = factories.UserFactory(groups=["back_office"])
    make_case(player, assigned_to=reviewer)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/cases/").status_code == 200
        return len(captured)

    few = queries()
    for _ in range(10):
        make_case(player, assigned_to=reviewer, level=2, escalated_by=reviewer)
    assert queries() == few
