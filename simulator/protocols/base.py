"""What every protocol client and kit shares."""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.clients import HttpResult

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass(frozen=True)
class Seat:
    """A player's launched session as the provider knows it: the session token (the
    protocol's token, sid or session_id), the player id it sends, the currency."""

    token: str
    user: str
    currency: str


@dataclass
class Answer:
    """One protocol answer read back in the ledger's terms."""

    http: HttpResult
    status: str  # the protocol's own status word
    canonical: str  # the ledger's outcome code it stands for ("OK", "INSUFFICIENT_FUNDS", ...)
    balance_minor: int | None = None
    duplicate: bool | None = None  # when the protocol says so

    @property
    def ok(self) -> bool:
        return self.canonical == "OK"


class ProtocolClient:
    """The canonical operations in one protocol. Amounts are the currency's minor units; each
    client converts to its protocol's units."""

    protocol: str

    def balance(self, seat: Seat) -> Answer:
        raise NotImplementedError

    def bet(self, seat: Seat, txn: str, round_id: str, amount_minor: int) -> Answer:
        raise NotImplementedError

    def win(
        self, seat: Seat, txn: str, round_id: str, amount_minor: int, *, bet_txn: str, close: bool
    ) -> Answer:
        raise NotImplementedError

    def rollback(self, seat: Seat, txn: str, reference: str, round_id: str) -> Answer:
        raise NotImplementedError


@dataclass
class CaseResult:
    rule: str
    verdict: str
    detail: str


@dataclass
class ProtocolKit:
    """A protocol's edge cases over HTTP, PASS / FAIL / SKIP per case, in order."""

    client: ProtocolClient
    seats: list[Seat]
    report: Callable[[CaseResult], None] = lambda result: None
    only: tuple[str, ...] = ()
    results: list[CaseResult] = field(default_factory=list)
    prefix: str = field(default_factory=lambda: f"kit-{int(time.time())}-{secrets.token_hex(3)}")
    _seq: int = 0

    def new_id(self, kind: str) -> str:
        self._seq += 1
        return f"{self.prefix}-{kind}{self._seq}"

    def wanted(self, rule: str) -> bool:
        return not self.only or rule.startswith(self.only)

    def record(self, rule: str, verdict: str, detail: str) -> bool:
        if self.wanted(rule):
            result = CaseResult(rule, verdict, detail)
            self.results.append(result)
            self.report(result)
        return verdict == PASS

    def check(self, rule: str, condition: bool, detail: str, failure: str) -> bool:
        return self.record(rule, PASS if condition else FAIL, detail if condition else failure)

    def expect(
        self, rule: str, answer: Answer, statuses: str | tuple[str, ...], what: str, **balance
    ) -> bool:
        """The answer's protocol status is one of `statuses` (and, with balance_minor=, the
        balance it carries is that)."""
        allowed = (statuses,) if isinstance(statuses, str) else statuses
        wanted = balance.get("balance_minor")
        good = answer.status in allowed and (wanted is None or answer.balance_minor == wanted)
        seen = f"{answer.http.status} {answer.status}"
        if wanted is not None:
            seen += f" balance {answer.balance_minor} (wanted {wanted})"
        return self.check(
            rule, good, f"{what}: {'/'.join(allowed)}", f"{what}: {seen} {_short(answer)}"
        )

    def cases(self) -> list[tuple[str, Callable[[], None]]]:
        raise NotImplementedError

    def run(self) -> list[CaseResult]:
        for name, case in self.cases():
            if self.only and not any(name.startswith(o) or o.startswith(name) for o in self.only):
                continue
            try:
                case()
            except Exception as error:  # a broken answer must not stop the other cases
                self.record(name, FAIL, f"{name}: stopped by {error!r}")
        return self.results


def _short(answer: Answer) -> str:
    text = repr(answer.http.body)
    return text if len(text) <= 240 else text[:240] + "..."


class LaunchFailed(Exception):
    """The kit cannot get seats to play with."""


@dataclass
class StaffSeats:
    """Seats launched through the back-office API (a new funded player, sessions for it), and
    the staff call that ends one (POST /api/v1/sessions/{id}/close)."""

    staff: object  # simulator.clients.StaffClient (an integrator: players, payments, launches)
    closer: object = None  # a StaffClient of a support agent, who may close sessions
    session_ids: dict[str, int] = field(default_factory=dict)

    def launch(self, provider: str, currency: str, *, count: int = 2, funds: str = "1000") -> list:
        stamp = f"{int(time.time())}-{secrets.token_hex(3)}"
        external_id = f"kit-{stamp}"
        created = self.staff.post("players/", {"external_id": external_id, "currency": currency})
        if created.status != 201:
            raise LaunchFailed(f"creating a player: HTTP {created.status} {created.body}")
        player = created.get("id")
        paid = self.staff.post(
            "payments/deposits",
            {
                "player": player,
                "amount": funds,
                "currency": currency,
                "external_id": f"kit-deposit-{stamp}",
            },
        )
        if paid.status not in (200, 201):
            raise LaunchFailed(f"funding the player: HTTP {paid.status} {paid.body}")
        seats = []
        for _ in range(count):
            launched = self.staff.post(
                "sessions/",
                {"player": player, "provider": provider, "currency": currency, "game_id": "kit"},
            )
            if launched.status != 201:
                raise LaunchFailed(f"launching a session: HTTP {launched.status} {launched.body}")
            seat = Seat(launched.get("session_token"), external_id, currency)
            self.session_ids[seat.token] = launched.get("id")
            seats.append(seat)
        return seats

    def end_session(self, seat: Seat) -> bool:
        session_id = self.session_ids.get(seat.token)
        if session_id is None or self.closer is None:
            return False
        closed = self.closer.post(f"sessions/{session_id}/close", {"reason": "conformance kit"})
        return closed.status == 200
