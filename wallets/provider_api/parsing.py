"""Reading a wallet API request body: strict types, exact amounts, clear errors."""

import json
import re
from decimal import Decimal
from typing import Any

from wallets.errors import ValidationFailed

MAX_ID_LENGTH = 128
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _NonFinite:
    """What NaN / Infinity / -Infinity parse into, so they can be refused by field."""

    def __init__(self, text: str) -> None:
        self.text = text


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object in `raw`. Numbers are read exactly from their text (Decimal / int),
    never through a binary float."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("body is not UTF-8") from None
    try:
        # Integers as Decimal too: int() refuses texts over 4,300 digits (a ValueError that
        # would read as "not JSON"); the amount parser refuses them by their size instead.
        data = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_NonFinite)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise ValidationFailed(f"body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValidationFailed("body must be a JSON object")
    return data


def required_str(data: dict, name: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    value = data.get(name)
    if value is None:
        raise ValidationFailed(f"{name} is required", field=name)
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a string", field=name)
    if not value.strip():
        raise ValidationFailed(f"{name} must not be empty", field=name)
    if len(value) > max_length:
        raise ValidationFailed(f"{name} is longer than {max_length} characters", field=name)
    if _UNSTORABLE.search(value):
        # NUL cannot be stored in PostgreSQL text; a lone surrogate (JSON "\ud800") cannot be
        # encoded at all. Refused here rather than failing later as a retryable 500.
        raise ValidationFailed(f"{name} contains a character that is not allowed", field=name)
    return value


def optional_str(data: dict, name: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    if data.get(name) is None:
        return ""
    return required_str(data, name, max_length=max_length)


def optional_bool(data: dict, name: str) -> bool:
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be true or false", field=name)
    return value


def required_amount(data: dict, name: str = "amount") -> object:
    """The raw amount (validated later against the currency); missing -> VALIDATION_ERROR."""
    if name not in data or data[name] is None:
        raise ValidationFailed(f"{name} is required", field=name)
    value = data[name]
    if isinstance(value, (bool, list, dict)):
        raise ValidationFailed(f"{name} must be a decimal string or number", field=name)
    if isinstance(value, _NonFinite):
        return value.text  # refused as INVALID_AMOUNT by the amount parser
    return value
