"""Limits, cooling-off and exclusions through the services and the ledger (no HTTP)."""

import datetime
import re

import pytest
from django.utils import timezone

from protection import selectors, services
from protection.models import CoolingOffPeriod, PlayerLimit
from tests import factories
from wallets import ledger
from wallets.choices import SessionEndReason, SessionStatus
from wallets.errors import LimitExceeded, NotAllowed, ValidationFailed
from wallets.models import AuditRecord, GameSession, Wallet

pytestmark = pytest.mark.django_db

_n = iter(range(10**9))


def bet(provider, session, amount_minor, *, round_id=None):
    n = next(_n)
    return ledger.bet(
        provider=provider,
        session=session,
        transaction_id=f"b{n}",
        round_id=round_id or f"r{n}",
        amount_minor=amount_minor,
        currency="EUR",
    )


def win(provider, session, amount_minor, round_id):
    return ledger.win(
        provider=provider,
        session=session,
        transaction_id=f"w{next(_n)}",
        round_id=round_id,
        amount_minor=amount_minor,
        currency="EUR",
    )


def limit(player, kind, period, amount, **kwargs):
    return services.set_limit(
        player=player,
        kind=kind,
        period=period,
        currency="EUR",
        amount=amount,
        reason="player asked",
        **kwargs,
    )


@pytest.fixture
def setup():
    provider, _ = factories.make_provider()
    player = factories.funded_player(1000_00)
    session, _ = factories.open_session(player, provider)
    return provider, player, session


def test_a_player_without_limits_counts_nothing(setup):
    provider, player, session = setup
    bet(provider, session, 10_00)
    wallet = Wallet.objects.get(player=player, currency="EUR")
    assert wallet.limits_counted_on is None
    assert wallet.lost_day_minor is None


def test_loss_limit_refuses_the_stake_that_would_pass_it_and_says_which(setup):
    provider, player, session = setup
    limit(player, "loss", "day", 50_00)
    bet(provider, session, 30_00)
    bet(provider, session, 20_00)  # exactly at the limit: accepted
    with pytest.raises(LimitExceeded) as refused:
        bet(provider, session, 1)
    assert refused.value.message == ("daily loss limit of 50.00 EUR reached: 50.00 EUR lost today")
    assert refused.value.balance_minor == 950_00
    assert Wallet.objects.get(player=player).balance_minor == 950_00


def test_wins_lower_the_loss_and_rollbacks_refund_it(setup):
    provider, player, session = setup
    limit(player, "loss", "week", 50_00)
    bet(provider, session, 40_00, round_id="won")
    win(provider, session, 15_00, "won")  # net loss 25.00
    bet(provider, session, 25_00, round_id="r-x")  # net loss 50.00
    with pytest.raises(LimitExceeded):
        bet(provider, session, 1_00)
    # The last stake rolled back: 25.00 of room again.
    ledger.rollback(
        provider=provider,
        session=session,
        transaction_id="rb-1",
        reference_transaction_id=_last_bet_id(player),
        round_id="r-x",
    )
    bet(provider, session, 25_00)
    wallet = Wallet.objects.get(player=player)
    assert (wallet.lost_week_minor, wallet.wagered_week_minor) == (50_00, 65_00)


def _last_bet_id(player):
    from wallets.models import Transaction

    return Transaction.objects.filter(player=player, kind="bet").latest("id").external_id


def test_wager_limit_counts_stakes_whatever_was_won(setup):
    provider, player, session = setup
    limit(player, "wager", "month", 30_00)
    bet(provider, session, 20_00, round_id="big")
    win(provider, session, 100_00, "big")
    with pytest.raises(LimitExceeded, match=re.escape("monthly wager limit of 30.00 EUR")):
        bet(provider, session, 10_01)
    bet(provider, session, 10_00)


def test_what_was_lost_before_the_limit_was_set_counts_against_it(setup):
    provider, player, session = setup
    bet(provider, session, 45_00)
    limit(player, "loss", "day", 50_00)
    with pytest.raises(LimitExceeded):
        bet(provider, session, 6_00)
    bet(provider, session, 5_00)


def test_figures_roll_over_with_the_period(setup):
    provider, player, session = setup
    limit(player, "loss", "day", 50_00)
    limit(player, "loss", "month", 500_00)
    bet(provider, session, 50_00)
    with pytest.raises(LimitExceeded):
        bet(provider, session, 1_00)
    # As if the figures were counted yesterday: the day starts again, the month may not.
    yesterday = timezone.now().date() - datetime.timedelta(days=1)
    Wallet.objects.filter(player=player).update(limits_counted_on=yesterday)
    bet(provider, session, 50_00)
    wallet = Wallet.objects.get(player=player)
    assert wallet.lost_day_minor == 50_00
    same_month = yesterday.month == timezone.now().date().month
    assert wallet.lost_month_minor == (100_00 if same_month else 50_00)


def test_a_zero_stake_passes_a_limit_already_reached(setup):
    provider, player, session = setup
    limit(player, "wager", "day", 10_00)
    bet(provider, session, 10_00)
    bet(provider, session, 0)


def test_deposit_limit_refuses_a_deposit_and_counts_accepted_ones():
    player = factories.funded_player(0)
    limit(player, "deposit", "day", 100_00)
    ledger.deposit(player=player, currency="EUR", amount_minor=60_00, external_id="d1")
    with pytest.raises(
        LimitExceeded,
        match=re.escape("daily deposit limit of 100.00 EUR reached: 60.00 EUR deposited today"),
    ):
        ledger.deposit(player=player, currency="EUR", amount_minor=40_01, external_id="d2")
    ledger.deposit(player=player, currency="EUR", amount_minor=40_00, external_id="d3")
    # A replay of an accepted deposit is still a duplicate, not a refusal.
    assert ledger.deposit(
        player=player, currency="EUR", amount_minor=60_00, external_id="d1"
    ).duplicate
    assert Wallet.objects.get(player=player).balance_minor == 100_00


def test_limits_are_per_currency(setup):
    provider, player, session = setup
    services.set_limit(
        player=player, kind="loss", period="day", currency="JPY", amount=100, reason="x"
    )
    bet(provider, session, 500_00)  # EUR has no limit


def test_a_decrease_applies_at_once_an_increase_after_the_cooling_off(setup):
    provider, player, session = setup
    now = timezone.now()
    change = limit(player, "loss", "day", 100_00, now=now)
    assert change.applied_now
    change = limit(player, "loss", "day", 200_00, now=now)
    assert not change.applied_now
    row = PlayerLimit.objects.get(player=player)
    assert (row.amount, row.pending_amount) == (100_00, 200_00)
    assert row.pending_from == now + datetime.timedelta(hours=24)
    bet(provider, session, 100_00)
    with pytest.raises(LimitExceeded):
        bet(provider, session, 1_00)
    # Not yet due: nothing changes.
    assert services.apply_due_limit_changes(now=now + datetime.timedelta(hours=23)) == 0
    assert services.apply_due_limit_changes(now=now + datetime.timedelta(hours=24)) == 1
    row.refresh_from_db()
    assert (row.amount, row.pending_from) == (200_00, None)
    bet(provider, session, 100_00)
    assert AuditRecord.objects.filter(action="limit.cooling_off_ended").count() == 1


def test_a_removal_waits_too_and_a_lower_limit_cancels_a_pending_increase(setup):
    provider, player, session = setup
    now = timezone.now()
    limit(player, "wager", "day", 10_00, now=now)
    limit(player, "wager", "day", None, now=now)
    row = PlayerLimit.objects.get(player=player)
    assert row.removal_pending and row.amount == 10_00
    limit(player, "wager", "day", 5_00, now=now)
    row.refresh_from_db()
    assert (row.amount, row.pending_from) == (5_00, None)
    limit(player, "wager", "day", None, now=now)
    services.apply_due_limit_changes(now=now + datetime.timedelta(days=1))
    assert not PlayerLimit.objects.filter(player=player).exists()
    wallet = Wallet.objects.get(player=player)
    assert wallet.limits_counted_on is None and wallet.wager_limit_day_minor is None
    bet(provider, session, 500_00)


def test_the_cooling_off_follows_the_players_country(setup):
    _, player, _ = setup
    CoolingOffPeriod.objects.create(country="MT", hours=72)
    now = timezone.now()
    limit(player, "loss", "day", 10_00, now=now)
    limit(player, "loss", "day", 20_00, now=now)
    assert PlayerLimit.objects.get(player=player).pending_from == now + datetime.timedelta(hours=72)


def test_who_may_only_lower_cannot_raise_or_remove(setup):
    _, player, _ = setup
    limit(player, "loss", "day", 10_00)
    with pytest.raises(services.OnlyLowering):
        limit(player, "loss", "day", 20_00, may_raise=False)
    with pytest.raises(services.OnlyLowering):
        limit(player, "loss", "day", None, may_raise=False)
    limit(player, "loss", "day", 5_00, may_raise=False)
    assert PlayerLimit.objects.get(player=player).amount == 5_00


def test_every_change_needs_a_reason_and_is_audited(setup):
    _, player, _ = setup
    with pytest.raises(ValidationFailed):
        services.set_limit(
            player=player, kind="loss", period="day", currency="EUR", amount=1, reason=" "
        )
    limit(player, "loss", "day", 10_00)
    record = AuditRecord.objects.get(action="limit.set")
    assert record.reason == "player asked"
    assert record.after["amount"] == "10.00 EUR"


def test_bad_limits_are_refused_and_change_nothing(setup):
    _, player, _ = setup
    for kind, period, currency, amount in [
        ("bonus", "day", "EUR", 1),
        ("loss", "year", "EUR", 1),
        ("loss", "day", "XXX", 1),
        ("loss", "day", "EUR", -1),
        ("session", "", "", 0),
    ]:
        with pytest.raises(ValidationFailed):
            services.set_limit(
                player=player,
                kind=kind,
                period=period,
                currency=currency,
                amount=amount,
                reason="x",
            )
    with pytest.raises(NotAllowed):
        limit(player, "loss", "day", None)  # nothing to remove
    assert not PlayerLimit.objects.exists()


def test_an_excluded_player_may_not_bet_deposit_or_launch_but_is_paid(setup):
    provider, player, session = setup
    bet(provider, session, 10_00, round_id="open-round")
    until = timezone.now() + datetime.timedelta(days=7)
    services.exclude_player(player=player, kind="timeout", until=until, reason="a break")
    session.refresh_from_db()
    assert session.status == SessionStatus.KILLED
    assert session.end_reason == SessionEndReason.PLAYER_PROTECTION
    with pytest.raises(LimitExceeded, match="excluded from play and deposits until"):
        ledger.deposit(player=player, currency="EUR", amount_minor=1_00, external_id="dx")
    with pytest.raises(LimitExceeded):
        factories.open_session(player, provider)
    # The open round's win is paid; its stake can be rolled back.
    win(provider, session, 30_00, "open-round")
    assert Wallet.objects.get(player=player).balance_minor == 1020_00


def test_bets_of_an_excluded_player_are_refused_limit_exceeded(setup):
    provider, player, session = setup
    player.refresh_from_db()
    services.exclude_player(player=player, kind="self_exclusion", until=None, reason="for good")
    # A session that is somehow still open (reopened by hand): the ledger refuses anyway.
    GameSession.objects.filter(pk=session.pk).update(status=SessionStatus.OPEN)
    with pytest.raises(LimitExceeded, match="excluded from play and deposits permanently"):
        bet(provider, session, 1_00)


def test_exclusions_keep_their_bounds_and_are_never_shortened(setup):
    _, player, _ = setup
    now = timezone.now()
    for kind, until in [
        ("timeout", None),
        ("timeout", now + datetime.timedelta(minutes=30)),
        ("timeout", now + datetime.timedelta(weeks=7)),
        ("self_exclusion", now + datetime.timedelta(days=90)),
        ("nap", now + datetime.timedelta(days=1)),
    ]:
        with pytest.raises(ValidationFailed):
            services.exclude_player(player=player, kind=kind, until=until, reason="x", now=now)
    services.exclude_player(
        player=player,
        kind="self_exclusion",
        until=now + datetime.timedelta(days=365),
        reason="a year",
        now=now,
    )
    services.exclude_player(
        player=player,
        kind="timeout",
        until=now + datetime.timedelta(days=1),
        reason="x",
        now=now,
    )
    player.refresh_from_db()
    assert player.excluded_until == now + datetime.timedelta(days=365)
    assert selectors.active_exclusion(player).kind == "self_exclusion"


def test_a_session_past_its_time_limit_takes_no_bet_and_is_ended(setup):
    provider, player, session = setup
    services.set_limit(player=player, kind="session", amount=30, reason="half an hour")
    bet(provider, session, 1_00)
    GameSession.objects.filter(pk=session.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=31)
    )
    with pytest.raises(LimitExceeded, match="session time limit of 30 minutes reached"):
        bet(provider, session, 1_00)
    assert services.end_sessions_past_time_limit() == 1
    session.refresh_from_db()
    assert session.end_reason == SessionEndReason.PLAYER_PROTECTION
    # A new session may be played.
    fresh, _ = factories.open_session(player, provider)
    bet(provider, fresh, 1_00)


def test_reality_check_gives_duration_and_net_result(setup):
    provider, player, session = setup
    bet(provider, session, 10_00, round_id="rc")
    win(provider, session, 4_00, "rc")
    (reality,) = selectors.reality_check(player)
    assert (reality.staked_minor, reality.won_minor, reality.net_result_minor) == (
        10_00,
        4_00,
        -6_00,
    )
    assert reality.duration >= datetime.timedelta(0)
