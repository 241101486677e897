"""Enumerations behind the monitoring app's choice fields, in one place."""

from django.db import models


class AlertState(models.TextChoices):
    PENDING = "pending", "Pending (condition holds, not yet for the pending period)"
    FIRING = "firing", "Firing"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


# An alert in one of these states is "open": at most one per fingerprint.
OPEN_STATES = (AlertState.PENDING, AlertState.FIRING, AlertState.ACKNOWLEDGED)


class AlertRule(models.TextChoices):
    LATENCY_P95 = "latency_p95", "Wallet latency p95"
    ERROR_RATE = "error_rate", "Provider error rate"
    LOCK_CONTENTION_P95 = "lock_contention_p95", "Wallet lock wait p95"
    OPEN_SESSIONS_PER_PLAYER = "open_sessions_per_player", "Open sessions per player"
    ORPHANED_SESSIONS = "orphaned_sessions", "Orphaned sessions per hour"
    DRIFT = "drift", "Balance drift"
    METRIC_SOURCE = "metric_source", "Published figure above threshold"
    AUTO_PROTECTION = "auto_protection", "Provider restricted/suspended by auto-protection"
    PROVIDER_FAILING = "provider_failing", "Provider failing (no successful call, errors far above)"
    LEDGER_TAMPERED = "ledger_tampered", "Ledger hash chain broken"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    WARNING = "warning", "Warning"


# The `severity` label of each rule's alerts (what routes match on).
RULE_SEVERITY = {
    AlertRule.LATENCY_P95: Severity.WARNING,
    AlertRule.ERROR_RATE: Severity.CRITICAL,
    AlertRule.LOCK_CONTENTION_P95: Severity.WARNING,
    AlertRule.OPEN_SESSIONS_PER_PLAYER: Severity.WARNING,
    AlertRule.ORPHANED_SESSIONS: Severity.WARNING,
    AlertRule.DRIFT: Severity.CRITICAL,
    AlertRule.METRIC_SOURCE: Severity.WARNING,
    AlertRule.AUTO_PROTECTION: Severity.CRITICAL,
    AlertRule.PROVIDER_FAILING: Severity.CRITICAL,
    AlertRule.LEDGER_TAMPERED: Severity.CRITICAL,
}

# Rules whose alerts fire at the first evaluation that sees them: nothing in flight can clear
# them (the pending period is for figures that blip).
IMMEDIATE_RULES = frozenset({AlertRule.LEDGER_TAMPERED})


class GroupLabel(models.TextChoices):
    """The labels of an alert that routes group by (and match on)."""

    PROVIDER = "provider", "Provider"
    RULE = "rule", "Rule"
    SEVERITY = "severity", "Severity"


class ReceiverKind(models.TextChoices):
    EMAIL = "email", "E-mail (Django's mail backend)"
    WEBHOOK = "webhook", "Webhook (HTTP POST of JSON)"
    LOG = "log", "Delivery log only (nobody is told)"


class InhibitingState(models.TextChoices):
    """A provider's state that inhibits its alerts (an inhibition rule's source)."""

    SUSPENDED = "suspended", "Provider suspended"
    RESTRICTED = "restricted", "Provider restricted"


class ProtectionAction(models.TextChoices):
    RESTRICT = "restrict", "Restrict (no new sessions)"
    SUSPEND = "suspend", "Suspend (no new sessions, no bets)"


class ProfileTemplate(models.TextChoices):
    CONSERVATIVE = "conservative", "Conservative (new providers)"
    STANDARD = "standard", "Standard"
    PROVEN = "proven", "Proven"
    CUSTOM = "custom", "Custom (edited by hand)"


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryEvent(models.TextChoices):
    FIRED = "fired", "Alert fired"
    RESOLVED = "resolved", "Alert resolved"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (will be tried / retried)"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up after the last attempt)"
    SUPPRESSED = "suppressed", "Suppressed by a silence"


# Outcomes of a wallet call that are the wallet doing its job (a refusal the contract foresees),
# not a failed call. Everything else that is not "OK" counts towards the provider error rate:
# 5xx, malformed or unsigned requests, unknown tokens, id clashes. PROVIDER_SUSPENDED and
# PROVIDER_RESTRICTED are our own doing: counting them would keep an auto-protection alert
# firing for ever.
BUSINESS_OUTCOMES = frozenset(
    {
        "OK",
        "INSUFFICIENT_FUNDS",
        "BET_DECLINED",
        "LIMIT_EXCEEDED",
        "PLAYER_BLOCKED",
        "SESSION_LIMIT",
        "SESSION_EXPIRED",
        "ROUND_CLOSED",
        "TRANSACTION_ROLLED_BACK",
        "PROVIDER_SUSPENDED",
        "PROVIDER_RESTRICTED",
    }
)


def is_error_outcome(outcome: str) -> bool:
    return outcome not in BUSINESS_OUTCOMES


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending (will be tried / retried)"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up after the last attempt)"
