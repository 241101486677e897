"""The review queue on the back-office API: /api/v1/holds/ lists and filters cases; approve,
reject and assign are back office's only (support and compliance get 403, anonymous 401);
every decision is audited; refusals change nothing."""

import json
from datetime import timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fraud.choices import RuleKind
from fraud.models import Case
from tests import factories
from tests.fraud.conftest import publish_rule
from wallets.errors import BetDeclined
from wallets.models import AuditRecord, Wallet

pytestmark = pytest.mark.django_db

DECISION = {"reason_code": "verified_player", "note": "documents checked"}
REJECTION = {"reason_code": "suspected_fraud", "note": "mule account"}


def client_for(*groups, superuser=False):
    user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


def post(client, path, body=None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


def figures(player):
    wallet = Wallet.objects.get(player=player, currency="EUR")
    return wallet.balance_minor, wallet.reserved_minor


@pytest.fixture
def queue(money, new_player, provider):
    """Two held withdrawals (velocity), one declined bet, one flag; of different ages."""
    publish_rule(
        RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 1, "window_seconds": 3600}
    )
    alice = new_player(200_00)
    money.withdraw(alice, 1_00)
    money.withdraw(alice, 150_00)
    bob = new_player(400_00)
    money.withdraw(bob, 1_00)
    money.withdraw(bob, 20_00)
    session = money.authenticated_session(bob, provider)
    for _ in range(20):
        money.bet(session, 1_00)
    with pytest.raises(BetDeclined):
        money.bet(money.authenticated_session(bob, provider), 200_00)
    for _ in range(5):
        new_player(ip="198.51.100.99")
    from fraud import services

    services.scan_multi_account_ips()
    old = Case.objects.get(player=alice)
    Case.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(hours=5))
    return alice, bob


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_list_and_filters(queue):
    alice, _ = queue
    client = client_for("back_office")
    everything = client.get("/api/v1/holds/").json()
    assert everything["count"] == 1 + 1 + 1 + 5
    held_alice = Case.objects.get(player=alice)
    first = everything["results"][0]
    assert first["id"] == held_alice.pk  # oldest first
    assert first["amount"] == "150.00" and first["transaction_status"] == "held"
    assert first["rule_keys"] == ["withdrawal_velocity"] and first["age_seconds"] >= 5 * 3600
    assert first["hits"][0]["figures"]["withdrawals_in_window"] == 1
    holds = ids(client.get("/api/v1/holds/?kind=hold"))
    assert len(holds) == 2
    assert ids(client.get("/api/v1/holds/?rule=high_stake_after_login")) == list(
        Case.objects.filter(kind="decline").values_list("id", flat=True)
    )
    assert len(ids(client.get("/api/v1/holds/?rule=multi_account_ip"))) == 5
    assert ids(client.get(f"/api/v1/holds/?player={alice.pk}")) == [held_alice.pk]
    assert ids(client.get("/api/v1/holds/?kind=hold&min_amount_minor=10000")) == [held_alice.pk]
    assert len(ids(client.get("/api/v1/holds/?kind=hold&max_amount_minor=10000"))) == 1
    assert ids(client.get("/api/v1/holds/?kind=hold&min_amount=150.00")) == [held_alice.pk]
    assert ids(client.get("/api/v1/holds/?kind=hold&min_amount=150.01")) == []
    assert len(ids(client.get("/api/v1/holds/?kind=hold&max_amount=20"))) == 1
    for bad in ("abc", "-1", "NaN", "1e30"):
        assert client.get(f"/api/v1/holds/?min_amount={bad}").status_code == 400, bad
    assert ids(client.get("/api/v1/holds/?older_than=3600")) == [held_alice.pk]
    assert len(ids(client.get("/api/v1/holds/?status=open"))) == 8
    assert ids(client.get("/api/v1/holds/?status=approved")) == []
    assert client.get("/api/v1/holds/?status=nonsense").status_code == 400
    assert client.get("/api/v1/holds/?rule=nonsense").status_code == 400
    assert client.get("/api/v1/holds/?older_than=-1").status_code == 400


def test_approve_and_reject_through_the_api(queue):
    alice, bob = queue
    client = client_for("back_office")
    held_alice = Case.objects.get(player=alice)
    response = post(client, f"/api/v1/holds/{held_alice.pk}/approve", DECISION)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["transaction_status"]) == ("approved", "posted")
    assert body["decided_by"] == client.user.username and body["reason_code"] == "verified_player"
    assert figures(alice) == (49_00, 0)
    held_bob = Case.objects.get(player=bob, kind="hold")
    # backoffice-api.md's `{reason}` body is taken as the note.
    response = post(
        client,
        f"/api/v1/holds/{held_bob.pk}/reject",
        {"reason_code": "suspected_fraud", "reason": "velocity"},
    )
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert figures(bob) == (379_00, 0)  # 400 - 1 - 20 of bets; the held 20.00 is back
    again = post(client, f"/api/v1/holds/{held_bob.pk}/approve", DECISION)
    assert again.status_code == 409 and again.json()["code"] == "NOT_ALLOWED"
    assert AuditRecord.objects.filter(action__startswith="fraud.case.").count() == 2


def test_decisions_refuse_a_missing_reason_or_an_unknown_reason_code(queue):
    alice, _ = queue
    client = client_for("back_office")
    case = Case.objects.get(player=alice)
    for body in (
        {},
        {"reason_code": "verified_player"},
        {"reason": "   "},
        {"reason": "x", "reason_code": "bogus"},
    ):
        response = post(client, f"/api/v1/holds/{case.pk}/approve", body)
        assert response.status_code == 400, body
    assert figures(alice) == (199_00, 150_00)
    assert not AuditRecord.objects.filter(action__startswith="fraud.case.").exists()


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_the_contract_body_reason_alone_decides_with_reason_code_other(queue, decision):
    alice, _ = queue
    client = client_for("back_office")
    case = Case.objects.get(player=alice)
    response = post(client, f"/api/v1/holds/{case.pk}/{decision}", {"reason": "checked by phone"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == ("approved" if decision == "approve" else "rejected")
    assert (body["reason_code"], body["decision_note"]) == ("other", "checked by phone")
    assert figures(alice) == ((49_00, 0) if decision == "approve" else (199_00, 0))
    audit = AuditRecord.objects.get(action=f"fraud.case.{decision}")
    assert audit.reason == "other: checked by phone"


def test_four_eyes_over_the_api(queue, settings):
    settings.FRAUD_FOUR_EYES_MINOR = 100_00
    alice, _ = queue
    first, second = client_for("back_office"), client_for("back_office")
    case = Case.objects.get(player=alice)
    assert post(first, f"/api/v1/holds/{case.pk}/approve", DECISION).json()["status"] == (
        "awaiting_second"
    )
    again = post(first, f"/api/v1/holds/{case.pk}/approve", DECISION)
    assert again.status_code == 409 and again.json()["code"] == "FOUR_EYES_REQUIRED"
    assert figures(alice) == (199_00, 150_00)
    assert post(second, f"/api/v1/holds/{case.pk}/approve", DECISION).json()["status"] == (
        "approved"
    )
    assert figures(alice) == (49_00, 0)


def test_assign_to_a_reviewer(queue):
    alice, _ = queue
    lead = client_for("back_office")
    reviewer = factories.UserFactory(groups=["back_office"])
    case = Case.objects.get(player=alice)
    response = post(lead, f"/api/v1/holds/{case.pk}/assign", {"assignee": reviewer.username})
    assert response.status_code == 200 and response.json()["assigned_to"] == reviewer.username
    assert ids(lead.get(f"/api/v1/holds/?assigned_to={reviewer.username}")) == [case.pk]
    record = AuditRecord.objects.get(action="fraud.case.assign")
    assert record.after == {"assigned_to": reviewer.pk}
    # Only someone who may decide cases can be given one.
    helper = factories.UserFactory(groups=["support"])
    refused = post(lead, f"/api/v1/holds/{case.pk}/assign", {"assignee": helper.username})
    assert refused.status_code == 400 and refused.json()["field"] == "assignee"
    back = post(lead, f"/api/v1/holds/{case.pk}/assign", {"assignee": None})
    assert back.status_code == 200 and back.json()["assigned_to"] is None


@pytest.mark.parametrize("role", ["support", "compliance", "integrator", "no_group", "anonymous"])
def test_only_back_office_sees_and_decides_holds(queue, role):
    alice, _ = queue
    case = Case.objects.get(player=alice)
    if role == "anonymous":
        client, expected = APIClient(), 401
    else:
        client, expected = client_for(*([] if role == "no_group" else [role])), 403
    assert client.get("/api/v1/holds/").status_code == expected
    assert client.get(f"/api/v1/holds/{case.pk}/").status_code == expected
    for action in ("approve", "reject"):
        assert post(client, f"/api/v1/holds/{case.pk}/{action}", DECISION).status_code == expected
    assert post(client, f"/api/v1/holds/{case.pk}/assign", {"assignee": None}).status_code == (
        expected
    )
    case.refresh_from_db()
    assert case.status == "open" and case.transaction.status == "held"
    assert figures(alice) == (199_00, 150_00)
    assert not AuditRecord.objects.filter(action__startswith="fraud.case.").exists()


def test_superuser_may_decide(queue):
    alice, _ = queue
    case = Case.objects.get(player=alice)
    client = client_for(superuser=True)
    assert post(client, f"/api/v1/holds/{case.pk}/reject", REJECTION).status_code == 200
    assert figures(alice) == (199_00, 0)


def test_oldest_undecided_hold_figure_and_metric_source(queue):
    from fraud import selectors
    from wallets import hooks

    age = selectors.oldest_undecided_hold_seconds()
    assert 5 * 3600 <= age < 5 * 3600 + 60
    source = hooks.metric_sources["fraud_oldest_hold_seconds"]
    assert source()[0] == pytest.approx(age, abs=5)
    Case.objects.filter(kind="hold").update(status="approved")
    assert selectors.oldest_undecided_hold_seconds() is None
    assert source() == {}
