"""Internal reconciliation at flat cost: each wallet's balance is proven at a ledger position
(its checkpoint), and an incremental run reads only the rows written after it and the rows
still held then, never the wallet's whole history, while finding exactly what a full run
finds."""

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation import services
from reconciliation.choices import DiscrepancyKind
from reconciliation.models import Discrepancy, WalletCheckpoint
from tests import factories
from wallets import hooks, ledger
from wallets.errors import WalletError
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def holds_on_request(monkeypatch):
    """No other app's hooks; payments of an odd number of minor units are held, as a fraud
    rule would hold them."""

    def screener(request: hooks.ScreeningRequest) -> hooks.Screening:
        if request.kind in ("deposit", "withdrawal") and request.amount_minor % 2:
            return hooks.Screening(action="hold", hits=({"rule": "test"},))
        return hooks.ALLOW_ALL

    monkeypatch.setattr(hooks, "screener", screener)
    monkeypatch.setattr(hooks, "ledger_listeners", [])
    monkeypatch.setattr(hooks, "decline_recorders", [])


HELD = 1  # added to an even amount: the payment is held


def wallet_of(player) -> Wallet:
    return Wallet.objects.get(player=player, currency="EUR")


def ledger_balance(wallet: Wallet) -> int:
    """The wallet's balance summed from every ledger row: what the checkpoint must agree with."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(delta_minor) FILTER (WHERE status IN ('posted', 'rolled_back') "
            "OR (status = 'held' AND delta_minor > 0)), 0) FROM wallets_transaction "
            "WHERE wallet_id = %s",
            [wallet.pk],
        )
        return cursor.fetchone()[0]


def corrupt(wallet: Wallet, delta: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_wallet SET balance_minor = balance_minor + %s, updated_at = now() "
            "WHERE id = %s",
            [delta, wallet.pk],
        )


def rows_after_checkpoint(wallet: Wallet) -> int:
    checkpoint = WalletCheckpoint.objects.get(wallet=wallet)
    return Transaction.objects.filter(wallet=wallet, pk__gt=checkpoint.last_id).count() + len(
        checkpoint.held_ids
    )


def test_a_run_proves_each_consistent_wallet_at_its_latest_row(provider):
    player = factories.funded_player(50_00)
    session, _ = factories.open_session(player, provider)
    for n in range(5):
        ledger.bet(
            provider=provider, session=session, transaction_id=f"b{n}", round_id=f"r{n}",
            amount_minor=1_00, currency="EUR",
        )  # fmt: skip
    wallet = wallet_of(player)

    services.reconcile_wallets()

    checkpoint = WalletCheckpoint.objects.get(wallet=wallet)
    assert checkpoint.last_id == Transaction.objects.filter(wallet=wallet).latest("pk").pk
    assert checkpoint.settled_minor == ledger_balance(wallet) == 45_00
    assert checkpoint.held_ids == []
    assert rows_after_checkpoint(wallet) == 0


def test_the_next_incremental_run_starts_at_the_checkpoint_and_still_finds_drift(provider):
    player = factories.funded_player(50_00)
    wallet = wallet_of(player)
    services.reconcile_wallets()
    ledger.deposit(player=player, currency="EUR", amount_minor=5_00, external_id="d2")
    assert rows_after_checkpoint(wallet) == 1
    corrupt(wallet, 3_00)

    run = services.reconcile_wallets()

    assert run.counts["balance_drift"] == 1
    drift = Discrepancy.objects.get(kind=DiscrepancyKind.BALANCE_DRIFT)
    assert (drift.cached_minor, drift.expected_minor) == (58_00, 55_00)
    # A drifting wallet is not proven at its new position: the checkpoint stays.
    assert rows_after_checkpoint(wallet) == 1


def test_a_hold_decided_after_the_checkpoint_counts_as_decided(provider):
    """Held rows are remembered by the checkpoint: their contribution changes when staff
    decide them, after the position was proven."""
    player = factories.funded_player(100_00)
    wallet = wallet_of(player)
    withdrawal = ledger.withdraw(
        player=player, currency="EUR", amount_minor=30_00 + HELD, external_id="w1"
    ).transaction
    deposit = ledger.deposit(
        player=player, currency="EUR", amount_minor=20_00 + HELD, external_id="d1"
    ).transaction
    services.reconcile_wallets()
    checkpoint = WalletCheckpoint.objects.get(wallet=wallet)
    assert sorted(checkpoint.held_ids) == sorted([withdrawal.pk, deposit.pk])

    approver = factories.UserFactory()
    ledger.decide_hold(transaction_id=withdrawal.pk, approve=True, actor=approver)
    ledger.decide_hold(transaction_id=deposit.pk, approve=False, actor=approver)
    run = services.reconcile_wallets()

    assert run.counts["matched"] == 1
    assert not Discrepancy.objects.exists()
    checkpoint.refresh_from_db()
    assert checkpoint.held_ids == []
    assert checkpoint.settled_minor == ledger_balance(wallet) == 70_00 - HELD
    assert wallet_of(player).balance_minor == 70_00 - HELD


def test_an_old_row_edited_behind_the_checkpoint_is_left_to_the_full_run(provider):
    """What the incremental run no longer reads, the daily full run (and the ledger's hash
    chain) still does."""
    player = factories.funded_player(50_00)
    wallet = wallet_of(player)
    services.reconcile_wallets()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE wallets_transaction SET delta_minor = 4000 WHERE wallet_id = %s", [wallet.pk]
        )
    corrupt(wallet, 0)  # written since: the incremental run looks at it

    assert services.reconcile_wallets().counts["balance_drift"] == 0
    assert services.reconcile_wallets(full=True).counts["balance_drift"] == 1


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "held deposit", "withdraw", "held withdraw", "decide", "bet",
                         "win", "rollback", "reconcile"]),
        st.integers(1, 3_000),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)  # fmt: skip


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(OPERATIONS)
def test_incremental_runs_between_any_operations_agree_with_the_whole_ledger(provider, operations):
    player = factories.funded_player(20_00)
    wallet = wallet_of(player)
    session, _ = factories.open_session(player, provider)
    approver = factories.UserFactory()
    bets: list[str] = []
    for n, (operation, amount, flag) in enumerate(operations):
        try:
            payment = 2 * amount + (HELD if operation.startswith("held") else 0)
            if operation.endswith("deposit"):
                ledger.deposit(
                    player=player, currency="EUR", amount_minor=payment, external_id=f"d{n}"
                )
            elif operation.endswith("withdraw"):
                ledger.withdraw(
                    player=player, currency="EUR", amount_minor=payment, external_id=f"w{n}"
                )
            elif operation == "decide":
                held = Transaction.objects.filter(wallet=wallet, status="held").first()
                if held is not None:
                    ledger.decide_hold(transaction_id=held.pk, approve=flag, actor=approver)
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
            elif operation == "reconcile":
                run = services.reconcile_wallets(full=flag and n % 3 == 0)
                assert run.counts["matched"] == run.wallets_checked
        except WalletError:
            pass  # refused: changes nothing
    run = services.reconcile_wallets()
    assert run.counts["matched"] == run.wallets_checked
    checkpoint = WalletCheckpoint.objects.get(wallet=wallet)
    held = Transaction.objects.filter(wallet=wallet, status="held")
    assert sorted(checkpoint.held_ids) == sorted(held.values_list("pk", flat=True))
    held_credit = sum(t.delta_minor for t in held if t.delta_minor > 0)
    assert checkpoint.settled_minor + held_credit == ledger_balance(wallet)
    assert ledger_balance(wallet) == wallet_of(player).balance_minor
