"""Strict JSON for request bodies: what the wallet contract (and the back-office API) accept.

A body is refused, with a message naming the problem, when it is not UTF-8, not JSON, has a key
twice in one object (at any depth: which of two amounts would count?), nests deeper than
MAX_DEPTH levels, or holds a string that is not valid Unicode (a lone surrogate escape such as
"\\ud800", which nothing downstream can store or encode). Numbers are read exactly from their
text (Decimal), never through a binary float.

The checks cost next to nothing on an ordinary body: the depth and surrogate walks run only
when the raw text could hold such a thing (more than MAX_DEPTH brackets, a "\\u" escape).
"""

import json
import re
from decimal import Decimal
from typing import Any

MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class StrictJsonError(ValueError):
    """The body is refused; str(error) says why, `field` names the top-level key at fault
    when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NonFinite:
    """What NaN / Infinity / -Infinity parse into, so that a caller can refuse them by field."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJsonError(f"key {key!r} appears twice in one object")
            seen.add(key)
    return result


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise StrictJsonError(f"nesting is deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def _check_strings(value: Any) -> None:
    # (item, the top-level key it is under)
    stack: list[tuple[Any, str | None]] = [(value, None)]
    while stack:
        item, field = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise StrictJsonError(
                    "a string holds a lone surrogate (not valid Unicode)", field=field
                )
        elif isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    raise StrictJsonError("a key holds a lone surrogate (not valid Unicode)")
                stack.append((child, key if field is None and item is value else field))
        elif isinstance(item, list):
            stack.extend((child, field) for child in item)


def loads(raw: bytes | str, *, integers_as_decimal: bool = True) -> Any:
    """The JSON value in `raw`, strictly read (see the module docstring); StrictJsonError
    otherwise. Floats are Decimal; integers too unless `integers_as_decimal` is False (int()
    refuses texts over 4,300 digits, which would read as "not JSON"). NaN and Infinity become
    NonFinite values for the caller to refuse by field."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StrictJsonError("body is not UTF-8") from None
    else:
        text = raw
    try:
        value = json.loads(
            text,
            parse_float=Decimal,
            parse_int=Decimal if integers_as_decimal else int,
            parse_constant=NonFinite,
            object_pairs_hook=_unique_keys,
        )
    except StrictJsonError:
        raise
    except RecursionError:
        raise StrictJsonError(f"nesting is deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:  # JSONDecodeError is a ValueError
        raise StrictJsonError(f"not valid JSON: {error}") from None
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(value)
    if "\\u" in text or not isinstance(raw, bytes):
        # From UTF-8 bytes a surrogate can only come from an escape.
        _check_strings(value)
    return value
