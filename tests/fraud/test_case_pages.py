"""The case manager's admin pages: the queues and "next case", the case page and its actions
(reasons and outcomes that fit the decision, money as people read it, rule-hit figures as a
table, notes, snooze), the rule statistics page and the snoozes on the player's context page;
staff without the permission get 403 and change nothing."""

import re

import pytest
from django.urls import reverse

from fraud.choices import RuleKind
from fraud.models import Case, RuleSnooze
from tests import factories
from tests.fraud.casework_helpers import make_case
from tests.fraud.conftest import publish_rule
from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def as_(*groups, superuser=False):
        user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        client.user = user
        return client

    return as_


@pytest.fixture
def held(money, new_player):
    publish_rule(
        RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 1, "window_seconds": 3600}
    )
    player = new_player(200_00)
    money.withdraw(player, 1_00)
    money.withdraw(player, 150_00)
    return player, Case.objects.get(player=player)


def options(html: str, select_id: str) -> list[str]:
    select = re.search(rf'<select [^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert select, select_id
    return re.findall(r'<option value="([^"]+)"', select.group(1))


def test_next_case_opens_the_case_page_with_its_actions(login, held):
    player, case = held
    client = login("back_office")
    manager = client.get(reverse("admin:fraud_case_manager"))
    assert manager.status_code == 200
    assert 'data-queue="hold"' in manager.content.decode()
    response = client.post(reverse("admin:fraud_case_manager"), {"queue": "hold"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:fraud_case_change", args=[case.pk])
    case.refresh_from_db()
    assert case.assigned_to == client.user
    page = client.get(response["Location"]).content.decode()
    assert "150.00 EUR" in page  # the amount, and balances, as people read them
    assert "200.00 EUR" in page or "199.00 EUR" in page
    assert "withdrawals in window" in page and "1 h" in page  # figures as a table
    assert options(page, "id_approve-reason_code") == [
        "verified_player",
        "legitimate_pattern",
        "payment_verified",
        "other",
    ]
    assert "suspected_fraud" in options(page, "id_reject-reason_code")
    assert "verified_player" not in options(page, "id_reject-reason_code")
    assert options(page, "id_approve-outcome") == ["false_positive", "legitimate"]
    assert options(page, "id_reject-outcome") == ["confirmed_fraud"]
    assert reverse("admin:fraud_player_context", args=[player.pk]) in page


def test_note_snooze_and_decision_from_the_case_page(login, held):
    player, case = held
    client = login("back_office")
    url = reverse("admin:fraud_case_change", args=[case.pk])
    assert client.post(url, {"do": "note", "note-body": "called: salary"}).status_code == 302
    refused = client.post(url, {"do": "note", "note-body": "  "})
    assert refused.status_code == 400 and case.notes.count() == 1
    snoozed = client.post(
        url,
        {
            "do": "snooze",
            "snooze-rule": "withdrawal_velocity",
            "snooze-days": "181",
            "snooze-reason": "x",
        },
    )
    assert snoozed.status_code == 400 and not RuleSnooze.objects.exists()
    client.post(
        url,
        {
            "do": "snooze",
            "snooze-rule": "withdrawal_velocity",
            "snooze-days": "30",
            "snooze-reason": "salary",
        },
    )
    assert RuleSnooze.objects.get().player == player
    # A reject reason on the approve form is refused by the form, nothing decided.
    bad = client.post(
        url,
        {
            "do": "approve",
            "approve-reason_code": "stolen_payment",
            "approve-outcome": "legitimate",
            "approve-note": "x",
        },
    )
    assert bad.status_code == 400
    case.refresh_from_db()
    assert case.status == "open"
    done = client.post(
        url,
        {
            "do": "approve",
            "approve-reason_code": "verified_player",
            "approve-outcome": "false_positive",
            "approve-note": "salary",
        },
    )
    assert done.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.outcome, case.transaction.status) == (
        "approved",
        "false_positive",
        "posted",
    )
    relabel = {
        "do": "relabel",
        "relabel-outcome": "confirmed_fraud",
        "relabel-reason": "chargeback",
    }
    assert client.post(url, relabel).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.outcome) == ("approved", "confirmed_fraud")
    context = client.get(reverse("admin:fraud_player_context", args=[player.pk])).content
    assert b"withdrawal_velocity" in context and b"<b>active</b>" in context
    snooze = RuleSnooze.objects.get()
    client.post(reverse("admin:fraud_snooze_lift", args=[snooze.pk]), {"reason": "ended"})
    snooze.refresh_from_db()
    assert snooze.lifted_at is not None


def test_escalate_from_the_page_and_level_one_cannot_decide_it(login, held):
    _, case = held
    client = login("back_office")
    url = reverse("admin:fraud_case_change", args=[case.pk])
    client.post(url, {"do": "escalate", "escalate-reason": "ring"})
    case.refresh_from_db()
    assert case.level == 2
    page = client.get(url).content.decode()
    assert 'id="approve-form"' not in page and "level-2 reviewers decide" in page
    client.post(
        url,
        {
            "do": "reject",
            "reject-reason_code": "suspected_fraud",
            "reject-outcome": "confirmed_fraud",
            "reject-note": "x",
        },
    )
    case.refresh_from_db()
    assert case.status == "open"


@pytest.mark.parametrize("role", ["support", "compliance"])
def test_other_roles_get_403_and_change_nothing(login, held, role):
    _, case = held
    client = login(role)
    for url in (
        reverse("admin:fraud_case_manager"),
        reverse("admin:fraud_rule_statistics"),
        reverse("admin:fraud_case_change", args=[case.pk]),
    ):
        assert client.get(url).status_code == 403, url
    client.post(reverse("admin:fraud_case_manager"), {"queue": "hold"})
    client.post(
        reverse("admin:fraud_case_change", args=[case.pk]),
        {"do": "note", "note-body": "hello"},
    )
    case.refresh_from_db()
    assert case.assigned_to is None and case.notes.count() == 0
    assert not AuditRecord.objects.filter(action__startswith="fraud.case.").exists()


def test_rule_statistics_page(login, held):
    player, _ = held
    make_case(player, rules=("multi_account_ip",))
    client = login("back_office")
    page = client.get(reverse("admin:fraud_rule_statistics"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-rule="withdrawal_velocity"' in html and "<svg" in html
    bad = client.get(reverse("admin:fraud_rule_statistics") + "?start=2026-05-01&end=2026-04-01")
    assert bad.status_code == 400
    assert client.get(reverse("admin:fraud_rule_statistics") + "?start=junk").status_code == 400


def test_bulk_decision_forms_offer_only_fitting_reasons():
    from fraud.admin import CaseAdmin

    actions = {action.__name__: action for action in CaseAdmin.actions if callable(action)}
    approve = actions["approve_cases"].reason_form().fields
    reject = actions["reject_cases"].reason_form().fields
    assert "stolen_payment" not in dict(approve["reason_code"].choices)
    assert "verified_player" not in dict(reject["reason_code"].choices)
    assert list(dict(reject["outcome"].choices)) == ["", "confirmed_fraud"]
    assert list(dict(approve["outcome"].choices)) == ["", "false_positive", "legitimate"]
