"""Real-time rules are exact under concurrency: the figures a rule decides on are committed
state read under the wallet lock of the call it judges, so N calls sent at once are judged as
N calls in a row would be. Each test races real threads (each with its own database
connection) through the ledger with the fraud app's hooks installed as in production, and
then checks every decision against the order in which the calls took the lock (their ledger
row ids)."""

import pytest
from django.db import connection

from fraud import screening, services
from fraud.choices import RuleKind
from fraud.models import Case, FraudRule
from tests import factories
from tests.wallets.test_ledger_concurrency import run_in_threads
from wallets import ledger
from wallets.choices import TransactionKind, TransactionStatus
from wallets.errors import BetDeclined
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _default_rules():
    """The seeded rules (a transactional test before this one may have flushed them); after
    the test, the baseline writer thread has written its queue and stopped, so nothing writes
    while the test database is emptied."""
    services.ensure_default_rules()
    screening.invalidate_rule_cache()
    yield
    screening.baseline_writer.stop()


def _set_rule(key: str, **parameters) -> None:
    rule = FraudRule.objects.get(key=key)
    services.update_rule(
        rule=rule, actor=factories.UserFactory(is_superuser=True), parameters=parameters
    )


def test_twelve_withdrawals_at_once_against_five_per_hour_pay_five_and_hold_seven():
    player = factories.funded_player(1_000_00)
    wallet_pk = Wallet.objects.get(player=player).pk
    outcomes: list[str] = []

    def withdrawal(n: int):
        def work(start):
            start()
            result = ledger.withdraw(
                player=player, currency="EUR", amount_minor=10_00, external_id=f"race-wd-{n}"
            )
            outcomes.append(result.transaction.status)

        return work

    run_in_threads([withdrawal(n) for n in range(12)])

    assert sorted(outcomes) == ["held"] * 7 + ["posted"] * 5
    rows = list(
        Transaction.objects.filter(wallet_id=wallet_pk, kind=TransactionKind.WITHDRAWAL).order_by(
            "id"
        )
    )
    # In lock order: the first five paid out, every later one held.
    assert [row.status for row in rows] == ["posted"] * 5 + ["held"] * 7
    wallet = Wallet.objects.get(pk=wallet_pk)
    assert (wallet.balance_minor, wallet.reserved_minor) == (950_00, 70_00)
    held_cases = Case.objects.filter(transaction__in=rows[5:])
    assert held_cases.count() == 7
    assert all(RuleKind.WITHDRAWAL_VELOCITY in case.rule_keys for case in held_cases)


def test_a_withdrawal_racing_small_deposits_is_held_exactly_when_three_came_first():
    """Rapid deposits: three small deposits and a large withdrawal sent at once. Whatever the
    order the lock gives them, the withdrawal is held if and only if all three deposits were
    booked before it."""
    _set_rule(RuleKind.WITHDRAWAL_VELOCITY, max_withdrawals=19)
    seen = []
    for attempt in range(4):
        player = factories.funded_player(500_00)
        # The seed deposit is large: it is no "small deposit".
        wallet_pk = Wallet.objects.get(player=player).pk

        def deposit(n: int, player=player, attempt=attempt):
            def work(start):
                start()
                ledger.deposit(
                    player=player,
                    currency="EUR",
                    amount_minor=5_00,
                    external_id=f"race-dep-{attempt}-{n}",
                )

            return work

        def withdrawal(start, player=player, attempt=attempt):
            start()
            ledger.withdraw(
                player=player,
                currency="EUR",
                amount_minor=150_00,
                external_id=f"race-big-wd-{attempt}",
            )

        run_in_threads([deposit(n) for n in range(3)] + [withdrawal])
        rows = list(Transaction.objects.filter(wallet_id=wallet_pk).order_by("id"))
        kinds = [row.kind for row in rows[1:]]  # after the seed deposit
        cashout = next(row for row in rows if row.kind == TransactionKind.WITHDRAWAL)
        deposits_before = kinds.index(TransactionKind.WITHDRAWAL)
        expected = TransactionStatus.HELD if deposits_before == 3 else TransactionStatus.POSTED
        assert cashout.status == expected, kinds
        seen.append(deposits_before)
    # (which orders the lock gave is up to the scheduler; each one was judged exactly)
    assert all(0 <= n <= 3 for n in seen)


def test_a_high_stake_bet_is_judged_on_the_bets_booked_before_it():
    """Twenty small bets of history, then bets sent at once: the large ones right after login
    are declined against the history committed before each of them, never against a stale
    copy. All the small ones pass."""
    _set_rule(
        RuleKind.HIGH_STAKE_AFTER_LOGIN,
        min_history_bets=20,
        stake_multiple=10,
        min_stake_minor=50_00,
        within_seconds=3600,
    )
    provider, _ = factories.make_provider()
    player = factories.funded_player(10_000_00)
    session, _ = factories.open_session(player, provider)
    session = ledger.authenticate(provider=provider, session=session)
    for n in range(20):
        ledger.bet(
            provider=provider,
            session=session,
            transaction_id=f"hist-{n}",
            round_id=f"hist-r{n}",
            amount_minor=5_00,
            currency="EUR",
        )
    declined: list[int] = []

    def bet(n: int, amount_minor: int):
        def work(start):
            start()
            try:
                ledger.bet(
                    provider=provider,
                    session=session,
                    transaction_id=f"race-bet-{n}",
                    round_id=f"race-r{n}",
                    amount_minor=amount_minor,
                    currency="EUR",
                )
            except BetDeclined:
                declined.append(n)

        return work

    run_in_threads([bet(n, 100_00) for n in range(4)] + [bet(10 + n, 1_00) for n in range(4)])

    # Typical stake 5.00; 100.00 is 20 times it: every large bet is declined, in any order; a
    # small bet booked in between only lowers the typical stake.
    assert sorted(declined) == [0, 1, 2, 3]
    assert Case.objects.filter(kind="decline", player=player).count() == 4
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM wallets_transaction WHERE player_id = %s AND kind = 'bet'",
            [player.pk],
        )
        assert cursor.fetchone()[0] == 24
