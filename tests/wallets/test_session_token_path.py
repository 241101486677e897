"""Bets and wins booked by session token alone (ledger.SessionToken): the ledger function reads
the session in the same round trip when no screening can apply; the answers are the same as
when the session is read first."""

import pytest

from tests import factories
from wallets import crypto, hooks, ledger
from wallets.errors import InvalidToken, SessionExpired
from wallets.models import Transaction, Wallet


def test_screening_is_needed_only_where_the_screener_says_it_could_act(monkeypatch):
    monkeypatch.setattr(hooks, "screener", None)
    assert not hooks.screening_needed("bet", 10_00)

    def screener(request):
        return hooks.ALLOW_ALL

    monkeypatch.setattr(hooks, "screener", screener)
    assert hooks.screening_needed("bet", 10_00)  # no filter: it sees every call
    screener.screening_filter = lambda kind, amount: kind == "bet" and amount >= 100_00
    assert not hooks.screening_needed("bet", 10_00)
    assert hooks.screening_needed("bet", 100_00)
    assert not hooks.screening_needed("win", 500_00)


def test_a_bet_by_token_is_booked_on_the_session_the_token_names(db):
    provider, _ = factories.make_provider()
    player = factories.funded_player(50_00)
    session, token = factories.open_session(player, provider)
    result = ledger.bet(
        provider=provider,
        session=ledger.SessionToken(crypto.token_hash(token)),
        transaction_id="tok-1",
        round_id="tok-r1",
        amount_minor=5_00,
        currency="EUR",
        game_id="slot-9",
    )
    stored = Transaction.objects.get(pk=result.transaction.pk)
    for row in (result.transaction, stored):
        assert (row.session_id, row.wallet_id, row.player_id) == (
            session.pk,
            session.wallet_id,
            player.pk,
        )
        assert (row.game_id, row.delta_minor, row.round_external_id) == ("slot-9", -5_00, "tok-r1")
    assert result.available_minor == 45_00
    assert Wallet.objects.get(pk=session.wallet_id).balance_minor == 45_00


def test_an_unknown_token_is_refused_and_writes_nothing(db):
    provider, _ = factories.make_provider()
    with pytest.raises(InvalidToken):
        ledger.win(
            provider=provider,
            session=ledger.SessionToken(crypto.token_hash("no-such-token")),
            transaction_id="tok-w",
            round_id="tok-rw",
            amount_minor=1_00,
            currency="EUR",
        )
    assert not Transaction.objects.filter(external_id="tok-w").exists()


def test_another_provider_s_token_is_unknown_here(db):
    provider, _ = factories.make_provider()
    other, _ = factories.make_provider()
    _, token = factories.open_session(factories.funded_player(10_00), other)
    with pytest.raises(InvalidToken):
        ledger.bet(
            provider=provider,
            session=ledger.SessionToken(crypto.token_hash(token)),
            transaction_id="tok-x",
            round_id="tok-rx",
            amount_minor=1_00,
            currency="EUR",
        )


def test_refusals_by_token_carry_the_balance(db):
    provider, _ = factories.make_provider()
    player = factories.funded_player(10_00)
    session, token = factories.open_session(player, provider)
    ledger.end_session(session=session, status="closed", reason="graceful")
    with pytest.raises(SessionExpired) as refused:
        ledger.bet(
            provider=provider,
            session=ledger.SessionToken(crypto.token_hash(token)),
            transaction_id="tok-late",
            round_id="tok-rl",
            amount_minor=1_00,
            currency="EUR",
        )
    assert (refused.value.balance_minor, refused.value.currency) == (10_00, "EUR")


def test_a_screener_that_could_act_sees_the_call_with_its_session(db, monkeypatch):
    provider, _ = factories.make_provider()
    player = factories.funded_player(10_00)
    session, token = factories.open_session(player, provider)
    seen = []

    def screener(request):
        seen.append((request.kind, request.session_id, request.wallet_id))
        return hooks.ALLOW_ALL

    screener.screening_filter = lambda kind, amount: amount >= 2_00
    monkeypatch.setattr(hooks, "screener", screener)
    for n, amount in enumerate((1_00, 2_00)):
        ledger.bet(
            provider=provider,
            session=ledger.SessionToken(crypto.token_hash(token)),
            transaction_id=f"tok-s{n}",
            round_id=f"tok-rs{n}",
            amount_minor=amount,
            currency="EUR",
        )
    assert seen == [("bet", session.pk, session.wallet_id)]  # only the one it could act on


def test_over_the_api_an_unknown_token_comes_before_a_bad_field(wallet_api):
    response = wallet_api.call(
        "bet",
        session_token="not-a-session",
        transaction_id="t-order",
        round_id="r-order",
        amount="-1",
        currency="EUR",
    )
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_TOKEN")


def test_over_the_api_a_bad_field_of_a_real_session_carries_the_balance(wallet_api, token):
    response = wallet_api.call(
        "bet",
        session_token=token,
        transaction_id="t-bad",
        round_id="r-bad",
        amount="-1",
        currency="EUR",
    )
    payload = response.json()
    assert payload["code"] == "INVALID_AMOUNT" and payload["balance"] == "100.00"
    unknown_currency = wallet_api.call(
        "win",
        session_token=token,
        transaction_id="t-cur",
        round_id="r-cur",
        amount="1.00",
        currency="XXQ",
    ).json()
    assert unknown_currency["code"] == "CURRENCY_MISMATCH"
    assert unknown_currency["message"] == "currency must be the session's (EUR)"
