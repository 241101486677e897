"""Pragmatic Play's seamless wallet ("Casino integration API", operator side), at
/wallet/pragmatic/<provider code>/<method>.html (the names without `.html` too). The
integrator's page: docs/integrations/pragmatic.md.

Authenticate: the form field `hash` is the lowercase hex MD5 of every other parameter sorted by
name, `name=value` joined by `&` (values URL-decoded, empty ones included), with the provider's
shared secret appended; compared in constant time with every usable secret of the provider
(rotation overlap). Parse: an application/x-www-form-urlencoded body, a parameter given twice
refused; amounts are decimals in major units. Call: the ledger; a player is named by `userId`
(the player's external id) and, when Pragmatic sends it, by `token` (our session token). Render:
HTTP 200 always, JSON `{"error": <int>, "description": ..., ...}` with `cash` and `bonus` as
JSON numbers carrying the currency's decimals (written from the exact amount, never a float).

Choices where the sources disagree (written down in the integration page):
- `bonusWin` is informational: the free-round spins it totals were paid by `result`; crediting
  it too would pay twice. It answers success with the balance and moves nothing, unless the
  provider's option `bonus_win_credits` says its account settles free rounds that way.
- The hash includes empty-valued parameters, unless the option `hash_skips_empty` is set.
- `refund` of an unknown bet succeeds and leaves a tombstone (a late bet with that reference is
  refused, 120); a `result` whose round has no bet is 120 (final), not 100 (retried).
- A repeat of a money call's `reference` answers success with its original `transactionId` and
  the current balance; the same reference with another amount, round or player is 7.
- `cash`, `bonus` and `currency` come with every error where the player is known.
- Calls that carry a token use it, and the token must be the `userId`'s; a credit (result,
  refund, bonusWin, jackpotWin, promoWin, endRound, adjustment) whose token is no longer known
  falls back to the player's session by `userId`, as do calls without a token.
- A `result` and the PrizeDrop it carries (`promoWinAmount`) are booked in one transaction:
  both or neither.
"""

import copy
import hashlib
import hmac
import json
from decimal import Decimal
from urllib.parse import parse_qsl

from django.db import transaction

from wallets import crypto, ledger
from wallets.adapters import credentials
from wallets.adapters.base import Adapter, Call, Option, UnknownOperation, WalletResponse
from wallets.adapters.fields import required_str
from wallets.choices import CredentialKind, CreditType, ProviderProtocol, SessionStatus
from wallets.currencies import is_known
from wallets.errors import (
    CurrencyMismatch,
    InvalidSignature,
    InvalidToken,
    ValidationFailed,
    WalletError,
)
from wallets.models import GameSession
from wallets.money import format_amount, parse_amount
from wallets.selectors import live_session, player_session, session_identity

# The ledger's outcome codes as Pragmatic's error numbers. 120 is final (Pragmatic does not
# retry it), 100 is retried; a code with no counterpart is 100.
STATUSES = {
    "VALIDATION_ERROR": 7,
    "INVALID_AMOUNT": 7,
    "CURRENCY_MISMATCH": 7,
    "DUPLICATE_MISMATCH": 7,
    "INVALID_SIGNATURE": 5,
    "SIGNATURE_EXPIRED": 5,
    "IP_NOT_ALLOWED": 5,
    "INVALID_TOKEN": 4,
    "SESSION_EXPIRED": 2,
    "INSUFFICIENT_FUNDS": 1,
    "PLAYER_BLOCKED": 6,
    "BET_DECLINED": 3,
    "PROVIDER_SUSPENDED": 8,
    "PROVIDER_RESTRICTED": 8,
    "LIMIT_EXCEEDED": 50,
    "INVALID_REFERENCE": 120,
    "BET_NOT_FOUND": 120,
    "TRANSACTION_ROLLED_BACK": 120,
    "BET_SETTLED": 120,
    "ROUND_SETTLED": 120,
    "ROUND_CLOSED": 120,
    "SESSION_LIMIT": 100,
    "INTERNAL_ERROR": 100,
    "SERVICE_UNAVAILABLE": 100,
}
# endRound's own retry code, in place of 100.
END_ROUND_RETRY = 130

DESCRIPTIONS = {
    0: "Success",
    1: "Insufficient balance",
    2: "Player not found or is logged out",
    3: "Bet is not allowed",
    4: "Player authentication failed due to invalid, not found or expired token",
    5: "Invalid hash code",
    6: "Player is frozen",
    7: "Bad parameters in the request, please check post parameters",
    8: "Game is not found or disabled",
    50: "Bet limit has been reached",
    100: "Internal server error",
    120: "Internal server error",
    130: "Internal server error",
}
# Outcomes said more precisely than their number's words (the final refusals as real operators
# word them; an address outside the allowlist, which Pragmatic has no number of its own for).
OUTCOME_DESCRIPTIONS = {
    "BET_NOT_FOUND": "Bet transaction not found",
    "INVALID_REFERENCE": "Bet transaction not found",
    "BET_SETTLED": "Transaction already processed by credit.",
    "ROUND_SETTLED": "Transaction already processed by credit.",
    "TRANSACTION_ROLLED_BACK": "Transaction already processed by refund.",
    "ROUND_CLOSED": "Round is already ended",
    "IP_NOT_ALLOWED": "IP address is not allowed",
}
MAX_DESCRIPTION = 100
MAX_PARAMETERS = 200
# Pragmatic sends a String(100) userId; references and round ids are shorter than our limit.
MAX_USER_ID = 100
MAX_TOKEN = 256

# Pragmatic's methods: (canonical operation counted by monitoring, handler).
METHODS = {
    "authenticate": ("authenticate", "op_authenticate"),
    "balance": ("balance", "op_balance"),
    "bet": ("bet", "op_bet"),
    "result": ("win", "op_result"),
    "bonusWin": ("promo", "op_bonus_win"),
    "jackpotWin": ("promo", "op_jackpot_win"),
    "promoWin": ("promo", "op_promo_win"),
    "refund": ("rollback", "op_refund"),
    "endRound": ("round/close", "op_end_round"),
    "adjustment": ("adjustment", "op_adjustment"),
}


class UnknownPlayer(InvalidToken):
    """No session of this `userId` at the provider: the player never played here. Counted as
    INVALID_TOKEN (the caller did not name a player we know); Pragmatic's error 2."""

    default_message = "player not found"


class PragmaticResponse(WalletResponse):
    """A WalletResponse whose Decimal values are written as JSON numbers exactly as they read
    ("99.50", "1000", "1.500"): Pragmatic wants numbers, and a float would round."""

    def content(self) -> bytes:
        members = (
            json.dumps(key)
            + ":"
            + (str(value) if isinstance(value, Decimal) else json.dumps(value))
            for key, value in self.payload.items()
        )
        return ("{" + ",".join(members) + "}").encode()


def hash_message(fields: dict[str, str], *, skip_empty: bool) -> bytes:
    """What Pragmatic hashes, before its secret: every parameter but `hash`, sorted by name,
    `name=value` joined by `&` (values as decoded from the form)."""
    return "&".join(
        f"{name}={value}"
        for name, value in sorted(fields.items())
        if name != "hash" and (value != "" or not skip_empty)
    ).encode()


def read_form(body: bytes) -> dict[str, str]:
    """The parameters of an x-www-form-urlencoded body; ValidationFailed when it cannot be read
    (not UTF-8, too many parameters) or names a parameter twice (which one would be hashed?)."""
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except UnicodeDecodeError:
        raise ValidationFailed("the body is not UTF-8 form data") from None
    except ValueError:
        raise ValidationFailed(f"more than {MAX_PARAMETERS} parameters") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise ValidationFailed(f"{name} is given twice", field=name)
        fields[name] = value
    return fields


def money(minor: int, currency: str) -> Decimal:
    """Minor units as the exact decimal Pragmatic reads (the currency's decimals)."""
    return Decimal(format_amount(minor, currency))


def _optional(data: dict, name: str, *, max_length: int = 128) -> str:
    """An optional parameter: absent or empty is ""."""
    if not data.get(name):
        return ""
    return required_str(data, name, max_length=max_length)


class PragmaticAdapter(Adapter):
    name = ProviderProtocol.PRAGMATIC
    title = "Pragmatic Play seamless wallet"
    operations = {
        **{f"{method}.html": entry for method, entry in METHODS.items()},
        **METHODS,
    }
    options = {
        "hash_skips_empty": Option(
            False,
            help="hash only the parameters with a value (some accounts hash that way); by "
            "default empty-valued parameters are part of the hash",
        ),
        "bonus_win_credits": Option(
            False,
            help="credit bonusWin (an account whose free-round spins are not paid through "
            "result); by default bonusWin is informational and moves no money",
        ),
    }

    # --- authenticate --------------------------------------------------------------------------

    def authenticate(self, request, known: credentials.KnownProvider) -> None:
        fields = read_form(request.body)
        request.pragmatic_form = fields
        offered = fields.get("hash", "")
        if not offered:
            raise InvalidSignature("hash is required")
        message = hash_message(
            fields, skip_empty=self.option(known.provider, "hash_skips_empty") is True
        )
        offered_bytes = offered.encode("utf-8", errors="replace")

        def matches(credential: credentials.Credential) -> bool:
            expected = hashlib.md5(message + credential.secret, usedforsecurity=False)
            return hmac.compare_digest(expected.hexdigest().encode(), offered_bytes)

        _, matched = credentials.find_credential(known, matches, kinds=(CredentialKind.HMAC,))
        if matched is None:
            raise InvalidSignature()

    # --- parse -----------------------------------------------------------------------------------

    def parse(self, operation: str, request) -> dict:
        return dict(request.pragmatic_form)

    def _amount(self, call: Call, currency: str, name: str = "amount"):
        """(minor units, rounding residue or None) of a non-negative amount in major units."""
        raw = required_str(call.data, name, max_length=64)
        parsed = parse_amount(
            raw, currency, rounding_mode=call.provider.rounding_mode or None, field=name
        )
        return parsed.minor, parsed.rounding_residue or None

    def _signed_amount(self, call: Call, currency: str):
        """(signed minor units, residue) of `amount` that may be negative (adjustment)."""
        raw = required_str(call.data, "amount", max_length=64)
        negative = raw.startswith("-")
        parsed = parse_amount(
            raw[1:] if negative else raw,
            currency,
            rounding_mode=call.provider.rounding_mode or None,
        )
        residue = parsed.rounding_residue or None
        if negative:
            return -parsed.minor, -residue if residue else None
        return parsed.minor, residue

    # --- call ------------------------------------------------------------------------------------

    def _session(self, call: Call, *, credit: bool, currency: str = ""):
        """The session the call books against. A token, when sent, names it and must be the
        `userId`'s; without one (Pragmatic may leave it out) the player's session at this
        provider: the newest open one, else the newest (a late credit). A credit whose token is
        no longer known is booked the same way, by `userId`."""
        user = required_str(call.data, "userId", max_length=MAX_USER_ID)
        token = _optional(call.data, "token", max_length=MAX_TOKEN)
        if token:
            found = live_session(call.provider.pk, crypto.token_hash(token))
            if found is not None:
                session, call.provider_status = found
                if session.player.external_id != user:
                    raise InvalidToken("the token is another player's")
                if currency and session.currency != currency:
                    raise CurrencyMismatch(f"currency must be the session's ({session.currency})")
                call.session = session
                return session
            if not credit:
                raise InvalidToken()
        session = player_session(call.provider.pk, user, currency=currency)
        if session is None:
            raise UnknownPlayer()
        call.session = session
        return session

    def _stored_session(self, call: Call, session=None, **options) -> GameSession:
        """The session as a model (the ledger's credits and adjustments link their rows to
        it), read again when the token look-up gave the wallet call's plain form."""
        session = session or self._session(call, credit=True, **options)
        if not isinstance(session, GameSession):
            session = GameSession.objects.select_related("player", "wallet").get(pk=session.pk)
            call.session = session
        return session

    def _balance_fields(self, call: Call, result: ledger.LedgerResult) -> dict:
        call.note(result)
        return {
            "currency": result.currency,
            "cash": money(result.available_minor, result.currency),
            "bonus": money(0, result.currency),
        }

    def _transaction_fields(self, call: Call, result: ledger.LedgerResult) -> dict:
        return {"transactionId": str(result.row.pk), **self._balance_fields(call, result)}

    def _wallet_fields(self, session) -> dict:
        wallet = session.wallet  # read with the session a moment ago: no money moved
        return {
            "currency": wallet.currency,
            "cash": money(wallet.available_minor, wallet.currency),
            "bonus": money(0, wallet.currency),
        }

    def op_authenticate(self, call: Call) -> dict:
        token = required_str(call.data, "token", max_length=MAX_TOKEN)
        found = live_session(call.provider.pk, crypto.token_hash(token))
        if found is None:
            raise InvalidToken()
        session, call.provider_status = found
        call.session = session
        provider = copy.copy(call.provider)  # the cached one is shared: never change it
        provider.status = call.provider_status
        ledger.authenticate(provider=provider, session=session)
        return {
            "userId": session.player.external_id,
            **self._wallet_fields(session),
            "token": token,
        }

    def op_balance(self, call: Call) -> dict:
        session = self._session(call, credit=False)
        if session.status == SessionStatus.OPEN:
            ledger.touch_session(session)
        return self._wallet_fields(session)

    def _book(self, call: Call, read, book, *, credit: bool):
        """Book with the token alone (the ledger function reads the session in the same round
        trip) when a token is sent and its session is the `userId`'s; otherwise (no token,
        another player's, gone since) the session is read first and the refusal says exactly
        why (and carries the balance). `read(currency)` reads the call's fields,
        `book(session, currency, fields)` calls the ledger."""
        user = required_str(call.data, "userId", max_length=MAX_USER_ID)
        token = _optional(call.data, "token", max_length=MAX_TOKEN)
        if token:
            token_hash = crypto.token_hash(token)
            identity = session_identity(call.provider.pk, token_hash)
            if identity is not None and identity.player_external_id == user:
                try:
                    fields = read(identity.currency)
                except WalletError:
                    self._session(call, credit=credit)  # for the refusal's balance
                    raise
                try:
                    return book(
                        ledger.SessionToken(token_hash, player_ref=user),
                        identity.currency,
                        fields,
                    )
                except InvalidToken:
                    pass  # gone since: read it, and say why
        session = self._session(call, credit=credit)
        return book(session, session.currency, read(session.currency))

    def op_bet(self, call: Call) -> dict:
        def read(currency):
            reference = required_str(call.data, "reference")
            round_id = required_str(call.data, "roundId")
            game_id = required_str(call.data, "gameId")
            amount_minor, residue = self._amount(call, currency)
            return reference, round_id, game_id, amount_minor, residue

        def book(session, currency, fields):
            reference, round_id, game_id, amount_minor, residue = fields
            # A zero amount is a free-round bet (bonusCode): taken, nothing debited.
            return ledger.bet(
                provider=call.provider,
                session=session,
                transaction_id=reference,
                round_id=round_id,
                amount_minor=amount_minor,
                currency=currency,
                game_id=game_id,
                rounding_residue=residue,
                context=call.context,
            )

        result = self._book(call, read, book, credit=False)
        return {**self._transaction_fields(call, result), "usedPromo": money(0, result.currency)}

    def op_result(self, call: Call) -> dict:
        if not call.data.get("promoWinAmount"):
            return self._plain_result(call)
        session = self._session(call, credit=True)
        reference = required_str(call.data, "reference")
        round_id = required_str(call.data, "roundId")
        required_str(call.data, "gameId")
        amount_minor, residue = self._amount(call, session.currency)
        prize_minor, prize_residue = 0, None
        if call.data.get("promoWinAmount"):
            prize_minor, prize_residue = self._amount(call, session.currency, "promoWinAmount")
        prize_reference = _optional(call.data, "promoWinReference") or f"{reference}:prizedrop"
        if prize_minor:
            session = self._stored_session(call, session)
        win = dict(
            provider=call.provider,
            session=session,
            transaction_id=reference,
            round_id=round_id,
            amount_minor=amount_minor,
            currency=session.currency,
            rounding_residue=residue,
            requires_bet=True,
            # A free round's win (bonusCode): a promotional credit in the revenue reports.
            credit_type=CreditType.FREE_ROUND if call.data.get("bonusCode") else "",
            context=call.context,
        )
        if not prize_minor:
            return self._transaction_fields(call, ledger.win(**win))
        # The round's win and the PrizeDrop it carries: both or neither.
        with transaction.atomic():
            won = ledger.win(**win)
            prize = ledger.credit_promo(
                provider=call.provider,
                player=session.player,
                currency=session.currency,
                transaction_id=prize_reference,
                amount_minor=prize_minor,
                credit_type=CreditType.PROMO,
                round_id=round_id,
                session=session,
                rounding_residue=prize_residue,
                note=self._campaign_note(call, "PrizeDrop"),
                context=call.context,
            )
        call.note(won)
        return {"transactionId": str(won.row.pk), **self._balance_fields(call, prize)}

    def _plain_result(self, call: Call) -> dict:
        """A result with no PrizeDrop: one win, by the token alone when it can be."""

        def read(currency):
            reference = required_str(call.data, "reference")
            round_id = required_str(call.data, "roundId")
            required_str(call.data, "gameId")
            amount_minor, residue = self._amount(call, currency)
            return reference, round_id, amount_minor, residue

        def book(session, currency, fields):
            reference, round_id, amount_minor, residue = fields
            return ledger.win(
                provider=call.provider,
                session=session,
                transaction_id=reference,
                round_id=round_id,
                amount_minor=amount_minor,
                currency=currency,
                rounding_residue=residue,
                requires_bet=True,
                # A free round's win (bonusCode): a promotional credit in the revenue reports.
                credit_type=CreditType.FREE_ROUND if call.data.get("bonusCode") else "",
                context=call.context,
            )

        return self._transaction_fields(call, self._book(call, read, book, credit=True))

    def _credit(self, call: Call, credit_type: str, *, note: str, currency: str = "") -> dict:
        """A credit with no stake (jackpot, promotion, free rounds' total), by `reference`."""
        session = self._stored_session(call, currency=currency)
        reference = required_str(call.data, "reference")
        amount_minor, residue = self._amount(call, session.currency)
        result = ledger.credit_promo(
            provider=call.provider,
            player=session.player,
            currency=session.currency,
            transaction_id=reference,
            amount_minor=amount_minor,
            credit_type=credit_type,
            round_id=_optional(call.data, "roundId"),
            session=session,
            rounding_residue=residue,
            note=note,
            context=call.context,
        )
        return self._transaction_fields(call, result)

    def _campaign_note(self, call: Call, what: str) -> str:
        details = [
            f"{name} {call.data[name]}"
            for name in ("bonusCode", "jackpotId", "campaignId", "campaignType", "promoCampaignID")
            if call.data.get(name)
        ]
        return f"{what}: {', '.join(details)}" if details else what

    def op_bonus_win(self, call: Call) -> dict:
        if call.option("bonus_win_credits") is True:
            required_str(call.data, "bonusCode")
            return self._credit(
                call, CreditType.FREE_ROUND, note=self._campaign_note(call, "free rounds")
            )
        # Informational: the spins it totals were paid by `result`. Read, checked, answered.
        session = self._session(call, credit=True)
        required_str(call.data, "reference")
        required_str(call.data, "bonusCode")
        self._amount(call, session.currency)
        return {"transactionId": "", **self._wallet_fields(session)}

    def op_jackpot_win(self, call: Call) -> dict:
        required_str(call.data, "jackpotId")
        required_str(call.data, "roundId")
        return self._credit(call, CreditType.JACKPOT, note=self._campaign_note(call, "jackpot"))

    def op_promo_win(self, call: Call) -> dict:
        currency = required_str(call.data, "currency", max_length=16)
        if not is_known(currency):
            raise CurrencyMismatch(f"unknown currency {currency!r}", field="currency")
        required_str(call.data, "campaignId")
        kinds = required_str(call.data, "campaignType").split(",")
        # A tournament prize is a reward; cash back, community jackpots and the rest promotions.
        credit_type = CreditType.REWARD if "T" in kinds else CreditType.PROMO
        return self._credit(
            call, credit_type, note=self._campaign_note(call, "promotion"), currency=currency
        )

    def op_refund(self, call: Call) -> dict:
        session = self._session(call, credit=True)
        reference = required_str(call.data, "reference")
        # The refund names its bet by the bet's own reference: its own id lives apart.
        result = ledger.rollback(
            provider=call.provider,
            session=session,
            transaction_id=reference,
            reference_transaction_id=reference,
            round_id=_optional(call.data, "roundId"),
            id_namespace="refund",
            context=call.context,
        )
        call.note(result)
        return {"transactionId": str(result.row.pk)}

    def op_end_round(self, call: Call) -> dict:
        session = self._session(call, credit=True)
        required_str(call.data, "gameId")
        round_id = required_str(call.data, "roundId")
        result = ledger.close_round(provider=call.provider, session=session, round_id=round_id)
        fields = self._balance_fields(call, result)
        return {"cash": fields["cash"], "bonus": fields["bonus"]}

    def op_adjustment(self, call: Call) -> dict:
        session = self._stored_session(call)
        reference = required_str(call.data, "reference")
        round_id = required_str(call.data, "roundId")
        required_str(call.data, "gameId")
        delta_minor, residue = self._signed_amount(call, session.currency)
        result = ledger.settle_adjustment(
            provider=call.provider,
            session=session,
            transaction_id=reference,
            round_id=round_id,
            delta_minor=delta_minor,
            currency=session.currency,
            rounding_residue=residue,
            context=call.context,
        )
        return self._transaction_fields(call, result)

    # --- render ----------------------------------------------------------------------------------

    def render_ok(self, call: Call, payload: dict) -> WalletResponse:
        return PragmaticResponse(
            200, {**payload, "error": 0, "description": DESCRIPTIONS[0]}, protocol_status="0"
        )

    def status(self, call: Call | None, error: WalletError) -> int:
        """Pragmatic's error number for `error` in this call."""
        if isinstance(error, UnknownPlayer):
            return 2
        operation = call.operation if call else ""
        if operation == "authenticate" and error.code == "SESSION_EXPIRED":
            return 4  # the launch token has expired
        code = STATUSES.get(error.code, 100)
        if code == 100 and operation == "round/close":
            return END_ROUND_RETRY
        return code

    def render_error(self, call: Call | None, error: WalletError) -> WalletResponse:
        code = self.status(call, error)
        if code == 7:
            description = f"Bad parameters in the request: {error.message}"
        else:
            description = OUTCOME_DESCRIPTIONS.get(error.code) or DESCRIPTIONS[code]
        body = {"error": code, "description": description[:MAX_DESCRIPTION]}
        if isinstance(error, UnknownOperation):
            return PragmaticResponse(404, body, protocol_status=str(code))
        balance_minor, currency = error.balance_minor, error.currency
        session = call.session if call else None
        if balance_minor is None and session is not None:
            wallet = session.wallet
            balance_minor, currency = wallet.available_minor, wallet.currency
        if balance_minor is not None and currency:
            body["cash"] = money(balance_minor, currency)
            body["bonus"] = money(0, currency)
            body["currency"] = currency
        return PragmaticResponse(200, body, protocol_status=str(code))
