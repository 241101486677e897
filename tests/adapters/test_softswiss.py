"""The SoftSwiss adapter (/wallet/softswiss/<code>/...): SoftSwiss's protocol over both ways in,
its status table, its units, its ids, and every call landing in the same ledger as the native
API."""

import json

import pytest
from django.db import connection

from simulator.protocols.base import PASS, Seat
from simulator.protocols.softswiss import SoftSwissClient, SoftSwissKit, tx_ids
from tests import factories
from tests.wallets.test_ledger import assert_ledger_invariant
from wallets import hooks, ledger, services
from wallets.adapters.softswiss import MESSAGES, STATUSES, SoftSwissAdapter
from wallets.choices import ProviderStatus, SessionEndReason, SessionStatus
from wallets.errors import ERRORS_BY_CODE
from wallets.models import GameSession, Round, Transaction, Wallet

BACK_OFFICE_ONLY = {"NOT_ALLOWED", "FOUR_EYES_REQUIRED"}


@pytest.fixture
def softswiss(db):
    provider, secret = services.create_provider(
        code="softswiss-demo",
        name="SoftSwiss demo",
        currencies=["EUR", "JPY", "BHD"],
        protocol="softswiss",
    )
    provider.secret = secret
    return provider


@pytest.fixture
def client(softswiss, transport):
    return SoftSwissClient(transport, softswiss.code, softswiss.secret)


def seat_for(provider, funds_minor=100_00, currency="EUR") -> tuple[Seat, GameSession]:
    player = factories.funded_player(funds_minor, currency=currency)
    session, token = factories.open_session(player, provider, currency=currency)
    return Seat(token, player.external_id, currency), session


def ledger_state():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, balance_minor, reserved_minor FROM wallets_wallet ORDER BY id")
        wallets = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM wallets_transaction")
        rows = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE status <> 'open') FROM wallets_round"
        )
        return wallets, rows, cursor.fetchone()


def balance_of(seat: Seat) -> int:
    return Wallet.objects.get(player__external_id=seat.user, currency=seat.currency).balance_minor


@pytest.mark.parametrize("currency", ["EUR", "JPY", "BHD"])
def test_the_kit_passes_every_case(softswiss, client, currency):
    seats_and_sessions = [
        seat_for(softswiss, 1_000_00, currency=currency),
        seat_for(softswiss, 1_000_00, currency=currency),
    ]
    sessions = {seat.token: session for seat, session in seats_and_sessions}

    def end_session(seat):
        ledger.end_session(
            session=sessions[seat.token],
            status=SessionStatus.CLOSED,
            reason=SessionEndReason.STAFF,
        )
        return True

    kit = SoftSwissKit(client, [seat for seat, _ in seats_and_sessions])
    kit.end_session = end_session
    results = kit.run()
    failures = [f"{r.rule}: {r.detail}" for r in results if r.verdict != PASS]
    assert not failures, "\n".join(failures)
    names = {r.rule for r in results}
    required = {
        "edge.zero_credit",
        "edge.big_payout",
        "edge.many_debits_and_credits",
        "edge.cancel_before_debit",
        "edge.credit_after_cancel",
        "edge.duplicate_other_amount",
        "edge.unknown_fields_ignored",
        "edge.expired_token_on_credit",
        "edge.expired_token_on_cancel",
    }
    assert required <= names
    assert len(results) >= 45
    assert_ledger_invariant()


def test_the_status_table_names_every_outcome_of_a_wallet_call():
    wallet_codes = set(ERRORS_BY_CODE) - BACK_OFFICE_ONLY
    assert wallet_codes <= set(STATUSES)
    for code, (http, softswiss_code) in STATUSES.items():
        if code == "TRANSACTION_ROLLED_BACK":
            assert (http, softswiss_code) == (200, None)
            continue
        assert softswiss_code in MESSAGES, code
        # Business refusals are 412; malformed 400, signature 403, faults 5xx.
        assert http in (400, 403, 404, 412, 500, 503), code
    assert STATUSES["INSUFFICIENT_FUNDS"] == (412, 100)
    assert STATUSES["CURRENCY_MISMATCH"] == (412, 154)
    assert STATUSES["INVALID_SIGNATURE"] == (403, 403)


def test_answers_carry_softswiss_fields_and_integer_subunits(softswiss, client):
    seat, _ = seat_for(softswiss, 12_34)
    answer = client.play(seat, "g-1", [("bet", "a-1", 1_00), ("win", "a-2", 2_50)])
    body = answer.http.body
    assert answer.http.status == 200
    assert set(body) == {"balance", "game_id", "transactions"}
    assert body["balance"] == 13_84
    assert body["game_id"] == "g-1"
    rows = {
        row.external_id: row for row in Transaction.objects.filter(external_id__in=["a-1", "a-2"])
    }
    assert body["transactions"] == [
        {
            "action_id": name,
            "tx_id": str(rows[name].pk),
            "processed_at": rows[name].created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for name in ("a-1", "a-2")
    ]
    assert rows["a-1"].game_id == "acceptance:test"
    assert client.balance(seat).http.body == {"balance": 13_84}


@pytest.mark.parametrize(
    ("currency", "funds", "bet", "balance"),
    [("JPY", 1_000, 100, 900), ("BHD", 5_000, 1_250, 3_750), ("EUR", 5_00, 1, 4_99)],
)
def test_amounts_are_the_currencys_subunits_whatever_its_decimals(
    softswiss, client, currency, funds, bet, balance
):
    seat, _ = seat_for(softswiss, funds, currency=currency)
    answer = client.bet(seat, f"u-{currency}", "r", bet)
    assert answer.http.body["balance"] == balance
    assert Transaction.objects.get(external_id=f"u-{currency}").amount_minor == bet


def test_not_enough_funds_is_412_with_the_balance_and_changes_nothing(softswiss, client):
    seat, _ = seat_for(softswiss, 5_00)
    before = ledger_state()
    answer = client.play(seat, "r", [("bet", "b1", 4_00), ("bet", "b2", 2_00), ("win", "w", 9_00)])
    assert answer.http.status == 412
    assert answer.http.body == {
        "code": 100,
        "message": "Player has not enough funds to process an action.",
        "balance": 5_00,
    }
    assert ledger_state() == before


def test_a_replayed_play_answers_the_same_tx_ids_and_moves_money_once(softswiss, client):
    seat, _ = seat_for(softswiss)
    spin = [("bet", "p1", 3_00), ("win", "p2", 1_00)]
    first = client.play(seat, "spin", spin, finished=True)
    again = client.play(seat, "spin", spin, finished=True)
    assert again.http.body == first.http.body
    assert balance_of(seat) == 98_00
    assert Transaction.objects.filter(external_id__in=["p1", "p2"]).count() == 2


def test_finished_settles_the_round_on_its_last_win_or_closes_it_without_one(softswiss, client):
    seat, _ = seat_for(softswiss)
    client.play(seat, "won", [("bet", "f1", 1_00), ("win", "f2", 0), ("win", "f3", 2_00)])
    assert Round.objects.get(external_id="won").status == "open"
    client.play(seat, "won", [("win", "f4", 1_00)], finished=True)
    assert Round.objects.get(external_id="won").status == "settled"
    client.play(seat, "lost", [("bet", "f5", 1_00)], finished=True)
    assert Round.objects.get(external_id="lost").status == "settled"
    late = client.bet(seat, "f6", "lost", 1_00)
    assert (late.http.status, late.http.body["code"]) == (412, 400)


def test_a_win_with_no_bet_in_its_round_is_credited_as_free_spins_are(softswiss, client):
    seat, _ = seat_for(softswiss)
    answer = client.win(seat, "fs-1", "free-round", 3_00, close=True)
    assert answer.ok and answer.balance_minor == 103_00
    assert Round.objects.get(external_id="free-round").status == "settled"


def test_a_duplicate_action_id_with_another_payload_is_refused(softswiss, client):
    seat, _ = seat_for(softswiss)
    client.bet(seat, "d1", "r1", 1_00)
    before = ledger_state()
    for answer in (
        client.bet(seat, "d1", "r1", 2_00),  # another amount
        client.bet(seat, "d1", "r2", 1_00),  # another round
        client.win(seat, "d1", "r1", 1_00),  # another kind
    ):
        assert answer.http.status == 412
        assert answer.http.body["code"] == 400
        assert "amount" in answer.http.body["message"] or "different" in answer.http.body["message"]
        assert answer.http.body["balance"] == 99_00
    assert ledger_state() == before


def test_ids_are_per_provider_another_players_action_id_is_a_mismatch(softswiss, client):
    seat, _ = seat_for(softswiss)
    other, _ = seat_for(softswiss)
    client.bet(seat, "shared", "r", 1_00)
    answer = client.bet(other, "shared", "r", 1_00)
    assert (answer.http.status, answer.http.body["code"]) == (412, 400)
    assert balance_of(other) == 100_00


def test_a_rollback_of_an_unknown_action_leaves_a_tombstone_a_late_spin_meets(softswiss, client):
    seat, _ = seat_for(softswiss)
    answer = client.rollbacks(seat, "lost-spin", [("rb1", "b-late"), ("rb2", "w-late")])
    assert answer.http.status == 200
    assert tx_ids(answer) == ["", ""]
    late = client.play(seat, "lost-spin", [("bet", "b-late", 5_00), ("win", "w-late", 50_00)])
    assert late.http.status == 200
    assert tx_ids(late) == ["", ""]
    assert late.balance_minor == 100_00
    assert not Transaction.objects.filter(external_id__in=["b-late", "w-late"]).exists()
    # The rollback again: the same empty tx_ids.
    assert tx_ids(client.rollbacks(seat, "lost-spin", [("rb1", "b-late"), ("rb2", "w-late")])) == [
        "",
        "",
    ]


def test_a_replay_of_a_spin_rolled_back_since_answers_its_stored_tx_ids(softswiss, client):
    seat, _ = seat_for(softswiss)
    spin = [("bet", "s1", 2_00), ("win", "s2", 5_00)]
    first = client.play(seat, "spin", spin)
    client.rollbacks(seat, "spin", [("x1", "s1"), ("x2", "s2")])
    assert balance_of(seat) == 100_00
    again = client.play(seat, "spin", spin)
    assert again.http.status == 200
    assert tx_ids(again) == tx_ids(first)
    assert balance_of(seat) == 100_00


def test_a_win_reversal_above_the_balance_is_refused_and_reported(softswiss, client, monkeypatch):
    incidents: list[hooks.LedgerIncident] = []
    monkeypatch.setattr(hooks, "incident_reporters", [incidents.append])
    seat, _ = seat_for(softswiss, 10_00)
    client.play(seat, "r", [("bet", "b", 1_00), ("win", "w", 50_00)])
    client.bet(seat, "spend", "r2", 55_00)
    before = ledger_state()
    answer = client.rollback(seat, "undo-w", "w", "r")
    assert answer.http.status == 412
    assert answer.http.body["code"] == 100
    assert answer.http.body["balance"] == 4_00
    assert ledger_state() == before
    assert [i.reference_external_id for i in incidents] == ["w"]


def test_a_bets_rollback_after_its_round_paid_is_refused(softswiss, client):
    seat, _ = seat_for(softswiss)
    client.play(seat, "r", [("bet", "b", 1_00), ("win", "w", 3_00)])
    answer = client.rollback(seat, "undo-b", "b", "r")
    assert (answer.http.status, answer.http.body["code"]) == (412, 400)
    assert "win" in answer.http.body["message"]
    assert balance_of(seat) == 102_00


def test_bad_input_is_a_400_and_changes_nothing(softswiss, client):
    seat, _ = seat_for(softswiss)
    before = ledger_state()
    envelope = client.envelope(seat, "r")
    raw_cases = {
        "not json": b"{nope",
        "an array": b"[1]",
        "a key twice": b'{"user_id": "a", "user_id": "b"}',
        "a lone surrogate": b'{"user_id": "\\ud800", "actions": []}',
        "too deep": b'{"a":' * 40 + b"1" + b"}" * 40,
    }
    for name, body in raw_cases.items():
        result = client.send("play", {}, raw=body)
        assert (result.status, result.body["code"]) == (400, 400), name
    bet = {"action": "bet", "action_id": "x", "amount": 1_00}
    field_cases = {
        "no user_id": {k: v for k, v in envelope.items() if k != "user_id"},
        "user_id a number": {**envelope, "user_id": 7},
        "actions an object": {**envelope, "actions": {"a": 1}},
        "an action not an object": {**envelope, "actions": ["bet"]},
        "no game_id": {**envelope, "game_id": "", "actions": [bet]},
        "no action_id": {**envelope, "actions": [{"action": "bet", "amount": 1}]},
        "action_id twice": {**envelope, "actions": [bet, {**bet, "action": "win"}]},
        "a negative amount": {**envelope, "actions": [{**bet, "amount": -1}]},
        "a fractional amount": {**envelope, "actions": [{**bet, "amount": 1.5}]},
        "an amount as a string": {**envelope, "actions": [{**bet, "amount": "100"}]},
        "an amount as true": {**envelope, "actions": [{**bet, "amount": True}]},
        "an amount too large": {**envelope, "actions": [{**bet, "amount": 10**40}]},
        "an amount with a huge exponent": None,
        "finished a string": {**envelope, "finished": "yes", "actions": [bet]},
        "a NUL in an id": {**envelope, "actions": [{**bet, "action_id": "a\x00b"}]},
        "a rollback on /play": {
            **envelope,
            "actions": [{"action": "rollback", "action_id": "y", "original_action_id": "x"}],
        },
    }
    for name, fields in field_cases.items():
        if fields is None:
            raw = json.dumps({**envelope, "actions": [{**bet, "amount": 0}]}).replace(
                '"amount": 0', '"amount": 1e999999'
            )
            result = client.send("play", {}, raw=raw.encode())
        else:
            result = client.send("play", fields)
        assert (result.status, result.body["code"]) == (400, 400), (name, result.body)
        assert result.body["message"].startswith("Bad request"), name
    missing_original = client.send(
        "rollback",
        {**envelope, "actions": [{"action": "rollback", "action_id": "z"}]},
    )
    assert (missing_original.status, missing_original.body["code"]) == (400, 400)
    assert "original_action_id" in missing_original.body["message"]
    assert ledger_state() == before


def test_a_caller_outside_the_allowlist_is_403(softswiss, client):
    softswiss.ip_allowlist = ["10.0.0.0/8"]
    softswiss.save(update_fields=["ip_allowlist"])
    seat, _ = seat_for(softswiss)
    answer = client.balance(seat)
    assert answer.http.status == 403
    assert answer.http.body == {"code": 403, "message": "Forbidden."}


def test_an_unknown_path_is_404_and_an_unknown_provider_a_sign_error(softswiss, client):
    result = client.send("teleport", {})
    assert (result.status, result.body["code"]) == (404, 404)
    assert result.body["message"].startswith("Not found")
    seat, _ = seat_for(softswiss)
    stranger = SoftSwissClient(client.transport, "no-such-provider", softswiss.secret)
    answer = stranger.balance(seat)
    assert answer.http.status == 403
    assert answer.http.body == {"code": 403, "message": "Request sign doesn't match"}


def test_a_get_is_refused(softswiss, client):
    result = client.transport.request("GET", client.prefix + "play", b"", {})
    assert result.status == 405
    assert result.body["code"] == 400


def test_a_native_provider_cannot_be_called_through_softswiss_paths(db, transport):
    native, secret = factories.make_provider("native-one")
    seat, _ = seat_for(native)
    pretender = SoftSwissClient(transport, native.code, secret)
    assert pretender.balance(seat).status == "403/403"


def test_a_rotated_secret_works_beside_the_old_one_until_it_is_revoked(softswiss, transport):
    seat, _ = seat_for(softswiss)
    new_secret = services.rotate_provider_secret(provider=softswiss, reason="rotation")
    old = SoftSwissClient(transport, softswiss.code, softswiss.secret)
    new = SoftSwissClient(transport, softswiss.code, new_secret)
    assert old.balance(seat).ok and new.balance(seat).ok


def test_a_session_of_another_player_is_101_and_shows_no_balance(softswiss, client):
    seat, _ = seat_for(softswiss)
    other, _ = seat_for(softswiss, 7_00)
    answer = client.bet(Seat(seat.token, other.user, "EUR"), "x", "r", 1_00)
    assert answer.http.status == 412
    assert answer.http.body["code"] == 101
    assert "balance" not in answer.http.body
    assert balance_of(seat) == 100_00 and balance_of(other) == 7_00


def test_the_aggregators_own_session_id_may_be_ignored_by_option(softswiss, transport):
    softswiss.protocol_options = SoftSwissAdapter.validate_options({"session_id": "aggregator"})
    softswiss.save(update_fields=["protocol_options"])
    client = SoftSwissClient(transport, softswiss.code, softswiss.secret)
    seat, session = seat_for(softswiss)
    theirs = Seat("aggregator-session-42", seat.user, "EUR")
    assert client.bet(theirs, "o1", "r", 1_00).balance_minor == 99_00
    assert Transaction.objects.get(external_id="o1").session_id == session.pk
    ledger.end_session(session=session, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF)
    assert client.bet(theirs, "o2", "r2", 1_00).status == "412/107"
    assert client.win(theirs, "o3", "r", 5_00).balance_minor == 104_00
    assert client.balance(Seat("x", "nobody", "EUR")).status == "412/101"
    with pytest.raises(ValueError):
        SoftSwissAdapter.validate_options({"session_id": "maybe"})


def test_a_suspended_provider_takes_no_bets_but_pays_wins_and_rollbacks(softswiss, client):
    seat, _ = seat_for(softswiss)
    client.bet(seat, "s-bet", "s-round", 1_00)
    client.bet(seat, "s-bet2", "s-round2", 1_00)
    services.change_provider_status(
        provider=softswiss, status=ProviderStatus.SUSPENDED, reason="incident", actor=None
    )
    refused = client.bet(seat, "s-bet3", "s-round3", 1_00)
    assert refused.status == "503/503"
    assert refused.balance_minor == 98_00
    assert client.win(seat, "s-win", "s-round", 3_00).ok
    assert client.rollback(seat, "s-rb", "s-bet2", "s-round2").ok
    assert balance_of(seat) == 102_00


def test_a_blocked_player_may_not_bet_but_is_paid_and_sees_the_balance(softswiss, client):
    seat, session = seat_for(softswiss)
    client.bet(seat, "k-bet", "k-round", 1_00)
    services.set_player_status(
        player=session.player, status="blocked", reason="self-exclusion request", actor=None
    )
    refused = client.bet(seat, "x", "r", 1_00)
    assert refused.status == "412/110"
    assert refused.http.body["message"] == "Player is disabled."
    assert client.win(seat, "k-win", "k-round", 2_00).ok
    assert client.balance(seat).balance_minor == 101_00


def test_a_fraud_decline_is_107(softswiss, client, monkeypatch):
    seat, _ = seat_for(softswiss)
    monkeypatch.setattr(hooks, "screener", lambda request: hooks.Screening(action=hooks.DECLINE))
    monkeypatch.setattr(hooks, "decline_recorders", [])
    answer = client.bet(seat, "fraud", "r", 1_00)
    assert answer.status == "412/107", answer.http.body
    assert balance_of(seat) == 100_00


def test_freespins_notifications_move_no_money(softswiss, client):
    seat, _ = seat_for(softswiss)
    before = ledger_state()
    answer = client.freespins({"issue_id": "i-1", "status": "played", "total_amount": 5_00})
    assert (answer.http.status, answer.http.body) == (200, {})
    known = client.freespins(
        {"issue_id": "i-1", "status": "expired", "user_id": seat.user, "currency": "EUR"}
    )
    assert known.http.body == {"balance": 100_00}
    assert client.freespins({"issue_id": "i-2", "status": "x", "user_id": "nobody"}).status == (
        "412/101"
    )
    assert client.freespins({"issue_id": "i-3", "status": "played", "total_amount": -1}).status == (
        "400/400"
    )
    assert ledger_state() == before


def test_monitoring_and_compliance_see_adapter_calls_as_native_ones(softswiss, client, monkeypatch):
    seen: list[hooks.CallObservation] = []
    monkeypatch.setattr(hooks, "call_observers", [seen.append])
    inspected: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        hooks,
        "request_inspectors",
        [lambda inspection: inspected.append((inspection.operation, inspection.data))],
    )
    seat, _ = seat_for(softswiss, 1_00)
    client.bet(seat, "m1", "r", 50)
    client.bet(seat, "m2", "r", 5_00)
    client.rollback(seat, "m3", "m0", "r0")
    client.bet(seat, "m0", "r0", 10)
    assert [(o.operation, o.outcome, o.protocol, o.protocol_status) for o in seen] == [
        ("play", "OK", "softswiss", "200"),
        ("play", "INSUFFICIENT_FUNDS", "softswiss", "412/100"),
        ("rollback", "OK", "softswiss", "200"),
        ("play", "TRANSACTION_ROLLED_BACK", "softswiss", "200"),
    ]
    assert all(o.provider_code == softswiss.code for o in seen)
    assert [operation for operation, _ in inspected] == ["play", "play", "rollback", "play"]
    assert inspected[0][1]["actions"][0]["action_id"] == "m1"


def test_a_card_number_in_a_softswiss_body_is_redacted_before_anything_is_stored(softswiss, client):
    from compliance.models import SecurityViolation

    seat, _ = seat_for(softswiss)
    answer = client.bet(seat, "pan", "r", 1_00, note="card 4111 1111 1111 1111")
    assert answer.ok
    assert SecurityViolation.objects.filter(provider=softswiss).exists()


def test_a_softswiss_provider_gets_a_shared_secret(db):
    provider, secret = services.create_provider(
        code="ss-2", name="ss", currencies=["EUR"], protocol="softswiss"
    )
    assert secret and provider.protocol == "softswiss"


def test_an_integer_field_with_a_huge_exponent_is_refused_before_it_is_expanded():
    from decimal import Decimal

    from wallets.adapters.fields import required_int
    from wallets.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        required_int({"amount": Decimal("1e99999")}, "amount")
    assert required_int({"amount": Decimal("1e39")}, "amount") == 10**39


def test_a_sessions_first_call_confirms_it_so_a_restriction_spares_sessions_in_play(
    softswiss, client
):
    playing, playing_session = seat_for(softswiss)
    fresh, fresh_session = seat_for(softswiss)
    assert client.balance(playing).ok
    playing_session.refresh_from_db()
    assert playing_session.authenticated_at is not None
    services.change_provider_status(
        provider=softswiss, status=ProviderStatus.RESTRICTED, reason="wind down", actor=None
    )
    assert client.bet(playing, "c1", "r1", 1_00).ok
    refused = client.bet(fresh, "c2", "r2", 1_00)
    assert refused.status == "412/405"
    assert refused.http.body["message"].startswith("Game is not available to your casino")
    fresh_session.refresh_from_db()
    assert fresh_session.authenticated_at is None
    assert not Transaction.objects.filter(external_id="c2").exists()
