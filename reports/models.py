"""Money reports: the daily GGR roll-up, its watermark, provider fees (with history) and the
providers' own invoice figures. Nothing here moves money; the roll-up is derived from the
ledger (reports.services) and can always be rebuilt from it."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallets.models import Provider


class GgrDaily(models.Model):
    """One (provider, game, currency, day) group of the ledger's game rows, in minor units.

    `day` is the UTC day of the round (the day it opened); a row without a round counts on the
    UTC day it was written (docs/reports.md). Recomputed whole, never incremented: a late win
    or rollback re-rolls exactly its (provider, day).
    """

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    game_id = models.CharField(max_length=128, blank=True)
    currency = models.CharField(max_length=3)
    day = models.DateField()
    # Every accepted bet, rolled back or not.
    stakes_minor = models.BigIntegerField(default=0)
    # Rollbacks refunding those bets.
    refunds_minor = models.BigIntegerField(default=0)
    # Wins credited (posted or held; a rejected or reversed win is not), provider
    # re-settlements included; promotional credits are not.
    wins_minor = models.BigIntegerField(default=0)
    # The provider's re-settlements of settled rounds (net credit to players), part of wins.
    resettlements_minor = models.BigIntegerField(default=0)
    free_round_minor = models.BigIntegerField(default=0)
    promo_minor = models.BigIntegerField(default=0)
    jackpot_minor = models.BigIntegerField(default=0)
    reward_minor = models.BigIntegerField(default=0)
    bets = models.BigIntegerField(default=0)
    rounds = models.BigIntegerField(default=0)
    rolled_up_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "provider", "game_id", "currency"]
        permissions = [
            ("view_ggr_report", "Can read GGR reports and provider statements"),
            ("view_balance_history", "Can read a wallet's balance at past instants and statements"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "day", "game_id", "currency"], name="ggr_daily_one_per_group"
            )
        ]
        indexes = [models.Index(fields=["day", "provider"], name="ggr_daily_by_day")]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.game_id} {self.currency} {self.day}"

    @property
    def promo_credits_minor(self) -> int:
        return self.free_round_minor + self.promo_minor + self.jackpot_minor + self.reward_minor

    @property
    def ggr_minor(self) -> int:
        return self.stakes_minor - self.refunds_minor - self.wins_minor


class RollupState(models.Model):
    """Where the incremental roll-up stands (one row): ledger rows up to `last_id` and hold
    decisions up to `decided_through` are in the roll-up."""

    name = models.CharField(max_length=32, unique=True, default="ggr")
    last_id = models.BigIntegerField(default=0)
    decided_through = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_ms = models.PositiveIntegerField(default=0)
    last_run_groups = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} through ledger row {self.last_id}"


class ProviderFee(models.Model):
    """The provider's fee, a percentage of GGR, from `effective_from` (a UTC day) until the
    next entry. Entries are never edited: a new rate is a new entry (the history)."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="fees")
    percent = models.DecimalField(
        max_digits=7, decimal_places=4, help_text="Percentage of GGR, e.g. 12.5 for 12.5 %."
    )
    effective_from = models.DateField()
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "effective_from"], name="provider_fee_one_per_day"
            ),
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=100), name="provider_fee_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider.code} {self.percent} % from {self.effective_from}"


class ProviderInvoice(models.Model):
    """The provider's own figures for a month and currency, as its invoice states them, to
    compare with our statement."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="invoices")
    month = models.DateField(help_text="The first day of the invoiced month.")
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=128, blank=True)
    stakes_minor = models.BigIntegerField(null=True, blank=True)
    wins_minor = models.BigIntegerField(null=True, blank=True)
    ggr_minor = models.BigIntegerField()
    fee_minor = models.BigIntegerField()
    amount_due_minor = models.BigIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "provider", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "month", "currency"], name="provider_invoice_one_per_month"
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="provider_invoice_month_start"),
        ]

    def __str__(self) -> str:
        return f"{self.provider.code} {self.month:%Y-%m} {self.currency}"
