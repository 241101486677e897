"""The SoftSwiss game aggregator's casino wallet API (BGaming's too) as the aggregator calls a
casino: JSON bodies signed with the shared secret (`X-Request-Sign`, lowercase hex
HMAC-SHA256 of the raw body), amounts in integer subunits of the currency, answers HTTP 200
`{"balance", "game_id", "transactions"}` or an HTTP error status with `{"code", "message"}`.

The protocol's status of an answer is written "<HTTP status>" for a success and
"<HTTP status>/<code>" for a refusal ("412/100")."""

import hashlib
import hmac
import json

from simulator.clients import exponent
from simulator.protocols.base import Answer, ProtocolClient, ProtocolKit, Seat

GAME = "acceptance:test"  # the game SoftSwiss's acceptance run plays

# SoftSwiss codes read back in the ledger's terms (the adapter's table, reversed).
CANONICAL = {
    100: "INSUFFICIENT_FUNDS",
    101: "INVALID_TOKEN",
    105: "LIMIT_EXCEEDED",
    107: "SESSION_EXPIRED",
    110: "PLAYER_BLOCKED",
    154: "CURRENCY_MISMATCH",
    400: "VALIDATION_ERROR",
    403: "INVALID_SIGNATURE",
    404: "BET_NOT_FOUND",
    405: "PROVIDER_RESTRICTED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def tx_ids(answer: Answer) -> list[str]:
    """The tx_id of each action in an answer (empty list when it has none)."""
    body = answer.http.body if isinstance(answer.http.body, dict) else {}
    transactions = body.get("transactions")
    if not isinstance(transactions, list):
        return []
    return [t.get("tx_id") if isinstance(t, dict) else None for t in transactions]


class SoftSwissClient(ProtocolClient):
    protocol = "softswiss"

    def __init__(self, transport, provider_code: str, secret: str, *, game: str = GAME):
        self.transport = transport
        self.prefix = f"/wallet/softswiss/{provider_code}/"
        self.secret = secret.encode()
        self.game = game

    def sign(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    def send(self, path: str, fields: dict, *, signature: str | None = None, raw: bytes = b""):
        body = raw or json.dumps(fields, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Request-Sign": self.sign(body) if signature is None else signature,
        }
        return self.transport.request("POST", self.prefix + path, body, headers)

    @staticmethod
    def answer(result, *, rollback: bool = False) -> Answer:
        """A SoftSwiss answer in the ledger's terms. A play answered 200 with an empty tx_id
        was not applied (an action rolled back); a rollback's empty tx_id is a rollback of an
        unknown action, which succeeds."""
        body = result.body if isinstance(result.body, dict) else {}
        balance = body.get("balance")
        balance_minor = balance if type(balance) is int else None
        if result.status == 200:
            status, canonical = "200", "OK"
            ids = tx_ids(Answer(result, "", ""))
            if not rollback and "" in ids:
                canonical = "TRANSACTION_ROLLED_BACK"
        else:
            code = body.get("code")
            status = f"{result.status}/{code}"
            canonical = CANONICAL.get(code, status) if type(code) is int else status
        return Answer(result, status, canonical, balance_minor)

    # --- calls -------------------------------------------------------------------------------

    def envelope(self, seat: Seat, round_id: str = "", finished: bool = False) -> dict:
        return {
            "user_id": seat.user,
            "currency": seat.currency,
            "game": self.game,
            "game_id": round_id,
            "session_id": seat.token,
            "finished": finished,
        }

    def play(
        self,
        seat: Seat,
        round_id: str,
        actions: list[tuple[str, str, int]],
        *,
        finished: bool = False,
        **extra,
    ) -> Answer:
        """`actions`: (bet|win, action_id, amount in minor units), in order."""
        fields = {
            **self.envelope(seat, round_id, finished),
            "actions": [
                {"action": kind, "action_id": action_id, "amount": amount}
                for kind, action_id, amount in actions
            ],
            **extra,
        }
        return self.answer(self.send("play", fields))

    def rollbacks(self, seat: Seat, round_id: str, pairs: list[tuple[str, str]], **extra) -> Answer:
        """`pairs`: (the rollback's action_id, original_action_id)."""
        fields = {
            **self.envelope(seat, round_id, True),
            "actions": [
                {"action": "rollback", "action_id": own, "original_action_id": original}
                for own, original in pairs
            ],
            **extra,
        }
        return self.answer(self.send("rollback", fields), rollback=True)

    def freespins(self, fields: dict) -> Answer:
        return self.answer(self.send("freespins", fields))

    # --- the canonical operations (amounts in minor units: the protocol's own) -------------

    def balance(self, seat: Seat) -> Answer:
        return self.answer(self.send("play", {**self.envelope(seat), "actions": []}))

    def bet(self, seat: Seat, txn: str, round_id: str, amount_minor: int, **extra) -> Answer:
        return self.play(seat, round_id, [("bet", txn, amount_minor)], **extra)

    def win(
        self,
        seat: Seat,
        txn: str,
        round_id: str,
        amount_minor: int,
        *,
        bet_txn: str = "",
        close: bool = False,
        **extra,
    ) -> Answer:
        # SoftSwiss names no bet in a win: the round (game_id) is what ties them.
        return self.play(seat, round_id, [("win", txn, amount_minor)], finished=close, **extra)

    def rollback(self, seat: Seat, txn: str, reference: str, round_id: str, **extra) -> Answer:
        return self.rollbacks(seat, round_id, [(txn, reference)], **extra)


class SoftSwissKit(ProtocolKit):
    """The checks derived from the operator implementations of SoftSwiss's API (its own
    acceptance list is not public) and the edge cases every protocol kit checks."""

    def cases(self):
        return [
            ("balance", self.case_balance),
            ("signature", self.case_signature),
            ("request", self.case_requests),
            ("play", self.case_play),
            ("rollback", self.case_rollbacks),
            ("freespins", self.case_freespins),
            ("edge", self.case_edges),
            ("after_close", self.case_after_close),
        ]

    @property
    def seat(self) -> Seat:
        return self.seats[0]

    @property
    def unit(self) -> int:
        return 10 ** exponent(self.seat.currency)

    def start(self) -> int | None:
        answer = self.client.balance(self.seat)
        return answer.balance_minor if answer.ok else None

    def applied(self, rule: str, answer: Answer, what: str, *, count: int, balance: int) -> bool:
        """200, `count` transactions each with a tx_id, and the balance after."""
        ids = tx_ids(answer)
        good = (
            answer.status == "200"
            and len(ids) == count
            and all(isinstance(i, str) and i for i in ids)
            and answer.balance_minor == balance
        )
        return self.check(
            rule,
            good,
            f"{what}: 200, {count} tx_id(s), balance {balance}",
            f"{what}: {answer.status} balance {answer.balance_minor} (wanted {balance}) "
            f"{answer.http.body}",
        )

    def not_applied(self, rule: str, answer: Answer, what: str, *, balance: int) -> bool:
        """200 with every tx_id empty, the balance unchanged: acknowledged, not applied."""
        ids = tx_ids(answer)
        good = (
            answer.status == "200" and ids and set(ids) == {""} and answer.balance_minor == balance
        )
        return self.check(
            rule,
            bool(good),
            f"{what}: 200, empty tx_id, balance {balance} unchanged",
            f"{what}: {answer.status} {answer.http.body} (wanted balance {balance})",
        )

    # --- cases -------------------------------------------------------------------------------

    def case_balance(self):
        answer = self.client.balance(self.seat)
        body = answer.http.body if isinstance(answer.http.body, dict) else {}
        self.check(
            "balance.ok",
            answer.status == "200" and set(body) == {"balance"} and type(body["balance"]) is int,
            "empty actions: 200 {balance} as an integer of subunits",
            f"balance request: {answer.status} {answer.http.body}",
        )
        absent = self.client.send(
            "play", {k: v for k, v in self.client.envelope(self.seat).items()}
        )
        self.expect(
            "balance.actions_absent",
            self.client.answer(absent),
            "200",
            "no actions at all: a balance request",
            balance_minor=answer.balance_minor,
        )
        ghost = Seat(self.seat.token, f"no-such-user-{self.prefix}", self.seat.currency)
        self.expect("balance.unknown_user", self.client.balance(ghost), "412/101", "unknown user")
        stranger = Seat(f"no-such-session-{self.prefix}", self.seat.user, self.seat.currency)
        self.expect(
            "balance.unknown_session",
            self.client.balance(stranger),
            "412/101",
            "a session_id the wallet never issued",
        )
        other = "JPY" if self.seat.currency != "JPY" else "EUR"
        self.expect(
            "balance.wrong_currency",
            self.client.balance(Seat(self.seat.token, self.seat.user, other)),
            "412/154",
            f"a balance request in {other}",
        )

    def case_signature(self):
        fields = {**self.client.envelope(self.seat), "actions": []}
        body = json.dumps(fields).encode()
        wrong = SoftSwissClient(self.client.transport, "x", "not-the-secret").sign(body)
        answer = self.client.answer(self.client.send("play", fields, signature=wrong, raw=body))
        message = answer.http.body.get("message") if isinstance(answer.http.body, dict) else None
        self.check(
            "signature.wrong",
            answer.status == "403/403" and message == "Request sign doesn't match",
            "signed with another secret: 403 code 403",
            f"wrong sign: {answer.status} {answer.http.body}",
        )
        tampered = self.client.send(
            "play", fields, signature=self.client.sign(body), raw=body + b" "
        )
        self.expect(
            "signature.body_tampered",
            self.client.answer(tampered),
            "403/403",
            "the sign of another body",
        )
        missing = self.client.send("play", fields, signature="", raw=body)
        self.expect(
            "signature.missing", self.client.answer(missing), "403/403", "no X-Request-Sign"
        )
        upper = self.client.send("play", fields, signature=self.client.sign(body).upper(), raw=body)
        self.expect(
            "signature.uppercase_hex",
            self.client.answer(upper),
            "403/403",
            "the sign in uppercase hex (the protocol's is lowercase)",
        )

    def case_requests(self):
        self.expect(
            "request.malformed_json",
            self.client.answer(self.client.send("play", {}, raw=b'{"user_id": ')),
            "400/400",
            "a body that is not JSON",
        )
        twice = b'{"user_id": "a", "user_id": "b", "actions": []}'
        self.expect(
            "request.key_twice",
            self.client.answer(self.client.send("play", {}, raw=twice)),
            "400/400",
            "a key twice in one object",
        )
        self.expect(
            "request.unknown_path",
            self.client.answer(self.client.send("teleport", {})),
            "404/404",
            "a path the protocol does not have",
        )

    def case_play(self):
        start = self.start()
        unit = self.unit
        round_id, bet_id, win_id = self.new_id("round"), self.new_id("bet"), self.new_id("win")
        spin = [("bet", bet_id, unit), ("win", win_id, 3 * unit)]
        first = self.client.play(self.seat, round_id, spin, finished=True)
        self.applied(
            "play.bet_and_win",
            first,
            "a bet of 1.00 and a win of 3.00 in one call",
            count=2,
            balance=start + 2 * unit,
        )
        body = first.http.body if isinstance(first.http.body, dict) else {}
        self.check(
            "play.answer_fields",
            body.get("game_id") == round_id
            and [t.get("action_id") for t in body.get("transactions", [])] == [bet_id, win_id]
            and all(
                isinstance(t.get("processed_at"), str) and t["processed_at"].endswith("Z")
                for t in body.get("transactions", [])
            ),
            "game_id echoed; action_id and processed_at (ISO 8601 UTC) per action, in order",
            f"answer: {body}",
        )
        again = self.client.play(self.seat, round_id, spin, finished=True)
        self.check(
            "play.replay",
            again.status == "200"
            and tx_ids(again) == tx_ids(first)
            and again.balance_minor == start + 2 * unit,
            "the same call again: the same tx_ids, money moved once",
            f"replay: {again.status} {again.http.body}",
        )
        now = start + 2 * unit
        short = self.client.play(
            self.seat,
            self.new_id("round"),
            [("bet", self.new_id("bet"), now + unit), ("win", self.new_id("win"), 5 * unit)],
        )
        self.expect(
            "play.not_enough_funds",
            short,
            "412/100",
            "a bet above the balance, with its win: nothing applied, the balance given",
            balance_minor=now,
        )
        both = self.client.play(
            self.seat,
            self.new_id("round"),
            [("bet", self.new_id("bet"), unit), ("bet", self.new_id("bet"), now)],
        )
        self.expect(
            "play.atomic",
            both,
            "412/100",
            "the second bet of a call unfundable: the first is not applied either",
            balance_minor=now,
        )
        other = "JPY" if self.seat.currency != "JPY" else "EUR"
        self.expect(
            "play.wrong_currency",
            self.client.play(
                self.seat,
                self.new_id("round"),
                [("bet", self.new_id("bet"), unit)],
                currency=other,
            ),
            "412/154",
            f"a bet in {other}",
        )
        self.expect(
            "play.unknown_user",
            self.client.bet(
                Seat(self.seat.token, f"nobody-{self.prefix}", self.seat.currency),
                self.new_id("bet"),
                self.new_id("round"),
                unit,
            ),
            "412/101",
            "a bet for a user the wallet does not know",
        )
        free_round = self.new_id("round")
        self.applied(
            "play.win_without_bet",
            self.client.win(self.seat, self.new_id("win"), free_round, 2 * unit, close=True),
            "a win with no bet in its round (free spins): credited",
            count=1,
            balance=now + 2 * unit,
        )
        now += 2 * unit
        closed_round = self.new_id("round")
        self.client.play(
            self.seat, closed_round, [("bet", self.new_id("bet"), unit)], finished=True
        )
        self.expect(
            "play.bet_after_finished",
            self.client.bet(self.seat, self.new_id("bet"), closed_round, unit),
            "412/400",
            "a bet into a round finished with no win",
            balance_minor=now - unit,
        )
        now -= unit
        for rule, amount, what in [
            ("play.negative_amount", -unit, "a negative amount"),
            ("play.fractional_amount", 1.5, "an amount that is not an integer"),
            ("play.amount_as_string", str(unit), "an amount given as a string"),
        ]:
            self.expect(
                rule,
                self.client.play(
                    self.seat, self.new_id("round"), [("bet", self.new_id("bet"), amount)]
                ),
                "400/400",
                what,
            )
        self.expect(
            "play.unknown_action",
            self.client.play(
                self.seat, self.new_id("round"), [("jackpot", self.new_id("j"), unit)]
            ),
            "400/400",
            "an action that is neither bet nor win",
        )
        self.expect(
            "play.balance_unchanged",
            self.client.balance(self.seat),
            "200",
            "after the refused calls",
            balance_minor=now,
        )

    def case_rollbacks(self):
        start = self.start()
        unit = self.unit
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, bet_id, round_id, unit)
        rb_id = self.new_id("rb")
        rolled = self.client.rollback(self.seat, rb_id, bet_id, round_id)
        self.applied("rollback.bet", rolled, "rollback of a bet: refunded", count=1, balance=start)
        again = self.client.rollback(self.seat, rb_id, bet_id, round_id)
        self.check(
            "rollback.replay",
            again.status == "200"
            and tx_ids(again) == tx_ids(rolled)
            and again.balance_minor == start,
            "the same rollback again: the same tx_id, refunded once",
            f"replay: {again.status} {again.http.body}",
        )
        win_round, win_bet, win_id = self.new_id("round"), self.new_id("bet"), self.new_id("win")
        self.client.play(self.seat, win_round, [("bet", win_bet, unit), ("win", win_id, 4 * unit)])
        self.applied(
            "rollback.win",
            self.client.rollback(self.seat, self.new_id("rb"), win_id, win_round),
            "rollback of a win: taken back",
            count=1,
            balance=start - unit,
        )
        self.client.rollback(self.seat, self.new_id("rb"), win_bet, win_round)
        spin_round, spin_bet, spin_win = (
            self.new_id("round"),
            self.new_id("bet"),
            self.new_id("win"),
        )
        self.client.play(
            self.seat, spin_round, [("bet", spin_bet, unit), ("win", spin_win, 2 * unit)]
        )
        self.applied(
            "rollback.whole_spin",
            self.client.rollbacks(
                self.seat,
                spin_round,
                [(self.new_id("rb"), spin_bet), (self.new_id("rb"), spin_win)],
            ),
            "the bet and the win of a spin rolled back in one call (the bet named first)",
            count=2,
            balance=start,
        )
        ghost, ghost_round = self.new_id("bet"), self.new_id("round")
        unknown = self.client.rollback(self.seat, self.new_id("rb"), ghost, ghost_round)
        self.check(
            "edge.cancel_before_debit",
            unknown.status == "200" and tx_ids(unknown) == [""] and unknown.balance_minor == start,
            "rollback of an unknown action: 200 with an empty tx_id, nothing moved",
            f"unknown original: {unknown.status} {unknown.http.body}",
        )
        self.not_applied(
            "rollback.late_arrival",
            self.client.play(self.seat, ghost_round, [("bet", ghost, unit)]),
            "the bet arriving after its rollback: not applied",
            balance=start,
        )
        late_win, late_round = self.new_id("win"), self.new_id("round")
        self.client.rollback(self.seat, self.new_id("rb"), late_win, late_round)
        self.not_applied(
            "rollback.late_win",
            self.client.win(self.seat, late_win, late_round, 5 * unit, close=True),
            "a (free-spin) win arriving after its rollback: not credited",
            balance=start,
        )
        not_rollback = self.client.send(
            "rollback",
            {
                **self.client.envelope(self.seat, self.new_id("round"), True),
                "actions": [{"action": "bet", "action_id": self.new_id("b"), "amount": unit}],
            },
        )
        self.expect(
            "rollback.not_a_rollback",
            self.client.answer(not_rollback, rollback=True),
            "400/400",
            "an action other than rollback on /rollback",
        )
        # A win reversal the player can no longer pay: refused, never below zero.
        big_round, big_bet, big_win = self.new_id("round"), self.new_id("bet"), self.new_id("win")
        self.client.play(self.seat, big_round, [("bet", big_bet, unit), ("win", big_win, 3 * unit)])
        now = start + 2 * unit
        spend_bet, spend_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, spend_bet, spend_round, now - unit)
        self.expect(
            "rollback.win_above_balance",
            self.client.rollback(self.seat, self.new_id("rb"), big_win, big_round),
            "412/100",
            "the reversal of a win the player has spent: refused with the balance",
            balance_minor=unit,
        )
        # The player wins the stake back: later cases start from a funded balance.
        self.client.win(self.seat, self.new_id("win"), spend_round, now - unit, close=True)

    def case_freespins(self):
        start = self.start()
        answer = self.client.freespins(
            {
                "issue_id": self.new_id("issue"),
                "status": "played",
                "total_amount": 5 * self.unit,
                "user_id": self.seat.user,
                "currency": self.seat.currency,
            }
        )
        self.expect(
            "freespins.notification",
            answer,
            "200",
            "a free-spin issue's status: answered with the balance, nothing credited",
            balance_minor=start,
        )
        self.expect(
            "freespins.no_issue",
            self.client.freespins({"status": "played"}),
            "400/400",
            "a notification without issue_id",
        )

    def case_edges(self):
        start = self.start()
        unit = self.unit
        zero_round = self.new_id("round")
        self.applied(
            "edge.zero_credit",
            self.client.play(
                self.seat,
                zero_round,
                [("bet", self.new_id("bet"), unit), ("win", self.new_id("win"), 0)],
                finished=True,
            ),
            "a lost spin: bet 1.00, win 0, finished",
            count=2,
            balance=start - unit,
        )
        now = start - unit
        big = 63_727_092 * unit + 34 * unit // 100
        big_round = self.new_id("round")
        self.applied(
            "edge.big_payout",
            self.client.play(
                self.seat,
                big_round,
                [("bet", self.new_id("bet"), unit), ("win", self.new_id("win"), big)],
                finished=True,
            ),
            f"a payout of {big} subunits (63,727,092.34 or the nearest the currency allows)",
            count=2,
            balance=now - unit + big,
        )
        self.client.bet(self.seat, self.new_id("bet"), self.new_id("round"), big)
        now -= unit
        many_round = self.new_id("round")
        actions = []
        for _ in range(10):
            actions += [("bet", self.new_id("bet"), unit), ("win", self.new_id("win"), unit)]
        self.client.play(self.seat, many_round, actions)
        for _ in range(5):
            self.client.play(
                self.seat,
                many_round,
                [("bet", self.new_id("bet"), 2 * unit), ("win", self.new_id("win"), unit)],
            )
        self.expect(
            "edge.many_debits_and_credits",
            self.client.balance(self.seat),
            "200",
            "fifteen bets and fifteen wins in one round, over six calls",
            balance_minor=now - 5 * unit,
        )
        now -= 5 * unit
        dup_id, dup_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, dup_id, dup_round, unit)
        now -= unit
        self.expect(
            "edge.duplicate_other_amount",
            self.client.bet(self.seat, dup_id, dup_round, 2 * unit),
            "412/400",
            "the same action_id with another amount: refused, nothing moved",
            balance_minor=now,
        )
        extra_round = self.new_id("round")
        answer = self.client.send(
            "play",
            {
                **self.client.envelope(self.seat, extra_round),
                "actions": [
                    {
                        "action": "bet",
                        "action_id": self.new_id("bet"),
                        "amount": unit,
                        "jackpot_contribution": 1,
                        "some_future_field": {"nested": [1, 2]},
                    }
                ],
                "meta": {"anything": True},
                "client_type": "desktop",
            },
        )
        self.applied(
            "edge.unknown_fields_ignored",
            self.client.answer(answer),
            "a bet with fields the wallet does not know",
            count=1,
            balance=now - unit,
        )
        now -= unit
        cancel_round, cancel_bet = self.new_id("round"), self.new_id("bet")
        self.client.bet(self.seat, cancel_bet, cancel_round, unit)
        self.client.rollback(self.seat, self.new_id("rb"), cancel_bet, cancel_round)
        self.not_applied(
            "edge.credit_after_cancel",
            self.client.win(self.seat, self.new_id("win"), cancel_round, 7 * unit, close=True),
            "a win for a round whose bet was rolled back: nothing credited",
            balance=now,
        )

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
            "412/107",
            "a bet on an ended session",
        )
        self.applied(
            "edge.expired_token_on_credit",
            self.client.win(seat, self.new_id("win"), win_round, 2 * unit, close=True),
            "a win after the session ended",
            count=1,
            balance=start,
        )
        self.applied(
            "edge.expired_token_on_cancel",
            self.client.rollback(seat, self.new_id("rb"), rb_bet, rb_round),
            "a rollback after the session ended",
            count=1,
            balance=start + unit,
        )
        self.expect(
            "after_close.balance",
            self.client.balance(seat),
            "200",
            "a balance request on an ended session",
            balance_minor=start + unit,
        )

    # Set by the caller: ends a seat's session (through the back-office API). None: skip.
    end_session = staticmethod(lambda seat: False)
