"""Who is calling the wallet API: provider code, HMAC signature, time window, address."""

import hmac
import ipaddress
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from django.utils import timezone

from wallets import crypto
from wallets.choices import CredentialKind
from wallets.errors import InvalidSignature, IpNotAllowed, SignatureExpired, ValidationFailed
from wallets.models import Provider, ProviderCredential

# Throttle for writing ProviderCredential.last_used_at: at most once a minute per credential.
_LAST_USED_EVERY_SECONDS = 60
_last_used_written: dict[int, float] = {}


def client_ip(request) -> str | None:
    """The caller's address; behind a proxy (BEHIND_PROXY) the first X-Forwarded-For hop."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def ip_allowed(address: str | None, allowlist: list[str]) -> bool:
    if not allowlist:
        return True
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in allowlist:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def authenticate_provider(request, *, address: str | None) -> Provider:
    """The provider whose valid signature this request carries, or a 401/403 error.

    Any unexpired, unrevoked credential of the provider may have signed (rotation overlap):
    an HMAC secret (compared in constant time) or an Ed25519 public key (verified).
    """
    code = request.headers.get("X-Provider-Code", "")
    timestamp = request.headers.get("X-Timestamp", "")
    signature = request.headers.get("X-Signature", "")
    if not code or not timestamp or not signature:
        raise InvalidSignature("X-Provider-Code, X-Timestamp and X-Signature are required")
    provider = Provider.objects.filter(code=code).first()
    if provider is None:
        raise InvalidSignature()
    # Known from here on, even if the signature fails: failures count against this provider.
    request.wallet_provider = provider
    now = timezone.now()
    credentials = ProviderCredential.objects.filter(
        provider=provider, revoked_at__isnull=True
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    try:
        body = request.body
    except RequestDataTooBig:
        # Django's own SuspiciousOperation would surface as a retryable 500; this is bad input.
        raise ValidationFailed(
            f"request body is too large (limit {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)"
        ) from None
    # Header values may carry any byte (decoded as latin-1); compare bytes, so a non-ASCII
    # "signature" is simply wrong instead of a TypeError from compare_digest.
    offered = signature.encode("latin-1", errors="replace")
    matched = None
    for credential in credentials:
        if credential.kind == CredentialKind.ED25519:
            if crypto.verify_ed25519(credential.public_key, timestamp, body, offered):
                matched = credential
                break
            continue
        expected = crypto.sign(crypto.decrypt_secret(credential.secret_ciphertext), timestamp, body)
        if hmac.compare_digest(expected.encode(), offered):
            matched = credential
            break
    if matched is None:
        raise InvalidSignature()
    # Plain ASCII digits only: int() would also take " 17", "+17", "1_7" and other scripts' digits.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise InvalidSignature("X-Timestamp must be Unix seconds")
    # Whole seconds on both sides: exactly 300 s apart is inside the window, 301 s is not.
    if abs(int(time.time()) - int(timestamp)) > settings.WALLET_SIGNATURE_WINDOW_SECONDS:
        raise SignatureExpired()
    if not ip_allowed(address, provider.ip_allowlist):
        raise IpNotAllowed()
    _note_credential_use(matched, now)
    return provider


def _note_credential_use(credential: ProviderCredential, now) -> None:
    last = _last_used_written.get(credential.pk, 0.0)
    if time.monotonic() - last >= _LAST_USED_EVERY_SECONDS:
        _last_used_written[credential.pk] = time.monotonic()
        ProviderCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
