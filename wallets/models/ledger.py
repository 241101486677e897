from django.conf import settings
from django.db import models
from django.db.models import Q

from wallets.choices import CreditType, TransactionKind, TransactionStatus
from wallets.models.players import Player, Wallet
from wallets.models.providers import Provider
from wallets.models.sessions import GameSession, Round


class Transaction(models.Model):
    """One ledger row. Append-only: the amount never changes and rows are never deleted.

    `amount_minor` is what was asked (never negative); `delta_minor` is the signed effect on
    the wallet balance. Only `status` moves (held -> posted/rejected, posted -> rolled_back),
    always under the wallet's row lock in wallets.ledger.

    What counts in the balance: posted and rolled-back rows (a rollback is its own row), and
    held credits (a held deposit or win is in the balance and in `reserved` until decided).
    A held withdrawal counts only in `reserved` until approved.
    """

    # No single-column indexes on these three: txn_by_wallet_covering, txn_by_player and
    # txn_by_provider_id lead with the same column, and every index is paid on
    # every bet.
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="transactions", db_index=False
    )
    player = models.ForeignKey(
        Player, on_delete=models.PROTECT, related_name="transactions", db_index=False
    )
    provider = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transactions",
        db_index=False,
    )
    session = models.ForeignKey(
        GameSession, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    round = models.ForeignKey(
        Round, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    status = models.CharField(max_length=16, choices=TransactionStatus.choices)
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    delta_minor = models.BigIntegerField()
    # Part of a bet paid from the session's buy-in reservation (returned there on rollback).
    reserved_used_minor = models.BigIntegerField(default=0)
    balance_after_minor = models.BigIntegerField()
    rounding_residue = models.DecimalField(
        max_digits=60,
        decimal_places=40,
        null=True,
        blank=True,
        help_text="Major units removed by the provider's rounding mode.",
    )
    # The provider's (or payment gateway's) transaction id: the idempotency key, unique per
    # provider within `id_scope` (payments: per kind) -- kept unique by IdempotencyKey, whose
    # row the ledger's insert trigger writes with this one.
    external_id = models.CharField(max_length=128)
    # Where the id is unique: '' for a provider's bets, wins and (native) rollbacks; a
    # namespace such as 'cancel' for a protocol whose cancel reuses its bet's id; '@<player id>'
    # appended when a provider's ids are unique only per player (see wallets/sql/ledger.sql).
    id_scope = models.CharField(max_length=160, blank=True, default="", db_default="")
    # For promotional credits: what they pay (free rounds, promotion, jackpot, reward).
    credit_type = models.CharField(
        max_length=16, blank=True, default="", db_default="", choices=CreditType.choices
    )
    round_external_id = models.CharField(max_length=128, blank=True)
    # What a rollback cancels, or what an adjustment corrects.
    # The three nullable references are indexed only where set (Meta.indexes): almost every row
    # has none, and each bet would otherwise add an entry for NULL to three indexes.
    # No database constraint (db_constraint=False), here and on every foreign key into the
    # ledger: the ledger is partitioned by created_at, so its only unique key is (id,
    # created_at). The ledger functions write a reference only to a row they have just read
    # under the wallet lock, and ledger rows are never deleted (docs/scaling.md).
    reference = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referenced_by",
        db_index=False,
        db_constraint=False,
    )
    # The referenced id as the caller sent it: a rollback of an unknown bet keeps it here as a
    # tombstone, so the bet is refused if it arrives late.
    reference_external_id = models.CharField(max_length=128, blank=True)
    game_id = models.CharField(max_length=128, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    # A deposit's or withdrawal's payment fingerprint as the gateway sent it (its token for the
    # card, account or e-wallet; wallets.validators), null when it sent none and on every other
    # kind. Call metadata like client_ip: the fraud lists match it; not in the hash chain.
    payment_fingerprint = models.CharField(max_length=128, null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    processing_us = models.PositiveIntegerField(default=0)
    lock_wait_us = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # SHA-256 of the wallet's previous row's hash and this row's unchanging content, written
    # with the row by a trigger (wallets/sql/ledger.sql): the wallet's rows form a chain that
    # any edit, deletion or insertion breaks. Null for rows written before the chain existed.
    chain_hash = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        # The table is partitioned by month of created_at (wallets/partitions.py); its primary
        # key in the database is (id, created_at). Ids stay unique (one sequence), so Django
        # keeps `id` as the primary key; nothing relies on a unique index on id alone.
        permissions = [("post_payment", "Can post deposits and withdrawals")]
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gte=0), name="txn_amount_gte_0"),
        ]
        indexes = [
            # A provider's row by its transaction id past the retry horizon (IdempotencyKey
            # answers within it): a win's or rollback's reference to an old bet. Not unique: a
            # unique index on a partitioned table must hold the partition key (created_at).
            models.Index(
                fields=["provider", "external_id", "id_scope"],
                condition=Q(provider__isnull=False),
                name="txn_by_provider_id",
            ),
            # The same for payments and staff corrections (kind, id).
            models.Index(
                fields=["kind", "external_id"],
                condition=Q(provider__isnull=True),
                name="txn_by_payment_id",
            ),
            models.Index(
                fields=["provider", "reference_external_id"],
                condition=Q(kind="rollback"),
                name="txn_rollback_reference",
            ),
            models.Index(
                fields=["reference"], condition=Q(reference__isnull=False), name="txn_reference"
            ),
            models.Index(
                fields=["created_by"],
                condition=Q(created_by__isnull=False),
                name="txn_created_by",
            ),
            models.Index(
                fields=["approved_by"],
                condition=Q(approved_by__isnull=False),
                name="txn_approved_by",
            ),
            # Covering: a wallet's ledger sums (reconciliation) read only this index.
            models.Index(
                fields=["wallet", "-id"],
                include=["status", "delta_minor", "amount_minor"],
                name="txn_by_wallet_covering",
            ),
            models.Index(fields=["player", "-id"], name="txn_by_player"),
            # A wallet's payments by time: the fraud rules' figures, read under the wallet lock
            # of a withdrawal. Bets never enter it (their kind is outside the predicate).
            models.Index(
                fields=["wallet", "-created_at"],
                condition=Q(kind__in=["deposit", "withdrawal"]),
                name="txn_payments_by_wallet",
            ),
            models.Index(fields=["created_at"], name="txn_by_time"),
            # The payments made with one card, account or e-wallet (the transactions filter).
            # Only rows that carry a fingerprint: bets never enter it.
            models.Index(
                fields=["payment_fingerprint", "-id"],
                condition=Q(payment_fingerprint__isnull=False),
                name="txn_by_payment_fingerprint",
            ),
            models.Index(fields=["status", "kind"], condition=Q(status="held"), name="txn_held"),
            # List pages: the rare kinds (rollbacks, payments, corrections, promotional
            # credits), newest first. Bets and wins, nearly every row, never enter it: a filter
            # by them finds its page in the id order at once.
            models.Index(
                fields=["kind", "-id"],
                condition=~Q(kind__in=["bet", "win"]),
                name="txn_rare_kinds",
            ),
            # List pages: search by round id; filter by a status other than posted.
            models.Index(
                fields=["round_external_id"],
                condition=~Q(round_external_id=""),
                name="txn_by_round_external_id",
            ),
            models.Index(
                fields=["status", "-id"],
                include=["provider", "kind"],
                condition=~Q(status="posted"),
                name="txn_not_posted",
            ),
            # Reports (reports.selectors): a wallet's balance at an instant is its last row at
            # or before it (balance_after_minor); a statement is a range of this index.
            models.Index(fields=["wallet", "created_at"], name="txn_by_wallet_time"),
            # Rows that were ever held (their decision moves the balance or `reserved` later,
            # without a row of its own): the few a point-in-time `reserved` reads.
            models.Index(
                fields=["wallet", "created_at"],
                condition=Q(status="held") | (Q(decided_at__isnull=False) & ~Q(kind="adjustment")),
                name="txn_hold_history",
            ),
            # Decisions since the GGR roll-up's watermark (a held win rejected re-rolls its day).
            models.Index(
                fields=["decided_at"], condition=Q(decided_at__isnull=False), name="txn_decided"
            ),
            # A provider's rows outside any round (promotional credits, tombstones), by time:
            # the GGR roll-up counts them on the day they were written.
            models.Index(
                fields=["provider", "created_at"],
                condition=Q(round__isnull=True) & Q(provider__isnull=False),
                name="txn_unrounded_by_provider",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id} ({self.status})"


class BetRefusal(models.Model):
    """A bet the ledger refused, remembered by its idempotency key (provider, id scope,
    transaction id). A refusal is the provider's final answer for that id (the contract has it
    retry 5xx and timeouts, never a 4xx), so a later delivery of the same id (the first attempt
    of a call whose retry was refused, delayed on its way) is refused the same way and never
    booked. Another payload under a refused id is a new call (its own refusal then replaces
    this one). Written by the bet function (wallets/sql/ledger.sql) only; moves no money."""

    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="+", db_index=False)
    external_id = models.CharField(max_length=128)
    id_scope = models.CharField(max_length=160, blank=True, default="", db_default="")
    code = models.CharField(max_length=32)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    round_external_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id", "id_scope"], name="bet_refusal_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"bet {self.external_id} refused {self.code}"


class IdempotencyKey(models.Model):
    """A ledger row's idempotency key: (provider, id scope, transaction id), or (kind, id) for
    payments and staff corrections, unique here because a unique index on the partitioned
    ledger must include created_at. Written by the ledger's insert trigger
    (wallets/sql/ledger.sql) in the same statement as the row, so every way a row is written
    keeps it; the ledger functions find a retried call here. Keys older than the providers'
    retry horizon (settings.PITBOSS_RETRY_HORIZON_DAYS) are pruned by a daily job
    (wallets.partitions.prune_idempotency_keys): past it a transaction id may be used again."""

    # The ledger row (its id and created_at: the row's key in the partitioned ledger).
    transaction = models.OneToOneField(
        Transaction,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,  # the ledger is partitioned: see Transaction.reference
    )
    created_at = models.DateTimeField()
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    id_scope = models.CharField(max_length=160, blank=True, default="", db_default="")
    external_id = models.CharField(max_length=128)
    # The row's player and, for a rollback, the id it names: a rollback whose bet (or win) is
    # unknown is a tombstone, and a late bet or win under that id must not stand. The ledger
    # functions find tombstones here (txn_key_rollback_reference) instead of in every partition
    # of the ledger: exact within the retry horizon, like the keys themselves.
    player = models.ForeignKey(
        Player,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,  # written with the ledger row, which has the real key
    )
    reference_external_id = models.CharField(max_length=128, blank=True, default="", db_default="")

    class Meta:
        indexes = [
            # Tombstones: only rollbacks have an entry, bets and wins pay nothing for it.
            models.Index(
                fields=["provider", "reference_external_id", "player"],
                condition=Q(kind="rollback"),
                name="txn_key_rollback_reference",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id", "id_scope"],
                condition=Q(provider__isnull=False),
                name="txn_unique_key_provider_scope_id",
            ),
            models.UniqueConstraint(
                fields=["kind", "external_id"],
                condition=Q(provider__isnull=True),
                name="txn_unique_key_payment_id",
            ),
        ]

    def __str__(self) -> str:
        return f"key {self.external_id} -> row {self.transaction_id}"


class LedgerArchive(models.Model):
    """A ledger partition detached past the providers' retry horizon and exported
    (wallets.partitions.archive_partition): the file's row count, per-currency sums and SHA-256
    as computed from the table when it was written; `verified_at` once the file was read back
    and found to say the same. Only then may the table be dropped (`dropped_at`)."""

    partition = models.CharField(max_length=63, unique=True)
    range_from = models.DateTimeField(null=True, blank=True)  # null: MINVALUE (the history)
    range_to = models.DateTimeField()
    detached_at = models.DateTimeField()
    file = models.CharField(max_length=500, blank=True)
    rows = models.BigIntegerField(default=0)
    # {"EUR": {"rows": n, "delta_minor": s, "amount_minor": s}, ...}: exact integers.
    sums = models.JSONField(default=dict)
    sha256 = models.CharField(max_length=64, blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"archive of {self.partition}"


class ArchivedWalletTotal(models.Model):
    """What a wallet's rows in an archived partition carry forward, recorded at detach time:
    their settled sum (what they add to the balance, by the rule of Transaction), their count,
    and the wallet's last archived row (id and chain hash). Full reconciliation and the full
    hash-chain verification start from these (reconciliation.services) instead of rows that are
    no longer in the ledger."""

    archive = models.ForeignKey(LedgerArchive, on_delete=models.PROTECT, related_name="totals")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    rows = models.BigIntegerField()
    settled_minor = models.BigIntegerField()
    last_id = models.BigIntegerField()
    last_hash = models.BinaryField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["archive", "wallet"], name="archived_total_once")
        ]

    def __str__(self) -> str:
        return f"wallet {self.wallet_id} carried to row {self.last_id}"
