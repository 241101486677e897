"""Shadow vs live in a real browser: compliance drafts a stricter withdrawal-velocity version
from the live one and starts it in shadow (both in the admin); a player then makes seven
withdrawals (production's hooks), on which the live version (5 an hour) and the shadow (2 an
hour) decide differently. The "Shadow vs live" page shows the counts and exactly the calls on
which they differed, in the window asked for; the player's money is what the live version
alone decided."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fraud import screening, services
from fraud.choices import RuleKind, VersionState
from fraud.models import Case, FraudRule, RuleVersion, ShadowDecision
from wallets import ledger
from wallets.models import Player, Transaction, Wallet

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VELOCITY = RuleKind.WITHDRAWAL_VELOCITY


def _summary(page) -> dict[str, str]:
    rows = page.locator("#shadow-summary tr")
    return {
        rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").inner_text()
        for i in range(rows.count())
    }


def _disagreements(page) -> list[list[str]]:
    rows = page.locator("#shadow-disagreements tr[data-decision]")
    return [
        [cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]


def test_compliance_reads_where_a_shadow_disagrees_and_it_moved_no_money(
    admin_ui, production_hooks, monkeypatch
):
    # The shadow decisions are written by the explicit flush below, not by the writer thread.
    monkeypatch.setattr(screening.shadow_recorder, "threaded", False)
    rule = FraudRule.objects.get(key=VELOCITY)
    live = services.live_version(rule)
    assert live.parameters["max_withdrawals"] == 5

    page = admin_ui.login("compliance")
    admin_ui.open(f"/admin/fraud/fraudrule/{rule.pk}/change/")
    admin_ui.follow("text=New draft from the live version")
    page.fill("#id_parameters", '{"max_withdrawals": 2, "window_seconds": 3600}')
    page.fill("#id_note", "Card testing: try two an hour")
    admin_ui.follow("input[name=_save]")
    draft = RuleVersion.objects.get(rule=rule, state=VersionState.DRAFT)
    admin_ui.run_action("/admin/fraud/ruleversion/", [draft.pk], "start_shadow")
    page.fill("#id_reason", "Compare with live for a day")
    assert "done for 1" in admin_ui.confirm()
    draft.refresh_from_db()
    assert draft.state == VersionState.SHADOW
    admin_ui.open("/admin/fraud/fraudrule/")
    row = page.locator(f"#result_list tr:has(a[href$='/fraudrule/{rule.pk}/change/'])")
    assert row.locator("td.field-shadow_version").inner_text() == f"v{draft.number}"
    assert row.locator("td.field-live_version").inner_text() == f"v{live.number}"

    # An earlier disagreement, two days old: outside the page's default 24 hours.
    player = Player.objects.get(external_id="demo-player-003")
    wallet = Wallet.objects.get(player=player, currency="EUR")
    ShadowDecision.objects.create(
        version=draft,
        rule_key=VELOCITY,
        request_kind="withdrawal",
        player_id=player.pk,
        wallet_id=wallet.pk,
        currency="EUR",
        amount_minor=99_00,
        live_action="allow",
        live_version=live,
        shadow_action="hold",
        created_at=timezone.now() - timedelta(days=2),
    )

    # Seven withdrawals of 1.00 within the hour: live holds the 6th and 7th; the shadow would
    # have held the 3rd to the 7th.
    balance = wallet.balance_minor
    screening.invalidate_rule_cache()
    statuses = [
        ledger.withdraw(
            player=player, currency="EUR", amount_minor=1_00, external_id=f"e2e-shadow-{n}"
        ).transaction.status
        for n in range(1, 8)
    ]
    assert statuses == ["posted"] * 5 + ["held"] * 2
    assert screening.shadow_recorder.flush() == 7
    recorded = list(
        ShadowDecision.objects.filter(player_id=player.pk, amount_minor=1_00)
        .order_by("id")
        .values_list("live_action", "shadow_action", "live_version")
    )
    assert (
        recorded
        == [("allow", "allow", live.pk)] * 2
        + [("allow", "hold", live.pk)] * 3
        + [("hold", "hold", live.pk)] * 2
    )

    # Only the live version acted: 5.00 paid out, 2.00 held, two cases; nothing for the 3rd
    # to 5th withdrawals, which only the shadow would have held.
    wallet.refresh_from_db()
    assert (wallet.balance_minor, wallet.reserved_minor) == (balance - 5_00, 2_00)
    assert Transaction.objects.filter(player=player, status="held").count() == 2
    cases = Case.objects.filter(player=player)
    assert cases.count() == 2 and all(c.rule_keys == [VELOCITY] for c in cases)

    # The comparison page, from the shadow version's tools.
    admin_ui.open(f"/admin/fraud/ruleversion/{draft.pk}/change/")
    admin_ui.follow("text=Shadow vs live")
    assert _summary(page) == {
        "calls screened": "7",
        "same decision": "4",
        "different decision": "3",
        "live hits": "2",
        "shadow hits": "5",
        "hit by live only": "0",
        "hit by shadow only": "3",
    }
    by_live = page.locator("#shadow-by-live-version tr").nth(1).all_inner_texts()[0]
    assert by_live.split("\t") == [f"version {live.number}", "7", "4", "3"]
    # The disagreements listed are the three calls of the window, amounts as people read them.
    listed = _disagreements(page)
    assert len(listed) == 3
    for cells in listed:
        assert cells[1:] == [
            "withdrawal",
            str(player.pk),
            "1.00 EUR",
            f"allow (version {live.number})",
            "hold",
        ]
    admin_ui.screenshot("fraud-shadow-vs-live")

    # Three days back: the two-day-old disagreement is counted and listed too.
    page.fill("#id_hours", "72")
    admin_ui.follow("input[type=submit][value=Compare]")
    assert _summary(page)["calls screened"] == "8"
    assert _summary(page)["different decision"] == "4"
    listed = _disagreements(page)
    assert len(listed) == 4 and listed[-1][3] == "99.00 EUR"

    # A window that is no number is said, and the page keeps its 24 hours.
    admin_ui.open(f"/admin/fraud/ruleversion/{draft.pk}/shadow/?hours=lots")
    assert "Enter a whole number" in page.inner_text("#content")
    assert _summary(page)["calls screened"] == "7"

    # Support has no access to the fraud rules.
    page = admin_ui.login("support")
    response = page.goto(admin_ui.base_url + f"/admin/fraud/ruleversion/{draft.pk}/shadow/")
    assert response.status == 403
