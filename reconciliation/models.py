"""Reconciliation records: runs, provider reports and their rows, discrepancies and the
corrections proposed for them. Nothing here moves money: corrections go through
wallets.ledger.adjust (four eyes)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q

from reconciliation.choices import (
    CorrectionStatus,
    DiscrepancyKind,
    DiscrepancyStatus,
    Outcome,
    ReportFormat,
    RunKind,
    RunStatus,
)
from wallets.models import Provider, Transaction, Wallet

DEFAULT_GRACE_SECONDS = 300


class ProviderReconciliationProfile(models.Model):
    """Per-provider reconciliation settings. A provider without a profile uses the defaults."""

    provider = models.OneToOneField(
        Provider, on_delete=models.CASCADE, related_name="reconciliation_profile"
    )
    grace_seconds = models.PositiveIntegerField(
        default=DEFAULT_GRACE_SECONDS,
        help_text="A mismatch younger than this is pending (in-flight calls and retries settle "
        "it); older, it becomes an open discrepancy.",
    )

    def __str__(self) -> str:
        return f"{self.provider.code}: grace {self.grace_seconds} s"


class ReconciliationRun(models.Model):
    kind = models.CharField(max_length=16, choices=RunKind.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    triggered_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    wallets_checked = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    # {outcome or discrepancy kind: count}, e.g. {"matched": 998, "amount_mismatch": 2}.
    counts = models.JSONField(default=dict, blank=True)
    pending = models.PositiveIntegerField(default=0, help_text="Mismatches within grace.")
    discrepancies_opened = models.PositiveIntegerField(default=0)
    discrepancies_cleared = models.PositiveIntegerField(default=0)
    # Internal incremental runs: where the next run starts (wallet updated_at and ledger id).
    watermark_at = models.DateTimeField(null=True, blank=True)
    watermark_transaction_id = models.BigIntegerField(null=True, blank=True)
    # Where the time went, {phase: milliseconds}, e.g. {"stage": 5200, "classify": 4100}.
    phase_ms = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["kind", "status", "-id"], name="recon_run_by_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def mismatches(self) -> int:
        return sum(n for k, n in self.counts.items() if k not in (Outcome.MATCHED, "malformed"))


class ProviderReport(models.Model):
    """A provider's list of its transactions for a time window, as uploaded. Its rows are kept
    (ReportRow), malformed ones with their line number, reason and raw text."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=8, choices=ReportFormat.choices)
    filename = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_malformed = models.PositiveIntegerField(default=0)
    run = models.OneToOneField(
        ReconciliationRun, null=True, blank=True, on_delete=models.PROTECT, related_name="report"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.provider.code} report #{self.pk}"


class ReportRow(models.Model):
    """One row of a provider report with its outcome, or (line_no null) a ledger row of the
    provider in the report's window that the report does not list: missing at provider."""

    report = models.ForeignKey(
        ProviderReport, on_delete=models.CASCADE, related_name="rows", db_index=False
    )
    line_no = models.PositiveIntegerField(
        null=True, blank=True, help_text="CSV line, JSON element or JSON line; empty: ledger row."
    )
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    pending = models.BooleanField(default=False, help_text="Mismatch within the grace window.")
    transaction_id = models.CharField(max_length=128, blank=True)
    round_id = models.CharField(max_length=128, blank=True)
    player = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=16, blank=True)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=16, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    wallet_transaction = models.ForeignKey(
        Transaction,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    error = models.CharField(max_length=500, blank=True)
    raw = models.TextField(blank=True, help_text="The row as received (malformed rows).")

    class Meta:
        ordering = ["report_id", "id"]
        indexes = [
            # A report's rows are inserted together, so they sit together in the table: a BRIN
            # index finds them at almost no cost per inserted row (a million-row report).
            BrinIndex(fields=["report"], name="recon_row_by_report"),
            # The rows staff look at (mismatches, malformed) are few: a small partial index.
            models.Index(
                fields=["report", "outcome"],
                condition=~Q(outcome="matched"),
                name="recon_row_unmatched",
            ),
        ]

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.outcome}"


class Discrepancy(models.Model):
    """A mismatch between the wallet and a provider (or between a wallet's cached figures and
    its ledger). Pending within the grace window; open (queued, counted in drift) after it."""

    kind = models.CharField(max_length=24, choices=DiscrepancyKind.choices)
    status = models.CharField(
        max_length=16, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.PENDING
    )
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    wallet = models.ForeignKey(
        Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # No database constraint: the ledger is partitioned (see Transaction.reference).
    ledger_transaction = models.ForeignKey(
        Transaction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The wallet's ledger row, when there is one.",
        db_constraint=False,
    )
    provider_transaction_id = models.CharField(
        max_length=128, blank=True, help_text="The provider's transaction id."
    )
    round_id = models.CharField(max_length=128, blank=True)
    player_external_id = models.CharField(max_length=128, blank=True)
    transaction_kind = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    provider_currency = models.CharField(max_length=3, blank=True)
    provider_amount_minor = models.BigIntegerField(null=True, blank=True)
    provider_status = models.CharField(max_length=16, blank=True)
    wallet_amount_minor = models.BigIntegerField(null=True, blank=True)
    wallet_status = models.CharField(max_length=16, blank=True)
    # Internal drift: the cached figure and what the ledger says it should be.
    cached_minor = models.BigIntegerField(null=True, blank=True)
    expected_minor = models.BigIntegerField(null=True, blank=True)
    drift_minor = models.BigIntegerField(
        default=0, help_text="Size of the difference in minor units (never negative)."
    )
    occurred_at = models.DateTimeField(help_text="When the transaction (or drift) happened.")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    report = models.ForeignKey(
        ProviderReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_run = models.ForeignKey(
        ReconciliationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "discrepancies"
        permissions = [
            ("propose_correction", "Can propose a correction for a discrepancy"),
            ("approve_correction", "Can approve another user's correction (four eyes)"),
            ("close_discrepancy", "Can close a discrepancy with an explanation"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_transaction_id"],
                condition=Q(status__in=["pending", "open"]) & ~Q(provider_transaction_id=""),
                name="discrepancy_one_active_per_txn",
            ),
            models.UniqueConstraint(
                fields=["wallet", "kind"],
                condition=Q(status__in=["pending", "open"])
                & Q(kind__in=["balance_drift", "reserved_drift"]),
                name="discrepancy_one_active_per_wallet",
            ),
            models.CheckConstraint(condition=Q(drift_minor__gte=0), name="discrepancy_drift_gte_0"),
        ]
        indexes = [
            models.Index(fields=["status", "provider"], name="discrepancy_queue"),
            models.Index(fields=["occurred_at"], name="discrepancy_by_time"),
        ]

    def __str__(self) -> str:
        subject = self.provider_transaction_id
        if not subject and self.wallet_id:
            subject = f"wallet {self.wallet_id}"
        return f"{self.get_kind_display()} {subject}".strip()


class CorrectionRequest(models.Model):
    """A proposed ledger correction for a discrepancy: posted (as an `adjustment` row that
    references the discrepancy) only when a second staff user approves it."""

    discrepancy = models.ForeignKey(
        Discrepancy, on_delete=models.PROTECT, related_name="corrections"
    )
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    delta_minor = models.BigIntegerField(help_text="Signed effect on the balance.")
    reason = models.CharField(max_length=500)
    status = models.CharField(
        max_length=16, choices=CorrectionStatus.choices, default=CorrectionStatus.PROPOSED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # No database constraint: the ledger is partitioned (see Transaction.reference).
    adjustment = models.ForeignKey(
        Transaction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["discrepancy"],
                condition=Q(status=CorrectionStatus.PROPOSED),
                name="correction_one_proposed",
            ),
            models.CheckConstraint(condition=~Q(delta_minor=0), name="correction_delta_not_0"),
        ]

    def __str__(self) -> str:
        return f"correction #{self.pk} of {self.discrepancy_id} ({self.status})"


class LedgerChainCheckpoint(models.Model):
    """How far a wallet's hash chain has been verified: its rows up to `last_id` checked, the
    last of them with hash `last_hash`. The next incremental check starts there; a full check
    starts from the first row again and must arrive at the same hash, so a history rewritten
    behind a checkpoint is caught too."""

    wallet = models.OneToOneField(
        Wallet, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    last_id = models.BigIntegerField(default=0)
    last_hash = models.BinaryField(null=True, blank=True)
    rows_verified = models.BigIntegerField(default=0)
    verified_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"chain of wallet {self.wallet_id} verified to row {self.last_id}"


class WalletCheckpoint(models.Model):
    """A wallet's balance proven at a ledger position by internal reconciliation: its rows up
    to `last_id` that can no longer change what they contribute (posted, rolled back,
    rejected) add up to `settled_minor`; `held_ids` are its rows still held then, whose
    decision comes later. The next incremental check starts here (reconciliation.services
    _WALLET_CHECK_SQL), so it costs the rows written since, not the wallet's history."""

    wallet = models.OneToOneField(
        Wallet, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    last_id = models.BigIntegerField(default=0)
    settled_minor = models.BigIntegerField(default=0)
    held_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    proven_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"wallet {self.wallet_id} proven at row {self.last_id}"
