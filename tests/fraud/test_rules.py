"""Each seeded rule fires on the pattern it names, and stays quiet on a normal player of the
same volume. Real-time rules run through the ledger (the screener, then the after-commit
baseline update); pattern rules through their jobs."""

from datetime import timedelta

import pytest
from django.db import connection

from fraud import rules as rule_kinds
from fraud import screening, services
from fraud.choices import CaseKind, CaseStatus, RuleKind
from fraud.models import Case, FraudRule, PlayerBaseline, PlayerRisk, RuleHit
from tests import factories
from wallets.errors import BetDeclined, ValidationFailed
from wallets.models import GameSession, Transaction, Wallet

pytestmark = pytest.mark.django_db


def wallet_of(player):
    return Wallet.objects.get(player=player, currency="EUR")


def age_baseline(player, seconds):
    """Move a player's payments `seconds` into the past (as if made that long ago): the ledger
    rows the rules read, and the derived baseline shown to staff."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_transaction SET created_at = created_at - make_interval(secs => %s)"
            " WHERE player_id = %s AND kind IN ('deposit', 'withdrawal')",
            [seconds, player.pk],
        )
        cursor.execute(
            "UPDATE fraud_playerbaseline SET"
            " deposit_times = ARRAY(SELECT t - %s FROM unnest(deposit_times) t),"
            " withdrawal_times = ARRAY(SELECT t - %s FROM unnest(withdrawal_times) t)"
            " WHERE player_id = %s",
            [seconds, seconds, player.pk],
        )


# --- seeded rules ---------------------------------------------------------------------------


def test_the_migration_seeded_one_enabled_rule_per_kind_with_valid_defaults():
    rules = {rule.key: rule for rule in FraudRule.objects.all()}
    assert set(rules) == set(RuleKind.values)
    for key, rule in rules.items():
        assert rule.enabled
        assert rule_kinds.validate_parameters(key, rule.parameters) == rule.parameters
    assert rules[RuleKind.RAPID_DEPOSITS_WITHDRAWAL].action == "hold"
    assert rules[RuleKind.HIGH_STAKE_AFTER_LOGIN].action == "decline"
    assert rules[RuleKind.WITHDRAWAL_VELOCITY].action == "hold"
    assert rules[RuleKind.MULTI_ACCOUNT_IP].action == "flag"
    assert rules[RuleKind.BONUS_FARMING].action == "flag"


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"min_small_deposits": 2.5}, "whole number"),
        ({"min_small_deposits": "3"}, "whole number"),
        ({"min_small_deposits": 0}, "at least 1"),
        ({"min_small_deposits": 20}, "at most 19"),
        ({"window_seconds": True}, "whole number"),
        ({"surprise": 1}, "unknown parameters"),
        ([1, 2], "JSON object"),
    ],
)
def test_rule_parameters_are_validated_per_kind(staff, parameters, message):
    rule = FraudRule.objects.get(key=RuleKind.RAPID_DEPOSITS_WITHDRAWAL)
    with pytest.raises(ValidationFailed) as error:
        services.update_rule(rule=rule, actor=staff("compliance"), parameters=parameters)
    assert message in error.value.message
    rule.refresh_from_db()
    assert rule.parameters == rule_kinds.default_parameters(rule.key)


def test_a_rule_change_is_audited_and_completed_with_defaults(staff):
    from wallets.models import AuditRecord

    officer = staff("compliance")
    rule = FraudRule.objects.get(key=RuleKind.WITHDRAWAL_VELOCITY)
    services.update_rule(
        rule=rule, actor=officer, reason="tighter", parameters={"max_withdrawals": 2}
    )
    rule.refresh_from_db()
    assert rule.parameters == {"max_withdrawals": 2, "window_seconds": 3600}
    # A parameter change is a new version published at once; the audit keeps the diff.
    record = AuditRecord.objects.get(action="fraud.rule.publish")
    assert record.actor == officer
    assert record.reason == "tighter"
    assert record.before == {"version": 1, "parameters.max_withdrawals": 5}
    assert record.after == {"version": 2, "parameters.max_withdrawals": 2}


# --- the baseline ---------------------------------------------------------------------------


def test_the_baseline_is_updated_incrementally_with_exact_integer_figures(
    money, new_player, provider
):
    player = new_player(500_00)
    session = money.authenticated_session(player, provider)
    for stake in (10_00, 20_00, 3_01):
        money.bet(session, stake)
    baseline = PlayerBaseline.objects.get(wallet=wallet_of(player))
    # Running mean: 1000, then 1000 + (2000-1000)/2 = 1500, then 1500 + (301-1500)/3 -> 1101
    # (integer division truncates towards zero: -1199/3 = -399).
    assert baseline.bet_count == 3
    assert baseline.stake_ewma_minor == 1101
    assert baseline.deposit_amounts == [500_00]
    money.withdraw(player, 1_00)
    baseline.refresh_from_db()
    assert len(baseline.withdrawal_times) == 1


def test_the_baseline_keeps_the_latest_twenty_entries_newest_first(money, new_player):
    player = new_player()
    for amount in range(1, 26):
        money.deposit(player, amount * 100)
    baseline = PlayerBaseline.objects.get(wallet=wallet_of(player))
    assert baseline.deposit_amounts == [amount * 100 for amount in range(25, 5, -1)]
    assert len(baseline.deposit_times) == 20


def test_the_ewma_settles_on_the_typical_stake_after_the_warm_up(money, new_player, provider):
    player = new_player(1000_00)
    session = money.authenticated_session(player, provider)
    for _ in range(12):
        money.bet(session, 2_00)
    money.bet(session, 102_00)  # one outlier moves the EWMA by a tenth of the difference
    assert PlayerBaseline.objects.get(wallet=wallet_of(player)).stake_ewma_minor == 12_00


def test_screening_costs_no_query_when_no_rule_can_fire_and_one_otherwise(
    django_assert_num_queries, new_player, money, provider
):
    from wallets import hooks

    player = new_player(100_00)
    wallet_id = wallet_of(player).pk
    screening.active_rules()  # the cache is warm, as it is between refreshes
    small_bet = hooks.ScreeningRequest(
        kind="bet",
        player_id=player.pk,
        wallet_id=wallet_id,
        currency="EUR",
        amount_minor=20_00,
        seconds_since_authentication=1.0,
    )
    with django_assert_num_queries(0):
        assert screening.screen(small_bet) == hooks.ALLOW_ALL
    with django_assert_num_queries(0):
        screening.screen(
            hooks.ScreeningRequest(
                kind="deposit",
                player_id=player.pk,
                wallet_id=wallet_id,
                currency="EUR",
                amount_minor=1_00,
            )
        )
    with django_assert_num_queries(1):
        screening.screen(
            hooks.ScreeningRequest(
                kind="withdrawal",
                player_id=player.pk,
                wallet_id=wallet_id,
                currency="EUR",
                amount_minor=1_00,
            )
        )


# --- rapid small deposits, then a large withdrawal ------------------------------------------


def test_rapid_small_deposits_then_a_large_withdrawal_is_held(money, new_player):
    player = new_player(200_00)
    for _ in range(3):
        money.deposit(player, 10_00)
    result = money.withdraw(player, 150_00)
    assert result.transaction.status == "held"
    assert (result.balance_minor, result.reserved_minor) == (230_00, 150_00)
    case = Case.objects.get(transaction=result.transaction)
    assert case.kind == CaseKind.HOLD and case.status == CaseStatus.OPEN
    assert case.rule_keys == [RuleKind.RAPID_DEPOSITS_WITHDRAWAL]
    assert case.hits[0]["figures"] == {
        "small_deposits": 3,
        "small_deposits_total_minor": 30_00,
        "window_seconds": 3600,
        "withdrawal_minor": 150_00,
        "currency": "EUR",
    }
    risk = PlayerRisk.objects.get(player=player)
    assert (risk.score, risk.hit_count) == (20, 1)


@pytest.mark.parametrize(
    "scenario",
    ["bigger deposits", "fewer deposits", "small withdrawal", "deposits long ago"],
)
def test_rapid_deposits_stays_quiet_on_a_normal_player(money, new_player, scenario):
    player = new_player(200_00)
    amount, count, withdrawal = 10_00, 3, 150_00
    if scenario == "bigger deposits":
        amount = 50_00
    if scenario == "fewer deposits":
        count = 2
    if scenario == "small withdrawal":
        withdrawal = 99_99
    for _ in range(count):
        money.deposit(player, amount)
    if scenario == "deposits long ago":
        age_baseline(player, 3601)
    result = money.withdraw(player, withdrawal)
    assert result.transaction.status == "posted"
    assert not Case.objects.exists()
    assert not RuleHit.objects.exists()


# --- high-value bet right after login -------------------------------------------------------


def test_a_high_stake_right_after_login_far_above_the_typical_stake_is_declined(
    money, new_player, provider
):
    player = new_player(1000_00)
    session = money.authenticated_session(player, provider)
    for _ in range(20):
        money.bet(session, 2_00)
    fresh = money.authenticated_session(player, provider)
    before = Transaction.objects.count()
    with pytest.raises(BetDeclined) as refused:
        money.bet(fresh, 250_00)
    assert refused.value.code == "BET_DECLINED"
    assert refused.value.balance_minor == 960_00  # nothing was taken
    assert Transaction.objects.count() == before
    assert wallet_of(player).balance_minor == 960_00
    case = Case.objects.get()
    assert case.kind == CaseKind.DECLINE and case.transaction is None
    assert (case.request_kind, case.amount_minor, case.currency) == ("bet", 250_00, "EUR")
    assert case.session_id == fresh.pk and case.provider_id == provider.pk
    figures = case.hits[0]["figures"]
    assert figures["stake_minor"] == 250_00
    assert figures["typical_stake_minor"] == 2_00
    assert figures["bets_in_history"] == 20
    assert 0 <= figures["seconds_since_authentication"] < 60
    assert RuleHit.objects.get(case=case).rule_key == RuleKind.HIGH_STAKE_AFTER_LOGIN
    assert PlayerRisk.objects.get(player=player).score == 30


@pytest.mark.parametrize(
    "scenario", ["typical high roller", "no history yet", "short history", "long after login"]
)
def test_high_stake_stays_quiet_on_a_normal_player(money, new_player, provider, scenario):
    player = new_player(5000_00)
    session = money.authenticated_session(player, provider)
    history = {"no history yet": 0, "short history": 19}.get(scenario, 20)
    stake = 50_00 if scenario == "typical high roller" else 2_00
    for _ in range(history):
        money.bet(session, stake)
    fresh = money.authenticated_session(player, provider)
    if scenario == "long after login":
        GameSession.objects.filter(pk=fresh.pk).update(
            authenticated_at=fresh.authenticated_at - timedelta(minutes=5)
        )
        fresh.refresh_from_db()  # screening reads the session as the call looked it up
    result = money.bet(fresh, 250_00)
    assert result.transaction.status == "posted"
    assert not Case.objects.exists()


def test_ordinary_wallet_test_traffic_is_never_screened_out(money, new_player, provider):
    """What the other apps' tests do: deposit 100.00, authenticate, bet 1-20 at once."""
    for _ in range(3):
        player = new_player(100_00)
        session = money.authenticated_session(player, provider)
        for stake in (1_00, 5_00, 20_00, 20_00, 10_00):
            money.bet(session, stake)
        assert money.withdraw(player, 40_00).transaction.status == "posted"
    assert not Case.objects.exists()
    assert not RuleHit.objects.exists()


# --- withdrawal velocity --------------------------------------------------------------------


def test_withdrawal_velocity_holds_withdrawals_beyond_the_limit(money, new_player):
    player = new_player(100_00)
    statuses = [money.withdraw(player, 1_00).transaction.status for _ in range(7)]
    assert statuses == ["posted"] * 5 + ["held"] * 2
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (95_00, 2_00)
    cases = list(Case.objects.order_by("id"))
    assert [c.rule_keys for c in cases] == [[RuleKind.WITHDRAWAL_VELOCITY]] * 2
    assert cases[0].hits[0]["figures"]["withdrawals_in_window"] == 5
    assert cases[1].hits[0]["figures"]["withdrawals_in_window"] == 6


def test_withdrawal_velocity_stays_quiet_when_spread_over_time(money, new_player):
    player = new_player(100_00)
    for _ in range(5):
        money.withdraw(player, 1_00)
    age_baseline(player, 3601)
    statuses = [money.withdraw(player, 1_00).transaction.status for _ in range(5)]
    assert statuses == ["posted"] * 5
    assert not Case.objects.exists()


def test_a_disabled_rule_does_not_fire(money, new_player, staff):
    services.update_rule(
        rule=FraudRule.objects.get(key=RuleKind.WITHDRAWAL_VELOCITY),
        actor=staff("compliance"),
        enabled=False,
    )
    player = new_player(100_00)
    statuses = {money.withdraw(player, 1_00).transaction.status for _ in range(7)}
    assert statuses == {"posted"}


def test_a_flag_rule_lets_the_call_through_and_opens_a_case(money, new_player, staff):
    services.update_rule(
        rule=FraudRule.objects.get(key=RuleKind.WITHDRAWAL_VELOCITY),
        actor=staff("compliance"),
        action="flag",
        parameters={"max_withdrawals": 1},
    )
    player = new_player(100_00)
    first, second = (money.withdraw(player, 1_00) for _ in range(2))
    assert (first.transaction.status, second.transaction.status) == ("posted", "posted")
    case = Case.objects.get()
    assert case.kind == CaseKind.FLAG and case.transaction == second.transaction


# --- trusted and blocked players ------------------------------------------------------------


def test_trusted_players_skip_the_takeover_rules_but_not_velocity(
    money, new_player, provider, staff
):
    player = new_player(1000_00)
    services.set_player_trusted(
        player=player, trusted=True, reason="VIP, verified", actor=staff("back_office")
    )
    session = money.authenticated_session(player, provider)
    for _ in range(20):
        money.bet(session, 2_00)
    assert money.bet(money.authenticated_session(player, provider), 250_00).transaction
    for _ in range(3):
        money.deposit(player, 10_00)
    statuses = [money.withdraw(player, 100_00).transaction.status for _ in range(6)]
    assert statuses == ["posted"] * 5 + ["held"]
    assert Case.objects.get().rule_keys == [RuleKind.WITHDRAWAL_VELOCITY]


def test_a_blocked_player_is_refused_at_the_wallet(money, new_player, provider, staff, wallet_api):
    from wallets.models import AuditRecord

    player = new_player(100_00)
    _, token = factories.open_session(player, provider)
    assert wallet_api.call("authenticate", session_token=token).status_code == 200
    services.block_player(player=player, reason="confirmed fraud", actor=staff("compliance"))
    response = wallet_api.call(
        "bet", session_token=token, transaction_id="b1", round_id="r1", amount="5", currency="EUR"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "PLAYER_BLOCKED"
    assert AuditRecord.objects.filter(action="player.status", target_id=str(player.pk)).exists()


# --- pattern jobs ---------------------------------------------------------------------------


def test_many_accounts_registering_from_one_ip_are_flagged_once(new_player):
    shared = [new_player(ip="198.51.100.7") for _ in range(5)]
    new_player(ip="198.51.100.8")
    assert services.scan_multi_account_ips() == 5
    cases = Case.objects.filter(rule_keys__contains=[RuleKind.MULTI_ACCOUNT_IP])
    assert {c.player_id for c in cases} == {p.pk for p in shared}
    figures = cases[0].hits[0]["figures"]
    assert (figures["ip"], figures["via"], figures["accounts"]) == (
        "198.51.100.7",
        "registration",
        5,
    )
    assert len(figures["other_player_ids"]) == 4
    assert services.scan_multi_account_ips() == 0  # a rerun opens nothing new
    assert RuleHit.objects.count() == 5


def test_many_accounts_depositing_from_one_ip_are_flagged(new_player, money):
    players = [new_player() for _ in range(5)]
    for player in players:
        money.deposit(player, 20_00, ip="203.0.113.50")
    assert services.scan_multi_account_ips() == 5
    assert {c.hits[0]["figures"]["via"] for c in Case.objects.all()} == {"deposit"}


def test_multi_account_stays_quiet_below_the_threshold_and_outside_the_window(new_player, money):
    from datetime import timedelta

    from django.utils import timezone

    for _ in range(4):
        money.deposit(new_player(ip="198.51.100.9"), 20_00, ip="203.0.113.51")
    assert services.scan_multi_account_ips() == 0
    # The same volume, spread: a fifth account a day and more later is outside the window.
    assert services.scan_multi_account_ips(now=timezone.now() + timedelta(days=2)) == 0
    assert not Case.objects.exists()


def test_trusted_players_are_not_flagged_by_pattern_jobs(new_player, staff):
    players = [new_player(ip="198.51.100.10") for _ in range(5)]
    services.set_player_trusted(
        player=players[0], trusted=True, reason="family account", actor=staff("back_office")
    )
    assert services.scan_multi_account_ips() == 4


def test_bonus_farming_flags_and_holds_the_next_withdrawal_only(money, new_player):
    player = new_player()
    for _ in range(3):
        money.deposit(player, 10_00)
    assert services.scan_bonus_farming() == 1
    assert services.scan_bonus_farming() == 0  # the undecided case is not opened twice
    flag = Case.objects.get()
    assert flag.kind == CaseKind.FLAG and flag.rule_keys == [RuleKind.BONUS_FARMING]
    assert flag.hits[0]["figures"]["minimum_deposits"] == 3
    assert PlayerRisk.objects.get(player=player).hold_next_withdrawal
    held = money.withdraw(player, 5_00)
    assert held.transaction.status == "held"
    assert (held.balance_minor, held.reserved_minor) == (30_00, 5_00)
    assert Case.objects.get(transaction=held.transaction).rule_keys == [RuleKind.BONUS_FARMING]
    assert not PlayerRisk.objects.get(player=player).hold_next_withdrawal
    assert money.withdraw(player, 5_00).transaction.status == "posted"


def test_bonus_farming_stays_quiet_on_a_normal_player(money, new_player):
    player = new_player()
    for _ in range(3):
        money.deposit(player, 25_00)
    other = new_player()
    for _ in range(2):
        money.deposit(other, 10_00)
    assert services.scan_bonus_farming() == 0
    assert money.withdraw(player, 5_00).transaction.status == "posted"
    assert not Case.objects.exists()


def test_the_management_command_runs_both_jobs(new_player, money):
    from io import StringIO

    from django.core.management import call_command

    for _ in range(5):
        new_player(ip="198.51.100.11")
    out = StringIO()
    call_command("fraud_scan_patterns", stdout=out)
    assert "multi_account_ip: 5 flagged" in out.getvalue()
    assert "bonus_farming: 0 flagged" in out.getvalue()


def test_the_wallet_api_answers_bet_declined_and_the_case_survives(
    money, new_player, provider, wallet_api
):
    player = new_player(1000_00)
    history = money.authenticated_session(player, provider)
    for _ in range(20):
        money.bet(history, 2_00)
    _, token = factories.open_session(player, provider)
    assert wallet_api.call("authenticate", session_token=token).status_code == 200
    response = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="big-1",
        round_id="r-big",
        amount="250.00",
        currency="EUR",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "BET_DECLINED"
    assert not Transaction.objects.filter(external_id="big-1").exists()
    case = Case.objects.get(kind=CaseKind.DECLINE)
    assert (case.player, case.amount_minor) == (player, 250_00)
    assert wallet_of(player).balance_minor == 960_00
