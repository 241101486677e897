"""Reconciliation beside other transactions, each on its own connection with real commits:
what one run cannot see of another's uncommitted work, and what it must not do twice."""

import pytest
from django.db import connection

from reconciliation import services
from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus, RunStatus
from reconciliation.models import Discrepancy, ReportRow
from tests import factories, races
from tests.reconciliation.helpers import play, reconcile_rows, row
from wallets import ledger
from wallets.models import Provider

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_reports_of_one_provider_at_once_run_one_after_the_other(provider):
    """The second report waits for the first (one report per provider at a time) instead of
    classifying against a ledger and a discrepancy queue the first is still changing: the
    mismatch both list becomes one discrepancy, refreshed by the second report."""
    player = factories.funded_player(100_00)
    play(provider, player, bets=[("b1", 10_00)])
    rows = [row("b1", player, amount="10.50"), row("x9", player, amount="7.00")]

    def report():
        return reconcile_rows(Provider.objects.get(pk=provider.pk), rows)

    raced = races.race_against_open_transaction(report, report)

    assert raced.second_error is None, raced.second_error
    first, second = raced.first, raced.second
    assert (first.status, second.status) == (RunStatus.FINISHED, RunStatus.FINISHED)
    for run in (first, second):
        assert (run.counts["amount_mismatch"], run.counts["missing_in_wallet"]) == (1, 1)
    assert first.discrepancies_opened == 2
    assert second.discrepancies_opened == 0  # the same two, seen again
    found = {d.provider_transaction_id: d for d in Discrepancy.objects.all()}
    assert sorted(found) == ["b1", "x9"]
    assert {d.last_run_id for d in found.values()} == {second.pk}
    assert ReportRow.objects.count() == 4


def test_a_report_of_another_provider_does_not_wait(provider):
    other, _ = factories.make_provider("other")
    player = factories.funded_player(100_00)
    play(provider, player, bets=[("b1", 10_00)])
    play(other, player, bets=[("o1", 3_00)])

    raced = races.run_beside_open_transaction(
        lambda: reconcile_rows(provider, [row("b1", player, amount="10.00")]),
        lambda: reconcile_rows(other, [row("o1", player, amount="3.00")]),
    )
    assert raced.second_error is None, raced.second_error
    assert raced.second.counts["matched"] == 1


def test_the_watermark_overlap_catches_a_write_that_committed_just_after_it(monkeypatch):
    """A write stamps the wallet's updated_at (its transaction's time) before it commits. An
    incremental run that starts in between takes its watermark after that time, and cannot
    see the write; the next run looks back past the watermark by the overlap, so it still
    checks the wallet. Three connections: the write held open, a ledger call committing
    meanwhile (the watermark's transaction id is past the open write's), and the runs."""
    # The overlap is sized for writes that last microseconds; this test's open write lasts
    # as long as the machine takes to run the steps below, so it gets a minute.
    monkeypatch.setattr(services, "WATERMARK_OVERLAP_SECONDS", 60)
    drifting, busy = factories.funded_player(10_00), factories.funded_player(10_00)
    wallet_id = drifting.wallets.get().pk
    with connection.cursor() as cursor:
        cursor.execute("UPDATE wallets_wallet SET updated_at = updated_at - interval '1 hour'")
    services.reconcile_wallets()  # the first watermark

    def drift_in_flight():
        # Drift as a broken write would leave it, stamped with its transaction's time.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE wallets_wallet SET balance_minor = balance_minor + 1, "
                "updated_at = now() WHERE id = %s RETURNING updated_at",
                [wallet_id],
            )
            return cursor.fetchone()[0]

    with races.HeldOpen(drift_in_flight) as write:
        ledger.deposit(player=busy, currency="EUR", amount_minor=1_00, external_id="meanwhile")
        during = services.reconcile_wallets()
    assert write.result < during.watermark_at  # stamped before the watermark...
    assert during.counts["balance_drift"] == 0  # ...and not visible to that run

    after = services.reconcile_wallets()
    assert after.counts["balance_drift"] == 1
    drift = Discrepancy.objects.get()
    assert (drift.wallet_id, drift.kind, drift.status) == (
        wallet_id,
        DiscrepancyKind.BALANCE_DRIFT,
        DiscrepancyStatus.OPEN,
    )
    assert drift.occurred_at == write.result  # the write's own time
