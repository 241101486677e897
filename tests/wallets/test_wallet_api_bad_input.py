"""The wallet API refuses bad input with the contract's codes and changes nothing.

Every request here is correctly signed: what is wrong is the body. A 4xx for bad input, never a
5xx (a provider retries 5xx forever).
"""

import json

import pytest
from django.db import connection

from tests import factories
from tests.conftest import WALLET_ENTRY_POINTS
from wallets import hooks
from wallets.models import Round

OPERATIONS = ["authenticate", "balance", "bet", "win", "rollback", "round/close", "session/close"]

REQUIRED = {
    "authenticate": ["session_token"],
    "balance": ["session_token"],
    "bet": ["session_token", "transaction_id", "round_id", "amount", "currency"],
    "win": ["session_token", "transaction_id", "round_id", "amount", "currency"],
    "rollback": ["session_token", "transaction_id", "reference_transaction_id", "round_id"],
    "round/close": ["session_token", "round_id"],
    "session/close": ["session_token"],
}
OPTIONAL_STRINGS = {"bet": ["game_id"], "win": ["reference_transaction_id"]}
STRING_FIELDS = [
    (operation, name)
    for operation, names in REQUIRED.items()
    for name in names + OPTIONAL_STRINGS.get(operation, [])
    if name != "amount"
]


@pytest.fixture(autouse=True)
def _no_fraud_rules(monkeypatch):
    monkeypatch.setattr(hooks, "screener", None)


@pytest.fixture(params=WALLET_ENTRY_POINTS)
def wallet_entry_point(request):
    """Every test here runs through Django's test client and through the production WSGI
    entry point (config.wsgi.application and the wallet API's own way in)."""
    return request.param


def ledger_state():
    """Everything a money call may change (balances, ledger rows, rounds, sessions), read in
    one query because it is taken before and after every refused call."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT array_agg(array[id, balance_minor, reserved_minor] ORDER BY id)
                 FROM wallets_wallet),
              (SELECT array_agg(concat_ws(':', id, kind, status, amount_minor) ORDER BY id)
                 FROM wallets_transaction),
              (SELECT array_agg(concat_ws(':', id, status, has_bet) ORDER BY id)
                 FROM wallets_round),
              (SELECT array_agg(concat_ws(':', id, status, reserved_minor) ORDER BY id)
                 FROM wallets_gamesession)
            """
        )
        return cursor.fetchone()


def refused(
    api, operation: str, code: str, http_status: int, *, fields=None, body=None, case=""
) -> dict:
    """Send `fields` (as JSON) or raw `body`, signed; expect the refusal; prove nothing
    changed. `case` names the table row in failure messages."""
    before = ledger_state()
    response = api.raw(operation, json.dumps(fields).encode() if body is None else body)
    assert response.status_code == http_status, (case, response.content)
    assert response["Content-Type"] == "application/json", case
    assert response["X-Request-Id"], case
    body = response.json()
    assert body["status"] == "ERROR", case
    assert body["code"] == code, (case, body)
    assert body["message"], case
    assert ledger_state() == before, case
    return body


@pytest.fixture
def placed(wallet_api, token):
    """A bet t0 of 10.00 in round r0, so that a valid rollback or win would change money."""
    response = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t0",
        round_id="r0",
        amount="10.00",
        currency="EUR",
    )
    assert response.status_code == 200, response.content
    return token


def valid_fields(operation: str, token: str) -> dict:
    fields = {"session_token": token}
    if operation in ("bet", "win"):
        fields |= {"transaction_id": "t1", "round_id": "r0", "amount": "5.00", "currency": "EUR"}
    if operation == "rollback":
        fields |= {"transaction_id": "rb1", "reference_transaction_id": "t0", "round_id": "r0"}
    if operation == "round/close":
        fields |= {"round_id": "r0"}
    return fields


def send(wallet_api, operation: str, fields: dict):
    return wallet_api.raw(operation, json.dumps(fields).encode())


def with_amount_text(fields: dict, amount_text: str) -> bytes:
    """The body with `amount` spliced in as raw JSON text (numbers exactly as written)."""
    text = json.dumps({**fields, "amount": "@AMOUNT@"})
    return text.replace('"@AMOUNT@"', amount_text).encode()


# --- the valid baseline: each of these calls would change something --------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_valid_payload_is_accepted(wallet_api, placed, operation):
    response = send(wallet_api, operation, valid_fields(operation, placed))
    assert response.status_code == 200, response.content


def test_unknown_extra_fields_are_ignored(wallet_api, placed):
    fields = valid_fields("bet", placed) | {"extra": [1, {"x": None}], "bonus_code": "B1"}
    assert send(wallet_api, "bet", fields).json()["balance"] == "85.00"


# --- the body as a whole ------------------------------------------------------------------------

BAD_BODIES = [
    b"",
    b"{",
    b"}",
    b"{'session_token': 'x'}",
    b'{"session_token": "x",}',
    b'{"session_token": }',
    b"nul",
    b'{"a": 1} {"b": 2}',
    b"[" * 100_000,  # nesting deep enough to exhaust the parser
    # valid JSON, but not an object
    b"[]",
    b'["session_token"]',
    b'"text"',
    b"42",
    b"null",
    b"true",
    # not UTF-8
    b"\xff\xfe{}",
    '{"session_token": "\u00e9"}'.encode("latin-1"),
    '{"session_token": "x"}'.encode("utf-16"),
    b'{"session_token": "\xc3"}',
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=lambda b: repr(b[:24]))
def test_a_body_that_is_not_a_json_object_is_a_validation_error(wallet_api, placed, body):
    for operation in OPERATIONS:
        payload = refused(wallet_api, operation, "VALIDATION_ERROR", 400, body=body, case=operation)
        assert "balance" not in payload  # no session could be read


# --- missing fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "name"), [(op, name) for op, names in REQUIRED.items() for name in names]
)
def test_a_missing_field_is_a_validation_error_naming_it(wallet_api, placed, operation, name):
    for how in ("absent", "null"):
        fields = valid_fields(operation, placed)
        if how == "absent":
            del fields[name]
        else:
            fields[name] = None
        payload = refused(wallet_api, operation, "VALIDATION_ERROR", 400, fields=fields, case=how)
        assert payload["field"] == name
        assert name in payload["message"]
        if name != "session_token":  # the session is known: so is the balance
            assert (payload["balance"], payload["currency"]) == ("90.00", "EUR")


# --- wrong types and unusable strings -----------------------------------------------------------

WRONG_TYPES = [123, 1.5, 0, True, False, [], ["t1"], {}, {"id": "t1"}]
UNUSABLE_STRINGS = [
    "",
    "   ",
    "x" * 257,  # longer than any id (128) or token (256)
    "t\x00",  # PostgreSQL text cannot hold NUL
    "t\ud800",  # a lone surrogate cannot be encoded as UTF-8 at all
]


@pytest.mark.parametrize(("operation", "name"), STRING_FIELDS)
def test_a_string_field_of_another_type_or_unusable_is_a_validation_error(
    wallet_api, placed, operation, name
):
    for value in WRONG_TYPES + UNUSABLE_STRINGS:
        fields = valid_fields(operation, placed) | {name: value}
        payload = refused(
            wallet_api, operation, "VALIDATION_ERROR", 400, fields=fields, case=repr(value)
        )
        assert payload["field"] == name, value


@pytest.mark.parametrize("name", ["transaction_id", "round_id", "game_id"])
def test_ids_longer_than_128_characters_are_refused(wallet_api, placed, name):
    fields = valid_fields("bet", placed) | {name: "x" * 129}
    payload = refused(wallet_api, "bet", "VALIDATION_ERROR", 400, fields=fields)
    assert payload["field"] == name
    ok = send(wallet_api, "bet", valid_fields("bet", placed) | {name: "x" * 128})
    assert ok.status_code == 200, ok.content


@pytest.mark.parametrize(
    "value", ["true", "false", "yes", "", 1, 0, [], {}, [True]], ids=lambda v: repr(v)
)
def test_round_closed_must_be_a_boolean(wallet_api, placed, value):
    fields = valid_fields("win", placed) | {"round_closed": value}
    payload = refused(wallet_api, "win", "VALIDATION_ERROR", 400, fields=fields)
    assert payload["field"] == "round_closed"


def test_round_closed_null_means_not_closed(wallet_api, placed):
    fields = valid_fields("win", placed) | {"round_closed": None}
    assert send(wallet_api, "win", fields).status_code == 200
    assert Round.objects.get(external_id="r0").status == "open"


@pytest.mark.parametrize("currency", ["USD", "JPY", "XXX", "eur", "EURO", "E U R"])
def test_a_currency_other_than_the_sessions_is_a_mismatch(wallet_api, placed, currency):
    for operation in ("bet", "win"):
        fields = valid_fields(operation, placed) | {"currency": currency, "amount": "5"}
        payload = refused(
            wallet_api, operation, "CURRENCY_MISMATCH", 400, fields=fields, case=operation
        )
        assert payload["field"] == "currency"


# --- amounts ----------------------------------------------------------------------------------

INVALID_AMOUNT_STRINGS = [
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
    "0x1A",
    "5 EUR",
    "\u20ac5",
    "1000000000000.01",
    "1000000000001",
    "12.345",  # EUR has two decimals
    "0.001",
    "9" * 41,
    "9" * 5000,
    "0." + "0" * 60 + "1",
]

INVALID_AMOUNT_NUMBERS = [
    "-1",
    "-0",
    "-0.0",
    "-0.01",
    "NaN",
    "Infinity",
    "-Infinity",
    "1000000000000.01",
    "1e13",
    "1E+13",
    "12.345",
    "0.30000000000000004",
    "1e-999999999",
    "1e999999999",
    "9" * 5000,
    "0." + "0" * 5000 + "1",
]


@pytest.mark.parametrize("amount", INVALID_AMOUNT_STRINGS, ids=lambda a: repr(a[:20]))
def test_invalid_amount_strings(wallet_api, placed, amount):
    for operation in ("bet", "win"):
        fields = valid_fields(operation, placed) | {"amount": amount}
        payload = refused(
            wallet_api, operation, "INVALID_AMOUNT", 400, fields=fields, case=operation
        )
        assert payload["field"] == "amount"
        assert (payload["balance"], payload["currency"]) == ("90.00", "EUR")


@pytest.mark.parametrize("amount_text", INVALID_AMOUNT_NUMBERS, ids=lambda a: a[:20])
def test_invalid_amount_numbers(wallet_api, placed, amount_text):
    for operation in ("bet", "win"):
        body = with_amount_text(valid_fields(operation, placed), amount_text)
        payload = refused(wallet_api, operation, "INVALID_AMOUNT", 400, body=body, case=operation)
        assert payload["field"] == "amount"


@pytest.mark.parametrize("amount", [True, False, [], ["5.00"], {}, {"value": "5.00"}], ids=repr)
def test_an_amount_of_another_json_type_is_a_validation_error(wallet_api, placed, amount):
    for operation in ("bet", "win"):
        fields = valid_fields(operation, placed) | {"amount": amount}
        payload = refused(
            wallet_api, operation, "VALIDATION_ERROR", 400, fields=fields, case=operation
        )
        assert payload["field"] == "amount"


@pytest.mark.parametrize("operation", ["bet", "win"])
def test_a_missing_amount_is_a_validation_error(wallet_api, placed, operation):
    for how in ("absent", "null"):
        fields = valid_fields(operation, placed)
        if how == "absent":
            del fields["amount"]
        else:
            fields["amount"] = None
        payload = refused(wallet_api, operation, "VALIDATION_ERROR", 400, fields=fields, case=how)
        assert payload["field"] == "amount"


@pytest.mark.parametrize(
    ("amount_text", "balance"),
    [
        ("1000000000000", "1000000000090.00"),  # the maximum itself is allowed
        ("1000000000000.00", "1000000000090.00"),
        ("1e2", "190.00"),
        ("1E+2", "190.00"),
        ("0", "90.00"),
        ("0.00", "90.00"),
        ("5", "95.00"),
        ("5.5", "95.50"),
    ],
)
def test_boundary_amounts_are_amounts(wallet_api, placed, amount_text, balance):
    body = with_amount_text(valid_fields("win", placed), amount_text)
    response = wallet_api.raw("win", body)
    assert response.status_code == 200, response.content
    assert response.json()["balance"] == balance


# --- tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_unknown_token(wallet_api, placed, operation):
    for bad_token in ["no-such-token", "x" * 256, "Bearer abc", placed + "x", placed.upper()]:
        fields = valid_fields(operation, placed) | {"session_token": bad_token}
        payload = refused(
            wallet_api, operation, "INVALID_TOKEN", 401, fields=fields, case=bad_token
        )
        assert "balance" not in payload


@pytest.mark.parametrize("operation", OPERATIONS)
def test_token_of_another_provider(wallet_api, placed, player, operation):
    other, _ = factories.make_provider("other")
    _, foreign = factories.open_session(player, other)
    fields = valid_fields(operation, placed) | {"session_token": foreign}
    payload = refused(wallet_api, operation, "INVALID_TOKEN", 401, fields=fields)
    assert "balance" not in payload


def test_token_hash_is_not_a_token(wallet_api, placed, session_and_token):
    session, _ = session_and_token
    fields = valid_fields("balance", placed) | {"session_token": session.token_hash}
    refused(wallet_api, "balance", "INVALID_TOKEN", 401, fields=fields)


# --- methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head", "options"])
def test_only_post(wallet_api, placed, method):
    for operation in OPERATIONS:
        body = json.dumps(valid_fields(operation, placed)).encode()
        if method in ("get", "head"):
            body = b""
        before = ledger_state()
        headers = wallet_api.headers(body, path=f"/wallet/v1/{operation}")
        response = wallet_api.send(operation, body, headers, method=method.upper())
        assert response.status_code == 405, operation
        assert response["Allow"] == "POST"
        assert response["X-Request-Id"]
        assert ledger_state() == before
        if method != "head":
            payload = response.json()
            assert (payload["status"], payload["code"]) == ("ERROR", "VALIDATION_ERROR")
            assert "POST" in payload["message"]


def test_a_body_over_the_upload_limit_is_a_400_not_a_500(wallet_api, placed, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    fields = valid_fields("bet", placed) | {"game_id": "g", "padding": "x" * 20_000}
    payload = refused(wallet_api, "bet", "VALIDATION_ERROR", 400, fields=fields)
    assert "large" in payload["message"]
