"""The sensitive-data scanner on its own: what it finds, what it leaves alone, how it redacts."""

from decimal import Decimal

import pytest

from compliance import detection
from compliance.choices import ViolationKind

VISA = "4111111111111111"
AMEX = "378282246310005"


def scan(data):
    findings = detection.redact_dict(data, [])
    return data, sorted({f.kind for f in findings})


@pytest.mark.parametrize(
    "text",
    [VISA, "4111 1111 1111 1111", "4111-1111-1111-1111", AMEX, f"tx-{VISA}", f"2024-01-{VISA}"],
)
def test_card_numbers_are_found_and_redacted(text):
    data, kinds = scan({"transaction_id": text})
    assert kinds == [ViolationKind.CARD_NUMBER]
    assert "1111 1111" not in data["transaction_id"]
    assert VISA not in data["transaction_id"].replace("-", "").replace(" ", "")
    assert "CARD-" in data["transaction_id"]


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # fails Luhn
        "411111111111",  # 12 digits
        "41111111111111111111",  # 20 digits
        "tx-000000000000000000",  # passes Luhn, no card network starts with 0
        "round-17",
        "",
    ],
)
def test_things_that_are_not_card_numbers_are_left_alone(text):
    data, kinds = scan({"transaction_id": text})
    assert kinds == []
    assert data["transaction_id"] == text


def test_redaction_is_deterministic_and_distinct():
    first, _ = scan({"transaction_id": VISA})
    again, _ = scan({"transaction_id": VISA})
    other, _ = scan({"transaction_id": "5555555555554444"})
    assert first == again
    assert first["transaction_id"] != other["transaction_id"]
    assert first["transaction_id"].startswith("CARD-1111-")


@pytest.mark.parametrize("key", ["cvv", "CVC", "cvv2", "security_code", "security-code"])
def test_cvv_like_fields(key):
    data, kinds = scan({key: "123", "round_id": "r1"})
    assert kinds == [ViolationKind.CVV]
    assert data[key] == detection.REDACTED
    assert data["round_id"] == "r1"


@pytest.mark.parametrize("key", ["password", "passwd", "pin", "secret"])
def test_password_like_fields(key):
    data, kinds = scan({"meta": {key: "hunter2"}})
    assert kinds == [ViolationKind.PASSWORD]
    assert data["meta"][key] == detection.REDACTED


def test_empty_sensitive_fields_are_not_violations():
    assert scan({"cvv": "", "password": None})[1] == []


def test_email_addresses_are_found_in_any_field():
    data, kinds = scan({"game_id": "slot for jane.doe@example.com", "round_id": "r@1"})
    assert kinds == [ViolationKind.EMAIL]
    assert "jane.doe" not in data["game_id"]
    assert data["round_id"] == "r@1"


def test_numbers_nested_in_lists_and_json_numbers():
    data, kinds = scan({"items": [{"pan": VISA}], "amount": Decimal(VISA)})
    assert kinds == [ViolationKind.CARD_NUMBER]
    assert data["items"][0]["pan"].startswith("CARD-")
    assert isinstance(data["amount"], str)  # no longer a valid amount: refused, never credited
    assert scan({"amount": Decimal("10.50")})[1] == []


def test_luhn():
    assert detection.luhn_ok(VISA)
    assert not detection.luhn_ok("4111111111111121")


def test_the_session_token_is_not_rewritten():
    data, kinds = scan({"session_token": f"abc{VISA}"})
    assert kinds == [] and data["session_token"] == f"abc{VISA}"
