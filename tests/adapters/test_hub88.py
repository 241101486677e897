"""The Hub88 adapter (/wallet/hub88/<code>/...): Hub88's protocol over both ways in, its
status table, its units, and every call landing in the same ledger as the native API."""

import json

import pytest
from django.db import connection

from simulator.protocols.base import PASS, Seat
from simulator.protocols.hub88 import Hub88Client, Hub88Kit, new_key_pair
from tests import factories
from tests.wallets.test_ledger import assert_ledger_invariant
from wallets import hooks, ledger, services
from wallets.choices import ProviderStatus, SessionEndReason, SessionStatus
from wallets.models import GameSession, Transaction, Wallet

KEYS = new_key_pair()  # one 2048-bit key pair for the module: generating one takes a while


@pytest.fixture
def hub88(db):
    _, public = KEYS
    provider, secret = services.create_provider(
        code="hub88-demo",
        name="Hub88 demo",
        currencies=["EUR", "JPY", "BHD"],
        protocol="hub88",
        public_key=public,
    )
    assert secret is None  # Hub88 signs with its own key: no shared secret is issued
    return provider


@pytest.fixture
def client(hub88, transport):
    return Hub88Client(transport, hub88.code, KEYS[0])


def seat_for(provider, funds_minor=100_00, currency="EUR") -> tuple[Seat, GameSession]:
    player = factories.funded_player(funds_minor, currency=currency)
    session, token = factories.open_session(player, provider, currency=currency)
    return Seat(token, player.external_id, currency), session


def ledger_rows():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(balance_minor), 0) FROM wallets_wallet"
            " CROSS JOIN (SELECT count(*) FROM wallets_transaction) AS t"
        )
        wallets = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM wallets_transaction")
        return wallets, cursor.fetchone()[0]


def test_the_kit_passes_every_case(hub88, client):
    seats_and_sessions = [seat_for(hub88, 1_000_00), seat_for(hub88, 1_000_00)]
    sessions = {seat.token: session for seat, session in seats_and_sessions}

    def end_session(seat):
        ledger.end_session(
            session=sessions[seat.token],
            status=SessionStatus.CLOSED,
            reason=SessionEndReason.STAFF,
        )
        return True

    kit = Hub88Kit(client, [seat for seat, _ in seats_and_sessions])
    kit.end_session = end_session
    results = kit.run()
    failures = [f"{r.rule}: {r.detail}" for r in results if r.verdict != PASS]
    assert not failures, "\n".join(failures)
    assert len(results) >= 30
    assert_ledger_invariant()


def test_caletas_spelling_reaches_the_same_operations(hub88, transport):
    caleta = Hub88Client(transport, hub88.code, KEYS[0], caleta=True)
    seat, _ = seat_for(hub88)
    assert caleta.balance(seat).balance_minor == 100_00
    assert caleta.bet(seat, "c-bet", "c-round", 2_50).balance_minor == 97_50
    assert caleta.win(seat, "c-win", "c-round", 5_00, bet_txn="c-bet").balance_minor == 102_50


def test_answers_carry_hub88s_fields_and_units(hub88, client):
    seat, _ = seat_for(hub88, 12_34)
    answer = client.bet(seat, "u-bet", "u-round", 1_00)
    body = answer.http.body
    assert answer.http.status == 200
    assert set(body) == {"user", "status", "request_uuid", "currency", "balance"}
    assert body["status"] == "RS_OK"
    assert body["balance"] == 1_134_000  # 11.34 EUR in 1/100,000 units
    assert body["user"] == seat.user


def test_not_enough_money_carries_the_balance_and_changes_nothing(hub88, client):
    seat, _ = seat_for(hub88, 5_00)
    before = ledger_rows()
    answer = client.bet(seat, "big", "r", 6_00)
    assert answer.status == "RS_ERROR_NOT_ENOUGH_MONEY"
    assert answer.http.status == 200
    assert answer.http.body["balance"] == 500_000
    assert ledger_rows() == before


def test_an_amount_finer_than_cents_is_refused_unless_the_provider_rounds(hub88, client):
    seat, _ = seat_for(hub88)
    refused = client.bet(seat, "fine", "r", 0, amount=1)  # 0.00001 EUR
    assert refused.status == "RS_ERROR_WRONG_TYPES"
    assert not Transaction.objects.filter(external_id="fine").exists()
    hub88.rounding_mode = "half_even"
    hub88.save(update_fields=["rounding_mode"])
    taken = client.bet(seat, "fine2", "r", 0, amount=123_456)  # 1.23456 EUR
    assert taken.ok
    row = Transaction.objects.get(external_id="fine2")
    assert row.amount_minor == 1_23
    assert str(row.rounding_residue).rstrip("0") == "0.00456"


def test_a_bet_in_another_currencys_units_is_read_in_that_currency(hub88, client):
    seat, _ = seat_for(hub88, 1_000, currency="JPY")  # JPY has no decimals
    answer = client.bet(seat, "yen", "r", 100)  # 100 JPY
    assert answer.ok
    assert answer.http.body["balance"] == 900 * 100_000


def test_bad_input_is_a_hub88_error_and_changes_nothing(hub88, client):
    seat, _ = seat_for(hub88)
    before = ledger_rows()
    cases = {
        "not json": b"{nope",
        "an array": b"[1]",
        "a key twice": b'{"user": "a", "user": "b", "request_uuid": "x"}',
        "no request_uuid": json.dumps({"user": seat.user, "token": seat.token}).encode(),
    }
    for name, body in cases.items():
        result = client.send("transaction/bet", {}, raw=body)
        assert result.status == 200, name
        assert result.body["status"] == "RS_ERROR_WRONG_SYNTAX", (name, result.body)
    wrong_type = client.bet(seat, "t", "r", 1_00, round=7)
    assert wrong_type.status == "RS_ERROR_WRONG_TYPES"
    assert ledger_rows() == before


def test_an_unknown_path_is_a_404_and_an_unknown_provider_a_signature_error(hub88, client):
    result = client.send("transaction/teleport", {"request_uuid": "x"})
    assert (result.status, result.body["status"]) == (404, "RS_ERROR_WRONG_SYNTAX")
    stranger = Hub88Client(client.transport, "no-such-provider", KEYS[0])
    seat, _ = seat_for(hub88)
    assert stranger.balance(seat).status == "RS_ERROR_INVALID_SIGNATURE"


def test_a_native_provider_cannot_be_called_through_hub88s_paths(db, transport):
    native, _ = factories.make_provider("native-one")
    seat, _ = seat_for(native)
    pretender = Hub88Client(transport, native.code, KEYS[0])
    assert pretender.balance(seat).status == "RS_ERROR_INVALID_SIGNATURE"


def test_a_suspended_provider_takes_no_bets_but_pays_wins(hub88, client):
    seat, _ = seat_for(hub88)
    client.bet(seat, "s-bet", "s-round", 1_00)
    services.change_provider_status(
        provider=hub88, status=ProviderStatus.SUSPENDED, reason="incident", actor=None
    )
    assert client.bet(seat, "s-bet2", "s-round2", 1_00).status == "RS_ERROR_INVALID_PARTNER"
    assert client.win(seat, "s-win", "s-round", 3_00, bet_txn="s-bet").ok
    assert Wallet.objects.get(player__external_id=seat.user).balance_minor == 102_00


def test_a_blocked_player_may_not_bet(hub88, client):
    seat, session = seat_for(hub88)
    services.set_player_status(
        player=session.player, status="blocked", reason="self-exclusion request", actor=None
    )
    assert client.bet(seat, "x", "r", 1_00).status == "RS_ERROR_USER_DISABLED"


def test_monitoring_and_compliance_see_adapter_calls_as_native_ones(hub88, client, monkeypatch):
    seen: list[hooks.CallObservation] = []
    monkeypatch.setattr(hooks, "call_observers", [seen.append])
    inspected: list[str] = []
    monkeypatch.setattr(
        hooks, "request_inspectors", [lambda inspection: inspected.append(inspection.operation)]
    )
    seat, _ = seat_for(hub88, 1_00)
    client.bet(seat, "m1", "r", 50)
    client.bet(seat, "m2", "r", 5_00)
    assert [(o.operation, o.outcome, o.protocol, o.protocol_status) for o in seen] == [
        ("bet", "OK", "hub88", "RS_OK"),
        ("bet", "INSUFFICIENT_FUNDS", "hub88", "RS_ERROR_NOT_ENOUGH_MONEY"),
    ]
    assert all(o.provider_code == hub88.code for o in seen)
    assert inspected == ["bet", "bet"]


def test_a_card_number_in_a_hub88_body_is_redacted_before_anything_is_stored(hub88, client):
    from compliance.models import SecurityViolation

    seat, _ = seat_for(hub88)
    answer = client.bet(seat, "pan", "r", 1_00, bet="card 4111 1111 1111 1111")
    assert answer.ok
    assert SecurityViolation.objects.filter(provider=hub88).exists()


def test_the_public_key_is_checked_when_the_provider_is_created(db):
    from wallets.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as missing:
        services.create_provider(code="h1", name="h", currencies=["EUR"], protocol="hub88")
    assert missing.value.field == "public_key"
    with pytest.raises(ValidationFailed):
        services.create_provider(
            code="h2", name="h", currencies=["EUR"], protocol="hub88", public_key="garbage"
        )
