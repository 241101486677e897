"""Shadow versions: evaluated in the same money-path call as the live rules, their decisions
recorded, and never acting: no balance, hold, case, hit or risk changes because of them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fraud import screening, selectors, services
from fraud.choices import RuleKind, VersionState
from fraud.models import Case, FraudRule, PlayerRisk, RuleHit, ShadowDecision
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db


def state_of(player):
    wallet = Wallet.objects.get(player=player, currency="EUR")
    return {
        "balance": wallet.balance_minor,
        "reserved": wallet.reserved_minor,
        "statuses": sorted(
            Transaction.objects.filter(player=player).values_list("status", flat=True)
        ),
        "cases": Case.objects.filter(player=player).count(),
        "hits": RuleHit.objects.filter(player=player).count(),
        "risk": PlayerRisk.objects.filter(player=player).values_list("score", flat=True).first(),
    }


def shadow_of(key, actor, **fields):
    rule = FraudRule.objects.get(key=key)
    draft = services.create_draft(rule=rule, actor=actor, **fields)
    return services.start_shadow(version_id=draft.pk, actor=actor, reason="try it")


def play(money, player, provider):
    """Withdrawals past every velocity limit a shadow may try, and bets."""
    for _ in range(4):
        money.withdraw(player, 2_00)
    session = money.authenticated_session(player, provider)
    for _ in range(3):
        money.bet(session, 3_00)


def test_a_stricter_shadow_records_holds_and_changes_nothing(money, new_player, staff, provider):
    officer = staff("compliance")
    baseline_player = new_player(100_00)
    play(money, baseline_player, provider)
    without_shadow = state_of(baseline_player)

    version = shadow_of(
        RuleKind.WITHDRAWAL_VELOCITY,
        officer,
        parameters={"max_withdrawals": 1, "window_seconds": 3600},
        action="hold",
    )
    player = new_player(100_00)
    play(money, player, provider)
    screening.shadow_recorder.flush()

    # The same calls end exactly as without the shadow: no hold, no case, no hit, no risk.
    assert state_of(player) == without_shadow
    assert not Transaction.objects.filter(player=player, status="held").exists()
    decisions = list(
        ShadowDecision.objects.filter(player_id=player.pk)
        .order_by("id")
        .values_list("request_kind", "live_action", "shadow_action")
    )
    # Four withdrawals screened: the shadow would have held the 2nd, 3rd and 4th.
    assert decisions == [
        ("withdrawal", "allow", "allow"),
        ("withdrawal", "allow", "hold"),
        ("withdrawal", "allow", "hold"),
        ("withdrawal", "allow", "hold"),
    ]
    assert all(d.version_id == version.pk for d in ShadowDecision.objects.all())


def test_a_shadow_of_the_high_stake_rule_never_declines_a_bet(money, new_player, staff, provider):
    officer = staff("compliance")
    shadow_of(
        RuleKind.HIGH_STAKE_AFTER_LOGIN,
        officer,
        parameters={"min_stake_minor": 1_00, "stake_multiple": 2, "min_history_bets": 3},
    )
    player = new_player(500_00)
    session = money.authenticated_session(player, provider)
    for _ in range(3):
        money.bet(session, 1_00)
    money.bet(session, 50_00)  # the shadow would decline it; it is booked
    screening.shadow_recorder.flush()
    wallet = Wallet.objects.get(player=player, currency="EUR")
    assert wallet.balance_minor == 500_00 - 53_00 and wallet.reserved_minor == 0
    assert not Case.objects.filter(player=player).exists()
    last = ShadowDecision.objects.filter(player_id=player.pk).latest("id")
    assert (last.live_action, last.shadow_action, last.amount_minor) == ("allow", "decline", 50_00)


def test_a_shadow_looser_than_live_records_that_live_held(money, new_player, staff):
    from tests.fraud.conftest import publish_rule

    officer = staff("compliance")
    publish_rule(RuleKind.WITHDRAWAL_VELOCITY, parameters={"max_withdrawals": 1})
    shadow_of(RuleKind.WITHDRAWAL_VELOCITY, officer, parameters={"max_withdrawals": 10})
    player = new_player(100_00)
    money.withdraw(player, 1_00)
    money.withdraw(player, 1_00)
    screening.shadow_recorder.flush()
    assert Transaction.objects.filter(player=player, status="held").count() == 1
    assert list(
        ShadowDecision.objects.filter(player_id=player.pk)
        .order_by("id")
        .values_list("live_action", "shadow_action")
    ) == [("allow", "allow"), ("hold", "allow")]


def test_the_comparison_counts_agreement_over_a_window(money, new_player, staff):
    officer = staff("compliance")
    version = shadow_of(RuleKind.WITHDRAWAL_VELOCITY, officer, parameters={"max_withdrawals": 2})
    player = new_player(100_00)
    for _ in range(4):
        money.withdraw(player, 1_00)
    screening.shadow_recorder.flush()
    now = timezone.now()
    result = selectors.shadow_comparison(
        version_id=version.pk, since=now - timedelta(hours=1), until=now + timedelta(seconds=1)
    )
    assert (result["calls"], result["agree"], result["disagree"]) == (4, 2, 2)
    assert (result["live_hits"], result["shadow_hits"], result["only_shadow"]) == (0, 2, 2)
    earlier = selectors.shadow_comparison(
        version_id=version.pk, since=now - timedelta(hours=2), until=now - timedelta(hours=1)
    )
    assert earlier["calls"] == 0


def test_stopping_and_publishing_a_shadow(money, new_player, staff):
    officer = staff("compliance")
    version = shadow_of(RuleKind.WITHDRAWAL_VELOCITY, officer, parameters={"max_withdrawals": 1})
    services.stop_shadow(version_id=version.pk, actor=officer)
    version.refresh_from_db()
    assert version.state == VersionState.DRAFT
    player = new_player(100_00)
    money.withdraw(player, 1_00)
    screening.shadow_recorder.flush()
    assert not ShadowDecision.objects.exists()
    services.start_shadow(version_id=version.pk, actor=officer)
    services.publish_version(version_id=version.pk, actor=officer)
    version.refresh_from_db()
    assert version.state == VersionState.LIVE and version.shadow_since is None
    money.withdraw(player, 1_00)
    assert Transaction.objects.filter(player=player, status="held").count() == 1


def test_a_failing_shadow_never_fails_the_call(money, new_player, staff, monkeypatch):
    officer = staff("compliance")
    shadow_of(RuleKind.WITHDRAWAL_VELOCITY, officer, parameters={"max_withdrawals": 1})

    def broken(*args, **kwargs):
        raise RuntimeError("shadow bug")

    monkeypatch.setattr("fraud.rules.evaluate_shadows", broken)
    player = new_player(100_00)
    money.withdraw(player, 1_00)
    money.withdraw(player, 1_00)
    assert (
        Transaction.objects.filter(player=player, kind="withdrawal", status="posted").count() == 2
    )
