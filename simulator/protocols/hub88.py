"""Hub88's operator wallet API as Hub88 calls an operator: JSON bodies signed with Hub88's RSA
private key (X-Hub88-Signature, base64 PKCS#1 v1.5 SHA-256 of the raw body), amounts in
integer units of 1/100,000, RS_* statuses in HTTP 200 answers."""

import base64
import json
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulator.clients import exponent
from simulator.protocols.base import Answer, ProtocolClient, ProtocolKit, Seat

UNITS = 100_000

# Hub88's statuses read back in the ledger's terms (the adapter's table, reversed).
CANONICAL = {
    "RS_OK": "OK",
    "RS_ERROR_WRONG_SYNTAX": "VALIDATION_ERROR",
    "RS_ERROR_WRONG_TYPES": "VALIDATION_ERROR",
    "RS_ERROR_WRONG_CURRENCY": "CURRENCY_MISMATCH",
    "RS_ERROR_INVALID_SIGNATURE": "INVALID_SIGNATURE",
    "RS_ERROR_INVALID_TOKEN": "INVALID_TOKEN",
    "RS_ERROR_TOKEN_EXPIRED": "SESSION_EXPIRED",
    "RS_ERROR_NOT_ENOUGH_MONEY": "INSUFFICIENT_FUNDS",
    "RS_ERROR_INVALID_PARTNER": "PROVIDER_SUSPENDED",
    "RS_ERROR_USER_DISABLED": "PLAYER_BLOCKED",
    "RS_ERROR_LIMIT_REACHED": "LIMIT_EXCEEDED",
    "RS_ERROR_TRANSACTION_DOES_NOT_EXIST": "BET_NOT_FOUND",
    "RS_ERROR_DUPLICATE_TRANSACTION": "DUPLICATE_MISMATCH",
    "RS_ERROR_TRANSACTION_ROLLED_BACK": "TRANSACTION_ROLLED_BACK",
    "RS_ERROR_UNKNOWN": "INTERNAL_ERROR",
}


def new_key_pair() -> tuple[str, str]:
    """(private key PEM, public key PEM): a key pair for a sandbox provider."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def to_units(minor: int, currency: str) -> int:
    return minor * UNITS // 10 ** exponent(currency)


def to_minor(units: int, currency: str) -> int:
    return units * 10 ** exponent(currency) // UNITS


class Hub88Client(ProtocolClient):
    protocol = "hub88"

    def __init__(self, transport, provider_code: str, private_key_pem: str, *, caleta=False):
        self.transport = transport
        self.prefix = f"/wallet/hub88/{provider_code}/"
        self.key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        self.caleta = caleta  # Caleta's /wallet/* spelling

    def sign(self, body: bytes) -> str:
        signature = self.key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def send(self, path: str, fields: dict, *, signature: str | None = None, raw: bytes = b""):
        body = raw or json.dumps(fields, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub88-Signature": self.sign(body) if signature is None else signature,
        }
        return self.transport.request("POST", self.prefix + path, body, headers)

    def call(self, operation: str, fields: dict, **options) -> Answer:
        paths = {
            "balance": "wallet/balance" if self.caleta else "user/balance",
            "bet": "wallet/bet" if self.caleta else "transaction/bet",
            "win": "wallet/win" if self.caleta else "transaction/win",
            "rollback": "wallet/rollback" if self.caleta else "transaction/rollback",
            "info": "user/info",
        }
        fields = {"request_uuid": str(uuid.uuid4()), **fields}
        result = self.send(paths[operation], fields, **options)
        return self.answer(result, fields.get("currency"))

    def answer(self, result, currency: str | None) -> Answer:
        body = result.body if isinstance(result.body, dict) else {}
        status = str(body.get("status", f"HTTP_{result.status}"))
        balance = body.get("balance")
        currency = body.get("currency") or currency
        balance_minor = (
            to_minor(balance, currency)
            if isinstance(balance, int) and not isinstance(balance, bool) and currency
            else None
        )
        return Answer(result, status, CANONICAL.get(status, status), balance_minor)

    # --- the canonical operations ----------------------------------------------------------

    def _base(self, seat: Seat) -> dict:
        return {"user": seat.user, "token": seat.token, "game_code": "kit-slot"}

    def balance(self, seat: Seat) -> Answer:
        return self.call("balance", self._base(seat))

    def bet(self, seat: Seat, txn: str, round_id: str, amount_minor: int, **extra) -> Answer:
        return self.call(
            "bet",
            {
                **self._base(seat),
                "transaction_uuid": txn,
                "round": round_id,
                "amount": to_units(amount_minor, seat.currency),
                "currency": seat.currency,
                "is_free": False,
                "bet": "kit",
                **extra,
            },
        )

    def win(
        self,
        seat: Seat,
        txn: str,
        round_id: str,
        amount_minor: int,
        *,
        bet_txn: str,
        close: bool = False,
        **extra,
    ) -> Answer:
        return self.call(
            "win",
            {
                **self._base(seat),
                "transaction_uuid": txn,
                "reference_transaction_uuid": bet_txn,
                "round": round_id,
                "round_closed": close,
                "amount": to_units(amount_minor, seat.currency),
                "currency": seat.currency,
                "is_free": False,
                "bet": "kit",
                **extra,
            },
        )

    def rollback(self, seat: Seat, txn: str, reference: str, round_id: str, **extra) -> Answer:
        return self.call(
            "rollback",
            {
                **self._base(seat),
                "transaction_uuid": txn,
                "reference_transaction_uuid": reference,
                "round": round_id,
                **extra,
            },
        )


class Hub88Kit(ProtocolKit):
    """Hub88's cases (from Hub88's status table and the public Caleta test list) and the
    edge cases every protocol kit checks."""

    def cases(self):
        return [
            ("balance", self.case_balance),
            ("signature", self.case_signature),
            ("bet", self.case_bets),
            ("win", self.case_wins),
            ("rollback", self.case_rollbacks),
            ("edge", self.case_edges),
            ("after_close", self.case_after_close),
        ]

    @property
    def seat(self) -> Seat:
        return self.seats[0]

    def start(self) -> int | None:
        answer = self.client.balance(self.seat)
        return answer.balance_minor if answer.ok else None

    def case_balance(self):
        answer = self.client.balance(self.seat)
        self.check(
            "balance.ok",
            answer.ok and answer.balance_minor is not None,
            "user/balance: RS_OK with the balance in 1/100,000 units",
            f"user/balance: {answer.status} {answer.http.body}",
        )
        echo = answer.http.body if isinstance(answer.http.body, dict) else {}
        self.check(
            "balance.echo",
            echo.get("user") == self.seat.user and bool(echo.get("request_uuid")),
            "user and request_uuid echoed",
            f"echo: {echo}",
        )
        ghost = Seat(f"no-such-token-{self.prefix}", self.seat.user, self.seat.currency)
        self.expect(
            "balance.unknown_token", self.client.balance(ghost), "RS_ERROR_INVALID_TOKEN", "token"
        )
        other_user = Seat(self.seat.token, f"someone-else-{self.prefix}", self.seat.currency)
        self.expect(
            "balance.other_user",
            self.client.balance(other_user),
            "RS_ERROR_INVALID_TOKEN",
            "a token sent with another user",
        )

    def case_signature(self):
        fields = {"user": self.seat.user, "token": self.seat.token, "request_uuid": "sig-check"}
        body = json.dumps(fields).encode()
        wrong = Hub88Client(self.client.transport, "x", new_key_pair()[0]).sign(body)
        result = self.client.send("user/balance", fields, signature=wrong, raw=body)
        self.expect(
            "signature.other_key",
            self.client.answer(result, None),
            "RS_ERROR_INVALID_SIGNATURE",
            "signed with another key",
        )
        tampered = self.client.send(
            "user/balance", fields, signature=self.client.sign(body), raw=body + b" "
        )
        self.expect(
            "signature.body_tampered",
            self.client.answer(tampered, None),
            "RS_ERROR_INVALID_SIGNATURE",
            "signature of another body",
        )
        garbage = self.client.send("user/balance", fields, signature="%%%", raw=body)
        self.expect(
            "signature.garbage",
            self.client.answer(garbage, None),
            "RS_ERROR_INVALID_SIGNATURE",
            "a signature that is not base64",
        )

    def case_bets(self):
        start = self.start()
        unit = 10 ** exponent(self.seat.currency)
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        placed = self.client.bet(self.seat, bet_id, round_id, unit)
        self.expect("bet.ok", placed, "RS_OK", "bet of 1.00", balance_minor=start - unit)
        again = self.client.bet(self.seat, bet_id, round_id, unit)
        self.expect(
            "bet.duplicate", again, "RS_OK", "the same bet again", balance_minor=start - unit
        )
        self.expect(
            "bet.duplicate_other_amount",
            self.client.bet(self.seat, bet_id, round_id, 2 * unit),
            "RS_ERROR_DUPLICATE_TRANSACTION",
            "the same transaction_uuid with another amount",
        )
        self.expect(
            "bet.duplicate_other_round",
            self.client.bet(self.seat, bet_id, self.new_id("round"), unit),
            "RS_ERROR_DUPLICATE_TRANSACTION",
            "the same transaction_uuid in another round",
        )
        # Several bets in one round (extra balls).
        for _ in range(2):
            self.client.bet(self.seat, self.new_id("bet"), round_id, unit)
        self.expect(
            "bet.many_in_a_round",
            self.client.balance(self.seat),
            "RS_OK",
            "three bets in one round",
            balance_minor=start - 3 * unit,
        )
        self.expect(
            "bet.not_enough_money",
            self.client.bet(self.seat, self.new_id("bet"), self.new_id("round"), 10**12),
            "RS_ERROR_NOT_ENOUGH_MONEY",
            "a bet above the balance (the balance comes with it)",
            balance_minor=start - 3 * unit,
        )
        other = "JPY" if self.seat.currency != "JPY" else "EUR"
        self.expect(
            "bet.wrong_currency",
            self.client.bet(
                self.seat, self.new_id("bet"), self.new_id("round"), unit, currency=other
            ),
            "RS_ERROR_WRONG_CURRENCY",
            f"a bet in {other}",
        )
        self.expect(
            "bet.negative",
            self.client.bet(self.seat, self.new_id("bet"), self.new_id("round"), unit, amount=-1),
            ("RS_ERROR_WRONG_TYPES", "RS_ERROR_WRONG_SYNTAX"),
            "a negative amount",
        )
        self.expect(
            "bet.amount_as_string",
            self.client.bet(
                self.seat, self.new_id("bet"), self.new_id("round"), unit, amount="100000"
            ),
            "RS_ERROR_WRONG_TYPES",
            "an amount that is not an integer",
        )
        free = self.client.bet(
            self.seat, self.new_id("bet"), self.new_id("round"), 5 * unit, is_free=True
        )
        self.expect(
            "bet.is_free",
            free,
            "RS_OK",
            "a free bet (is_free): the promotion pays the stake",
            balance_minor=start - 3 * unit,
        )

    def case_wins(self):
        start = self.start()
        unit = 10 ** exponent(self.seat.currency)
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, bet_id, round_id, unit)
        win_id = self.new_id("win")
        won = self.client.win(self.seat, win_id, round_id, 2 * unit, bet_txn=bet_id, close=True)
        self.expect(
            "win.ok", won, "RS_OK", "win of 2.00 on a bet of 1.00", balance_minor=start + unit
        )
        again = self.client.win(self.seat, win_id, round_id, 2 * unit, bet_txn=bet_id, close=True)
        self.expect(
            "win.duplicate", again, "RS_OK", "the same win again", balance_minor=start + unit
        )
        self.expect(
            "win.missing_bet",
            self.client.win(
                self.seat, self.new_id("win"), self.new_id("round"), unit, bet_txn="no-such-bet"
            ),
            "RS_ERROR_TRANSACTION_DOES_NOT_EXIST",
            "a win whose bet is unknown",
        )
        self.expect(
            "win.reuses_the_bets_uuid",
            self.client.win(self.seat, bet_id, round_id, unit, bet_txn=bet_id),
            "RS_ERROR_DUPLICATE_TRANSACTION",
            "a win reusing its bet's transaction_uuid",
        )
        zero_bet, zero_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, zero_bet, zero_round, unit)
        self.expect(
            "edge.zero_credit",
            self.client.win(self.seat, self.new_id("win"), zero_round, 0, bet_txn=zero_bet),
            "RS_OK",
            "a win of 0 (a lost round)",
            balance_minor=start,
        )
        big_bet, big_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, big_bet, big_round, unit)
        big = 63_727_092 * unit
        self.expect(
            "edge.big_payout",
            self.client.win(self.seat, self.new_id("win"), big_round, big, bet_txn=big_bet),
            "RS_OK",
            "a payout of 63,727,092.00",
            balance_minor=start - unit + big,
        )
        back_bet, back_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, back_bet, back_round, big)
        self.expect(
            "edge.big_payout_staked_back",
            self.client.balance(self.seat),
            "RS_OK",
            "the payout staked again",
            balance_minor=start - unit,
        )
        self.client.win(self.seat, self.new_id("win"), back_round, unit, bet_txn=back_bet)

    def case_rollbacks(self):
        start = self.start()
        unit = 10 ** exponent(self.seat.currency)
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, bet_id, round_id, unit)
        rb_id = self.new_id("rb")
        self.expect(
            "rollback.bet",
            self.client.rollback(self.seat, rb_id, bet_id, round_id),
            "RS_OK",
            "rollback of a bet: refunded",
            balance_minor=start,
        )
        self.expect(
            "rollback.duplicate",
            self.client.rollback(self.seat, rb_id, bet_id, round_id),
            "RS_OK",
            "the same rollback again",
            balance_minor=start,
        )
        self.expect(
            "rollback.then_win",
            self.client.win(self.seat, self.new_id("win"), round_id, unit, bet_txn=bet_id),
            "RS_ERROR_TRANSACTION_ROLLED_BACK",
            "a win after its bet was rolled back",
        )
        ghost, ghost_round = self.new_id("bet"), self.new_id("round")
        self.expect(
            "edge.cancel_before_debit",
            self.client.rollback(self.seat, self.new_id("rb"), ghost, ghost_round),
            "RS_OK",
            "rollback of an unknown transaction: RS_OK with the balance",
            balance_minor=start,
        )
        self.expect(
            "edge.debit_after_cancel",
            self.client.bet(self.seat, ghost, ghost_round, unit),
            "RS_ERROR_TRANSACTION_ROLLED_BACK",
            "the bet arriving after its rollback",
            balance_minor=start,
        )
        # Two bets in a round, one rolled back, the other wins.
        first, second, multi = self.new_id("bet"), self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, first, multi, unit)
        self.client.bet(self.seat, second, multi, unit)
        self.client.rollback(self.seat, self.new_id("rb"), first, multi)
        self.expect(
            "rollback.one_of_two_bets",
            self.client.win(self.seat, self.new_id("win"), multi, unit, bet_txn=second),
            "RS_OK",
            "rollback of one of two bets, then a win on the other",
            balance_minor=start,
        )
        # A win rolled back (the provider voids a spin it paid).
        win_bet, win_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, win_bet, win_round, unit)
        win_id = self.new_id("win")
        self.client.win(self.seat, win_id, win_round, 3 * unit, bet_txn=win_bet)
        self.expect(
            "rollback.win",
            self.client.rollback(self.seat, self.new_id("rb"), win_id, win_round),
            "RS_OK",
            "rollback of a win: reversed",
            balance_minor=start - unit,
        )
        self.client.rollback(self.seat, self.new_id("rb"), win_bet, win_round)

    def case_edges(self):
        start = self.start()
        unit = 10 ** exponent(self.seat.currency)
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        extra = {"meta": {"anything": [1, 2]}, "some_future_field": "ignored"}
        self.expect(
            "edge.unknown_fields_ignored",
            self.client.bet(self.seat, bet_id, round_id, unit, **extra),
            "RS_OK",
            "a bet with fields the wallet does not know",
            balance_minor=start - unit,
        )
        many_round = self.new_id("round")
        for _ in range(10):
            b = self.new_id("bet")
            self.client.bet(self.seat, b, many_round, unit)
            self.client.win(self.seat, self.new_id("win"), many_round, unit, bet_txn=b)
        self.expect(
            "edge.many_debits_and_credits",
            self.client.balance(self.seat),
            "RS_OK",
            "ten bets and ten wins in one round",
            balance_minor=start - unit,
        )
        self.client.win(self.seat, self.new_id("win"), round_id, unit, bet_txn=bet_id)

    def case_after_close(self):
        if len(self.seats) < 2:
            self.record("after_close", "SKIP", "needs a second seat whose session the kit may end")
            return
        seat = self.seats[1]
        unit = 10 ** exponent(seat.currency)
        start = self.client.balance(seat).balance_minor
        win_bet, win_round = self.new_id("bet"), self.new_id("round")
        rb_bet, rb_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(seat, win_bet, win_round, unit)
        self.client.bet(seat, rb_bet, rb_round, unit)
        if not self.end_session(seat):
            self.record("after_close", "SKIP", "the kit could not end the second session")
            return
        self.expect(
            "after_close.bet",
            self.client.bet(seat, self.new_id("bet"), self.new_id("round"), unit),
            "RS_ERROR_TOKEN_EXPIRED",
            "a bet on an ended session",
        )
        self.expect(
            "edge.expired_token_on_credit",
            self.client.win(seat, self.new_id("win"), win_round, 2 * unit, bet_txn=win_bet),
            "RS_OK",
            "a win after the session ended",
            balance_minor=start,
        )
        self.expect(
            "edge.expired_token_on_cancel",
            self.client.rollback(seat, self.new_id("rb"), rb_bet, rb_round),
            "RS_OK",
            "a rollback after the session ended",
            balance_minor=start + unit,
        )

    # Set by the caller: ends a seat's session (through the back-office API). None: skip.
    end_session = staticmethod(lambda seat: False)
