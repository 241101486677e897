"""The case manager's services: queues per kind, "next case" claimed atomically (reviewers
racing on real connections never share a case), claims, escalation to level 2 and who may
work on it, outcome labels with every decision (defaulted where a caller gives none), reasons
that fit the decision, SLA states."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from fraud import casework, selectors, services
from fraud.choices import CaseQueue, CaseStatus, SlaState
from fraud.errors import CaseForbidden
from fraud.models import Case, CaseNote
from tests import factories
from tests.fraud.casework_helpers import level2_reviewer, make_case
from tests.fraud.conftest import publish_rule
from wallets.errors import FourEyesRequired, NotAllowed, ValidationFailed
from wallets.models import AuditRecord, Wallet

APPROVE = {"reason_code": "verified_player", "note": "called the player"}
REJECT = {"reason_code": "suspected_fraud", "note": "mule pattern"}


@pytest.fixture
def player(db):
    return factories.make_player()


@pytest.fixture
def reviewer(db):
    return factories.UserFactory(groups=["back_office"])


@pytest.mark.django_db
def test_next_case_claims_the_oldest_unclaimed_of_its_queue(player, reviewer):
    other = factories.UserFactory(groups=["back_office"])
    newest = make_case(player, age_minutes=5)
    claimed = make_case(player, age_minutes=50, assigned_to=other)
    oldest = make_case(player, age_minutes=30)
    make_case(player, kind="decline", age_minutes=90, rules=("high_stake_after_login",))
    decided = make_case(player, age_minutes=99, status=CaseStatus.APPROVED)
    got = casework.next_case(queue=CaseQueue.FLAG, actor=reviewer)
    assert got.pk == oldest.pk and got.assigned_to == reviewer
    assert casework.next_case(queue=CaseQueue.FLAG, actor=reviewer).pk == newest.pk
    assert casework.next_case(queue=CaseQueue.FLAG, actor=reviewer) is None  # empty for them
    assert Case.objects.get(pk=claimed.pk).assigned_to == other
    assert Case.objects.get(pk=decided.pk).assigned_to is None
    claims = AuditRecord.objects.filter(action="fraud.case.claim").order_by("id")
    assert [record.after["assigned_to"] for record in claims] == [reviewer.pk, reviewer.pk]
    with pytest.raises(ValidationFailed) as error:
        casework.next_case(queue="bogus", actor=reviewer)
    assert error.value.field == "queue"


@pytest.mark.django_db(transaction=True)
def test_reviewers_pressing_next_at_once_never_get_the_same_case():
    player = factories.make_player()
    cases = [make_case(player, age_minutes=60 - n) for n in range(5)]
    reviewers = [factories.UserFactory(groups=["back_office"]) for _ in range(8)]
    start = threading.Barrier(len(reviewers))
    got: dict[int, int | None] = {}
    failures = []

    def press_next(user):
        try:
            start.wait()
            case = casework.next_case(queue=CaseQueue.FLAG, actor=user)
            got[user.pk] = case.pk if case else None
        except Exception as error:  # reported below, with the thread's error
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=press_next, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    handed_out = [pk for pk in got.values() if pk is not None]
    assert len(got) == 8
    assert sorted(handed_out) == sorted(case.pk for case in cases)  # each exactly once
    assert list(got.values()).count(None) == 3
    for case in Case.objects.filter(pk__in=handed_out):
        assert got[case.assigned_to_id] == case.pk  # the one who got it holds it
    assert AuditRecord.objects.filter(action="fraud.case.claim").count() == 5


@pytest.mark.django_db
def test_claim_is_refused_while_someone_else_holds_the_case(player, reviewer):
    other = factories.UserFactory(groups=["back_office"])
    case = make_case(player)
    assert casework.claim_case(case_id=case.pk, actor=reviewer).assigned_to == reviewer
    assert casework.claim_case(case_id=case.pk, actor=reviewer).assigned_to == reviewer
    with pytest.raises(NotAllowed):
        casework.claim_case(case_id=case.pk, actor=other)
    # Deciding it is refused too, and changes nothing.
    with pytest.raises(NotAllowed):
        services.reject_case(case_id=case.pk, actor=other, **REJECT)
    case.refresh_from_db()
    assert (case.status, case.assigned_to) == ("open", reviewer)
    # Released, it is anyone's again.
    with pytest.raises(CaseForbidden):
        casework.release_case(case_id=case.pk, actor=factories.UserFactory())
    casework.release_case(case_id=case.pk, actor=reviewer)
    assert casework.claim_case(case_id=case.pk, actor=other).assigned_to == other
    support = factories.UserFactory(groups=["support"])
    with pytest.raises(CaseForbidden):
        casework.next_case(queue=CaseQueue.FLAG, actor=support)


@pytest.mark.django_db
def test_escalated_cases_leave_level_one_and_need_a_level_two_reviewer(player, reviewer):
    case = make_case(player, age_minutes=10)
    casework.claim_case(case_id=case.pk, actor=reviewer)
    with pytest.raises(ValidationFailed) as error:
        casework.escalate_case(case_id=case.pk, actor=reviewer, reason="  ")
    assert error.value.field == "reason"
    casework.escalate_case(case_id=case.pk, actor=reviewer, reason="looks like a ring")
    case.refresh_from_db()
    assert (case.level, case.assigned_to, case.escalated_by) == (2, None, reviewer)
    assert CaseNote.objects.get(case=case).body == "Escalated to level 2: looks like a ring"
    assert AuditRecord.objects.filter(action="fraud.case.escalate").count() == 1
    with pytest.raises(NotAllowed):
        casework.escalate_case(case_id=case.pk, actor=reviewer, reason="again")
    # Level 1: not in their queue, not theirs to claim, decide or be assigned.
    assert casework.next_case(queue=CaseQueue.FLAG, actor=reviewer) is None
    with pytest.raises(CaseForbidden):
        casework.next_case(queue=CaseQueue.ESCALATED, actor=reviewer)
    with pytest.raises(CaseForbidden):
        casework.claim_case(case_id=case.pk, actor=reviewer)
    with pytest.raises(CaseForbidden):
        services.approve_case(case_id=case.pk, actor=reviewer, **APPROVE)
    with pytest.raises(ValidationFailed) as error:
        services.assign_case(case_id=case.pk, actor=reviewer, assignee=reviewer)
    assert error.value.field == "assignee"
    case.refresh_from_db()
    assert (case.status, case.assigned_to) == ("open", None)
    senior = level2_reviewer()
    assert casework.next_case(queue=CaseQueue.ESCALATED, actor=senior).pk == case.pk
    decided = services.reject_case(case_id=case.pk, actor=senior, **REJECT)
    assert (decided.status, decided.outcome) == ("rejected", "confirmed_fraud")


@pytest.mark.django_db
def test_outcomes_default_from_the_decision_or_must_fit_it(player, reviewer):
    approved = services.approve_case(case_id=make_case(player).pk, actor=reviewer, **APPROVE)
    assert approved.outcome == "legitimate"
    pattern = services.approve_case(
        case_id=make_case(player).pk,
        actor=reviewer,
        reason_code="legitimate_pattern",
        note="seen before",
    )
    assert pattern.outcome == "false_positive"
    rejected = services.reject_case(case_id=make_case(player).pk, actor=reviewer, **REJECT)
    assert rejected.outcome == "confirmed_fraud"
    explicit = services.approve_case(
        case_id=make_case(player).pk, actor=reviewer, outcome="false_positive", **APPROVE
    )
    assert explicit.outcome == "false_positive"
    case = make_case(player)
    refusals = [
        (services.approve_case, {**APPROVE, "outcome": "confirmed_fraud"}, "outcome"),
        (services.reject_case, {**REJECT, "outcome": "legitimate"}, "outcome"),
        (services.approve_case, {**APPROVE, "outcome": "maybe"}, "outcome"),
        (services.approve_case, {**REJECT}, "reason_code"),
        (services.reject_case, {**APPROVE}, "reason_code"),
    ]
    for decide, body, field in refusals:
        with pytest.raises(ValidationFailed) as error:
            decide(case_id=case.pk, actor=reviewer, **body)
        assert error.value.field == field, body
    case.refresh_from_db()
    assert (case.status, case.outcome) == ("open", "")
    assert not AuditRecord.objects.filter(target_id=str(case.pk)).exists()


@pytest.mark.django_db
def test_four_eyes_puts_the_case_back_for_a_second_approver(player, reviewer, settings):
    settings.FRAUD_FOUR_EYES_MINOR = 10_00
    wallet = Wallet.objects.get(player=player, currency="EUR")
    case = make_case(player, kind="hold", amount_minor=50_00, currency="EUR", wallet=wallet)
    # A hold without a transaction moves no money: make it look like one that does.
    assert casework.next_case(queue=CaseQueue.HOLD, actor=reviewer).pk == case.pk
    Case.objects.filter(pk=case.pk).update(
        status=CaseStatus.AWAITING_SECOND, first_approved_by=reviewer, assigned_to=None
    )
    # The first approver is never offered it again; another reviewer is.
    assert casework.next_case(queue=CaseQueue.HOLD, actor=reviewer) is None
    second = factories.UserFactory(groups=["back_office"])
    assert casework.next_case(queue=CaseQueue.HOLD, actor=second).pk == case.pk


@pytest.mark.django_db
def test_first_approval_releases_the_claim(money, new_player, reviewer, settings):
    from fraud.choices import RuleKind

    settings.FRAUD_FOUR_EYES_MINOR = 10_00
    publish_rule(
        RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 1, "window_seconds": 3600}
    )
    player = new_player(100_00)
    money.withdraw(player, 10_00)
    money.withdraw(player, 60_00)
    case = casework.next_case(queue=CaseQueue.HOLD, actor=reviewer)
    first = services.approve_case(case_id=case.pk, actor=reviewer, **APPROVE)
    assert (first.status, first.assigned_to, first.outcome) == ("awaiting_second", None, "")
    with pytest.raises(FourEyesRequired):
        services.approve_case(case_id=case.pk, actor=reviewer, **APPROVE)
    second = factories.UserFactory(groups=["back_office"])
    assert casework.next_case(queue=CaseQueue.HOLD, actor=second).pk == case.pk
    done = services.approve_case(case_id=case.pk, actor=second, outcome="false_positive", **APPROVE)
    assert (done.status, done.outcome, done.transaction.status) == (
        "approved",
        "false_positive",
        "posted",
    )


@pytest.mark.django_db
def test_sla_states_follow_the_configured_minutes_per_kind(player, reviewer, settings):
    settings.FRAUD_CASE_SLA_MINUTES = {"hold": 60, "decline": 240, "flag": 100}
    assert selectors.sla_state(kind="flag", age_seconds=74 * 60) == SlaState.OK
    assert selectors.sla_state(kind="flag", age_seconds=75 * 60) == SlaState.WARNING
    assert selectors.sla_state(kind="flag", age_seconds=100 * 60) == SlaState.WARNING
    assert selectors.sla_state(kind="flag", age_seconds=100 * 60 + 1) == SlaState.BREACHED
    assert selectors.sla_state(kind="hold", age_seconds=61 * 60) == SlaState.BREACHED
    make_case(player, age_minutes=10)
    make_case(player, age_minutes=120)
    make_case(player, age_minutes=130, assigned_to=reviewer)
    make_case(player, kind="hold", age_minutes=50)
    overview = {row.queue: row for row in selectors.queue_overview(reviewer)}
    flags = overview["flag"]
    assert (flags.undecided, flags.unclaimed, flags.mine, flags.breached) == (3, 2, 1, 2)
    assert flags.sla_state == SlaState.BREACHED and flags.oldest_unclaimed_seconds >= 120 * 60
    assert overview["hold"].sla_state == SlaState.WARNING
    assert overview["decline"].undecided == 0 and overview["decline"].sla_state is None
    assert overview["escalated"].may_work is False and flags.may_work is True
    # A decided case's state is the one it had at its decision.
    decided = make_case(player, age_minutes=500)
    Case.objects.filter(pk=decided.pk).update(
        status="approved", decided_at=decided.created_at + timedelta(minutes=30)
    )
    decided.refresh_from_db()
    assert selectors.case_sla_state(decided, now=timezone.now()) == SlaState.OK


@pytest.mark.django_db
def test_notes_are_appended_and_validated(player, reviewer):
    case = make_case(player)
    casework.add_note(case_id=case.pk, actor=reviewer, body="  called the player  ")
    with pytest.raises(ValidationFailed) as error:
        casework.add_note(case_id=case.pk, actor=reviewer, body=" ")
    assert error.value.field == "body"
    with pytest.raises(ValidationFailed):
        casework.add_note(case_id=case.pk, actor=reviewer, body="x" * 4001)
    assert [note.body for note in case.notes.all()] == ["called the player"]
