from django.db import models
from django.db.models import F, Q

from wallets.choices import PlayerStatus
from wallets.currencies import CURRENCY_CHOICES


class Player(models.Model):
    external_id = models.CharField(
        max_length=128, unique=True, help_text="The operator platform's id for the player."
    )
    currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, help_text="Primary currency."
    )
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2.")
    registration_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=PlayerStatus.choices, default=PlayerStatus.ACTIVE, db_index=True
    )
    status_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        permissions = [("block_player", "Can block and unblock players")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.external_id

    @property
    def may_play(self) -> bool:
        return self.status == PlayerStatus.ACTIVE


class Wallet(models.Model):
    """One per player and currency. Only wallets.ledger changes balance_minor and reserved_minor.

    available = balance - reserved. `reserved` holds buy-ins of open sessions and held
    transactions. The database refuses any state outside 0 <= reserved <= balance.
    """

    # wallet_one_per_currency starts with the player: no index of its own.
    player = models.ForeignKey(
        Player, on_delete=models.PROTECT, related_name="wallets", db_index=False
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    balance_minor = models.BigIntegerField(default=0)
    reserved_minor = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # Watermark for incremental reconciliation: set by every ledger write.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["player_id", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["player", "currency"], name="wallet_one_per_currency"),
            models.CheckConstraint(condition=Q(balance_minor__gte=0), name="wallet_balance_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved_minor__gte=0), name="wallet_reserved_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(reserved_minor__lte=F("balance_minor")),
                name="wallet_reserved_lte_balance",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.player} {self.currency}"

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.reserved_minor
