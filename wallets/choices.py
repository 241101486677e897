"""Enumerations behind the wallets app's choice fields, in one place."""

from django.db import models


class PlayerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    BLOCKED = "blocked", "Blocked"


class ProviderStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RESTRICTED = "restricted", "Restricted (no new sessions)"
    SUSPENDED = "suspended", "Suspended (no sessions, no bets)"


class RoundingMode(models.TextChoices):
    HALF_UP = "half_up", "Half up"
    HALF_EVEN = "half_even", "Half even (banker's)"
    DOWN = "down", "Down (towards zero)"
    UP = "up", "Up (away from zero)"


class OpenRoundPolicy(models.TextChoices):
    REFUND = "refund", "Refund the stake"
    FLAG = "flag", "Leave for the provider, flag to support"


class CredentialKind(models.TextChoices):
    HMAC = "hmac", "Shared secret (HMAC key, API token or hash key)"
    ED25519 = "ed25519", "Ed25519 public key (the operator holds no secret)"
    RSA = "rsa", "RSA public key (the operator holds no secret)"


class ProviderProtocol(models.TextChoices):
    """The wallet protocol a provider calls in (wallets/adapters)."""

    NATIVE = "native", "Pitboss wallet API"
    HUB88 = "hub88", "Hub88 operator wallet API (RS_* family)"
    EVOLUTION = "evolution", "Evolution One Wallet"
    PRAGMATIC = "pragmatic", "Pragmatic Play seamless wallet"
    SOFTSWISS = "softswiss", "SoftSwiss / BGaming game provider API"


class SessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    EXPIRED = "expired", "Expired"
    ABANDONED = "abandoned", "Abandoned"
    KILLED = "killed", "Killed"


class SessionEndReason(models.TextChoices):
    GRACEFUL = "graceful", "Closed by the provider"
    IDLE_TIMEOUT = "idle_timeout", "Idle timeout"
    STAFF = "staff", "Closed by staff"
    PROVIDER_SUSPENSION = "provider_suspension", "Provider suspended"
    PLAYER_PROTECTION = "player_protection", "Player protection (exclusion or session limit)"


class RoundStatus(models.TextChoices):
    OPEN = "open", "Open"
    SETTLED = "settled", "Settled"
    CANCELLED = "cancelled", "Cancelled"


class TransactionKind(models.TextChoices):
    BET = "bet", "Bet"
    WIN = "win", "Win"
    ROLLBACK = "rollback", "Rollback"
    DEPOSIT = "deposit", "Deposit"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    ADJUSTMENT = "adjustment", "Adjustment"
    # A provider's credit with no stake: free-round winnings, promotions, jackpots, rewards.
    PROMO = "promo", "Promotional credit"


class CreditType(models.TextChoices):
    """What a promotional credit (TransactionKind.PROMO) pays out."""

    FREE_ROUND = "free_round", "Free rounds"
    PROMO = "promo", "Promotion"
    JACKPOT = "jackpot", "Jackpot"
    REWARD = "reward", "Reward or tournament prize"


class TransactionStatus(models.TextChoices):
    POSTED = "posted", "Posted"
    HELD = "held", "Held for review"
    REJECTED = "rejected", "Rejected"
    ROLLED_BACK = "rolled_back", "Rolled back"


# Kinds that take money out of the wallet; the others put it in.
DEBIT_KINDS = frozenset({TransactionKind.BET, TransactionKind.WITHDRAWAL})
