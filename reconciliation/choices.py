"""Enumerations behind the reconciliation app's choice fields, in one place."""

from django.db import models


class RunKind(models.TextChoices):
    INCREMENTAL = "incremental", "Internal, incremental (changed wallets)"
    FULL = "full", "Internal, full (every wallet)"
    PROVIDER_REPORT = "provider_report", "Provider report"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"


class Outcome(models.TextChoices):
    """How one report row (or one wallet) compares with the ledger."""

    MATCHED = "matched", "Matched"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    MISSING_IN_WALLET = "missing_in_wallet", "Missing in wallet"
    MISSING_AT_PROVIDER = "missing_at_provider", "Missing at provider"
    STATUS_MISMATCH = "status_mismatch", "Status mismatch"
    MALFORMED = "malformed", "Malformed row"


class DiscrepancyKind(models.TextChoices):
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    MISSING_IN_WALLET = "missing_in_wallet", "Missing in wallet"
    MISSING_AT_PROVIDER = "missing_at_provider", "Missing at provider"
    STATUS_MISMATCH = "status_mismatch", "Status mismatch"
    # Internal reconciliation: the wallet's cached figures against its own ledger.
    BALANCE_DRIFT = "balance_drift", "Balance drift (cached balance vs ledger)"
    RESERVED_DRIFT = "reserved_drift", "Reserved drift (cached reserved vs sessions and holds)"
    # The ledger's own alarms, opened at once (never pending): a wallet's hash chain broken
    # (a row edited, deleted or inserted outside the ledger), and a provider's reversal of a
    # win the player no longer has (refused: the balance never goes below zero).
    LEDGER_TAMPERED = "ledger_tampered", "Ledger chain broken (a row edited outside the ledger)"
    WIN_REVERSAL_REFUSED = "win_reversal_refused", "Win reversal refused (player short of funds)"


PROVIDER_KINDS = frozenset(
    {
        DiscrepancyKind.AMOUNT_MISMATCH,
        DiscrepancyKind.CURRENCY_MISMATCH,
        DiscrepancyKind.MISSING_IN_WALLET,
        DiscrepancyKind.MISSING_AT_PROVIDER,
        DiscrepancyKind.STATUS_MISMATCH,
    }
)
WALLET_KINDS = frozenset({DiscrepancyKind.BALANCE_DRIFT, DiscrepancyKind.RESERVED_DRIFT})
LEDGER_KINDS = frozenset({DiscrepancyKind.LEDGER_TAMPERED, DiscrepancyKind.WIN_REVERSAL_REFUSED})


class DiscrepancyStatus(models.TextChoices):
    # Younger than the provider's grace window: re-checked by the next run, not yet alerted.
    PENDING = "pending", "Pending (within grace window)"
    # Persistent: in the queue and in the drift figures.
    OPEN = "open", "Open"
    # Settled by itself while pending (the in-flight call or retry arrived).
    CLEARED = "cleared", "Cleared"
    CORRECTED = "corrected", "Corrected (adjustment posted)"
    CLOSED = "closed", "Closed with an explanation"


ACTIVE_STATUSES = (DiscrepancyStatus.PENDING, DiscrepancyStatus.OPEN)


class CorrectionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed, awaiting a second approver"
    APPROVED = "approved", "Approved and posted"
    CANCELLED = "cancelled", "Cancelled (discrepancy closed)"


class ReportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON (array or one object per line)"


# Statuses a provider may report for one of its transactions.
REPORT_STATUSES = ("posted", "rolled_back", "rejected")
REPORT_KINDS = ("bet", "win", "rollback")
