"""The case manager in a real browser: a back-office reviewer opens the queues, presses "next
case", reads the case, adds a note, snoozes the rule for the player and approves with an
outcome label. Every step is asserted in the database as well as on the page. The wallet's
hooks are production's (the fraud screener really holds, and really skips the snoozed rule)."""

import pytest
from django.contrib.auth import get_user_model

from fraud import screening
from fraud.choices import RuleKind
from fraud.models import Case, RuleSnooze
from tests.fraud.conftest import publish_rule
from wallets import ledger
from wallets.models import AuditRecord, Player, Wallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_reviewer_takes_the_next_case_notes_snoozes_and_decides(admin_ui, production_hooks):
    publish_rule(
        RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 1, "window_seconds": 3600}
    )
    screening.invalidate_rule_cache()  # this process screens with the edited rule at once
    player = Player.objects.get(external_id="demo-player-002")
    ledger.withdraw(player=player, currency="EUR", amount_minor=1_00, external_id="e2e-cm-1")
    held = ledger.withdraw(
        player=player, currency="EUR", amount_minor=25_00, external_id="e2e-cm-2"
    )
    assert held.transaction.status == "held"
    case = Case.objects.get(transaction=held.transaction)
    reviewer = get_user_model().objects.get(username="backoffice")

    page = admin_ui.login("backoffice")
    admin_ui.open("/admin/fraud/case/")
    admin_ui.follow("#case-manager-link")
    row = page.locator("#queues tr[data-queue=hold]")
    assert row.locator("td").nth(2).inner_text() == "1"  # one unclaimed hold
    admin_ui.screenshot("case-manager-queues")
    with page.expect_navigation():
        row.locator("input[name=next]").click()
    assert page.get_attribute("#case-page", "data-case") == str(case.pk)
    assert page.inner_text("#case-holder") == "backoffice"
    assert "25.00 EUR" in page.inner_text("#case-amount")
    assert "withdrawals in window" in page.inner_text("#case-hits")
    case.refresh_from_db()
    assert case.assigned_to == reviewer

    page.fill("#id_note-body", "Called the player: paying rent from savings.")
    with page.expect_navigation():
        page.click("#note-form input[type=submit]")
    assert "paying rent from savings" in page.inner_text("#case-notes")

    page.select_option("#id_snooze-rule", "withdrawal_velocity")
    page.fill("#id_snooze-days", "30")
    page.fill("#id_snooze-reason", "Moves savings in several withdrawals every month.")
    with page.expect_navigation():
        page.click("#snooze-form input[type=submit]")
    assert "withdrawal_velocity" in page.inner_text("#player-snoozes")
    admin_ui.screenshot("case-page")

    # The approve form offers approval reasons only.
    approve_reasons = page.locator("#id_approve-reason_code option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert "stolen_payment" not in approve_reasons and "verified_player" in approve_reasons
    page.select_option("#id_approve-reason_code", "verified_player")
    page.select_option("#id_approve-outcome", "false_positive")
    page.fill("#id_approve-note", "Savings, verified by phone.")
    with page.expect_navigation():
        page.click("#approve-form input[type=submit]")
    assert "approved" in page.inner_text("ul.messagelist")
    assert page.get_attribute("#case-page", "data-status") == "approved"

    case.refresh_from_db()
    assert (case.status, case.outcome, case.decided_by) == ("approved", "false_positive", reviewer)
    assert case.transaction.status == "posted"
    snooze = RuleSnooze.objects.get(player=player)
    assert snooze.is_active() and snooze.case == case and snooze.created_by == reviewer
    assert case.notes.first().body.startswith("Called the player")
    actions = set(
        AuditRecord.objects.filter(target_id=str(case.pk), target_type="fraud.case").values_list(
            "action", flat=True
        )
    )
    assert {"fraud.case.claim", "fraud.case.approve"} <= actions
    # The snoozed rule no longer holds this player's withdrawals.
    again = ledger.withdraw(
        player=player, currency="EUR", amount_minor=2_00, external_id="e2e-cm-3"
    )
    assert again.transaction.status == "posted"
    assert Wallet.objects.get(player=player, currency="EUR").reserved_minor == 0
