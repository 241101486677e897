"""wallets.money: amounts in (exact text -> int minor units) and out (minor units -> text).

No database: these are pure functions. The wallet API tests cover the same rules over HTTP.
"""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallets.errors import InvalidAmount
from wallets.money import MAX_AMOUNT_MAJOR, format_amount, parse_amount, to_decimal

CURRENCY_OF_EXPONENT = {0: "JPY", 2: "EUR", 3: "BHD"}


# --- parse_amount: accepted -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12.5", "EUR", 1250),
        ("12", "EUR", 1200),
        ("0", "EUR", 0),
        ("0.00", "EUR", 0),
        ("0.01", "EUR", 1),
        ("007.50", "EUR", 750),
        ("12.500000", "EUR", 1250),  # trailing zeros are not extra decimals
        ("350", "JPY", 350),
        ("350.000", "JPY", 350),
        ("1.234", "BHD", 1234),
        ("0.001", "BHD", 1),
        ("1000000000000", "EUR", 100_000_000_000_000),  # the maximum itself is allowed
        ("1000000000000.00", "EUR", 100_000_000_000_000),
        ("1000000000000", "BHD", 1_000_000_000_000_000),
        # JSON numbers arrive as Decimal (floats and ints both, read from their text) or int.
        (Decimal("0.1"), "EUR", 10),
        (Decimal("0.30"), "EUR", 30),
        (Decimal("1E+2"), "EUR", 10_000),
        (Decimal("1e2"), "JPY", 100),
        (Decimal("12.345"), "BHD", 12_345),
        (Decimal("100"), "EUR", 10_000),
        (5, "EUR", 500),
        (0, "JPY", 0),
    ],
)
def test_parse_amount_exact(raw, currency, minor):
    parsed = parse_amount(raw, currency)
    assert parsed.minor == minor
    assert type(parsed.minor) is int
    assert parsed.rounding_residue == 0


# --- parse_amount: refused ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "-1",
        "-0",
        "-0.00",
        "",
        " ",
        "abc",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1e3",
        "1E3",
        "1e-2",
        " 5",
        "5 ",
        "+5",
        ".5",
        "5.",
        "1,5",
        "1_000",
        "0x10",
        "\u0661\u0662",  # Arabic-Indic digits: Decimal reads them, the contract does not
        "1000000000000.01",
        "1000000000001",
        "9" * 41,
        "9" * 5000,
        "0." + "0" * 60 + "1",  # far more decimals than any currency
        Decimal("-1"),
        Decimal("-0"),
        Decimal("-0.0"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        Decimal("1000000000000.01"),
        Decimal("1E+13"),
        Decimal("1E-999999999"),  # underflows to zero unless refused outright
        Decimal("0E+999999999"),
        Decimal("0E-999999999"),
        Decimal("9" * 60),
        -1,
        10**13,
        True,
        False,
        None,
        1.5,  # a binary float never gets this far; if one does, it is refused
        [],
        {},
    ],
)
def test_parse_amount_refuses(raw):
    with pytest.raises(InvalidAmount) as caught:
        parse_amount(raw, "EUR")
    assert caught.value.code == "INVALID_AMOUNT"
    assert caught.value.http_status == 400
    assert caught.value.field == "amount"


@pytest.mark.parametrize(
    ("raw", "currency"),
    [
        ("12.345", "EUR"),
        ("0.001", "EUR"),
        ("12.3450001", "EUR"),
        ("350.5", "JPY"),
        ("0.1", "JPY"),
        ("1.2345", "BHD"),
        (Decimal("12.345"), "EUR"),
        (Decimal("0.30000000000000004"), "EUR"),  # what 0.1 + 0.2 is as a binary float
    ],
)
def test_parse_amount_refuses_extra_decimals_without_rounding_mode(raw, currency):
    with pytest.raises(InvalidAmount, match="decimals"):
        parse_amount(raw, currency)


def test_parse_amount_unknown_currency_is_a_key_error():
    # The API checks the currency before parsing; an unknown one never reaches here silently.
    with pytest.raises(KeyError):
        parse_amount("1.00", "XXX")


def test_to_decimal_is_exact():
    assert to_decimal("0.1") + to_decimal("0.2") == Decimal("0.3")
    assert to_decimal(Decimal("0.30000000000000004")) == Decimal("0.30000000000000004")
    assert to_decimal("1000000000000") == MAX_AMOUNT_MAJOR


# --- rounding modes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "raw", "currency", "minor", "residue"),
    [
        ("half_up", "12.345", "EUR", 1235, Decimal("-0.005")),
        ("half_up", "12.344", "EUR", 1234, Decimal("0.004")),
        ("half_even", "12.345", "EUR", 1234, Decimal("0.005")),
        ("half_even", "12.355", "EUR", 1236, Decimal("-0.005")),
        ("down", "12.349", "EUR", 1234, Decimal("0.009")),
        ("up", "12.341", "EUR", 1235, Decimal("-0.009")),
        ("half_up", "350.5", "JPY", 351, Decimal("-0.5")),
        ("half_even", "350.5", "JPY", 350, Decimal("0.5")),
        ("down", "1.23456", "BHD", 1234, Decimal("0.00056")),
        ("up", "0.001", "EUR", 1, Decimal("-0.009")),
        ("down", "0.001", "EUR", 0, Decimal("0.001")),
        ("half_up", Decimal("0.30000000000000004"), "EUR", 30, Decimal("4E-17")),
    ],
)
def test_rounding_modes_round_and_report_the_residue(mode, raw, currency, minor, residue):
    parsed = parse_amount(raw, currency, rounding_mode=mode)
    assert parsed.minor == minor
    assert parsed.rounding_residue == residue


@pytest.mark.parametrize("mode", ["half_up", "half_even", "down", "up"])
def test_rounding_mode_leaves_exact_amounts_alone(mode):
    parsed = parse_amount("12.50", "EUR", rounding_mode=mode)
    assert parsed.minor == 1250
    assert parsed.rounding_residue == 0


@pytest.mark.parametrize("raw", ["-0.005", "abc", "1e3", "1000000000000.001"])
def test_rounding_mode_does_not_rescue_invalid_amounts(raw):
    with pytest.raises(InvalidAmount):
        parse_amount(raw, "EUR", rounding_mode="half_up")


# --- format_amount --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (10_000, "EUR", "100.00"),
        (10_050, "EUR", "100.50"),
        (0, "EUR", "0.00"),
        (1, "EUR", "0.01"),
        (10, "EUR", "0.10"),
        (-1, "EUR", "-0.01"),
        (-12_345, "EUR", "-123.45"),
        (350, "JPY", "350"),
        (0, "JPY", "0"),
        (-7, "JPY", "-7"),
        (1_234, "BHD", "1.234"),
        (5, "BHD", "0.005"),
        (0, "BHD", "0.000"),
        (100_000_000_000_000, "EUR", "1000000000000.00"),
        (10**30 + 1, "EUR", "10000000000000000000000000000.01"),  # ints never lose digits
    ],
)
def test_format_amount(minor, currency, text):
    assert format_amount(minor, currency) == text


# --- properties -----------------------------------------------------------------------------

exponents = st.sampled_from(sorted(CURRENCY_OF_EXPONENT))


@given(exponent=exponents, data=st.data())
def test_format_then_parse_round_trips_every_valid_minor_amount(exponent, data):
    currency = CURRENCY_OF_EXPONENT[exponent]
    top = int(MAX_AMOUNT_MAJOR) * 10**exponent
    minor = data.draw(st.integers(min_value=0, max_value=top))
    text = format_amount(minor, currency)
    assert parse_amount(text, currency).minor == minor
    # ... and as a JSON number read from its text
    assert parse_amount(Decimal(text), currency).minor == minor
    assert format_amount(parse_amount(text, currency).minor, currency) == text


@given(
    exponent=exponents,
    whole=st.integers(min_value=0, max_value=int(MAX_AMOUNT_MAJOR) - 1),
    fraction=st.text(alphabet="0123456789", max_size=3),
    trailing_zeros=st.integers(min_value=0, max_value=5),
)
def test_parse_then_format_is_the_canonical_text(exponent, whole, fraction, trailing_zeros):
    """Any valid amount text (decimals up to the currency's, any trailing zeros) renders back
    as the same value with exactly the currency's decimals."""
    currency = CURRENCY_OF_EXPONENT[exponent]
    fraction = fraction[:exponent]
    decimals = fraction + "0" * trailing_zeros
    text = f"{whole}.{decimals}" if decimals else str(whole)
    rendered = format_amount(parse_amount(text, currency).minor, currency)
    assert Decimal(rendered) == Decimal(text)
    assert rendered == str(Decimal(text).quantize(Decimal(1).scaleb(-exponent)))
    assert len(rendered.partition(".")[2]) == exponent


@given(
    exponent=exponents,
    mode=st.sampled_from(["half_up", "half_even", "down", "up"]),
    value=st.decimals(
        min_value=0, max_value=MAX_AMOUNT_MAJOR, places=8, allow_nan=False, allow_infinity=False
    ),
)
def test_rounding_keeps_every_unit_accounted_for(exponent, mode, value):
    """minor units plus the recorded residue is exactly the amount asked, and the residue is
    smaller than one minor unit."""
    currency = CURRENCY_OF_EXPONENT[exponent]
    parsed = parse_amount(format(value, "f"), currency, rounding_mode=mode)
    assert Decimal(parsed.minor).scaleb(-exponent) + parsed.rounding_residue == value
    assert abs(parsed.rounding_residue) < Decimal(1).scaleb(-exponent)
