"""Parsing and rendering of amounts at the edges. Inside, money is an int of minor units.

`Decimal` appears only here: an amount arrives as text (or a JSON number read from its text),
becomes an exact integer of minor units, and leaves as text with the currency's decimals.
"""

import re
from dataclasses import dataclass
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    InvalidOperation,
)

from wallets import currencies
from wallets.errors import InvalidAmount

MAX_AMOUNT_MAJOR = Decimal(1_000_000_000_000)
_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
# Longer texts are refused outright, so that every arithmetic step below stays exact.
MAX_AMOUNT_DIGITS = 40
# Ample precision for MAX_AMOUNT_DIGITS: no operation here ever rounds implicitly.
_EXACT = Context(prec=120)

ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
}


@dataclass(frozen=True)
class ParsedAmount:
    minor: int
    # What rounding removed, in major units (exact); zero when no rounding happened.
    rounding_residue: Decimal = Decimal(0)


def to_decimal(raw: object, *, field: str = "amount") -> Decimal:
    """The exact value of a present amount, or InvalidAmount saying why not."""
    if isinstance(raw, bool):
        raise InvalidAmount("amount must be a decimal string or number", field=field)
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, str):
        if len(raw) > MAX_AMOUNT_DIGITS + 1:  # digits and one point
            raise InvalidAmount(f"amount has more than {MAX_AMOUNT_DIGITS} digits", field=field)
        if not _PLAIN_DECIMAL.fullmatch(raw):
            raise InvalidAmount(
                'amount must be a plain non-negative decimal like "12.50"', field=field
            )
        try:
            value = Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            raise InvalidAmount("amount is not a number", field=field) from None
    else:
        raise InvalidAmount("amount must be a decimal string or number", field=field)
    if not value.is_finite():
        raise InvalidAmount("amount must be finite", field=field)
    sign, digits, exponent = value.as_tuple()
    # A bounded exponent too: 1E-999999999 would otherwise underflow to an exact-looking zero.
    if len(digits) > MAX_AMOUNT_DIGITS or not -MAX_AMOUNT_DIGITS <= exponent <= MAX_AMOUNT_DIGITS:
        raise InvalidAmount(f"amount has more than {MAX_AMOUNT_DIGITS} digits", field=field)
    if sign:
        raise InvalidAmount("amount must not be negative", field=field)
    if value > MAX_AMOUNT_MAJOR:
        raise InvalidAmount("amount is above 1,000,000,000,000", field=field)
    return value


def parse_amount(
    raw: object, currency: str, *, rounding_mode: str | None = None, field: str = "amount"
) -> ParsedAmount:
    """Minor units of `raw` in `currency`.

    More decimals than the currency has are refused unless `rounding_mode` (a key of
    ROUNDING_MODES) is given; then the amount is rounded and the residue returned.
    """
    value = to_decimal(raw, field=field)
    places = currencies.exponent(currency)
    scaled = value.scaleb(places, context=_EXACT)
    whole = scaled.to_integral_value(rounding=ROUND_DOWN, context=_EXACT)
    if scaled == whole:
        return ParsedAmount(minor=int(whole))
    if rounding_mode is None:
        raise InvalidAmount(
            f"{currency} amounts have at most {places} decimals",
            field=field,
        )
    rounded = scaled.to_integral_value(rounding=ROUNDING_MODES[rounding_mode], context=_EXACT)
    residue = _EXACT.subtract(value, rounded.scaleb(-places, context=_EXACT))
    return ParsedAmount(minor=int(rounded), rounding_residue=residue)


def format_amount(minor: int, currency: str) -> str:
    """`minor` rendered with exactly the currency's decimals: 10050 EUR -> "100.50"."""
    places = currencies.exponent(currency)
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor))
    if places == 0:
        return sign + digits
    digits = digits.rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def display_amount(minor: int, currency: str, *, signed: bool = False) -> str:
    """`minor` as staff read it: 1250050 EUR -> "12,500.50 EUR"; `signed` for a movement
    ("+110.00 EUR", "-2.50 EUR"). Screens and exports use this; exact minor units are shown
    only where an exact figure is asked for."""
    text = format_amount(abs(minor), currency)
    whole, point, fraction = text.partition(".")
    whole = f"{int(whole):,}"
    sign = "-" if minor < 0 else ("+" if signed and minor > 0 else "")
    return f"{sign}{whole}{point}{fraction} {currency}"
