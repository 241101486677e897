"""Reading provider reports row by row, never the whole file at once.

A report is CSV (a header row naming the fields) or JSON (an array of objects, or one object per
line). Every row comes out as a `StagedRow`: either valid (parsed fields, amount in exact minor
units) or malformed (line number, reason and raw text). A malformed row never stops the others;
only an unreadable CSV header (or one naming a column twice) refuses the whole report, before
anything is stored. JSON is read by wallets.strictjson: amounts given as JSON numbers are exact
Decimals, never floats; a row with a repeated key, NaN, a lone surrogate or nesting too deep is
malformed.

Line numbers: the CSV line where the row starts (line 1 is the header), the element number of a
JSON array (1-based), or the line of a JSON-lines file.
"""

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import NamedTuple

from reconciliation.choices import REPORT_KINDS, REPORT_STATUSES
from wallets import currencies, strictjson
from wallets.errors import InvalidAmount, ValidationFailed
from wallets.money import MAX_AMOUNT_MAJOR, parse_amount

FIELDS = ("transaction_id", "round_id", "player", "kind", "amount", "currency", "status", "time")
REQUIRED = ("transaction_id", "player", "kind", "amount", "currency", "status", "time")
MAX_ID_LENGTH = 128
MAX_RAW_LENGTH = 2000
# A JSON array element larger than this cannot be a report row: reading stops there.
MAX_JSON_ELEMENT_CHARS = 1 << 20
_CHUNK_CHARS = 1 << 16

_AMOUNT = re.compile(r"([0-9]{1,13})(?:\.([0-9]{1,40}))?")
_MAX_MINOR = {
    code: int(MAX_AMOUNT_MAJOR) * 10**places for code, places in currencies.EXPONENTS.items()
}


class StagedRow(NamedTuple):
    """One row as it goes into the staging table (COPY column order)."""

    line_no: int
    transaction_id: str | None = None
    round_id: str | None = None
    player: str | None = None
    kind: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    status: str | None = None
    occurred_at: str | None = None  # ISO 8601 with offset
    error: str | None = None
    raw: str | None = None


class RowError(Exception):
    pass


def amount_to_minor(raw: object, currency: str) -> int:
    """Exact minor units of a report amount (major units, decimal string). Plain strings take a
    fast path without Decimal; everything else goes through wallets.money.parse_amount."""
    if isinstance(raw, str):
        match = _AMOUNT.fullmatch(raw)
        if match is not None:
            whole, fraction = match.groups()
            fraction = (fraction or "").rstrip("0")
            places = currencies.EXPONENTS[currency]
            if len(fraction) > places:
                raise RowError(f"amount: {currency} amounts have at most {places} decimals")
            minor = int(whole + fraction.ljust(places, "0")) if places else int(whole)
            if minor > _MAX_MINOR[currency]:
                raise RowError("amount: above 1,000,000,000,000")
            return minor
    try:
        return parse_amount(raw, currency).minor
    except InvalidAmount as error:
        raise RowError(f"amount: {error.message}") from None


def _text(fields: Mapping[str, object], name: str, *, required: bool) -> str:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise RowError(f"{name}: missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(f"{name}: must be text")
    value = str(value).strip()
    if required and not value:
        raise RowError(f"{name}: missing")
    if len(value) > MAX_ID_LENGTH:
        raise RowError(f"{name}: longer than {MAX_ID_LENGTH} characters")
    if "\x00" in value or "\ufffd" in value:
        raise RowError(f"{name}: contains a NUL byte or text that is not UTF-8")
    return value


def _time(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise RowError("time: missing")
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise RowError("time: not an ISO 8601 date and time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RowError("time: needs a UTC offset (e.g. 2026-11-25T10:00:00Z)")
    if not 2000 <= moment.year <= 2999:
        raise RowError("time: year out of range")
    return moment.isoformat()


def validate_row(line_no: int, fields: Mapping[str, object]) -> StagedRow:
    """A StagedRow for one report row: valid, or malformed with the first reason found."""
    try:
        transaction_id = _text(fields, "transaction_id", required=True)
        round_id = _text(fields, "round_id", required=False)
        player = _text(fields, "player", required=True)
        kind = _text(fields, "kind", required=True).lower()
        if kind not in REPORT_KINDS:
            raise RowError(f"kind: must be one of {', '.join(REPORT_KINDS)}")
        currency = _text(fields, "currency", required=True).upper()
        if not currencies.is_known(currency):
            raise RowError("currency: unknown ISO 4217 code")
        status = _text(fields, "status", required=True).lower()
        if status not in REPORT_STATUSES:
            raise RowError(f"status: must be one of {', '.join(REPORT_STATUSES)}")
        amount_raw = fields.get("amount")
        if amount_raw is None or amount_raw == "":
            raise RowError("amount: missing")
        amount_minor = amount_to_minor(amount_raw, currency)
        occurred_at = _time(fields.get("time"))
    except RowError as error:
        return malformed(line_no, str(error), fields)
    return StagedRow(
        line_no,
        transaction_id,
        round_id,
        player,
        kind,
        amount_minor,
        currency,
        status,
        occurred_at,
    )


def malformed(line_no: int, reason: str, raw: object) -> StagedRow:
    if isinstance(raw, Mapping):
        transaction_id = raw.get("transaction_id")
        text = json.dumps(raw, default=str, ensure_ascii=False)
    else:
        transaction_id = None
        text = raw if isinstance(raw, str) else repr(raw)
    if not isinstance(transaction_id, str) or len(transaction_id) > MAX_ID_LENGTH:
        transaction_id = None
    return StagedRow(
        line_no,
        transaction_id=_clean(transaction_id) if transaction_id else None,
        error=reason[:500],
        raw=_clean(text[:MAX_RAW_LENGTH]),
    )


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; keep the rest as received.
    return text.replace("\x00", "\\0")


# --- CSV ------------------------------------------------------------------------------------


def iter_csv(binary) -> Iterator[StagedRow]:
    """Rows of a CSV report read from a binary file object, one at a time. The header is read
    at once: a report without the required columns is refused (ValidationFailed) here."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed("the report is empty", field="file") from None
    except csv.Error as error:
        raise ValidationFailed(f"unreadable CSV header: {error}", field="file") from None
    names = [name.strip().lower() for name in header]
    # Two columns of one name: which one holds the amount would be a guess.
    repeated = [name for name, count in Counter(names).items() if name and count > 1]
    if repeated:
        listed = ", ".join(f'"{name[:64]}"' for name in repeated)
        raise ValidationFailed(
            f"the CSV header names a column more than once: {listed}", field="file"
        )
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise ValidationFailed(
            f"the CSV header lacks the columns: {', '.join(missing)}", field="file"
        )
    return _csv_rows(reader, names)


def _csv_rows(reader, names: list[str]) -> Iterator[StagedRow]:
    width = len(names)
    position = {name: names.index(name) for name in FIELDS if name in names}
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            last_line = reader.line_num
            yield malformed(start, f"unreadable CSV: {error}", "")
            continue
        last_line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != width:
            yield malformed(start, f"expected {width} fields, found {len(row)}", ",".join(row))
            continue
        yield _fast_csv_row(start, row, position) or validate_row(
            start, dict(zip(names, row, strict=True))
        )


_KINDS = frozenset(REPORT_KINDS)
_STATUSES = frozenset(REPORT_STATUSES)


def _fast_csv_row(line_no: int, row: list[str], position: dict[str, int]) -> StagedRow | None:
    """The common case, a clean row, checked inline (a million rows must parse in seconds).
    Accepts exactly what validate_row accepts, with the same values; anything else returns
    None and goes through validate_row, which says what is wrong."""
    transaction_id = row[position["transaction_id"]].strip()
    player = row[position["player"]].strip()
    round_id = row[position["round_id"]].strip() if "round_id" in position else ""
    kind = row[position["kind"]].strip().lower()
    currency = row[position["currency"]].strip().upper()
    status = row[position["status"]].strip().lower()
    if not (
        transaction_id
        and player
        and len(transaction_id) <= MAX_ID_LENGTH
        and len(player) <= MAX_ID_LENGTH
        and len(round_id) <= MAX_ID_LENGTH
        and kind in _KINDS
        and status in _STATUSES
        and currency in currencies.EXPONENTS
    ):
        return None
    text = transaction_id + player + round_id
    if "\x00" in text or "\ufffd" in text:
        return None
    amount = row[position["amount"]]
    try:
        amount_minor = amount_to_minor(amount, currency) if amount else None
        occurred_at = _time(row[position["time"]])
    except RowError:
        return None
    if amount_minor is None:
        return None
    return StagedRow(
        line_no, transaction_id, round_id, player, kind, amount_minor, currency, status,
        occurred_at,
    )  # fmt: skip


# --- JSON -----------------------------------------------------------------------------------

_WHITESPACE = " \t\r\n"


def iter_json(binary) -> Iterator[StagedRow]:
    """Rows of a JSON report: an array of objects (element numbers) or one object per line
    (line numbers), read in chunks. An array element that is not valid JSON ends the reading
    there (it is reported; the rows before it are kept), as no later element can be found
    reliably; in JSON lines, a bad line is reported and the next line read."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace")
    head = text.read(_CHUNK_CHARS)
    stripped = head.lstrip(_WHITESPACE)
    if not stripped:
        raise ValidationFailed("the report is empty", field="file")
    if stripped[0] == "[":
        return _iter_json_array(text, stripped[1:])
    return _iter_json_lines(_lines(head, text))


def _lines(head: str, text) -> Iterator[str]:
    first = io.StringIO(head)
    pending = ""
    for line in first:
        if line.endswith("\n"):
            yield pending + line
            pending = ""
        else:
            pending += line
    for line in text:
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _iter_json_lines(lines: Iterable[str]) -> Iterator[StagedRow]:
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = strictjson.loads(line)
        except strictjson.JSONRefused as error:
            yield malformed(line_no, _refusal(error), line.rstrip("\n"))
            continue
        yield json_row(line_no, value)


def _refusal(error: strictjson.JSONRefused) -> str:
    """A malformed row's reason: what wallets.strictjson refused, and where in the row."""
    reason = error.message
    if not reason.startswith("invalid JSON"):
        reason = f"refused JSON: {reason}"
    return (f"{reason} at {error.field}" if error.field else reason)[:500]


def json_row(number: int, value: object) -> StagedRow:
    if not isinstance(value, dict):
        return malformed(number, "a row must be a JSON object", json.dumps(value, default=str))
    return validate_row(number, value)


def _iter_json_array(text, buffer: str) -> Iterator[StagedRow]:
    position, number, eof = 0, 0, False
    expect_value = True  # after "[" or ","
    while True:
        while position < len(buffer) and buffer[position] in _WHITESPACE:
            position += 1
        if position >= len(buffer):
            if eof:
                yield malformed(number + 1, "the JSON array is not closed", "")
                return
            buffer, position = buffer[position:] + text.read(_CHUNK_CHARS), 0
            eof = position >= len(buffer)
            continue
        char = buffer[position]
        if char == "]" and (number == 0 or not expect_value):
            return
        if not expect_value:
            if char != ",":
                yield malformed(number + 1, f"expected ',' or ']' after element {number}", "")
                return
            position += 1
            expect_value = True
            continue
        try:
            value, end = strictjson.raw_decode(buffer, position)
        except strictjson.JSONRefused as error:
            if error.end is not None:
                # Well-formed but refused (a repeated key, too deep, NaN, a lone surrogate):
                # this row is malformed, the next one is found after it.
                number += 1
                raw = buffer[position : min(error.end, position + MAX_RAW_LENGTH)]
                yield malformed(number, _refusal(error), raw)
                position, expect_value = error.end, False
                continue
            if not eof and len(buffer) - position < MAX_JSON_ELEMENT_CHARS:
                more = text.read(_CHUNK_CHARS)
                eof = not more
                buffer, position = buffer[position:] + more, 0
                continue
            yield malformed(number + 1, _refusal(error), "")
            return
        if end >= len(buffer) and not eof:
            # A value ending exactly at the chunk boundary may be cut (a number): read on.
            more = text.read(_CHUNK_CHARS)
            if more:
                buffer, position = buffer[position:] + more, 0
                continue
            eof = True
        number += 1
        position, expect_value = end, False
        yield json_row(number, value)
        if position > _CHUNK_CHARS:
            buffer, position = buffer[position:], 0


def iter_rows(binary, report_format: str) -> Iterator[StagedRow]:
    return iter_csv(binary) if report_format == "csv" else iter_json(binary)


def iter_objects(rows: Iterable[object]) -> Iterator[StagedRow]:
    """Rows of a report already parsed from a JSON request body."""
    for number, value in enumerate(rows, start=1):
        yield json_row(number, value)


JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")


def report_format_for(name: str, requested: str | None) -> str:
    """The report's format: as requested, else JSON for .json/.jsonl/.ndjson names, else CSV."""
    if requested:
        return requested
    return "json" if name.lower().endswith(JSON_SUFFIXES) else "csv"


def open_upload(uploaded):
    """A binary file object over an uploaded report, never loaded whole: a large upload is
    already on disk (Django's temporary upload file); a small one is in memory."""
    if hasattr(uploaded, "temporary_file_path"):
        return open(uploaded.temporary_file_path(), "rb")
    uploaded.seek(0)
    return uploaded.file
