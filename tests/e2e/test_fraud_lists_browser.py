"""Fraud lists in a real browser, then in the money path. Compliance (the role that keeps the
lists) creates a block list of payment fingerprints, puts a card on it with the reason, and
reads back who added it and why; a withdrawal to that card is then held by the list_block rule
(production's hooks) and back office finds the case. Back office may read the lists but not
change them (no add row, and a forged POST is refused); support cannot open them; a malformed
address range is refused on the form, saying why, and nothing is saved."""

import pytest
from django.contrib.auth import get_user_model

from fraud.choices import CaseKind, ListKind, ListPurpose, RuleKind
from fraud.models import Case, FraudList, ListEntry, RuleHit
from wallets import ledger
from wallets.models import AuditRecord, Player, Transaction, Wallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CARD = "card:stolen-7c1e"
REASON = "Card reported stolen by the issuer (chargeback 2211)"


def _save(admin_ui):
    admin_ui.follow("input[name=_continue]")
    return admin_ui.page


def test_compliance_blocks_a_card_and_the_withdrawal_to_it_is_held(admin_ui, production_hooks):
    officer = get_user_model().objects.get(username="compliance")
    page = admin_ui.login("compliance")

    # A new block list of payment fingerprints, made in the admin.
    admin_ui.open("/admin/fraud/fraudlist/add/")
    page.fill("#id_name", "Stolen cards")
    page.select_option("#id_kind", ListKind.PAYMENT_FINGERPRINT)
    page.select_option("#id_purpose", ListPurpose.BLOCK)
    _save(admin_ui)
    cards = FraudList.objects.get(name="Stolen cards")
    assert cards.created_by == officer and cards.enabled
    assert page.url.endswith(f"/admin/fraud/fraudlist/{cards.pk}/change/")

    # The card goes on it, with the reason.
    page.fill("#id_entries-0-value", f"  {CARD} ")
    page.fill("#id_entries-0-reason", REASON)
    _save(admin_ui)
    assert "was changed successfully" in page.inner_text("ul.messagelist")
    entry = ListEntry.objects.get(list=cards)
    assert (entry.value, entry.reason, entry.added_by) == (CARD, REASON, officer)
    # The list's page shows the entry, who added it and why.
    row = page.locator("#entries-group tr.has_original").first
    assert row.locator("td.field-added_by").inner_text().strip() == "compliance"
    assert page.input_value("#id_entries-0-value") == CARD
    assert page.input_value("#id_entries-0-reason") == REASON
    # ...and so does the list of entries.
    admin_ui.open("/admin/fraud/listentry/")
    listed = page.locator("#result_list tbody tr").first.inner_text()
    assert CARD in listed and REASON in listed and "compliance" in listed
    audit = AuditRecord.objects.get(action="fraud.list.add", actor=officer)
    assert (audit.after, audit.reason) == ({"value": CARD}, REASON)
    admin_ui.screenshot("fraud-list-entry")

    # The money path: a withdrawal to that card is held (the default list_block rule), one to
    # another card is paid out. The admin's save dropped this process's list cache.
    player = Player.objects.get(external_id="demo-player-003")
    wallet = Wallet.objects.get(player=player, currency="EUR")
    balance = wallet.balance_minor
    held = ledger.withdraw(
        player=player,
        currency="EUR",
        amount_minor=25_00,
        external_id="e2e-list-1",
        payment_fingerprint=CARD,
    )
    paid = ledger.withdraw(
        player=player,
        currency="EUR",
        amount_minor=5_00,
        external_id="e2e-list-2",
        payment_fingerprint="card:someone-else",
    )
    assert (held.transaction.status, paid.transaction.status) == ("held", "posted")
    wallet.refresh_from_db()
    # The held 25.00 stays in the balance, reserved until staff decide; the 5.00 is paid out.
    assert (wallet.balance_minor, wallet.reserved_minor) == (balance - 5_00, 25_00)
    case = Case.objects.get(transaction=held.transaction)
    assert (case.kind, case.status, case.rule_keys) == (
        CaseKind.HOLD,
        "open",
        [RuleKind.LIST_BLOCK],
    )
    assert not Case.objects.filter(transaction=paid.transaction).exists()
    hit = RuleHit.objects.get(case=case)
    assert hit.figures["on_lists"] == [
        {"kind": "payment_fingerprint", "value": CARD, "list": "Stolen cards"}
    ]

    # Back office finds the hold in the queue, filtered by the rule, and opens the case.
    page = admin_ui.login("backoffice")
    admin_ui.open(f"/admin/fraud/case/?rule={RuleKind.LIST_BLOCK}")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "25.00 EUR" in rows.first.inner_text() and "list_block" in rows.first.inner_text()
    admin_ui.open(f"/admin/fraud/case/{case.pk}/change/")
    assert page.get_attribute("#case-page", "data-status") == "open"
    assert page.inner_text("#case-amount") == "25.00 EUR"
    assert CARD in page.inner_text("#case-head + p")  # the held withdrawal's fingerprint
    hits = page.inner_text("#case-hits")
    assert "list_block" in hits and CARD in hits and "Stolen cards" in hits
    admin_ui.screenshot("fraud-list-hold-case")


def test_only_the_list_keepers_change_lists_and_a_bad_range_saves_nothing(admin_ui):
    officer = get_user_model().objects.get(username="compliance")
    ranges = FraudList.objects.create(
        name="Proxy ranges", kind=ListKind.IP, purpose=ListPurpose.BLOCK, created_by=officer
    )
    url = f"/admin/fraud/fraudlist/{ranges.pk}/change/"

    # Back office reads the lists but has no control to change them.
    page = admin_ui.login("backoffice")
    admin_ui.open(url)
    assert page.locator("#entries-group").count() == 1  # the entries are shown...
    assert page.locator("#id_entries-0-value").count() == 0  # ...without an input
    assert page.locator("#entries-group .add-row").count() == 0
    assert page.locator("input[name=_save], input[name=_continue]").count() == 0
    # A POST made by hand (the form as compliance would send it) is refused, nothing saved.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(
        admin_ui.base_url + url,
        form={
            "csrfmiddlewaretoken": csrf,
            "name": ranges.name,
            "purpose": ranges.purpose,
            "enabled": "on",
            "entries-TOTAL_FORMS": "1",
            "entries-INITIAL_FORMS": "0",
            "entries-MIN_NUM_FORMS": "0",
            "entries-MAX_NUM_FORMS": "1000",
            "entries-0-value": "203.0.113.0/24",
            "entries-0-reason": "sneaked in",
            "_save": "Save",
        },
        headers={"Referer": admin_ui.base_url + url},
    )
    assert forged.status == 403
    assert not ListEntry.objects.exists()
    # Support does not see the lists at all.
    page = admin_ui.login("support")
    response = page.goto(admin_ui.base_url + url)
    assert response.status == 403
    assert page.goto(admin_ui.base_url + "/admin/fraud/fraudlist/").status == 403

    # Compliance: a range with host bits set is refused on the form, saying how to write it.
    page = admin_ui.login("compliance")
    admin_ui.open(url)
    page.fill("#id_entries-0-value", "203.0.113.7/24")
    page.fill("#id_entries-0-reason", "Anonymising proxy provider")
    admin_ui.follow("input[name=_continue]")
    errors = page.inner_text("#entries-group .errorlist")
    assert "host bits set" in errors and "203.0.113.0/24" in errors
    assert "Please correct the error" in page.inner_text("#content")
    # Not an address at all, and an entry without a reason: each said, nothing saved.
    page.fill("#id_entries-0-value", "not-an-address")
    admin_ui.follow("input[name=_continue]")
    assert "is not an IP address or CIDR range" in page.inner_text("#entries-group .errorlist")
    page.fill("#id_entries-0-value", "203.0.113.0/24")
    page.fill("#id_entries-0-reason", "")
    admin_ui.follow("input[name=_continue]")
    assert page.locator("#entries-group .errorlist").count() >= 1
    assert not ListEntry.objects.exists()
    assert not AuditRecord.objects.filter(action="fraud.list.add").exists()
    admin_ui.screenshot("fraud-list-bad-range")

    # Corrected, it is saved in its normal form.
    page.fill("#id_entries-0-value", "203.0.113.0/24")
    page.fill("#id_entries-0-reason", "Anonymising proxy provider")
    admin_ui.follow("input[name=_continue]")
    assert "was changed successfully" in page.inner_text("ul.messagelist")
    assert list(ListEntry.objects.values_list("value", "added_by__username")) == [
        ("203.0.113.0/24", "compliance")
    ]
    assert not Transaction.objects.filter(status="held").exists()
