"""The provider wallet API against its contract (docs/wallet-api.md), over HTTP.

Every call carries a real HMAC signature (the `wallet_api` fixture) and is made twice, in two
tests: through Django's full middleware stack, and through the production WSGI entry point
(config.wsgi.application, whose wallet calls take their own way in), against real
PostgreSQL. After every refused call the ledger is checked unchanged.
A few calls at the end go over a real socket (live_server).
"""

import json
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from django.db import OperationalError, connection

from tests import factories
from tests.conftest import WALLET_ENTRY_POINTS, WalletApiClient
from wallets import crypto, hooks, ledger, services
from wallets.choices import (
    PlayerStatus,
    ProviderStatus,
    RoundStatus,
    SessionEndReason,
    SessionStatus,
    TransactionKind,
    TransactionStatus,
)
from wallets.errors import PlayerBlocked, ProviderRestricted, ProviderSuspended, SessionLimit
from wallets.models import GameSession, Provider, Round, Transaction, Wallet

ERROR_KEYS = {"status", "code", "message", "balance", "currency", "field"}
TRANSACTION_KEYS = {
    "status",
    "balance",
    "currency",
    "transaction_id",
    "wallet_transaction_id",
    "duplicate",
}


@pytest.fixture(autouse=True)
def _no_fraud_rules(monkeypatch):
    """Contract tests see the wallet without fraud rules (those have their own tests); rule 6
    tests below install a screener of their own."""
    monkeypatch.setattr(hooks, "screener", None)
    monkeypatch.setattr(hooks, "decline_recorders", [])


@pytest.fixture(params=WALLET_ENTRY_POINTS)
def wallet_entry_point(request):
    """Every test here runs through Django's test client and through the production WSGI
    entry point (config.wsgi.application and the wallet API's own way in)."""
    return request.param


# --- helpers --------------------------------------------------------------------------------


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


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["X-Request-Id"]
    body = response.json()
    assert body["status"] == "OK"
    return body


def error(response, code: str, http_status: int) -> dict:
    assert response.status_code == http_status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["X-Request-Id"]
    body = response.json()
    assert body["status"] == "ERROR"
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert set(body) <= ERROR_KEYS
    # balance and currency come together or not at all
    assert ("balance" in body) == ("currency" in body)
    return body


def refused(send, code: str, http_status: int) -> dict:
    """Send, expect the refusal, and prove nothing changed."""
    before = ledger_state()
    body = error(send(), code, http_status)
    assert ledger_state() == before
    return body


def wallet_of(player, currency="EUR") -> Wallet:
    return Wallet.objects.get(player=player, currency=currency)


def available(player, currency="EUR") -> int:
    return wallet_of(player, currency).available_minor


def euros(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def bet(api, token, transaction_id, amount="10.00", round_id="r1", currency="EUR", **extra):
    fields = dict(
        session_token=token,
        transaction_id=transaction_id,
        round_id=round_id,
        amount=amount,
        currency=currency,
    )
    return api.call("bet", **fields, **extra)


def win(api, token, transaction_id, amount="10.00", round_id="r1", currency="EUR", **extra):
    fields = dict(
        session_token=token,
        transaction_id=transaction_id,
        round_id=round_id,
        amount=amount,
        currency=currency,
    )
    return api.call("win", **fields, **extra)


def rollback(api, token, transaction_id, reference, round_id="r1"):
    return api.call(
        "rollback",
        session_token=token,
        transaction_id=transaction_id,
        reference_transaction_id=reference,
        round_id=round_id,
    )


def send_raw(api: WalletApiClient, operation: str, body: bytes, headers: dict):
    """POST exactly these headers (no signing help)."""
    return api.send(operation, body, headers)


@pytest.fixture
def session(session_and_token):
    return session_and_token[0]


@pytest.fixture
def other_player(provider):
    """A second funded player with an open session at the same provider: (player, token)."""
    player = factories.funded_player(50_00)
    return player, factories.open_session(player, provider)[1]


class FixedClock:
    """Stands in for the `time` module in wallets.adapters.native."""

    def __init__(self, now: int):
        self.now = now

    def time(self) -> float:
        return self.now + 0.999  # late in the second: integer windows must not round it away

    def monotonic(self) -> float:
        return time.monotonic()


# --- transport: signatures, time window, allowlist, request ids ------------------------------


def test_signed_call_succeeds_and_every_response_has_a_request_id(wallet_api, token):
    response = wallet_api.call("balance", session_token=token)
    assert ok(response) == {"status": "OK", "balance": "100.00", "currency": "EUR"}
    assert len(response["X-Request-Id"]) == 32  # generated: a uuid4 hex


def test_the_callers_request_id_is_echoed_and_recorded(wallet_api, token):
    body = json.dumps(
        {
            "session_token": token,
            "transaction_id": "t-rid",
            "round_id": "r1",
            "amount": "1.00",
            "currency": "EUR",
        }
    ).encode()
    response = wallet_api.raw("bet", body, HTTP_X_REQUEST_ID="prov-req.42_A")
    assert response["X-Request-Id"] == "prov-req.42_A"
    txn = Transaction.objects.get(pk=ok(response)["wallet_transaction_id"])
    assert txn.request_id == "prov-req.42_A"
    assert txn.client_ip == "127.0.0.1"


def test_an_insane_request_id_is_replaced(wallet_api, token):
    response = wallet_api.raw(
        "balance",
        json.dumps({"session_token": token}).encode(),
        HTTP_X_REQUEST_ID="bad id; <script>",
    )
    ok(response)
    assert response["X-Request-Id"] != "bad id; <script>"
    assert len(response["X-Request-Id"]) == 32


@pytest.mark.parametrize(
    "missing", ["HTTP_X_PROVIDER_CODE", "HTTP_X_TIMESTAMP", "HTTP_X_SIGNATURE"]
)
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_missing_signature_headers_are_refused(wallet_api, token, missing, how):
    body = json.dumps({"session_token": token}).encode()
    headers = wallet_api.headers(body, path="/wallet/v1/balance")
    if how == "absent":
        del headers[missing]
    else:
        headers[missing] = ""
    payload = refused(
        lambda: send_raw(wallet_api, "balance", body, headers), "INVALID_SIGNATURE", 401
    )
    assert "balance" not in payload  # nobody is known yet


def test_unknown_provider_code_is_refused(wallet_api, token):
    stranger = wallet_api.as_provider("no-such-provider", wallet_api.secret)
    refused(lambda: stranger.call("balance", session_token=token), "INVALID_SIGNATURE", 401)


@pytest.mark.parametrize("code", ["acme\x00", "\x00", "a" * 65, "acme\ud800"])
def test_a_provider_code_no_provider_can_have_is_refused_not_a_500(wallet_api, token, code):
    """Found by the wallet fuzzer through the production entry point: a NUL byte reached the
    provider look-up, which PostgreSQL refuses (a 500 instead of INVALID_SIGNATURE)."""
    stranger = wallet_api.as_provider(code, wallet_api.secret)
    refused(lambda: stranger.call("balance", session_token=token), "INVALID_SIGNATURE", 401)


def test_forged_signature_is_refused(wallet_api, token):
    body = json.dumps({"session_token": token}).encode()
    refused(lambda: wallet_api.raw("balance", body, signature="0" * 64), "INVALID_SIGNATURE", 401)


def test_signature_of_another_body_is_refused(wallet_api, token):
    body = json.dumps(
        {
            "session_token": token,
            "transaction_id": "t1",
            "round_id": "r1",
            "amount": "90.00",
            "currency": "EUR",
        }
    ).encode()
    signed_body = body.replace(b"90.00", b"1.00")
    ts = str(int(time.time()))
    signature = crypto.sign(wallet_api.secret.encode(), ts, "/wallet/v1/bet", signed_body)
    refused(
        lambda: wallet_api.raw("bet", body, timestamp=ts, signature=signature),
        "INVALID_SIGNATURE",
        401,
    )


def test_signature_with_another_timestamp_is_refused(wallet_api, token):
    body = json.dumps({"session_token": token}).encode()
    now = int(time.time())
    signature = crypto.sign(wallet_api.secret.encode(), str(now - 1), "/wallet/v1/balance", body)
    refused(
        lambda: wallet_api.raw("balance", body, timestamp=now, signature=signature),
        "INVALID_SIGNATURE",
        401,
    )


def test_signature_with_another_providers_secret_is_refused(wallet_api, token):
    _, other_secret = factories.make_provider("other")
    impostor = wallet_api.as_provider(wallet_api.provider_code, other_secret)
    refused(lambda: impostor.call("balance", session_token=token), "INVALID_SIGNATURE", 401)


@pytest.mark.parametrize("signature", ["é" * 64, "\x00" * 64, "ABC", " "])
def test_garbage_signature_is_a_401_not_a_500(wallet_api, token, signature):
    body = json.dumps({"session_token": token}).encode()
    refused(lambda: wallet_api.raw("balance", body, signature=signature), "INVALID_SIGNATURE", 401)


@pytest.mark.parametrize(
    "timestamp",
    [
        "abc",
        "1_700_000_000",
        " 1700000000",
        "1.7e9",
        "+17",
        "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
        "9" * 5000,
    ],
)
def test_malformed_timestamp_is_refused_even_when_signed(wallet_api, token, timestamp):
    body = json.dumps({"session_token": token}).encode()
    signature = crypto.sign(wallet_api.secret.encode(), timestamp, "/wallet/v1/balance", body)
    refused(
        lambda: wallet_api.raw("balance", body, timestamp=timestamp, signature=signature),
        "INVALID_SIGNATURE",
        401,
    )


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (0, None),
        (-300, None),
        (300, None),
        (-301, "SIGNATURE_EXPIRED"),
        (301, "SIGNATURE_EXPIRED"),
        (-86_400, "SIGNATURE_EXPIRED"),
    ],
)
def test_timestamp_window_is_300_seconds_either_way(wallet_api, token, monkeypatch, offset, code):
    now = int(time.time())
    monkeypatch.setattr("wallets.adapters.native.time", FixedClock(now))
    body = json.dumps({"session_token": token}).encode()
    if code is None:
        assert ok(wallet_api.raw("balance", body, timestamp=now + offset))["balance"] == "100.00"
    else:
        refused(lambda: wallet_api.raw("balance", body, timestamp=now + offset), code, 401)


def test_expired_timestamp_with_a_bad_signature_is_a_signature_error(wallet_api, token):
    body = json.dumps({"session_token": token}).encode()
    refused(
        lambda: wallet_api.raw(
            "balance", body, timestamp=int(time.time()) - 1000, signature="f" * 64
        ),
        "INVALID_SIGNATURE",
        401,
    )


def test_rotated_secret_overlap_both_secrets_sign(wallet_api, provider, token):
    new_secret = services.rotate_provider_secret(provider=provider, reason="rotation")
    ok(wallet_api.call("balance", session_token=token))  # the old one, within the overlap
    rotated = wallet_api.as_provider(provider.code, new_secret)
    ok(rotated.call("balance", session_token=token))


@pytest.mark.parametrize(
    ("allowlist", "address", "allowed"),
    [
        (["10.0.0.0/8"], "127.0.0.1", False),
        (["10.0.0.0/8"], "10.20.30.40", True),
        (["192.0.2.7"], "192.0.2.7", True),
        (["192.0.2.7"], "192.0.2.8", False),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32", "198.51.100.0/24"], "198.51.100.9", True),
        ([], "203.0.113.5", True),  # empty list: anyone with the secret
    ],
)
def test_ip_allowlist(wallet_api, provider, token, allowlist, address, allowed):
    provider.ip_allowlist = allowlist
    provider.save(update_fields=["ip_allowlist"])
    body = json.dumps({"session_token": token}).encode()
    if allowed:
        ok(wallet_api.raw("balance", body, REMOTE_ADDR=address))
    else:
        payload = refused(
            lambda: wallet_api.raw("balance", body, REMOTE_ADDR=address), "IP_NOT_ALLOWED", 403
        )
        assert "balance" not in payload


def test_ip_allowlist_applies_to_money_calls(wallet_api, provider, token, player):
    provider.ip_allowlist = ["10.0.0.0/8"]
    provider.save(update_fields=["ip_allowlist"])
    refused(lambda: bet(wallet_api, token, "t1"), "IP_NOT_ALLOWED", 403)
    body = ok(
        wallet_api.raw(
            "bet",
            json.dumps(
                {
                    "session_token": token,
                    "transaction_id": "t1",
                    "round_id": "r1",
                    "amount": "1.00",
                    "currency": "EUR",
                }
            ).encode(),
            REMOTE_ADDR="10.9.9.9",
        )
    )
    assert Transaction.objects.get(pk=body["wallet_transaction_id"]).client_ip == "10.9.9.9"


def test_error_body_carries_balance_and_currency_when_known(wallet_api, token):
    payload = refused(
        lambda: bet(wallet_api, token, "t1", amount="100.01"), "INSUFFICIENT_FUNDS", 402
    )
    assert payload["balance"] == "100.00"
    assert payload["currency"] == "EUR"
    assert set(payload) == {"status", "code", "message", "balance", "currency"}


def test_unknown_token_error_has_no_balance(wallet_api):
    payload = refused(
        lambda: wallet_api.call("balance", session_token="nope"), "INVALID_TOKEN", 401
    )
    assert "balance" not in payload


# --- amounts: rendering, exact reading, rounding modes ---------------------------------------


@pytest.mark.parametrize(
    ("currency", "funded_minor", "funded", "bet_amount", "after"),
    [
        ("EUR", 100_00, "100.00", "12.5", "87.50"),
        ("EUR", 5, "0.05", "0.05", "0.00"),
        ("JPY", 350, "350", "50", "300"),
        ("BHD", 1_234, "1.234", "0.234", "1.000"),
        ("BHD", 1_234, "1.234", "1.234", "0.000"),
    ],
)
def test_amounts_are_rendered_with_the_currencys_decimals(
    wallet_api, provider, currency, funded_minor, funded, bet_amount, after
):
    player = factories.funded_player(funded_minor, currency)
    _, token = factories.open_session(player, provider, currency)
    auth = ok(wallet_api.call("authenticate", session_token=token))
    assert auth["balance"] == funded
    assert auth["currency"] == currency
    body = ok(bet(wallet_api, token, "t1", amount=bet_amount, currency=currency))
    assert body["balance"] == after
    assert body["currency"] == currency
    assert ok(wallet_api.call("balance", session_token=token))["balance"] == after


def test_jpy_error_balance_has_no_decimals(wallet_api, provider):
    player = factories.funded_player(350, "JPY")
    _, token = factories.open_session(player, provider, "JPY")
    payload = refused(
        lambda: bet(wallet_api, token, "t1", amount="351", currency="JPY"),
        "INSUFFICIENT_FUNDS",
        402,
    )
    assert (payload["balance"], payload["currency"]) == ("350", "JPY")
    refused(
        lambda: bet(wallet_api, token, "t2", amount="1.5", currency="JPY"), "INVALID_AMOUNT", 400
    )


def with_number(fields: dict, amount_text: str) -> bytes:
    """A JSON body whose amount is the JSON number `amount_text`, digits exactly as written."""
    text = json.dumps({**fields, "amount": "@AMOUNT@"})
    return text.replace('"@AMOUNT@"', amount_text).encode()


def money_call(api, operation, token, transaction_id, amount_text, currency="EUR"):
    fields = dict(
        session_token=token, transaction_id=transaction_id, round_id="r1", currency=currency
    )
    return api.raw(operation, with_number(fields, amount_text))


def test_json_numbers_are_read_exactly_from_their_text(wallet_api, token, player):
    ok(money_call(wallet_api, "bet", token, "n1", "0.1"))
    body = ok(money_call(wallet_api, "bet", token, "n2", "0.2"))
    assert body["balance"] == "99.70"
    assert available(player) == 99_70
    # 0.1 + 0.2 as a binary float: seventeen decimals, so refused, not silently rounded
    refused(
        lambda: money_call(wallet_api, "bet", token, "n3", "0.30000000000000004"),
        "INVALID_AMOUNT",
        400,
    )
    refused(lambda: money_call(wallet_api, "bet", token, "n4", "12.345"), "INVALID_AMOUNT", 400)
    # 1e2 as a JSON number is a number: 100 (exponent notation is refused only in strings)
    refused(lambda: money_call(wallet_api, "bet", token, "n5", "1e2"), "INSUFFICIENT_FUNDS", 402)
    ok(money_call(wallet_api, "win", token, "w1", "1e2"))
    assert available(player) == 199_70
    assert ok(money_call(wallet_api, "bet", token, "n6", "1E+2"))["balance"] == "99.70"
    assert ok(money_call(wallet_api, "bet", token, "n7", "9.70"))["balance"] == "90.00"
    assert ok(money_call(wallet_api, "bet", token, "n8", "90"))["balance"] == "0.00"
    assert available(player) == 0


@pytest.mark.parametrize(
    ("mode", "amount", "minor", "residue"),
    [
        ("half_up", "12.345", 1235, Decimal("-0.005")),
        ("half_even", "12.345", 1234, Decimal("0.005")),
        ("down", "12.349", 1234, Decimal("0.009")),
        ("up", "12.341", 1235, Decimal("-0.009")),
    ],
)
def test_rounding_mode_accepts_extra_decimals_and_records_the_residue(
    wallet_api, provider, token, player, mode, amount, minor, residue
):
    provider.rounding_mode = mode
    provider.save(update_fields=["rounding_mode"])
    body = ok(bet(wallet_api, token, "t1", amount=amount))
    txn = Transaction.objects.get(pk=body["wallet_transaction_id"])
    assert txn.amount_minor == minor
    assert txn.rounding_residue == residue
    assert available(player) == 100_00 - minor
    body = ok(win(wallet_api, token, "w1", amount=amount))
    txn = Transaction.objects.get(pk=body["wallet_transaction_id"])
    assert (txn.amount_minor, txn.rounding_residue) == (minor, residue)
    assert available(player) == 100_00
    # an exact amount records no residue
    body = ok(bet(wallet_api, token, "t2", amount="1.50"))
    assert Transaction.objects.get(pk=body["wallet_transaction_id"]).rounding_residue is None
    # a replay with the same text is the same call
    assert ok(bet(wallet_api, token, "t1", amount=amount))["duplicate"] is True


def test_rounding_mode_json_number_and_jpy(wallet_api, provider):
    provider.rounding_mode = "half_even"
    provider.save(update_fields=["rounding_mode"])
    player = factories.funded_player(1_000, "JPY")
    _, token = factories.open_session(player, provider, "JPY")
    body = ok(money_call(wallet_api, "bet", token, "j1", "350.5", currency="JPY"))
    assert body["balance"] == "650"
    txn = Transaction.objects.get(pk=body["wallet_transaction_id"])
    assert (txn.amount_minor, txn.rounding_residue) == (350, Decimal("0.5"))


def test_rounding_to_zero_is_not_a_bet(wallet_api, provider, token):
    provider.rounding_mode = "down"
    provider.save(update_fields=["rounding_mode"])
    refused(lambda: bet(wallet_api, token, "t1", amount="0.009"), "INVALID_AMOUNT", 400)


# --- operations: success fields ---------------------------------------------------------------


def test_authenticate(wallet_api, token, session, player):
    assert session.authenticated_at is None
    body = ok(wallet_api.call("authenticate", session_token=token))
    assert body == {
        "status": "OK",
        "player_id": player.external_id,
        "currency": "EUR",
        "balance": "100.00",
        "session_id": str(session.pk),
    }
    session.refresh_from_db()
    first = session.authenticated_at
    assert first is not None
    # repeatable while open; the first confirmation time stays
    assert ok(wallet_api.call("authenticate", session_token=token)) == body
    session.refresh_from_db()
    assert session.authenticated_at == first


def test_authenticate_balance_is_available_not_total(wallet_api, provider, player):
    _, token = factories.open_session(player, provider, buy_in_minor=30_00)
    assert ok(wallet_api.call("authenticate", session_token=token))["balance"] == "70.00"
    assert ok(wallet_api.call("balance", session_token=token))["balance"] == "70.00"


def test_balance(wallet_api, token):
    body = ok(wallet_api.call("balance", session_token=token))
    assert body == {"status": "OK", "balance": "100.00", "currency": "EUR"}


def test_bet(wallet_api, token, session, player):
    body = ok(bet(wallet_api, token, "t-1", amount="12.34", round_id="round-9", game_id="g-7"))
    assert set(body) == TRANSACTION_KEYS
    assert body["balance"] == "87.66"
    assert body["currency"] == "EUR"
    assert body["transaction_id"] == "t-1"
    assert body["duplicate"] is False
    txn = Transaction.objects.get(pk=int(body["wallet_transaction_id"]))
    assert txn.kind == TransactionKind.BET
    assert txn.status == TransactionStatus.POSTED
    assert (txn.amount_minor, txn.delta_minor, txn.balance_after_minor) == (1234, -1234, 8766)
    assert txn.external_id == "t-1"
    assert txn.round_external_id == "round-9"
    assert txn.session_id == session.pk
    assert txn.player_id == player.pk
    assert txn.game_id == "g-7"
    assert txn.currency == "EUR"
    assert Round.objects.get(pk=txn.round_id).status == RoundStatus.OPEN
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (87_66, 0)


def test_bet_draws_on_the_buy_in_first(wallet_api, provider, player):
    session, token = factories.open_session(player, provider, buy_in_minor=30_00)
    body = ok(bet(wallet_api, token, "t1", amount="40.00"))
    assert body["balance"] == "60.00"  # 100 - 40; the 30 buy-in is spent first
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (60_00, 0)
    session.refresh_from_db()
    assert session.reserved_minor == 0


def test_win(wallet_api, token, player):
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    body = ok(win(wallet_api, token, "w1", amount="25.50", reference_transaction_id="t1"))
    assert set(body) == TRANSACTION_KEYS
    assert (body["balance"], body["transaction_id"], body["duplicate"]) == ("115.50", "w1", False)
    txn = Transaction.objects.get(pk=body["wallet_transaction_id"])
    assert (txn.kind, txn.status, txn.amount_minor, txn.delta_minor) == (
        TransactionKind.WIN,
        TransactionStatus.POSTED,
        25_50,
        25_50,
    )
    assert txn.reference_external_id == "t1"
    assert Round.objects.get(pk=txn.round_id).status == RoundStatus.OPEN  # not round_closed
    assert available(player) == 115_50


def test_zero_win_closes_the_round(wallet_api, token, player):
    ok(bet(wallet_api, token, "t1"))
    body = ok(win(wallet_api, token, "w0", amount="0", round_closed=True))
    assert body["balance"] == "90.00"
    assert Transaction.objects.get(pk=body["wallet_transaction_id"]).amount_minor == 0
    assert Round.objects.get(external_id="r1").status == RoundStatus.SETTLED


def test_rollback(wallet_api, token, player):
    placed = ok(bet(wallet_api, token, "t1", amount="30.00"))
    body = ok(rollback(wallet_api, token, "rb1", "t1"))
    assert set(body) == TRANSACTION_KEYS
    assert (body["balance"], body["transaction_id"], body["duplicate"]) == ("100.00", "rb1", False)
    txn = Transaction.objects.get(pk=body["wallet_transaction_id"])
    assert (txn.kind, txn.amount_minor, txn.delta_minor) == (TransactionKind.ROLLBACK, 30_00, 30_00)
    assert txn.reference_id == int(placed["wallet_transaction_id"])
    the_bet = Transaction.objects.get(pk=placed["wallet_transaction_id"])
    assert the_bet.status == TransactionStatus.ROLLED_BACK
    assert the_bet.amount_minor == 30_00  # append-only: the amount never changes
    assert available(player) == 100_00
    assert Round.objects.get(external_id="r1").status == RoundStatus.CANCELLED


def test_rollback_returns_a_buy_in_stake_to_the_open_session(wallet_api, provider, player):
    session, token = factories.open_session(player, provider, buy_in_minor=30_00)
    ok(bet(wallet_api, token, "t1", amount="40.00"))
    assert ok(rollback(wallet_api, token, "rb1", "t1"))["balance"] == "70.00"
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (100_00, 30_00)
    session.refresh_from_db()
    assert session.reserved_minor == 30_00


def test_round_close(wallet_api, token):
    ok(bet(wallet_api, token, "t1", round_id="r7"))
    body = ok(wallet_api.call("round/close", session_token=token, round_id="r7"))
    assert body == {"status": "OK", "balance": "90.00", "currency": "EUR"}
    assert Round.objects.get(external_id="r7").status == RoundStatus.SETTLED
    # closing again is harmless
    assert ok(wallet_api.call("round/close", session_token=token, round_id="r7")) == body


def test_session_close(wallet_api, provider, player):
    session, token = factories.open_session(player, provider, buy_in_minor=30_00)
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    body = ok(wallet_api.call("session/close", session_token=token))
    assert body == {"status": "OK", "balance": "90.00", "currency": "EUR"}
    session.refresh_from_db()
    assert session.status == SessionStatus.CLOSED
    assert session.end_reason == SessionEndReason.GRACEFUL
    assert session.reserved_minor == 0
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (90_00, 0)
    # closing a closed session: same answer, nothing changes
    before = ledger_state()
    assert ok(wallet_api.call("session/close", session_token=token)) == body
    assert ledger_state() == before


# --- rule 1: idempotency --------------------------------------------------------------------


def test_bet_replay_is_a_duplicate_and_changes_nothing(wallet_api, token, player):
    first = ok(bet(wallet_api, token, "t1", amount="10.00"))
    before = ledger_state()
    for amount in ("10.00", "10", "10.0"):  # the same amount, however written
        again = ok(bet(wallet_api, token, "t1", amount=amount))
        assert again["duplicate"] is True
        assert again["wallet_transaction_id"] == first["wallet_transaction_id"]
        assert again["transaction_id"] == "t1"
        assert again["balance"] == "90.00"
    for number in ("10", "10.00", "1E1", "1.0e+1"):
        again = ok(money_call(wallet_api, "bet", token, "t1", number))
        assert again["duplicate"] is True
    assert ledger_state() == before
    assert available(player) == 90_00


def test_replay_reports_the_current_balance(wallet_api, token):
    first = ok(bet(wallet_api, token, "t1", amount="10.00"))
    ok(win(wallet_api, token, "w1", amount="5.00"))
    again = ok(bet(wallet_api, token, "t1", amount="10.00"))
    assert again["wallet_transaction_id"] == first["wallet_transaction_id"]
    assert again["balance"] == "95.00"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "10.01"},
        {"amount": "1000.00"},  # a mismatch, not a funds problem
        {"currency": "JPY", "amount": "1000"},  # same minor units, other currency
        {"currency": "BHD", "amount": "10.00"},
        {"round_id": "r2"},
    ],
)
def test_bet_id_reused_with_another_payload_is_a_mismatch(wallet_api, token, change):
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    fields = {"amount": "10.00", **change}
    refused(lambda: bet(wallet_api, token, "t1", **fields), "DUPLICATE_MISMATCH", 409)


def test_transaction_id_reused_for_another_kind_is_a_mismatch(wallet_api, token):
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    ok(win(wallet_api, token, "w1", amount="10.00"))
    ok(rollback(wallet_api, token, "rb-x", "unknown-bet"))
    refused(lambda: win(wallet_api, token, "t1", amount="10.00"), "DUPLICATE_MISMATCH", 409)
    refused(lambda: bet(wallet_api, token, "w1", amount="10.00"), "DUPLICATE_MISMATCH", 409)
    refused(lambda: rollback(wallet_api, token, "t1", "t1"), "DUPLICATE_MISMATCH", 409)
    refused(lambda: rollback(wallet_api, token, "w1", "t1"), "DUPLICATE_MISMATCH", 409)
    refused(lambda: bet(wallet_api, token, "rb-x", amount="10.00"), "DUPLICATE_MISMATCH", 409)
    refused(lambda: win(wallet_api, token, "rb-x", amount="10.00"), "DUPLICATE_MISMATCH", 409)


def test_transaction_id_reused_for_another_player_is_a_mismatch(wallet_api, token, other_player):
    _, other_token = other_player
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    ok(win(wallet_api, token, "w1", amount="10.00"))
    ok(rollback(wallet_api, token, "rb1", "t0-unknown"))
    refused(lambda: bet(wallet_api, other_token, "t1", amount="10.00"), "DUPLICATE_MISMATCH", 409)
    refused(lambda: win(wallet_api, other_token, "w1", amount="10.00"), "DUPLICATE_MISMATCH", 409)
    refused(
        lambda: rollback(wallet_api, other_token, "rb1", "t0-unknown"), "DUPLICATE_MISMATCH", 409
    )


def test_transaction_ids_are_per_provider(wallet_api, token, player):
    other, other_secret = factories.make_provider("other")
    other_api = wallet_api.as_provider(other.code, other_secret)
    _, other_token = factories.open_session(player, other)
    first = ok(bet(wallet_api, token, "t1", amount="10.00"))
    second = ok(bet(other_api, other_token, "t1", amount="10.00"))
    assert second["duplicate"] is False
    assert second["wallet_transaction_id"] != first["wallet_transaction_id"]
    assert available(player) == 80_00


@pytest.mark.parametrize(
    "change", [{"amount": "10.01"}, {"currency": "JPY", "amount": "1000"}, {"round_id": "r2"}]
)
def test_win_replay_and_mismatch(wallet_api, token, player, change):
    ok(bet(wallet_api, token, "t1"))
    first = ok(win(wallet_api, token, "w1", amount="10.00"))
    again = ok(win(wallet_api, token, "w1", amount="10.00"))
    assert again["duplicate"] is True
    assert again["wallet_transaction_id"] == first["wallet_transaction_id"]
    assert available(player) == 100_00
    fields = {"amount": "10.00", **change}
    refused(lambda: win(wallet_api, token, "w1", **fields), "DUPLICATE_MISMATCH", 409)


def test_rollback_replay_and_mismatch(wallet_api, token, player):
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    ok(bet(wallet_api, token, "t2", amount="20.00"))
    first = ok(rollback(wallet_api, token, "rb1", "t1"))
    again = ok(rollback(wallet_api, token, "rb1", "t1"))
    assert again["duplicate"] is True
    assert again["wallet_transaction_id"] == first["wallet_transaction_id"]
    assert available(player) == 80_00
    refused(lambda: rollback(wallet_api, token, "rb1", "t2"), "DUPLICATE_MISMATCH", 409)
    refused(
        lambda: rollback(wallet_api, token, "rb1", "t1", round_id="r2"), "DUPLICATE_MISMATCH", 409
    )


# --- rule 2: rollback -----------------------------------------------------------------------


def test_rollback_of_unknown_bet_leaves_a_tombstone(wallet_api, token, player):
    body = ok(rollback(wallet_api, token, "rb1", "late-bet"))
    assert body["balance"] == "100.00"
    assert body["duplicate"] is False
    tombstone = Transaction.objects.get(pk=body["wallet_transaction_id"])
    assert (tombstone.kind, tombstone.delta_minor, tombstone.amount_minor) == (
        TransactionKind.ROLLBACK,
        0,
        0,
    )
    assert tombstone.reference_external_id == "late-bet"
    assert available(player) == 100_00
    payload = refused(
        lambda: bet(wallet_api, token, "late-bet", amount="10.00"), "TRANSACTION_ROLLED_BACK", 409
    )
    assert (payload["balance"], payload["currency"]) == ("100.00", "EUR")
    # the tombstone's own replay is still a plain duplicate
    assert ok(rollback(wallet_api, token, "rb1", "late-bet"))["duplicate"] is True


def test_tombstone_holds_after_the_session_closed(wallet_api, provider, token, player):
    ok(rollback(wallet_api, token, "rb1", "late-bet"))
    ok(wallet_api.call("session/close", session_token=token))
    _, new_token = factories.open_session(player, provider)
    refused(lambda: bet(wallet_api, new_token, "late-bet"), "TRANSACTION_ROLLED_BACK", 409)


def test_second_rollback_with_a_new_id_succeeds_and_changes_nothing(wallet_api, token, player):
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    ok(rollback(wallet_api, token, "rb1", "t1"))
    before = ledger_state()[0]
    body = ok(rollback(wallet_api, token, "rb2", "t1"))
    assert body["balance"] == "100.00"
    assert body["transaction_id"] == "rb2"
    assert body["duplicate"] is True
    assert ledger_state()[0] == before
    assert available(player) == 100_00
    # its id is taken now, like any other
    again = ok(rollback(wallet_api, token, "rb2", "t1"))
    assert again["wallet_transaction_id"] == body["wallet_transaction_id"]
    refused(lambda: bet(wallet_api, token, "rb2"), "DUPLICATE_MISMATCH", 409)
    refused(lambda: rollback(wallet_api, token, "rb2", "t9"), "DUPLICATE_MISMATCH", 409)


def test_bet_replayed_after_its_rollback_is_refused(wallet_api, token, player):
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    ok(rollback(wallet_api, token, "rb1", "t1"))
    refused(lambda: bet(wallet_api, token, "t1", amount="10.00"), "TRANSACTION_ROLLED_BACK", 409)
    refused(lambda: bet(wallet_api, token, "t1", amount="99.00"), "DUPLICATE_MISMATCH", 409)
    assert available(player) == 100_00


def test_rollback_of_a_win_is_an_invalid_reference(wallet_api, token):
    ok(bet(wallet_api, token, "t1"))
    ok(win(wallet_api, token, "w1", amount="50.00"))
    payload = refused(lambda: rollback(wallet_api, token, "rb1", "w1"), "INVALID_REFERENCE", 409)
    assert payload["balance"] == "140.00"


def test_rollback_of_a_rollback_is_an_invalid_reference(wallet_api, token):
    ok(bet(wallet_api, token, "t1"))
    ok(rollback(wallet_api, token, "rb1", "t1"))
    refused(lambda: rollback(wallet_api, token, "rb2", "rb1"), "INVALID_REFERENCE", 409)


def test_rollback_of_another_players_bet_is_an_invalid_reference(wallet_api, token, other_player):
    other, other_token = other_player
    ok(bet(wallet_api, other_token, "their-bet", amount="10.00"))
    refused(lambda: rollback(wallet_api, token, "rb1", "their-bet"), "INVALID_REFERENCE", 409)
    assert available(other) == 40_00


def test_rollback_of_another_providers_bet_is_only_a_tombstone(wallet_api, token, player):
    other, other_secret = factories.make_provider("other")
    other_api = wallet_api.as_provider(other.code, other_secret)
    _, other_token = factories.open_session(player, other)
    ok(bet(other_api, other_token, "t1", amount="10.00"))
    body = ok(rollback(wallet_api, token, "rb1", "t1"))  # acme has no bet t1
    assert body["balance"] == "90.00"
    assert Transaction.objects.get(provider=other, external_id="t1").status == "posted"


# --- rule 3: wins and rollbacks are always accepted -----------------------------------------


def _close(api, token, session, provider, player):
    ok(api.call("session/close", session_token=token))


def _expire(api, token, session, provider, player):
    ledger.end_session(
        session=session, status=SessionStatus.EXPIRED, reason=SessionEndReason.IDLE_TIMEOUT
    )


def _abandon(api, token, session, provider, player):
    ledger.end_session(
        session=session, status=SessionStatus.ABANDONED, reason=SessionEndReason.IDLE_TIMEOUT
    )


def _kill_by_suspension(api, token, session, provider, player):
    services.change_provider_status(
        provider=provider, status=ProviderStatus.SUSPENDED, reason="test", kill_open_sessions=True
    )


def _staff_close(api, token, session, provider, player):
    services.close_session_by_staff(session=session, reason="test", actor=None)


def _suspend(api, token, session, provider, player):
    services.change_provider_status(
        provider=provider, status=ProviderStatus.SUSPENDED, reason="test"
    )


def _block(api, token, session, provider, player):
    services.set_player_status(
        player=player, status=PlayerStatus.BLOCKED, reason="test", actor=None
    )


@pytest.mark.parametrize(
    ("make_it_so", "bet_code", "bet_status"),
    [
        (_close, "SESSION_EXPIRED", 401),
        (_expire, "SESSION_EXPIRED", 401),
        (_abandon, "SESSION_EXPIRED", 401),
        (_kill_by_suspension, "SESSION_EXPIRED", 401),
        (_staff_close, "SESSION_EXPIRED", 401),
        (_suspend, "PROVIDER_SUSPENDED", 403),
        (_block, "PLAYER_BLOCKED", 403),
    ],
)
def test_wins_and_rollbacks_settle_rounds_whatever_happened_since(
    wallet_api, provider, player, make_it_so, bet_code, bet_status
):
    session, token = factories.open_session(player, provider, buy_in_minor=20_00)
    ok(bet(wallet_api, token, "t1", amount="10.00", round_id="r1"))
    ok(bet(wallet_api, token, "t2", amount="5.00", round_id="r2"))
    ok(bet(wallet_api, token, "t3", amount="1.00", round_id="r3"))
    make_it_so(wallet_api, token, session, provider, player)

    refused(
        lambda: bet(wallet_api, token, "t4", amount="1.00", round_id="r1"), bet_code, bet_status
    )
    body = ok(win(wallet_api, token, "w1", amount="30.00", round_id="r1", round_closed=True))
    paid = wallet_of(player)
    assert paid.balance_minor == 100_00 - 16_00 + 30_00
    assert body["balance"] == euros(paid.available_minor)
    body = ok(rollback(wallet_api, token, "rb2", "t2", round_id="r2"))
    assert Transaction.objects.get(external_id="t2").status == TransactionStatus.ROLLED_BACK
    ok(win(wallet_api, token, "w3", amount="0", round_id="r3"))
    ok(wallet_api.call("round/close", session_token=token, round_id="r3"))
    ok(wallet_api.call("balance", session_token=token))

    wallet = wallet_of(player)
    assert wallet.balance_minor == 100_00 - 16_00 + 30_00 + 5_00
    session.refresh_from_db()
    if session.status == SessionStatus.OPEN:  # buy-in still held: 20 - 16 + 5 back
        assert wallet.reserved_minor == session.reserved_minor == 9_00
    else:  # released when the session ended; the refund goes to available
        assert wallet.reserved_minor == session.reserved_minor == 0
    assert body["balance"] == euros(wallet.available_minor)
    assert Round.objects.get(external_id="r1").status == RoundStatus.SETTLED
    assert Round.objects.get(external_id="r3").status == RoundStatus.SETTLED


def test_session_ended_after_a_win_still_takes_the_rest_of_the_round(wallet_api, token, player):
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    ok(win(wallet_api, token, "w1", amount="4.00"))
    ok(wallet_api.call("session/close", session_token=token))
    ok(win(wallet_api, token, "w2", amount="6.00", round_closed=True))
    assert available(player) == 100_00


# --- rule 4: what a bet needs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [SessionStatus.CLOSED, SessionStatus.EXPIRED, SessionStatus.ABANDONED, SessionStatus.KILLED],
)
def test_bet_needs_an_open_session(wallet_api, session, token, status):
    ledger.end_session(session=session, status=status, reason=SessionEndReason.IDLE_TIMEOUT)
    payload = refused(lambda: bet(wallet_api, token, "t1"), "SESSION_EXPIRED", 401)
    assert payload["balance"] == "100.00"


def test_bet_needs_an_active_provider(wallet_api, provider, token):
    services.change_provider_status(provider=provider, status="suspended", reason="test")
    refused(lambda: bet(wallet_api, token, "t1"), "PROVIDER_SUSPENDED", 403)
    services.change_provider_status(provider=provider, status="active", reason="test")
    # The refused id keeps its refusal (a late delivery of it is never booked); a new id plays.
    refused(lambda: bet(wallet_api, token, "t1"), "PROVIDER_SUSPENDED", 403)
    assert ok(bet(wallet_api, token, "t2"))["balance"] == "90.00"


def test_restricted_provider_plays_on_in_open_sessions(wallet_api, provider, token, player):
    ok(wallet_api.call("authenticate", session_token=token))
    services.change_provider_status(provider=provider, status="restricted", reason="test")
    assert ok(bet(wallet_api, token, "t1"))["balance"] == "90.00"
    assert ok(win(wallet_api, token, "w1", amount="5.00"))["balance"] == "95.00"
    ok(wallet_api.call("authenticate", session_token=token))
    # ... but the platform cannot launch new ones
    with pytest.raises(ProviderRestricted):
        ledger.open_session(
            player=player, provider=Provider.objects.get(pk=provider.pk), currency="EUR"
        )


def test_bet_needs_a_player_allowed_to_play(wallet_api, player, token):
    services.set_player_status(player=player, status="blocked", reason="test", actor=None)
    refused(lambda: bet(wallet_api, token, "t1"), "PLAYER_BLOCKED", 403)


@pytest.mark.parametrize("currency", ["JPY", "USD", "XXX", "eur", "EURO", "", None, 978])
def test_bet_needs_the_sessions_currency(wallet_api, token, currency):
    code, status = (
        ("CURRENCY_MISMATCH", 400)
        if isinstance(currency, str) and currency
        else ("VALIDATION_ERROR", 400)
    )
    payload = refused(
        lambda: bet(wallet_api, token, "t1", amount="10", currency=currency), code, status
    )
    assert payload["field"] == "currency"
    assert payload["balance"] == "100.00"


def test_win_needs_the_sessions_currency(wallet_api, token):
    ok(bet(wallet_api, token, "t1"))
    refused(lambda: win(wallet_api, token, "w1", currency="USD"), "CURRENCY_MISMATCH", 400)


def test_bet_needs_available_funds(wallet_api, provider, player, token):
    payload = refused(
        lambda: bet(wallet_api, token, "t1", amount="100.01"), "INSUFFICIENT_FUNDS", 402
    )
    assert (payload["balance"], payload["currency"]) == ("100.00", "EUR")
    assert ok(bet(wallet_api, token, "t1", amount="100.00"))["balance"] == "0.00"
    payload = refused(
        lambda: bet(wallet_api, token, "t2", amount="0.01"), "INSUFFICIENT_FUNDS", 402
    )
    assert payload["balance"] == "0.00"


def test_reserved_funds_are_not_available_to_other_sessions(wallet_api, provider, player):
    factories.open_session(player, provider, buy_in_minor=70_00)
    _, token = factories.open_session(player, provider)
    payload = refused(
        lambda: bet(wallet_api, token, "t1", amount="30.01"), "INSUFFICIENT_FUNDS", 402
    )
    assert payload["balance"] == "30.00"
    assert ok(bet(wallet_api, token, "t1", amount="30.00"))["balance"] == "0.00"


def test_held_win_is_not_available_to_bet(wallet_api, token, player, monkeypatch):
    monkeypatch.setattr(
        hooks,
        "screener",
        lambda request: hooks.Screening(
            action=hooks.HOLD if request.kind == "win" else hooks.ALLOW
        ),
    )
    ok(bet(wallet_api, token, "t1", amount="100.00"))
    body = ok(win(wallet_api, token, "w1", amount="500.00"))
    assert body["balance"] == "0.00"  # credited to reserved, not available
    assert Transaction.objects.get(pk=body["wallet_transaction_id"]).status == "held"
    wallet = wallet_of(player)
    assert (wallet.balance_minor, wallet.reserved_minor) == (500_00, 500_00)
    refused(lambda: bet(wallet_api, token, "t2", amount="0.01"), "INSUFFICIENT_FUNDS", 402)


def test_bet_of_zero_is_refused(wallet_api, token):
    refused(lambda: bet(wallet_api, token, "t1", amount="0"), "INVALID_AMOUNT", 400)
    refused(lambda: bet(wallet_api, token, "t1", amount="0.00"), "INVALID_AMOUNT", 400)


def test_bet_into_a_round_closed_by_a_win(wallet_api, token):
    ok(bet(wallet_api, token, "t1"))
    ok(win(wallet_api, token, "w1", amount="0", round_closed=True))
    payload = refused(lambda: bet(wallet_api, token, "t2"), "ROUND_CLOSED", 409)
    assert payload["balance"] == "90.00"
    ok(bet(wallet_api, token, "t2", round_id="r2"))  # another round is fine


def test_win_without_round_closed_leaves_the_round_open(wallet_api, token):
    ok(bet(wallet_api, token, "t1"))
    ok(win(wallet_api, token, "w1", amount="1.00"))
    assert ok(bet(wallet_api, token, "t2"))["balance"] == "81.00"


def test_bet_into_a_round_closed_by_round_close(wallet_api, token):
    ok(bet(wallet_api, token, "t1"))
    ok(wallet_api.call("round/close", session_token=token, round_id="r1"))
    refused(lambda: bet(wallet_api, token, "t2"), "ROUND_CLOSED", 409)


def test_round_close_before_any_bet_keeps_late_bets_out(wallet_api, token):
    ok(wallet_api.call("round/close", session_token=token, round_id="r-late"))
    refused(lambda: bet(wallet_api, token, "t1", round_id="r-late"), "ROUND_CLOSED", 409)


def test_rounds_are_per_player(wallet_api, token, other_player):
    """Live tables share one round id across players: one closing it closes only theirs."""
    _, other_token = other_player
    ok(bet(wallet_api, token, "t1", round_id="table-1"))
    ok(bet(wallet_api, other_token, "o1", round_id="table-1"))
    ok(win(wallet_api, token, "w1", amount="0", round_id="table-1", round_closed=True))
    ok(bet(wallet_api, other_token, "o2", round_id="table-1"))
    refused(lambda: bet(wallet_api, token, "t2", round_id="table-1"), "ROUND_CLOSED", 409)


def test_several_bets_in_one_round(wallet_api, token, player):
    for n in range(3):
        ok(bet(wallet_api, token, f"t{n}", amount="10.00"))
    ok(win(wallet_api, token, "w1", amount="45.00", round_closed=True))
    assert available(player) == 115_00
    assert Round.objects.get(external_id="r1").transactions.count() == 4


# --- rule 5: a win with no bet ---------------------------------------------------------------


def test_win_without_a_bet_opens_and_settles_its_round(wallet_api, token, player):
    body = ok(win(wallet_api, token, "fs-1", amount="7.50", round_id="free-spins"))
    assert body["balance"] == "107.50"
    round_ = Round.objects.get(external_id="free-spins")
    assert round_.has_bet is False
    assert round_.status == RoundStatus.SETTLED
    # more wins of the same feature are still paid
    assert ok(win(wallet_api, token, "fs-2", amount="2.50", round_id="free-spins"))["balance"] == (
        "110.00"
    )
    refused(lambda: bet(wallet_api, token, "t1", round_id="free-spins"), "ROUND_CLOSED", 409)


def test_win_without_a_bet_needs_an_open_session(wallet_api, token):
    """Rule 3 protects rounds opened by an accepted bet; a promotion into a closed session has
    no round to settle."""
    ok(wallet_api.call("session/close", session_token=token))
    refused(
        lambda: win(wallet_api, token, "fs-1", amount="7.50", round_id="promo"),
        "SESSION_EXPIRED",
        401,
    )


# --- authenticate ---------------------------------------------------------------------------


def test_authenticate_new_session_at_restricted_provider(wallet_api, provider, token):
    services.change_provider_status(provider=provider, status="restricted", reason="test")
    payload = refused(
        lambda: wallet_api.call("authenticate", session_token=token), "PROVIDER_RESTRICTED", 403
    )
    assert payload["balance"] == "100.00"


def test_reauthenticate_at_restricted_provider(wallet_api, provider, token):
    ok(wallet_api.call("authenticate", session_token=token))
    services.change_provider_status(provider=provider, status="restricted", reason="test")
    assert ok(wallet_api.call("authenticate", session_token=token))["balance"] == "100.00"


@pytest.mark.parametrize("authenticated_before", [False, True])
def test_authenticate_at_suspended_provider(wallet_api, provider, token, authenticated_before):
    if authenticated_before:
        ok(wallet_api.call("authenticate", session_token=token))
    services.change_provider_status(provider=provider, status="suspended", reason="test")
    refused(lambda: wallet_api.call("authenticate", session_token=token), "PROVIDER_SUSPENDED", 403)


def test_authenticate_blocked_player(wallet_api, player, token):
    services.set_player_status(player=player, status="blocked", reason="test", actor=None)
    refused(lambda: wallet_api.call("authenticate", session_token=token), "PLAYER_BLOCKED", 403)


def test_authenticate_ended_session(wallet_api, token):
    ok(wallet_api.call("authenticate", session_token=token))
    ok(wallet_api.call("session/close", session_token=token))
    refused(lambda: wallet_api.call("authenticate", session_token=token), "SESSION_EXPIRED", 401)
    # the balance stays readable for the provider's last screen
    assert ok(wallet_api.call("balance", session_token=token))["balance"] == "100.00"


@pytest.mark.parametrize(
    "operation",
    ["authenticate", "balance", "bet", "win", "rollback", "round/close", "session/close"],
)
def test_token_of_another_provider_is_unknown(wallet_api, player, operation):
    other, _ = factories.make_provider("other")
    _, foreign_token = factories.open_session(player, other)
    fields = {
        "session_token": foreign_token,
        "transaction_id": "t1",
        "round_id": "r1",
        "amount": "1.00",
        "currency": "EUR",
        "reference_transaction_id": "t0",
    }
    payload = refused(lambda: wallet_api.call(operation, **fields), "INVALID_TOKEN", 401)
    assert "balance" not in payload


# --- SESSION_LIMIT (on launch, not on the wallet API) ----------------------------------------


def test_session_limit_on_launch(provider, player):
    provider.max_sessions_per_player = 2
    provider.save(update_fields=["max_sessions_per_player"])
    first, _ = factories.open_session(player, provider)
    factories.open_session(player, provider)
    before = ledger_state()
    with pytest.raises(SessionLimit) as caught:
        factories.open_session(player, provider, buy_in_minor=10_00)
    assert (caught.value.code, caught.value.http_status) == ("SESSION_LIMIT", 409)
    assert ledger_state() == before
    # per provider: another provider's sessions do not count
    other, _ = factories.make_provider("other", max_sessions_per_player=1)
    factories.open_session(player, other)
    # an ended session frees its place
    ledger.end_session(session=first, status=SessionStatus.CLOSED, reason=SessionEndReason.GRACEFUL)
    factories.open_session(player, provider)


def test_session_launch_refusals(provider, player):
    services.set_player_status(player=player, status="blocked", reason="test", actor=None)
    with pytest.raises(PlayerBlocked):
        factories.open_session(player, provider)
    services.change_provider_status(provider=provider, status="suspended", reason="test")
    with pytest.raises(ProviderSuspended):
        factories.open_session(player, Provider.objects.get(pk=provider.pk))
    assert not GameSession.objects.exists()


# --- rule 6: fraud may decline a bet, never a win or a rollback ------------------------------


def test_fraud_rule_declines_a_bet(wallet_api, token, player, monkeypatch):
    recorded = []
    monkeypatch.setattr(hooks, "screener", lambda request: hooks.Screening(action=hooks.DECLINE))
    monkeypatch.setattr(hooks, "decline_recorders", [lambda req, s: recorded.append(req)])
    payload = refused(lambda: bet(wallet_api, token, "t1", amount="10.00"), "BET_DECLINED", 403)
    assert payload["balance"] == "100.00"
    assert [(r.kind, r.amount_minor, r.player_id) for r in recorded] == [("bet", 10_00, player.pk)]


def test_fraud_rule_never_refuses_a_win_or_rollback(wallet_api, token, player, monkeypatch):
    ok(bet(wallet_api, token, "t1", amount="10.00"))
    ok(bet(wallet_api, token, "t2", amount="10.00", round_id="r2"))
    monkeypatch.setattr(hooks, "screener", lambda request: hooks.Screening(action=hooks.DECLINE))
    assert ok(win(wallet_api, token, "w1", amount="50.00"))["balance"] == "130.00"
    assert ok(rollback(wallet_api, token, "rb1", "t2", round_id="r2"))["balance"] == "140.00"


# --- rule 7: every call is counted ----------------------------------------------------------


def test_every_call_is_observed_refused_or_not(wallet_api, provider, token, monkeypatch):
    seen: list[hooks.CallObservation] = []
    monkeypatch.setattr(hooks, "call_observers", [seen.append])
    ok(wallet_api.call("balance", session_token=token))
    ok(bet(wallet_api, token, "t1"))
    ok(bet(wallet_api, token, "t1"))
    error(bet(wallet_api, token, "t2", amount="1000.00"), "INSUFFICIENT_FUNDS", 402)
    error(wallet_api.raw("round/close", b"{}", signature="0" * 64), "INVALID_SIGNATURE", 401)
    error(wallet_api.raw("session/close", b"[]"), "VALIDATION_ERROR", 400)
    error(wallet_api.send("balance", b"", {}, method="GET"), "VALIDATION_ERROR", 405)
    assert [(o.operation, o.outcome, o.duplicate) for o in seen] == [
        ("balance", "OK", False),
        ("bet", "OK", False),
        ("bet", "OK", True),
        ("bet", "INSUFFICIENT_FUNDS", False),
        ("round/close", "INVALID_SIGNATURE", False),
        ("session/close", "VALIDATION_ERROR", False),
        ("balance", "VALIDATION_ERROR", False),
    ]
    assert all(o.provider_code == provider.code for o in seen[:6])
    assert all(o.latency_us >= 0 for o in seen)


def test_a_failing_observer_never_breaks_a_call(wallet_api, token, monkeypatch):
    def broken(observation):
        raise RuntimeError("metrics down")

    monkeypatch.setattr(hooks, "call_observers", [broken])
    assert ok(bet(wallet_api, token, "t1"))["balance"] == "90.00"


# --- faults worth retrying -------------------------------------------------------------------


def test_unexpected_fault_is_internal_error_500(wallet_api, token, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ledger, "bet", explode)
    payload = refused(lambda: bet(wallet_api, token, "t1"), "INTERNAL_ERROR", 500)
    assert "boom" not in payload["message"]  # no internals leak


def test_database_down_is_service_unavailable_503(wallet_api, token, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(ledger, "win", unavailable)
    refused(lambda: win(wallet_api, token, "w1"), "SERVICE_UNAVAILABLE", 503)


# --- over a real socket -----------------------------------------------------------------------


def _post(
    live_server,
    api: WalletApiClient,
    operation: str,
    fields: dict | None = None,
    body: bytes | None = None,
    method: str = "POST",
    **headers,
):
    body = json.dumps(fields).encode() if body is None else body
    request = urllib.request.Request(
        f"{live_server.url}/wallet/v1/{operation}",
        data=body if method == "POST" else None,
        method=method,
        headers={
            "Content-Type": "application/json",
            "X-Provider-Code": api.provider_code,
            "X-Timestamp": (ts := str(int(time.time()))),
            "X-Signature": crypto.sign(api.secret.encode(), ts, f"/wallet/v1/{operation}", body),
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as refusal:
        return refusal.code, dict(refusal.headers), json.loads(refusal.read())


@pytest.fixture
def socket_api(provider_and_secret):
    """Signs for the calls over a real socket (they reach the server one way only)."""
    provider, secret = provider_and_secret
    return WalletApiClient(provider.code, secret)


@pytest.mark.django_db(transaction=True)
def test_over_a_real_socket(live_server, socket_api, token, player):
    status, headers, body = _post(live_server, socket_api, "authenticate", {"session_token": token})
    assert (status, body["status"], body["balance"]) == (200, "OK", "100.00")
    assert headers["X-Request-Id"]
    fields = {
        "session_token": token,
        "transaction_id": "t1",
        "round_id": "r1",
        "amount": "12.50",
        "currency": "EUR",
    }
    status, _, body = _post(live_server, socket_api, "bet", fields)
    assert (status, body["balance"], body["duplicate"]) == (200, "87.50", False)
    status, _, again = _post(live_server, socket_api, "bet", fields)
    assert (status, again["duplicate"]) == (200, True)
    assert again["wallet_transaction_id"] == body["wallet_transaction_id"]
    status, _, body = _post(
        live_server,
        socket_api,
        "win",
        {**fields, "transaction_id": "w1", "amount": 20, "round_closed": True},
    )
    assert (status, body["balance"]) == (200, "107.50")
    assert available(player) == 107_50


@pytest.mark.django_db(transaction=True)
def test_refusals_over_a_real_socket(live_server, socket_api, token, player):
    status, headers, body = _post(
        live_server, socket_api, "balance", {"session_token": token}, **{"X-Signature": "0" * 64}
    )
    assert (status, body["code"]) == (401, "INVALID_SIGNATURE")
    assert headers["X-Request-Id"]
    status, headers, body = _post(
        live_server,
        socket_api,
        "bet",
        {
            "session_token": token,
            "transaction_id": "t1",
            "round_id": "r1",
            "amount": "500.00",
            "currency": "EUR",
        },
        **{"X-Request-Id": "sock-1"},
    )
    assert (status, body["code"], body["balance"]) == (402, "INSUFFICIENT_FUNDS", "100.00")
    assert headers["X-Request-Id"] == "sock-1"
    status, _, body = _post(live_server, socket_api, "bet", body=b"\xff\xfe")
    assert (status, body["code"]) == (400, "VALIDATION_ERROR")
    status, _, body = _post(live_server, socket_api, "balance", method="GET")
    assert (status, body["code"]) == (405, "VALIDATION_ERROR")
    assert available(player) == 100_00
    assert not Transaction.objects.filter(kind="bet").exists()
