"""Reads of the reconciliation app: drift figures for monitoring, queues for staff."""

from django.db.models import Count, Max, Sum
from django.db.models.functions import Coalesce

from reconciliation.choices import DiscrepancyKind, DiscrepancyStatus
from reconciliation.models import Discrepancy
from wallets import hooks
from wallets.models import Provider

# Wallet-level (internal) drift has no provider: its figures are published under this key.
WALLET_DRIFT_KEY = 0


def _drift_by_provider() -> dict[int, dict[str, int]]:
    """Open discrepancies per provider (every provider listed, zero when none, so an alert
    can resolve): count, total and largest drift in minor units. Minor units of different
    currencies are added as they are: the figure is a size of drift, not an amount of money."""
    figures = {
        pk: {"count": 0, "total": 0, "largest": 0}
        for pk in Provider.objects.values_list("pk", flat=True)
    }
    rows = (
        open_discrepancies()
        .annotate(key=Coalesce("provider_id", WALLET_DRIFT_KEY))
        .values("key")
        .annotate(count=Count("id"), total=Sum("drift_minor"), largest=Max("drift_minor"))
        .order_by()
    )
    for row in rows:
        figures[row["key"]] = {
            "count": row["count"],
            "total": row["total"] or 0,
            "largest": row["largest"] or 0,
        }
    return figures


def drift_open_discrepancies() -> dict[int, int]:
    return {pk: f["count"] for pk, f in _drift_by_provider().items()}


def drift_total_minor() -> dict[int, int]:
    return {pk: f["total"] for pk, f in _drift_by_provider().items()}


def drift_largest_minor() -> dict[int, int]:
    return {pk: f["largest"] for pk, f in _drift_by_provider().items()}


def open_ledger_breaks() -> list[hooks.LedgerBreak]:
    """Wallets whose hash chain verification found a broken row, while its `ledger_tampered`
    discrepancy is open: monitoring's tamper alert stays firing until staff settle it."""
    rows = (
        Discrepancy.objects.filter(
            kind=DiscrepancyKind.LEDGER_TAMPERED, status=DiscrepancyStatus.OPEN
        )
        .order_by("wallet_id", "ledger_transaction_id", "pk")
        .values("pk", "wallet_id", "wallet__player_id", "ledger_transaction_id", "provider_id",
                "currency")
    )  # fmt: skip
    breaks: dict[int, hooks.LedgerBreak] = {}
    for row in rows:
        # The first broken row of each wallet names the alert; later ones follow from it.
        breaks.setdefault(
            row["wallet_id"],
            hooks.LedgerBreak(
                wallet_id=row["wallet_id"],
                row_id=row["ledger_transaction_id"],
                provider_id=row["provider_id"],
                player_id=row["wallet__player_id"],
                currency=row["currency"],
                reference=f"discrepancy #{row['pk']}",
            ),
        )
    return list(breaks.values())


def open_discrepancies(queryset=None):
    """Open discrepancies: the admin home panel's card and the discrepancy list it links to
    (`?open_queue=yes`) both come from here; `drift_open_discrepancies` counts the same rows."""
    queryset = Discrepancy.objects.all() if queryset is None else queryset
    return queryset.filter(status=DiscrepancyStatus.OPEN)


def open_queue():
    """Open discrepancies, oldest first: what staff work through."""
    return open_discrepancies().select_related("provider", "wallet").order_by("occurred_at")
