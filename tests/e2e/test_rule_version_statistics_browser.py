"""Rule statistics per version in a real browser: withdrawals are held by version 1 of the
velocity rule, then by version 2 after it is published (production's hooks: the screener really
holds and records the deciding version), some cases are decided with outcome labels, and a
back-office user opens the rule statistics, goes to the rule's versions and switches between
version 1 and version 2, reading each one's own figures."""

import pytest
from django.contrib.auth import get_user_model

from fraud import screening, services
from fraud.choices import RuleKind
from fraud.models import Case, FraudRule, RuleHit
from wallets import ledger
from wallets.models import Player

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VELOCITY = RuleKind.WITHDRAWAL_VELOCITY


def _withdraw(player, count, prefix):
    for n in range(count):
        ledger.withdraw(
            player=player, currency="EUR", amount_minor=1_00, external_id=f"{prefix}-{n}"
        )


def _decide(case, reviewer, *, approve):
    if approve:
        services.approve_case(
            case_id=case.pk,
            actor=reviewer,
            reason_code="verified_player",
            note="checked",
            outcome="false_positive",
        )
    else:
        services.reject_case(
            case_id=case.pk,
            actor=reviewer,
            reason_code="stolen_payment",
            note="checked",
            outcome="confirmed_fraud",
        )


def test_back_office_compares_two_versions_of_a_rule(admin_ui, production_hooks):
    rule = FraudRule.objects.get(key=VELOCITY)
    v1 = services.live_version(rule)
    officer = get_user_model().objects.get(username="compliance")
    reviewer = get_user_model().objects.get(username="backoffice")
    player = Player.objects.get(external_id="demo-player-002")
    screening.invalidate_rule_cache()

    # Version 1 (5 an hour): the 6th and 7th withdrawals are held.
    _withdraw(player, 7, "e2e-v1")
    first = list(Case.objects.filter(player=player, rule_keys=[VELOCITY]).order_by("id"))
    assert len(first) == 2
    _decide(first[0], reviewer, approve=True)
    _decide(first[1], reviewer, approve=False)

    # Version 2 (2 an hour), published: the next three are held by it.
    draft = services.create_draft(rule=rule, actor=officer, parameters={"max_withdrawals": 2})
    v2 = services.publish_version(version_id=draft.pk, actor=officer, reason="card testing")
    screening.invalidate_rule_cache()
    _withdraw(player, 3, "e2e-v2")
    second = list(
        Case.objects.filter(player=player, rule_keys=[VELOCITY]).exclude(
            pk__in=[c.pk for c in first]
        )
    )
    assert len(second) == 3
    for case in second[:2]:
        _decide(case, reviewer, approve=True)
    hits = dict(
        RuleHit.objects.filter(rule_key=VELOCITY, player=player).values_list("case_id", "version")
    )
    assert {hits[c.pk] for c in first} == {v1.pk} and {hits[c.pk] for c in second} == {v2.pk}

    page = admin_ui.login("backoffice")
    admin_ui.open("/admin/fraud/case/rule-statistics/")
    admin_ui.follow(f"tr[data-rule={VELOCITY}] >> text=per version")
    assert page.locator("#version-stats tbody tr").count() == 2
    assert page.locator(".version-chart").count() == 2
    admin_ui.screenshot("rule-statistics-per-version")

    with page.expect_navigation():
        page.select_option("#id_version", "1")
    rows = page.locator("#version-stats tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-version") == "1"
    assert rows.first.locator("td.hits").inner_text() == "2"
    assert rows.first.locator("td.fp-rate").inner_text() == "50.0 %"
    assert "superseded" in rows.first.inner_text()

    with page.expect_navigation():
        page.select_option("#id_version", "2")
    rows = page.locator("#version-stats tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-version") == "2"
    assert rows.first.locator("td.hits").inner_text() == "3"
    assert rows.first.locator("td.cases").inner_text() == "3"
    assert rows.first.locator("td.fp-rate").inner_text() == "100.0 %"
    assert page.locator(".version-chart[data-version='2'] svg").count() == 1

    with page.expect_navigation():
        page.select_option("#id_version", "")
    assert page.locator("#version-stats tbody tr").count() == 2
