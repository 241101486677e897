"""The fraud admin as staff use it: pages render, rules are edited with an audit record and
validated per kind, the review queue's bulk actions decide through the services, and the
permission boundaries hold (support cannot see or decide holds; back office cannot edit rules)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from fraud.choices import RuleKind
from fraud.models import Case, FraudRule, PlayerRisk
from tests import factories
from tests.fraud.conftest import publish_rule
from wallets.models import AuditRecord, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def as_(*groups, superuser=False):
        user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
        # Explicit backend: force_login would pick the first one with get_user().
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        client.user = user
        return client

    return as_


@pytest.fixture
def held(money, new_player, provider):
    """A held withdrawal (velocity limit 1) of a player with some play and IPs."""
    publish_rule(
        RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 1, "window_seconds": 3600}
    )
    player = new_player(100_00, ip="198.51.100.20")
    new_player(ip="198.51.100.20")  # another account on the same address
    session = money.authenticated_session(player, provider)
    money.bet(session, 5_00)
    money.withdraw(player, 1_00, ip="203.0.113.20")
    money.withdraw(player, 50_00, ip="203.0.113.20")
    return player, Case.objects.get(player=player)


def figures(player):
    wallet = Wallet.objects.get(player=player, currency="EUR")
    return wallet.balance_minor, wallet.reserved_minor


def test_every_fraud_page_renders_for_a_superuser(login, held):
    client = login(superuser=True)
    for model in ("fraudrule", "case", "playerrisk", "rulehit", "playerbaseline"):
        response = client.get(reverse(f"admin:fraud_{model}_changelist"))
        assert response.status_code == 200, model
        objects = response.context["cl"].result_list
        if objects:
            detail = client.get(reverse(f"admin:fraud_{model}_change", args=[objects[0].pk]))
            assert detail.status_code == 200, model
    listing = client.get(reverse("admin:fraud_case_changelist"))
    assert "Oldest undecided hold" in listing.content.decode()


@pytest.mark.parametrize(
    "query",
    ["status__exact=open", "rule=withdrawal_velocity", "amount=lt10000", "older_than_hours=1"],
)
def test_queue_filters(login, held, query):
    _, case = held
    response = login("back_office").get(reverse("admin:fraud_case_changelist") + "?" + query)
    assert response.status_code == 200
    found = [c.pk for c in response.context["cl"].result_list]
    assert found == ([] if query.startswith("older") else [case.pk])


def test_the_player_context_page_shows_everything_on_one_page(login, held):
    player, _ = held
    page = login("back_office").get(reverse("admin:fraud_player_context", args=[player.pk]))
    assert page.status_code == 200
    ctx = page.context["ctx"]
    assert ctx.player == player
    assert ctx.ips == ["198.51.100.20", "203.0.113.20"]
    assert len(ctx.same_ip_players) == 1
    assert [t.kind for t in ctx.transactions] == ["withdrawal", "withdrawal", "bet", "deposit"]
    assert len(ctx.sessions) == 1
    assert [h.rule_key for h in ctx.hits] == ["withdrawal_velocity"]
    assert ctx.hits[0].figures["withdrawals_in_window"] == 1
    body = page.content.decode()
    assert "withdrawal_velocity" in body and "198.51.100.20" in body


@pytest.mark.parametrize("role", ["support", "integrator"])
def test_support_cannot_see_or_decide_holds_in_the_admin(login, held, role):
    player, case = held
    client = login(role)
    assert client.get(reverse("admin:fraud_case_changelist")).status_code == 403
    assert client.get(reverse("admin:fraud_player_context", args=[player.pk])).status_code == 403
    response = client.post(
        reverse("admin:fraud_case_changelist"),
        {
            "action": "approve_cases",
            ACTION_CHECKBOX_NAME: [case.pk],
            "apply": "1",
            "reason_code": "verified_player",
            "note": "ok",
        },
    )
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.status == "open" and figures(player) == (94_00, 50_00)


def test_compliance_sees_no_queue_and_no_decide_action(login, held):
    client = login("compliance")
    assert client.get(reverse("admin:fraud_case_changelist")).status_code == 403
    assert client.get(reverse("admin:fraud_fraudrule_changelist")).status_code == 200


def test_bulk_approve_asks_for_a_reason_code_and_a_note_then_decides(login, held):
    player, case = held
    client = login("back_office")
    url = reverse("admin:fraud_case_changelist")
    listing = client.get(url)
    assert "approve_cases" in listing.content.decode()
    confirm = client.post(url, {"action": "approve_cases", ACTION_CHECKBOX_NAME: [case.pk]})
    assert confirm.status_code == 200 and "reason_code" in confirm.content.decode()
    assert figures(player) == (94_00, 50_00)
    incomplete = client.post(
        url,
        {"action": "approve_cases", ACTION_CHECKBOX_NAME: [case.pk], "apply": "1", "note": "x"},
    )
    assert incomplete.status_code == 200  # the form again, nothing decided
    assert Case.objects.get(pk=case.pk).status == "open"
    done = client.post(
        url,
        {
            "action": "approve_cases",
            ACTION_CHECKBOX_NAME: [case.pk],
            "apply": "1",
            "reason_code": "verified_player",
            "note": "checked documents",
        },
    )
    assert done.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.decided_by) == ("approved", client.user)
    assert figures(player) == (44_00, 0)
    assert AuditRecord.objects.filter(action="fraud.case.approve").count() == 1


def test_bulk_reject_releases(login, held):
    player, case = held
    client = login("back_office")
    client.post(
        reverse("admin:fraud_case_changelist"),
        {
            "action": "reject_cases",
            ACTION_CHECKBOX_NAME: [case.pk],
            "apply": "1",
            "reason_code": "suspected_fraud",
            "note": "velocity",
        },
    )
    assert figures(player) == (94_00, 0)


def test_rules_are_changed_by_a_draft_published_by_compliance_validated_and_audited(login):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    from fraud.models import RuleVersion

    rule = FraudRule.objects.get(key=RuleKind.RAPID_DEPOSITS_WITHDRAWAL)
    client = login("compliance")
    # The rule's page offers a new draft, pre-filled from the live version.
    page = client.get(reverse("admin:fraud_fraudrule_change", args=[rule.pk])).content.decode()
    assert "New draft from the live version" in page
    add = reverse("admin:fraud_ruleversion_add")
    prefilled = client.get(add + f"?rule={rule.pk}")
    assert prefilled.context["adminform"].form.initial["action"] == "hold"
    form = {
        "rule": rule.pk,
        "action": "flag",
        "parameters": '{"min_small_deposits": 4}',
        "risk_points": "25",
        "four_eyes_minor": "",
        "note": "stricter",
    }
    bad = client.post(add, {**form, "parameters": '{"min_small_deposits": 4.5}'})
    assert bad.status_code == 200 and "whole number" in bad.content.decode()
    assert RuleVersion.objects.filter(rule=rule).count() == 1
    assert client.post(add, form).status_code == 302
    draft = RuleVersion.objects.get(rule=rule, state="draft")
    assert draft.parameters["withdrawal_min_minor"] == 100_00  # completed with the default
    rule.refresh_from_db()
    assert rule.action == "hold"  # a draft changes nothing
    response = client.post(
        reverse("admin:fraud_ruleversion_changelist"),
        {
            "action": "publish_versions",
            ACTION_CHECKBOX_NAME: [draft.pk],
            "apply": "1",
            "reason": "card testing wave",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.action == "flag" and rule.risk_points == 25
    assert rule.parameters["min_small_deposits"] == 4
    record = AuditRecord.objects.get(action="fraud.rule.publish")
    assert record.actor == client.user and record.reason == "card testing wave"
    assert record.before["action"] == "hold" and record.after["action"] == "flag"
    assert record.after["parameters.min_small_deposits"] == 4
    # The published version is history now: its page shows it read-only.
    live = client.get(reverse("admin:fraud_ruleversion_change", args=[draft.pk]))
    assert live.status_code == 200 and not live.context["has_change_permission"]


def test_back_office_may_read_but_not_edit_rules(login):
    rule = FraudRule.objects.get(key=RuleKind.WITHDRAWAL_VELOCITY)
    client = login("back_office")
    url = reverse("admin:fraud_fraudrule_change", args=[rule.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"name": "x", "action": "allow", "parameters": "{}", "risk_points": "1"}
    )
    assert response.status_code == 403
    assert FraudRule.objects.get(pk=rule.pk).action == "hold"


def test_trust_and_block_players_from_the_risk_list(login, held):
    player, _ = held
    risk = PlayerRisk.objects.get(player=player)
    url = reverse("admin:fraud_playerrisk_changelist")
    office = login("back_office")
    office.post(
        url,
        {"action": "trust_players", ACTION_CHECKBOX_NAME: [risk.pk], "apply": "1", "reason": "VIP"},
    )
    risk.refresh_from_db()
    assert risk.trusted and risk.trusted_by == office.user
    # Blocking needs wallets.block_player (compliance), not back office.
    refused = office.post(
        url,
        {"action": "block_players", ACTION_CHECKBOX_NAME: [risk.pk], "apply": "1", "reason": "x"},
    )
    assert refused.status_code in (200, 302)
    player.refresh_from_db()
    assert player.status == "active"
    officer = login("compliance")
    officer.post(
        url,
        {
            "action": "block_players",
            ACTION_CHECKBOX_NAME: [risk.pk],
            "apply": "1",
            "reason": "fraud",
        },
    )
    player.refresh_from_db()
    assert player.status == "blocked"
