"""The Evolution adapter (/wallet/evolution/<code>/...): Evolution's acceptance lists and the
kit's edge cases over both ways in, its status table, its numbers, its sessions, and every
call landing in the same ledger as the native API."""

import json
from decimal import Decimal

import pytest
from django.db import connection

from simulator.protocols.base import PASS, SKIP, Seat
from simulator.protocols.evolution import EvolutionClient, EvolutionKit
from tests import factories
from tests.wallets.test_ledger import assert_ledger_invariant
from wallets import hooks, ledger, services
from wallets.adapters.evolution import (
    OPERATION_STATUSES,
    STATUSES,
    EvolutionAdapter,
    credit_type,
    dumps,
    six_decimals,
)
from wallets.choices import CreditType, ProviderStatus, SessionEndReason, SessionStatus
from wallets.errors import ERRORS_BY_CODE
from wallets.models import GameSession, Provider, Transaction, Wallet

TESTS = "test_launches"


@pytest.fixture
def evolution(db):
    provider, secret = services.create_provider(
        code="evolution-demo",
        name="Evolution demo",
        currencies=["EUR", "JPY", "BHD"],
        protocol="evolution",
    )
    provider.secret = secret
    return provider


@pytest.fixture
def client(evolution, transport):
    return EvolutionClient(transport, evolution.code, evolution.secret)


def set_options(provider: Provider, **options) -> None:
    provider.protocol_options = {**provider.protocol_options, **options}
    provider.save(update_fields=["protocol_options"])  # drops the cached provider


def seat_for(provider, funds_minor=100_00, currency="EUR", player=None) -> tuple[Seat, object]:
    player = player or factories.funded_player(funds_minor, currency=currency)
    session, token = factories.open_session(player, provider, currency=currency)
    return Seat(token, player.external_id, currency), session


def ledger_rows():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM wallets_transaction),"
            " (SELECT coalesce(sum(balance_minor), 0) FROM wallets_wallet),"
            " (SELECT count(*) FROM wallets_gamesession),"
            " (SELECT string_agg(token_hash, ',' ORDER BY id) FROM wallets_gamesession)"
        )
        return cursor.fetchone()


VALKYRIE = [
    "Test_checkUsingNewSID",
    "Test_allMethodsCheckBeforeRunningTests",
    "Test_debitBetAlreadyExist",
    "Test_debitCancel",
    "Test_debitCredit",
    "Test_debitCreditBetAlreadySettled",
    "Test_debitCreditBetDoesNotExist",
    "Test_debitCreditCancel",
    "Test_sameUserPlayingWithDifferentChannelType",
    "Test_twoUsersBjGameEachPlaying_2_hands",
    "Test_verifyCanPlaceBetBeforeSettleForAnotherGame",
    "Test_checkUsingInvalidUserId",
    "Test_debitCancelBetDoesNotExist",
    "Test_debitCancelBetAlreadySettled",
    "Test_creditWithZeroAmount",
    "Test_debitCreditWithDifferentSids",
    "Test_multiStepGameTwoDebitsCreditCancel",
    "Test_multiStepGameTwoDebitsCancelCredit",
    "Test_insufficientFunds",
    "Test_multipleDontSettlementsScenario",
    "Test_onePlayerPlaysTwoGameRoundsOnOneTableInParallel",
    "Test_debitCancelCredit",
    "Test_debitCreditWithBigPayout",
    "Test_doublePromoPayouts",
    "Test_promoPayout",
    "Test_multipleDebitCreditCancelSettleTypeMixed",
]
EDGES = [
    "zero_credit",
    "big_payout",
    "many_debits_and_credits",
    "cancel_before_debit",
    "credit_after_cancel",
    "duplicate_other_amount",
    "unknown_fields_ignored",
    "expired_token_on_credit",
    "expired_token_on_cancel",
]


def run_kit(provider, client, **kit_options):
    """The kit against `provider`: two funded players, the first with two launched seats."""
    first = factories.funded_player(1_000_00)
    second = factories.funded_player(1_000_00)
    seats = [seat_for(provider, player=first), seat_for(provider, player=first)]
    seats.append(seat_for(provider, player=second))
    sessions = {seat.token: session for seat, session in seats}

    def end_session(seat):
        ledger.end_session(
            session=sessions[seat.token], status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF
        )
        return True

    kit = EvolutionKit(client, [seat for seat, _ in seats], **kit_options)
    kit.end_session = end_session
    return kit


def test_the_kit_passes_both_acceptance_lists_and_every_edge_case(evolution, client):
    set_options(evolution, **{TESTS: True})
    kit = run_kit(evolution, client)

    def set_option(name, value):
        set_options(Provider.objects.get(pk=evolution.pk), **{name: value})
        return True

    kit.set_option = set_option
    results = {r.rule: r for r in kit.run()}
    failures = [f"{r.rule}: {r.detail}" for r in results.values() if r.verdict == "FAIL"]
    assert not failures, "\n".join(failures)
    for name in VALKYRIE:
        assert results[f"valkyrie.{name}"].verdict == PASS, name
    tool = [rule for rule in results if rule.startswith("tool.")]
    assert len(tool) == 35
    # The one scenario Evolution's tool itself does not run for a casino of mixed settlement.
    assert [r for r in tool if results[r].verdict != PASS] == [
        "tool.DEBIT_CREDIT_SETTLE_TYPE_GAMEWISE"
    ]
    assert results["tool.DEBIT_CREDIT_SETTLE_TYPE_GAMEWISE"].verdict == SKIP
    for name in EDGES:
        assert results[f"edge.{name}"].verdict == PASS, name
    assert_ledger_invariant()


def test_without_the_option_hook_the_kit_runs_the_list_the_setting_allows(evolution, client):
    set_options(evolution, **{TESTS: True, "user_mismatch_status": "INVALID_SID"})
    kit = run_kit(evolution, client, only=("valkyrie.Test_checkUsingInvalidUserId", "tool.CHECK"))
    results = {r.rule: r.verdict for r in kit.run()}
    assert results == {
        "valkyrie.Test_checkUsingInvalidUserId": PASS,
        "tool.CHECK_USING_NEW_SID": PASS,
        "tool.CHECK_USING_INVALID_USER_ID": SKIP,
    }


# --- the status table, numbers and units ------------------------------------------------------

EVOLUTION_STATUSES = {
    "OK",
    "INSUFFICIENT_FUNDS",
    "INVALID_SID",
    "INVALID_TOKEN_ID",
    "INVALID_PARAMETER",
    "BET_DOES_NOT_EXIST",
    "BET_ALREADY_SETTLED",
    "BET_ALREADY_EXIST",
    "FINAL_ERROR_ACTION_FAILED",
    "TEMPORARY_ERROR",
    "UNKNOWN_ERROR",
}


def test_every_ledger_outcome_has_an_evolution_status():
    assert set(ERRORS_BY_CODE) <= set(STATUSES)
    assert {"BET_NOT_FOUND", "ROUND_SETTLED", "LIMIT_EXCEEDED"} <= set(STATUSES)
    used = set(STATUSES.values()) | {
        status for table in OPERATION_STATUSES.values() for status in table.values()
    }
    assert used <= EVOLUTION_STATUSES
    assert set(OPERATION_STATUSES) <= {op for op, _ in EvolutionAdapter.operations.values()}


def test_balances_are_json_numbers_with_six_decimals_written_exactly():
    assert str(six_decimals(11_34, "EUR")) == "11.340000"
    assert str(six_decimals(900, "JPY")) == "900.000000"
    assert str(six_decimals(1_005, "BHD")) == "1.005000"
    assert str(six_decimals(6_372_709_234, "EUR")) == "63727092.340000"
    body = {"status": "OK", "balance": six_decimals(1, "EUR"), "bonus": None, "uuid": 'u"1'}
    assert dumps(body) == b'{"status":"OK","balance":0.010000,"bonus":null,"uuid":"u\\"1"}'
    assert json.loads(dumps(body))["uuid"] == 'u"1'


def test_promotion_types_are_reported_as_their_kind_of_credit():
    assert credit_type("FreeRoundPlayableSpent") == CreditType.FREE_ROUND
    assert credit_type("JackpotWin") == CreditType.JACKPOT
    assert credit_type("RtrMonetaryReward") == CreditType.REWARD
    assert credit_type("RewardGameWinCapReached") == CreditType.REWARD
    assert credit_type("RewardGameMinBetLimitReached") == CreditType.REWARD
    assert credit_type("NewType") == CreditType.PROMO
    assert credit_type("") == CreditType.PROMO


@pytest.fixture
def raw(monkeypatch):
    """The raw bytes of the last answer (the transports hand back parsed JSON)."""
    from tests.adapters import conftest

    seen = {}
    original = conftest._result

    def keep(status, content, headers):
        seen["content"] = content
        return original(status, content, headers)

    monkeypatch.setattr(conftest, "_result", keep)
    return seen


def test_answers_carry_evolutions_fields_and_exact_numbers(evolution, client, raw):
    seat, _ = seat_for(evolution, 12_34)
    answer = client.debit(seat, "u-tx", "u-ref", 1_00, uuid="my-uuid")
    assert answer.http.status == 200
    assert raw["content"] == (
        b'{"status":"OK","balance":11.340000,"bonus":0.000000,"uuid":"my-uuid"}'
    )
    yen, _ = seat_for(evolution, 1_000, currency="JPY")
    client.debit(yen, "y-tx", "y-ref", 100, uuid="y")
    assert b'"balance":900.000000' in raw["content"]


def test_an_amount_finer_than_cents_is_refused_unless_the_provider_rounds(evolution, client):
    seat, _ = seat_for(evolution)
    fine = {"id": "fine", "refId": "r", "amount": Decimal("0.403604")}
    before = ledger_rows()
    refused = client.debit(seat, "fine", "r", 0, transaction={**fine})
    assert refused.status == "INVALID_PARAMETER"
    assert refused.balance_minor == 100_00
    assert ledger_rows() == before
    evolution.rounding_mode = "half_even"
    evolution.save(update_fields=["rounding_mode"])
    taken = client.debit(seat, "fine", "r", 0, transaction={**fine})
    assert taken.ok and taken.balance_minor == 99_60
    row = Transaction.objects.get(external_id="fine")
    assert row.amount_minor == 40
    assert str(row.rounding_residue).rstrip("0") == "0.003604"


def test_a_yen_amount_with_decimals_is_refused(evolution, client):
    seat, _ = seat_for(evolution, 1_000, currency="JPY")
    answer = client.debit(
        seat, "yen", "r", 0, transaction={"id": "yen", "refId": "r", "amount": Decimal("1.5")}
    )
    assert (answer.status, answer.balance_minor) == ("INVALID_PARAMETER", 1_000)


# --- authentication, paths, bad input -----------------------------------------------------------


def test_a_wrong_or_missing_auth_token_is_invalid_token_id_and_changes_nothing(evolution, client):
    seat, _ = seat_for(evolution)
    fields = {"sid": seat.token, "userId": seat.user, "currency": "EUR", "uuid": "a-1"}
    before = ledger_rows()
    for query in ("authToken=wrong", "", "authToken=", "authtoken=" + evolution.secret):
        result = client.send(
            "debit", {**fields, "transaction": {"id": "t", "refId": "r", "amount": 1}}, query=query
        )
        assert result.status == 200, query
        assert result.body == {
            "status": "INVALID_TOKEN_ID",
            "balance": None,
            "bonus": None,
            "uuid": None,
        }, query
    assert ledger_rows() == before


def test_every_unrevoked_secret_works_during_a_rotation(evolution, transport):
    seat, _ = seat_for(evolution)
    new = services.rotate_provider_secret(provider=evolution, reason="yearly")
    for secret in (evolution.secret, new):
        assert EvolutionClient(transport, evolution.code, secret).balance(seat).ok


def test_an_unknown_provider_or_one_of_another_protocol_is_refused(evolution, transport):
    seat, _ = seat_for(evolution)
    stranger = EvolutionClient(transport, "no-such-provider", evolution.secret)
    assert stranger.balance(seat).status == "INVALID_TOKEN_ID"
    native, native_secret = factories.make_provider("native-one")
    native_seat, _ = seat_for(native)
    pretender = EvolutionClient(transport, native.code, native_secret)
    assert pretender.balance(native_seat).status == "INVALID_TOKEN_ID"


def test_an_unknown_path_is_a_404_and_a_get_a_405(evolution, client):
    result = client.send("teleport", {"uuid": "x"})
    assert (result.status, result.body["status"]) == (404, "INVALID_PARAMETER")
    got = client.transport.request(
        "GET", client.prefix + "balance?authToken=" + evolution.secret, b"", {}
    )
    assert got.status == 405 and got.headers["allow"] == "POST"


def test_bad_input_is_invalid_parameter_with_the_uuid_and_changes_nothing(evolution, client):
    seat, _ = seat_for(evolution)
    base = {"sid": seat.token, "userId": seat.user, "currency": "EUR", "uuid": "bad-1"}
    transaction = {"id": "t1", "refId": "r1", "amount": 1}
    before = ledger_rows()
    for name, body in {
        "not json": b"{nope",
        "an array": b"[1]",
        "a key twice": b'{"sid": "a", "sid": "b", "userId": "u"}',
    }.items():
        result = client.send("debit", {}, raw=body)
        assert (result.status, result.body["status"]) == (200, "INVALID_PARAMETER"), name
    cases = {
        "no sid": {k: v for k, v in base.items() if k != "sid"} | {"transaction": transaction},
        "no transaction": base,
        "transaction not an object": base | {"transaction": "t1"},
        "no transaction id": base | {"transaction": {"refId": "r1", "amount": 1}},
        "a numeric refId": base | {"transaction": transaction | {"refId": 7}},
        "no amount": base | {"transaction": {"id": "t1", "refId": "r1"}},
        "a negative amount": base | {"transaction": transaction | {"amount": -1}},
        "an amount in words": base | {"transaction": transaction | {"amount": "one"}},
        "an amount that is a list": base | {"transaction": transaction | {"amount": [1]}},
        "another currency": base | {"currency": "USD", "transaction": transaction},
        "no currency": {k: v for k, v in base.items() if k != "currency"}
        | {"transaction": transaction},
        "game not an object": base | {"game": 7, "transaction": transaction},
        "uuid not a string": base | {"uuid": 7, "transaction": transaction},
    }
    for name, fields in cases.items():
        result = client.send("debit", fields)
        assert result.status == 200, name
        assert result.body["status"] == "INVALID_PARAMETER", (name, result.body)
        if name not in ("no sid", "uuid not a string"):
            assert result.body["uuid"] == "bad-1", name
            assert result.body["balance"] == 100.0, name  # the player is known
    assert ledger_rows() == before


# --- sessions: the sid, check, userId -----------------------------------------------------------


def test_the_sid_call_exists_only_where_the_provider_allows_test_launches(evolution, client):
    player = factories.funded_player(50_00)
    assert client.sid(player.external_id, "EUR").http.status == 404
    assert not GameSession.objects.filter(player=player).exists()
    set_options(evolution, **{TESTS: True})
    answer = client.sid(player.external_id, "EUR")
    assert answer.ok and set(answer.http.body) == {"status", "sid", "uuid"}
    session = GameSession.objects.get(player=player)
    assert (session.provider_id, session.currency) == (evolution.pk, "EUR")
    assert (
        client.balance(Seat(answer.http.body["sid"], player.external_id, "EUR")).balance_minor
        == 50_00
    )
    unknown = client.sid("nobody-here", "EUR")
    assert (unknown.status, unknown.http.body["balance"]) == ("INVALID_PARAMETER", None)


def test_a_test_launch_at_the_session_limit_replaces_the_least_recently_used(evolution, client):
    set_options(evolution, **{TESTS: True})
    player = factories.funded_player(50_00)
    seats = [
        Seat(client.sid(player.external_id, "EUR").http.body["sid"], player.external_id, "EUR")
        for _ in range(evolution.max_sessions_per_player)
    ]
    for seat in seats[1:]:
        assert client.balance(seat).ok  # the first is now the least recently used
    newest = client.sid(player.external_id, "EUR")
    assert newest.ok
    assert client.balance(seats[0]).status == "INVALID_SID"
    assert all(client.balance(seat).ok for seat in seats[1:])
    replaced = GameSession.objects.filter(player=player, status=SessionStatus.CLOSED).get()
    assert replaced.end_reason == SessionEndReason.GRACEFUL
    assert GameSession.objects.filter(player=player, status=SessionStatus.OPEN).count() == 5


def test_check_renews_the_sid_and_authenticates_the_session(evolution, client):
    seat, session = seat_for(evolution)
    answer = client.check(seat)
    new = Seat(answer.http.body["sid"], seat.user, "EUR")
    assert answer.ok and new.token != seat.token
    assert client.balance(seat).status == "INVALID_SID"
    assert client.balance(new).ok
    session.refresh_from_db()
    assert session.authenticated_at is not None
    ledger.end_session(session=session, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF)
    ended = client.check(new)
    assert (ended.status, ended.balance_minor) == ("INVALID_SID", 100_00)


@pytest.mark.parametrize("setting", ["INVALID_PARAMETER", "INVALID_SID"])
def test_a_sid_sent_with_another_user_is_refused_as_set_and_stays_valid(evolution, client, setting):
    if setting != "INVALID_PARAMETER":
        set_options(evolution, user_mismatch_status=setting)
    seat, _ = seat_for(evolution)
    other = factories.funded_player(70_00)
    before = ledger_rows()
    for foreign in (Seat(seat.token, other.external_id, "EUR"), Seat(seat.token, "nobody", "EUR")):
        for answer in (
            client.check(foreign),
            client.balance(foreign),
            client.debit(foreign, "m-tx", "m-ref", 1_00),
            client.credit(foreign, "m-tx2", "m-ref", 1_00),
            client.cancel(foreign, "m-tx", "m-ref", 1_00),
            client.promo_payout(foreign, "m-promo", 1_00),
        ):
            assert answer.status == setting, answer.http.body
            assert answer.http.body["balance"] is None
    assert ledger_rows() == before
    assert client.check(seat).ok


def test_the_options_are_checked_when_the_provider_is_created(db):
    from wallets.errors import ValidationFailed

    for options in ({"user_mismatch_status": "NOPE"}, {"test_launches": "yes"}, {"other": 1}):
        with pytest.raises(ValidationFailed) as refused:
            services.create_provider(
                code="evo-bad",
                name="e",
                currencies=["EUR"],
                protocol="evolution",
                protocol_options=options,
            )
        assert refused.value.field == "protocol_options"
    provider, secret = services.create_provider(
        code="evo-ok",
        name="e",
        currencies=["EUR"],
        protocol="evolution",
        protocol_options={"user_mismatch_status": "INVALID_SID", "test_launches": True},
    )
    assert secret and provider.protocol_options["test_launches"] is True


# --- money: ids, settlement, cancels, promotions ------------------------------------------------


def test_a_cancel_refunds_the_stored_debit_whatever_amount_it_carries(evolution, client):
    seat, _ = seat_for(evolution)
    client.debit(seat, "c-tx", "c-ref", 3_00)
    answer = client.cancel(seat, "c-tx", "c-ref", 5_00)
    assert (answer.status, answer.balance_minor) == ("OK", 100_00)
    row = Transaction.objects.get(external_id="c-tx", id_scope="cancel")
    assert (row.kind, row.amount_minor, row.reference_external_id) == ("rollback", 3_00, "c-tx")


def test_a_cancel_with_a_new_id_cancels_the_debit_of_its_ref(evolution, client):
    seat, _ = seat_for(evolution)
    client.debit(seat, "n-tx", "n-ref", 3_00)
    answer = client.cancel(seat, "n-cancel", "n-ref", 3_00)
    assert (answer.status, answer.balance_minor) == ("OK", 100_00)
    again = client.cancel(seat, "n-cancel-2", "n-ref", 3_00)
    assert (again.status, again.balance_minor) == ("BET_ALREADY_SETTLED", 100_00)
    assert Transaction.objects.get(external_id="n-tx").status == "rolled_back"


def test_a_credit_settles_its_ref_once_and_a_later_debit_may_not_join_it(evolution, client):
    seat, _ = seat_for(evolution)
    client.debit(seat, "s-tx", "s-ref", 1_00)
    assert client.credit(seat, "s-win", "s-ref", 4_00).balance_minor == 103_00
    replay = client.credit(seat, "s-win", "s-ref", 4_00)
    assert (replay.status, replay.balance_minor) == ("OK", 103_00)
    other_amount = client.credit(seat, "s-win", "s-ref", 9_00)
    assert (other_amount.status, other_amount.balance_minor) == ("BET_ALREADY_SETTLED", 103_00)
    late = client.debit(seat, "s-tx2", "s-ref", 1_00)
    assert (late.status, late.balance_minor) == ("BET_ALREADY_SETTLED", 103_00)
    assert Transaction.objects.filter(player__external_id=seat.user, kind="win").count() == 1


def test_promotions_are_paid_once_with_their_type_and_without_a_live_sid(evolution, client):
    seat, session = seat_for(evolution)
    game = client.game("jp-round", kind="starburst")
    paid = client.promo_payout(
        seat,
        "jp-1",
        10_00,
        promo_type="JackpotWin",
        game=game,
        promo_fields={"jackpots": [{"id": "j", "winAmount": 10}]},
    )
    assert (paid.status, paid.balance_minor) == ("OK", 110_00)
    again = client.promo_payout(seat, "jp-1", 10_00, promo_type="JackpotWin", game=game)
    assert (again.status, again.balance_minor) == ("OK", 110_00)
    row = Transaction.objects.get(external_id="jp-1")
    assert (row.kind, row.credit_type, row.round_external_id, row.id_scope) == (
        "promo",
        "jackpot",
        "jp-round",
        "promo",
    )
    client.check(seat)  # the sid the promotion comes with is gone
    ledger.end_session(session=session, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF)
    late = client.promo_payout(
        seat,
        "fr-1",
        2_00,
        promo_type="FreeRoundPlayableSpent",
        promo_fields={"voucherId": "v-9", "remainingRounds": 0},
    )
    assert (late.status, late.balance_minor) == ("OK", 112_00)
    assert Transaction.objects.get(external_id="fr-1").note == (
        "Evolution FreeRoundPlayableSpent, voucher v-9"
    )
    stranger = Seat("no-such-sid", "nobody", "EUR")
    assert client.promo_payout(stranger, "x-1", 1_00).status == "INVALID_SID"


def test_expired_sessions_settle_but_take_no_debits(evolution, client):
    seat, session = seat_for(evolution)
    client.debit(seat, "e-tx", "e-ref", 2_00)
    client.debit(seat, "e-tx2", "e-ref2", 2_00)
    ledger.end_session(session=session, status=SessionStatus.CLOSED, reason=SessionEndReason.STAFF)
    assert client.debit(seat, "e-tx3", "e-ref3", 1_00).status == "INVALID_SID"
    assert client.debit(seat, "e-tx", "e-ref", 2_00).ok  # a replay of an accepted debit
    assert client.balance(seat).status == "INVALID_SID"
    assert client.credit(seat, "e-win", "e-ref", 5_00).balance_minor == 101_00
    assert client.cancel(seat, "e-tx2", "e-ref2", 2_00).balance_minor == 103_00


# --- provider and player standing, faults -------------------------------------------------------


def test_a_suspended_provider_takes_no_debits_but_settles_bets(evolution, client):
    seat, _ = seat_for(evolution)
    client.debit(seat, "p-tx", "p-ref", 1_00)
    services.change_provider_status(
        provider=evolution, status=ProviderStatus.SUSPENDED, reason="incident", actor=None
    )
    refused = client.debit(seat, "p-tx2", "p-ref2", 1_00)
    assert (refused.status, refused.balance_minor) == ("INVALID_SID", 99_00)
    assert client.check(seat).status == "INVALID_SID"
    assert client.credit(seat, "p-win", "p-ref", 3_00).balance_minor == 102_00
    assert Wallet.objects.get(player__external_id=seat.user).balance_minor == 102_00


def test_a_blocked_player_may_not_bet(evolution, client):
    seat, session = seat_for(evolution)
    services.set_player_status(
        player=session.player, status="blocked", reason="self-exclusion request", actor=None
    )
    assert client.debit(seat, "b-tx", "b-ref", 1_00).status == "INVALID_SID"


def test_a_fraud_decline_is_final(evolution, client, monkeypatch):
    seat, _ = seat_for(evolution)
    monkeypatch.setattr(
        hooks, "screener", lambda request: hooks.Screening(action=hooks.DECLINE, hits=({},))
    )
    declined = client.debit(seat, "f-tx", "f-ref", 1_00)
    assert (declined.status, declined.balance_minor) == ("FINAL_ERROR_ACTION_FAILED", 100_00)


def test_faults_are_temporary_errors(evolution, client, monkeypatch):
    from django.db import OperationalError

    seat, _ = seat_for(evolution)

    def outage(**kwargs):
        raise OperationalError("connection lost")

    monkeypatch.setattr(ledger, "bet", outage)
    answer = client.debit(seat, "o-tx", "o-ref", 1_00)
    assert (answer.http.status, answer.status) == (200, "TEMPORARY_ERROR")

    def bug(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ledger, "bet", bug)
    assert client.debit(seat, "o-tx", "o-ref", 1_00).status == "TEMPORARY_ERROR"


# --- hooks: monitoring and compliance -----------------------------------------------------------


def test_monitoring_and_compliance_see_adapter_calls_as_native_ones(evolution, client, monkeypatch):
    seen: list[hooks.CallObservation] = []
    monkeypatch.setattr(hooks, "call_observers", [seen.append])
    inspected: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        hooks,
        "request_inspectors",
        [lambda inspection: inspected.append((inspection.operation, inspection.data))],
    )
    seat, _ = seat_for(evolution, 1_00)
    client.debit(seat, "m1", "r1", 50)
    client.debit(seat, "m2", "r2", 5_00)
    client.cancel(seat, "m3", "r3", 1_00)  # never debited: remembered, BET_DOES_NOT_EXIST
    assert [(o.operation, o.outcome, o.protocol, o.protocol_status) for o in seen] == [
        ("bet", "OK", "evolution", "OK"),
        ("bet", "INSUFFICIENT_FUNDS", "evolution", "INSUFFICIENT_FUNDS"),
        ("rollback", "OK", "evolution", "BET_DOES_NOT_EXIST"),
    ]
    assert all(o.provider_code == evolution.code for o in seen)
    assert [operation for operation, _ in inspected] == ["bet", "bet", "rollback"]
    assert inspected[0][1]["transaction"]["id"] == "m1"


def test_a_card_number_in_an_evolution_body_is_redacted_before_anything_is_stored(
    evolution, client
):
    from compliance.models import SecurityViolation

    seat, _ = seat_for(evolution)
    answer = client.debit(seat, "pan", "r", 1_00, note="card 4111 1111 1111 1111")
    assert answer.ok
    assert SecurityViolation.objects.filter(provider=evolution).exists()
