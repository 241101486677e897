"""Reading a wallet request's fields, for every protocol: strict types, exact amounts, clear
errors naming the field. A field of the wrong type raises WrongType (a ValidationFailed:
protocols that tell "missing" from "wrong type" apart can)."""

import re
from decimal import Decimal
from typing import Any

from wallets import strictjson
from wallets.errors import ValidationFailed

MAX_ID_LENGTH = 128
# Integer fields longer than this are refused (no amount or count comes near it).
MAX_INT_DIGITS = 40


class WrongType(ValidationFailed):
    """A field is there but of the wrong type."""


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object in `raw`, read strictly (wallets.strictjson: no key twice, at most 32
    levels, valid Unicode only). Numbers are read exactly from their text (Decimal), never
    through a binary float; NaN and Infinity are kept for the amount reader to refuse."""
    try:
        data = strictjson.loads(raw, keep_non_finite=True, exact_integers=True)
    except strictjson.JSONRefused as error:
        # The field is the top-level key at fault (a nested path names its first part).
        field = error.field.split(".")[0].split("[")[0] if error.field else None
        raise ValidationFailed(f"body refused: {error}", field=field) from None
    if not isinstance(data, dict):
        raise ValidationFailed("body must be a JSON object")
    return data


def required_str(data: dict, name: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    value = data.get(name)
    if value is None:
        raise ValidationFailed(f"{name} is required", field=name)
    if not isinstance(value, str):
        raise WrongType(f"{name} must be a string", field=name)
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
        raise WrongType(f"{name} must be true or false", field=name)
    return value


def required_amount(data: dict, name: str = "amount") -> object:
    """The raw amount (validated later against the currency); missing -> VALIDATION_ERROR."""
    if name not in data or data[name] is None:
        raise ValidationFailed(f"{name} is required", field=name)
    value = data[name]
    if isinstance(value, (bool, list, dict)):
        raise WrongType(f"{name} must be a decimal string or number", field=name)
    if isinstance(value, strictjson.NonFinite):
        return value.text  # refused as INVALID_AMOUNT by the amount parser
    return value


def required_int(data: dict, name: str, *, minimum: int | None = 0) -> int:
    """An integer field (JSON number without fraction, read exactly), at least `minimum`."""
    value = data.get(name)
    if value is None:
        raise ValidationFailed(f"{name} is required", field=name)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise WrongType(f"{name} must be an integer", field=name)
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral()):
        raise WrongType(f"{name} must be an integer", field=name)
    if isinstance(value, Decimal) and value.adjusted() >= MAX_INT_DIGITS:
        # Refused before int(): 1e999999 would take minutes to expand into its digits.
        raise ValidationFailed(f"{name} has more than {MAX_INT_DIGITS} digits", field=name)
    number = int(value)
    if minimum is not None and number < minimum:
        raise ValidationFailed(f"{name} must be at least {minimum}", field=name)
    return number


def optional_object(data: dict, name: str) -> dict:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WrongType(f"{name} must be an object", field=name)
    return value
