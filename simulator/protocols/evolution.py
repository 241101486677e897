"""Evolution's One Wallet as Evolution calls an operator: JSON bodies POSTed to
`<base>/check|balance|debit|credit|cancel|promo_payout` (and the test tool's `sid`) with the
shared secret in the `authToken` query parameter; amounts and balances are JSON numbers in
major units; every answer is HTTP 200 with a status word.

The kit runs the two public acceptance lists of Evolution's wallet, each scenario one case:
valkyrie's copy of Evolution's licensee integration tests (`valkyrie.Test_*`, the 26 tests of
valkyrie-fnd/valkyrie provider/evolution/test/evo_integration_test.go) and Evolution's own One
Wallet test tool (`tool.<SCENARIO>`, as a saved run of it shows them; amounts here have two
decimals, since Pitboss keeps cents). Like the tool, it gets its sessions from the wallet's
`sid` call (the provider's protocol option `test_launches`), and it needs two players (seats
of two users). Then the edge cases every protocol kit checks (`edge.*`) and a few of the
protocol's own (`protocol.*`).
"""

import json
import re
import secrets
import uuid
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal
from urllib.parse import quote

from simulator.clients import HttpResult, exponent
from simulator.protocols.base import FAIL, PASS, SKIP, Answer, ProtocolClient, ProtocolKit, Seat

# Evolution's statuses read back in the ledger's terms (the adapter's table, reversed).
CANONICAL = {
    "OK": "OK",
    "INSUFFICIENT_FUNDS": "INSUFFICIENT_FUNDS",
    "INVALID_SID": "INVALID_TOKEN",
    "INVALID_TOKEN_ID": "INVALID_SIGNATURE",
    "INVALID_PARAMETER": "VALIDATION_ERROR",
    "BET_DOES_NOT_EXIST": "BET_NOT_FOUND",
    "BET_ALREADY_SETTLED": "ROUND_SETTLED",
    "BET_ALREADY_EXIST": "DUPLICATE_MISMATCH",
    "FINAL_ERROR_ACTION_FAILED": "TRANSACTION_ROLLED_BACK",
    "TEMPORARY_ERROR": "SERVICE_UNAVAILABLE",
    "UNKNOWN_ERROR": "INTERNAL_ERROR",
}

FAKE_FIELD = {"someFakeField": "someFakeField"}
BIG_PAYOUT = Decimal("63727092.34")


def to_number(minor: int, currency: str) -> Decimal:
    """Minor units as Evolution's amount: a decimal number of major units (exact)."""
    return Decimal(minor).scaleb(-exponent(currency))


def to_minor(value: object, currency: str) -> int | None:
    """A balance of an answer (a JSON number) in minor units; None when it is not a number or
    finer than the currency's minor unit."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    scaled = Decimal(str(value)).scaleb(exponent(currency))
    return int(scaled) if scaled == scaled.to_integral_value() else None


def dumps(data: dict) -> bytes:
    """JSON with Decimal values written as JSON numbers from their exact text."""
    numbers: list[str] = []

    def plain(value):
        if isinstance(value, Decimal):
            numbers.append(format(value, "f"))
            return f"\0{len(numbers) - 1}\0"
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    text = json.dumps(plain(data), separators=(",", ":"))
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: numbers[int(m.group(1))], text).encode()


class EvolutionClient(ProtocolClient):
    protocol = "evolution"

    def __init__(self, transport, provider_code: str, auth_token: str):
        self.transport = transport
        self.prefix = f"/wallet/evolution/{provider_code}/"
        self.auth_token = auth_token

    def send(
        self, path: str, fields: dict, *, query: str | None = None, raw: bytes = b""
    ) -> HttpResult:
        """POST `fields` (or `raw`) to `path`, authToken in the query unless `query` is given."""
        if query is None:
            query = f"authToken={quote(self.auth_token, safe='')}"
        body = raw or dumps(fields)
        target = self.prefix + path + (f"?{query}" if query else "")
        return self.transport.request("POST", target, body, {"Content-Type": "application/json"})

    def call(self, path: str, fields: dict, currency: str, **options) -> Answer:
        fields = {**fields, "uuid": fields.get("uuid", str(uuid.uuid4()))}
        return self.answer(self.send(path, fields, **options), currency)

    def answer(self, result: HttpResult, currency: str) -> Answer:
        body = result.body if isinstance(result.body, dict) else {}
        status = str(body.get("status") or f"HTTP_{result.status}")
        balance = to_minor(body.get("balance"), currency)
        return Answer(result, status, CANONICAL.get(status, status), balance)

    # --- Evolution's calls -------------------------------------------------------------------

    def _base(self, seat: Seat) -> dict:
        return {"sid": seat.token, "userId": seat.user, "currency": seat.currency}

    @staticmethod
    def game(round_id: str | None, table: str = "kit-table", kind: str = "blackjack") -> dict:
        return {"id": round_id, "type": kind, "details": {"table": {"id": table, "vid": None}}}

    def sid(self, user: str, currency: str, *, channel: str = "P", **extra) -> Answer:
        """The test tool's call for a new session of `user` (its answer's `sid`)."""
        fields = {"channel": {"type": channel}, "sid": "", "userId": user, **extra}
        return self.call("sid", fields, currency)

    def check(self, seat: Seat, *, channel: str = "P", **extra) -> Answer:
        fields = {"channel": {"type": channel}, "sid": seat.token, "userId": seat.user, **extra}
        return self.call("check", fields, seat.currency)

    def balance(self, seat: Seat, *, game: dict | None = None, **extra) -> Answer:
        return self.call("balance", {**self._base(seat), "game": game, **extra}, seat.currency)

    def _money(self, path, seat, tx, ref, amount_minor, game_round, table, extra) -> Answer:
        fields = {
            **self._base(seat),
            "game": self.game(game_round or ref, table),
            "transaction": {
                "id": tx,
                "refId": ref,
                "amount": to_number(amount_minor, seat.currency),
            },
            **extra,
        }
        return self.call(path, fields, seat.currency)

    def debit(self, seat, tx, ref, amount_minor, *, game_round=None, table="kit-table", **extra):
        return self._money("debit", seat, tx, ref, amount_minor, game_round, table, extra)

    def credit(self, seat, tx, ref, amount_minor, *, game_round=None, table="kit-table", **extra):
        return self._money("credit", seat, tx, ref, amount_minor, game_round, table, extra)

    def cancel(self, seat, tx, ref, amount_minor, *, game_round=None, table="kit-table", **extra):
        return self._money("cancel", seat, tx, ref, amount_minor, game_round, table, extra)

    def promo_payout(
        self,
        seat: Seat,
        promo_id: str,
        amount_minor: int,
        *,
        promo_type: str = "",
        game: dict | None = None,
        promo_fields: dict | None = None,
        **extra,
    ) -> Answer:
        fields = {
            **self._base(seat),
            "game": game,
            "promoTransaction": {
                "id": promo_id,
                "amount": to_number(amount_minor, seat.currency),
                "type": promo_type,
                **(promo_fields or {}),
            },
            **extra,
        }
        return self.call("promo_payout", fields, seat.currency)

    # --- the canonical operations: refId is the round, a cancel names its debit by its id -------

    def bet(self, seat: Seat, txn: str, round_id: str, amount_minor: int) -> Answer:
        return self.debit(seat, txn, round_id, amount_minor)

    def win(
        self,
        seat: Seat,
        txn: str,
        round_id: str,
        amount_minor: int,
        *,
        bet_txn: str,
        close: bool = False,
    ) -> Answer:
        return self.credit(seat, txn, round_id, amount_minor)

    def rollback(self, seat: Seat, txn: str, reference: str, round_id: str) -> Answer:
        # Evolution's cancel carries its debit's transaction id (and not the amount it refunds).
        return self.cancel(seat, reference, round_id, 0)


class StepFailed(Exception):
    """A step of a scenario answered otherwise than its list expects."""


class Skipped(Exception):
    """A scenario that cannot run against this wallet as configured."""


def _short(answer: Answer) -> str:
    text = repr(answer.http.body)
    return text if len(text) <= 200 else text[:200] + "..."


class EvolutionKit(ProtocolKit):
    """Evolution's acceptance lists and the protocol kits' edge cases. The seats name the
    players (the first two distinct users; the first user's second seat is ended by the
    `end_session` hook for the expired-sid cases); sessions come from the `sid` call."""

    # Seats of this many players (wallet_conformance launches them).
    players = 2
    _extra: dict = FAKE_FIELD
    _mismatch_status: str | None = None
    _steps: int = 0

    # Set by the caller: ends a seat's session; sets a protocol option of the provider
    # (name, value) -> bool. None: the kit asks the wallet what the option is.
    end_session = staticmethod(lambda seat: False)
    set_option = None

    # --- the list of cases ---------------------------------------------------------------------

    def cases(self):
        valkyrie = [
            (name, getattr(self, f"valkyrie_{name}"))
            for name in (
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
            )
        ]
        tool = [
            (name, getattr(self, f"tool_{name.lower()}"))
            for name in (
                "DEBIT_CREDIT_SETTLE_TYPE_GAMEWISE",
                "RESPONSE_TIME_VALIDATION",
                "ALL_METHODS_CHECK_BEFORE_RUNNING_TESTS",
                "CRAPS_DELAYED_SETTLEMENT",
                "ONE_PLAYER_PLAYS_TWO_GAME_ROUNDS_ON_ONE_TABLE_IN_PARALLEL",
                "MULTI_STEP_GAME_TWO_DEBITS_CANCEL_CREDIT",
                "TWO_USERS_BJ_GAME_EACH_PLAYING_TWO_HANDS",
                "VERIFY_CAN_PLACE_BET_BEFORE_SETTLE_FOR_ANOTHER_GAME",
                "CANCEL_DEBIT_BEFORE_CANCEL_FOR_ANOTHER_GAME",
                "MULTI_STEP_GAME_TWO_DEBITS_CREDIT_CANCEL",
                "MULTIPLE_DEBIT_CREDIT_CANCEL_SETTLE_TYPE_MIXED",
                "MULTIPLE_DOND_SETTLEMENTS",
                "FREE_ROUND_PLAYABLE_SPENT_PROMO_PAYOUT",
                "REAL_TIME_MONETARY_REWARD_PROMO_PAYOUT",
                "JACKPOT_PROMO_PAYOUT",
                "REWARD_GAME_PLAYABLE_SPENT_PROMO_PAYOUT",
                "NEW_TYPE_PROMO_PAYOUT",
                "DOUBLE_PROMO_PAYOUT",
                "REWARD_GAME_WIN_CAP_REACHED_PROMO_PAYOUT",
                "REWARD_GAME_MIN_BET_LIMIT_REACHED_PROMO_PAYOUT",
                "CREDIT_WITH_ZERO_AMOUNT",
                "DEBIT_CANCEL_BET_ALREADY_SETTLED",
                "INSUFFICIENT_FUNDS",
                "DEBIT_CREDIT_CANCEL",
                "DEBIT_CANCEL",
                "CHECK_USING_NEW_SID",
                "DEBIT_CREDIT",
                "DEBIT_BET_ALREADY_EXIST",
                "DEBIT_CREDIT_BET_ALREADY_SETTLED",
                "DEBIT_CANCEL_CREDIT",
                "CHECK_USING_INVALID_USER_ID",
                "DEBIT_CREDIT_BET_ALREADY_SETTLED_UNEXPECTED",
                "DEBIT_CANCEL_BET_ALREADY_SETTLED_UNEXPECTED",
                "DEBIT_CREDIT_WITH_BIG_PAYOUT",
                "LOBBY_BALANCE",
            )
        ]
        edge = [
            (name, getattr(self, f"edge_{name}"))
            for name in (
                "zero_credit",
                "big_payout",
                "many_debits_and_credits",
                "cancel_before_debit",
                "credit_after_cancel",
                "duplicate_other_amount",
                "unknown_fields_ignored",
            )
        ]
        cases = [
            *(self.scenario(f"valkyrie.{name}", body, extra={}) for name, body in valkyrie),
            *(self.scenario(f"tool.{name}", body, extra=FAKE_FIELD) for name, body in tool),
            *(self.scenario(f"edge.{name}", body, extra={}) for name, body in edge),
        ]
        # The big payouts first: a stake of 63 million right after check is what a wallet's
        # fraud screening may refuse once the player has a betting history (Pitboss's
        # high-stake-after-login rule does); the kit's players are new. Evolution's own test
        # accounts are best marked trusted.
        big = [case for case in cases if "BigPayout" in case[0] or "BIG_PAYOUT" in case[0]]
        big += [case for case in cases if case[0] == "edge.big_payout"]
        return [
            # First: it plays on a launched seat before any test launch may replace it.
            ("edge.expired_token", self.case_after_close),
            *big,
            ("protocol", self.case_protocol),
            *(case for case in cases if case not in big),
        ]

    def scenario(self, rule: str, body, *, extra: dict):
        """One scenario as one case: PASS when every step answered as its list expects."""

        def run() -> None:
            self._extra, self._steps = extra, 0
            try:
                body()
            except Skipped as skipped:
                self.record(rule, SKIP, str(skipped))
            except StepFailed as failed:
                self.record(rule, FAIL, str(failed))
            else:
                what = (body.__doc__ or rule).strip().splitlines()[0]
                self.record(rule, PASS, f"{what} ({self._steps} calls as expected)")

        return rule, run

    # --- steps ---------------------------------------------------------------------------------

    @property
    def currency(self) -> str:
        return self.seats[0].currency

    @property
    def users(self) -> list[str]:
        return list(dict.fromkeys(seat.user for seat in self.seats))

    def user(self, n: int) -> str:
        users = self.users
        if len(users) <= n:
            raise Skipped(f"needs seats of {n + 1} players, has {len(users)}")
        return users[n]

    def units(self, major: str | int | Decimal) -> int:
        """An amount in major units as minor units of the kit's currency (cut down to what
        the currency has)."""
        scaled = Decimal(major).scaleb(exponent(self.currency))
        return int(scaled.to_integral_value(rounding=ROUND_DOWN))

    def step(
        self,
        answer: Answer,
        statuses: str | tuple[str, ...],
        what: str,
        *,
        balance: int | None = None,
        balance_or_null: int | None = None,
    ) -> Answer:
        allowed = (statuses,) if isinstance(statuses, str) else statuses
        good = answer.http.status == 200 and answer.status in allowed
        if balance is not None:
            good = good and answer.balance_minor == balance
        if balance_or_null is not None:
            body = answer.http.body if isinstance(answer.http.body, dict) else {}
            good = good and (
                answer.balance_minor == balance_or_null or body.get("balance", 0) is None
            )
        if not good:
            wanted = "/".join(allowed)
            if balance is not None:
                wanted += f" with balance {balance}"
            if balance_or_null is not None:
                wanted += f" with balance {balance_or_null} or null"
            raise StepFailed(
                f"{what}: wanted HTTP 200 {wanted}, got HTTP {answer.http.status} "
                f"{answer.status} balance {answer.balance_minor} {_short(answer)}"
            )
        self._steps += 1
        return answer

    def ok(self, answer: Answer, what: str, balance: int | None = None) -> Answer:
        return self.step(answer, "OK", what, balance=balance)

    def launch(self, user: str, channel: str = "P") -> Seat:
        """A new sid for `user` from the wallet's `sid` call, as Evolution's tool gets one."""
        answer = self.client.sid(user, self.currency, channel=channel, **self._extra)
        if answer.http.status == 404:
            raise StepFailed(
                "sid: HTTP 404: the provider's protocol option test_launches is off (Evolution's "
                "test tool gets its sessions through this call)"
            )
        self.ok(answer, f"sid for {user}")
        return Seat(answer.http.body["sid"], user, self.currency)

    def renew(self, seat: Seat, channel: str = "P") -> Seat:
        """check: the new sid it answers (used from then on)."""
        answer = self.ok(self.client.check(seat, channel=channel, **self._extra), "check")
        sid = answer.http.body.get("sid")
        if not isinstance(sid, str) or not sid:
            raise StepFailed(f"check: no sid in the answer {_short(answer)}")
        return replace(seat, token=sid)

    def ask_balance(self, seat: Seat, **options) -> Answer:
        return self.client.balance(seat, **{**self._extra, **options})

    def balance(self, seat: Seat, what: str = "balance", **options) -> int:
        return self.ok(self.ask_balance(seat, **options), what).balance_minor

    def prepare(self, user: str) -> tuple[Seat, int]:
        """sid, check (the sid it returns is used from then on), balance: at least 50."""
        seat = self.renew(self.launch(user))
        start = self.balance(seat, "initial balance")
        if start is None or start < self.units(50):
            raise StepFailed(f"initial balance {start}: Evolution's tests need at least 50")
        return seat, start

    def debit(self, seat, amount, ref, *, tx=None, game=None, **extra) -> Answer:
        tx = tx or self.new_id("tx")
        return self.client.debit(seat, tx, ref, amount, game_round=game, **self._extra, **extra)

    def credit(self, seat, amount, ref, *, tx=None, game=None, **extra) -> Answer:
        tx = tx or self.new_id("tx")
        return self.client.credit(seat, tx, ref, amount, game_round=game, **self._extra, **extra)

    def cancel(self, seat, amount, tx, ref, *, game=None, **extra) -> Answer:
        return self.client.cancel(seat, tx, ref, amount, game_round=game, **self._extra, **extra)

    def promo(self, seat, amount, promo_id=None, **options) -> Answer:
        promo_id = promo_id or self.new_id("promo")
        return self.client.promo_payout(seat, promo_id, amount, **self._extra, **options)

    def foreign(self, seat: Seat) -> Seat:
        """The seat's sid sent with a userId that is not its player's."""
        return replace(seat, user=f"fakeUserId_{secrets.token_hex(2)}")

    def mismatch_status(self, wanted: str) -> str:
        """Make the provider answer a sid sent with another userId `wanted` (through the
        set_option hook), or, without the hook, skip unless that is what it answers."""
        if self.set_option is not None:
            if self._mismatch_status != wanted:
                if not self.set_option("user_mismatch_status", wanted):
                    raise Skipped(f"could not set the option user_mismatch_status to {wanted}")
                self._mismatch_status = wanted
            return wanted
        if self._mismatch_status is None:
            seat = self.launch(self.user(0))
            self._mismatch_status = self.client.check(self.foreign(seat)).status
        if self._mismatch_status != wanted:
            raise Skipped(
                f"the provider answers a sid sent with another userId {self._mismatch_status} "
                f"(protocol option user_mismatch_status); this list expects {wanted}"
            )
        return wanted

    # --- valkyrie: Evolution's licensee integration tests -------------------------------------

    def valkyrie_Test_checkUsingNewSID(self):
        """check returns a new sid; the old one is INVALID_SID for balance, debit and credit"""
        old = self.launch(self.user(0))
        new = self.renew(old)
        if new.token == old.token:
            raise StepFailed("check returned the same sid")
        self.step(self.ask_balance(old), "INVALID_SID", "balance with the old sid")
        game, tx, ref = self.new_id("game"), self.new_id("tx"), self.new_id("ref")
        self.step(self.debit(old, self.units(10), ref, tx=tx, game=game), "INVALID_SID", "debit")
        # The copy's credit names the debit's transaction id as its refId: the sid decides.
        self.step(self.credit(old, self.units(10), tx, game=game), "INVALID_SID", "credit")

    def valkyrie_Test_allMethodsCheckBeforeRunningTests(self):
        """debit, credit and balance move the balance as expected"""
        seat, start = self.prepare(self.user(0))
        ref, one = self.new_id("ref"), self.units(1)
        self.ok(self.debit(seat, one, ref), "debit 1", start - one)
        self.ok(self.credit(seat, one, ref), "credit 1", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitBetAlreadyExist(self):
        """the same debit twice debits once and answers OK"""
        seat, start = self.prepare(self.user(0))
        ref, tx, game, one = (
            self.new_id("ref"),
            self.new_id("tx"),
            self.new_id("game"),
            self.units(1),
        )
        self.ok(self.debit(seat, one, ref, tx=tx, game=game), "debit 1", start - one)
        self.ok(self.debit(seat, one, ref, tx=tx, game=game), "the same debit", start - one)
        self.ok(self.ask_balance(seat), "balance", start - one)
        self.ok(self.credit(seat, one, ref, game=game), "credit 1", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCancel(self):
        """a cancel refunds its debit"""
        seat, start = self.prepare(self.user(0))
        ref, tx, one = self.new_id("ref"), self.new_id("tx"), self.units(1)
        self.ok(self.debit(seat, one, ref, tx=tx), "debit 1", start - one)
        self.ok(self.cancel(seat, one, tx, ref), "cancel", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCredit(self):
        """a credit pays its debit"""
        seat, start = self.prepare(self.user(0))
        ref, two = self.new_id("ref"), self.units(2)
        self.ok(self.debit(seat, two, ref), "debit 2", start - two)
        self.ok(self.credit(seat, two, ref), "credit 2", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCreditBetAlreadySettled(self):
        """a second credit of a settled bet pays nothing"""
        seat, start = self.prepare(self.user(0))
        ref, two = self.new_id("ref"), self.units(2)
        self.ok(self.debit(seat, two, ref), "debit 2", start - two)
        self.ok(self.credit(seat, two, ref), "credit 2", start)
        statuses = tuple(CANONICAL)  # any status: the list checks the balance after it
        self.step(self.credit(seat, two, ref), statuses, "the same credit with a new id")
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCreditBetDoesNotExist(self):
        """a credit of an unknown refId is BET_DOES_NOT_EXIST"""
        seat, start = self.prepare(self.user(0))
        ref, game, two = self.new_id("ref"), self.new_id("game"), self.units(2)
        self.ok(self.debit(seat, two, ref, game=game), "debit 2", start - two)
        self.step(
            self.credit(seat, two, self.new_id("ref"), game=game),
            "BET_DOES_NOT_EXIST",
            "credit of an unknown refId",
            balance=start - two,
        )
        self.ok(self.ask_balance(seat), "balance", start - two)
        self.ok(self.credit(seat, two, ref, game=game), "credit 2", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCreditCancel(self):
        """a cancel after the credit is BET_ALREADY_SETTLED"""
        seat, start = self.prepare(self.user(0))
        ref, tx, two = self.new_id("ref"), self.new_id("tx"), self.units(2)
        self.ok(self.debit(seat, two, ref, tx=tx), "debit 2", start - two)
        self.ok(self.credit(seat, two, ref), "credit 2", start)
        self.step(
            self.cancel(seat, two, tx, ref),
            "BET_ALREADY_SETTLED",
            "cancel after the credit",
            balance=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_sameUserPlayingWithDifferentChannelType(self):
        """sids of one user on two channels work side by side"""
        user = self.user(0)
        seat_a = self.launch(user, "P")
        start = self.balance(seat_a, "balance before check")
        seat_a = self.renew(seat_a, "P")
        seat_b = self.renew(self.launch(user, "M"), "M")
        self.ok(self.ask_balance(seat_a), "balance sid A")
        self.ok(self.ask_balance(seat_b), "balance sid B")
        game, ref_a = self.new_id("game"), self.new_id("ref")
        two, three = self.units(2), self.units(3)
        self.ok(self.debit(seat_a, two, ref_a, game=game), "debit 2 sid A", start - two)
        self.ok(
            self.debit(seat_b, three, self.new_id("ref"), game=game),
            "debit 3 sid B",
            start - two - three,
        )
        self.ok(self.credit(seat_b, two + three, ref_a, game=game), "credit 5 sid B", start)
        self.ok(self.ask_balance(seat_a), "balance sid A", start)
        self.ok(self.ask_balance(seat_b), "balance sid B", start)

    def valkyrie_Test_twoUsersBjGameEachPlaying_2_hands(self):
        """two users, two hands each, in one game"""
        seat_a, start_a = self.prepare(self.user(0))
        seat_b, start_b = self.prepare(self.user(1))
        two, three = self.units(2), self.units(3)
        ref_a1, ref_b1 = self.new_id("ref"), self.new_id("ref")
        self.ok(self.debit(seat_a, two, ref_a1, game=self.new_id("game")), "A debit", start_a - two)
        game = self.new_id("game")
        self.ok(self.debit(seat_b, three, ref_b1, game=game), "B debit", start_b - three)
        ref_a2, ref_b2 = self.new_id("ref"), self.new_id("ref")
        self.ok(self.debit(seat_a, two, ref_a2, game=game), "A debit 2", start_a - 2 * two)
        self.ok(self.debit(seat_b, three, ref_b2, game=game), "B debit 2", start_b - 2 * three)
        self.ok(self.credit(seat_a, two, ref_a1, game=game), "A credit", start_a - two)
        self.ok(self.credit(seat_a, two, ref_a2, game=game), "A credit 2", start_a)
        self.ok(self.credit(seat_b, three, ref_b1, game=game), "B credit", start_b - three)
        self.ok(self.credit(seat_b, three, ref_b2, game=game), "B credit 2", start_b)
        self.ok(self.ask_balance(seat_a), "A balance", start_a)
        self.ok(self.ask_balance(seat_b), "B balance", start_b)

    def valkyrie_Test_verifyCanPlaceBetBeforeSettleForAnotherGame(self):
        """a bet in another game before the first is settled"""
        seat, start = self.prepare(self.user(0))
        two = self.units(2)
        game_a, ref_a, game_b, ref_b = (self.new_id(k) for k in ("game", "ref", "game", "ref"))
        self.ok(self.debit(seat, two, ref_a, game=game_a), "debit game a", start - two)
        self.ok(self.debit(seat, two, ref_b, game=game_b), "debit game b", start - 2 * two)
        self.ok(self.credit(seat, two, ref_b, game=game_b), "credit game b", start - two)
        self.ok(self.credit(seat, two, ref_a, game=game_a), "credit game a", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_checkUsingInvalidUserId(self):
        """calls with a userId that is not the sid's are refused and change nothing"""
        status = self.mismatch_status("INVALID_SID")
        seat, start = self.prepare(self.user(0))
        fake = self.foreign(seat)
        self.step(self.client.check(fake), status, "check with a fake userId")
        seat = self.renew(seat)  # the sid still works
        self.ok(self.ask_balance(seat), "balance")
        fake = self.foreign(seat)
        game, ref, ten = self.new_id("game"), self.new_id("ref"), self.units(10)
        self.step(self.debit(fake, ten, ref, game=game), status, "debit with a fake userId")
        self.ok(self.ask_balance(seat), "balance", start)
        tx = self.new_id("tx")
        self.ok(self.debit(seat, ten, ref, tx=tx, game=game), "debit 10", start - ten)
        self.step(self.cancel(fake, ten, tx, ref, game=game), status, "cancel, fake userId")
        self.ok(self.ask_balance(seat), "balance", start - ten)
        self.step(self.credit(fake, self.units(2), ref, game=game), status, "credit, fake userId")
        self.ok(self.ask_balance(seat), "balance", start - ten)
        self.ok(self.credit(seat, ten, ref, game=game), "credit 10", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCancelBetDoesNotExist(self):
        """a cancel of an unknown debit is BET_DOES_NOT_EXIST"""
        seat, start = self.prepare(self.user(0))
        ref, tx, two = self.new_id("ref"), self.new_id("tx"), self.units(2)
        self.ok(self.debit(seat, two, ref, tx=tx), "debit 2", start - two)
        self.step(
            self.cancel(seat, two, self.new_id("tx"), self.new_id("ref")),
            "BET_DOES_NOT_EXIST",
            "cancel of an unknown debit",
            balance=start - two,
        )
        self.ok(self.ask_balance(seat), "balance", start - two)
        self.ok(self.cancel(seat, two, tx, ref), "cancel", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCancelBetAlreadySettled(self):
        """a second cancel is BET_ALREADY_SETTLED"""
        seat, start = self.prepare(self.user(0))
        ref, tx, three = self.new_id("ref"), self.new_id("tx"), self.units(3)
        self.ok(self.debit(seat, three, ref, tx=tx), "debit 3", start - three)
        self.ok(self.cancel(seat, three, tx, ref), "cancel", start)
        self.step(
            self.cancel(seat, three, tx, ref),
            "BET_ALREADY_SETTLED",
            "the same cancel again",
            balance=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_creditWithZeroAmount(self):
        """a credit of 0 settles a lost bet"""
        seat, start = self.prepare(self.user(0))
        ref, three = self.new_id("ref"), self.units(3)
        self.ok(self.debit(seat, three, ref), "debit 3", start - three)
        self.ok(self.credit(seat, 0, ref), "credit 0", start - three)
        self.ok(self.ask_balance(seat), "balance", start - three)

    def valkyrie_Test_debitCreditWithDifferentSids(self):
        """a new sid, never checked, plays on and settles the older sid's bet"""
        seat, start = self.prepare(self.user(0))
        game, ref1, ref2 = self.new_id("game"), self.new_id("ref"), self.new_id("ref")
        three, four = self.units(3), self.units(4)
        self.ok(self.debit(seat, three, ref1, game=game), "debit 3", start - three)
        other = self.launch(seat.user)
        self.ok(self.debit(other, four, ref2, game=game), "debit 4, new sid", start - three - four)
        self.ok(self.credit(other, three, ref1, game=game), "credit 3, new sid", start - four)
        self.ok(self.credit(other, four, ref2, game=game), "credit 4, new sid", start)

    def valkyrie_Test_multiStepGameTwoDebitsCreditCancel(self):
        """two debits in a game: one credited, then the other cancelled"""
        seat, start = self.prepare(self.user(0))
        game, ref1, ref2, tx2 = (self.new_id(k) for k in ("game", "ref", "ref", "tx"))
        seven, five = self.units(7), self.units(5)
        self.ok(self.debit(seat, seven, ref1, game=game), "debit 7", start - seven)
        self.ok(self.debit(seat, five, ref2, tx=tx2, game=game), "debit 5", start - seven - five)
        self.ok(self.credit(seat, seven, ref1, game=game), "credit 7", start - five)
        self.ok(self.cancel(seat, five, tx2, ref2, game=game), "cancel 5", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_multiStepGameTwoDebitsCancelCredit(self):
        """two debits in a game: one cancelled, then the other credited"""
        seat, start = self.prepare(self.user(0))
        game, ref1, ref2, tx2 = (self.new_id(k) for k in ("game", "ref", "ref", "tx"))
        three, two = self.units(3), self.units(2)
        self.ok(self.debit(seat, three, ref1, game=game), "debit 3", start - three)
        self.ok(self.debit(seat, two, ref2, tx=tx2, game=game), "debit 2", start - three - two)
        self.ok(self.cancel(seat, two, tx2, ref2, game=game), "cancel 2", start - three)
        self.ok(self.credit(seat, three, ref1, game=game), "credit 3", start)

    def valkyrie_Test_insufficientFunds(self):
        """a debit above the balance is INSUFFICIENT_FUNDS with the balance"""
        seat, start = self.prepare(self.user(0))
        self.step(
            self.debit(seat, 3 * start, self.new_id("ref")),
            "INSUFFICIENT_FUNDS",
            "debit of three times the balance",
            balance=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_multipleDontSettlementsScenario(self):
        """101 debits and credits in one game"""
        seat, start = self.prepare(self.user(0))
        game, twelve = self.new_id("game"), self.units(12)
        for n in range(101):
            ref = self.new_id("ref")
            self.ok(self.debit(seat, twelve, ref, game=game), f"debit {n + 1}", start - twelve)
            self.ok(self.credit(seat, twelve, ref, game=game), f"credit {n + 1}", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_onePlayerPlaysTwoGameRoundsOnOneTableInParallel(self):
        """two games in parallel on one table; a cancel after the credit is refused"""
        seat, start = self.prepare(self.user(0))
        game_a, game_b = self.new_id("game"), self.new_id("game")
        ref_a1, ref_a2, ref_b1, ref_b2 = (self.new_id("ref") for _ in range(4))
        tx_b1, tx_b2 = self.new_id("tx"), self.new_id("tx")
        u = self.units
        self.ok(self.debit(seat, u(10), ref_a1, game=game_a), "debit 10 a", start - u(10))
        self.ok(self.debit(seat, u(3), ref_b1, tx=tx_b1, game=game_b), "debit 3 b", start - u(13))
        self.ok(self.debit(seat, u(3), ref_b2, tx=tx_b2, game=game_b), "debit 3 b", start - u(16))
        self.ok(self.debit(seat, u(5), ref_a2, game=game_a), "debit 5 a", start - u(21))
        self.ok(self.cancel(seat, u(3), tx_b2, ref_b2, game=game_b), "cancel 3 b", start - u(18))
        self.ok(self.credit(seat, u(15), ref_a2, game=game_a), "credit 15 a", start - u(3))
        self.ok(self.credit(seat, u(3), ref_b1, game=game_b), "credit 3 b", start)
        self.step(
            self.cancel(seat, u(5), tx_b1, ref_b1, game=game_b),
            "BET_ALREADY_SETTLED",
            "cancel of a credited debit",
            balance=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCancelCredit(self):
        """a credit after the cancel is BET_ALREADY_SETTLED"""
        seat, start = self.prepare(self.user(0))
        ref, tx, ten = self.new_id("ref"), self.new_id("tx"), self.units(10)
        self.ok(self.debit(seat, ten, ref, tx=tx), "debit 10", start - ten)
        self.ok(self.cancel(seat, ten, tx, ref), "cancel", start)
        self.step(
            self.credit(seat, self.units(300), ref),
            "BET_ALREADY_SETTLED",
            "credit after the cancel",
            balance=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_debitCreditWithBigPayout(self):
        """a payout of 63,727,092.34, staked again"""
        seat, start = self.prepare(self.user(0))
        ref1, ref2, ten = self.new_id("ref"), self.new_id("ref"), self.units(10)
        big = self.units(BIG_PAYOUT)
        self.ok(self.debit(seat, ten, ref1), "debit 10", start - ten)
        self.ok(self.credit(seat, big, ref1), "big credit", start - ten + big)
        self.ok(self.debit(seat, big, ref2), "big debit", start - ten)
        self.ok(self.credit(seat, ten, ref2), "credit 10", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def valkyrie_Test_doublePromoPayouts(self):
        """the same promo payout twice pays once and answers OK"""
        seat, start = self.prepare(self.user(0))
        promo_id, ten = self.new_id("promo"), self.units(10)
        game = self.client.game(self.new_id("game"))
        self.ok(self.promo(seat, ten, promo_id, game=game), "promo payout", start + ten)
        self.ok(self.promo(seat, ten, promo_id, game=game), "the same promo payout", start + ten)
        self.ok(self.ask_balance(seat), "balance", start + ten)

    def valkyrie_Test_promoPayout(self):
        """a promo payout"""
        seat, start = self.prepare(self.user(0))
        ten = self.units(10)
        game = self.client.game(self.new_id("game"))
        self.ok(self.promo(seat, ten, game=game), "promo payout", start + ten)
        self.ok(self.ask_balance(seat), "balance", start + ten)

    def valkyrie_Test_multipleDebitCreditCancelSettleTypeMixed(self):
        """15 debits in one game settled by credits, zero credits and cancels"""
        seat, start = self.prepare(self.user(0))
        game, three, four = self.new_id("game"), self.units(3), self.units(4)
        bets = [(self.new_id("ref"), self.new_id("tx")) for _ in range(15)]
        for n, (ref, tx) in enumerate(bets, start=1):
            self.ok(self.debit(seat, three, ref, tx=tx, game=game), f"debit {n}", start - n * three)
        balance = start - 15 * three
        for n, (ref, _) in enumerate(bets[:7], start=1):
            balance += four
            self.ok(self.credit(seat, four, ref, game=game), f"credit 4 on {n}", balance)
        for n, (ref, _) in enumerate(bets[7:10], start=8):
            self.ok(self.credit(seat, 0, ref, game=game), f"credit 0 on {n}", balance)
        balance += self.units(5)
        self.ok(self.credit(seat, self.units(5), bets[10][0], game=game), "credit 5", balance)
        for n, (ref, tx) in enumerate(bets[11:], start=12):
            balance += three
            self.ok(self.cancel(seat, three, tx, ref, game=game), f"cancel {n}", balance)
        self.ok(self.ask_balance(seat), "balance", start)

    # --- tool: Evolution's One Wallet test tool (two-decimal amounts) --------------------------

    def start(self, user: int = 0) -> tuple[Seat, int]:
        """sid (empty sid, channel P), check, balance: how every tool scenario begins."""
        seat = self.renew(self.launch(self.user(user)))
        return seat, self.balance(seat, "initial balance")

    def debit_credit(self, seat, start, debit: str, credit: str) -> int:
        ref, d, c = self.new_id("ref"), self.units(debit), self.units(credit)
        self.ok(self.debit(seat, d, ref), f"debit {debit}", start - d)
        self.ok(self.credit(seat, c, ref), f"credit {credit}", start - d + c)
        return start - d + c

    def tool_debit_credit_settle_type_gamewise(self):
        """not run by Evolution's tool for a casino with mixed settlement"""
        raise Skipped(
            "the tool does not run it: \"Scenario can't be executed for Mixed "
            'settlement type" (the settlement type is a setting of the casino at '
            "Evolution; Pitboss settles each bet by its refId)"
        )

    def tool_response_time_validation(self):
        """balance with a game, then ten debits and credits (the tool also times each call)"""
        seat, start = self.start()
        self.balance(seat, "balance with a game", game=self.client.game(None))
        balance = start
        for _ in range(10):
            balance = self.debit_credit(seat, balance, "0.40", "0.60")
        self.ok(self.ask_balance(seat), "balance", balance)

    def tool_all_methods_check_before_running_tests(self):
        """debit, credit, balance"""
        seat, start = self.start()
        balance = self.debit_credit(seat, start, "3.88", "3.15")
        self.ok(self.ask_balance(seat), "balance", balance)

    def tool_craps_delayed_settlement(self):
        """a debit left open"""
        seat, start = self.start()
        d = self.units("0.55")
        self.ok(self.debit(seat, d, self.new_id("ref")), "debit", start - d)
        self.ok(self.ask_balance(seat), "balance", start - d)

    def tool_one_player_plays_two_game_rounds_on_one_table_in_parallel(self):
        """four debits in two games, one cancelled, three credited, a late cancel refused"""
        seat, start = self.start()
        game1, game2 = self.new_id("game"), self.new_id("game")
        bets = {  # ref: (game, tx, amount)
            "r13": (game1, self.new_id("tx"), self.units("2.59")),
            "r14": (game2, self.new_id("tx"), self.units("2.99")),
            "r15": (game2, self.new_id("tx"), self.units("0.45")),
            "r16": (game1, self.new_id("tx"), self.units("3.29")),
        }
        refs = {name: self.new_id("ref") for name in bets}
        balance = start
        for name, (game, tx, amount) in bets.items():
            balance -= amount
            self.ok(
                self.debit(seat, amount, refs[name], tx=tx, game=game), f"debit {name}", balance
            )
        game, tx, amount = bets["r15"]
        balance += amount
        self.ok(self.cancel(seat, amount, tx, refs["r15"], game=game), "cancel r15", balance)
        for name, won in (("r13", "5.04"), ("r16", "4.48"), ("r14", "4.43")):
            balance += self.units(won)
            game = bets[name][0]
            self.ok(self.credit(seat, self.units(won), refs[name], game=game), name, balance)
        game, tx, amount = bets["r14"]
        self.step(
            self.cancel(seat, amount, tx, refs["r14"], game=game),
            ("BET_ALREADY_SETTLED", "BET_DOES_NOT_EXIST"),
            "cancel of a credited debit",
            balance_or_null=balance,
        )
        self.ok(self.ask_balance(seat), "balance", balance)

    def tool_multi_step_game_two_debits_cancel_credit(self):
        """two debits, one cancelled, the other credited"""
        seat, start = self.start()
        game, ref17, ref18, tx18 = (self.new_id(k) for k in ("game", "ref", "ref", "tx"))
        d17, d18, c17 = self.units("0.76"), self.units("0.18"), self.units("3.77")
        self.ok(self.debit(seat, d17, ref17, game=game), "debit", start - d17)
        self.ok(self.debit(seat, d18, ref18, tx=tx18, game=game), "debit", start - d17 - d18)
        self.ok(self.cancel(seat, d18, tx18, ref18, game=game), "cancel", start - d17)
        self.ok(self.credit(seat, c17, ref17, game=game), "credit", start - d17 + c17)
        self.ok(self.ask_balance(seat), "balance", start - d17 + c17)

    def tool_two_users_bj_game_each_playing_two_hands(self):
        """two users, two hands each"""
        seat_a, start_a = self.start(0)
        seat_b, start_b = self.start(1)
        game_a, game_b = self.new_id("game"), self.new_id("game")
        da, db, ca, cb = (self.units(x) for x in ("1.53", "3.15", "0.39", "0.14"))
        refs_a = [self.new_id("ref"), self.new_id("ref")]
        refs_b = [self.new_id("ref"), self.new_id("ref")]
        for n in range(2):
            self.ok(
                self.debit(seat_a, da, refs_a[n], game=game_a), "A debit", start_a - da * (n + 1)
            )
            self.ok(
                self.debit(seat_b, db, refs_b[n], game=game_b), "B debit", start_b - db * (n + 1)
            )
        balance_a, balance_b = start_a - 2 * da, start_b - 2 * db
        for n in range(2):
            balance_a += ca
            self.ok(self.credit(seat_a, ca, refs_a[n], game=game_a), "A credit", balance_a)
            balance_b += cb
            self.ok(self.credit(seat_b, cb, refs_b[n], game=game_b), "B credit", balance_b)
        self.ok(self.ask_balance(seat_a), "A balance", balance_a)
        self.ok(self.ask_balance(seat_b), "B balance", balance_b)

    def tool_verify_can_place_bet_before_settle_for_another_game(self):
        """a bet in another game before the first is settled"""
        seat, start = self.start()
        game_a, ref_a, game_b, ref_b = (self.new_id(k) for k in ("game", "ref", "game", "ref"))
        da, db, cb, ca = (self.units(x) for x in ("2.94", "3.13", "2.31", "2.80"))
        self.ok(self.debit(seat, da, ref_a, game=game_a), "debit a", start - da)
        self.ok(self.debit(seat, db, ref_b, game=game_b), "debit b", start - da - db)
        self.ok(self.credit(seat, cb, ref_b, game=game_b), "credit b", start - da - db + cb)
        balance = start - da - db + cb + ca
        self.ok(self.credit(seat, ca, ref_a, game=game_a), "credit a", balance)
        self.ok(self.ask_balance(seat), "balance", balance)

    def tool_cancel_debit_before_cancel_for_another_game(self):
        """a cancel before its debit, then the debit: refused for good"""
        seat, start = self.start()
        game20, ref25, tx46 = self.new_id("game"), self.new_id("ref"), self.new_id("tx")
        game21, ref26, tx47 = self.new_id("game"), self.new_id("ref"), self.new_id("tx")
        d25, d26 = self.units("2.24"), self.units("2.70")
        self.ok(self.debit(seat, d25, ref25, tx=tx46, game=game20), "debit", start - d25)
        self.step(
            self.cancel(seat, d26, tx47, ref26, game=game21),
            "BET_DOES_NOT_EXIST",
            "cancel of a debit not made yet",
            balance_or_null=start - d25,
        )
        self.ok(self.ask_balance(seat), "balance", start - d25)
        self.step(
            self.debit(seat, d26, ref26, tx=tx47, game=game21),
            "FINAL_ERROR_ACTION_FAILED",
            "the cancelled debit arriving",
            balance_or_null=start - d25,
        )
        self.ok(self.ask_balance(seat), "balance", start - d25)
        self.ok(self.cancel(seat, d25, tx46, ref25, game=game20), "cancel", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def tool_multi_step_game_two_debits_credit_cancel(self):
        """two debits, one credited, the other cancelled"""
        seat, start = self.start()
        game, ref27, ref28, tx28 = (self.new_id(k) for k in ("game", "ref", "ref", "tx"))
        d27, d28, c27 = self.units("2.61"), self.units("3.96"), self.units("2.39")
        self.ok(self.debit(seat, d27, ref27, game=game), "debit", start - d27)
        self.ok(self.debit(seat, d28, ref28, tx=tx28, game=game), "debit", start - d27 - d28)
        self.ok(self.credit(seat, c27, ref27, game=game), "credit", start - d27 - d28 + c27)
        self.ok(self.cancel(seat, d28, tx28, ref28, game=game), "cancel", start - d27 + c27)
        self.ok(self.ask_balance(seat), "balance", start - d27 + c27)

    def tool_multiple_debit_credit_cancel_settle_type_mixed(self):
        """15 debits in one game: 7 paid double, 4 even, 4 cancelled"""
        seat, start = self.start()
        game, stake, double = self.new_id("game"), self.units("0.83"), self.units("1.66")
        bets = [(self.new_id("ref"), self.new_id("tx")) for _ in range(15)]
        balance = start
        for ref, tx in bets:
            balance -= stake
            self.ok(self.debit(seat, stake, ref, tx=tx, game=game), "debit", balance)
        for n, (ref, tx) in enumerate(bets):
            if n < 11:
                paid = double if n < 7 else stake
                balance += paid
                self.ok(self.credit(seat, paid, ref, game=game), "credit", balance)
            else:
                balance += stake
                self.ok(self.cancel(seat, stake, tx, ref, game=game), "cancel", balance)
        self.ok(self.ask_balance(seat), "balance", balance)

    def tool_multiple_dond_settlements(self):
        """101 debits in one game, 100 lost, one won"""
        seat, start = self.start()
        game, stake = self.new_id("game"), self.units("1.39")
        refs = [self.new_id("ref") for _ in range(101)]
        balance = start
        for ref in refs:
            balance -= stake
            self.ok(self.debit(seat, stake, ref, game=game), "debit", balance)
        for ref in refs[:-1]:
            self.ok(self.credit(seat, 0, ref, game=game), "credit 0", balance)
        balance += self.units("478.70")
        self.ok(self.credit(seat, self.units("478.70"), refs[-1], game=game), "credit", balance)
        self.ok(self.ask_balance(seat), "balance", balance)

    def promo_scenario(self, amount: str, promo_type: str, game=None, **promo_fields):
        seat, start = self.start()
        paid = self.units(amount)
        self.ok(
            self.promo(seat, paid, promo_type=promo_type, game=game, promo_fields=promo_fields),
            f"promo payout {promo_type}",
            start + paid,
        )
        self.ok(self.ask_balance(seat), "balance", start + paid)

    def jackpots(self, *amounts: str) -> list[dict]:
        return [
            {"id": self.new_id("jackpot"), "winAmount": to_number(self.units(a), self.currency)}
            for a in amounts
        ]

    def tool_free_round_playable_spent_promo_payout(self):
        """FreeRoundPlayableSpent promo payout"""
        self.promo_scenario(
            "0.54", "FreeRoundPlayableSpent", voucherId=self.new_id("voucher"), remainingRounds=0
        )

    def tool_real_time_monetary_reward_promo_payout(self):
        """RtrMonetaryReward promo payout"""
        self.promo_scenario(
            "2.17",
            "RtrMonetaryReward",
            bonusConfigId=self.new_id("bonus"),
            rewardId=self.new_id("reward"),
        )

    def tool_jackpot_promo_payout(self):
        """JackpotWin promo payout with its jackpot and game round"""
        game = self.client.game(self.new_id("game"), kind="starburst")
        self.promo_scenario("1.02", "JackpotWin", game, jackpots=self.jackpots("1.02"))

    def tool_reward_game_playable_spent_promo_payout(self):
        """RewardGamePlayableSpent promo payout"""
        self.promo_scenario(
            "2.68",
            "RewardGamePlayableSpent",
            voucherId=self.new_id("voucher"),
            playableBalance=to_number(0, self.currency),
        )

    def tool_new_type_promo_payout(self):
        """a promo payout of a type the wallet does not know yet"""
        game = self.client.game(self.new_id("game"), kind="starburst")
        self.promo_scenario(
            "1.59", "NewType", game, jackpots=self.jackpots("0.53", "0.53", "0.53"), **FAKE_FIELD
        )

    def tool_double_promo_payout(self):
        """the same promo payout twice pays once"""
        seat, start = self.start()
        promo_id, paid = self.new_id("promo"), self.units("2.99")
        self.ok(self.promo(seat, paid, promo_id), "promo payout", start + paid)
        self.step(
            self.promo(seat, paid, promo_id),
            ("OK", "BET_ALREADY_SETTLED"),
            "the same promo payout",
            balance_or_null=start + paid,
        )
        self.ok(self.ask_balance(seat), "balance", start + paid)

    def tool_reward_game_win_cap_reached_promo_payout(self):
        """RewardGameWinCapReached promo payout"""
        self.promo_scenario(
            "3.58",
            "RewardGameWinCapReached",
            voucherId=self.new_id("voucher"),
            playableBalance=to_number(0, self.currency),
        )

    def tool_reward_game_min_bet_limit_reached_promo_payout(self):
        """RewardGameMinBetLimitReached promo payout"""
        self.promo_scenario(
            "0.79",
            "RewardGameMinBetLimitReached",
            voucherId=self.new_id("voucher"),
            playableBalance=to_number(0, self.currency),
        )

    def tool_credit_with_zero_amount(self):
        """a credit of 0"""
        seat, start = self.start()
        balance = self.debit_credit(seat, start, "1.45", "0")
        self.ok(self.ask_balance(seat), "balance", balance)

    def tool_debit_cancel_bet_already_settled(self):
        """the same cancel twice"""
        seat, start = self.start()
        ref, tx, stake = self.new_id("ref"), self.new_id("tx"), self.units("0.58")
        self.ok(self.debit(seat, stake, ref, tx=tx), "debit", start - stake)
        self.ok(self.cancel(seat, stake, tx, ref), "cancel", start)
        self.step(
            self.cancel(seat, stake, tx, ref),
            ("BET_ALREADY_SETTLED", "OK"),
            "the same cancel again",
            balance_or_null=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def tool_insufficient_funds(self):
        """a debit of the balance and 0.10"""
        seat, start = self.start()
        self.step(
            self.debit(seat, start + max(1, self.units("0.10")), self.new_id("ref")),
            "INSUFFICIENT_FUNDS",
            "debit above the balance",
            balance_or_null=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def tool_debit_credit_cancel(self):
        """a cancel after the credit is BET_ALREADY_SETTLED"""
        seat, start = self.start()
        ref, tx = self.new_id("ref"), self.new_id("tx")
        stake, won = self.units("4.74"), self.units("2.09")
        self.ok(self.debit(seat, stake, ref, tx=tx), "debit", start - stake)
        self.ok(self.credit(seat, won, ref), "credit", start - stake + won)
        self.step(
            self.cancel(seat, stake, tx, ref),
            "BET_ALREADY_SETTLED",
            "cancel after the credit",
            balance_or_null=start - stake + won,
        )
        self.ok(self.ask_balance(seat), "balance", start - stake + won)

    def tool_debit_cancel(self):
        """debit, cancel"""
        seat, start = self.start()
        ref, tx, stake = self.new_id("ref"), self.new_id("tx"), self.units("0.88")
        self.ok(self.debit(seat, stake, ref, tx=tx), "debit", start - stake)
        self.ok(self.cancel(seat, stake, tx, ref), "cancel", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def tool_check_using_new_sid(self):
        """after check, the old sid is INVALID_SID"""
        old = self.launch(self.user(0))
        new = self.renew(old)
        if new.token == old.token:
            raise StepFailed("check returned the same sid")
        self.step(self.ask_balance(old), "INVALID_SID", "balance, old sid")
        ref, one = self.new_id("ref"), self.units(1)
        self.step(self.debit(old, one, ref), "INVALID_SID", "debit with the old sid")
        self.step(
            self.credit(old, one, ref),
            ("INVALID_SID", "BET_DOES_NOT_EXIST"),
            "credit with the old sid",
        )

    def tool_debit_credit(self):
        """debit, credit"""
        seat, start = self.start()
        balance = self.debit_credit(seat, start, "1.02", "0.46")
        self.ok(self.ask_balance(seat), "balance", balance)

    def tool_debit_bet_already_exist(self):
        """a debit id used again with another amount"""
        seat, start = self.start()
        ref, tx = self.new_id("ref"), self.new_id("tx")
        first, second = self.units("4.80"), self.units("4.16")
        self.ok(self.debit(seat, first, ref, tx=tx), "debit", start - first)
        self.step(
            self.debit(seat, second, ref, tx=tx),
            ("BET_ALREADY_EXIST", "OK"),
            "the same debit id with another amount",
            balance_or_null=start - first,
        )
        self.ok(self.ask_balance(seat), "balance", start - first)
        won = self.units("3.65")
        self.ok(self.credit(seat, won, ref), "credit", start - first + won)
        self.ok(self.ask_balance(seat), "balance", start - first + won)

    def tool_debit_credit_bet_already_settled(self):
        """the same credit twice pays once"""
        seat, start = self.start()
        ref, tx = self.new_id("ref"), self.new_id("tx")
        stake, won = self.units("5.00"), self.units("0.90")
        self.ok(self.debit(seat, stake, ref), "debit", start - stake)
        self.ok(self.credit(seat, won, ref, tx=tx), "credit", start - stake + won)
        self.step(
            self.credit(seat, won, ref, tx=tx),
            ("BET_ALREADY_SETTLED", "OK"),
            "the same credit again",
            balance_or_null=start - stake + won,
        )
        self.ok(self.ask_balance(seat), "balance", start - stake + won)

    def tool_debit_cancel_credit(self):
        """a credit after the cancel is BET_ALREADY_SETTLED"""
        seat, start = self.start()
        ref, tx, stake = self.new_id("ref"), self.new_id("tx"), self.units("0.81")
        self.ok(self.debit(seat, stake, ref, tx=tx), "debit", start - stake)
        self.ok(self.cancel(seat, stake, tx, ref), "cancel", start)
        self.step(
            self.credit(seat, self.units("2.14"), ref),
            "BET_ALREADY_SETTLED",
            "credit after the cancel",
            balance_or_null=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def tool_check_using_invalid_user_id(self):
        """calls with a fake userId are INVALID_PARAMETER, balance null, and change nothing"""
        status = self.mismatch_status("INVALID_PARAMETER")
        seat = self.launch(self.user(0))
        fake = self.foreign(seat)

        def refused(answer, what, **balance):
            self.step(answer, status, what, **balance)
            if not balance and answer.http.body.get("balance") is not None:
                raise StepFailed(f"{what}: wanted balance null, got {_short(answer)}")

        refused(self.client.check(fake, **self._extra), "check, fake userId")
        seat = self.renew(seat)
        fake = self.foreign(seat)
        refused(self.ask_balance(fake), "balance, fake userId")
        start = self.balance(seat)
        ref, stake, won = self.new_id("ref"), self.units("1.79"), self.units("2.18")
        refused(self.debit(fake, stake, ref), "debit, fake userId")
        self.ok(self.ask_balance(seat), "balance", start)
        tx = self.new_id("tx")
        self.ok(self.debit(seat, stake, ref, tx=tx), "debit", start - stake)
        refused(self.cancel(fake, stake, tx, ref), "cancel", balance_or_null=start - stake)
        self.ok(self.ask_balance(seat), "balance", start - stake)
        refused(self.credit(fake, won, ref), "credit", balance_or_null=start - stake)
        self.ok(self.ask_balance(seat), "balance", start - stake)
        self.ok(self.credit(seat, won, ref), "credit", start - stake + won)
        self.ok(self.ask_balance(seat), "balance", start - stake + won)

    def tool_debit_credit_bet_already_settled_unexpected(self):
        """a second credit of a settled bet, with a new id, pays nothing"""
        seat, start = self.start()
        ref, stake, won = self.new_id("ref"), self.units("3.26"), self.units("2.87")
        self.ok(self.debit(seat, stake, ref), "debit", start - stake)
        self.ok(self.credit(seat, won, ref), "credit", start - stake + won)
        self.step(
            self.credit(seat, won, ref),
            ("BET_ALREADY_SETTLED", "OK"),
            "another credit of the same refId",
            balance_or_null=start - stake + won,
        )
        self.ok(self.ask_balance(seat), "balance", start - stake + won)

    def tool_debit_cancel_bet_already_settled_unexpected(self):
        """a second cancel of a cancelled debit, with a new id, refunds nothing"""
        seat, start = self.start()
        ref, tx, stake = self.new_id("ref"), self.new_id("tx"), self.units("3.79")
        self.ok(self.debit(seat, stake, ref, tx=tx), "debit", start - stake)
        self.ok(self.cancel(seat, stake, tx, ref), "cancel", start)
        self.step(
            self.cancel(seat, stake, self.new_id("tx"), ref),
            ("BET_ALREADY_SETTLED", "OK"),
            "another cancel of the same refId",
            balance_or_null=start,
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def tool_debit_credit_with_big_payout(self):
        """a payout of 63,727,092.34, staked again"""
        seat, start = self.start()
        stake, big = self.units("0.40"), self.units(BIG_PAYOUT)
        ref1, ref2 = self.new_id("ref"), self.new_id("ref")
        self.ok(self.debit(seat, stake, ref1), "debit", start - stake)
        self.ok(self.credit(seat, big, ref1), "big credit", start - stake + big)
        self.ok(self.debit(seat, big, ref2), "big debit", start - stake)
        self.ok(self.credit(seat, stake, ref2), "credit", start)
        self.ok(self.ask_balance(seat), "balance", start)

    def tool_lobby_balance(self):
        """the second user's sid, check and balance"""
        self.start(1)

    # --- edge cases every protocol kit checks ---------------------------------------------------

    def edge_zero_credit(self):
        """a credit of 0 settles a lost bet"""
        seat, start = self.prepare(self.user(0))
        ref, one = self.new_id("ref"), self.units(1)
        self.ok(self.debit(seat, one, ref), "debit 1", start - one)
        self.ok(self.credit(seat, 0, ref), "credit 0", start - one)
        self.step(self.cancel(seat, one, self.new_id("tx"), ref), "BET_ALREADY_SETTLED", "cancel")

    def edge_big_payout(self):
        """a payout of 63,727,092.34 (or the nearest the currency allows), staked again"""
        self.valkyrie_Test_debitCreditWithBigPayout()

    def edge_many_debits_and_credits(self):
        """25 debits in one game, then their 25 credits"""
        seat, start = self.prepare(self.user(0))
        game, one = self.new_id("game"), self.units(1)
        refs = [self.new_id("ref") for _ in range(25)]
        for n, ref in enumerate(refs, start=1):
            self.ok(self.debit(seat, one, ref, game=game), f"debit {n}", start - n * one)
        for n, ref in enumerate(refs, start=1):
            balance = start - 25 * one + 2 * n * one
            self.ok(self.credit(seat, 2 * one, ref, game=game), f"credit {n}", balance)
        self.ok(self.ask_balance(seat), "balance", start + 25 * one)

    def edge_cancel_before_debit(self):
        """a cancel before its debit; the debit then FINAL_ERROR_ACTION_FAILED"""
        seat, start = self.prepare(self.user(0))
        ref, tx, one = self.new_id("ref"), self.new_id("tx"), self.units(1)
        self.step(
            self.cancel(seat, one, tx, ref),
            "BET_DOES_NOT_EXIST",
            "cancel of a debit not made yet",
            balance=start,
        )
        self.step(
            self.debit(seat, one, ref, tx=tx),
            "FINAL_ERROR_ACTION_FAILED",
            "the cancelled debit arriving",
            balance=start,
        )
        self.step(
            self.cancel(seat, one, tx, ref), "BET_DOES_NOT_EXIST", "the cancel again", balance=start
        )
        self.ok(self.ask_balance(seat), "balance", start)

    def edge_credit_after_cancel(self):
        """a credit after the cancel is BET_ALREADY_SETTLED and pays nothing"""
        self.valkyrie_Test_debitCancelCredit()

    def edge_duplicate_other_amount(self):
        """a debit id used again with another amount is BET_ALREADY_EXIST"""
        seat, start = self.prepare(self.user(0))
        ref, tx, one = self.new_id("ref"), self.new_id("tx"), self.units(1)
        self.ok(self.debit(seat, one, ref, tx=tx), "debit 1", start - one)
        self.step(
            self.debit(seat, 2 * one, ref, tx=tx),
            "BET_ALREADY_EXIST",
            "the same id, 2",
            balance=start - one,
        )
        self.step(
            self.debit(seat, one, self.new_id("ref"), tx=tx),
            "BET_ALREADY_EXIST",
            "the same id, another refId",
            balance=start - one,
        )
        self.ok(self.credit(seat, one, ref), "credit 1", start)

    def edge_unknown_fields_ignored(self):
        """fields the wallet does not know are ignored, at any depth"""
        seat, start = self.prepare(self.user(0))
        ref, tx, one = self.new_id("ref"), self.new_id("tx"), self.units(1)
        extra = {"someFakeField": "someFakeField", "meta": {"anything": [1, 2]}}
        transaction = {
            "id": tx,
            "refId": ref,
            "amount": to_number(one, self.currency),
            "someFakeField": "x",
        }
        self.ok(
            self.debit(seat, one, ref, tx=tx, transaction=transaction, **extra),
            "debit",
            start - one,
        )
        self.ok(self.credit(seat, one, ref, **extra), "credit", start)
        self.ok(self.ask_balance(seat, game=None, **extra), "balance", start)

    # --- the protocol's own --------------------------------------------------------------------

    def case_protocol(self):
        seat = self.seats[0]
        fields = {"sid": seat.token, "userId": seat.user, "currency": seat.currency, "uuid": "u-1"}
        for rule, query, what in (
            ("protocol.wrong_auth_token", "authToken=not-the-secret", "another authToken"),
            ("protocol.no_auth_token", "", "no authToken"),
        ):
            result = self.client.send("balance", fields, query=query)
            answer = self.client.answer(result, seat.currency)
            self.check(
                rule,
                result.status == 200 and answer.status == "INVALID_TOKEN_ID",
                f"{what}: HTTP 200 INVALID_TOKEN_ID",
                f"{what}: HTTP {result.status} {_short(answer)}",
            )
        ghost = replace(seat, token=f"no-such-sid-{self.prefix}")
        self.expect(
            "protocol.unknown_sid", self.client.balance(ghost), "INVALID_SID", "an unknown sid"
        )
        answer = self.client.call("balance", fields, seat.currency)
        body = answer.http.body if isinstance(answer.http.body, dict) else {}
        self.check(
            "protocol.answer_fields",
            answer.ok
            and set(body) == {"status", "balance", "bonus", "uuid"}
            and body["uuid"] == "u-1"
            and body["bonus"] == 0,
            "balance: status, balance, bonus 0 and the uuid echoed",
            f"balance answer {body}",
        )

    def case_after_close(self):
        if len(self.seats) < 2 or self.seats[1].user != self.seats[0].user:
            self.record("edge.expired_token", SKIP, "needs a second seat of the first player")
            return
        seat = self.seats[1]
        one = self.units(1)
        start = self.client.balance(seat).balance_minor
        credited, cancelled = self.new_id("ref"), self.new_id("ref")
        cancel_tx = self.new_id("tx")
        placed = [
            self.client.debit(seat, self.new_id("tx"), credited, one).ok,
            self.client.debit(seat, cancel_tx, cancelled, one).ok,
        ]
        if start is None or not all(placed):
            self.record("edge.expired_token", FAIL, "could not place the bets to settle later")
            return
        if not self.end_session(seat):
            self.record("edge.expired_token", SKIP, "the kit could not end the second session")
            return
        self.expect(
            "protocol.debit_after_session_end",
            self.client.debit(seat, self.new_id("tx"), self.new_id("ref"), one),
            "INVALID_SID",
            "a debit on an ended session",
        )
        self.expect(
            "edge.expired_token_on_credit",
            self.client.credit(seat, self.new_id("tx"), credited, 2 * one),
            "OK",
            "a credit after the session ended",
            balance_minor=start,
        )
        self.expect(
            "edge.expired_token_on_cancel",
            self.client.cancel(seat, cancel_tx, cancelled, one),
            "OK",
            "a cancel after the session ended",
            balance_minor=start + one,
        )
