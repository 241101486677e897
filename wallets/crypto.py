"""Secrets at rest and bearer tokens.

Provider secrets are encrypted with PITBOSS_ENCRYPTION_KEYS (the first encrypts; all decrypt, so
keys can be rotated) and never stored or logged in plain text. Session tokens are stored only as
their SHA-256: a database dump reveals neither.
"""

import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.PITBOSS_ENCRYPTION_KEYS])


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


@lru_cache(maxsize=1024)
def decrypt_secret(ciphertext: str) -> bytes:
    """Secret bytes for `ciphertext`; cached, since every wallet call verifies a signature."""
    return _fernet().decrypt(ciphertext.encode())


def new_provider_secret() -> str:
    return secrets.token_hex(32)


def secret_fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def signed_message(timestamp: str, path: str, body: bytes) -> bytes:
    """What a wallet API signature covers: "<timestamp>.<request path>.<body>". The path is
    signed so that a signed body can never be replayed to another operation."""
    return timestamp.encode() + b"." + path.encode("utf-8", "surrogateescape") + b"." + body


def sign(secret: bytes, timestamp: str, path: str, body: bytes) -> str:
    """The wallet API signature: hex HMAC-SHA256(secret, "<timestamp>.<path>.<body>")."""
    return hmac.new(secret, signed_message(timestamp, path, body), hashlib.sha256).hexdigest()


def parse_ed25519_public_key(text: str) -> str:
    """The raw public key (hex, 64 characters) from hex, base64 of the 32 raw bytes, or PEM
    (SubjectPublicKeyInfo). ValueError when it is none of these."""
    import base64
    import binascii

    text = (text or "").strip()
    raw: bytes | None = None
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    elif len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("expected 32 raw bytes as hex or base64, or a PEM key") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    Ed25519PublicKey.from_public_bytes(raw)  # raises ValueError when unusable
    return raw.hex()


def public_key_fingerprint(public_key_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:12]


@lru_cache(maxsize=1024)
def _ed25519_key(public_key_hex: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))


def verify_ed25519(
    public_key_hex: str, timestamp: str, path: str, body: bytes, signature: bytes
) -> bool:
    """Whether `signature` (hex of the 64-byte Ed25519 signature, as sent in X-Signature) signs
    "<timestamp>.<path>.<body>" under the public key."""
    if len(signature) != 128:
        return False
    try:
        raw = bytes.fromhex(signature.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return False
    try:
        _ed25519_key(public_key_hex).verify(raw, signed_message(timestamp, path, body))
    except _BadSignature:
        return False
    return True
