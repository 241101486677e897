"""The daily GGR roll-up against sums taken directly from the ledger: every row kind, late wins
and rollbacks re-rolling past days, hold decisions, and (hypothesis) random histories with
incremental runs at random points."""

import itertools
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from reports import services
from reports.models import GgrDaily, RollupState
from tests import factories
from tests.reports.helpers import direct_ggr, rolled_up
from wallets import ledger
from wallets.errors import WalletError
from wallets.models import IdempotencyKey, Round, Transaction

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


def tid(prefix="t") -> str:
    return f"{prefix}-{next(_ids)}-{uuid.uuid4().hex[:6]}"


def date_round(rounds, when) -> None:
    """Test set-up only: the rounds, and the ledger rows written in them so far, dated `when`,
    as if played then (a round's opening row is dated when the round opened: the ledger writes
    both in one call, and the roll-up relies on it)."""
    rows = Transaction.objects.filter(round__in=rounds)
    IdempotencyKey.objects.filter(transaction_id__in=rows.values("pk")).update(created_at=when)
    rows.update(created_at=when)
    rounds.update(opened_at=when)


def move_round_to(round_external_id: str, days_ago: int) -> None:
    date_round(
        Round.objects.filter(external_id=round_external_id),
        timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def game(db):
    provider, _ = factories.make_provider()
    player = factories.funded_player(1_000_00)
    session, _ = factories.open_session(player, provider)
    return provider, player, session


def bet(provider, session, round_id, amount, tx=None):
    return ledger.bet(
        provider=provider,
        session=session,
        transaction_id=tx or tid("bet"),
        round_id=round_id,
        amount_minor=amount,
        currency="EUR",
    )


def win(provider, session, round_id, amount, **extra):
    return ledger.win(
        provider=provider,
        session=session,
        transaction_id=tid("win"),
        round_id=round_id,
        amount_minor=amount,
        currency="EUR",
        **extra,
    )


def test_every_row_kind_counts_where_the_definitions_say(game, two_staff):
    provider, player, session = game
    bet(provider, session, "r1", 10_00)
    win(provider, session, "r1", 25_00, round_closed=True)
    bet(provider, session, "r2", 4_00, tx="b-r2")
    ledger.rollback(
        provider=provider,
        session=session,
        transaction_id=tid("rb"),
        reference_transaction_id="b-r2",
        round_id="r2",
    )
    # a tombstone (unknown bet) and a second rollback of the same bet move nothing
    ledger.rollback(
        provider=provider,
        session=session,
        transaction_id=tid("rb"),
        reference_transaction_id="never-seen",
        round_id="r9",
    )
    ledger.rollback(
        provider=provider,
        session=session,
        transaction_id=tid("rb"),
        reference_transaction_id="b-r2",
        round_id="r2",
    )
    win(provider, session, "fs1", 3_00, credit_type="free_round")
    for credit_type, amount in (("jackpot", 500_00), ("promo", 2_00), ("reward", 1_00)):
        ledger.credit_promo(
            provider=provider,
            player=player,
            currency="EUR",
            transaction_id=tid("promo"),
            amount_minor=amount,
            credit_type=credit_type,
        )
    bet(provider, session, "r3", 6_00)
    ledger.settle_adjustment(
        provider=provider,
        session=session,
        transaction_id=tid("adj"),
        round_id="r3",
        delta_minor=-1_50,
        currency="EUR",
    )
    # not gaming revenue: a staff correction, payments
    ledger.adjust(
        wallet=session.wallet,
        delta_minor=7_00,
        reason="goodwill",
        requested_by=two_staff[0],
        approved_by=two_staff[1],
        external_id=tid("staff"),
    )
    ledger.withdraw(player=player, currency="EUR", amount_minor=1_00, external_id=tid("wd"))

    services.roll_up()

    assert rolled_up() == direct_ggr()
    (row,) = [g for g in GgrDaily.objects.all() if g.game_id == "slot-1"]
    assert row.stakes_minor == 20_00
    assert row.refunds_minor == 4_00
    assert row.wins_minor == 25_00 - 1_50
    assert row.resettlements_minor == -1_50
    assert row.free_round_minor == 3_00
    assert row.jackpot_minor == 0  # credit_promo without a session has no game
    assert row.ggr_minor == 20_00 - 4_00 - 23_50
    assert row.rounds == 3 and row.bets == 3
    credits = GgrDaily.objects.get(game_id="")
    assert (credits.jackpot_minor, credits.promo_minor, credits.reward_minor) == (
        500_00,
        2_00,
        1_00,
    )
    assert credits.stakes_minor == credits.wins_minor == 0


def test_a_late_win_and_a_late_rollback_re_roll_the_round_s_day(game):
    provider, _, session = game
    bet(provider, session, "old-1", 10_00)
    bet(provider, session, "old-2", 5_00, tx="old-2-bet")
    move_round_to("old-1", 3)
    move_round_to("old-2", 3)
    services.roll_up()
    three_days_ago = (timezone.now() - timedelta(days=3)).date()
    before = GgrDaily.objects.get(day=three_days_ago)
    assert (before.stakes_minor, before.wins_minor, before.refunds_minor) == (15_00, 0, 0)

    win(provider, session, "old-1", 40_00)  # late win, written today
    ledger.rollback(
        provider=provider,
        session=session,
        transaction_id=tid("rb"),
        reference_transaction_id="old-2-bet",
        round_id="old-2",
    )
    result = services.roll_up()

    after = GgrDaily.objects.get(day=three_days_ago)
    assert (after.stakes_minor, after.wins_minor, after.refunds_minor) == (15_00, 40_00, 5_00)
    assert after.ggr_minor == -30_00
    assert not GgrDaily.objects.filter(day=timezone.now().date()).exists()
    assert result.groups == 1  # only that provider-day was re-rolled
    assert rolled_up() == direct_ggr()


def test_a_held_win_counts_until_rejected(game, hold_marked_amounts):
    provider, _, session = game
    bet(provider, session, "h1", 10_00)
    held = win(provider, session, "h1", 12_77)
    assert held.transaction.status == "held"
    services.roll_up()
    assert GgrDaily.objects.get().wins_minor == 12_77

    ledger.decide_hold(
        transaction_id=held.transaction.pk, approve=False, actor=factories.UserFactory()
    )
    services.roll_up()  # the decision alone (no new ledger row) re-rolls the day
    assert GgrDaily.objects.get().wins_minor == 0
    assert rolled_up() == direct_ggr()


def test_the_watermark_passes_only_settled_rows_and_runs_repeat_safely(game):
    provider, _, session = game
    bet(provider, session, "w1", 1_00)
    first = services.roll_up()
    assert first.groups == 1
    assert first.last_id == 0  # the row is younger than SETTLE_SECONDS: read again next run
    again = services.roll_up()
    assert again.groups == 1
    later = services.roll_up(now=timezone.now() + timedelta(seconds=services.SETTLE_SECONDS + 1))
    assert later.last_id == Transaction.objects.latest("id").id
    assert services.roll_up(now=timezone.now() + timedelta(minutes=5)).groups == 0
    assert RollupState.objects.get().last_run_groups == 0
    assert rolled_up() == direct_ggr()


def test_reroll_days_recomputes_from_the_ledger(game):
    provider, _, session = game
    bet(provider, session, "x1", 2_00)
    services.roll_up()
    GgrDaily.objects.update(stakes_minor=999)  # damage the roll-up
    today = timezone.now().date()
    services.reroll_days(start=today - timedelta(days=1), end=today)
    assert rolled_up() == direct_ggr()


def test_rows_outside_rounds_count_on_the_day_they_were_written(game):
    provider, player, _ = game
    ledger.credit_promo(
        provider=provider,
        player=player,
        currency="EUR",
        transaction_id=tid("promo"),
        amount_minor=9_00,
        credit_type="promo",
    )
    services.roll_up()
    assert GgrDaily.objects.get().day == timezone.now().date()


# --- random histories ------------------------------------------------------------------------

operation = st.one_of(
    st.tuples(st.just("bet"), st.integers(0, 3), st.integers(0, 50_00)),
    st.tuples(st.just("win"), st.integers(0, 3), st.integers(0, 80_00)),
    st.tuples(st.just("free_round_win"), st.integers(0, 3), st.integers(0, 20_00)),
    st.tuples(st.just("rollback"), st.integers(0, 50), st.just(0)),
    st.tuples(
        st.just("promo"), st.sampled_from(["promo", "jackpot", "free_round"]), st.integers(1, 90_00)
    ),
    st.tuples(st.just("resettle"), st.integers(0, 3), st.integers(-5_00, 5_00)),
    st.tuples(st.just("age_round"), st.integers(0, 3), st.integers(1, 40)),
    st.tuples(st.just("roll_up"), st.just(0), st.just(0)),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(steps=st.lists(operation, min_size=1, max_size=25))
# A round played on a past day, its bet rolled back: its rows are read from that day's
# partition bound on.
@example(steps=[("bet", 3, 1426), ("rollback", 31, 0), ("age_round", 3, 24), ("bet", 3, 182)])
def test_incremental_roll_up_agrees_with_the_ledger_whatever_happened(db, steps):
    provider, _ = factories.make_provider(f"ggr-{uuid.uuid4().hex[:10]}")
    other, _ = factories.make_provider(f"ggr-{uuid.uuid4().hex[:10]}")
    player = factories.funded_player(100_000_00)
    sessions = [
        factories.open_session(player, provider)[0],
        factories.open_session(player, other)[0],
        factories.open_session(player, provider, currency="JPY")[0],
    ]
    ledger.deposit(player=player, currency="JPY", amount_minor=10_000_000, external_id=tid("dep"))
    bets: list[tuple] = []
    tag = uuid.uuid4().hex[:6]
    fresh_rounds: set[str] = set()  # rounds no roll-up has seen yet
    for kind, pick, amount in steps:
        session = sessions[pick % len(sessions)] if isinstance(pick, int) else sessions[0]
        round_id = f"{tag}-r{pick}"
        prov = session.provider
        try:
            if kind == "bet":
                tx = tid("bet")
                opens = not Round.objects.filter(
                    provider=prov, player=player, external_id=round_id
                ).exists()
                ledger.bet(
                    provider=prov,
                    session=session,
                    transaction_id=tx,
                    round_id=round_id,
                    amount_minor=amount,
                    currency=session.currency,
                )
                bets.append((session, tx, round_id))
                if opens:
                    fresh_rounds.add(round_id)
            elif kind in ("win", "free_round_win"):
                ledger.win(
                    provider=prov,
                    session=session,
                    transaction_id=tid("win"),
                    round_id=round_id,
                    amount_minor=amount,
                    currency=session.currency,
                    credit_type="free_round" if kind == "free_round_win" else "",
                )
            elif kind == "rollback" and bets:
                session, tx, round_id = bets[pick % len(bets)]
                ledger.rollback(
                    provider=session.provider,
                    session=session,
                    transaction_id=tid("rb"),
                    reference_transaction_id=tx,
                    round_id=round_id,
                )
            elif kind == "promo":
                ledger.credit_promo(
                    provider=provider,
                    player=player,
                    currency="EUR",
                    transaction_id=tid("promo"),
                    amount_minor=amount,
                    credit_type=pick,
                )
            elif kind == "resettle" and amount:
                ledger.settle_adjustment(
                    provider=prov,
                    session=session,
                    transaction_id=tid("adj"),
                    round_id=round_id,
                    delta_minor=amount,
                    currency=session.currency,
                )
            elif kind == "age_round" and round_id in fresh_rounds:
                # A round played on a past day: only before any roll-up saw it, as a round's
                # opening never moves.
                date_round(
                    Round.objects.filter(player=player, external_id=round_id),
                    timezone.now() - timedelta(hours=amount * 7),
                )
            elif kind == "roll_up":
                services.roll_up()
                fresh_rounds.clear()
        except WalletError:
            pass  # refused calls write nothing
    services.roll_up()
    mine = {k: v for k, v in rolled_up().items() if k[0] in (provider.pk, other.pk)}
    direct = {k: v for k, v in direct_ggr().items() if k[0] in (provider.pk, other.pk)}
    assert mine == direct


def test_the_command_the_tasks_and_their_schedules(game):
    import io

    from django.core.management import CommandError, call_command
    from django_celery_beat.models import PeriodicTask

    from reports import tasks

    provider, _, session = game
    bet(provider, session, "c1", 1_00)
    out = io.StringIO()
    call_command("roll_up_ggr", stdout=out)
    assert "1 provider-days re-rolled" in out.getvalue()
    today = timezone.now().date().isoformat()
    call_command("roll_up_ggr", "--from", today, stdout=out)
    with pytest.raises(CommandError):
        call_command("roll_up_ggr", "--from", "yesterday")
    with pytest.raises(CommandError):
        call_command("roll_up_ggr", "--to", today)
    assert tasks.roll_up_ggr() == 1
    assert tasks.reroll_recent_days(days=2) >= 2
    # The data migration's schedules (run again: a browser test's flush may have removed them;
    # it never overwrites a schedule an operator changed).
    import importlib

    from django.apps import apps

    importlib.import_module("reports.migrations.0002_rollup_schedules").forwards(apps, None)
    scheduled = dict(PeriodicTask.objects.values_list("task", "interval__every"))
    assert scheduled["reports.roll_up_ggr"] == 60
    assert scheduled["reports.reroll_recent_days"] == 86400
    assert rolled_up() == direct_ggr()
