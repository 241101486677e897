"""Deterministic streams of provider money calls and the sequential reference model that says
what each one must answer and what the balance must be after it."""

import random
from dataclasses import dataclass, field


def eur(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


@dataclass(frozen=True)
class Step:
    operation: str  # bet, win, rollback
    fields: dict
    code: str  # expected outcome: OK or an error code
    balance_after: int  # expected available balance after the call (minor units)
    writes_row: bool  # the call, applied once, appends exactly one ledger row


@dataclass
class Plan:
    token: str
    funds: int
    steps: list[Step] = field(default_factory=list)

    @property
    def final_balance(self) -> int:
        return self.steps[-1].balance_after if self.steps else self.funds

    @property
    def rows(self) -> int:
        return sum(step.writes_row for step in self.steps)


def player_plan(rng: random.Random, prefix: str, token: str, funds: int, rounds: int) -> Plan:
    """Bets, wins, rollbacks, rollbacks of bets that come later (tombstones) and refused bets,
    in one order; the model applies the ledger's rules to them one at a time."""
    plan = Plan(token=token, funds=funds)
    balance = funds
    tombstoned: list[str] = []

    def add(operation, code, writes_row, **fields):
        plan.steps.append(
            Step(operation, {"session_token": token, **fields}, code, balance, writes_row)
        )

    for i in range(rounds):
        round_id = f"{prefix}-r{i}"
        bet_id = f"{prefix}-b{i}"
        choice = rng.random()
        if tombstoned and choice < 0.05:
            # The bet of an earlier early rollback arrives: refused, nothing written.
            late = tombstoned.pop()
            add("bet", "TRANSACTION_ROLLED_BACK", False, transaction_id=late,
                round_id=f"{late}-round", amount="1.00", currency="EUR")  # fmt: skip
            continue
        if choice < 0.10:
            ghost = f"{prefix}-ghost{i}"
            tombstoned.append(ghost)
            add("rollback", "OK", True, transaction_id=f"{prefix}-rbg{i}",
                reference_transaction_id=ghost, round_id=f"{ghost}-round")  # fmt: skip
            continue
        if choice < 0.13:
            too_much = balance + rng.randint(1, 5_00)
            add("bet", "INSUFFICIENT_FUNDS", False, transaction_id=bet_id, round_id=round_id,
                amount=eur(too_much), currency="EUR")  # fmt: skip
            continue
        stake = rng.randint(10, 20_00)
        balance -= stake
        add("bet", "OK", True, transaction_id=bet_id, round_id=round_id, amount=eur(stake),
            currency="EUR")  # fmt: skip
        after = rng.random()
        if after < 0.2:
            balance += stake
            add("rollback", "OK", True, transaction_id=f"{prefix}-rb{i}",
                reference_transaction_id=bet_id, round_id=round_id)  # fmt: skip
        elif after < 0.75:
            prize = rng.choice([0, rng.randint(1, 40_00)])
            balance += prize
            add("win", "OK", True, transaction_id=f"{prefix}-w{i}", round_id=round_id,
                amount=eur(prize), currency="EUR", round_closed=True)  # fmt: skip
    return plan
