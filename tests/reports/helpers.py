"""Sums taken directly from the ledger, written independently of reports.services' SQL: what
the roll-up, the statements and the API must agree with."""

from collections import defaultdict
from datetime import UTC

from wallets.models import Transaction

FIGURES = (
    "stakes_minor",
    "refunds_minor",
    "wins_minor",
    "resettlements_minor",
    "free_round_minor",
    "promo_minor",
    "jackpot_minor",
    "reward_minor",
    "bets",
    "rounds",
)


def ledger_day(txn):
    when = txn.round.opened_at if txn.round_id else txn.created_at
    return when.astimezone(UTC).date()


def direct_ggr() -> dict[tuple, dict[str, int]]:
    """{(provider id, game, currency, day): figures} from every ledger row, one by one."""
    groups: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    rounds: dict[tuple, set] = defaultdict(set)
    for txn in Transaction.objects.filter(provider__isnull=False).select_related("round"):
        key = (txn.provider_id, txn.game_id, txn.currency, ledger_day(txn))
        figures = groups[key]
        credited = txn.status in ("posted", "held")
        if txn.kind == "bet":
            assert txn.status in ("posted", "rolled_back")
            figures["stakes_minor"] += txn.amount_minor
            figures["bets"] += 1
            rounds[key].add(txn.round_id)
        elif txn.kind == "rollback":
            if txn.delta_minor > 0:
                figures["refunds_minor"] += txn.amount_minor
        elif txn.kind in ("win", "promo") and txn.credit_type:
            if credited:
                figures[f"{txn.credit_type}_minor"] += txn.amount_minor
        elif txn.kind == "win":
            if credited:
                figures["wins_minor"] += txn.amount_minor
        elif txn.kind == "adjustment":
            figures["wins_minor"] += txn.delta_minor
            figures["resettlements_minor"] += txn.delta_minor
        else:  # pragma: no cover - deposits and withdrawals have no provider
            raise AssertionError(txn.kind)
    for key, ids in rounds.items():
        groups[key]["rounds"] = len(ids)
    return dict(groups)


def rolled_up() -> dict[tuple, dict[str, int]]:
    from reports.models import GgrDaily

    return {
        (g.provider_id, g.game_id, g.currency, g.day): {f: getattr(g, f) for f in FIGURES}
        for g in GgrDaily.objects.all()
    }
