"""Secrets at rest and bearer tokens.

Provider secrets are encrypted with PITBOSS_ENCRYPTION_KEYS (the first encrypts; all decrypt, so
keys can be rotated) and never stored or logged in plain text. Session tokens are stored only as
their SHA-256: a database dump reveals neither.
"""

import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
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


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The wallet API signature: hex HMAC-SHA256(secret, "<timestamp>." + body)."""
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
