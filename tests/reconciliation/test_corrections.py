"""Resolution of discrepancies: corrections with four eyes, closing with an explanation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reconciliation import services
from reconciliation.choices import CorrectionStatus, DiscrepancyStatus
from reconciliation.models import Discrepancy
from tests import factories
from tests.reconciliation.helpers import age_ledger, play, reconcile_rows, row
from wallets.errors import FourEyesRequired, NotAllowed, ValidationFailed
from wallets.models import AuditRecord, Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return (
        factories.UserFactory(groups=["back_office"]),
        factories.UserFactory(groups=["back_office"]),
    )


@pytest.fixture
def gambler(provider):
    player = factories.funded_player(100_00)
    play(provider, player, bets=[("b1", 10_00)])
    age_ledger(3600)
    return player


def _balance(player) -> int:
    return player.wallets.get().balance_minor


def test_missing_bet_is_posted_only_when_a_second_user_approves(provider, gambler, staff):
    alice, bob = staff
    reconcile_rows(provider, [row("x9", gambler, amount="7.00")])
    d = Discrepancy.objects.get()
    assert services.suggested_correction_minor(d) == -7_00

    correction = services.propose_correction(discrepancy=d, actor=alice, reason="bet x9 lost")
    assert correction.status == CorrectionStatus.PROPOSED
    assert _balance(gambler) == 90_00  # nothing posted yet

    with pytest.raises(FourEyesRequired):
        services.approve_correction(discrepancy=d, actor=alice)
    assert _balance(gambler) == 90_00
    assert not Transaction.objects.filter(kind="adjustment").exists()

    services.approve_correction(discrepancy=d, actor=bob, reason="checked with provider")
    assert _balance(gambler) == 83_00
    adjustment = Transaction.objects.get(kind="adjustment")
    assert adjustment.external_id == f"discrepancy-{d.pk}"
    assert adjustment.delta_minor == -7_00
    assert (adjustment.created_by, adjustment.approved_by) == (alice, bob)
    d.refresh_from_db()
    correction.refresh_from_db()
    assert d.status == DiscrepancyStatus.CORRECTED
    assert d.resolved_by == bob
    assert correction.status == CorrectionStatus.APPROVED
    assert correction.adjustment == adjustment
    actions = list(
        AuditRecord.objects.filter(target_id=str(d.pk), action__startswith="reconciliation.")
        .order_by("id")
        .values_list("action", "actor_label")
    )
    assert actions == [
        ("reconciliation.correction_proposed", alice.username),
        ("reconciliation.correction_approved", bob.username),
    ]
    # The wallet still agrees with its ledger after the correction.
    run = services.reconcile_wallets(full=True)
    assert run.counts["balance_drift"] == 0


def test_double_credit_is_reversed_referencing_the_ledger_row(provider, gambler, staff):
    alice, bob = staff
    # The provider says b1 was rolled back; the wallet kept the stake: give it back.
    reconcile_rows(provider, [row("b1", gambler, amount="10.00", status="rolled_back")])
    d = Discrepancy.objects.get()
    assert services.suggested_correction_minor(d) == 10_00
    services.propose_correction(discrepancy=d, actor=alice, reason="refund b1")
    services.approve_correction(discrepancy=d, actor=bob)
    adjustment = Transaction.objects.get(kind="adjustment")
    assert adjustment.reference == Transaction.objects.get(external_id="b1")
    assert _balance(gambler) == 100_00


def test_missing_at_provider_win_is_reversed(provider, staff):
    alice, bob = staff
    player = factories.funded_player(10_00)
    play(provider, player, wins=[("w-dup", 5_00)])
    age_ledger(3600)
    # A report for the last two hours that does not list the win.
    reconcile_rows(
        provider,
        [],
        period_start=timezone.now() - timedelta(hours=2),
        period_end=timezone.now(),
    )
    d = Discrepancy.objects.get(provider_transaction_id="w-dup")
    assert d.kind == "missing_at_provider"
    services.propose_correction(discrepancy=d, actor=alice, reason="double credit")
    services.approve_correction(discrepancy=d, actor=bob)
    assert _balance(player) == 10_00


def test_explicit_amount_and_one_proposal_at_a_time(provider, gambler, staff):
    alice, _ = staff
    reconcile_rows(provider, [row("b1", gambler, amount="10.00", currency="USD")])
    d = Discrepancy.objects.get()
    assert d.kind == "currency_mismatch"
    with pytest.raises(ValidationFailed):  # no safe suggestion for a currency mismatch
        services.propose_correction(discrepancy=d, actor=alice, reason="?")
    services.propose_correction(discrepancy=d, actor=alice, reason="manual", delta_minor=1_00)
    with pytest.raises(NotAllowed):
        services.propose_correction(discrepancy=d, actor=alice, reason="again", delta_minor=1)


def test_close_with_explanation_cancels_the_proposal(provider, gambler, staff):
    alice, bob = staff
    reconcile_rows(provider, [row("x9", gambler, amount="7.00")])
    d = Discrepancy.objects.get()
    services.propose_correction(discrepancy=d, actor=alice, reason="post it")
    with pytest.raises(ValidationFailed):
        services.close_discrepancy(discrepancy=d, actor=bob, reason="  ")
    services.close_discrepancy(discrepancy=d, actor=bob, reason="provider test transaction")
    d.refresh_from_db()
    assert d.status == DiscrepancyStatus.CLOSED
    assert d.resolution_note == "provider test transaction"
    assert d.corrections.get().status == CorrectionStatus.CANCELLED
    with pytest.raises(NotAllowed):
        services.approve_correction(discrepancy=d, actor=bob)
    assert _balance(gambler) == 90_00
    audit = AuditRecord.objects.get(action="reconciliation.discrepancy_closed")
    assert audit.reason == "provider test transaction"
    assert audit.before["status"] == "open" and audit.after["status"] == "closed"


def test_pending_discrepancy_cannot_be_corrected(provider, gambler, staff):
    from tests.reconciliation.helpers import ago

    reconcile_rows(provider, [row("x9", gambler, amount="7.00", time=ago(10))])
    d = Discrepancy.objects.get()
    assert d.status == DiscrepancyStatus.PENDING
    with pytest.raises(NotAllowed):
        services.propose_correction(discrepancy=d, actor=staff[0], reason="too early")


def test_wallet_drift_is_closed_not_corrected(provider, staff):
    from django.db import connection

    player = factories.funded_player(10_00)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_wallet SET balance_minor = balance_minor + 1 WHERE player_id = %s",
            [player.pk],
        )
    services.reconcile_wallets(full=True)
    d = Discrepancy.objects.get()
    with pytest.raises(NotAllowed):
        services.propose_correction(discrepancy=d, actor=staff[0], reason="fix", delta_minor=-1)
    services.close_discrepancy(discrepancy=d, actor=staff[0], reason="cache repaired by ops")
    d.refresh_from_db()
    assert d.status == DiscrepancyStatus.CLOSED


# --- the suggested correction: direction and amount per mismatch ---------------------------------


@pytest.fixture
def played(provider):
    """A player with a bet b1 (10.00), a win w1 (4.00, in b1's round) and a rolled-back bet b2
    (5.00), one hour old: (player, balance after them)."""
    from wallets import ledger

    player = factories.funded_player(100_00)
    session = play(provider, player, bets=[("b1", 10_00), ("b2", 5_00)], wins=[("w1", 4_00)])
    ledger.rollback(
        provider=provider, session=session, transaction_id="rb2",
        reference_transaction_id="b2", round_id="r-b2",
    )  # fmt: skip
    age_ledger(3600)
    return player, 94_00


@pytest.mark.parametrize(
    ("listed", "kind", "suggested"),
    [
        # The wallet never saw it: a bet is taken, a win paid.
        (dict(txn_id="x-bet", amount="7.00"), "missing_in_wallet", -7_00),
        (dict(txn_id="x-win", kind="win", amount="7.00"), "missing_in_wallet", 7_00),
        # The provider booked more than the wallet: a bet takes the difference, a win pays it;
        # and less: a bet gives it back, a win takes it back.
        (dict(txn_id="b1", amount="10.50"), "amount_mismatch", -50),
        (dict(txn_id="w1", kind="win", amount="4.50"), "amount_mismatch", 50),
        (dict(txn_id="b1", amount="9.00"), "amount_mismatch", 1_00),
        (dict(txn_id="w1", kind="win", amount="3.00"), "amount_mismatch", -1_00),
        # The wallet rolled the bet back, the provider says it stands: take the stake again.
        (dict(txn_id="b2", amount="5.00"), "status_mismatch", -5_00),
        # The provider rolled it back, the wallet kept it: refund a bet, take back a win.
        (dict(txn_id="b1", amount="10.00", status="rolled_back"), "status_mismatch", 10_00),
        (dict(txn_id="w1", kind="win", amount="4.00", status="rolled_back"),
         "status_mismatch", -4_00),
    ],
)  # fmt: skip
def test_the_suggested_correction_makes_the_wallet_agree_with_the_provider(
    provider, played, staff, listed, kind, suggested
):
    """Each suggestion, approved, moves the balance by exactly the difference the provider's
    report shows, in the right direction."""
    player, balance = played
    alice, bob = staff
    listed = dict(listed)
    reconcile_rows(provider, [row(listed.pop("txn_id"), player, **listed)])
    d = Discrepancy.objects.get()
    assert d.kind == kind
    assert services.suggested_correction_minor(d) == suggested

    services.propose_correction(discrepancy=d, actor=alice, reason="as the provider booked it")
    services.approve_correction(discrepancy=d, actor=bob)
    assert _balance(player) == balance + suggested
    assert Transaction.objects.get(kind="adjustment").delta_minor == suggested


def test_no_suggestion_to_reverse_a_row_the_wallet_already_undid(provider, played, staff):
    """Missing at provider, but the wallet rolled it back already: nothing stands to reverse,
    so no suggestion (a person decides), and an explicit amount is still accepted."""
    player, _ = played
    reconcile_rows(
        provider,
        [row("b1", player, amount="10.00"), row("w1", player, kind="win", amount="4.00")],
        period_start=timezone.now() - timedelta(hours=2),
        period_end=timezone.now(),
    )
    b2 = Discrepancy.objects.get(provider_transaction_id="b2")
    assert (b2.kind, b2.wallet_status) == ("missing_at_provider", "rolled_back")
    assert services.suggested_correction_minor(b2) is None
    with pytest.raises(ValidationFailed):
        services.propose_correction(discrepancy=b2, actor=staff[0], reason="?")
    services.propose_correction(discrepancy=b2, actor=staff[0], reason="by hand", delta_minor=1)


def test_a_correction_the_ledger_refuses_changes_nothing_and_stays_proposed(provider, staff):
    """The bet the wallet missed is larger than what the player has left: the ledger refuses
    the debit at approval. Nothing is posted, the correction still awaits approval, the
    discrepancy stays open, no approval is audited; once funds arrive it goes through."""
    from wallets import ledger
    from wallets.errors import InsufficientFunds

    alice, bob = staff
    player = factories.funded_player(5_00)
    reconcile_rows(provider, [row("x-big", player, amount="7.00")])
    d = Discrepancy.objects.get()
    correction = services.propose_correction(discrepancy=d, actor=alice, reason="bet x-big lost")

    with pytest.raises(InsufficientFunds):
        services.approve_correction(discrepancy=d, actor=bob)
    d.refresh_from_db()
    correction.refresh_from_db()
    assert d.status == DiscrepancyStatus.OPEN
    assert (correction.status, correction.approved_by, correction.adjustment) == (
        CorrectionStatus.PROPOSED,
        None,
        None,
    )
    assert _balance(player) == 5_00
    assert not Transaction.objects.filter(kind="adjustment").exists()
    assert not AuditRecord.objects.filter(action="reconciliation.correction_approved").exists()

    ledger.deposit(player=player, currency="EUR", amount_minor=5_00, external_id="top-up")
    services.approve_correction(discrepancy=d, actor=bob)
    assert _balance(player) == 3_00
    d.refresh_from_db()
    assert d.status == DiscrepancyStatus.CORRECTED
