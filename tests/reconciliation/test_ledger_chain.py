"""The tamper-evident ledger: every wallet's rows form a hash chain written with the row, and
the verification (manage.py verify_ledger, the hourly and daily beat jobs) names the first row
an edit, a deletion or a rewritten history broke, in a discrepancy staff see."""

from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_celery_beat.models import PeriodicTask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation import services
from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus
from reconciliation.models import Discrepancy, LedgerChainCheckpoint
from tests import factories
from wallets import hooks, ledger
from wallets.errors import InsufficientFunds
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(hooks, "screener", None)
    monkeypatch.setattr(hooks, "ledger_listeners", [])


@pytest.fixture
def played():
    """A wallet with a deposit, three bets, two wins and a rollback: seven chained rows."""
    provider, _ = factories.make_provider()
    player = factories.funded_player(100_00)
    session, _ = factories.open_session(player, provider)
    for n in range(3):
        ledger.bet(
            provider=provider, session=session, transaction_id=f"b{n}", round_id=f"r{n}",
            amount_minor=5_00, currency="EUR",
        )  # fmt: skip
    for n in range(2):
        ledger.win(
            provider=provider, session=session, transaction_id=f"w{n}", round_id=f"r{n}",
            amount_minor=7_00, currency="EUR",
        )  # fmt: skip
    ledger.rollback(
        provider=provider, session=session, transaction_id="x2", reference_transaction_id="b2",
        round_id="r2",
    )  # fmt: skip
    wallet = Wallet.objects.get(player=player, currency="EUR")
    return wallet, list(Transaction.objects.filter(wallet=wallet).order_by("pk"))


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@contextmanager
def unchained():
    """Rows written as a bulk load with the trigger off would be (or as before the chain)."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks block the ALTER
    sql("ALTER TABLE wallets_transaction DISABLE TRIGGER pitboss_chain")
    try:
        yield
    finally:
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql("ALTER TABLE wallets_transaction ENABLE TRIGGER pitboss_chain")


def tampered() -> list[Discrepancy]:
    return list(Discrepancy.objects.filter(kind=DiscrepancyKind.LEDGER_TAMPERED))


def test_every_row_is_chained_as_it_is_written_and_the_chain_verifies(played):
    wallet, rows = played
    assert len(rows) == 7
    assert all(row.chain_hash is not None and len(bytes(row.chain_hash)) == 32 for row in rows)
    assert len({bytes(row.chain_hash) for row in rows}) == 7

    result = services.verify_ledger(full=True)

    assert (result.broken, result.rows) == ([], 7)
    checkpoint = LedgerChainCheckpoint.objects.get(wallet=wallet)
    assert (checkpoint.last_id, bytes(checkpoint.last_hash)) == (
        rows[-1].pk,
        bytes(rows[-1].chain_hash),
    )
    assert tampered() == []


def test_a_status_change_the_ledger_makes_does_not_break_the_chain(played):
    """A rollback moves its bet to rolled_back; a held payment is approved later: statuses move
    by design and are not in the hash (reconciliation's sums cover them)."""
    _wallet, _rows = played
    assert Transaction.objects.get(external_id="b2").status == "rolled_back"
    assert services.verify_ledger(full=True).broken == []


@pytest.mark.parametrize(
    ("column", "value"),
    [("amount_minor", 1), ("delta_minor", 5_00), ("external_id", "b9"), ("currency", "USD")],
)
def test_an_edited_row_is_named_by_the_verification(played, column, value):
    wallet, rows = played
    edited = rows[2]
    sql(f"UPDATE wallets_transaction SET {column} = %s WHERE id = %s", [value, edited.pk])

    result = services.verify_ledger(full=True)

    assert result.broken == [edited.pk]
    (alarm,) = tampered()
    assert (alarm.status, alarm.wallet_id, alarm.ledger_transaction_id) == (
        DiscrepancyStatus.OPEN,
        wallet.pk,
        edited.pk,
    )
    # Found again, the same alarm is seen again, not doubled; the checkpoint did not move.
    services.verify_ledger(full=True)
    assert len(tampered()) == 1
    assert not LedgerChainCheckpoint.objects.filter(wallet=wallet).exists()


def test_a_deleted_row_breaks_the_chain_at_the_row_after_it(played):
    _wallet, rows = played
    deposit_then_first_bet = rows[:2]
    sql("DELETE FROM wallets_transaction WHERE id = %s", [deposit_then_first_bet[0].pk])

    assert services.verify_ledger(full=True).broken == [deposit_then_first_bet[1].pk]


def test_a_row_inserted_without_the_chain_is_caught(played):
    wallet, _rows = played
    with unchained():
        ledger.deposit(
            player=wallet.player, currency="EUR", amount_minor=1_00, external_id="smuggled"
        )
    smuggled = Transaction.objects.get(external_id="smuggled")

    assert services.verify_ledger(full=True).broken == [smuggled.pk]


def test_rows_written_before_the_chain_existed_are_accepted_and_the_chain_starts_after_them():
    player = factories.make_player()
    with unchained():
        for n in range(3):
            ledger.deposit(player=player, currency="EUR", amount_minor=1_00, external_id=f"old{n}")
    ledger.deposit(player=player, currency="EUR", amount_minor=1_00, external_id="new")

    result = services.verify_ledger(full=True)

    assert (result.broken, result.rows) == ([], 1)


def test_the_incremental_check_reads_only_the_rows_written_since_the_last_one(played):
    wallet, _rows = played
    first = services.verify_ledger()
    assert (first.wallets, first.rows) == (1, 7)
    nothing_new = services.verify_ledger()
    assert (nothing_new.wallets, nothing_new.rows) == (0, 0)

    ledger.deposit(player=wallet.player, currency="EUR", amount_minor=1_00, external_id="d2")
    ledger.deposit(player=wallet.player, currency="EUR", amount_minor=1_00, external_id="d3")
    later = services.verify_ledger()

    assert (later.wallets, later.rows, later.broken) == (1, 2, [])
    assert LedgerChainCheckpoint.objects.get(wallet=wallet).rows_verified == 9


def test_a_history_rewritten_consistently_behind_the_checkpoint_is_caught_by_the_full_check(
    played,
):
    """Someone with the database edits a row and recomputes every hash after it: the chain is
    consistent again, the incremental check (which starts at the checkpoint) sees nothing, but
    the daily full check arrives at another hash than the one checkpointed."""
    _wallet, rows = played
    services.verify_ledger()
    sql("UPDATE wallets_transaction SET amount_minor = 1 WHERE id = %s", [rows[1].pk])
    prev = None
    for row in rows:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE wallets_transaction t SET chain_hash = pitboss_chain_digest(%s, t) "
                "WHERE id = %s RETURNING chain_hash",
                [prev, row.pk],
            )
            (prev,) = cursor.fetchone()

    assert services.verify_ledger().broken == []
    assert services.verify_ledger(full=True).broken == [rows[-1].pk]
    assert [d.ledger_transaction_id for d in tampered()] == [rows[-1].pk]


def test_the_command_exits_non_zero_naming_the_broken_row(played, capsys):
    _wallet, rows = played
    call_command("verify_ledger", "--full")
    assert "7 rows verified" in capsys.readouterr().out

    sql("UPDATE wallets_transaction SET amount_minor = 2 WHERE id = %s", [rows[3].pk])
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--full")
    assert f"chain broken at ledger row {rows[3].pk}" in capsys.readouterr().out


def test_beat_verifies_the_chains_hourly_and_every_row_daily():
    jobs = PeriodicTask.objects.filter(task="reconciliation.verify_ledger")
    schedule = {job.interval.every: job.kwargs for job in jobs}
    assert schedule == {3600: "{}", 86400: '{"full": true}'}


def test_a_refused_win_reversal_opens_a_discrepancy_with_the_amount(monkeypatch):
    monkeypatch.setattr(hooks, "incident_reporters", [services.record_refused_reversal])
    provider, _ = factories.make_provider()
    player = factories.funded_player(100_00)
    session, _ = factories.open_session(player, provider)
    ledger.bet(
        provider=provider, session=session, transaction_id="b1", round_id="r1",
        amount_minor=10_00, currency="EUR",
    )  # fmt: skip
    ledger.win(
        provider=provider, session=session, transaction_id="w1", round_id="r1",
        amount_minor=80_00, currency="EUR",
    )  # fmt: skip
    ledger.withdraw(player=player, currency="EUR", amount_minor=150_00, external_id="out")
    with pytest.raises(InsufficientFunds):
        ledger.rollback(
            provider=provider, session=session, transaction_id="x1",
            reference_transaction_id="w1", round_id="r1", allow_win=True,
        )  # fmt: skip

    (alarm,) = Discrepancy.objects.filter(kind=DiscrepancyKind.WIN_REVERSAL_REFUSED)
    win = Transaction.objects.get(external_id="w1")
    assert (alarm.status, alarm.ledger_transaction_id, alarm.provider_transaction_id) == (
        DiscrepancyStatus.OPEN,
        win.pk,
        "x1",
    )
    assert (alarm.provider_amount_minor, alarm.wallet_amount_minor, alarm.drift_minor) == (
        80_00,
        20_00,
        60_00,
    )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["deposit", "bet", "win", "rollback"]), st.integers(1, 900)),
        min_size=1,
        max_size=25,
    )
)
def test_any_sequence_of_ledger_operations_leaves_a_chain_that_verifies(operations):
    provider, _ = factories.make_provider()
    player = factories.funded_player(10_00)
    session, _ = factories.open_session(player, provider)
    bets: list[str] = []
    for n, (operation, amount) in enumerate(operations):
        try:
            if operation == "deposit":
                ledger.deposit(
                    player=player, currency="EUR", amount_minor=amount, external_id=f"p{n}"
                )
            elif operation == "bet":
                ledger.bet(
                    provider=provider, session=session, transaction_id=f"b{n}",
                    round_id=f"r{n}", amount_minor=amount, currency="EUR",
                )  # fmt: skip
                bets.append(f"b{n}")
            elif operation == "win" and bets:
                ledger.win(
                    provider=provider, session=session, transaction_id=f"w{n}",
                    round_id=f"r{bets[-1][1:]}", amount_minor=amount, currency="EUR",
                )  # fmt: skip
            elif operation == "rollback" and bets:
                ledger.rollback(
                    provider=provider, session=session, transaction_id=f"x{n}",
                    reference_transaction_id=bets.pop(0), round_id="",
                )  # fmt: skip
        except Exception as refused:  # a refusal (funds, settled round) changes nothing
            assert type(refused).__module__ == "wallets.errors", refused
    wallet = Wallet.objects.get(player=player, currency="EUR")
    result = services.verify_ledger(full=True, wallet_ids=[wallet.pk])
    assert result.broken == []
    assert result.rows == Transaction.objects.filter(wallet=wallet).count()


def test_a_broken_chain_fires_a_critical_alert_naming_the_row_until_staff_settle_it(played):
    """The verification's discrepancy is what staff settle; monitoring's alert says which
    wallet and row at the first evaluation (no pending period: nothing in flight clears it),
    and resolves once the discrepancy is closed and the resolve period has passed."""
    from datetime import timedelta

    from django.utils import timezone

    from monitoring import services as monitoring
    from monitoring.choices import AlertRule, AlertState
    from monitoring.models import Alert

    wallet, rows = played
    now = timezone.now()
    monitoring.evaluate_alerts(now=now, deliver=False)
    assert not Alert.objects.filter(rule=AlertRule.LEDGER_TAMPERED).exists()

    edited = rows[3]
    sql("UPDATE wallets_transaction SET amount_minor = 1 WHERE id = %s", [edited.pk])
    services.verify_ledger(full=True)
    result = monitoring.evaluate_alerts(now=now + timedelta(seconds=30), deliver=False)

    alert = Alert.objects.get(rule=AlertRule.LEDGER_TAMPERED)
    assert alert.pk in result.fired
    assert alert.state == AlertState.FIRING
    assert (alert.player_id, alert.provider_id) == (wallet.player_id, edited.provider_id)
    assert f"wallet #{wallet.pk}" in alert.summary
    assert f"breaks at row #{edited.pk}" in alert.summary
    (alarm,) = tampered()
    assert f"discrepancy #{alarm.pk}" in alert.summary
    # Seen again: still the one alert.
    monitoring.evaluate_alerts(now=now + timedelta(seconds=60), deliver=False)
    assert Alert.objects.filter(rule=AlertRule.LEDGER_TAMPERED).count() == 1

    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("auditor", password="not-used-here")
    services.close_discrepancy(discrepancy=alarm, actor=staff, reason="row restored from backup")
    monitoring.evaluate_alerts(now=now + timedelta(seconds=90), deliver=False)
    monitoring.evaluate_alerts(now=now + timedelta(hours=2), deliver=False)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
