"""A hypothesis state machine drives the ledger with random sequences of money calls and checks
after every step that the wallet equals a small in-Python model and that the ledger-sum
invariant holds.

Each example starts clean: `initialize` creates a fresh provider (provider-scoped transaction
ids cannot collide) and a fresh player; payment ids carry a random prefix.
"""

import itertools
import os
import uuid

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from fraud.models import PlayerBaseline
from tests import factories
from tests.wallets.test_ledger import ledger_discrepancies, quiet_hooks  # noqa: F401
from wallets import ledger
from wallets.choices import SessionEndReason, SessionStatus, TransactionStatus
from wallets.errors import (
    BetSettled,
    DuplicateMismatch,
    InsufficientFunds,
    SessionExpired,
    SessionLimit,
    TransactionRolledBack,
)
from wallets.models import GameSession, Provider, Transaction, Wallet

MAX_SESSIONS = 3
# Shrinking a failure to a minimal sequence can take Hypothesis up to five minutes against a
# real database; it is off by default (the failing steps are printed unshrunk) and turned on
# with HYPOTHESIS_SHRINK=1 when investigating.
PHASES = [p for p in Phase if p != Phase.shrink or os.environ.get("HYPOTHESIS_SHRINK")]
_machines = itertools.count(1)

amounts = st.integers(min_value=1, max_value=40_00)
# fraud.rules: withdrawals allowed within the hour before the next ones are held.
VELOCITY_LIMIT = 5
buy_ins = st.sampled_from([0, 0, 5_00, 20_00, 60_00])
picks = st.integers(min_value=0, max_value=10_000)  # an index into a list, modulo its length


class LedgerMachine(RuleBasedStateMachine):
    @initialize(seed=st.sampled_from([0, 50_00, 100_00]), buy_in=st.sampled_from([0, 10_00, 30_00]))
    def fresh_player_and_provider(self, seed, buy_in):
        n = next(_machines)
        self.tag = f"m{n}-{uuid.uuid4().hex[:8]}"
        self.provider, _ = factories.make_provider(
            f"stateful-{self.tag}", max_sessions_per_player=MAX_SESSIONS
        )
        self.player = factories.make_player(external_id=f"player-{self.tag}")
        self.wallet_pk = Wallet.objects.get(player=self.player, currency="EUR").pk
        self.ids = itertools.count(1)
        # The model.
        self.balance = 0
        self.reserved = 0
        self.sessions: list[dict] = []  # {"pk", "open", "reserved"}
        self.bets: dict[str, dict] = {}  # bet id -> {"amount", "used", "session", "status"}
        # Applied ids and how to call them again: id -> (operation, kwargs, transaction pk).
        self.applied: dict[str, tuple[str, dict, int]] = {}
        self.withdrawals_booked = 0  # posted or held: what the withdrawal velocity rule counts
        # Most examples start with money and a session, so the interesting rules run early.
        if seed:
            self.deposit(seed)
            self.open_session(min(buy_in, seed))
            if self.capture is not None:
                # Production's hooks: reach the withdrawal velocity limit at once (the last
                # of these is held), so every such example meets the rule.
                for _ in range(VELOCITY_LIMIT + 1):
                    self.withdraw(1)

    # --- helpers ---------------------------------------------------------------------------

    @property
    def available(self) -> int:
        return self.balance - self.reserved

    def new_id(self, kind: str) -> str:
        return f"{kind}-{self.tag}-{next(self.ids)}"

    def session_obj(self, index: int) -> GameSession:
        return GameSession.objects.get(pk=self.sessions[index]["pk"])

    # With production's hooks (see the test below): django_capture_on_commit_callbacks, so
    # that the after-commit listeners of each call run inside the test's transaction.
    capture = None

    def call(self, operation: str, kwargs: dict):
        kwargs = dict(kwargs)
        if "session_no" in kwargs:
            kwargs["session"] = self.session_obj(kwargs.pop("session_no"))
        if operation in ("bet", "win", "rollback"):
            kwargs["provider"] = self.provider
        if operation in ("deposit", "withdraw"):
            kwargs["player"] = self.player
        if self.capture is None:
            return getattr(ledger, operation)(**kwargs)
        with self.capture(execute=True):
            return getattr(ledger, operation)(**kwargs)

    def apply(self, operation: str, kwargs: dict, external_id: str, duplicate=False):
        result = self.call(operation, kwargs)
        assert result.duplicate is duplicate
        self.applied[external_id] = (operation, kwargs, result.transaction.pk)
        return result

    def refused(self, error, operation: str, kwargs: dict) -> None:
        rows = Transaction.objects.filter(wallet_id=self.wallet_pk).count()
        with pytest.raises(error):
            self.call(operation, kwargs)
        assert Transaction.objects.filter(wallet_id=self.wallet_pk).count() == rows

    # --- payments ------------------------------------------------------------------------------

    @rule(amount=amounts)
    def deposit(self, amount):
        external_id = self.new_id("dep")
        kwargs = {"currency": "EUR", "amount_minor": amount, "external_id": external_id}
        self.apply("deposit", kwargs, external_id)
        self.balance += amount

    @rule(amount=amounts)
    def withdraw(self, amount):
        external_id = self.new_id("wd")
        kwargs = {"currency": "EUR", "amount_minor": amount, "external_id": external_id}
        if self.available < amount:
            self.refused(InsufficientFunds, "withdraw", kwargs)
            return
        result = self.apply("withdraw", kwargs, external_id)
        self.withdrawals_booked += 1
        if self.capture is not None and self.withdrawals_booked > VELOCITY_LIMIT:
            # Production's withdrawal velocity rule: past its limit within the hour, held
            # (reserved until staff decide), not paid out.
            assert result.transaction.status == TransactionStatus.HELD
            self.reserved += amount
            return
        assert result.transaction.status == TransactionStatus.POSTED
        self.balance -= amount

    # --- sessions ------------------------------------------------------------------------------

    @rule(buy_in=buy_ins)
    def open_session(self, buy_in):
        open_count = sum(s["open"] for s in self.sessions)
        kwargs = dict(
            player=self.player, provider=self.provider, currency="EUR", buy_in_minor=buy_in
        )
        if open_count >= MAX_SESSIONS:
            with pytest.raises(SessionLimit):
                ledger.open_session(**kwargs)
            return
        if self.available < buy_in:
            with pytest.raises(InsufficientFunds):
                ledger.open_session(**kwargs)
            return
        session, _ = ledger.open_session(**kwargs)
        self.sessions.append({"pk": session.pk, "open": True, "reserved": buy_in})
        self.reserved += buy_in

    @precondition(lambda self: self.sessions)
    @rule(pick=picks)
    def end_session(self, pick):
        index = pick % len(self.sessions)
        model = self.sessions[index]
        _, changed = ledger.end_session(
            session=self.session_obj(index),
            status=SessionStatus.CLOSED,
            reason=SessionEndReason.GRACEFUL,
            missing_ok=True,
        )
        assert changed is model["open"]
        if model["open"]:
            self.reserved -= model["reserved"]
            model["open"], model["reserved"] = False, 0

    # --- bets, wins, rollbacks -------------------------------------------------------------------

    @precondition(lambda self: self.sessions)
    @rule(pick=picks, amount=amounts)
    def bet(self, pick, amount):
        index = pick % len(self.sessions)
        model = self.sessions[index]
        bet_id = self.new_id("bet")
        kwargs = dict(
            session_no=index,
            transaction_id=bet_id,
            round_id=f"round-{bet_id}",
            amount_minor=amount,
            currency="EUR",
        )
        if not model["open"]:
            self.refused(SessionExpired, "bet", kwargs)
            return
        from_reservation = min(model["reserved"], amount)
        if self.available < amount - from_reservation:
            self.refused(InsufficientFunds, "bet", kwargs)
            return
        result = self.apply("bet", kwargs, bet_id)
        assert result.transaction.reserved_used_minor == from_reservation
        self.balance -= amount
        self.reserved -= from_reservation
        model["reserved"] -= from_reservation
        self.bets[bet_id] = {
            "amount": amount,
            "used": from_reservation,
            "session": index,
            "status": TransactionStatus.POSTED,
        }

    @precondition(lambda self: self.bets)
    @rule(pick=picks, amount=st.integers(min_value=0, max_value=40_00), closes=st.booleans())
    def win_in_a_bets_round(self, pick, amount, closes):
        """A win settling a bet's round: always paid, whatever the session's state now, unless
        the round's only bet was rolled back (then its round is cancelled: nothing is paid)."""
        bet_id = sorted(self.bets)[pick % len(self.bets)]
        win_id = self.new_id("win")
        kwargs = dict(
            session_no=self.bets[bet_id]["session"],
            transaction_id=win_id,
            round_id=f"round-{bet_id}",
            amount_minor=amount,
            currency="EUR",
            round_closed=closes,
        )
        if self.bets[bet_id]["status"] == TransactionStatus.ROLLED_BACK:
            self.refused(TransactionRolledBack, "win", kwargs)
            return
        self.apply("win", kwargs, win_id)
        self.balance += amount
        self.bets[bet_id]["settled"] = True

    @precondition(lambda self: self.sessions)
    @rule(pick=picks, amount=st.integers(min_value=0, max_value=40_00))
    def free_spin_win(self, pick, amount):
        """A win with no bet in its round: needs an open session."""
        index = pick % len(self.sessions)
        win_id = self.new_id("win")
        kwargs = dict(
            session_no=index,
            transaction_id=win_id,
            round_id=f"round-{win_id}",
            amount_minor=amount,
            currency="EUR",
        )
        if not self.sessions[index]["open"]:
            self.refused(SessionExpired, "win", kwargs)
            return
        self.apply("win", kwargs, win_id)
        self.balance += amount

    @precondition(lambda self: self.bets and self.sessions)
    @rule(pick=picks, via=picks)
    def rollback_known_bet(self, pick, via):
        bet_id = sorted(self.bets)[pick % len(self.bets)]
        bet = self.bets[bet_id]
        rollback_id = self.new_id("rb")
        kwargs = dict(
            session_no=via % len(self.sessions),  # any session of the player may carry it
            transaction_id=rollback_id,
            reference_transaction_id=bet_id,
            round_id=f"round-{bet_id}",
        )
        if bet["status"] == TransactionStatus.ROLLED_BACK:
            result = self.apply("rollback", kwargs, rollback_id, duplicate=True)
            assert result.transaction.delta_minor == 0
            return
        if bet.get("settled"):  # its round paid a win
            self.refused(BetSettled, "rollback", kwargs)
            return
        result = self.apply("rollback", kwargs, rollback_id)
        assert result.transaction.delta_minor == bet["amount"]
        self.balance += bet["amount"]
        session = self.sessions[bet["session"]]
        if session["open"]:
            self.reserved += bet["used"]
            session["reserved"] += bet["used"]
        bet["status"] = TransactionStatus.ROLLED_BACK

    @precondition(lambda self: any(b["status"] == "posted" for b in self.bets.values()))
    @rule(pick=picks)
    def end_a_bets_session_then_roll_the_bet_back(self, pick):
        """The stake's buy-in part goes to available, not back to a reservation that is gone."""
        posted = sorted(i for i, b in self.bets.items() if b["status"] == "posted")
        bet_id = posted[pick % len(posted)]
        self.end_session(self.bets[bet_id]["session"])
        self.rollback_known_bet(sorted(self.bets).index(bet_id), 0)

    @precondition(lambda self: self.sessions)
    @rule(pick=picks, amount=amounts)
    def rollback_unknown_then_late_bet(self, pick, amount):
        index = pick % len(self.sessions)
        late_id, rollback_id = self.new_id("late"), self.new_id("rb")
        kwargs = dict(
            session_no=index,
            transaction_id=rollback_id,
            reference_transaction_id=late_id,
            round_id=f"round-{late_id}",
        )
        tombstone = self.apply("rollback", kwargs, rollback_id).transaction
        assert (tombstone.delta_minor, tombstone.reference_id) == (0, None)
        bet_kwargs = dict(
            session_no=index,
            transaction_id=late_id,
            round_id=f"round-{late_id}",
            amount_minor=amount,
            currency="EUR",
        )
        self.refused(TransactionRolledBack, "bet", bet_kwargs)

    # --- replays -------------------------------------------------------------------------------

    @precondition(lambda self: self.applied)
    @rule(pick=picks)
    def replay_the_same_call(self, pick):
        external_id = sorted(self.applied)[pick % len(self.applied)]
        operation, kwargs, pk = self.applied[external_id]
        if operation == "bet" and self.bets[external_id]["status"] == "rolled_back":
            self.refused(TransactionRolledBack, operation, kwargs)
            return
        result = self.call(operation, kwargs)
        assert result.duplicate and result.transaction.pk == pk

    @precondition(lambda self: self.applied)
    @rule(pick=picks)
    def replay_with_another_payload(self, pick):
        external_id = sorted(self.applied)[pick % len(self.applied)]
        operation, kwargs, _ = self.applied[external_id]
        changed = dict(kwargs)
        if "amount_minor" in changed:
            changed["amount_minor"] += 1
        else:  # a rollback: another reference
            changed["reference_transaction_id"] += "-other"
        self.refused(DuplicateMismatch, operation, changed)

    # --- after every step ----------------------------------------------------------------------

    @invariant()
    def wallet_equals_the_model(self):
        wallet = Wallet.objects.get(pk=self.wallet_pk)
        assert (wallet.balance_minor, wallet.reserved_minor) == (self.balance, self.reserved)
        for model in self.sessions:
            session = GameSession.objects.get(pk=model["pk"])
            assert session.reserved_minor == model["reserved"]
            assert (session.status == SessionStatus.OPEN) is model["open"]

    @invariant()
    def fraud_baseline_follows_the_ledger(self):
        """With production's hooks: the baseline listener saw every bet booked, once."""
        if self.capture is None:
            return
        bets = Transaction.objects.filter(wallet_id=self.wallet_pk, kind="bet").count()
        baseline = PlayerBaseline.objects.filter(wallet_id=self.wallet_pk).first()
        assert (baseline.bet_count if baseline else 0) == bets

    @invariant()
    def ledger_sum_holds(self):
        assert ledger_discrepancies([self.wallet_pk]) == []

    @invariant()
    def each_applied_id_has_one_row(self):
        provider_ids = [
            i for i, (op, _, _) in self.applied.items() if op not in ("deposit", "withdraw")
        ]
        assert Transaction.objects.filter(provider=self.provider).count() == len(provider_ids)
        statuses = dict(
            Transaction.objects.filter(provider=self.provider, kind="bet").values_list(
                "external_id", "status"
            )
        )
        assert statuses == {bet_id: bet["status"] for bet_id, bet in self.bets.items()}


def test_ledger_matches_a_reference_model(db):
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            database=None,  # no .hypothesis directory in the shared working tree
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            phases=PHASES,
        ),
    )
    assert Provider.objects.filter(code__startswith="stateful-").count() >= 1


def test_ledger_with_production_hooks_matches_the_model(
    db, production_hooks, django_capture_on_commit_callbacks
):
    """The same machine with production's hooks installed and their after-commit listeners
    run: the fraud baselines follow every row, and the screener's one rule these amounts can
    meet, withdrawal velocity, holds each withdrawal past its limit (the model expects it)."""

    class WithProductionHooks(LedgerMachine):
        capture = staticmethod(django_capture_on_commit_callbacks)

    run_state_machine_as_test(
        WithProductionHooks,
        settings=settings(
            max_examples=10,
            stateful_step_count=30,
            deadline=None,
            database=None,  # no .hypothesis directory in the shared working tree
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            phases=PHASES,
        ),
    )
    assert Provider.objects.filter(code__startswith="stateful-").count() >= 1
