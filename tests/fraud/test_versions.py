"""Rule versions: drafts, exactly one live version (the database refuses a second), publishing
audited with the diff, history restorable, and the screener deciding by the live version only."""

import pytest
from django.db import IntegrityError, transaction

from fraud import screening, services
from fraud.choices import CaseKind, RuleKind, VersionState
from fraud.models import Case, FraudRule, RuleVersion
from tests import factories
from wallets.errors import NotAllowed, ValidationFailed
from wallets.models import AuditRecord, Transaction

pytestmark = pytest.mark.django_db


def velocity_rule():
    return FraudRule.objects.get(key=RuleKind.WITHDRAWAL_VELOCITY)


def test_every_seeded_rule_has_exactly_one_live_version_matching_its_settings():
    for rule in FraudRule.objects.all():
        live = RuleVersion.objects.get(rule=rule, state=VersionState.LIVE)
        assert (live.action, live.parameters) == (rule.action, rule.parameters)


def test_the_database_refuses_a_second_live_or_shadow_version():
    rule = velocity_rule()
    draft = services.create_draft(rule=rule, actor=None, parameters={"max_withdrawals": 2})
    with pytest.raises(IntegrityError), transaction.atomic():
        RuleVersion.objects.filter(pk=draft.pk).update(state=VersionState.LIVE)
    other = services.create_draft(rule=rule, actor=None)
    RuleVersion.objects.filter(pk=draft.pk).update(state=VersionState.SHADOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        RuleVersion.objects.filter(pk=other.pk).update(state=VersionState.SHADOW)


def test_publishing_a_draft_supersedes_the_live_one_and_audits_the_diff(staff):
    officer = staff("compliance")
    rule = velocity_rule()
    before = services.live_version(rule)
    draft = services.create_draft(
        rule=rule, actor=officer, note="tighter", parameters={"max_withdrawals": 2}
    )
    assert draft.number == 2 and draft.state == VersionState.DRAFT
    # A draft changes nothing yet.
    rule.refresh_from_db()
    assert rule.parameters["max_withdrawals"] == 5

    published = services.publish_version(version_id=draft.pk, actor=officer, reason="too many")
    rule.refresh_from_db()
    before.refresh_from_db()
    assert published.state == VersionState.LIVE
    assert published.published_by == officer and published.published_at is not None
    assert before.state == VersionState.SUPERSEDED
    assert rule.parameters == {"max_withdrawals": 2, "window_seconds": 3600}
    record = AuditRecord.objects.get(action="fraud.rule.publish")
    assert record.actor == officer and record.reason == "too many"
    assert record.before == {"version": 1, "parameters.max_withdrawals": 5}
    assert record.after == {"version": 2, "parameters.max_withdrawals": 2}


def test_the_audit_diff_names_a_changed_action(staff):
    rule = velocity_rule()
    draft = services.create_draft(rule=rule, actor=None, action="flag")
    services.publish_version(version_id=draft.pk, actor=staff("compliance"))
    record = AuditRecord.objects.get(action="fraud.rule.publish")
    assert record.before == {"version": 1, "action": "hold"}
    assert record.after == {"version": 2, "action": "flag"}


def test_live_and_past_versions_never_change_and_are_not_published_twice(staff):
    officer = staff("compliance")
    rule = velocity_rule()
    live = services.live_version(rule)
    with pytest.raises(NotAllowed):
        services.update_draft(version_id=live.pk, actor=officer, parameters={})
    with pytest.raises(NotAllowed):
        services.publish_version(version_id=live.pk, actor=officer)


def test_a_bad_draft_is_refused_with_the_field_and_saves_nothing():
    rule = velocity_rule()
    with pytest.raises(ValidationFailed) as error:
        services.create_draft(rule=rule, actor=None, parameters={"max_withdrawals": "many"})
    assert error.value.field == "parameters"
    with pytest.raises(ValidationFailed):
        services.create_draft(rule=rule, actor=None, parameters={"nonsense": 1})
    assert RuleVersion.objects.filter(rule=rule).count() == 1


def test_any_past_version_is_restored_as_a_new_draft(staff):
    officer = staff("compliance")
    rule = velocity_rule()
    first = services.live_version(rule)
    second = services.create_draft(rule=rule, actor=officer, parameters={"max_withdrawals": 2})
    services.publish_version(version_id=second.pk, actor=officer)
    restored = services.restore_version(version_id=first.pk, actor=officer)
    assert restored.state == VersionState.DRAFT and restored.number == 3
    assert restored.parameters == first.parameters and restored.restored_from == first
    services.publish_version(version_id=restored.pk, actor=officer)
    rule.refresh_from_db()
    assert rule.parameters["max_withdrawals"] == 5


def test_the_screener_decides_by_the_live_version_only(money, new_player, staff):
    officer = staff("compliance")
    rule = velocity_rule()
    player = new_player(500_00)
    draft = services.create_draft(
        rule=rule, actor=officer, parameters={"max_withdrawals": 1, "window_seconds": 3600}
    )
    screening.active_rules()  # the cache is warm: publishing must refresh it
    money.withdraw(player, 1_00)
    money.withdraw(player, 1_00)  # the draft would hold this one; the live rule does not
    assert not Transaction.objects.filter(player=player, status="held").exists()
    services.publish_version(version_id=draft.pk, actor=officer)
    money.withdraw(player, 1_00)
    held = Transaction.objects.get(player=player, status="held")
    case = Case.objects.get(transaction=held)
    assert case.kind == CaseKind.HOLD and case.rule_keys == [RuleKind.WITHDRAWAL_VELOCITY]


def test_a_disabled_rule_decides_nothing_whatever_its_live_version(money, new_player, staff):
    from tests.fraud.conftest import publish_rule

    publish_rule(RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 1})
    services.update_rule(rule=velocity_rule(), actor=staff("compliance"), enabled=False)
    player = new_player(500_00)
    for _ in range(3):
        money.withdraw(player, 1_00)
    assert not Transaction.objects.filter(player=player, status="held").exists()


def test_version_numbers_are_per_rule():
    a = services.create_draft(rule=velocity_rule(), actor=None)
    b = services.create_draft(
        rule=FraudRule.objects.get(key=RuleKind.BONUS_FARMING), actor=factories.UserFactory()
    )
    assert (a.number, b.number) == (2, 2)
