from django.conf import settings
from django.db import models
from django.db.models import Q

from wallets.choices import RoundStatus, SessionEndReason, SessionStatus
from wallets.models.players import Player, Wallet
from wallets.models.providers import Provider


class GameSession(models.Model):
    """A game launch: opened by the operator's platform, confirmed and played by the provider.

    The launch token is returned once; only its SHA-256 is stored. `reserved_minor` is what is
    left of the buy-in; the ledger keeps it inside the wallet's `reserved_minor`.
    """

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="sessions")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="sessions")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="sessions")
    currency = models.CharField(max_length=3)
    game_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(
        max_length=16, choices=SessionStatus.choices, default=SessionStatus.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    authenticated_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, choices=SessionEndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # indexed where set (Meta.indexes)
    )
    end_note = models.CharField(max_length=500, blank=True)
    buy_in_minor = models.BigIntegerField(default=0)
    reserved_minor = models.BigIntegerField(default=0)

    class Meta:
        permissions = [("close_game_session", "Can close game sessions")]
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["player", "provider"],
                condition=Q(status="open"),
                name="session_open_by_player",
            ),
            models.Index(
                fields=["last_activity_at"],
                condition=Q(status="open"),
                name="session_open_by_activity",
            ),
            models.Index(
                fields=["ended_by"], condition=Q(ended_by__isnull=False), name="session_ended_by"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(reserved_minor__gte=0), name="session_reserved_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(status="open") | Q(reserved_minor=0),
                name="session_reservation_only_while_open",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} ({self.player} @ {self.provider})"

    @property
    def is_open(self) -> bool:
        return self.status == SessionStatus.OPEN


class Round(models.Model):
    """A provider's game round for one player (live tables share one round id across players)."""

    # round_unique_per_player starts with the provider: no index of its own.
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="rounds", db_index=False
    )
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="rounds")
    session = models.ForeignKey(GameSession, on_delete=models.PROTECT, related_name="rounds")
    external_id = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=RoundStatus.choices, default=RoundStatus.OPEN)
    has_bet = models.BooleanField(default=False)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set by session cleanup when the provider's open-round policy is `flag`: the round of an
    # abandoned session outlived the round timeout and waits for the provider or support.
    flagged_at = models.DateTimeField(null=True, blank=True)  # indexed where set (Meta.indexes)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "player", "external_id"], name="round_unique_per_player"
            ),
        ]
        indexes = [
            models.Index(
                fields=["session", "opened_at"],
                condition=Q(status="open"),
                name="round_open_by_session",
            ),
            models.Index(
                fields=["flagged_at"], condition=Q(flagged_at__isnull=False), name="round_flagged"
            ),
            # The GGR roll-up: a provider's rounds of a day (a round counts on the day it opened).
            models.Index(fields=["provider", "opened_at"], name="round_by_provider_opened"),
        ]

    def __str__(self) -> str:
        return f"round {self.external_id} ({self.provider})"


class SessionCleanupRun(models.Model):
    """One run of the idle-session cleanup, with what it did per provider (SessionCleanupStat)."""

    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    sessions_ended = models.PositiveIntegerField(default=0)
    rounds_refunded = models.PositiveIntegerField(default=0)
    rounds_flagged = models.PositiveIntegerField(default=0)
    # True when the run stopped at its time budget with work left for the next run.
    incomplete = models.BooleanField(default=False)
    triggered_by = models.CharField(max_length=64, default="beat")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"cleanup {self.started_at:%Y-%m-%d %H:%M:%S} ({self.sessions_ended} ended)"


class SessionCleanupStat(models.Model):
    run = models.ForeignKey(SessionCleanupRun, on_delete=models.CASCADE, related_name="stats")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    sessions_expired = models.PositiveIntegerField(default=0)
    sessions_abandoned = models.PositiveIntegerField(default=0)
    reservations_released = models.PositiveIntegerField(default=0)
    # {currency: minor units released}
    released_minor = models.JSONField(default=dict, blank=True)
    rounds_refunded = models.PositiveIntegerField(default=0)
    rounds_flagged = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["run", "provider"], name="cleanup_stat_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.run} {self.provider}"
