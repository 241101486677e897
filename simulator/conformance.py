"""Wallet conformance kit: the provider contract's edge cases (docs/wallet-api.md), run over
HTTP against any wallet, with a PASS / FAIL / SKIP verdict per rule.

Only HTTP, no database and no Django: point it at a sandbox with a provider code, its secret and
one or two launched session tokens (the second lets the kit close a session and check what must
still be accepted afterwards). Every money call uses fresh ids, small stakes (one major unit)
and refunds or pays most of them back, so a sandbox player with ten units is enough.
"""

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from simulator.clients import (
    HttpResult,
    StaffClient,
    WalletClient,
    dumps,
    exponent,
    format_amount,
    parse_minor,
    sign,
)

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
MIN_UNITS = 10  # major units the kit needs available in the first session's currency


@dataclass
class RuleResult:
    rule: str
    verdict: str
    detail: str


class Abort(Exception):
    """The kit cannot go on (no session to test with)."""


def launch_sessions(
    staff: StaffClient,
    *,
    provider: str,
    currency: str,
    count: int = 2,
    player_id: int | None = None,
    deposit: str | None = None,
) -> list[str]:
    """Launch `count` sessions through the back-office API (POST /api/v1/sessions/), for a new
    player funded with `deposit` (default 100 major units) unless `player_id` is given."""
    stamp = f"{int(time.time())}-{secrets.token_hex(3)}"
    if player_id is None:
        created = staff.post(
            "players/", {"external_id": f"conformance-{stamp}", "currency": currency}
        )
        if created.status != 201:
            raise Abort(f"creating a player failed: HTTP {created.status} {created.body}")
        player_id = created.get("id")
        amount = deposit or format_amount(100 * 10 ** exponent(currency), currency)
        paid = staff.post(
            "payments/deposits",
            {
                "player": player_id,
                "amount": amount,
                "currency": currency,
                "external_id": f"conformance-deposit-{stamp}",
            },
        )
        if paid.status not in (200, 201):
            raise Abort(f"funding the player failed: HTTP {paid.status} {paid.body}")
    tokens = []
    for _ in range(count):
        launched = staff.post(
            "sessions/",
            {"player": player_id, "provider": provider, "currency": currency, "game_id": "kit"},
        )
        if launched.status != 201:
            raise Abort(f"launching a session failed: HTTP {launched.status} {launched.body}")
        tokens.append(launched.get("session_token"))
    return tokens


class ConformanceKit:
    """Runs every rule once; `results` holds the verdicts in order."""

    def __init__(
        self,
        client: WalletClient,
        session_tokens: list[str],
        *,
        rounding_mode: bool = False,
        report: Callable[[RuleResult], None] | None = None,
        only: list[str] | tuple[str, ...] = (),
    ):
        if not session_tokens:
            raise ValueError("at least one session token is needed")
        self.client = client
        self.tokens = session_tokens
        self.rounding_mode = rounding_mode
        # Rule-name prefixes to run and report (empty: all), e.g. ("timestamp", "rollback").
        self.only = tuple(only)
        self.report = report or (lambda result: None)
        self.results: list[RuleResult] = []
        self.prefix = f"kit-{int(time.time())}-{secrets.token_hex(4)}"
        self._seq = 0
        self.currency = "EUR"
        self.unit = 100
        self.responses: list[HttpResult] = []

    # --- plumbing --------------------------------------------------------------------------

    def new_id(self, kind: str) -> str:
        self._seq += 1
        return f"{self.prefix}-{kind}{self._seq}"

    def record(self, rule: str, verdict: str, detail: str) -> bool:
        if self._wanted(rule) or rule == "kit":
            result = RuleResult(rule, verdict, detail)
            self.results.append(result)
            self.report(result)
        return verdict == PASS

    def check(self, rule: str, condition: bool, detail: str, failure: str = "") -> bool:
        return self.record(rule, PASS if condition else FAIL, detail if condition else failure)

    def _keep(self, result: HttpResult) -> HttpResult:
        self.responses.append(result)
        return result

    def call(self, operation: str, **fields) -> HttpResult:
        return self._keep(self.client.call(operation, **fields))

    def send(self, operation: str, body: bytes, **options) -> HttpResult:
        return self._keep(self.client.send(operation, body, **options))

    def amount(self, minor: int) -> str:
        return format_amount(minor, self.currency)

    def balance(self, token: str) -> int | None:
        result = self.call("balance", session_token=token)
        if not result.ok:
            return None
        return parse_minor(result.get("balance"), self.currency)

    def expect_code(self, rule: str, result: HttpResult, code: str, status: int, what: str) -> bool:
        return self.check(
            rule,
            result.code == code and result.status == status,
            f"{what}: {status} {code}",
            f"{what}: expected {status} {code}, got {result.status} {result.code} "
            f"{_short(result.body)}",
        )

    def expect_ok(self, rule: str, result: HttpResult, what: str, **fields) -> bool:
        wrong = {k: result.get(k) for k, v in fields.items() if result.get(k) != v}
        return self.check(
            rule,
            result.ok and not wrong,
            what,
            f"{what}: expected 200 OK{' with ' + str(fields) if fields else ''}, got "
            f"{result.status} {result.code} {_short(result.body)}",
        )

    def expect_balance(self, rule: str, token: str, expected: int | None, what: str) -> bool:
        now = self.balance(token)
        return self.check(
            rule,
            expected is not None and now == expected,
            what,
            f"{what}: balance {self.amount(now) if now is not None else '?'}, expected "
            f"{self.amount(expected) if expected is not None else '?'}",
        )

    def bet(self, token: str, txn: str, round_id: str, minor: int, **extra) -> HttpResult:
        fields = {
            "session_token": token,
            "transaction_id": txn,
            "round_id": round_id,
            "amount": self.amount(minor),
            "currency": self.currency,
            **extra,
        }
        return self.call("bet", **fields)

    def win(self, token: str, txn: str, round_id: str, minor: int, **extra) -> HttpResult:
        fields = {
            "session_token": token,
            "transaction_id": txn,
            "round_id": round_id,
            "amount": self.amount(minor),
            "currency": self.currency,
            **extra,
        }
        return self.call("win", **fields)

    def bet_body(self, token: str, amount_literal: str) -> bytes:
        """A new bet's body whose amount is the bare JSON literal given (a number, NaN)."""
        body = dumps(
            {
                "session_token": token,
                "transaction_id": self.new_id("bet"),
                "round_id": self.new_id("round"),
                "amount": "__AMOUNT__",
                "currency": self.currency,
            }
        )
        return body.replace(b'"__AMOUNT__"', amount_literal.encode())

    def rollback(self, token: str, txn: str, reference: str, round_id: str) -> HttpResult:
        return self.call(
            "rollback",
            session_token=token,
            transaction_id=txn,
            reference_transaction_id=reference,
            round_id=round_id,
        )

    # --- the run ---------------------------------------------------------------------------

    # Sections in order: (name, the rule prefixes it checks, the sections it needs first).
    SECTIONS = [
        ("signatures", ("signature", "timestamp"), ()),
        ("validation", ("body", "field", "token", "amount.missing"), ()),
        ("amounts", ("amount",), ()),
        ("idempotency", ("idempotency", "bet", "win.credits"), ()),
        ("currency_and_funds", ("currency", "funds"), ()),
        ("rollbacks", ("rollback",), ("idempotency",)),
        ("rounds", ("round", "win"), ()),
        ("after_close", ("session",), ()),
        ("transport", ("transport",), ()),
    ]

    def _wanted(self, rule: str) -> bool:
        return not self.only or rule.startswith("authenticate") or rule.startswith(self.only)

    def run(self) -> list[RuleResult]:
        """Every rule (or those whose names start with one of `only`), in contract order."""
        chosen = [
            name
            for name, prefixes, _ in self.SECTIONS
            if not self.only
            or any(p.startswith(w) or w.startswith(p) for p in prefixes for w in self.only)
        ]
        for name, _, needs in self.SECTIONS:
            if name in chosen:
                chosen.extend(n for n in needs if n not in chosen)
        try:
            token = self.setup()
            for name, _, _ in self.SECTIONS:
                if name not in chosen:
                    continue
                if name == "after_close":
                    if len(self.tokens) > 1:
                        self.after_close(self.tokens[1])
                    else:
                        self.record(
                            "session.after_close",
                            SKIP,
                            "needs a second session token (closes it, then checks late wins "
                            "and rollbacks)",
                        )
                elif name == "transport":
                    self.transport()
                else:
                    getattr(self, name)(token)
        except Abort as error:
            self.record("kit", FAIL, f"stopped: {error}")
        return self.results

    def setup(self) -> str:
        token = self.tokens[0]
        result = self.call("authenticate", session_token=token)
        fields = ("player_id", "currency", "balance", "session_id")
        if not (result.ok and all(result.get(f) is not None for f in fields)):
            self.record(
                "authenticate.fields",
                FAIL,
                f"authenticate: expected 200 OK with {', '.join(fields)}, got {result.status} "
                f"{result.code} {_short(result.body)}",
            )
            raise Abort("the first session token does not authenticate")
        self.record("authenticate.fields", PASS, f"authenticate: OK with {', '.join(fields)}")
        self.currency = result.get("currency")
        self.unit = 10 ** exponent(self.currency)
        again = self.call("authenticate", session_token=token)
        self.expect_ok("authenticate.repeatable", again, "authenticate again while open: OK")
        available = parse_minor(result.get("balance"), self.currency)
        if available < MIN_UNITS * self.unit:
            raise Abort(
                f"the player has {result.get('balance')} {self.currency}; the kit needs "
                f"{self.amount(MIN_UNITS * self.unit)} available"
            )
        balance = self.call("balance", session_token=token)
        self.expect_ok(
            "balance.fields",
            balance,
            "balance: OK with balance and currency",
            currency=self.currency,
        )
        return token

    def signatures(self, token: str) -> None:
        body = dumps({"session_token": token})
        now = int(time.time())
        wrong = sign(self.client.secret + "x", str(now), "/wallet/v1/balance", body)
        self.expect_code(
            "signature.wrong",
            self.send("balance", body, signature=wrong),
            "INVALID_SIGNATURE",
            401,
            "signed with another secret",
        )
        self.expect_code(
            "signature.missing",
            self.send("balance", body, signature=""),
            "INVALID_SIGNATURE",
            401,
            "no X-Signature",
        )
        self.expect_code(
            "signature.unknown_provider",
            self.send("balance", body, provider_code=f"no-such-provider-{self.prefix}"),
            "INVALID_SIGNATURE",
            401,
            "unknown X-Provider-Code",
        )
        tampered = sign(
            self.client.secret,
            str(now),
            "/wallet/v1/balance",
            dumps({"session_token": token + "x"}),
        )
        self.expect_code(
            "signature.body_tampered",
            self.send("balance", body, signature=tampered),
            "INVALID_SIGNATURE",
            401,
            "signature of another body",
        )
        # Revision 2: the path is signed. A body signed for one operation is refused by another
        # (a refused bet replayed to /win must never credit), and revision 1's signature
        # (timestamp and body only) is refused.
        bet_body = dumps(
            {
                "session_token": token,
                "transaction_id": self.new_id("bet"),
                "round_id": self.new_id("round"),
                "amount": self.amount(self.unit),
                "currency": self.currency,
            }
        )
        before = self.balance(token)
        for_bet = sign(self.client.secret, str(now), "/wallet/v1/bet", bet_body)
        replayed = self.send("win", bet_body, timestamp=now, signature=for_bet)
        self.check(
            "signature.path_replay",
            replayed.code == "INVALID_SIGNATURE"
            and replayed.status == 401
            and before is not None
            and self.balance(token) == before,
            "a bet's signed body sent to /win: 401 INVALID_SIGNATURE, nothing credited",
            f"bet body replayed to /win: got {replayed.status} {replayed.code} "
            f"{_short(replayed.body)}",
        )
        key = self.client.secret.encode()
        revision_1 = hmac.new(key, str(now).encode() + b"." + body, hashlib.sha256).hexdigest()
        self.expect_code(
            "signature.revision_1",
            self.send("balance", body, timestamp=now, signature=revision_1),
            "INVALID_SIGNATURE",
            401,
            "signature over timestamp and body only (revision 1)",
        )
        self.expect_code(
            "timestamp.expired_past",
            self.send("balance", body, timestamp=now - 400),
            "SIGNATURE_EXPIRED",
            401,
            "timestamp 400 s in the past",
        )
        self.expect_code(
            "timestamp.expired_future",
            self.send("balance", body, timestamp=now + 400),
            "SIGNATURE_EXPIRED",
            401,
            "timestamp 400 s in the future",
        )
        self.expect_ok(
            "timestamp.within_window",
            self.send("balance", body, timestamp=now - 120),
            "timestamp 120 s old: accepted",
        )

    def validation(self, token: str) -> None:
        self.expect_code(
            "body.not_json",
            self.send("balance", b"{not json"),
            "VALIDATION_ERROR",
            400,
            "body that is not JSON",
        )
        self.expect_code(
            "body.not_object",
            self.send("balance", b'["session_token"]'),
            "VALIDATION_ERROR",
            400,
            "JSON array body",
        )
        quoted = json.dumps(token)
        self.expect_code(
            "body.duplicate_key",
            self.send(
                "balance", f'{{"session_token": {quoted}, "session_token": {quoted}}}'.encode()
            ),
            "VALIDATION_ERROR",
            400,
            "a key given twice",
        )
        nested = '{"session_token": ' + quoted + ', "x": ' + "[" * 33 + "]" * 33 + "}"
        self.expect_code(
            "body.too_deep",
            self.send("balance", nested.encode()),
            "VALIDATION_ERROR",
            400,
            "nesting deeper than 32 levels",
        )
        within = '{"session_token": ' + quoted + ', "x": ' + "[" * 31 + "]" * 31 + "}"
        self.expect_ok(
            "body.deep_within_limit", self.send("balance", within.encode()), "31 nested levels"
        )
        self.expect_code(
            "body.lone_surrogate",
            self.send("balance", ('{"session_token": ' + quoted + ', "note": "\\ud800"}').encode()),
            "VALIDATION_ERROR",
            400,
            "a lone surrogate escape in a string",
        )
        missing = {
            "session_token": token,
            "transaction_id": self.new_id("bet"),
            "round_id": self.new_id("round"),
            "currency": self.currency,
        }
        self.expect_code(
            "amount.missing",
            self.call("bet", **missing),
            "VALIDATION_ERROR",
            400,
            "bet without amount",
        )
        no_id = {
            "session_token": token,
            "round_id": self.new_id("round"),
            "amount": self.amount(self.unit),
            "currency": self.currency,
        }
        self.expect_code(
            "field.missing",
            self.call("bet", **no_id),
            "VALIDATION_ERROR",
            400,
            "bet without transaction_id",
        )
        self.expect_code(
            "field.wrong_type",
            self.win(token, self.new_id("win"), self.new_id("round"), 0, round_closed="yes"),
            "VALIDATION_ERROR",
            400,
            'win with round_closed "yes" (not a boolean)',
        )
        self.expect_code(
            "token.unknown",
            self.call("balance", session_token=f"unknown-{self.prefix}"),
            "INVALID_TOKEN",
            401,
            "unknown session token",
        )

    def amounts(self, token: str) -> None:
        before = self.balance(token)
        places = exponent(self.currency)
        too_precise = "1." + "0" * places + "1" if places else "1.5"
        cases = [
            ("amount.negative", "-" + self.amount(self.unit)),
            ("amount.empty", ""),
            ("amount.non_numeric", "abc"),
            ("amount.nan_string", "NaN"),
            ("amount.infinity_string", "Infinity"),
            ("amount.exponent_string", "1e2"),
            ("amount.above_maximum", "1000000000001"),
        ]
        if self.rounding_mode:
            self.record("amount.too_many_decimals", SKIP, "the provider names a rounding mode")
        else:
            cases.insert(0, ("amount.too_many_decimals", too_precise))
        for rule, raw in cases:
            fields = {
                "session_token": token,
                "transaction_id": self.new_id("bet"),
                "round_id": self.new_id("round"),
                "amount": raw,
                "currency": self.currency,
            }
            self.expect_code(rule, self.call("bet", **fields), "INVALID_AMOUNT", 400, f"{raw!r}")
        raw_nan = self.bet_body(token, "NaN")
        self.expect_code(
            "amount.nan_number",
            self.send("bet", raw_nan),
            "INVALID_AMOUNT",
            400,
            "JSON NaN literal",
        )
        self.expect_balance(
            "amount.refusals_change_nothing", token, before, "refused amounts: balance unchanged"
        )
        # A JSON number is read exactly from its text: 1.10 is 110 cents, not 1.1000000000000001.
        number_text = self.amount(self.unit + self.unit // 10)
        exact = self.bet_body(token, number_text)
        result = self.send("bet", exact)
        expected = None if before is None else before - parse_minor(number_text, self.currency)
        self.check(
            "amount.json_number_exact",
            result.ok and _minor(result, self.currency) == expected,
            f"JSON number {number_text}: accepted and debited exactly",
            f"JSON number {number_text}: got {result.status} {result.code}, balance "
            f"{result.get('balance')} (expected {self.amount(expected) if expected else '?'})",
        )

    def idempotency(self, token: str) -> None:
        before = self.balance(token)
        txn, round_id = self.new_id("bet"), self.new_id("round")
        self.bet_id, self.bet_round = txn, round_id
        first = self.bet(token, txn, round_id, self.unit)
        self.check(
            "bet.debits_exactly",
            first.ok
            and first.get("duplicate") is False
            and first.get("transaction_id") == txn
            and bool(first.get("wallet_transaction_id"))
            and before is not None
            and _minor(first, self.currency) == before - self.unit,
            f"bet {self.amount(self.unit)}: OK, duplicate false, balance down by exactly the stake",
            f"bet: got {first.status} {first.code} {_short(first.body)} (balance before {before})",
        )
        after_bet = _minor(first, self.currency)
        replay = self.bet(token, txn, round_id, self.unit)
        self.check(
            "idempotency.bet_replay",
            replay.ok
            and replay.get("duplicate") is True
            and replay.get("wallet_transaction_id") == first.get("wallet_transaction_id"),
            "same bet again: OK, duplicate true, same wallet_transaction_id",
            f"same bet again: got {replay.status} {replay.code} {_short(replay.body)}",
        )
        self.expect_balance(
            "idempotency.replay_changes_nothing", token, after_bet, "replay: balance unchanged"
        )
        for rule, changed, what in [
            ("idempotency.mismatch_amount", {"minor": 2 * self.unit}, "other amount"),
            ("idempotency.mismatch_round", {"round_id": self.new_id("round")}, "other round"),
        ]:
            result = self.bet(
                token, txn, changed.get("round_id", round_id), changed.get("minor", self.unit)
            )
            self.expect_code(rule, result, "DUPLICATE_MISMATCH", 409, f"same id, {what}")
        as_win = self.win(token, txn, round_id, self.unit)
        self.expect_code(
            "idempotency.mismatch_kind", as_win, "DUPLICATE_MISMATCH", 409, "same id as a win"
        )
        other = _other_currency(self.currency)
        in_other = self.call(
            "bet",
            session_token=token,
            transaction_id=txn,
            round_id=round_id,
            amount=format_amount(self.unit, other),
            currency=other,
        )
        self.expect_code(
            "idempotency.mismatch_currency",
            in_other,
            "DUPLICATE_MISMATCH",
            409,
            f"same id in {other}",
        )
        self.expect_balance(
            "idempotency.mismatch_changes_nothing",
            token,
            after_bet,
            "mismatches: balance unchanged",
        )
        win_id = self.new_id("win")
        self.win_id = win_id
        half = self.unit // 2 or 1
        won = self.win(token, win_id, round_id, half)
        self.check(
            "win.credits_exactly",
            won.ok and after_bet is not None and _minor(won, self.currency) == after_bet + half,
            f"win {self.amount(half)}: OK, balance up by exactly the win",
            f"win: got {won.status} {won.code} {_short(won.body)}",
        )
        again = self.win(token, win_id, round_id, half)
        self.check(
            "idempotency.win_replay",
            again.ok
            and again.get("duplicate") is True
            and again.get("wallet_transaction_id") == won.get("wallet_transaction_id")
            and _minor(again, self.currency) == _minor(won, self.currency),
            "same win again (a provider retry): OK, duplicate true, paid once",
            f"same win again: got {again.status} {again.code} {_short(again.body)}",
        )
        self.expect_code(
            "idempotency.win_mismatch",
            self.win(token, win_id, round_id, half + 1),
            "DUPLICATE_MISMATCH",
            409,
            "same win id, other amount",
        )

    def currency_and_funds(self, token: str) -> None:
        before = self.balance(token)
        other = _other_currency(self.currency)
        result = self.call(
            "bet",
            session_token=token,
            transaction_id=self.new_id("bet"),
            round_id=self.new_id("round"),
            amount=format_amount(10 ** exponent(other), other),
            currency=other,
        )
        self.expect_code("currency.mismatch", result, "CURRENCY_MISMATCH", 400, f"bet in {other}")
        if before is None:
            self.record("funds.insufficient", FAIL, "balance unknown")
            return
        result = self.bet(token, self.new_id("bet"), self.new_id("round"), before + 1)
        self.check(
            "funds.insufficient",
            result.code == "INSUFFICIENT_FUNDS"
            and result.status == 402
            and result.get("balance") == self.amount(before)
            and result.get("currency") == self.currency,
            "bet of available + one minor unit: 402 INSUFFICIENT_FUNDS with the balance",
            f"expected 402 INSUFFICIENT_FUNDS with balance {self.amount(before)}, got "
            f"{result.status} {result.code} {_short(result.body)}",
        )
        self.expect_balance(
            "funds.refusals_change_nothing", token, before, "refused bets: balance unchanged"
        )

    def rollbacks(self, token: str) -> None:
        before = self.balance(token)
        bet_id, round_id = self.new_id("bet"), self.new_id("round")
        placed = self.bet(token, bet_id, round_id, self.unit)
        if not placed.ok:
            self.record("rollback.refunds", FAIL, f"could not place the bet: {placed.code}")
            return
        rb_id = self.new_id("rb")
        rolled = self.rollback(token, rb_id, bet_id, round_id)
        self.check(
            "rollback.refunds",
            rolled.ok and _minor(rolled, self.currency) == before,
            "rollback of a bet: OK, stake refunded in full",
            f"rollback: got {rolled.status} {rolled.code} {_short(rolled.body)}, expected "
            f"balance {self.amount(before) if before is not None else '?'}",
        )
        replay = self.rollback(token, rb_id, bet_id, round_id)
        self.check(
            "rollback.replay",
            replay.ok
            and replay.get("duplicate") is True
            and replay.get("wallet_transaction_id") == rolled.get("wallet_transaction_id")
            and _minor(replay, self.currency) == before,
            "same rollback again: OK, duplicate true, nothing refunded twice",
            f"same rollback again: got {replay.status} {replay.code} {_short(replay.body)}",
        )
        second = self.rollback(token, self.new_id("rb"), bet_id, round_id)
        self.check(
            "rollback.second_rollback_no_effect",
            second.ok and _minor(second, self.currency) == before,
            "second rollback (new id) of the same bet: OK, changes nothing",
            f"second rollback: got {second.status} {second.code} {_short(second.body)}",
        )
        self.expect_code(
            "rollback.bet_after_rollback",
            self.bet(token, bet_id, round_id, self.unit),
            "TRANSACTION_ROLLED_BACK",
            409,
            "the rolled-back bet sent again",
        )
        self.expect_code(
            "rollback.id_reuse_mismatch",
            self.rollback(token, rb_id, self.bet_id, self.bet_round),
            "DUPLICATE_MISMATCH",
            409,
            "rollback id reused for another bet",
        )
        ghost, ghost_round = self.new_id("bet"), self.new_id("round")
        tomb = self.rollback(token, self.new_id("rb"), ghost, ghost_round)
        self.check(
            "rollback.unknown_reference",
            tomb.ok and _minor(tomb, self.currency) == before,
            "rollback of an unknown bet: OK, no balance change",
            f"rollback of an unknown bet: got {tomb.status} {tomb.code} {_short(tomb.body)}",
        )
        self.expect_code(
            "rollback.tombstone",
            self.bet(token, ghost, ghost_round, self.unit),
            "TRANSACTION_ROLLED_BACK",
            409,
            "late bet meeting the tombstone",
        )
        self.expect_code(
            "rollback.of_win",
            self.rollback(token, self.new_id("rb"), self.win_id, self.bet_round),
            "INVALID_REFERENCE",
            409,
            "rollback referring to a win",
        )
        # Revision 2: a bet whose round paid a win is settled.
        settled_bet, settled_round = self.new_id("bet"), self.new_id("round")
        self.bet(token, settled_bet, settled_round, self.unit)
        self.win(token, self.new_id("win"), settled_round, self.unit)
        self.expect_code(
            "rollback.bet_settled",
            self.rollback(token, self.new_id("rb"), settled_bet, settled_round),
            "BET_SETTLED",
            409,
            "rollback of a bet whose round already paid a win",
        )
        # A win into a round whose every bet was rolled back credits nothing.
        void_bet, void_round = self.new_id("bet"), self.new_id("round")
        self.bet(token, void_bet, void_round, self.unit)
        self.rollback(token, self.new_id("rb"), void_bet, void_round)
        self.expect_code(
            "rollback.win_into_rolled_back_round",
            self.win(token, self.new_id("win"), void_round, self.unit),
            "TRANSACTION_ROLLED_BACK",
            409,
            "win into a round whose bets were all rolled back",
        )
        self.expect_code(
            "rollback.win_naming_rolled_back_bet",
            self.win(
                token,
                self.new_id("win"),
                self.new_id("round"),
                self.unit,
                reference_transaction_id=void_bet,
            ),
            "TRANSACTION_ROLLED_BACK",
            409,
            "win whose reference_transaction_id names a rolled-back bet",
        )
        self.expect_balance(
            "rollback.balance_after", token, before, "after all rollback cases: balance as before"
        )
        # The bet the mismatched rollback id pointed at still stands (a replay is a duplicate).
        replay = self.bet(token, self.bet_id, self.bet_round, self.unit)
        self.check(
            "rollback.mismatch_changed_nothing",
            replay.ok and replay.get("duplicate") is True,
            "the bet named by the mismatched rollback still stands",
            f"replay of that bet: got {replay.status} {replay.code} {_short(replay.body)}",
        )

    def rounds(self, token: str) -> None:
        round_id = self.new_id("round")
        self.bet(token, self.new_id("bet"), round_id, self.unit)
        closing = self.win(token, self.new_id("win"), round_id, self.unit, round_closed=True)
        self.expect_ok("round.closed_by_win", closing, "win with round_closed true: OK")
        self.expect_code(
            "round.bet_after_win_close",
            self.bet(token, self.new_id("bet"), round_id, self.unit),
            "ROUND_CLOSED",
            409,
            "bet into a round closed by a win",
        )
        round_id = self.new_id("round")
        placed = self.bet(token, self.new_id("bet"), round_id, self.unit)
        closed = self.call("round/close", session_token=token, round_id=round_id)
        self.check(
            "round.close",
            placed.ok and closed.ok and closed.get("balance") is not None,
            "round/close: OK with balance",
            f"round/close: got {closed.status} {closed.code} {_short(closed.body)}",
        )
        self.expect_code(
            "round.bet_after_close",
            self.bet(token, self.new_id("bet"), round_id, self.unit),
            "ROUND_CLOSED",
            409,
            "bet into a round closed by round/close",
        )
        late = self.win(token, self.new_id("win"), round_id, self.unit)
        self.expect_ok("round.win_after_close", late, "win settling a closed round: OK")
        before = self.balance(token)
        free_round = self.new_id("round")
        free = self.win(token, self.new_id("win"), free_round, self.unit)
        self.check(
            "win.without_bet",
            free.ok and before is not None and _minor(free, self.currency) == before + self.unit,
            "win with no bet in its round (free spins): OK, credited",
            f"free-spin win: got {free.status} {free.code} {_short(free.body)}",
        )
        self.expect_code(
            "win.without_bet_settles_round",
            self.bet(token, self.new_id("bet"), free_round, self.unit),
            "ROUND_CLOSED",
            409,
            "bet into a round a free win opened and settled",
        )
        before = self.balance(token)
        round_id = self.new_id("round")
        self.bet(token, self.new_id("bet"), round_id, self.unit)
        zero = self.win(token, self.new_id("win"), round_id, 0, round_closed=True)
        self.check(
            "win.zero",
            zero.ok
            and before is not None
            and _minor(zero, self.currency) == before - self.unit
            and zero.get("duplicate") is False,
            "win of 0 (a lost round): OK",
            f"zero win: got {zero.status} {zero.code} {_short(zero.body)}",
        )

    def after_close(self, token: str) -> None:
        auth = self.call("authenticate", session_token=token)
        if not auth.ok:
            self.record(
                "session.after_close", FAIL, f"second token does not authenticate: {auth.code}"
            )
            return
        if auth.get("currency") != self.currency:
            self.record("session.after_close", SKIP, "second session has another currency")
            return
        start = parse_minor(auth.get("balance"), self.currency)
        win_round, rb_round = self.new_id("round"), self.new_id("round")
        rb_bet = self.new_id("bet")
        a = self.bet(token, self.new_id("bet"), win_round, self.unit)
        b = self.bet(token, rb_bet, rb_round, self.unit)
        closed = self.call("session/close", session_token=token)
        self.check(
            "session.close",
            a.ok and b.ok and closed.ok and closed.get("balance") is not None,
            "session/close: OK with balance",
            f"bets {a.code}/{b.code}, session/close {closed.status} {closed.code}",
        )
        self.expect_code(
            "session.bet_after_close",
            self.bet(token, self.new_id("bet"), self.new_id("round"), self.unit),
            "SESSION_EXPIRED",
            401,
            "bet after session/close",
        )
        self.expect_code(
            "session.authenticate_after_close",
            self.call("authenticate", session_token=token),
            "SESSION_EXPIRED",
            401,
            "authenticate after session/close",
        )
        late = self.win(token, self.new_id("win"), win_round, 3 * self.unit, round_closed=True)
        expected = start - 2 * self.unit + 3 * self.unit
        self.check(
            "session.win_after_close",
            late.ok and _minor(late, self.currency) == expected,
            "late win settling a bet's round after session/close: OK, paid",
            f"late win: got {late.status} {late.code} {_short(late.body)}, expected balance "
            f"{self.amount(expected)}",
        )
        refund = self.rollback(token, self.new_id("rb"), rb_bet, rb_round)
        self.check(
            "session.rollback_after_close",
            refund.ok and _minor(refund, self.currency) == expected + self.unit,
            "rollback after session/close: OK, refunded",
            f"late rollback: got {refund.status} {refund.code} {_short(refund.body)}",
        )

    def transport(self) -> None:
        seen = [r for r in self.responses if r.status]
        missing = [r for r in seen if not r.headers.get("x-request-id")]
        self.check(
            "transport.request_id",
            bool(seen) and not missing,
            f"X-Request-Id on all {len(seen)} responses",
            f"{len(missing)} of {len(seen)} responses without X-Request-Id",
        )
        errors = [r for r in seen if r.status != 200]
        malformed = [
            r
            for r in errors
            if not (
                isinstance(r.body, dict)
                and r.body.get("status") == "ERROR"
                and isinstance(r.body.get("code"), str)
                and isinstance(r.body.get("message"), str)
                and 400 <= r.status < 500
            )
        ]
        self.check(
            "transport.error_shape",
            not malformed,
            f"all {len(errors)} refusals: 4xx with status ERROR, code and message",
            f"{len(malformed)} refusals malformed, e.g. {malformed[0].status} "
            f"{_short(malformed[0].body)}"
            if malformed
            else "",
        )
        places = exponent(self.currency)
        amounts = [r.get("balance") for r in seen if isinstance(r.get("balance"), str)]
        bad = [a for a in amounts if not _has_places(a, places)]
        self.check(
            "transport.amount_rendering",
            bool(amounts) and not bad,
            f"all {len(amounts)} balances rendered with {places} decimals",
            f"balances not rendered with {places} decimals: {bad[:3]}",
        )
        successes = [r for r in seen if r.status == 200]
        self.check(
            "transport.ok_shape",
            all(isinstance(r.body, dict) and r.body.get("status") == "OK" for r in successes),
            f"all {len(successes)} successes: 200 with status OK",
            "a 200 response without status OK",
        )


def _minor(result: HttpResult, currency: str) -> int | None:
    value = result.get("balance")
    if not isinstance(value, str):
        return None
    try:
        return parse_minor(value, currency)
    except Exception:
        return None


def _has_places(text: str, places: int) -> bool:
    whole, _, fraction = text.partition(".")
    if not whole.lstrip("-").isdigit():
        return False
    return len(fraction) == places if places else "." not in text


def _other_currency(currency: str) -> str:
    return "USD" if currency != "USD" else "EUR"


def _short(body: object) -> str:
    text = json.dumps(body) if body is not None else "(no JSON body)"
    return text if len(text) <= 160 else text[:157] + "..."
