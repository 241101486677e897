from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Q, TextField
from django.db.models.functions import Cast, Upper

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
    # Player protection, as the money path reads it (the protection app keeps the history,
    # reasons and pending changes, and writes these): bets, deposits and launches are refused
    # LIMIT_EXCEEDED until `excluded_until` (a permanent exclusion: 9999-12-31); a game
    # session may be played `session_limit_minutes` from its launch. NULL: none.
    excluded_until = models.DateTimeField(null=True, blank=True, editable=False)
    session_limit_minutes = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        permissions = [("block_player", "Can block and unblock players")]
        ordering = ["-id"]
        indexes = [
            # Staff search a player by part of their external id (icontains, which Django
            # writes UPPER(external_id::text) LIKE UPPER('%...%')): trigrams answer it without
            # reading every player.
            GinIndex(
                OpClass(Upper(Cast("external_id", output_field=TextField())), name="gin_trgm_ops"),
                name="player_external_id_trgm",
            ),
            # ... or by their registration address (exact).
            models.Index(
                fields=["registration_ip"],
                condition=Q(registration_ip__isnull=False),
                name="player_by_registration_ip",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def may_play(self) -> bool:
        return self.status == PlayerStatus.ACTIVE


# The player-protection limits of a wallet (its currency) and the figures counted against
# them, as the money path reads them: (kind, period) -> (limit column, counted column).
LIMIT_COLUMNS = {
    (kind, period): (f"{kind}_limit_{period}_minor", f"{counted}_{period}_minor")
    for kind, counted in (("deposit", "deposited"), ("loss", "lost"), ("wager", "wagered"))
    for period in ("day", "week", "month")
}


def _minor_or_null() -> models.BigIntegerField:
    return models.BigIntegerField(null=True, blank=True, editable=False)


class Wallet(models.Model):
    """One per player and currency. Only wallets.ledger changes balance_minor and reserved_minor.

    available = balance - reserved. `reserved` holds buy-ins of open sessions and held
    transactions. The database refuses any state outside 0 <= reserved <= balance.

    Player-protection limits live on the row the money path locks anyway, as plain integer
    columns: a wallet without limits has `limits_counted_on` NULL (one test per bet, and NULL
    columns take no space); with limits, the ledger counts deposits, stakes and net losses of
    the current UTC day, ISO week and calendar month in the *_day/_week/_month columns,
    rolling a period over when `limits_counted_on` (the UTC day last counted) is in an earlier
    one. Only wallets.ledger writes them; the protection app decides the limits.
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

    # The head of the wallet's hash chain: its latest ledger row's id and chain hash, written
    # by the ledger's insert trigger (pitboss_chain_row, wallets/sql/ledger.sql) with each row
    # under the wallet lock, so the next row chains on without searching the partitioned ledger.
    # NULL until the wallet's first row after the head was introduced (the trigger then finds
    # the latest row once). Never written from Python: updates name their columns.
    chain_head_id = models.BigIntegerField(null=True, blank=True, editable=False)
    chain_head_hash = models.BinaryField(null=True, blank=True, editable=False)

    limits_counted_on = models.DateField(null=True, blank=True, editable=False)
    deposit_limit_day_minor = _minor_or_null()
    deposit_limit_week_minor = _minor_or_null()
    deposit_limit_month_minor = _minor_or_null()
    loss_limit_day_minor = _minor_or_null()
    loss_limit_week_minor = _minor_or_null()
    loss_limit_month_minor = _minor_or_null()
    wager_limit_day_minor = _minor_or_null()
    wager_limit_week_minor = _minor_or_null()
    wager_limit_month_minor = _minor_or_null()
    deposited_day_minor = _minor_or_null()
    deposited_week_minor = _minor_or_null()
    deposited_month_minor = _minor_or_null()
    lost_day_minor = _minor_or_null()
    lost_week_minor = _minor_or_null()
    lost_month_minor = _minor_or_null()
    wagered_day_minor = _minor_or_null()
    wagered_week_minor = _minor_or_null()
    wagered_month_minor = _minor_or_null()

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
