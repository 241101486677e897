"""Backtests replay a rule version over the ledger: planted fraud patterns are found with their
exact counts and amounts, the outcome labels of decided cases give precision and recall, and a
backtest writes nothing but its own report."""

import pytest

from fraud import backtest as runner
from fraud import selectors, services
from fraud.choices import BacktestStatus, RuleKind
from fraud.models import Backtest, Case, FraudRule, RuleHit
from tests import factories
from tests.fraud.conftest import make_player
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db

DECIDE = {"reason_code": "other", "note": "reviewed"}


def live(key):
    return services.live_version(FraudRule.objects.get(key=key))


def run(version, days=1):
    return services.request_backtest(version_id=version.pk, days=days, actor=None, run_now=True)


@pytest.fixture
def planted(money, staff, provider):
    """A ledger with known patterns among ordinary play (every default rule live):

    - rapid deposits: 2 players with 3 deposits of 15.00 then a withdrawal of 150.00 (held
      live); near misses: 2 small deposits then 150.00, and 3 small deposits then 50.00;
    - withdrawal velocity: one player with 7 withdrawals of 1.00 (the 6th and 7th held live);
    - bonus farming: 2 players with 3 deposits of 5.00 (one of them also deposits 100.00);
    - many accounts: 5 players registered from 198.51.100.77; the others from their own IPs;
    - a high stake after login: 20 bets of 5.00 then 300.00 within a minute of authentication
      (booked while the rule was off), and a player staking 300.00 as usual (no hit).
    One rapid-deposit case is rejected (confirmed fraud), the other approved (false positive).
    """
    officer = staff("back_office")
    rapid = []
    for _ in range(2):
        player = make_player(200_00, money=money)
        for _ in range(3):
            money.deposit(player, 15_00)
        money.withdraw(player, 150_00)
        rapid.append(player)
    near_a = make_player(money=money)
    money.deposit(near_a, 200_00)
    for _ in range(2):
        money.deposit(near_a, 15_00)
    money.withdraw(near_a, 150_00)
    near_b = make_player(money=money)
    for _ in range(3):
        money.deposit(near_b, 20_00)
    money.withdraw(near_b, 50_00)

    fast = make_player(100_00, money=money)
    for _ in range(7):
        money.withdraw(fast, 1_00)

    farmers = []
    for index in range(2):
        player = make_player(money=money)
        if index:
            money.deposit(player, 100_00)
        for _ in range(3):
            money.deposit(player, 5_00)
        farmers.append(player)

    shared = [make_player(ip="198.51.100.77", money=money) for _ in range(5)]

    services.update_rule(
        rule=FraudRule.objects.get(key=RuleKind.HIGH_STAKE_AFTER_LOGIN),
        actor=officer,
        enabled=False,
    )
    taker = make_player(1000_00, money=money)
    session = money.authenticated_session(taker, provider)
    for _ in range(20):
        money.bet(session, 5_00)
    money.bet(session, 300_00)
    whale = make_player(10_000_00, money=money)
    session = money.authenticated_session(whale, provider)
    for _ in range(21):
        money.bet(session, 300_00)
    services.update_rule(
        rule=FraudRule.objects.get(key=RuleKind.HIGH_STAKE_AFTER_LOGIN), actor=officer, enabled=True
    )

    confirmed = Case.objects.get(transaction__player=rapid[0], transaction__kind="withdrawal")
    services.reject_case(case_id=confirmed.pk, actor=officer, **DECIDE)
    cleared = Case.objects.get(transaction__player=rapid[1], transaction__kind="withdrawal")
    services.approve_case(case_id=cleared.pk, actor=officer, **DECIDE)
    return {
        "rapid": rapid,
        "fast": fast,
        "farmers": farmers,
        "shared": shared,
        "taker": taker,
        "whale": whale,
    }


def test_the_default_rules_find_the_planted_patterns_with_exact_counts(planted):
    result = run(live(RuleKind.RAPID_DEPOSITS_WITHDRAWAL)).result
    assert (result["hits"], result["players_affected"]) == (2, 2)
    assert result["would_hold"] == [
        {"currency": "EUR", "amount_minor": 300_00, "amount": "300.00 EUR"}
    ]
    assert (result["confirmed_fraud_hits"], result["false_positive_hits"]) == (1, 1)
    assert (result["precision"], result["recall"]) == (0.5, 1.0)

    result = run(live(RuleKind.WITHDRAWAL_VELOCITY)).result
    assert (result["hits"], result["players_affected"]) == (2, 1)
    assert result["would_hold"][0]["amount_minor"] == 2_00
    assert result["top_players"] == [planted["fast"].pk]

    result = run(live(RuleKind.BONUS_FARMING)).result
    assert (result["hits"], result["players_affected"]) == (2, 2)
    assert sorted(result["top_players"]) == sorted(p.pk for p in planted["farmers"])

    result = run(live(RuleKind.MULTI_ACCOUNT_IP)).result
    assert (result["hits"], result["players_affected"]) == (5, 5)
    assert sorted(result["top_players"]) == sorted(p.pk for p in planted["shared"])

    result = run(live(RuleKind.HIGH_STAKE_AFTER_LOGIN)).result
    assert (result["hits"], result["players_affected"]) == (1, 1)
    assert result["would_decline"] == [
        {"currency": "EUR", "amount_minor": 300_00, "amount": "300.00 EUR"}
    ]
    assert result["top_players"] == [planted["taker"].pk]


def test_a_draft_is_backtested_on_its_own_parameters(planted):
    rule = FraudRule.objects.get(key=RuleKind.RAPID_DEPOSITS_WITHDRAWAL)
    # Two small deposits are enough for this draft: the first near miss is found too.
    draft = services.create_draft(rule=rule, actor=None, parameters={"min_small_deposits": 2})
    assert run(draft).result["hits"] == 3
    looser = services.create_draft(
        rule=FraudRule.objects.get(key=RuleKind.WITHDRAWAL_VELOCITY),
        actor=None,
        parameters={"max_withdrawals": 3},
        action="flag",
    )
    result = run(looser).result
    assert result["hits"] == 4 and result["would_hold"] == []
    assert result["would_flag"][0]["amount_minor"] == 4_00


def test_a_backtest_changes_nothing_but_its_report(planted):
    def snapshot():
        return (
            list(Wallet.objects.order_by("pk").values_list("balance_minor", "reserved_minor")),
            list(Transaction.objects.order_by("pk").values_list("status", flat=True)),
            Case.objects.count(),
            RuleHit.objects.count(),
        )

    before = snapshot()
    backtest = run(live(RuleKind.WITHDRAWAL_VELOCITY), days=30)
    assert backtest.status == BacktestStatus.DONE and backtest.progress == 100
    assert snapshot() == before


def test_the_labels_come_from_decided_cases(planted):
    backtest = run(live(RuleKind.RAPID_DEPOSITS_WITHDRAWAL))
    labels = selectors.case_labels(since=backtest.window_start, until=backtest.window_end)
    assert labels[planted["rapid"][0].pk] == "confirmed_fraud"
    assert labels[planted["rapid"][1].pk] == "false_positive"
    assert selectors.confirmed_fraud_subjects(
        since=backtest.window_start, until=backtest.window_end
    ) == {planted["rapid"][0].pk}


def test_a_window_without_the_patterns_finds_nothing(planted):
    from datetime import timedelta

    from django.utils import timezone

    version = live(RuleKind.RAPID_DEPOSITS_WITHDRAWAL)
    backtest = Backtest.objects.create(version=version, days=1)
    done = runner.run_backtest(backtest_id=backtest.pk, now=timezone.now() - timedelta(days=2))
    assert done.result["hits"] == 0 and done.result["precision"] is None


def test_bad_days_are_refused():
    from wallets.errors import ValidationFailed

    version = live(RuleKind.WITHDRAWAL_VELOCITY)
    for days in (0, 366, "7", True):
        with pytest.raises(ValidationFailed) as error:
            services.request_backtest(
                version_id=version.pk, days=days, actor=factories.UserFactory()
            )
        assert error.value.field == "days"
    assert not Backtest.objects.exists()
