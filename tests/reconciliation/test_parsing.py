"""Reading reports row by row: CSV and JSON (array, JSON lines), validation of each row."""

import io
import json

import pytest

from reconciliation import parsing
from wallets.errors import ValidationFailed

T = "2026-11-25T10:00:00+00:00"


def _row(txn="t1", amount="1.50", currency="EUR", **extra):
    fields = {
        "transaction_id": txn, "round_id": "r1", "player": "p1", "kind": "bet",
        "amount": amount, "currency": currency, "status": "posted", "time": T,
    }  # fmt: skip
    return fields | extra


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("1.50", "EUR", 150), ("1.5", "EUR", 150), ("1.500", "EUR", 150), ("12", "JPY", 12),
     ("1.234", "BHD", 1234), ("0", "EUR", 0), ("1000000000000", "EUR", 100000000000000)],
)  # fmt: skip
def test_amounts_to_exact_minor_units(amount, currency, minor):
    assert parsing.amount_to_minor(amount, currency) == minor


@pytest.mark.parametrize("amount", ["1.001", "-1", "1e3", " 1", "1.", "abc", "1000000000000.01"])
def test_bad_amounts(amount):
    with pytest.raises(parsing.RowError):
        parsing.amount_to_minor(amount, "EUR")


def test_valid_row():
    staged = parsing.validate_row(3, _row(kind="WIN", currency="eur"))
    assert staged.error is None
    assert (staged.line_no, staged.kind, staged.currency, staged.amount_minor) == (
        3, "win", "EUR", 150,
    )  # fmt: skip
    assert staged.occurred_at == T


def test_csv_header_is_required():
    with pytest.raises(ValidationFailed, match="lacks the columns: amount"):
        parsing.iter_csv(io.BytesIO(b"transaction_id,player,kind,currency,status,time\n"))
    with pytest.raises(ValidationFailed):
        parsing.iter_csv(io.BytesIO(b""))


def test_csv_columns_in_any_order_with_bom():
    data = "\ufefftime,amount,transaction_id,player,kind,currency,status\n"
    data += f"{T},2.00,t9,p1,bet,EUR,posted\n"
    rows = list(parsing.iter_csv(io.BytesIO(data.encode())))
    assert [(r.line_no, r.transaction_id, r.amount_minor, r.error) for r in rows] == [
        (2, "t9", 200, None)
    ]


def test_csv_invalid_utf8_is_a_malformed_row():
    data = b"transaction_id,player,kind,amount,currency,status,time\n"
    data += b"t\xff1,p1,bet,1.00,EUR,posted," + T.encode() + b"\n"
    data += b"t2,p1,bet,1.00,EUR,posted," + T.encode() + b"\n"
    rows = list(parsing.iter_csv(io.BytesIO(data)))
    assert rows[0].error.startswith("transaction_id: contains")
    assert rows[1].error is None


def test_json_array_streamed_across_chunks(monkeypatch):
    monkeypatch.setattr(parsing, "_CHUNK_CHARS", 64)  # many chunk boundaries
    rows = [_row(f"t{i}", amount=f"{i}.25") for i in range(50)]
    staged = list(parsing.iter_json(io.BytesIO(json.dumps(rows, indent=1).encode())))
    assert [r.transaction_id for r in staged] == [f"t{i}" for i in range(50)]
    assert [r.line_no for r in staged] == list(range(1, 51))
    assert staged[7].amount_minor == 725
    assert all(r.error is None for r in staged)


def test_json_numbers_are_exact():
    rows = [_row(amount=None) | {"amount": 0.1}]
    data = json.dumps(rows).encode()  # 0.1 as a JSON number, read as Decimal
    (staged,) = parsing.iter_json(io.BytesIO(data))
    assert staged.amount_minor == 10


def test_json_array_bad_element_reported_and_earlier_rows_kept():
    data = b'[{"transaction_id": "t1", "player": "p", "kind": "bet", "amount": "1", '
    data += b'"currency": "EUR", "status": "posted", "time": "' + T.encode() + b'"}, 7, {oops]'
    staged = list(parsing.iter_json(io.BytesIO(data)))
    assert staged[0].error is None
    assert (staged[1].line_no, staged[1].error) == (2, "a row must be a JSON object")
    assert staged[2].line_no == 3
    assert staged[2].error.startswith("invalid JSON")


def test_json_lines_bad_line_skipped():
    lines = [json.dumps(_row("t1")), "{broken", "", json.dumps(_row("t2", currency="XXX"))]
    staged = list(parsing.iter_json(io.BytesIO("\n".join(lines).encode())))
    assert [(r.line_no, r.error is None) for r in staged] == [(1, True), (2, False), (4, False)]
    assert staged[2].error == "currency: unknown ISO 4217 code"


def test_empty_json_array():
    assert list(parsing.iter_json(io.BytesIO(b" [ ] "))) == []
