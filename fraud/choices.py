"""Enumerations behind the fraud app's choice fields, in one place."""

from django.db import models

from wallets import hooks


class RuleKind(models.TextChoices):
    """What a rule looks at. One seeded rule per kind; the kind decides how it is evaluated."""

    RAPID_DEPOSITS_WITHDRAWAL = (
        "rapid_deposits_withdrawal",
        "Rapid small deposits, then a large withdrawal",
    )
    HIGH_STAKE_AFTER_LOGIN = (
        "high_stake_after_login",
        "High-value bet soon after login, far above the player's typical stake",
    )
    WITHDRAWAL_VELOCITY = "withdrawal_velocity", "Withdrawal velocity"
    MULTI_ACCOUNT_IP = "multi_account_ip", "Many accounts from one IP (pattern job)"
    BONUS_FARMING = "bonus_farming", "Repeated minimum deposits: bonus farming (pattern job)"
    LIST_BLOCK = "list_block", "A value of the call is on a block list"
    LIST_REVIEW = "list_review", "A value of the call is on a review list"


# Rules evaluated in the money path (the screener) and by the pattern jobs.
REALTIME_KINDS = frozenset(
    {
        RuleKind.RAPID_DEPOSITS_WITHDRAWAL,
        RuleKind.HIGH_STAKE_AFTER_LOGIN,
        RuleKind.WITHDRAWAL_VELOCITY,
        RuleKind.LIST_BLOCK,
        RuleKind.LIST_REVIEW,
    }
)
PATTERN_KINDS = frozenset({RuleKind.MULTI_ACCOUNT_IP, RuleKind.BONUS_FARMING})


class RuleAction(models.TextChoices):
    ALLOW = hooks.ALLOW, "Allow (record the hit and the risk only)"
    FLAG = hooks.FLAG, "Flag (open a case, let the call through)"
    HOLD = hooks.HOLD, "Hold (keep the funds reserved until reviewed)"
    DECLINE = hooks.DECLINE, "Decline (refuse a bet; payments are held instead)"


# The strongest action of several hits wins.
ACTION_STRENGTH = {
    RuleAction.ALLOW: 0,
    RuleAction.FLAG: 1,
    RuleAction.HOLD: 2,
    RuleAction.DECLINE: 3,
}


class CaseKind(models.TextChoices):
    HOLD = "hold", "Held transaction"
    DECLINE = "decline", "Declined bet"
    FLAG = "flag", "Flag"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    AWAITING_SECOND = "awaiting_second", "Approved once, awaiting a second approver"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


UNDECIDED_STATUSES = (CaseStatus.OPEN, CaseStatus.AWAITING_SECOND)


class DecisionReason(models.TextChoices):
    """Why staff decided a case the way they did (required with every decision)."""

    VERIFIED_PLAYER = "verified_player", "Player verified (documents, contact)"
    LEGITIMATE_PATTERN = "legitimate_pattern", "Legitimate pattern, false positive"
    PAYMENT_VERIFIED = "payment_verified", "Payment method verified"
    SUSPECTED_FRAUD = "suspected_fraud", "Suspected fraud"
    STOLEN_PAYMENT = "stolen_payment", "Stolen payment method"
    ACCOUNT_TAKEOVER = "account_takeover", "Account takeover"
    BONUS_ABUSE = "bonus_abuse", "Bonus abuse"
    MULTI_ACCOUNTING = "multi_accounting", "Multi-accounting"
    OTHER = "other", "Other (see note)"


class VersionState(models.TextChoices):
    """Where a rule version stands. A rule has exactly one live version and at most one in
    shadow (partial unique indexes); drafts are edited freely; superseded versions are history."""

    DRAFT = "draft", "Draft"
    LIVE = "live", "Live"
    SHADOW = "shadow", "Shadow (evaluated next to live, decides nothing)"
    SUPERSEDED = "superseded", "Superseded"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ListKind(models.TextChoices):
    """What the entries of a list are."""

    IP = "ip", "IP addresses and ranges (CIDR)"
    COUNTRY = "country", "Countries (ISO 3166-1 alpha-2)"
    PAYMENT_FINGERPRINT = "payment_fingerprint", "Payment fingerprints"
    PLAYER = "player", "Player ids"


class ListPurpose(models.TextChoices):
    """What a match means: the list rules act on block and review lists; a trust list makes the
    player trusted for the call (see fraud.rules)."""

    BLOCK = "block", "Block (the list_block rule's action)"
    REVIEW = "review", "Review (the list_review rule's action)"
    TRUST = "trust", "Trust (the player counts as trusted)"
