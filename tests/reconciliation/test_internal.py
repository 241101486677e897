"""Internal reconciliation: cached wallet figures against the ledger."""

import pytest
from django.core.management import call_command
from django.db import connection

from reconciliation import services
from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus, RunKind, RunStatus
from reconciliation.models import Discrepancy, ReconciliationRun
from tests import factories
from tests.reconciliation.helpers import play
from wallets import ledger

pytestmark = pytest.mark.django_db


def _corrupt(wallet_id: int, *, balance_delta=0, reserved_delta=0, touch=False) -> None:
    """Corrupt a wallet's cached figures behind the ledger's back (what reconciliation exists
    to catch)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_wallet SET balance_minor = balance_minor + %s, "
            "reserved_minor = reserved_minor + %s"
            + (", updated_at = now()" if touch else "")
            + " WHERE id = %s",
            [balance_delta, reserved_delta, wallet_id],
        )


def _backdate_wallets() -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallets_wallet SET updated_at = updated_at - interval '1 hour'")


def test_consistent_wallets_match(provider):
    players = [factories.funded_player(50_00) for _ in range(3)]
    play(provider, players[0], bets=[("b1", 10_00)], wins=[("w1", 3_50)])
    factories.open_session(players[1], provider, buy_in_minor=20_00)  # reservation
    run = services.reconcile_wallets(full=True)
    assert run.status == RunStatus.FINISHED
    assert run.kind == RunKind.FULL
    assert run.wallets_checked == 3
    assert run.counts == {"matched": 3, "balance_drift": 0, "reserved_drift": 0}
    assert not Discrepancy.objects.exists()


def test_balance_drift_from_direct_sql_update_is_detected(provider):
    player = factories.funded_player(50_00)
    factories.funded_player(10_00)
    wallet = player.wallets.get()
    _corrupt(wallet.pk, balance_delta=7_00)
    run = services.reconcile_wallets(full=True)
    assert run.counts == {"matched": 1, "balance_drift": 1, "reserved_drift": 0}
    drift = Discrepancy.objects.get()
    assert drift.kind == DiscrepancyKind.BALANCE_DRIFT
    assert drift.status == DiscrepancyStatus.OPEN  # internal drift: persistent at once
    assert drift.provider_id is None
    assert (drift.cached_minor, drift.expected_minor, drift.drift_minor) == (57_00, 50_00, 7_00)
    assert drift.wallet_id == wallet.pk
    # Seen again: the same discrepancy is refreshed, not duplicated.
    _corrupt(wallet.pk, balance_delta=1_00)
    services.reconcile_wallets(full=True)
    drift.refresh_from_db()
    assert Discrepancy.objects.count() == 1
    assert (drift.cached_minor, drift.drift_minor) == (58_00, 8_00)


def test_reserved_drift_against_open_sessions_and_holds(provider):
    player = factories.funded_player(50_00)
    factories.open_session(player, provider, buy_in_minor=20_00)
    wallet = player.wallets.get()
    assert wallet.reserved_minor == 20_00
    _corrupt(wallet.pk, reserved_delta=-5_00)
    run = services.reconcile_wallets(full=True)
    assert run.counts["reserved_drift"] == 1
    assert run.counts["balance_drift"] == 0
    drift = Discrepancy.objects.get()
    assert drift.kind == DiscrepancyKind.RESERVED_DRIFT
    assert (drift.cached_minor, drift.expected_minor) == (15_00, 20_00)


def test_incremental_run_checks_only_changed_wallets(provider):
    players = [factories.funded_player(10_00) for _ in range(6)]
    _backdate_wallets()
    first = services.reconcile_wallets()  # no watermark yet: every wallet
    assert first.kind == RunKind.INCREMENTAL
    assert first.wallets_checked == 6
    assert first.watermark_at is not None

    second = services.reconcile_wallets()
    assert second.wallets_checked == 0

    ledger.deposit(
        player=players[2], currency="EUR", amount_minor=5_00, external_id="dep-incremental"
    )
    third = services.reconcile_wallets()
    assert third.wallets_checked == 1
    assert third.counts["matched"] == 1


def test_incremental_run_finds_drift_on_a_touched_wallet_and_full_run_finds_untouched(provider):
    a, b = factories.funded_player(10_00), factories.funded_player(10_00)
    _backdate_wallets()
    services.reconcile_wallets()
    _corrupt(a.wallets.get().pk, balance_delta=1, touch=True)
    _corrupt(b.wallets.get().pk, balance_delta=2)  # updated_at untouched: incremental misses it
    incremental = services.reconcile_wallets()
    assert incremental.wallets_checked == 1
    assert incremental.counts["balance_drift"] == 1
    full = services.reconcile_wallets(full=True)
    assert full.wallets_checked == 2
    assert full.counts["balance_drift"] == 2
    assert Discrepancy.objects.filter(kind=DiscrepancyKind.BALANCE_DRIFT).count() == 2


def test_command_prints_progress_per_chunk(provider, capsys):
    for _ in range(5):
        factories.funded_player(1_00)
    call_command("reconcile_wallets", "--full", "--chunk-size", "2")
    captured = capsys.readouterr()
    assert "2/5 wallets" in captured.err
    assert "4/5 wallets" in captured.err
    assert "5/5 wallets 100%" in captured.err
    assert "5 wallets checked, 5 matched" in captured.out


def test_beat_schedules_exist():
    from django_celery_beat.models import PeriodicTask

    tasks = dict(PeriodicTask.objects.values_list("task", "interval__every"))
    assert tasks["reconciliation.reconcile_wallets_incremental"] == 120
    assert tasks["reconciliation.reconcile_wallets_full"] == 86400


def test_held_transactions_count_in_reserved_and_credits_in_balance(provider, monkeypatch):
    from wallets import hooks

    player = factories.funded_player(50_00)
    monkeypatch.setattr(hooks, "screener", lambda request: hooks.Screening(action=hooks.HOLD))
    ledger.deposit(player=player, currency="EUR", amount_minor=30_00, external_id="held-dep")
    ledger.withdraw(player=player, currency="EUR", amount_minor=20_00, external_id="held-wd")
    wallet = player.wallets.get()
    assert (wallet.balance_minor, wallet.reserved_minor) == (80_00, 50_00)
    run = services.reconcile_wallets(full=True)
    assert run.counts == {"matched": 1, "balance_drift": 0, "reserved_drift": 0}
    _corrupt(wallet.pk, reserved_delta=-1)
    run = services.reconcile_wallets(full=True)
    d = Discrepancy.objects.get()
    assert (d.kind, d.cached_minor, d.expected_minor) == ("reserved_drift", 49_99, 50_00)


def test_a_run_that_fails_is_recorded_as_failed_and_leaves_the_watermark(provider):
    """A run that breaks off (here its progress reporter fails after the first chunk, as a
    command whose output pipe closed) is recorded as failed with the error and no watermark;
    the next incremental run starts from the last finished run's, so the wallets the failed
    run never got to are checked."""
    players = [factories.funded_player(10_00) for _ in range(3)]
    _backdate_wallets()
    finished = services.reconcile_wallets()
    for player in players[1:]:
        _corrupt(player.wallets.get().pk, balance_delta=5, touch=True)

    def broken_progress(done, total):
        if done:
            raise BrokenPipeError("progress output closed")

    with pytest.raises(BrokenPipeError):
        services.reconcile_wallets(progress=broken_progress, chunk_size=1)
    failed = ReconciliationRun.objects.latest("id")
    assert failed.pk != finished.pk
    assert (failed.status, failed.error) == (
        RunStatus.FAILED,
        "BrokenPipeError: progress output closed",
    )
    assert failed.finished_at is not None and failed.watermark_at is None
    assert Discrepancy.objects.count() == 1  # the first chunk's, recorded before it broke off

    again = services.reconcile_wallets()
    assert again.status == RunStatus.FINISHED
    assert (again.wallets_checked, again.counts["balance_drift"]) == (2, 2)
    assert Discrepancy.objects.count() == 2
