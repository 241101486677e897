"""Sensitive data in a wallet API request: found and redacted in place, before anything is
stored or logged.

- card numbers: 13 to 19 digits (optionally grouped by spaces or dashes) that pass the Luhn check
  and start like a card of a major network;
- values under CVV-like keys (cvv, cvc, cvv2, security_code) and password-like keys (password,
  passwd, pin, secret);
- e-mail addresses (no wallet API field carries one).

A redacted value is replaced by a token that is a keyed hash of it (HMAC with SECRET_KEY), so
the same input always gives the same token: a retried call keeps its idempotency key, two
different cards never share one, and the raw value cannot be recovered from the token.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.conf import settings

from compliance.choices import ViolationKind

CVV_KEYS = frozenset({"cvv", "cvc", "cvv2", "cvc2", "security_code"})
PASSWORD_KEYS = frozenset({"password", "passwd", "pin", "secret"})
# Keys under which an e-mail address may appear (none in the wallet API contract).
EMAIL_KEYS: frozenset[str] = frozenset()

# A quick pre-filter: 13 digits, each pair separated by at most one space or dash.
_MAYBE_CARD = re.compile(r"\d(?:[ -]?\d){12}")
# Maximal runs of digits separated by single spaces/dashes.
_DIGIT_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Issuer prefixes of major networks: Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
# Maestro. Numeric ids that merely pass Luhn are far less often mistaken for a card this way.
_CARD_PREFIX = re.compile(r"4|5[0-8]|2[2-7]|3[0478]|35|6")
REDACTED = "[redacted]"
# Values never scanned: the session token is ours (random), only ever stored as its hash, and
# rewriting it would turn a valid call into INVALID_TOKEN.
SKIP_KEYS = frozenset({"session_token"})


@dataclass(frozen=True)
class Finding:
    kind: str
    path: str  # where in the request: "transaction_id", "meta.card", "header:X-Request-Id"
    masked: str  # what replaced it (safe to store and log)


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if index % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


@lru_cache(maxsize=1)
def _key() -> bytes:
    return hashlib.sha256(b"pitboss-redaction:" + settings.SECRET_KEY.encode()).digest()


def _digest(value: str) -> str:
    return hmac.new(_key(), value.encode(), hashlib.sha256).hexdigest()[:10]


def card_token(digits: str) -> str:
    return f"CARD-{digits[-4:]}-{_digest(digits)}"


def email_token(address: str) -> str:
    return f"EMAIL-{_digest(address.lower())}"


def _card_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) of each card number in `text`. A run of digit groups counts whole,
    or as any sequence of whole groups (so "2024-01-4111 1111 1111 1111" still finds it)."""
    spans = []
    for run in _DIGIT_RUN.finditer(text):
        groups = [
            (m.start() + run.start(), m.end() + run.start())
            for m in re.finditer(r"\d+", run.group())
        ]
        used_until = -1
        for i in range(len(groups)):
            if groups[i][0] < used_until:
                continue
            digits = ""
            for j in range(i, len(groups)):
                digits += text[groups[j][0] : groups[j][1]]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and _is_card(digits):
                    spans.append((groups[i][0], groups[j][1], digits))
                    used_until = groups[j][1]
                    break
    return spans


def redact_text(text: str, path: str, findings: list[Finding], *, emails: bool = True) -> str:
    if _MAYBE_CARD.search(text):
        spans = _card_spans(text)
        for start, end, digits in reversed(spans):
            token = card_token(digits)
            findings.append(Finding(ViolationKind.CARD_NUMBER, path, token))
            text = text[:start] + token + text[end:]
    if emails and "@" in text:

        def replace(match):
            token = email_token(match.group())
            findings.append(Finding(ViolationKind.EMAIL, path, token))
            return token

        text = _EMAIL.sub(replace, text)
    return text


def _scan(value, path: str, key: str, findings: list[Finding]):
    """The value with sensitive parts replaced (the same object when nothing was found)."""
    norm = key.lower().replace("-", "_")
    if norm in SKIP_KEYS:
        return value
    if norm in CVV_KEYS or norm in PASSWORD_KEYS:
        if value in (None, "", [], {}):
            return value
        kind = ViolationKind.CVV if norm in CVV_KEYS else ViolationKind.PASSWORD
        findings.append(Finding(kind, path, REDACTED))
        return REDACTED
    if isinstance(value, str):
        return redact_text(value, path, findings, emails=norm not in EMAIL_KEYS)
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        text = str(value)
        if text.isdigit() and _is_card(text):
            token = card_token(text)
            findings.append(Finding(ViolationKind.CARD_NUMBER, path, token))
            return token
        return value
    if isinstance(value, dict):
        redact_dict(value, findings, prefix=f"{path}.")
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _scan(item, f"{path}[{index}]", key, findings)
        return value
    return value


def redact_dict(data: dict, findings: list[Finding], prefix: str = "") -> list[Finding]:
    """Redact `data` in place (nested dicts and lists too); returns `findings`."""
    for key in list(data):
        data[key] = _scan(data[key], f"{prefix}{key}", str(key), findings)
    return findings
