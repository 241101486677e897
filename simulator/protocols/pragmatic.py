"""Pragmatic Play's seamless wallet as Pragmatic calls an operator: form-encoded POSTs to
`<method>.html`, each with `hash` = MD5 of the other parameters sorted by name (`name=value`
joined by `&`) and the shared secret appended; JSON answers, HTTP 200, a numeric `error` (0 is
success) and `cash` / `bonus` as decimal numbers in major units."""

import hashlib
import time
import urllib.parse
from decimal import Decimal

from simulator.clients import exponent, format_amount
from simulator.protocols.base import Answer, ProtocolClient, ProtocolKit, Seat

PROVIDER_ID = "PragmaticPlay"
GAME = "vs20kit"

# Pragmatic's error numbers read back in the ledger's terms (the adapter's table, reversed;
# 120 stands for every final refusal: unknown bet, settled bet, refunded bet, ended round).
CANONICAL = {
    "0": "OK",
    "1": "INSUFFICIENT_FUNDS",
    "2": "SESSION_EXPIRED",
    "3": "BET_DECLINED",
    "4": "INVALID_TOKEN",
    "5": "INVALID_SIGNATURE",
    "6": "PLAYER_BLOCKED",
    "7": "VALIDATION_ERROR",
    "8": "PROVIDER_SUSPENDED",
    "50": "LIMIT_EXCEEDED",
    "100": "INTERNAL_ERROR",
    "120": "BET_NOT_FOUND",
    "130": "INTERNAL_ERROR",
}

# The answers' members as Hub88's QA scripts for Pragmatic assert them (exactly these keys).
BET_KEYS = {"bonus", "cash", "currency", "description", "error", "transactionId", "usedPromo"}
RESULT_KEYS = {"bonus", "cash", "currency", "description", "error", "transactionId"}
END_ROUND_KEYS = {"bonus", "cash", "description", "error"}


def sign(fields: dict, secret: str, *, skip_empty: bool = False) -> str:
    """Pragmatic's `hash` of `fields` (every parameter but `hash`, values as sent, decoded)."""
    message = "&".join(
        f"{name}={value}"
        for name, value in sorted(fields.items())
        if name != "hash" and (value != "" or not skip_empty)
    )
    return hashlib.md5((message + secret).encode(), usedforsecurity=False).hexdigest()


def to_minor(value, currency: str) -> int | None:
    """Minor units of an answer's JSON number. A JSON reader gives a float: its shortest text
    (repr) is the decimal that was sent, exactly, for any amount of up to 15 digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    text = repr(value) if isinstance(value, float) else str(value)
    return int(Decimal(text).scaleb(exponent(currency)))


class PragmaticClient(ProtocolClient):
    protocol = "pragmatic"

    def __init__(self, transport, provider_code: str, secret: str, *, skip_empty=False):
        self.transport = transport
        self.prefix = f"/wallet/pragmatic/{provider_code}/"
        self.secret = secret
        self.skip_empty = skip_empty  # the provider's option hash_skips_empty
        self.send_token = True  # Pragmatic may be set up to leave the token out

    def send(self, method: str, fields: dict, *, hash: str | None = None, raw: bytes = b""):
        """POST `fields` (signed, unless `hash` is given) or a raw body to `<method>.html`."""
        if not raw:
            signed = {
                **fields,
                "hash": sign(fields, self.secret, skip_empty=self.skip_empty)
                if hash is None
                else hash,
            }
            raw = urllib.parse.urlencode(signed).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.transport.request("POST", f"{self.prefix}{method}.html", raw, headers)

    def answer(self, result, currency: str | None) -> Answer:
        body = result.body if isinstance(result.body, dict) else {}
        error = body.get("error")
        status = str(error) if isinstance(error, int) else f"HTTP_{result.status}"
        currency = body.get("currency") or currency
        cash = to_minor(body.get("cash"), currency) if currency else None
        return Answer(result, status, CANONICAL.get(status, status), cash)

    def call(self, method: str, seat: Seat, fields: dict, **options) -> Answer:
        base = {"providerId": PROVIDER_ID, "userId": seat.user}
        if self.send_token and method not in ("bonusWin", "jackpotWin", "promoWin"):
            base["token"] = seat.token
        merged = {k: v for k, v in {**base, **fields}.items() if v is not None}
        return self.answer(self.send(method, merged, **options), seat.currency)

    @staticmethod
    def timestamp() -> str:
        return str(int(time.time() * 1000))

    # --- Pragmatic's methods ---------------------------------------------------------------

    def authenticate(self, seat: Seat, **extra) -> Answer:
        fields = {"providerId": PROVIDER_ID, "token": seat.token, "gameId": GAME, **extra}
        return self.answer(self.send("authenticate", fields), seat.currency)

    def round_fields(self, seat: Seat, reference: str, round_id: str, amount_minor: int) -> dict:
        return {
            "gameId": GAME,
            "roundId": round_id,
            "amount": format_amount(amount_minor, seat.currency),
            "reference": reference,
            "timestamp": self.timestamp(),
            "roundDetails": "spin",
            "platform": "WEB",
        }

    def result(self, seat: Seat, reference: str, round_id: str, amount_minor: int, **extra):
        fields = self.round_fields(seat, reference, round_id, amount_minor)
        return self.call("result", seat, {**fields, **extra})

    def refund(self, seat: Seat, reference: str, round_id: str = "", **extra) -> Answer:
        fields = {"reference": reference, "roundId": round_id or None, "gameId": GAME}
        return self.call("refund", seat, {**fields, **extra})

    def end_round(self, seat: Seat, round_id: str, **extra) -> Answer:
        fields = {"gameId": GAME, "roundId": round_id, "roundDetails": "spin", **extra}
        return self.call("endRound", seat, fields)

    def bonus_win(self, seat: Seat, reference: str, amount_minor: int, **extra) -> Answer:
        fields = {
            "amount": format_amount(amount_minor, seat.currency),
            "reference": reference,
            "bonusCode": "kit-frb",
            "timestamp": self.timestamp(),
            **extra,
        }
        return self.call("bonusWin", seat, fields)

    def jackpot_win(self, seat: Seat, reference: str, round_id: str, amount_minor: int, **extra):
        fields = {
            "gameId": GAME,
            "roundId": round_id,
            "jackpotId": "kit-jackpot",
            "amount": format_amount(amount_minor, seat.currency),
            "reference": reference,
            "timestamp": self.timestamp(),
            **extra,
        }
        return self.call("jackpotWin", seat, fields)

    def promo_win(self, seat: Seat, reference: str, amount_minor: int, **extra) -> Answer:
        fields = {
            "campaignId": "1001",
            "campaignType": "T",
            "amount": format_amount(amount_minor, seat.currency),
            "currency": seat.currency,
            "reference": reference,
            "timestamp": self.timestamp(),
            **extra,
        }
        return self.call("promoWin", seat, fields)

    def adjustment(self, seat: Seat, reference: str, round_id: str, delta_minor: int, **extra):
        fields = {
            "gameId": GAME,
            "roundId": round_id,
            "amount": format_amount(delta_minor, seat.currency),
            "validBetAmount": format_amount(0, seat.currency),
            "reference": reference,
            "timestamp": self.timestamp(),
            **extra,
        }
        return self.call("adjustment", seat, fields)

    # --- the canonical operations ----------------------------------------------------------

    def balance(self, seat: Seat, **extra) -> Answer:
        return self.call("balance", seat, extra)

    def bet(self, seat: Seat, txn: str, round_id: str, amount_minor: int, **extra) -> Answer:
        fields = self.round_fields(seat, txn, round_id, amount_minor)
        return self.call("bet", seat, {**fields, **extra})

    def win(
        self,
        seat: Seat,
        txn: str,
        round_id: str,
        amount_minor: int,
        *,
        bet_txn: str = "",
        close: bool = False,
    ) -> Answer:
        """A round's result (Pragmatic names the round, not the bet), then endRound when the
        round closes with it."""
        answer = self.result(seat, txn, round_id, amount_minor)
        if close and answer.ok:
            self.end_round(seat, round_id)
        return answer

    def rollback(self, seat: Seat, txn: str, reference: str, round_id: str) -> Answer:
        """A refund: it carries the bet's own reference (no id of its own: `txn` is unused)."""
        return self.refund(seat, reference, round_id)


class PragmaticKit(ProtocolKit):
    """Pragmatic's cases: the scripted checks of Hub88's QA suite for Pragmatic (the answers'
    members), the behaviours operators' implementations agree on (idempotency by reference,
    refunds, endRound, credits), and the edge cases every protocol kit checks."""

    def cases(self):
        return [
            ("hub88_qa", self.case_hub88_qa),
            ("authenticate", self.case_authenticate),
            ("balance", self.case_balance),
            ("hash", self.case_hash),
            ("bet", self.case_bets),
            ("result", self.case_results),
            ("refund", self.case_refunds),
            ("end_round", self.case_end_round),
            ("credits", self.case_credits),
            ("adjustment", self.case_adjustments),
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

    def keys(self, rule: str, answer: Answer, wanted: set[str], what: str) -> bool:
        body = answer.http.body if isinstance(answer.http.body, dict) else {}
        good = (
            answer.http.status == 200
            and set(body) == wanted
            and body.get("error") == 0
            and body.get("description") == "Success"
            and ("currency" not in wanted or len(str(body.get("currency", ""))) == 3)
        )
        return self.check(
            rule,
            good,
            f"{what}: HTTP 200, error 0, 'Success', keys {', '.join(sorted(wanted))}",
            f"{what}: HTTP {answer.http.status} {body}",
        )

    def case_hub88_qa(self):
        start, unit = self.start(), self.unit
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        placed = self.client.bet(self.seat, bet_id, round_id, unit)
        self.keys("hub88_qa.bet", placed, BET_KEYS, "bet")
        won = self.client.result(self.seat, self.new_id("win"), round_id, 2 * unit)
        self.keys("hub88_qa.result", won, RESULT_KEYS, "result")
        ended = self.client.end_round(self.seat, round_id)
        self.keys("hub88_qa.end_round", ended, END_ROUND_KEYS, "endRound")
        self.check(
            "hub88_qa.end_round_balance",
            ended.balance_minor == start + unit,
            "endRound answers the balance",
            f"endRound cash {ended.balance_minor}, wanted {start + unit}",
        )
        free_round = self.new_id("round")
        free = self.client.bet(self.seat, self.new_id("bet"), free_round, 0, bonusCode="kit-frb")
        self.keys("hub88_qa.free_bet", free, BET_KEYS, "a free-round bet (0.00, bonusCode)")
        self.expect(
            "bet.free_round",
            free,
            "0",
            "a free-round bet debits nothing",
            balance_minor=start + unit,
        )
        self.expect(
            "result.free_round",
            self.client.result(
                self.seat, self.new_id("win"), free_round, 3 * unit, bonusCode="kit-frb"
            ),
            "0",
            "a free round's win is paid",
            balance_minor=start + 4 * unit,
        )

    def case_authenticate(self):
        answer = self.client.authenticate(self.seat)
        body = answer.http.body if isinstance(answer.http.body, dict) else {}
        self.check(
            "authenticate.ok",
            answer.ok
            and body.get("userId") == self.seat.user
            and body.get("currency") == self.seat.currency
            and body.get("token") == self.seat.token
            and answer.balance_minor is not None
            and body.get("bonus") == 0,
            "token -> userId, currency, cash, bonus 0, token",
            f"authenticate: {body}",
        )
        ghost = Seat(f"no-such-token-{self.prefix}", self.seat.user, self.seat.currency)
        self.expect(
            "authenticate.unknown_token", self.client.authenticate(ghost), "4", "unknown token"
        )

    def case_balance(self):
        start = self.start()
        self.check(
            "balance.ok",
            start is not None,
            "balance: error 0 with cash",
            "balance: no cash",
        )
        self.client.send_token = False
        try:
            self.expect(
                "balance.without_token",
                self.client.balance(self.seat),
                "0",
                "by userId alone",
                balance_minor=start,
            )
        finally:
            self.client.send_token = True
        nobody = Seat(self.seat.token, f"nobody-{self.prefix}", self.seat.currency)
        self.expect(
            "balance.token_of_another_user",
            self.client.balance(nobody),
            "4",
            "the token sent with another userId",
        )
        ghost = Seat(f"no-such-token-{self.prefix}", self.seat.user, self.seat.currency)
        self.expect("balance.unknown_token", self.client.balance(ghost), "4", "unknown token")
        self.client.send_token = False
        try:
            self.expect(
                "balance.unknown_user",
                self.client.balance(nobody),
                "2",
                "a userId that never played here",
            )
        finally:
            self.client.send_token = True

    def case_hash(self):
        fields = {"providerId": PROVIDER_ID, "userId": self.seat.user, "token": self.seat.token}
        wrong = sign(fields, self.client.secret + "x")
        self.expect(
            "hash.other_secret",
            self.client.answer(self.client.send("balance", fields, hash=wrong), None),
            "5",
            "hashed with another secret",
        )
        good = sign(fields, self.client.secret)
        tampered = {**fields, "userId": self.seat.user + "x"}
        self.expect(
            "hash.parameter_changed",
            self.client.answer(self.client.send("balance", tampered, hash=good), None),
            "5",
            "a parameter changed after hashing",
        )
        self.expect(
            "hash.missing",
            self.client.answer(self.client.send("balance", fields, hash=""), None),
            "5",
            "no hash",
        )
        self.expect(
            "hash.uppercase_hex",
            self.client.answer(self.client.send("balance", fields, hash=good.upper()), None),
            "5",
            "the hash in uppercase (Pragmatic sends lowercase hex)",
        )
        # Values with spaces, commas, colons and '+' are hashed as decoded from the form.
        start = self.start()
        self.expect(
            "hash.decoded_values",
            self.client.bet(
                self.seat,
                self.new_id("bet"),
                self.new_id("round"),
                0,
                roundDetails="spin,bonusBuy totalBet:1.00+ante",
            ),
            "0",
            "roundDetails with spaces, commas, colons and '+'",
            balance_minor=start,
        )
        once = urllib.parse.urlencode({**fields, "hash": good})
        body = f"{once}&userId={urllib.parse.quote(self.seat.user)}"
        self.expect(
            "hash.parameter_twice",
            self.client.answer(self.client.send("balance", {}, raw=body.encode()), None),
            "7",
            "a parameter given twice",
        )

    def case_bets(self):
        start, unit = self.start(), self.unit
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        placed = self.client.bet(self.seat, bet_id, round_id, unit)
        self.expect("bet.ok", placed, "0", "bet of 1.00", balance_minor=start - unit)
        again = self.client.bet(self.seat, bet_id, round_id, unit)
        self.expect("bet.duplicate", again, "0", "the same bet again", balance_minor=start - unit)
        self.check(
            "bet.duplicate_same_transaction",
            placed.http.get("transactionId") == again.http.get("transactionId")
            and bool(placed.http.get("transactionId")),
            "the repeat answers the original transactionId",
            f"transactionId {placed.http.get('transactionId')} then "
            f"{again.http.get('transactionId')}",
        )
        self.expect(
            "bet.same_reference_other_round",
            self.client.bet(self.seat, bet_id, self.new_id("round"), unit),
            "7",
            "the same reference in another round",
        )
        for _ in range(2):
            self.client.bet(self.seat, self.new_id("bet"), round_id, unit)
        self.expect(
            "bet.many_in_a_round",
            self.client.balance(self.seat),
            "0",
            "three bets in one round",
            balance_minor=start - 3 * unit,
        )
        self.expect(
            "bet.insufficient_balance",
            self.client.bet(self.seat, self.new_id("bet"), self.new_id("round"), 10**12),
            "1",
            "a bet above the balance (the balance comes with it)",
            balance_minor=start - 3 * unit,
        )
        self.client.send_token = False
        try:
            self.expect(
                "bet.without_token",
                self.client.bet(self.seat, self.new_id("bet"), round_id, unit),
                "0",
                "a bet naming the player by userId alone",
                balance_minor=start - 4 * unit,
            )
        finally:
            self.client.send_token = True
        nobody = Seat(self.seat.token, f"nobody-{self.prefix}", self.seat.currency)
        self.expect(
            "bet.token_of_another_user",
            self.client.bet(nobody, self.new_id("bet"), self.new_id("round"), unit),
            "4",
            "the token sent with another userId",
        )
        bad = {
            "negative": {"amount": "-1.00"},
            "not_a_number": {"amount": "1,00"},
            "exponent": {"amount": "1e2"},
            "empty_amount": {"amount": ""},
            "finer_than_the_currency": {"amount": "0." + "0" * exponent(self.seat.currency) + "1"},
            "missing_reference": {"reference": None},
            "missing_round": {"roundId": None},
            "missing_user": {"userId": None},
        }
        for name, change in bad.items():
            self.expect(
                f"bet.{name}",
                self.client.bet(
                    self.seat, self.new_id("bet"), self.new_id("round"), unit, **change
                ),
                "7",
                f"bad parameters ({name.replace('_', ' ')})",
            )
        self.expect(
            "bet.nothing_moved_by_refusals",
            self.client.balance(self.seat),
            "0",
            "the refused calls moved nothing",
            balance_minor=start - 4 * unit,
        )

    def case_results(self):
        start, unit = self.start(), self.unit
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, bet_id, round_id, unit)
        win_id = self.new_id("win")
        won = self.client.result(self.seat, win_id, round_id, 2 * unit)
        self.expect("result.ok", won, "0", "a win of 2.00", balance_minor=start + unit)
        again = self.client.result(self.seat, win_id, round_id, 2 * unit)
        self.expect("result.duplicate", again, "0", "the same result", balance_minor=start + unit)
        self.check(
            "result.duplicate_same_transaction",
            won.http.get("transactionId") == again.http.get("transactionId"),
            "the repeat answers the original transactionId",
            f"transactionId {won.http.get('transactionId')} then {again.http.get('transactionId')}",
        )
        self.expect(
            "result.unknown_round",
            self.client.result(self.seat, self.new_id("win"), self.new_id("round"), unit),
            "120",
            "a result in a round with no bet (final)",
            balance_minor=start + unit,
        )
        prize_bet, prize_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, prize_bet, prize_round, unit)
        prize = self.client.result(
            self.seat,
            self.new_id("win"),
            prize_round,
            0,
            promoWinAmount=format_amount(5 * unit, self.seat.currency),
            promoWinReference=self.new_id("prize"),
            promoCampaignID="77",
            promoCampaignType="R",
        )
        self.expect(
            "result.prize_drop",
            prize,
            "0",
            "a lost round carrying a PrizeDrop of 5.00: credited",
            balance_minor=start + 5 * unit,
        )
        self.client.send_token = False
        try:
            late_bet, late_round = self.new_id("bet"), self.new_id("round")
            self.client.bet(self.seat, late_bet, late_round, unit)
            self.expect(
                "result.without_token",
                self.client.result(self.seat, self.new_id("win"), late_round, unit),
                "0",
                "a result naming the player by userId alone",
                balance_minor=start + 5 * unit,
            )
        finally:
            self.client.send_token = True

    def case_refunds(self):
        start, unit = self.start(), self.unit
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, bet_id, round_id, unit)
        refunded = self.client.refund(self.seat, bet_id, round_id)
        self.expect("refund.ok", refunded, "0", "refund of a bet of 1.00")
        self.check(
            "refund.keys",
            set(refunded.http.body or {}) == {"transactionId", "error", "description"},
            "refund answers transactionId, error, description",
            f"refund: {refunded.http.body}",
        )
        again = self.client.refund(self.seat, bet_id, round_id)
        self.expect("refund.duplicate", again, "0", "the same refund again")
        self.check(
            "refund.duplicate_same_transaction",
            refunded.http.get("transactionId") == again.http.get("transactionId"),
            "the repeat answers the original transactionId",
            f"{refunded.http.get('transactionId')} then {again.http.get('transactionId')}",
        )
        self.expect(
            "refund.balance",
            self.client.balance(self.seat),
            "0",
            "the stake is back, once",
            balance_minor=start,
        )
        settled_bet, settled_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, settled_bet, settled_round, unit)
        self.client.result(self.seat, self.new_id("win"), settled_round, 0)
        self.expect(
            "refund.after_result",
            self.client.refund(self.seat, settled_bet, settled_round),
            "120",
            "a refund after the round's result (final)",
            balance_minor=start - unit,
        )
        won_bet, won_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, won_bet, won_round, unit)
        win_id = self.new_id("win")
        self.client.result(self.seat, win_id, won_round, unit)
        self.expect(
            "refund.of_a_result",
            self.client.refund(self.seat, win_id, won_round),
            "120",
            "a refund naming a result's reference",
        )

    def case_end_round(self):
        start, unit = self.start(), self.unit
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, bet_id, round_id, unit)
        self.client.result(self.seat, self.new_id("win"), round_id, unit)
        self.expect(
            "end_round.ok",
            self.client.end_round(self.seat, round_id),
            "0",
            "endRound answers the balance",
            balance_minor=start,
        )
        self.expect(
            "end_round.twice",
            self.client.end_round(self.seat, round_id),
            "0",
            "endRound again: success",
            balance_minor=start,
        )
        self.expect(
            "end_round.then_bet",
            self.client.bet(self.seat, self.new_id("bet"), round_id, unit),
            "120",
            "a bet into an ended round (final)",
            balance_minor=start,
        )
        self.client.send_token = False
        try:
            self.expect(
                "end_round.unknown_round",
                self.client.end_round(self.seat, self.new_id("round")),
                "0",
                "endRound of a round with no bet (nothing to do)",
                balance_minor=start,
            )
        finally:
            self.client.send_token = True

    def case_credits(self):
        start, unit = self.start(), self.unit
        bonus_id = self.new_id("bonus")
        self.expect(
            "bonus_win.informational",
            self.client.bonus_win(self.seat, bonus_id, 7 * unit),
            "0",
            "bonusWin (free rounds' total, paid by result): success, no money moved",
            balance_minor=start,
        )
        self.expect(
            "bonus_win.duplicate",
            self.client.bonus_win(self.seat, bonus_id, 7 * unit),
            "0",
            "the same bonusWin again",
            balance_minor=start,
        )
        jackpot_id, jackpot_round = self.new_id("jackpot"), self.new_id("round")
        jackpot = self.client.jackpot_win(self.seat, jackpot_id, jackpot_round, 50 * unit)
        self.expect(
            "jackpot_win.ok", jackpot, "0", "a jackpot of 50.00", balance_minor=start + 50 * unit
        )
        self.expect(
            "jackpot_win.duplicate",
            self.client.jackpot_win(self.seat, jackpot_id, jackpot_round, 50 * unit),
            "0",
            "the same jackpotWin again",
            balance_minor=start + 50 * unit,
        )
        promo_id = self.new_id("promo")
        self.expect(
            "promo_win.ok",
            self.client.promo_win(self.seat, promo_id, 3 * unit),
            "0",
            "a tournament prize of 3.00",
            balance_minor=start + 53 * unit,
        )
        self.expect(
            "promo_win.duplicate",
            self.client.promo_win(self.seat, promo_id, 3 * unit),
            "0",
            "the same promoWin again",
            balance_minor=start + 53 * unit,
        )
        self.expect(
            "promo_win.other_amount",
            self.client.promo_win(self.seat, promo_id, 4 * unit),
            "7",
            "the same reference with another amount",
        )
        self.expect(
            "promo_win.unknown_currency",
            self.client.promo_win(self.seat, self.new_id("promo"), unit, currency="XXQ"),
            "7",
            "a currency that does not exist",
        )

    def case_adjustments(self):
        start, unit = self.start(), self.unit
        round_id = self.new_id("round")
        self.client.bet(self.seat, self.new_id("bet"), round_id, unit)
        self.client.result(self.seat, self.new_id("win"), round_id, 0)
        credit_id = self.new_id("adj")
        self.expect(
            "adjustment.credit",
            self.client.adjustment(self.seat, credit_id, round_id, 2 * unit),
            "0",
            "a re-settlement paying 2.00 more",
            balance_minor=start + unit,
        )
        self.expect(
            "adjustment.duplicate",
            self.client.adjustment(self.seat, credit_id, round_id, 2 * unit),
            "0",
            "the same adjustment again",
            balance_minor=start + unit,
        )
        self.expect(
            "adjustment.debit",
            self.client.adjustment(self.seat, self.new_id("adj"), round_id, -unit),
            "0",
            "a re-settlement taking 1.00 back",
            balance_minor=start,
        )
        self.expect(
            "adjustment.insufficient_balance",
            self.client.adjustment(self.seat, self.new_id("adj"), round_id, -(10**12)),
            "1",
            "a negative adjustment above the balance",
            balance_minor=start,
        )

    def case_edges(self):
        start, unit = self.start(), self.unit
        zero_bet, zero_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, zero_bet, zero_round, unit)
        self.expect(
            "edge.zero_credit",
            self.client.result(self.seat, self.new_id("win"), zero_round, 0),
            "0",
            "a result of 0 (a lost round)",
            balance_minor=start - unit,
        )
        big_bet, big_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, big_bet, big_round, unit)
        # 63,727,092.34, or the nearest the currency's decimals allow.
        big = 6_372_709_234 * 10 ** exponent(self.seat.currency) // 100
        self.expect(
            "edge.big_payout",
            self.client.result(self.seat, self.new_id("win"), big_round, big),
            "0",
            f"a payout of {format_amount(big, self.seat.currency)}",
            balance_minor=start - 2 * unit + big,
        )
        back_round = self.new_id("round")
        self.client.bet(self.seat, self.new_id("bet"), back_round, big)
        self.client.result(self.seat, self.new_id("win"), back_round, 0)
        many_round = self.new_id("round")
        for _ in range(10):
            self.client.bet(self.seat, self.new_id("bet"), many_round, unit)
            self.client.result(self.seat, self.new_id("win"), many_round, unit)
        self.expect(
            "edge.many_debits_and_credits",
            self.client.balance(self.seat),
            "0",
            "ten bets and ten results in one round",
            balance_minor=start - 2 * unit,
        )
        ghost, ghost_round = self.new_id("bet"), self.new_id("round")
        self.expect(
            "edge.cancel_before_debit",
            self.client.refund(self.seat, ghost, ghost_round),
            "0",
            "refund of an unknown bet: success, nothing moved",
        )
        self.expect(
            "refund.then_bet",
            self.client.bet(self.seat, ghost, ghost_round, unit),
            "120",
            "the bet arriving after its refund (final)",
            balance_minor=start - 2 * unit,
        )
        cancelled_bet, cancelled_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, cancelled_bet, cancelled_round, unit)
        self.client.refund(self.seat, cancelled_bet, cancelled_round)
        self.expect(
            "edge.credit_after_cancel",
            self.client.result(self.seat, self.new_id("win"), cancelled_round, unit),
            "120",
            "a result after its bet was refunded (final)",
            balance_minor=start - 2 * unit,
        )
        dup_bet, dup_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(self.seat, dup_bet, dup_round, unit)
        self.expect(
            "edge.duplicate_other_amount",
            self.client.bet(self.seat, dup_bet, dup_round, 2 * unit),
            "7",
            "the same reference with another amount",
            balance_minor=start - 3 * unit,
        )
        extra = {"futureField": "ignored", "specPrizes[0]": "x:1", "language": "en"}
        self.expect(
            "edge.unknown_fields_ignored",
            self.client.result(self.seat, self.new_id("win"), dup_round, unit, **extra),
            "0",
            "a result with parameters the wallet does not know",
            balance_minor=start - 2 * unit,
        )

    def case_after_close(self):
        if len(self.seats) < 2:
            self.record("after_close", "SKIP", "needs a second seat whose session the kit may end")
            return
        seat, unit = self.seats[1], self.unit
        start = self.client.balance(seat).balance_minor
        win_bet, win_round = self.new_id("bet"), self.new_id("round")
        refund_bet, refund_round = self.new_id("bet"), self.new_id("round")
        self.client.bet(seat, win_bet, win_round, unit)
        self.client.bet(seat, refund_bet, refund_round, unit)
        if not self.end_session(seat):
            self.record("after_close", "SKIP", "the kit could not end the second session")
            return
        self.expect(
            "after_close.bet",
            self.client.bet(seat, self.new_id("bet"), self.new_id("round"), unit),
            "2",
            "a bet on an ended session: logged out",
        )
        self.expect(
            "after_close.authenticate",
            self.client.authenticate(seat),
            "4",
            "authenticate with the ended session's token: expired",
        )
        self.expect(
            "edge.expired_token_on_credit",
            self.client.result(seat, self.new_id("win"), win_round, 2 * unit),
            "0",
            "a result after the session ended",
            balance_minor=start,
        )
        self.expect(
            "edge.expired_token_on_cancel",
            self.client.refund(seat, refund_bet, refund_round),
            "0",
            "a refund after the session ended",
        )
        self.expect(
            "after_close.end_round",
            self.client.end_round(seat, win_round),
            "0",
            "endRound after the session ended",
            balance_minor=start + unit,
        )

    # Set by the caller: ends a seat's session (through the back-office API). None: skip.
    end_session = staticmethod(lambda seat: False)
