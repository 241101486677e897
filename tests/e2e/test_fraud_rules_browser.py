"""Compliance in a real browser: a draft of a fraud rule is made from the live version,
backtested (its report read on the backtest page) and published; the rule then decides by it."""

import pytest

from fraud import backtest as runner
from fraud import tasks
from fraud.choices import RuleKind
from fraud.models import Backtest, FraudRule, RuleVersion
from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db(transaction=True)


def test_compliance_drafts_backtests_and_publishes_a_rule(admin_ui, monkeypatch):
    # No Celery worker here: the queued job runs as the worker would, in the server's thread.
    monkeypatch.setattr(
        tasks.run_backtest,
        "delay",
        lambda backtest_id: runner.run_backtest(backtest_id=backtest_id),
    )
    rule = FraudRule.objects.get(key=RuleKind.WITHDRAWAL_VELOCITY)
    page = admin_ui.login("compliance")
    admin_ui.open(f"/admin/fraud/fraudrule/{rule.pk}/change/")
    admin_ui.follow("text=New draft from the live version")
    page.fill("#id_parameters", '{"max_withdrawals": 3, "window_seconds": 3600}')
    page.fill("#id_note", "Tighter after the card-testing wave")
    admin_ui.follow("input[name=_save]")
    draft = RuleVersion.objects.get(rule=rule, state="draft")

    admin_ui.open(f"/admin/fraud/ruleversion/{draft.pk}/change/")
    assert "parameters.max_withdrawals" in page.inner_text("#content")  # the diff against live
    admin_ui.follow("text=Run a backtest")
    page.fill("#id_days", "30")
    admin_ui.follow("input[type=submit][value='Run the backtest']")
    page.wait_for_selector("#backtest-report")
    report = page.inner_text("#backtest-report")
    assert "players affected" in report and "precision" in report
    assert Backtest.objects.get(version=draft).status == "done"
    admin_ui.screenshot("fraud-backtest-report")

    admin_ui.run_action("/admin/fraud/ruleversion/", [draft.pk], "publish_versions")
    page.fill("#id_reason", "Backtest clean; publishing")
    assert "done for 1" in admin_ui.confirm()
    draft.refresh_from_db()
    rule.refresh_from_db()
    assert draft.state == "live" and rule.parameters["max_withdrawals"] == 3
    record = AuditRecord.objects.get(action="fraud.rule.publish", actor__username="compliance")
    assert record.after["parameters.max_withdrawals"] == 3
