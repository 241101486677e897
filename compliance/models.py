"""Provider security compliance: the policy (global defaults, per-provider overrides) and the
violations the checks record."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from compliance.choices import Severity, ViolationKind
from wallets.models import Provider

# The bounds of the policy's durations, checked by the admin (model validators) and the API
# (compliance.api.serializers) alike, and applied again when a policy is read
# (compliance.policies): a bigger figure would overflow a date when a credential is issued or a
# window's start is computed. 100 years of credential lifetime; a week of counting windows.
POLICY_BOUNDS = {
    "max_credential_lifetime_days": (1, 36_500),
    "signature_failure_window_seconds": (1, 7 * 24 * 3600),
    "window_minutes": (1, 7 * 24 * 60),
}


def _bounded(name: str) -> list:
    low, high = POLICY_BOUNDS[name]
    return [MinValueValidator(low), MaxValueValidator(high)]


class GlobalSecurityPolicy(models.Model):
    """The one global policy row (pk 1): every provider's defaults. Created on first use with
    the COMPLIANCE_* settings' values."""

    max_credential_lifetime_days = models.PositiveIntegerField(
        default=365,
        validators=_bounded("max_credential_lifetime_days"),
        help_text="A credential older than this is a violation (at most 36,500 days).",
    )
    issue_with_expiry = models.BooleanField(
        default=False,
        help_text="New credentials (create, rotate, add key) expire after the maximum lifetime.",
    )
    require_tls = models.BooleanField(
        default=False, help_text="A wallet API call over plain HTTP is a violation."
    )
    signature_failure_threshold = models.PositiveIntegerField(
        default=10, help_text="This many signature failures within the failure window: violation."
    )
    signature_failure_window_seconds = models.PositiveIntegerField(
        default=300, validators=_bounded("signature_failure_window_seconds")
    )
    window_minutes = models.PositiveIntegerField(
        default=60,
        validators=_bounded("window_minutes"),
        help_text="Violations are counted over this many minutes (at most a week).",
    )
    alert_threshold = models.PositiveIntegerField(
        default=3, help_text="Violations in the window that raise an alert (0: never)."
    )
    restrict_threshold = models.PositiveIntegerField(
        default=10, help_text="Violations in the window that restrict the provider (0: never)."
    )
    suspend_threshold = models.PositiveIntegerField(
        default=0, help_text="Violations in the window that suspend the provider (0: never)."
    )
    kill_sessions_on_suspend = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "global security policy"
        verbose_name_plural = "global security policy"

    def __str__(self) -> str:
        return "Global security policy"


POLICY_FIELDS = [
    "max_credential_lifetime_days",
    "issue_with_expiry",
    "require_tls",
    "signature_failure_threshold",
    "signature_failure_window_seconds",
    "window_minutes",
    "alert_threshold",
    "restrict_threshold",
    "suspend_threshold",
    "kill_sessions_on_suspend",
]


class ProviderSecurityPolicy(models.Model):
    """One provider's overrides of the global policy; an empty field inherits it."""

    provider = models.OneToOneField(
        "wallets.Provider", on_delete=models.CASCADE, related_name="security_policy"
    )
    max_credential_lifetime_days = models.PositiveIntegerField(
        null=True, blank=True, validators=_bounded("max_credential_lifetime_days")
    )
    issue_with_expiry = models.BooleanField(null=True, blank=True)
    require_tls = models.BooleanField(null=True, blank=True)
    signature_failure_threshold = models.PositiveIntegerField(null=True, blank=True)
    signature_failure_window_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=_bounded("signature_failure_window_seconds")
    )
    window_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=_bounded("window_minutes")
    )
    alert_threshold = models.PositiveIntegerField(null=True, blank=True)
    restrict_threshold = models.PositiveIntegerField(null=True, blank=True)
    suspend_threshold = models.PositiveIntegerField(null=True, blank=True)
    kill_sessions_on_suspend = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "provider security policy"
        verbose_name_plural = "provider security policies"

    def __str__(self) -> str:
        return f"Security policy of {self.provider}"


class SecurityViolation(models.Model):
    """One recorded breach of the security policy. Evidence is redacted: it never holds a card
    number, password or secret. Repeats of the same kind for the same provider within a minute
    are folded into `occurrences` instead of new rows."""

    provider = models.ForeignKey(
        "wallets.Provider", on_delete=models.CASCADE, related_name="security_violations"
    )
    kind = models.CharField(max_length=32, choices=ViolationKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    evidence = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    occurrences = models.PositiveIntegerField(default=1)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["provider", "occurred_at"], name="violation_by_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.kind} {self.occurred_at:%Y-%m-%d %H:%M}"


class ProviderCompliance(Provider):
    """The compliance officer's view of a provider (admin page): status history, violations,
    credentials and open sessions. A proxy: no table of its own."""

    class Meta:
        proxy = True
        verbose_name = "provider compliance page"
        verbose_name_plural = "provider compliance pages"
