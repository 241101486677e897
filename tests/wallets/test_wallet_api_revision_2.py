"""The rules revision 2 of the wallet contract added (docs/wallet-api.md), over HTTP: the
signature covers the request path; strict JSON bodies; BET_SETTLED; nothing paid into a
rolled-back round; a restricted provider's bets need a session authenticated before the
restriction. Every refusal is checked to change nothing.
"""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import WALLET_ENTRY_POINTS
from tests.wallets.test_wallet_api import (
    available,
    bet,
    error,
    ledger_state,
    ok,
    refused,
    rollback,
    win,
)
from wallets import crypto, hooks, services
from wallets.choices import ProviderStatus, RoundStatus, TransactionStatus
from wallets.models import GameSession, Round, Transaction


@pytest.fixture(autouse=True)
def _no_fraud_rules(monkeypatch):
    monkeypatch.setattr(hooks, "screener", None)
    monkeypatch.setattr(hooks, "decline_recorders", [])


@pytest.fixture(params=WALLET_ENTRY_POINTS)
def wallet_entry_point(request):
    """Every test here runs through Django's test client and through the production WSGI
    entry point (config.wsgi.application and the wallet API's own way in)."""
    return request.param


# --- the signature covers the path ----------------------------------------------------------


def test_a_refused_bets_signed_body_replayed_to_win_credits_nothing(wallet_api, token, player):
    """The attack revision 2 closes: a bet refused for want of funds, its signed body sent
    again to /win, would have been a credit."""
    body = json.dumps(
        {
            "session_token": token,
            "transaction_id": "big-bet",
            "round_id": "r-replay",
            "amount": "500.00",
            "currency": "EUR",
        }
    ).encode()
    ts = str(int(time.time()))
    signature = crypto.sign(wallet_api.secret.encode(), ts, "/wallet/v1/bet", body)
    refused(
        lambda: wallet_api.raw("bet", body, timestamp=ts, signature=signature),
        "INSUFFICIENT_FUNDS",
        402,
    )
    payload = refused(
        lambda: wallet_api.raw("win", body, timestamp=ts, signature=signature),
        "INVALID_SIGNATURE",
        401,
    )
    assert "balance" not in payload
    assert available(player) == 100_00


@pytest.mark.parametrize("operation", ["bet", "win", "rollback", "balance", "session/close"])
def test_a_body_signed_for_one_operation_is_refused_by_every_other(wallet_api, token, operation):
    body = json.dumps({"session_token": token}).encode()
    ts = str(int(time.time()))
    signature = crypto.sign(wallet_api.secret.encode(), ts, "/wallet/v1/authenticate", body)
    refused(
        lambda: wallet_api.raw(operation, body, timestamp=ts, signature=signature),
        "INVALID_SIGNATURE",
        401,
    )
    ok(wallet_api.raw("authenticate", body, timestamp=ts, signature=signature))


def test_a_revision_1_signature_is_refused(wallet_api, token):
    body = json.dumps({"session_token": token}).encode()
    ts = str(int(time.time()))
    old = hmac.new(wallet_api.secret.encode(), f"{ts}.".encode() + body, hashlib.sha256)
    refused(
        lambda: wallet_api.raw("balance", body, timestamp=ts, signature=old.hexdigest()),
        "INVALID_SIGNATURE",
        401,
    )


def test_the_signed_path_is_the_one_requested_without_query_string(wallet_api, token):
    body = json.dumps({"session_token": token}).encode()
    ts = str(int(time.time()))
    signature = crypto.sign(wallet_api.secret.encode(), ts, "/wallet/v1/balance", body)
    response = wallet_api.client.post(
        "/wallet/v1/balance?trace=1",
        data=body,
        content_type="application/json",
        **{
            "HTTP_X_PROVIDER_CODE": wallet_api.provider_code,
            "HTTP_X_TIMESTAMP": ts,
            "HTTP_X_SIGNATURE": signature,
        },
    )
    ok(response)


# --- strict JSON ----------------------------------------------------------------------------


def _send(wallet_api, operation: str, text: str):
    return wallet_api.raw(operation, text.encode())


@pytest.mark.parametrize(
    "body",
    [
        '{{"session_token": "{t}", "session_token": "{t}"}}',
        '{{"session_token": "{t}", "x": {{"a": 1, "a": 2}}}}',
        '{{"session_token": "{t}", "x": [{{"b": 1}}, {{"b": 1, "b": 1}}]}}',
    ],
    ids=["top level", "nested object", "object in a list"],
)
def test_a_key_given_twice_at_any_depth_is_a_validation_error(wallet_api, token, body):
    payload = refused(
        lambda: _send(wallet_api, "balance", body.format(t=token)), "VALIDATION_ERROR", 400
    )
    assert "duplicate key" in payload["message"]


def test_two_amounts_in_one_bet_are_refused_not_guessed(wallet_api, token, player):
    body = (
        f'{{"session_token": "{token}", "transaction_id": "t-dup", "round_id": "r1",'
        ' "amount": "1.00", "currency": "EUR", "amount": "90.00"}'
    )
    refused(lambda: _send(wallet_api, "bet", body), "VALIDATION_ERROR", 400)
    assert available(player) == 100_00


@pytest.mark.parametrize(("depth", "accepted"), [(32, True), (33, False), (1000, False)])
def test_nesting_deeper_than_32_levels_is_a_validation_error(wallet_api, token, depth, accepted):
    inner = depth - 1  # the body object itself is the first level
    body = f'{{"session_token": "{token}", "x": ' + "[" * inner + "]" * inner + "}"
    if accepted:
        ok(_send(wallet_api, "balance", body))
    else:
        payload = refused(lambda: _send(wallet_api, "balance", body), "VALIDATION_ERROR", 400)
        assert "32" in payload["message"]


def test_deep_nesting_of_100000_levels_is_a_4xx_not_a_500(wallet_api, token):
    body = f'{{"session_token": "{token}", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    refused(lambda: _send(wallet_api, "balance", body), "VALIDATION_ERROR", 400)


@pytest.mark.parametrize(
    "fragment",
    ['"note": "\\ud800"', '"note": "a\\udfffb"', '"\\ud800": 1', '"x": ["\\udc00"]'],
    ids=["high alone", "low alone", "in a key", "in a list"],
)
def test_a_lone_surrogate_anywhere_is_a_validation_error(wallet_api, token, fragment):
    body = f'{{"session_token": "{token}", {fragment}}}'
    refused(lambda: _send(wallet_api, "balance", body), "VALIDATION_ERROR", 400)


def test_a_surrogate_pair_is_a_character_and_accepted(wallet_api, token):
    body = f'{{"session_token": "{token}", "note": "\\ud83c\\udfb0"}}'
    ok(_send(wallet_api, "balance", body))


def test_the_refused_field_is_named(wallet_api, token):
    body = (
        f'{{"session_token": "{token}", "transaction_id": "t\\ud800", "round_id": "r1",'
        ' "amount": "1.00", "currency": "EUR"}'
    )
    payload = refused(lambda: _send(wallet_api, "bet", body), "VALIDATION_ERROR", 400)
    assert payload["field"] == "transaction_id"


# --- BET_SETTLED ----------------------------------------------------------------------------


@pytest.mark.parametrize("win_amount", ["0", "5.00"], ids=["a lost round", "a paid round"])
def test_a_bet_whose_round_paid_a_win_cannot_be_rolled_back(wallet_api, token, win_amount):
    ok(bet(wallet_api, token, "b1", round_id="r1"))
    ok(win(wallet_api, token, "w1", amount=win_amount, round_id="r1"))
    payload = refused(
        lambda: rollback(wallet_api, token, "rb1", "b1", round_id="r1"), "BET_SETTLED", 409
    )
    expected = 100_00 - 10_00 + (5_00 if win_amount == "5.00" else 0)
    assert payload["balance"] == f"{expected // 100}.{expected % 100:02d}"
    assert Transaction.objects.get(external_id="b1").status == TransactionStatus.POSTED
    # The refused rollback id was not spent: it may still be used for another bet.
    ok(bet(wallet_api, token, "b2", round_id="r2"))
    ok(rollback(wallet_api, token, "rb1", "b2", round_id="r2"))


def test_a_held_win_settles_the_round_too(wallet_api, token, monkeypatch):
    ok(bet(wallet_api, token, "b1", round_id="r1"))
    monkeypatch.setattr(hooks, "screener", lambda request: hooks.Screening(action=hooks.HOLD))
    ok(win(wallet_api, token, "w1", amount="50.00", round_id="r1"))
    assert Transaction.objects.get(external_id="w1").status == TransactionStatus.HELD
    refused(lambda: rollback(wallet_api, token, "rb1", "b1", round_id="r1"), "BET_SETTLED", 409)


def test_a_bet_in_a_round_whose_only_win_was_in_another_round_can_be_rolled_back(
    wallet_api, token, player
):
    ok(bet(wallet_api, token, "b1", round_id="r1"))
    ok(win(wallet_api, token, "w1", amount="5.00", round_id="r2"))  # free spins elsewhere
    ok(rollback(wallet_api, token, "rb1", "b1", round_id="r1"))
    assert available(player) == 100_00 + 5_00


def test_a_replayed_rollback_stays_a_duplicate_after_a_later_win(wallet_api, token):
    """Idempotency first: the rollback applied before the round paid anything is still the
    same rollback when resent."""
    ok(bet(wallet_api, token, "b1", round_id="r1"))
    ok(bet(wallet_api, token, "b2", round_id="r1"))
    first = ok(rollback(wallet_api, token, "rb1", "b1", round_id="r1"))
    ok(win(wallet_api, token, "w1", amount="3.00", round_id="r1"))
    again = ok(rollback(wallet_api, token, "rb1", "b1", round_id="r1"))
    assert again["duplicate"] is True
    assert again["wallet_transaction_id"] == first["wallet_transaction_id"]


# --- nothing paid into a rolled-back round ---------------------------------------------------


def test_a_win_into_a_round_whose_every_bet_was_rolled_back_credits_nothing(
    wallet_api, token, player
):
    ok(bet(wallet_api, token, "b1", round_id="r1"))
    ok(bet(wallet_api, token, "b2", round_id="r1"))
    ok(rollback(wallet_api, token, "rb1", "b1", round_id="r1"))
    ok(win(wallet_api, token, "w0", amount="0", round_id="r9"))  # unrelated
    assert Round.objects.get(external_id="r1").status == RoundStatus.OPEN  # b2 still stands
    ok(rollback(wallet_api, token, "rb2", "b2", round_id="r1"))
    assert Round.objects.get(external_id="r1").status == RoundStatus.CANCELLED
    payload = refused(
        lambda: win(wallet_api, token, "w1", amount="40.00", round_id="r1"),
        "TRANSACTION_ROLLED_BACK",
        409,
    )
    assert payload["balance"] == "100.00"
    assert available(player) == 100_00


def test_a_win_naming_a_rolled_back_bet_credits_nothing(wallet_api, token, player):
    ok(bet(wallet_api, token, "b1", round_id="r1"))
    ok(bet(wallet_api, token, "b2", round_id="r1"))
    ok(rollback(wallet_api, token, "rb1", "b1", round_id="r1"))
    refused(
        lambda: win(
            wallet_api, token, "w1", amount="40.00", round_id="r1", reference_transaction_id="b1"
        ),
        "TRANSACTION_ROLLED_BACK",
        409,
    )
    # Naming the bet that stands is paid.
    ok(win(wallet_api, token, "w2", amount="4.00", round_id="r1", reference_transaction_id="b2"))
    assert available(player) == 100_00 - 10_00 + 4_00


def test_a_win_naming_a_bet_whose_rollback_came_first_credits_nothing(wallet_api, token):
    ok(rollback(wallet_api, token, "rb1", "ghost", round_id="r1"))  # a tombstone
    refused(
        lambda: win(
            wallet_api,
            token,
            "w1",
            amount="40.00",
            round_id="r-other",
            reference_transaction_id="ghost",
        ),
        "TRANSACTION_ROLLED_BACK",
        409,
    )


def test_a_win_refused_for_a_rolled_back_round_is_refused_the_same_when_resent(wallet_api, token):
    ok(bet(wallet_api, token, "b1", round_id="r1"))
    ok(rollback(wallet_api, token, "rb1", "b1", round_id="r1"))
    for _ in range(2):
        refused(
            lambda: win(wallet_api, token, "w1", amount="1.00", round_id="r1"),
            "TRANSACTION_ROLLED_BACK",
            409,
        )


# --- a restricted provider ------------------------------------------------------------------


def _restrict(provider):
    services.change_provider_status(
        provider=provider, status=ProviderStatus.RESTRICTED, reason="review", actor=None
    )


def test_a_restricted_providers_bet_on_a_never_authenticated_session_is_refused(
    wallet_api, provider, token
):
    _restrict(provider)
    payload = refused(lambda: bet(wallet_api, token, "b1"), "PROVIDER_RESTRICTED", 403)
    assert payload["balance"] == "100.00"


def test_a_restricted_provider_plays_on_in_a_session_it_authenticated_before(
    wallet_api, provider, token, player
):
    ok(wallet_api.call("authenticate", session_token=token))
    _restrict(provider)
    ok(bet(wallet_api, token, "b1"))
    ok(win(wallet_api, token, "w1", amount="1.00"))
    # Authenticating again keeps the first authentication: the session still plays.
    ok(wallet_api.call("authenticate", session_token=token))
    ok(bet(wallet_api, token, "b2", round_id="r2"))


def test_a_session_authenticated_only_after_the_restriction_may_not_bet(
    wallet_api, provider, session_and_token
):
    """Authentication is refused while restricted; a session whose recorded authentication
    is not before the restriction (restored, re-restricted) is refused its bets."""
    session, token = session_and_token
    _restrict(provider)
    error(wallet_api.call("authenticate", session_token=token), "PROVIDER_RESTRICTED", 403)
    provider.refresh_from_db()
    GameSession.objects.filter(pk=session.pk).update(
        authenticated_at=provider.status_changed_at + timedelta(seconds=1)
    )
    refused(lambda: bet(wallet_api, token, "b1"), "PROVIDER_RESTRICTED", 403)


def test_wins_and_rollbacks_of_a_restricted_provider_are_still_accepted(
    wallet_api, provider, token, player
):
    ok(wallet_api.call("authenticate", session_token=token))
    ok(bet(wallet_api, token, "b1", round_id="r1"))
    ok(bet(wallet_api, token, "b2", round_id="r2"))
    GameSession.objects.filter(authenticated_at__isnull=False).update(
        authenticated_at=timezone.now()
    )
    _restrict(provider)
    provider.refresh_from_db()
    # Even if the session's authentication were after the restriction: wins pay out.
    GameSession.objects.update(authenticated_at=provider.status_changed_at + timedelta(seconds=1))
    ok(win(wallet_api, token, "w1", amount="7.00", round_id="r1"))
    ok(rollback(wallet_api, token, "rb2", "b2", round_id="r2"))
    assert available(player) == 100_00 - 10_00 + 7_00


def test_a_refusal_changes_nothing_even_for_the_session_activity(wallet_api, provider, token):
    _restrict(provider)
    before = ledger_state()
    error(bet(wallet_api, token, "b1"), "PROVIDER_RESTRICTED", 403)
    assert ledger_state() == before


def test_a_bet_on_a_session_of_a_suspended_provider_is_refused_suspended_first(
    wallet_api, provider, token
):
    ok(wallet_api.call("authenticate", session_token=token))
    services.change_provider_status(
        provider=provider, status=ProviderStatus.SUSPENDED, reason="incident", actor=None
    )
    refused(lambda: bet(wallet_api, token, "b1"), "PROVIDER_SUSPENDED", 403)


def test_limit_exceeded_is_a_contract_code():
    from wallets.errors import ERRORS_BY_CODE

    assert ERRORS_BY_CODE["LIMIT_EXCEEDED"].http_status == 403
    assert ERRORS_BY_CODE["BET_SETTLED"].http_status == 409
