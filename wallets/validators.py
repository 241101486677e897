"""Validators shared by the admin's forms and the back-office API's serializers: one rule in
one place, so a value the API refuses is refused by the admin with the same words (DRF runs
Django validators and reports their messages under the field)."""

import ipaddress
import re

from django.core.exceptions import ValidationError

from wallets import currencies


def _shown(value: object) -> str:
    text = str(value)[:64]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def validate_currency(value: object) -> None:
    """An ISO 4217 code the wallet knows, exactly as written (upper case: `EUR`)."""
    if currencies.is_known(value):
        return
    hint = ""
    if isinstance(value, str) and currencies.is_known(value.strip().upper()):
        hint = f" (write it {value.strip().upper()})"
    raise ValidationError(
        f'"{_shown(value)}" is not a currency the wallet knows: an ISO 4217 code in capitals{hint}',
        code="unknown_currency",
    )


def validate_ip_network(value: object) -> None:
    """An IPv4/IPv6 address or network in CIDR notation (host bits allowed: 10.0.0.1/8), as
    the wallet API's allowlist check reads it."""
    if isinstance(value, str) and value == value.strip():
        try:
            ipaddress.ip_network(value, strict=False)
            return
        except ValueError:
            pass
    raise ValidationError(
        f'"{_shown(value)}" is not an IP address or network (e.g. 203.0.113.7 or 10.0.0.0/8)',
        code="invalid_network",
    )


# A payment fingerprint: the gateway's token for the card, account or wallet a payment uses
# (never the card number itself). Matched exactly, case included, against the fraud lists.
PAYMENT_FINGERPRINT_MAX = 128
PAYMENT_FINGERPRINT_CHARACTERS = "letters, digits, '-', '_', ':' and '.'"
_FINGERPRINT_CHARACTER = re.compile(r"[A-Za-z0-9_\-:.]")


def payment_fingerprint_problem(value: object) -> str | None:
    """What is wrong with `value` as a payment fingerprint (None: nothing). 1 to
    PAYMENT_FINGERPRINT_MAX characters, each a letter, digit, '-', '_', ':' or '.'."""
    if not isinstance(value, str):
        return (
            f"must be a string of 1 to {PAYMENT_FINGERPRINT_MAX} "
            f"{PAYMENT_FINGERPRINT_CHARACTERS}, not {type(value).__name__}"
        )
    if not value:
        return "is empty: leave it out when the gateway gives none"
    if len(value) > PAYMENT_FINGERPRINT_MAX:
        return f"is {len(value)} characters long: at most {PAYMENT_FINGERPRINT_MAX}"
    for position, character in enumerate(value, start=1):
        if not _FINGERPRINT_CHARACTER.fullmatch(character):
            return (
                f"has {character!r} at position {position}: "
                f"only {PAYMENT_FINGERPRINT_CHARACTERS} are allowed"
            )
    return None


def validate_payment_fingerprint(value: object) -> None:
    problem = payment_fingerprint_problem(value)
    if problem:
        raise ValidationError(f"a payment fingerprint {problem}", code="invalid_fingerprint")
