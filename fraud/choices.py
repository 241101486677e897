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


# Which reason codes fit which decision: an approval is never explained by a fraud finding, a
# rejection never by a verified player. `other` (with the note) fits both.
APPROVE_REASONS = (
    DecisionReason.VERIFIED_PLAYER,
    DecisionReason.LEGITIMATE_PATTERN,
    DecisionReason.PAYMENT_VERIFIED,
    DecisionReason.OTHER,
)
REJECT_REASONS = (
    DecisionReason.SUSPECTED_FRAUD,
    DecisionReason.STOLEN_PAYMENT,
    DecisionReason.ACCOUNT_TAKEOVER,
    DecisionReason.BONUS_ABUSE,
    DecisionReason.MULTI_ACCOUNTING,
    DecisionReason.OTHER,
)


class CaseOutcome(models.TextChoices):
    """What the case turned out to be: the label the rule statistics count.

    false_positive: the rule fired on ordinary activity (the rule was wrong to ask);
    legitimate: unusual activity, rightly reviewed, explained by the player's circumstances;
    confirmed_fraud: what the rule is there to catch."""

    CONFIRMED_FRAUD = "confirmed_fraud", "Confirmed fraud"
    FALSE_POSITIVE = "false_positive", "False positive"
    LEGITIMATE = "legitimate", "Legitimate (unusual, explained)"


# Outcomes that fit each decision: approving lets the money through, so it never confirms
# fraud; rejecting stops it, which only a confirmed finding justifies.
APPROVE_OUTCOMES = (CaseOutcome.FALSE_POSITIVE, CaseOutcome.LEGITIMATE)
REJECT_OUTCOMES = (CaseOutcome.CONFIRMED_FRAUD,)


def default_outcome(*, approve: bool, reason_code: str) -> str:
    """The outcome of a decision taken without one (the holds endpoints of the API contract,
    the admin's bulk actions): a rejection confirms fraud; an approval explained as a
    legitimate pattern was a false positive, any other approval legitimate."""
    if not approve:
        return CaseOutcome.CONFIRMED_FRAUD
    if reason_code == DecisionReason.LEGITIMATE_PATTERN:
        return CaseOutcome.FALSE_POSITIVE
    return CaseOutcome.LEGITIMATE


class CaseLevel(models.IntegerChoices):
    FIRST = 1, "Level 1"
    SECOND = 2, "Level 2 (escalated)"


class CaseQueue(models.TextChoices):
    """The case manager's queues: one per kind at level 1, and the escalated cases of every
    kind at level 2 (they leave the level-1 queues)."""

    HOLD = "hold", "Held transactions"
    DECLINE = "decline", "Declined bets"
    FLAG = "flag", "Flags"
    ESCALATED = "escalated", "Escalated (level 2)"


class SlaState(models.TextChoices):
    OK = "ok", "Within SLA"
    WARNING = "warning", "Near the SLA (75 % used)"
    BREACHED = "breached", "SLA breached"


# The largest snooze staff may set on one rule for one player.
MAX_SNOOZE_DAYS = 180


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
