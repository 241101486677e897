"""Player-protection limits and exclusions: what was decided, by whom, and what waits.

The money path reads none of these tables: the services mirror what is in force onto the rows
it locks anyway (Player.excluded_until and session_limit_minutes, the limit columns of Wallet)
through wallets.ledger, and the ledger enforces them under the wallet lock.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from protection.choices import ExclusionKind, LimitKind, LimitPeriod
from wallets.currencies import CURRENCY_CHOICES
from wallets.models import Player


class PlayerLimit(models.Model):
    """One limit of a player: a deposit, loss or wager amount per period and currency, or the
    session time in minutes (kind `session`, no period or currency).

    `amount` is in force since `effective_from` (a new limit is stricter than none, so it
    applies at once: a row always has one in force). A pending change (`pending_from` set)
    takes over at `pending_from`: `pending_amount`, or removal when that is NULL. Amounts are
    minor units of `currency`; for the session limit, minutes.
    """

    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="limits")
    kind = models.CharField(max_length=16, choices=LimitKind.choices)
    period = models.CharField(max_length=8, choices=LimitPeriod.choices, blank=True)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, blank=True)
    amount = models.BigIntegerField(help_text="Minor units (minutes for the session limit).")
    effective_from = models.DateTimeField()
    pending_amount = models.BigIntegerField(null=True, blank=True)
    pending_from = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["player_id", "kind", "currency", "period"]
        permissions = [
            ("raise_limit", "Can raise or remove a player's limit (after the cooling-off)"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["player", "kind", "period", "currency"], name="limit_one_per_kind"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="limit_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(pending_amount__isnull=True) | Q(pending_from__isnull=False),
                name="limit_pending_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["pending_from"],
                condition=Q(pending_from__isnull=False),
                name="limit_pending_due",
            )
        ]

    def __str__(self) -> str:
        if self.kind == LimitKind.SESSION:
            return f"{self.player} session {self.amount} min"
        return f"{self.player} {self.kind}/{self.period} {self.currency}"

    @property
    def removal_pending(self) -> bool:
        return self.pending_from is not None and self.pending_amount is None


class Exclusion(models.Model):
    """A time-out or self-exclusion. Never shortened nor lifted early: while it lasts, bets,
    deposits and game launches are refused LIMIT_EXCEEDED; wins and rollbacks are paid."""

    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="exclusions")
    kind = models.CharField(max_length=16, choices=ExclusionKind.choices)
    starts_at = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: permanent.")
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["player", "-starts_at"], name="exclusion_by_player")]

    def __str__(self) -> str:
        return f"{self.player} {self.kind} until {self.until or 'permanent'}"


class CoolingOffPeriod(models.Model):
    """How long a player waits for a limit increase or removal to apply, per country (the
    default, PITBOSS_LIMIT_COOLING_OFF_HOURS, where no row names the player's country)."""

    country = models.CharField(max_length=2, unique=True, help_text="ISO 3166-1 alpha-2.")
    hours = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country"]

    def __str__(self) -> str:
        return f"{self.country}: {self.hours} h"
