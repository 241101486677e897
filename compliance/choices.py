"""Enumerations of the compliance app."""

from django.db import models


class ViolationKind(models.TextChoices):
    CREDENTIAL_TOO_OLD = "credential_too_old", "Credential older than the maximum lifetime"
    CREDENTIAL_NO_EXPIRY = "credential_no_expiry", "Credential without expiry"
    SIGNATURE_FAILURES = "signature_failures", "Repeated signature failures"
    CLOCK_SKEW = "clock_skew", "Expired timestamp (clock skew)"
    IP_NOT_ALLOWED = "ip_not_allowed", "Call from outside the allowlist"
    CARD_NUMBER = "card_number", "Card number in plain text"
    CVV = "cvv", "Card security code in plain text"
    PASSWORD = "password", "Password or PIN in plain text"
    EMAIL = "email", "E-mail address where none belongs"
    PLAIN_HTTP = "plain_http", "Wallet API called over plain HTTP"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY = {
    ViolationKind.CREDENTIAL_TOO_OLD: Severity.MEDIUM,
    ViolationKind.CREDENTIAL_NO_EXPIRY: Severity.LOW,
    ViolationKind.SIGNATURE_FAILURES: Severity.MEDIUM,
    ViolationKind.CLOCK_SKEW: Severity.LOW,
    ViolationKind.IP_NOT_ALLOWED: Severity.HIGH,
    ViolationKind.CARD_NUMBER: Severity.CRITICAL,
    ViolationKind.CVV: Severity.CRITICAL,
    ViolationKind.PASSWORD: Severity.HIGH,
    ViolationKind.EMAIL: Severity.MEDIUM,
    ViolationKind.PLAIN_HTTP: Severity.HIGH,
}

# Sensitive-data kinds found by the request inspector.
SENSITIVE_KINDS = frozenset(
    {ViolationKind.CARD_NUMBER, ViolationKind.CVV, ViolationKind.PASSWORD, ViolationKind.EMAIL}
)
