"""JSON as Pitboss reads it, everywhere: wallet calls of every protocol, back-office API
bodies, provider reports, admin JSON fields.

- A number with a fraction or an exponent becomes a `Decimal`, never a binary float; `NaN`,
  `Infinity` and `-Infinity` are refused.
- An object that names the same key twice is refused, naming the key (plain `json` would keep
  the last one silently: two readers of one document could see two different amounts).
- Nesting deeper than MAX_DEPTH levels is refused; no depth, however large, can exhaust the
  stack (the parser's own recursion limit becomes the same refusal, and the check is a loop).
- A lone surrogate (an escape such as "\\ud800" without its pair) is refused: it is not text,
  cannot be written as UTF-8 and PostgreSQL cannot store it.

Every refusal is a JSONRefused (a ValueError) with a message, the place in the document
(`field`, e.g. `rows[3].amount`) where known, and `end`, the offset just past the value when
the text was well-formed JSON (a reader of a stream can go on after a refused element).

The wallet contract refuses NaN and Infinity in an amount as INVALID_AMOUNT, naming the field,
and integers of any size by their size: `loads(..., keep_non_finite=True,
exact_integers=True)` hands those back (as NonFinite values, and as Decimal) for the field
readers to refuse.
"""

import json
import re
from decimal import Decimal

MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRefused(ValueError):
    def __init__(self, message: str, *, field: str | None = None, end: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.end = end


class _DuplicateKeys(dict):
    """An object that named a key twice (found by the check after parsing)."""

    __slots__ = ("duplicate",)


class NonFinite:
    """NaN, Infinity or -Infinity as read (`name` is the text): kept only when asked for."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def text(self) -> str:
        return self.name


def _object(pairs: list) -> dict:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen = set()
    for key, _ in pairs:
        if key in seen:
            marked = _DuplicateKeys(result)
            marked.duplicate = key
            return marked
        seen.add(key)
    return result  # pragma: no cover - a shorter dict always has a repeated key


# Problems are marked while parsing and refused by `check` afterwards, so that a stream reader
# learns where a refused value ends.
_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=NonFinite, object_pairs_hook=_object
)
# Integers as Decimal too: int() refuses texts over 4,300 digits (a refusal of the whole body
# where the contract wants the amount refused by its size).
_EXACT_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_int=Decimal, parse_constant=NonFinite, object_pairs_hook=_object
)


def loads(
    text: str | bytes,
    *,
    max_depth: int = MAX_DEPTH,
    keep_non_finite: bool = False,
    exact_integers: bool = False,
) -> object:
    """The value of a whole JSON document, or JSONRefused saying why not."""
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JSONRefused("the JSON text is not UTF-8") from None
    position = _skip_space(text, 0)
    value, end = raw_decode(
        text,
        position,
        max_depth=max_depth,
        keep_non_finite=keep_non_finite,
        exact_integers=exact_integers,
    )
    if _skip_space(text, end) != len(text):
        raise JSONRefused(_syntax("Extra data", text, end))
    return value


def raw_decode(
    text: str,
    position: int = 0,
    *,
    max_depth: int = MAX_DEPTH,
    keep_non_finite: bool = False,
    exact_integers: bool = False,
) -> tuple[object, int]:
    """One JSON value starting at `position`: (value, offset just past it). Refusals of a
    well-formed value carry that offset as `end`."""
    decoder = _EXACT_DECODER if exact_integers else _DECODER
    try:
        value, end = decoder.raw_decode(text, position)
    except json.JSONDecodeError as error:
        raise JSONRefused(_syntax(error.msg, text, error.pos)) from None
    except RecursionError:
        raise JSONRefused(f"nested deeper than {max_depth} levels") from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise JSONRefused(f"invalid JSON: {error}") from None
    try:
        check(value, max_depth=max_depth, keep_non_finite=keep_non_finite)
    except JSONRefused as refused:
        refused.end = end
        raise
    return value, end


def check(value: object, *, max_depth: int = MAX_DEPTH, keep_non_finite: bool = False) -> None:
    """Refuse what `loads` refuses in a value parsed by this module: a repeated key, a
    non-finite number (unless kept), nesting deeper than `max_depth`, a lone surrogate. A
    loop, no recursion."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            depth += 1
            if depth > max_depth:
                raise JSONRefused(f"nested deeper than {max_depth} levels")
            if type(node) is _DuplicateKeys:
                key = node.duplicate
                raise _refuse(value, node, f'duplicate key "{_printable(key)}"', key=key)
            for key, item in node.items():
                if not key.isascii() and _SURROGATE.search(key):
                    raise _refuse(value, node, _LONE_SURROGATE, key=key)
                stack.append((item, depth))
        elif isinstance(node, list):
            depth += 1
            if depth > max_depth:
                raise JSONRefused(f"nested deeper than {max_depth} levels")
            stack.extend((item, depth) for item in node)
        elif isinstance(node, str):
            if not node.isascii() and _SURROGATE.search(node):
                raise _refuse(value, node, _LONE_SURROGATE)
        elif type(node) is NonFinite and not keep_non_finite:
            raise _refuse(value, node, f"{node.name} is not a number")


_LONE_SURROGATE = "text with a lone surrogate (an unpaired \\ud800-\\udfff escape)"


def _refuse(root: object, node: object, message: str, *, key: str | None = None) -> JSONRefused:
    path = _path_to(root, node)
    if key is not None:
        path = f"{path}.{_printable(key)}" if path else _printable(key)
    return JSONRefused(message, field=path or None)


def _path_to(root: object, target: object) -> str:
    """Where `target` (that very object) is inside `root`: `a.b[2]`; "" for the root."""
    stack = [(root, "")]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if isinstance(node, dict):
            for key, item in node.items():
                name = _printable(key)
                stack.append((item, f"{path}.{name}" if path else name))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(node))
    return ""  # pragma: no cover - the target is always inside the root


def _printable(text: str) -> str:
    """`text` safe to put in an error message and a UTF-8 response (surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:100]


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _syntax(message: str, text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    return f"invalid JSON: {message} (line {line}, column {column})"
