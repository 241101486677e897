from django.contrib.postgres.fields import ArrayField
from django.db import models

from wallets.choices import (
    CredentialKind,
    OpenRoundPolicy,
    ProviderProtocol,
    ProviderStatus,
    RoundingMode,
)


class Provider(models.Model):
    """A game provider or aggregator calling the wallet API, with its session settings."""

    code = models.SlugField(max_length=64, unique=True, help_text="Sent as X-Provider-Code.")
    name = models.CharField(max_length=200)
    currencies = ArrayField(models.CharField(max_length=3), default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=ProviderStatus.choices, default=ProviderStatus.ACTIVE
    )
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    ip_allowlist = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        help_text="Addresses or networks (CIDR) allowed to call; empty allows any.",
    )
    rounding_mode = models.CharField(
        max_length=16,
        choices=RoundingMode.choices,
        blank=True,
        help_text="Empty: amounts with too many decimals are refused (INVALID_AMOUNT).",
    )
    idle_timeout_seconds = models.PositiveIntegerField(
        default=1800, help_text="A session with no call for this long is abandoned."
    )
    round_timeout_seconds = models.PositiveIntegerField(
        default=3600, help_text="A round open this long in an abandoned session gets the policy."
    )
    max_sessions_per_player = models.PositiveIntegerField(default=5)
    open_round_policy = models.CharField(
        max_length=16, choices=OpenRoundPolicy.choices, default=OpenRoundPolicy.REFUND
    )
    protocol = models.CharField(
        max_length=16,
        choices=ProviderProtocol.choices,
        default=ProviderProtocol.NATIVE,
        db_default=ProviderProtocol.NATIVE,
        help_text="The wallet protocol the provider calls in: /wallet/v1/ for the native API, "
        "/wallet/<protocol>/<code>/ for the others.",
    )
    protocol_options = models.JSONField(
        default=dict,
        db_default={},
        blank=True,
        help_text="Settings of the protocol for this provider (each protocol's page in docs/ "
        "lists them).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [
            ("change_provider_status", "Can suspend, restrict and restore providers"),
            ("rotate_provider_secret", "Can rotate provider secrets"),
        ]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ProviderCredential(models.Model):
    """A provider's wallet-API credential: a shared secret stored encrypted (wallets.crypto),
    never in plain text, or a public key (Ed25519 for the native API, RSA for Hub88)."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="credentials")
    kind = models.CharField(
        max_length=16, choices=CredentialKind.choices, default=CredentialKind.HMAC
    )
    # HMAC: the Fernet-encrypted secret. Ed25519: empty (the operator holds no secret).
    secret_ciphertext = models.TextField(editable=False, blank=True)
    # Ed25519: the raw 32-byte public key, hex. RSA: the public key, PEM. HMAC: empty.
    public_key = models.TextField(blank=True, editable=False)
    # First characters of SHA-256(secret or public key): tells credentials apart without the
    # secret.
    fingerprint = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("manage_provider_credentials", "Can add and revoke provider credentials")]

    def __str__(self) -> str:
        return f"{self.provider.code} {self.kind} {self.fingerprint}"
