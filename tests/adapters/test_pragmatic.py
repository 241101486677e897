"""The Pragmatic Play adapter (/wallet/pragmatic/<code>/<method>.html): Pragmatic's protocol
over both ways in, its hash, its error numbers, its amounts, and every call landing in the same
ledger as the native API."""

import hashlib
import urllib.parse

import pytest
from django.db import OperationalError, connection
from django.test import Client

from simulator.protocols.base import PASS, Seat
from simulator.protocols.pragmatic import (
    BET_KEYS,
    END_ROUND_KEYS,
    RESULT_KEYS,
    PragmaticClient,
    PragmaticKit,
)
from tests import factories
from tests.wallets.test_ledger import assert_ledger_invariant
from wallets import hooks, ledger, services
from wallets.adapters import pragmatic
from wallets.adapters.pragmatic import STATUSES, PragmaticAdapter
from wallets.choices import CreditType, ProviderStatus, SessionEndReason, SessionStatus
from wallets.errors import ERRORS_BY_CODE, ValidationFailed
from wallets.models import GameSession, Round, Transaction, Wallet


@pytest.fixture
def provider_and_secret(db):
    return services.create_provider(
        code="pragmatic-demo",
        name="Pragmatic demo",
        currencies=["EUR", "JPY", "BHD"],
        protocol="pragmatic",
    )


@pytest.fixture
def provider(provider_and_secret):
    return provider_and_secret[0]


@pytest.fixture
def client(provider_and_secret, transport):
    provider, secret = provider_and_secret
    return PragmaticClient(transport, provider.code, secret)


def seat_for(provider, funds_minor=100_00, currency="EUR") -> tuple[Seat, GameSession]:
    player = factories.funded_player(funds_minor, currency=currency)
    session, token = factories.open_session(player, provider, currency=currency)
    return Seat(token, player.external_id, currency), session


def ledger_state():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM wallets_transaction),"
            " (SELECT coalesce(sum(balance_minor), 0) FROM wallets_wallet),"
            " (SELECT count(*) FROM wallets_round)"
        )
        return cursor.fetchone()


def balance_of(seat: Seat) -> int:
    return Wallet.objects.get(player__external_id=seat.user, currency=seat.currency).balance_minor


def test_the_kit_passes_every_case(provider, client):
    seats_and_sessions = [seat_for(provider, 1_000_00), seat_for(provider, 1_000_00)]
    sessions = {seat.token: session for seat, session in seats_and_sessions}

    def end_session(seat):
        ledger.end_session(
            session=sessions[seat.token],
            status=SessionStatus.CLOSED,
            reason=SessionEndReason.STAFF,
        )
        return True

    kit = PragmaticKit(client, [seat for seat, _ in seats_and_sessions])
    kit.end_session = end_session
    results = kit.run()
    failures = [f"{r.rule}: {r.detail}" for r in results if r.verdict != PASS]
    assert not failures, "\n".join(failures)
    names = {r.rule for r in results}
    for edge in (
        "zero_credit",
        "big_payout",
        "many_debits_and_credits",
        "cancel_before_debit",
        "credit_after_cancel",
        "duplicate_other_amount",
        "unknown_fields_ignored",
        "expired_token_on_credit",
        "expired_token_on_cancel",
    ):
        assert f"edge.{edge}" in names
    assert {"hub88_qa.bet", "hub88_qa.result", "hub88_qa.end_round"} <= names
    assert_ledger_invariant()


# --- authentication ------------------------------------------------------------------------


def form(fields: dict, secret: str) -> bytes:
    """A body signed as the tests work it out here, independently of the simulator."""
    message = "&".join(f"{k}={v}" for k, v in sorted(fields.items())) + secret
    digest = hashlib.md5(message.encode(), usedforsecurity=False).hexdigest()
    return urllib.parse.urlencode({**fields, "hash": digest}).encode()


def post(transport, code: str, method: str, body: bytes):
    return transport.request(
        "POST",
        f"/wallet/pragmatic/{code}/{method}",
        body,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_the_hash_is_md5_of_the_sorted_decoded_parameters_and_the_secret(
    provider_and_secret, transport
):
    provider, secret = provider_and_secret
    seat, _ = seat_for(provider, 12_34)
    fields = {
        "userId": seat.user,
        "token": seat.token,
        "providerId": "PragmaticPlay",
        "gameId": "vs20olympgate",
        "roundDetails": "spin,bonusBuy totalBet:1.00",
        "platform": "",
    }
    answer = post(transport, provider.code, "balance.html", form(fields, secret))
    assert answer.body == {
        "currency": "EUR",
        "cash": 12.34,
        "bonus": 0,
        "error": 0,
        "description": "Success",
    }
    # The same method without `.html`.
    assert post(transport, provider.code, "balance", form(fields, secret)).body["error"] == 0
    # Without the empty parameter in the hash: not this provider's way.
    no_empty = form({k: v for k, v in fields.items() if v}, secret).decode() + "&platform="
    refused = post(transport, provider.code, "balance.html", no_empty.encode())
    assert refused.body == {"error": 5, "description": "Invalid hash code"}


def test_a_provider_hashing_without_empty_parameters_says_so_in_its_options(
    provider_and_secret, transport
):
    provider, secret = provider_and_secret
    provider.protocol_options = {"hash_skips_empty": True}
    provider.save(update_fields=["protocol_options"])
    seat, _ = seat_for(provider)
    skipping = PragmaticClient(transport, provider.code, secret, skip_empty=True)
    assert skipping.balance(seat, platform="").ok
    including = PragmaticClient(transport, provider.code, secret)
    assert including.balance(seat, platform="").status == "5"
    # Without empty parameters both ways agree.
    assert including.balance(seat).ok


def test_a_rotated_secret_and_the_old_one_both_work_in_the_overlap(provider_and_secret, transport):
    provider, old = provider_and_secret
    new = services.rotate_provider_secret(provider=provider, reason="rotation")
    seat, _ = seat_for(provider)
    assert PragmaticClient(transport, provider.code, old).balance(seat).ok
    assert PragmaticClient(transport, provider.code, new).balance(seat).ok


def test_an_unknown_provider_or_another_protocols_provider_is_a_hash_error(db, transport):
    native, secret = factories.make_provider("native-one")
    seat, _ = seat_for(native)
    assert PragmaticClient(transport, native.code, secret).balance(seat).status == "5"
    assert PragmaticClient(transport, "no-such-provider", secret).balance(seat).status == "5"


# --- the answers -----------------------------------------------------------------------------


def test_answers_have_exactly_the_members_hub88s_qa_checks(provider, client):
    seat, _ = seat_for(provider)
    bet = client.bet(seat, "k-bet", "k-round", 1_00)
    assert set(bet.http.body) == BET_KEYS
    assert bet.http.body["usedPromo"] == 0
    result = client.result(seat, "k-win", "k-round", 2_00)
    assert set(result.http.body) == RESULT_KEYS
    assert set(client.end_round(seat, "k-round").http.body) == END_ROUND_KEYS
    refund_bet = client.bet(seat, "k-bet2", "k-round2", 1_00)
    assert refund_bet.ok
    assert set(client.refund(seat, "k-bet2").http.body) == {"transactionId", "error", "description"}
    row = Transaction.objects.get(external_id="k-bet", kind="bet")
    assert bet.http.body["transactionId"] == str(row.pk)


@pytest.mark.parametrize(
    ("currency", "funds_minor", "stake", "text"),
    [
        ("EUR", 100_50, "1.00", b'"cash":99.50,"bonus":0.00'),
        ("JPY", 1_000, "100", b'"cash":900,"bonus":0'),
        ("BHD", 10_000, "1.500", b'"cash":8.500,"bonus":0.000'),
    ],
)
def test_balances_are_json_numbers_with_the_currencys_decimals(
    provider_and_secret, currency, funds_minor, stake, text
):
    provider, secret = provider_and_secret
    seat, _ = seat_for(provider, funds_minor, currency=currency)
    fields = {
        "userId": seat.user,
        "token": seat.token,
        "gameId": "vs20kit",
        "roundId": "u-round",
        "reference": f"u-bet-{currency}",
        "amount": stake,
    }
    response = Client().post(
        f"/wallet/pragmatic/{provider.code}/bet.html",
        form(fields, secret),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert text in response.content


def test_an_amount_finer_than_the_currency_is_refused_unless_the_provider_rounds(provider, client):
    seat, _ = seat_for(provider)
    before = ledger_state()
    refused = client.bet(seat, "fine", "r", 1_00, amount="1.005")
    assert refused.status == "7"
    assert refused.http.body["cash"] == 100.0  # the player is known: the balance comes along
    assert ledger_state() == before
    provider.rounding_mode = "half_even"
    provider.save(update_fields=["rounding_mode"])
    assert client.bet(seat, "fine2", "r", 0, amount="1.005").ok
    row = Transaction.objects.get(external_id="fine2")
    assert row.amount_minor == 1_00
    assert str(row.rounding_residue).rstrip("0") == "0.005"


def test_zeros_past_the_currencys_decimals_are_no_fraction(provider, client):
    seat, _ = seat_for(provider, 1_000, currency="JPY")
    assert client.bet(seat, "yen", "r", 0, amount="100.00").balance_minor == 900
    assert client.bet(seat, "yen2", "r", 0, amount="100.50").status == "7"


# --- the status table ------------------------------------------------------------------------


def test_every_ledger_outcome_has_a_pragmatic_error_number():
    assert set(ERRORS_BY_CODE) - {"NOT_ALLOWED", "FOUR_EYES_REQUIRED"} <= set(STATUSES)
    assert set(STATUSES.values()) <= set(pragmatic.DESCRIPTIONS)


def test_not_enough_money_is_error_1_with_the_balance_and_changes_nothing(provider, client):
    seat, _ = seat_for(provider, 5_00)
    before = ledger_state()
    answer = client.bet(seat, "big", "r", 6_00)
    assert answer.http.status == 200
    assert answer.http.body == {
        "error": 1,
        "description": "Insufficient balance",
        "cash": 5.0,
        "bonus": 0,
        "currency": "EUR",
    }
    assert ledger_state() == before


def test_tokens_and_players(provider, client):
    seat, session = seat_for(provider)
    other, _ = seat_for(provider)
    ghost = Seat("no-such-token", seat.user, "EUR")
    assert client.authenticate(ghost).status == "4"
    assert client.balance(ghost).status == "4"
    assert client.bet(ghost, "g1", "r", 1_00).status == "4"
    # A token sent with another player's userId: 4, and nobody's balance is shown.
    mixed = Seat(seat.token, other.user, "EUR")
    refused = client.bet(mixed, "g2", "r", 1_00)
    assert refused.status == "4" and "cash" not in refused.http.body
    # A player who never played here.
    client.send_token = False
    nobody = client.balance(Seat("", "nobody", "EUR"))
    assert nobody.http.body == {"error": 2, "description": "Player not found or is logged out"}
    client.send_token = True
    # A credit whose token is no longer known is booked by userId.
    assert client.bet(seat, "t-bet", "t-round", 1_00).ok
    assert client.result(ghost, "t-win", "t-round", 3_00).ok
    assert balance_of(seat) == 102_00
    assert Transaction.objects.get(external_id="t-win").session_id == session.pk


def test_authenticate_answers_the_player_and_echoes_the_token(provider, client):
    seat, session = seat_for(provider, 42_00)
    answer = client.authenticate(seat)
    assert answer.http.body == {
        "userId": seat.user,
        "currency": "EUR",
        "cash": 42.0,
        "bonus": 0,
        "token": seat.token,
        "error": 0,
        "description": "Success",
    }
    session.refresh_from_db()
    assert session.authenticated_at is not None


def test_a_suspended_provider_takes_no_bets_but_pays_results(provider, client):
    seat, _ = seat_for(provider)
    client.bet(seat, "s-bet", "s-round", 1_00)
    services.change_provider_status(
        provider=provider, status=ProviderStatus.SUSPENDED, reason="incident", actor=None
    )
    assert client.bet(seat, "s-bet2", "s-round2", 1_00).status == "8"
    assert client.authenticate(seat).status == "8"
    assert client.result(seat, "s-win", "s-round", 3_00).ok
    assert client.refund(seat, "s-bet2").ok  # unknown bet: a tombstone
    assert balance_of(seat) == 102_00


def test_a_blocked_player_may_not_bet_nor_authenticate_but_is_paid(provider, client):
    seat, session = seat_for(provider)
    client.bet(seat, "b-bet", "b-round", 1_00)
    services.set_player_status(
        player=session.player, status="blocked", reason="self-exclusion request", actor=None
    )
    assert client.bet(seat, "x", "r", 1_00).status == "6"
    assert client.authenticate(seat).status == "6"
    assert client.result(seat, "b-win", "b-round", 2_00).ok
    assert balance_of(seat) == 101_00


def test_a_fraud_decline_is_error_3(provider, client, monkeypatch):
    seat, _ = seat_for(provider)
    monkeypatch.setattr(hooks, "screener", lambda request: hooks.Screening(hooks.DECLINE))
    before = ledger_state()
    assert client.bet(seat, "f", "r", 1_00).status == "3"
    assert ledger_state() == before


def test_an_outage_is_retried_100_and_on_end_round_130(provider, client, monkeypatch):
    seat, _ = seat_for(provider)

    def down(**kwargs):
        raise OperationalError("database is down")

    monkeypatch.setattr(ledger, "close_round", down)
    monkeypatch.setattr(ledger, "bet", down)
    assert client.end_round(seat, "r").http.body["error"] == 130
    assert client.bet(seat, "o", "r", 1_00).http.body["error"] == 100


# --- money calls: idempotency and the rules the sources disagree on -------------------------


def test_a_repeated_reference_answers_the_original_and_moves_money_once(provider, client):
    seat, _ = seat_for(provider)
    first = client.bet(seat, "i-bet", "i-round", 1_00)
    again = client.bet(seat, "i-bet", "i-round", 1_00)
    assert again.http.body["transactionId"] == first.http.body["transactionId"]
    won = client.result(seat, "i-win", "i-round", 5_00)
    assert client.result(seat, "i-win", "i-round", 5_00).http.body == won.http.body
    before = ledger_state()
    mismatch = client.result(seat, "i-win", "i-round", 6_00)
    assert mismatch.status == "7"
    assert "i-win" in Transaction.objects.values_list("external_id", flat=True)
    assert ledger_state() == before
    assert balance_of(seat) == 104_00


def test_refunds_reuse_the_bets_reference_and_never_undo_a_settled_round(provider, client):
    seat, _ = seat_for(provider)
    client.bet(seat, "r-bet", "r-round", 2_00)
    refunded = client.refund(seat, "r-bet", "r-round")
    assert refunded.ok
    refund_row = Transaction.objects.get(kind="rollback", external_id="r-bet")
    assert refund_row.id_scope == "refund" and refund_row.amount_minor == 2_00
    assert refunded.http.body["transactionId"] == str(refund_row.pk)
    assert client.refund(seat, "r-bet", "r-round").http.body == refunded.http.body
    assert balance_of(seat) == 100_00
    # A result after the refund is final.
    late = client.result(seat, "r-win", "r-round", 5_00)
    assert late.http.body["error"] == 120
    assert late.http.body["description"] == "Transaction already processed by refund."
    # A refund after the round's result is final too.
    client.bet(seat, "s-bet", "s-round", 1_00)
    client.result(seat, "s-win", "s-round", 0)
    settled = client.refund(seat, "s-bet", "s-round")
    assert settled.http.body["error"] == 120
    assert settled.http.body["description"] == "Transaction already processed by credit."
    assert balance_of(seat) == 99_00


def test_a_refund_of_an_unknown_bet_leaves_a_tombstone_the_late_bet_meets(provider, client):
    seat, _ = seat_for(provider)
    assert client.refund(seat, "ghost", "g-round").ok
    assert Transaction.objects.get(kind="rollback", external_id="ghost").amount_minor == 0
    late = client.bet(seat, "ghost", "g-round", 1_00)
    assert late.http.body["error"] == 120
    assert balance_of(seat) == 100_00


def test_a_result_without_a_bet_is_final_and_credits_nothing(provider, client):
    seat, _ = seat_for(provider)
    before = ledger_state()
    answer = client.result(seat, "w", "no-such-round", 5_00)
    assert answer.http.body["error"] == 120
    assert answer.http.body["description"] == "Bet transaction not found"
    assert ledger_state() == before


def test_a_zero_bet_is_a_free_round_and_its_win_a_free_round_credit(provider, client):
    seat, _ = seat_for(provider)
    assert client.bet(seat, "fr-bet", "fr-round", 0, bonusCode="frb-1").ok
    assert client.result(seat, "fr-win", "fr-round", 4_00, bonusCode="frb-1").ok
    assert Transaction.objects.get(external_id="fr-bet").amount_minor == 0
    assert Transaction.objects.get(external_id="fr-win").credit_type == CreditType.FREE_ROUND
    assert balance_of(seat) == 104_00


def test_a_prize_drop_in_a_result_is_credited_with_it(provider, client):
    seat, _ = seat_for(provider)
    client.bet(seat, "p-bet", "p-round", 1_00)
    answer = client.result(
        seat, "p-win", "p-round", 2_00, promoWinAmount="10.00", promoWinReference="pd-1"
    )
    assert answer.ok and answer.balance_minor == 111_00
    prize = Transaction.objects.get(external_id="pd-1")
    assert (prize.kind, prize.credit_type, prize.amount_minor) == ("promo", "promo", 10_00)
    win = Transaction.objects.get(external_id="p-win")
    assert answer.http.body["transactionId"] == str(win.pk)
    assert client.result(
        seat, "p-win", "p-round", 2_00, promoWinAmount="10.00", promoWinReference="pd-1"
    ).ok
    # Without promoWinReference the prize is keyed by the result's reference.
    client.bet(seat, "q-bet", "q-round", 1_00)
    client.result(seat, "q-win", "q-round", 0, promoWinAmount="1.00")
    assert Transaction.objects.filter(external_id="q-win:prizedrop", amount_minor=1_00).exists()
    assert balance_of(seat) == 111_00


def test_a_result_and_its_prize_drop_are_booked_together_or_not_at_all(provider, client):
    seat, _ = seat_for(provider)
    client.bet(seat, "a-bet", "a-round", 1_00)
    client.jackpot_win(seat, "taken", "j-round", 1_00)  # the prize's reference is taken
    before = ledger_state()
    answer = client.result(
        seat, "a-win", "a-round", 2_00, promoWinAmount="5.00", promoWinReference="taken"
    )
    assert answer.status == "7"
    assert not Transaction.objects.filter(external_id="a-win").exists()
    assert ledger_state() == before


def test_bonus_win_moves_nothing_unless_the_provider_says_it_credits(provider, client):
    seat, _ = seat_for(provider)
    before = ledger_state()
    informational = client.bonus_win(seat, "bw-1", 7_00)
    assert informational.ok and informational.balance_minor == 100_00
    assert informational.http.body["transactionId"] == ""
    assert ledger_state() == before
    assert client.bonus_win(seat, "bw-2", 7_00, amount="x").status == "7"
    provider.protocol_options = {"bonus_win_credits": True}
    provider.save(update_fields=["protocol_options"])
    credited = client.bonus_win(seat, "bw-1", 7_00)
    assert credited.ok and credited.balance_minor == 107_00
    row = Transaction.objects.get(external_id="bw-1")
    assert (row.kind, row.credit_type) == ("promo", CreditType.FREE_ROUND)
    assert credited.http.body["transactionId"] == str(row.pk)


def test_jackpot_and_promotion_credits_need_no_open_session(provider, client):
    seat, session = seat_for(provider)
    ledger.end_session(session=session, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF)
    assert client.jackpot_win(seat, "jp-1", "jp-round", 20_00).ok
    assert client.promo_win(seat, "pw-1", 3_00).ok
    assert client.promo_win(seat, "pw-2", 1_00, campaignType="CB").ok
    kinds = dict(Transaction.objects.filter(kind="promo").values_list("external_id", "credit_type"))
    assert kinds == {"jp-1": "jackpot", "pw-1": "reward", "pw-2": "promo"}
    assert client.promo_win(seat, "pw-3", 1_00, currency="JPY").status == "2"
    assert balance_of(seat) == 124_00


def test_end_round_closes_the_round_and_may_repeat(provider, client):
    seat, _ = seat_for(provider)
    client.bet(seat, "e-bet", "e-round", 1_00)
    client.result(seat, "e-win", "e-round", 0)
    assert client.end_round(seat, "e-round").ok
    assert client.end_round(seat, "e-round").ok
    assert Round.objects.get(external_id="e-round").status == "settled"
    late = client.bet(seat, "e-bet2", "e-round", 1_00)
    assert late.http.body["error"] == 120


def test_adjustments_credit_and_debit_never_below_zero(provider, client):
    seat, _ = seat_for(provider, 5_00)
    client.bet(seat, "l-bet", "l-round", 1_00)
    client.result(seat, "l-win", "l-round", 0)
    assert client.adjustment(seat, "adj-1", "l-round", 2_00).balance_minor == 6_00
    assert client.adjustment(seat, "adj-2", "l-round", -50).balance_minor == 5_50
    short = client.adjustment(seat, "adj-3", "l-round", -6_00)
    assert short.http.body["error"] == 1 and short.balance_minor == 5_50
    assert client.adjustment(seat, "adj-4", "l-round", 0).status == "7"
    assert client.adjustment(seat, "adj-5", "l-round", 0, amount="+1.00").status == "7"


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_is_error_7_and_changes_nothing(provider_and_secret, client, transport):
    provider, secret = provider_and_secret
    seat, _ = seat_for(provider)
    good = {
        "userId": seat.user,
        "token": seat.token,
        "gameId": "vs20kit",
        "roundId": "r",
        "reference": "x",
        "amount": "1.00",
    }
    before = ledger_state()
    bodies = {
        "a parameter twice": form(good, secret) + b"&amount=2.00",
        "not UTF-8": form(good, secret) + b"&roundDetails=%FF%FE",
        "no userId": form({k: v for k, v in good.items() if k != "userId"}, secret),
        "empty reference": form({**good, "reference": ""}, secret),
        "a NUL in the reference": form({**good, "reference": "a\x00b"}, secret),
        "a long userId": form({**good, "userId": "u" * 101}, secret),
        "an amount with a sign": form({**good, "amount": "+1.00"}, secret),
        "a negative amount": form({**good, "amount": "-1.00"}, secret),
        "an amount in words": form({**good, "amount": "one"}, secret),
        "an absurd amount": form({**good, "amount": "1" * 60}, secret),
    }
    for name, body in bodies.items():
        answer = post(transport, provider.code, "bet.html", body)
        assert answer.status == 200, name
        assert answer.body["error"] == 7, (name, answer.body)
    assert ledger_state() == before


def test_a_bad_hash_or_no_hash_is_error_5(provider_and_secret, transport):
    provider, secret = provider_and_secret
    seat, _ = seat_for(provider)
    fields = {"userId": seat.user, "token": seat.token}
    for body, error in (
        (urllib.parse.urlencode(fields).encode(), 5),
        (form(fields, secret + "x"), 5),
        (form(fields, secret).replace(b"userId=", b"userId=z"), 5),
        (form(fields, secret) + b"&extra=1", 5),
        (b"", 5),
        (b"\xff\xfe", 7),  # not a form at all: bad parameters, before any hash
    ):
        answer = post(transport, provider.code, "balance.html", body)
        assert answer.status == 200
        assert answer.body["error"] == error, body
        assert "cash" not in answer.body


def test_an_unknown_method_is_a_404_and_get_is_refused(provider_and_secret, transport):
    provider, secret = provider_and_secret
    seat, _ = seat_for(provider)
    body = form({"userId": seat.user}, secret)
    missing = post(transport, provider.code, "teleport.html", body)
    assert (missing.status, missing.body["error"]) == (404, 7)
    got = transport.request("GET", f"/wallet/pragmatic/{provider.code}/balance.html", None, {})
    assert (got.status, got.body["error"]) == (200, 7)


def test_options_are_checked_when_the_provider_is_created(db):
    with pytest.raises(ValidationFailed) as unknown:
        services.create_provider(
            code="p1",
            name="p",
            currencies=["EUR"],
            protocol="pragmatic",
            protocol_options={"pay_twice": True},
        )
    assert unknown.value.field == "protocol_options"
    with pytest.raises(ValidationFailed):
        services.create_provider(
            code="p2",
            name="p",
            currencies=["EUR"],
            protocol="pragmatic",
            protocol_options={"bonus_win_credits": "yes"},
        )
    assert PragmaticAdapter.validate_options({"hash_skips_empty": True}) == {
        "hash_skips_empty": True
    }


# --- hooks -----------------------------------------------------------------------------------


def test_monitoring_and_compliance_see_pragmatic_calls_as_native_ones(
    provider, client, monkeypatch
):
    seen: list[hooks.CallObservation] = []
    monkeypatch.setattr(hooks, "call_observers", [seen.append])
    inspected: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        hooks,
        "request_inspectors",
        [lambda inspection: inspected.append((inspection.operation, dict(inspection.data)))],
    )
    seat, _ = seat_for(provider, 1_00)
    client.bet(seat, "m1", "r", 50)
    client.bet(seat, "m2", "r", 5_00)
    client.result(seat, "m3", "r", 0)
    client.refund(seat, "m4")
    client.end_round(seat, "r")
    assert [(o.operation, o.outcome, o.protocol, o.protocol_status) for o in seen] == [
        ("bet", "OK", "pragmatic", "0"),
        ("bet", "INSUFFICIENT_FUNDS", "pragmatic", "1"),
        ("win", "OK", "pragmatic", "0"),
        ("rollback", "OK", "pragmatic", "0"),
        ("round/close", "OK", "pragmatic", "0"),
    ]
    assert all(o.provider_code == provider.code for o in seen)
    assert [operation for operation, _ in inspected] == [
        "bet",
        "bet",
        "win",
        "rollback",
        "round/close",
    ]
    assert inspected[0][1]["reference"] == "m1" and inspected[0][1]["amount"] == "0.50"


def test_a_card_number_in_a_pragmatic_body_is_redacted_before_anything_is_stored(provider, client):
    from compliance.models import SecurityViolation

    seat, _ = seat_for(provider)
    answer = client.bet(seat, "pan", "r", 1_00, roundDetails="card 4111 1111 1111 1111")
    assert answer.ok
    assert SecurityViolation.objects.filter(provider=provider).exists()
