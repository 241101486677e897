"""Rule snoozes: one player exempt from one rule for a while (at most 180 days), with a reason,
audited; the real-time screener skips the rule for that player (and only that rule, only that
player) until the snooze ends by itself or is lifted; the pattern jobs skip the player."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fraud import casework, selectors, services
from fraud.choices import RuleKind
from fraud.models import Case, RuleSnooze
from tests import factories
from tests.fraud.casework_helpers import make_case
from tests.fraud.conftest import publish_rule
from wallets.errors import NotAllowed, ValidationFailed
from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db
VELOCITY = RuleKind.WITHDRAWAL_VELOCITY


@pytest.fixture
def reviewer():
    return factories.UserFactory(groups=["back_office"])


@pytest.fixture
def velocity_of_one():
    publish_rule(VELOCITY, parameters={"max_withdrawals": 1, "window_seconds": 3600})


def test_a_snooze_is_validated_and_changes_nothing_when_refused(reviewer):
    player = factories.make_player()
    case = make_case(player, rules=(VELOCITY,))
    now = timezone.now()
    refusals = [
        ({"rule_key": "bogus", "days": 5}, "rule"),
        ({"rule_key": VELOCITY, "days": 181}, "days"),
        ({"rule_key": VELOCITY, "days": 0}, "days"),
        ({"rule_key": VELOCITY}, "days"),
        ({"rule_key": VELOCITY, "days": 5, "until": now + timedelta(days=5)}, "days"),
        ({"rule_key": VELOCITY, "until": now - timedelta(minutes=1)}, "until"),
        ({"rule_key": VELOCITY, "until": now + timedelta(days=180, minutes=1)}, "until"),
        ({"rule_key": VELOCITY, "days": 5, "reason": " "}, "reason"),
        ({"rule_key": RuleKind.BONUS_FARMING, "days": 5, "case": case}, "rule"),
        ({"rule_key": VELOCITY, "days": 5, "case": make_case(factories.make_player())}, "player"),
    ]
    for kwargs, field in refusals:
        kwargs = {"reason": "known salary pattern", **kwargs}
        with pytest.raises(ValidationFailed) as error:
            casework.snooze_rule(player=player, actor=reviewer, now=now, **kwargs)
        assert error.value.field == field, kwargs
    assert not RuleSnooze.objects.exists()
    assert not AuditRecord.objects.filter(action__startswith="fraud.rule.").exists()
    # 180 days exactly is allowed.
    snooze = casework.snooze_rule(
        player=player,
        rule_key=VELOCITY,
        reason="ok",
        actor=reviewer,
        until=now + timedelta(days=180),
        now=now,
    )
    assert snooze.until == now + timedelta(days=180)


def test_the_screener_skips_a_snoozed_rule_for_that_player_only(
    money, new_player, reviewer, velocity_of_one
):
    snoozed, other = new_player(500_00), new_player(500_00)
    money.withdraw(snoozed, 1_00)
    held = money.withdraw(snoozed, 2_00)
    assert held.transaction.status == "held"
    case = Case.objects.get(transaction=held.transaction)
    snooze = casework.snooze_rule(
        player=snoozed,
        rule_key=VELOCITY,
        days=30,
        reason="pays suppliers daily",
        actor=reviewer,
        case=case,
    )
    assert snooze.case == case and "Snoozed withdrawal_velocity" in case.notes.get().body
    audit = AuditRecord.objects.get(action="fraud.rule.snooze")
    assert audit.after["rule"] == VELOCITY and audit.reason == "pays suppliers daily"
    assert money.withdraw(snoozed, 3_00).transaction.status == "posted"
    assert money.withdraw(snoozed, 4_00).transaction.status == "posted"
    # Another player on the same rule is still held.
    money.withdraw(other, 1_00)
    assert money.withdraw(other, 2_00).transaction.status == "held"
    # The snooze ends by itself: past `until`, the rule applies again.
    RuleSnooze.objects.filter(pk=snooze.pk).update(
        starts_at=timezone.now() - timedelta(days=31), until=timezone.now() - timedelta(seconds=1)
    )
    assert money.withdraw(snoozed, 5_00).transaction.status == "held"
    assert not selectors.active_snoozes(player_ids=[snoozed.pk]).exists()


def test_only_the_snoozed_rule_is_skipped(money, new_player, reviewer, velocity_of_one):
    """Snoozing rapid deposits leaves velocity in force for the same player."""
    player = new_player(500_00)
    casework.snooze_rule(
        player=player,
        rule_key=RuleKind.RAPID_DEPOSITS_WITHDRAWAL,
        days=7,
        reason="x",
        actor=reviewer,
    )
    money.withdraw(player, 1_00)
    assert money.withdraw(player, 2_00).transaction.status == "held"


def test_lifting_and_replacing_a_snooze(money, new_player, reviewer, velocity_of_one):
    player = new_player(500_00)
    first = casework.snooze_rule(
        player=player, rule_key=VELOCITY, days=10, reason="first", actor=reviewer
    )
    second = casework.snooze_rule(
        player=player, rule_key=VELOCITY, days=20, reason="longer", actor=reviewer
    )
    first.refresh_from_db()
    assert first.lifted_at is not None and first.lift_reason == "replaced by a new snooze"
    assert list(selectors.active_snoozes(player_ids=[player.pk])) == [second]
    casework.lift_snooze(snooze_id=second.pk, actor=reviewer, reason="chargeback arrived")
    with pytest.raises(NotAllowed):
        casework.lift_snooze(snooze_id=second.pk, actor=reviewer, reason="again")
    with pytest.raises(ValidationFailed):
        casework.lift_snooze(snooze_id=first.pk, actor=reviewer, reason=" ")
    money.withdraw(player, 1_00)
    assert money.withdraw(player, 2_00).transaction.status == "held"
    assert AuditRecord.objects.filter(action="fraud.rule.unsnooze").count() == 1
    assert AuditRecord.objects.filter(action="fraud.rule.snooze").count() == 2


def test_pattern_jobs_skip_a_player_with_the_rule_snoozed(reviewer):
    players = [factories.make_player(registration_ip="198.51.100.7") for _ in range(5)]
    casework.snooze_rule(
        player=players[0],
        rule_key=RuleKind.MULTI_ACCOUNT_IP,
        days=90,
        reason="family household, verified",
        actor=reviewer,
    )
    assert services.scan_multi_account_ips() == 4
    flagged = set(Case.objects.values_list("player_id", flat=True))
    assert flagged == {player.pk for player in players[1:]}
