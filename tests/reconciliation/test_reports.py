"""Provider reports: every mismatch class, grace window, malformed rows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reconciliation import parsing, selectors, services
from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus, RunStatus
from reconciliation.models import (
    Discrepancy,
    ProviderReconciliationProfile,
    ProviderReport,
    ReportRow,
)
from tests import factories
from tests.reconciliation.helpers import (
    age_ledger,
    ago,
    csv_bytes,
    play,
    reconcile_csv,
    reconcile_rows,
    row,
)
from wallets import ledger
from wallets.hooks import metric_sources

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(provider):
    """A player with bets, a win and a rolled-back bet at `provider`, one hour old."""
    player = factories.funded_player(100_00)
    session = play(
        provider,
        player,
        bets=[("b1", 10_00), ("b2", 5_00), ("b3", 2_00), ("b4", 1_00), ("b5", 3_00)],
        wins=[("w1", 4_00)],
    )
    ledger.rollback(
        provider=provider, session=session, transaction_id="rb4",
        reference_transaction_id="b4", round_id="r-b4",
    )  # fmt: skip
    age_ledger(3600)
    return player


def _window():
    now = timezone.now()
    return {"period_start": now - timedelta(hours=2), "period_end": now}


def test_every_mismatch_class(provider, scene):
    player = scene
    rows = [
        row("b1", player, amount="10.00"),  # matched
        row("b2", player, amount="5.50"),  # amount mismatch
        row("b3", player, amount="2.00", currency="USD"),  # currency mismatch
        row("b4", player, amount="1.00", status="posted"),  # wallet rolled it back
        row("rb4", player, kind="rollback", amount="1.00"),  # matched
        row("w1", player, kind="win", amount="4.00"),  # matched
        row("x9", player, amount="7.00"),  # missing in wallet
        row("x10", player, amount="6.00", status="rolled_back"),  # unknown, but moved nothing
        # b5 is not listed: missing at provider
    ]
    run = reconcile_csv(provider, csv_bytes(rows), **_window())
    assert run.status == RunStatus.FINISHED
    assert run.rows_total == 8
    assert run.counts == {
        "matched": 4,
        "amount_mismatch": 1,
        "currency_mismatch": 1,
        "missing_in_wallet": 1,
        "missing_at_provider": 1,
        "status_mismatch": 1,
        "malformed": 0,
    }
    assert run.pending == 0
    assert run.discrepancies_opened == 5
    by_txn = {d.provider_transaction_id: d for d in Discrepancy.objects.all()}
    assert {txn: d.kind for txn, d in by_txn.items()} == {
        "b2": DiscrepancyKind.AMOUNT_MISMATCH,
        "b3": DiscrepancyKind.CURRENCY_MISMATCH,
        "b4": DiscrepancyKind.STATUS_MISMATCH,
        "x9": DiscrepancyKind.MISSING_IN_WALLET,
        "b5": DiscrepancyKind.MISSING_AT_PROVIDER,
    }
    assert all(d.status == DiscrepancyStatus.OPEN for d in by_txn.values())
    assert (by_txn["b2"].provider_amount_minor, by_txn["b2"].wallet_amount_minor) == (550, 500)
    assert by_txn["b2"].drift_minor == 50
    assert (by_txn["b4"].provider_status, by_txn["b4"].wallet_status) == ("posted", "rolled_back")
    assert by_txn["x9"].wallet_id == player.wallets.get().pk  # found by player and currency
    assert by_txn["x9"].ledger_transaction_id is None
    assert by_txn["b5"].provider_amount_minor is None
    assert by_txn["b5"].wallet_amount_minor == 300
    report = ProviderReport.objects.get(run=run)
    assert ReportRow.objects.filter(report=report).count() == 9  # 8 listed + 1 ledger row

    # Drift figures for monitoring, per provider: count, total and largest.
    assert metric_sources["drift_open_discrepancies"]()[provider.pk] == 5
    assert metric_sources["drift_total_minor"]()[provider.pk] == 50 + 200 + 100 + 700 + 300
    assert metric_sources["drift_largest_minor"]()[provider.pk] == 700


def test_window_defaults_to_the_span_of_the_report(provider, scene):
    player = scene
    # Only b1 is listed; its time bounds the window, so the other ledger rows (created a little
    # later, all within a second) are outside it... unless the window is given.
    ledger_b1 = player.transactions.get(external_id="b1")
    only = [row("b1", player, amount="10.00", time=ledger_b1.created_at.isoformat())]
    run = reconcile_csv(provider, csv_bytes(only))
    assert run.counts["matched"] == 1
    report = ProviderReport.objects.get(run=run)
    assert report.period_start == report.period_end == ledger_b1.created_at
    assert run.counts["missing_at_provider"] == 0


def test_provider_rolled_back_wallet_posted_is_a_status_mismatch(provider, scene):
    run = reconcile_rows(provider, [row("b1", scene, amount="10.00", status="rolled_back")])
    assert run.counts["status_mismatch"] == 1
    d = Discrepancy.objects.get()
    assert (d.provider_status, d.wallet_status) == ("rolled_back", "posted")


def test_grace_window_pending_then_persistent(provider, scene):
    player = scene
    fresh = [
        row("late-bet", player, amount="2.00", time=ago(60)),  # in flight: arrives later
        row("never", player, amount="3.00", time=ago(60)),  # never arrives
    ]
    run = reconcile_rows(provider, fresh)
    assert run.counts["missing_in_wallet"] == 2
    assert run.pending == 2
    assert run.discrepancies_opened == 0
    assert set(Discrepancy.objects.values_list("status", flat=True)) == {"pending"}
    # Pending mismatches are not in the drift figures.
    assert selectors.drift_open_discrepancies()[provider.pk] == 0

    # The in-flight bet arrives; the next run re-checks and clears it.
    play(provider, player, bets=[("late-bet", 2_00)])
    result = services.recheck_pending()
    assert (result.cleared, result.opened, result.pending) == (1, 0, 1)
    assert Discrepancy.objects.get(provider_transaction_id="late-bet").status == "cleared"

    # The other outlives the grace window (time moved by editing its occurred_at).
    Discrepancy.objects.filter(provider_transaction_id="never").update(
        occurred_at=timezone.now() - timedelta(minutes=6)
    )
    run = services.reconcile_wallets()  # the incremental job re-checks pending ones
    assert run.discrepancies_opened == 1
    never = Discrepancy.objects.get(provider_transaction_id="never")
    assert never.status == DiscrepancyStatus.OPEN
    assert never.opened_at is not None
    assert selectors.drift_open_discrepancies()[provider.pk] == 1
    assert selectors.drift_total_minor()[provider.pk] == 300


def test_grace_window_is_per_provider(provider, scene):
    ProviderReconciliationProfile.objects.create(provider=provider, grace_seconds=30)
    run = reconcile_rows(provider, [row("x1", scene, time=ago(60))])
    assert run.pending == 0
    assert Discrepancy.objects.get().status == DiscrepancyStatus.OPEN


def test_pending_mismatch_cleared_by_next_report(provider, scene):
    player = scene
    rolled_back = row("b1", player, amount="10.00", status="rolled_back", time=ago(30))
    reconcile_rows(provider, [rolled_back])
    assert Discrepancy.objects.get().status == DiscrepancyStatus.PENDING
    run = reconcile_rows(provider, [row("b1", player, amount="10.00", time=ago(20))])
    assert run.discrepancies_cleared == 1
    assert Discrepancy.objects.get().status == DiscrepancyStatus.CLEARED


def test_same_mismatch_in_two_reports_is_one_discrepancy(provider, scene):
    reconcile_rows(provider, [row("x1", scene, amount="1.00")])
    reconcile_rows(provider, [row("x1", scene, amount="2.00")])
    d = Discrepancy.objects.get()
    assert d.provider_amount_minor == 200
    assert d.status == DiscrepancyStatus.OPEN


def test_malformed_rows_are_reported_with_line_numbers_and_the_rest_processed(provider, scene):
    player = scene
    good = [row("b1", player, amount="10.00"), row("w1", player, kind="win", amount="4.00")]
    t = ago()
    bad_lines = [
        f"x1,r,{player.external_id},bet,abc,EUR,posted,{t}",  # line 4
        f"x2,r,{player.external_id},bet,1.00,XXX,posted,{t}",  # line 5
        "x3,only,three",  # line 6
        f"x4,r,{player.external_id},bet,1.001,EUR,posted,{t}",  # line 7
        f"x5,r,{player.external_id},bet,1.00,EUR,posted,2026-01-01T10:00:00",  # line 8
        f"b1,r,{player.external_id},bet,10.00,EUR,posted,{t}",  # line 9: duplicate of line 2
        f",r,{player.external_id},bet,1.00,EUR,posted,{t}",  # line 10
        f"x6,r,{player.external_id},jackpot,1.00,EUR,posted,{t}",  # line 11
        f"x7,r,{player.external_id},bet,-1.00,EUR,posted,{t}",  # line 12
        "",  # blank line 13: skipped
        f"x8,r,{player.external_id},bet,2.00,EUR,maybe,{t}",  # line 14
    ]
    run = reconcile_csv(provider, csv_bytes(good, raw_lines=bad_lines))
    assert run.status == RunStatus.FINISHED
    assert run.counts["matched"] == 2
    assert run.counts["malformed"] == 10
    report = ProviderReport.objects.get(run=run)
    assert (report.rows_total, report.rows_malformed) == (12, 10)
    errors = dict(
        ReportRow.objects.filter(report=report, outcome="malformed").values_list("line_no", "error")
    )
    assert sorted(errors) == [4, 5, 6, 7, 8, 9, 10, 11, 12, 14]
    assert errors[4].startswith("amount:")
    assert errors[5] == "currency: unknown ISO 4217 code"
    assert errors[6] == "expected 8 fields, found 3"
    assert errors[7] == "amount: EUR amounts have at most 2 decimals"
    assert errors[8].startswith("time: needs a UTC offset")
    assert errors[9] == "duplicate transaction_id: first listed at line 2"
    assert errors[10] == "transaction_id: missing"
    assert errors[11].startswith("kind:")
    assert errors[12].startswith("amount:")
    assert errors[14].startswith("status:")
    raw = ReportRow.objects.get(report=report, line_no=6).raw
    assert raw == "x3,only,three"
    # Malformed rows are never discrepancies.
    assert not Discrepancy.objects.exists()


def test_csv_line_numbers_follow_quoted_newlines(provider, scene):
    t = ago()
    data = (
        "transaction_id,round_id,player,kind,amount,currency,status,time\n"
        f'b1,"round\nwith newline",{scene.external_id},bet,10.00,EUR,posted,{t}\n'
        f"x1,r,{scene.external_id},bet,zz,EUR,posted,{t}\n"
    ).encode()
    run = reconcile_csv(provider, data)
    assert run.counts["matched"] == 1
    bad = ReportRow.objects.get(outcome="malformed")
    assert bad.line_no == 4


def test_unknown_provider_transactions_of_other_providers_do_not_match(provider, scene):
    other, _ = factories.make_provider("other")
    run = reconcile_rows(other, [row("b1", scene, amount="10.00")])
    assert run.counts["missing_in_wallet"] == 1


def test_a_report_that_fails_midway_is_kept_with_a_failed_run(provider, scene):
    """The rows stop coming halfway (here a reader error): the run is recorded as failed with
    the error, the report itself is kept, and nothing of the half-read rows stays behind (no
    report rows, no discrepancies). Sent again, it reconciles."""
    player = scene
    rows = [row("b1", player, amount="10.00"), row("x9", player, amount="7.00")]

    def breaks_after_first_row():
        yield from parsing.iter_objects(rows[:1])
        raise OSError("connection reset while reading the report")

    with pytest.raises(OSError):
        services.reconcile_provider_report(
            provider=provider, rows=breaks_after_first_row(), report_format="json"
        )
    report = ProviderReport.objects.get()
    assert (report.run.status, report.run.error) == (
        RunStatus.FAILED,
        "OSError: connection reset while reading the report",
    )
    assert report.run.finished_at is not None
    assert not ReportRow.objects.exists()
    assert not Discrepancy.objects.exists()

    again = reconcile_rows(provider, rows)
    assert again.status == RunStatus.FINISHED
    assert again.counts["missing_in_wallet"] == 1
