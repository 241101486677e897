"""wallets.strictjson, the one JSON reader of the back office: exact numbers, no repeated keys,
at most 32 levels (any depth refused without exhausting the stack), no lone surrogates."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallets import strictjson
from wallets.strictjson import JSONRefused

# JSON values without floats (a JSON number with a fraction is read back as a Decimal).
_scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(json_values)
def test_reads_back_what_json_writes(value):
    # The strategy's depth stays far below 32 and its text has no lone surrogates (hypothesis
    # text is valid Unicode unless asked otherwise).
    assert strictjson.loads(json.dumps(value)) == value
    assert strictjson.loads(json.dumps(value, ensure_ascii=False).encode()) == value


def test_numbers_with_a_fraction_or_exponent_are_exact_decimals():
    value = strictjson.loads('{"a": 0.29, "b": 1e2, "c": 12345678901234567890.000000000001}')
    assert value == {
        "a": Decimal("0.29"),
        "b": Decimal("1E+2"),
        "c": Decimal("12345678901234567890.000000000001"),
    }
    assert all(type(v) is Decimal for v in value.values())


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(constant):
    with pytest.raises(JSONRefused, match=f"{constant} is not a number") as refused:
        strictjson.loads(f'{{"amount": [1, {constant}]}}')
    assert refused.value.field == "amount[1]"


@pytest.mark.parametrize(
    ("text", "key", "field"),
    [
        ('{"a": 1, "a": 2}', "a", "a"),
        ('{"a": 1, "b": 2, "a": 1}', "a", "a"),
        ('{"rows": [{"x": 1}, {"amount": "1", "amount": "2"}]}', "amount", "rows[1].amount"),
    ],
)
def test_a_repeated_key_is_refused_naming_it(text, key, field):
    with pytest.raises(JSONRefused) as refused:
        strictjson.loads(text)
    assert refused.value.message == f'duplicate key "{key}"'
    assert refused.value.field == field


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_thirty_two_levels_are_read_and_thirty_three_refused():
    assert strictjson.loads(_nested(32)) is not None
    assert strictjson.loads("[" * 32 + "]" * 32) is not None
    for text in (_nested(33), "[" * 33 + "]" * 33, "[" * 16 + _nested(17) + "]" * 16):
        with pytest.raises(JSONRefused, match="nested deeper than 32 levels"):
            strictjson.loads(text)


@pytest.mark.parametrize("depth", [1_000, 100_000, 1_000_000])
def test_any_depth_is_refused_without_exhausting_the_stack(depth):
    for text in ("[" * depth + "]" * depth, _nested(depth), "[" * depth):
        with pytest.raises(JSONRefused):
            strictjson.loads(text)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('"\\ud800"', None),
        ('{"currency": "\\udfff"}', "currency"),
        ('{"a": ["ok", "x\\ud83d"]}', "a[1]"),
        ('{"\\ud800": 1}', "\\ud800"),
    ],
)
def test_lone_surrogates_are_refused(text, field):
    with pytest.raises(JSONRefused, match="lone surrogate") as refused:
        strictjson.loads(text)
    assert refused.value.field == field


def test_a_surrogate_pair_is_text():
    assert strictjson.loads('"\\ud83d\\ude00"') == "\U0001f600"


@pytest.mark.parametrize(
    "text", ["", "{", "[1,]", "{} {}", "'a'", "1" * 5000, b"\xff\xfe", '{"a" 1}']
)
def test_not_json_is_refused_with_a_reason(text):
    with pytest.raises(JSONRefused) as refused:
        strictjson.loads(text)
    assert refused.value.message


def test_a_refused_but_well_formed_value_says_where_it_ends():
    text = '[{"a": 1, "a": 2}, {"b": 3}]'
    with pytest.raises(JSONRefused) as refused:
        strictjson.raw_decode(text, 1)
    assert text[refused.value.end :] == ', {"b": 3}]'
    with pytest.raises(JSONRefused) as refused:
        strictjson.raw_decode('[{"a": ', 1)
    assert refused.value.end is None
