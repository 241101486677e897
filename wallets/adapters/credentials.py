"""Who is calling: the provider, its usable credentials (cached, secrets decrypted), the caller's
address and the provider's allowlist. Shared by every protocol adapter; each adapter decides
how its protocol signs (HMAC of what, RSA, a token in the query) and asks here for the keys.

Providers and their credentials are cached per process by code: every wallet call verifies a
signature, and reading and decrypting them per call cost two queries and a Fernet decryption.
An entry lives WALLET_PROVIDER_CACHE_SECONDS; saving or deleting a provider or a credential
drops the cache in this process at once (wallets.apps connects the signals), other processes
reload within that time. A provider's status is never taken from here: the session look-up and
the ledger read it live.
"""

import hmac
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils import timezone

from wallets import crypto
from wallets.choices import CredentialKind
from wallets.errors import ValidationFailed
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


def read_body(request) -> bytes:
    """The request body; a body over DATA_UPLOAD_MAX_MEMORY_SIZE is bad input (Django's own
    SuspiciousOperation would surface as a retryable 500)."""
    try:
        return request.body
    except RequestDataTooBig:
        raise ValidationFailed(
            f"request body is too large (limit {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)"
        ) from None


@dataclass(frozen=True)
class Credential:
    pk: int
    kind: str
    secret: bytes  # HMAC: the decrypted shared secret; key kinds: empty
    public_key: str  # Ed25519: hex; RSA: PEM
    expires_at: object

    def usable(self, now) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class KnownProvider:
    provider: Provider
    credentials: tuple[Credential, ...]
    loaded_at: float

    def usable(self, kind: str) -> list[Credential]:
        now = timezone.now()
        return [c for c in self.credentials if c.kind == kind and c.usable(now)]


_known: dict[str, KnownProvider] = {}


def forget_providers(**kwargs) -> None:
    """Drop every cached provider (connected to Provider / ProviderCredential saves)."""
    _known.clear()


def _load(code: str) -> KnownProvider | None:
    provider = Provider.objects.filter(code=code).first()
    if provider is None:
        return None
    rows = ProviderCredential.objects.filter(provider=provider, revoked_at__isnull=True)
    entry = KnownProvider(
        provider=provider,
        credentials=tuple(
            Credential(
                pk=row.pk,
                kind=row.kind,
                secret=(
                    crypto.decrypt_secret(row.secret_ciphertext)
                    if row.kind == CredentialKind.HMAC
                    else b""
                ),
                public_key=row.public_key,
                expires_at=row.expires_at,
            )
            for row in rows
        ),
        loaded_at=time.monotonic(),
    )
    _known[code] = entry
    return entry


# What a provider code can be (Provider.code is a slug of at most 64 characters): anything else
# names no provider and is never looked up (PostgreSQL refuses a NUL byte in a query, which
# would otherwise surface as a 500).
_CODE = re.compile(r"[-a-zA-Z0-9_]{1,64}")


def known_provider(code: str, *, reload: bool = False) -> KnownProvider | None:
    """The provider with this code and its unrevoked credentials, from the cache."""
    entry = _known.get(code)
    if entry is None and not _CODE.fullmatch(code):
        return None
    if (
        reload
        or entry is None
        or time.monotonic() - entry.loaded_at >= settings.WALLET_PROVIDER_CACHE_SECONDS
    ):
        return _load(code)
    return entry


def find_credential(
    known: KnownProvider, matches: Callable[[Credential], bool], *, kinds: tuple[str, ...]
) -> tuple[KnownProvider, Credential | None]:
    """The first usable credential of `kinds` that `matches` the request; when none does, the
    provider is read afresh once (a credential added a moment ago in another process)."""
    for attempt in range(2):
        for kind in kinds:
            for credential in known.usable(kind):
                if matches(credential):
                    note_credential_use(credential.pk)
                    return known, credential
        if attempt == 0:
            fresh = known_provider(known.provider.code, reload=True)
            if fresh is None:
                return known, None
            known = fresh
    return known, None


def hmac_hex_matches(secret: bytes, message: bytes, offered: str) -> bool:
    """Whether `offered` is the lowercase hex HMAC-SHA256 of `message` (constant time; a header
    may carry any byte, so bytes are compared)."""
    expected = hmac.new(secret, message, "sha256").hexdigest().encode()
    return hmac.compare_digest(expected, offered.encode("latin-1", errors="replace"))


def secret_matches(secret: bytes, offered: str) -> bool:
    """Whether `offered` is the shared secret itself (a token in the query), in constant time."""
    return hmac.compare_digest(secret, offered.encode("utf-8", errors="replace"))


@lru_cache(maxsize=256)
def _rsa_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def rsa_sha256_matches(pem: str, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is an RSA PKCS#1 v1.5 SHA-256 signature of `message` under the key."""
    try:
        _rsa_key(pem).verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (_BadSignature, ValueError):
        return False
    return True


def parse_rsa_public_key(text: str) -> str:
    """The PEM of an RSA public key given as PEM (SubjectPublicKeyInfo or PKCS#1); ValueError
    when it is not one, or is shorter than 2048 bits."""
    text = (text or "").strip()
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError):
        raise ValueError("expected an RSA public key in PEM form") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    if key.key_size < 2048:
        raise ValueError(f"an RSA key of {key.key_size} bits is too short (2048 at least)")
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def note_credential_use(credential_pk: int) -> None:
    last = _last_used_written.get(credential_pk, 0.0)
    if time.monotonic() - last >= _LAST_USED_EVERY_SECONDS:
        _last_used_written[credential_pk] = time.monotonic()
        ProviderCredential.objects.filter(pk=credential_pk).update(last_used_at=timezone.now())
