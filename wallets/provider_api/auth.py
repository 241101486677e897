"""Who is calling the wallet API: provider code, HMAC signature, time window, address."""

import hmac
import ipaddress
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
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


@dataclass(frozen=True)
class _Credential:
    pk: int
    kind: str
    secret: bytes  # HMAC: the decrypted secret; Ed25519: empty
    public_key: str
    expires_at: object


@dataclass(frozen=True)
class _KnownProvider:
    provider: Provider
    credentials: tuple[_Credential, ...]
    loaded_at: float


# Providers and their usable credentials (secrets decrypted), by code. Every wallet call
# verifies a signature; reading and decrypting them per call cost two queries and a Fernet
# decryption. An entry lives WALLET_PROVIDER_CACHE_SECONDS; saving or deleting a provider or a
# credential drops it in this process at once (signals below), other processes reload within
# that time. The provider's status is never taken from here: the session look-up and the
# ledger read it live.
_known: dict[str, _KnownProvider] = {}


def forget_providers(**kwargs) -> None:
    """Drop every cached provider (connected to Provider / ProviderCredential saves)."""
    _known.clear()


def _load(code: str) -> _KnownProvider | None:
    provider = Provider.objects.filter(code=code).first()
    if provider is None:
        return None
    rows = ProviderCredential.objects.filter(provider=provider, revoked_at__isnull=True)
    credentials = tuple(
        _Credential(
            pk=row.pk,
            kind=row.kind,
            secret=(
                b""
                if row.kind == CredentialKind.ED25519
                else crypto.decrypt_secret(row.secret_ciphertext)
            ),
            public_key=row.public_key,
            expires_at=row.expires_at,
        )
        for row in rows
    )
    entry = _KnownProvider(provider=provider, credentials=credentials, loaded_at=time.monotonic())
    _known[code] = entry
    return entry


def _known_provider(code: str, *, reload: bool = False) -> _KnownProvider | None:
    entry = _known.get(code)
    if (
        reload
        or entry is None
        or time.monotonic() - entry.loaded_at >= settings.WALLET_PROVIDER_CACHE_SECONDS
    ):
        return _load(code)
    return entry


def _matching_credential(
    entry: _KnownProvider, timestamp: str, path: str, body: bytes, offered: bytes
):
    now = timezone.now()
    for credential in entry.credentials:
        if credential.expires_at is not None and credential.expires_at <= now:
            continue
        if credential.kind == CredentialKind.ED25519:
            if crypto.verify_ed25519(credential.public_key, timestamp, path, body, offered):
                return credential
            continue
        expected = crypto.sign(credential.secret, timestamp, path, body)
        if hmac.compare_digest(expected.encode(), offered):
            return credential
    return None


def authenticate_provider(request, *, address: str | None) -> Provider:
    """The provider whose valid signature this request carries, or a 401/403 error.

    The signature covers the timestamp, the request path (as the provider requested it,
    without query string) and the raw body. Any unexpired, unrevoked credential of the
    provider may have signed (rotation overlap): an HMAC secret (compared in constant time) or
    an Ed25519 public key (verified). The returned Provider is shared by concurrent calls: read
    it, never change it.
    """
    code = request.headers.get("X-Provider-Code", "")
    timestamp = request.headers.get("X-Timestamp", "")
    signature = request.headers.get("X-Signature", "")
    if not code or not timestamp or not signature:
        raise InvalidSignature("X-Provider-Code, X-Timestamp and X-Signature are required")
    entry = _known_provider(code)
    if entry is None:
        raise InvalidSignature()
    # Known from here on, even if the signature fails: failures count against this provider.
    request.wallet_provider = entry.provider
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
    path = request.path
    matched = _matching_credential(entry, timestamp, path, body, offered)
    if matched is None:
        # A credential added a moment ago in another process: look once more, fresh.
        entry = _known_provider(code, reload=True)
        if entry is None:
            raise InvalidSignature()
        request.wallet_provider = entry.provider
        path = request.path
    matched = _matching_credential(entry, timestamp, path, body, offered)
    if matched is None:
        raise InvalidSignature()
    # Plain ASCII digits only: int() would also take " 17", "+17", "1_7" and other scripts' digits.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise InvalidSignature("X-Timestamp must be Unix seconds")
    # Whole seconds on both sides: exactly 300 s apart is inside the window, 301 s is not.
    if abs(int(time.time()) - int(timestamp)) > settings.WALLET_SIGNATURE_WINDOW_SECONDS:
        raise SignatureExpired()
    if not ip_allowed(address, entry.provider.ip_allowlist):
        raise IpNotAllowed()
    _note_credential_use(matched.pk)
    return entry.provider


def _note_credential_use(credential_pk: int) -> None:
    last = _last_used_written.get(credential_pk, 0.0)
    if time.monotonic() - last >= _LAST_USED_EVERY_SECONDS:
        _last_used_written[credential_pk] = time.monotonic()
        ProviderCredential.objects.filter(pk=credential_pk).update(last_used_at=timezone.now())
