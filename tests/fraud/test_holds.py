"""Deciding holds: approve posts, reject releases, exact balance and reserved figures; reason
codes and notes; four eyes; decided once, also when reviewers race each other."""

import threading
import traceback

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from fraud import services
from fraud.choices import CaseKind, CaseStatus, RuleKind
from fraud.models import Case, PlayerBaseline
from fraud.screening import baseline_writer
from tests import factories
from tests.fraud.conftest import publish_rule
from tests.wallets.test_ledger import assert_ledger_invariant
from wallets import hooks, ledger
from wallets.errors import FourEyesRequired, NotAllowed, ValidationFailed
from wallets.models import AuditRecord, Transaction, Wallet

APPROVE = {"reason_code": "verified_player", "note": "called the player, card is theirs"}
REJECT = {"reason_code": "stolen_payment", "note": "card reported stolen"}


def figures(player):
    wallet = Wallet.objects.get(player=player, currency="EUR")
    return wallet.balance_minor, wallet.reserved_minor


@pytest.fixture
def holding(monkeypatch):
    """Hold the given kinds of call, as a screener of any origin might: every held row gets a
    case in the queue, whatever held it."""

    def install(*kinds):
        fraud_screener = hooks.screener

        def screener(request):
            if request.kind in kinds:
                return hooks.Screening(action=hooks.HOLD, hits=({"rule": "test"},))
            return fraud_screener(request)

        monkeypatch.setattr(hooks, "screener", screener)

    return install


@pytest.fixture
def held_withdrawal(db, money, new_player):
    """100.00 deposited, 10.00 withdrawn, then 60.00 held by the velocity rule (set to 1)."""
    publish_rule(
        RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 1, "window_seconds": 3600}
    )
    player = new_player(100_00)
    money.withdraw(player, 10_00)
    result = money.withdraw(player, 60_00)
    assert result.transaction.status == "held"
    assert figures(player) == (90_00, 60_00)
    return player, Case.objects.get(transaction=result.transaction)


@pytest.mark.django_db
def test_approving_a_held_withdrawal_pays_it_out(held_withdrawal, staff):
    player, case = held_withdrawal
    reviewer = staff("back_office")
    decided = services.approve_case(case_id=case.pk, actor=reviewer, **APPROVE)
    assert decided.status == CaseStatus.APPROVED
    assert figures(player) == (30_00, 0)
    txn = Transaction.objects.get(pk=case.transaction_id)
    assert (txn.status, txn.approved_by, txn.balance_after_minor) == ("posted", reviewer, 90_00)
    assert (decided.reason_code, decided.decision_note) == (APPROVE["reason_code"], APPROVE["note"])
    record = AuditRecord.objects.get(action="fraud.case.approve")
    assert record.actor == reviewer
    assert record.before["status"] == "open" and record.before["transaction_status"] == "held"
    assert record.after["status"] == "approved" and record.after["transaction_status"] == "posted"
    assert "verified_player" in record.reason
    assert_ledger_invariant()


@pytest.mark.django_db
def test_rejecting_a_held_withdrawal_returns_it_to_available(held_withdrawal, staff):
    player, case = held_withdrawal
    services.reject_case(case_id=case.pk, actor=staff("back_office"), **REJECT)
    assert figures(player) == (90_00, 0)
    assert Transaction.objects.get(pk=case.transaction_id).status == "rejected"
    assert AuditRecord.objects.get(action="fraud.case.reject").after["status"] == "rejected"
    assert_ledger_invariant()


@pytest.mark.django_db
@pytest.mark.parametrize("approve", [True, False])
def test_held_deposit_approve_keeps_it_reject_removes_it(
    money, new_player, holding, staff, approve
):
    player = new_player(50_00)
    holding("deposit")
    held = money.deposit(player, 25_00)
    assert figures(player) == (75_00, 25_00)
    case = Case.objects.get(transaction=held.transaction)
    assert case.kind == CaseKind.HOLD and case.rule_keys == ["test"]
    decide = services.approve_case if approve else services.reject_case
    decide(case_id=case.pk, actor=staff("back_office"), **(APPROVE if approve else REJECT))
    assert figures(player) == ((75_00, 0) if approve else (50_00, 0))
    assert_ledger_invariant()


@pytest.mark.django_db
@pytest.mark.parametrize("approve", [True, False])
def test_held_win_approve_pays_reject_takes_back(
    money, new_player, holding, staff, provider, approve
):
    player = new_player(50_00)
    session = money.authenticated_session(player, provider)
    money.bet(session, 10_00)
    holding("win")
    with money.capture(execute=True):
        won = ledger.win(
            provider=provider,
            session=session,
            transaction_id="win-1",
            round_id="r-win",
            amount_minor=33_33,
            currency="EUR",
        )
    assert figures(player) == (73_33, 33_33)
    case = Case.objects.get(transaction=won.transaction)
    assert case.provider == provider and case.request_kind == "win"
    decide = services.approve_case if approve else services.reject_case
    decide(case_id=case.pk, actor=staff("back_office"), **(APPROVE if approve else REJECT))
    assert figures(player) == ((73_33, 0) if approve else (40_00, 0))
    assert_ledger_invariant()


@pytest.mark.django_db
def test_a_decision_needs_a_reason_code_and_a_note(held_withdrawal, staff):
    player, case = held_withdrawal
    reviewer = staff("back_office")
    with pytest.raises(ValidationFailed) as error:
        services.approve_case(case_id=case.pk, actor=reviewer, reason_code="whim", note="x")
    assert error.value.field == "reason_code"
    with pytest.raises(ValidationFailed) as error:
        services.reject_case(case_id=case.pk, actor=reviewer, reason_code="other", note="  ")
    assert error.value.field == "note"
    assert figures(player) == (90_00, 60_00)
    assert Case.objects.get(pk=case.pk).status == CaseStatus.OPEN


@pytest.mark.django_db
def test_a_case_is_decided_once(held_withdrawal, staff):
    player, case = held_withdrawal
    services.reject_case(case_id=case.pk, actor=staff("back_office"), **REJECT)
    for decide, reason in ((services.approve_case, APPROVE), (services.reject_case, REJECT)):
        with pytest.raises(NotAllowed):
            decide(case_id=case.pk, actor=staff("back_office"), **reason)
    assert figures(player) == (90_00, 0)
    assert AuditRecord.objects.filter(action__startswith="fraud.case.").count() == 1


@pytest.mark.django_db
def test_declined_bets_and_flags_are_closed_without_moving_money(money, new_player, staff):
    player = new_player(100_00)
    for _ in range(5):
        new_player(ip="198.51.100.77")
    services.scan_multi_account_ips()
    flag = Case.objects.filter(kind=CaseKind.FLAG).first()
    before = figures(player)
    services.approve_case(case_id=flag.pk, actor=staff("back_office"), **APPROVE)
    assert Case.objects.get(pk=flag.pk).status == CaseStatus.APPROVED
    assert figures(player) == before


# --- four eyes ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_four_eyes_above_the_threshold(held_withdrawal, staff, settings):
    settings.FRAUD_FOUR_EYES_MINOR = 60_00
    player, case = held_withdrawal
    first, second = staff("back_office"), staff("back_office")
    pending = services.approve_case(case_id=case.pk, actor=first, **APPROVE)
    assert pending.status == CaseStatus.AWAITING_SECOND
    assert (pending.first_approved_by, pending.first_reason_code) == (first, "verified_player")
    assert figures(player) == (90_00, 60_00)  # nothing moved yet
    assert Transaction.objects.get(pk=case.transaction_id).status == "held"
    with pytest.raises(FourEyesRequired):
        services.approve_case(case_id=case.pk, actor=first, **APPROVE)
    assert figures(player) == (90_00, 60_00)
    done = services.approve_case(case_id=case.pk, actor=second, **APPROVE)
    assert (done.status, done.decided_by) == (CaseStatus.APPROVED, second)
    assert figures(player) == (30_00, 0)
    actions = list(
        AuditRecord.objects.filter(action__startswith="fraud.case.")
        .order_by("id")
        .values_list("action", "actor")
    )
    assert actions == [("fraud.case.first_approval", first.pk), ("fraud.case.approve", second.pk)]
    assert_ledger_invariant()


@pytest.mark.django_db
def test_below_the_threshold_one_approver_suffices(held_withdrawal, staff, settings):
    settings.FRAUD_FOUR_EYES_MINOR = 60_01
    player, case = held_withdrawal
    assert services.approve_case(case_id=case.pk, actor=staff(), **APPROVE).status == "approved"
    assert figures(player) == (30_00, 0)


@pytest.mark.django_db
def test_a_rule_can_lower_the_four_eyes_threshold(held_withdrawal, staff, settings):
    settings.FRAUD_FOUR_EYES_MINOR = 1_000_000_00
    publish_rule(RuleKind.WITHDRAWAL_VELOCITY, four_eyes_minor=50_00)
    _, case = held_withdrawal
    pending = services.approve_case(case_id=case.pk, actor=staff(), **APPROVE)
    assert pending.status == CaseStatus.AWAITING_SECOND


@pytest.mark.django_db
def test_after_a_first_approval_anyone_may_still_reject(held_withdrawal, staff, settings):
    settings.FRAUD_FOUR_EYES_MINOR = 1_00
    player, case = held_withdrawal
    first = staff("back_office")
    services.approve_case(case_id=case.pk, actor=first, **APPROVE)
    services.reject_case(case_id=case.pk, actor=first, **REJECT)
    assert figures(player) == (90_00, 0)


# --- concurrency ----------------------------------------------------------------------------


def race(workers):
    barrier = threading.Barrier(len(workers))
    failures = []

    def body(worker):
        try:
            barrier.wait(timeout=15)
            worker()
        except BaseException:
            failures.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, "\n".join(failures)


def hold_one(monkeypatch, amount_minor=60_00):
    """A committed held withdrawal of a player with 100.00 (after-commit listeners really run)."""
    player = factories.funded_player(100_00, registration_ip="192.0.2.200")
    fraud_screener = hooks.screener
    monkeypatch.setattr(
        hooks, "screener", lambda request: hooks.Screening(action=hooks.HOLD, hits=({"rule": "t"},))
    )
    held = ledger.withdraw(
        player=player, currency="EUR", amount_minor=amount_minor, external_id="w"
    )
    monkeypatch.setattr(hooks, "screener", fraud_screener)
    # Outside any transaction the baseline updates go to the writer thread: stopping it
    # writes what it has queued.
    baseline_writer.stop()
    baseline = PlayerBaseline.objects.get(player=player)
    assert baseline.deposit_amounts == [100_00] and len(baseline.withdrawal_times) == 1
    return player, Case.objects.get(transaction=held.transaction)


@pytest.mark.django_db(transaction=True)
def test_reviewers_racing_on_one_hold_decide_it_once(monkeypatch):
    player, case = hold_one(monkeypatch)
    reviewers = [get_user_model().objects.create(username=f"reviewer{n}") for n in range(8)]
    outcomes = []

    def worker(n):
        def work():
            decide = services.approve_case if n % 2 == 0 else services.reject_case
            try:
                decide(case_id=case.pk, actor=reviewers[n], **(APPROVE if n % 2 == 0 else REJECT))
                outcomes.append(("decided", n % 2 == 0))
            except NotAllowed:
                outcomes.append(("late", None))

        return work

    race([worker(n) for n in range(8)])
    decided = [approve for what, approve in outcomes if what == "decided"]
    assert len(outcomes) == 8 and len(decided) == 1
    assert figures(player) == ((40_00, 0) if decided[0] else (100_00, 0))
    case.refresh_from_db()
    assert case.status == (CaseStatus.APPROVED if decided[0] else CaseStatus.REJECTED)
    assert (
        AuditRecord.objects.filter(action__in=["fraud.case.approve", "fraud.case.reject"]).count()
        == 1
    )
    assert_ledger_invariant()


@pytest.mark.django_db(transaction=True)
def test_two_approvers_racing_above_the_threshold_complete_it_once(monkeypatch, settings):
    settings.FRAUD_FOUR_EYES_MINOR = 1_00
    player, case = hold_one(monkeypatch)
    reviewers = [get_user_model().objects.create(username=f"approver{n}") for n in range(2)]
    outcomes = []

    def worker(n):
        def work():
            outcomes.append(
                services.approve_case(case_id=case.pk, actor=reviewers[n], **APPROVE).status
            )

        return work

    race([worker(0), worker(1)])
    assert sorted(outcomes) == ["approved", "awaiting_second"]
    assert figures(player) == (40_00, 0)
    case.refresh_from_db()
    assert case.first_approved_by != case.decided_by
    assert_ledger_invariant()


@pytest.mark.django_db(transaction=True)
def test_one_approver_racing_with_itself_never_completes_four_eyes(monkeypatch, settings):
    settings.FRAUD_FOUR_EYES_MINOR = 1_00
    player, case = hold_one(monkeypatch)
    reviewer = get_user_model().objects.create(username="alone")
    outcomes = []

    def work():
        try:
            outcomes.append(
                services.approve_case(case_id=case.pk, actor=reviewer, **APPROVE).status
            )
        except FourEyesRequired:
            outcomes.append("refused")

    race([work, work, work])
    assert sorted(outcomes) == ["awaiting_second", "refused", "refused"]
    assert figures(player) == (100_00, 60_00)
    assert_ledger_invariant()
