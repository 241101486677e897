"""The seeded money simulation ("VOPR-style"): from one seed, many providers' and staff's
interleaved calls over real HTTP against the production entry point, then the invariants.

One seed fixes, per worker, an endless stream of intended operations (simulator.soak.schedule):
launches, authentications, bets, wins, rollbacks, duplicates, mismatched replays, late bets
after a rollback tombstone, late wins after a session closed, retries after client timeouts,
round and session closes (by the provider and by staff), deposits, withdrawals, a cash-out
pattern the fraud rules hold and a race of two staff users deciding the hold at once, and
refused calls of every kind. A staff worker suspends, restricts and restores the run's
providers and runs internal reconciliation while the others play. Each play worker owns its
players, so one worker is the only writer of its players' wallets: that is how "a refused call
changed nothing" is checked (the wallet's snapshot after the call equals the one after the
worker's previous call). The interleaving across workers varies from run to run; only what
must hold under any interleaving is asserted.

After the workers stop, the database invariants (simulator.invariants) run over the seed's
wallets, and the driver's own books (what the wallet's answers said was applied, counted
once per transaction id) must equal each wallet's balance.

    python -m simulator.soak --seeds 1-200 --minutes 0.1 --workers 4
    python -m simulator.soak --seeds 17 --steps 60            # a fixed number of operations

`make soak SEEDS=… MINUTES=…` runs it against a database of its own (scripts/soak.sh).
"""

import argparse
import os
import random
import secrets
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from simulator.clients import (
    HttpResult,
    StaffClient,
    WalletClient,
    dumps,
    exponent,
    format_amount,
)

# Refusals a bet, an authentication or a launch may meet whatever the worker itself did: the
# staff worker (or the wallet's own monitoring and compliance policies) suspends and restricts
# providers concurrently.
PROVIDER_REFUSALS = {"PROVIDER_SUSPENDED", "PROVIDER_RESTRICTED"}
APPROVE_REASONS = ["legitimate_pattern", "payment_verified", "verified_player"]
REJECT_REASONS = ["suspected_fraud", "stolen_payment", "bonus_abuse"]


def _unit(currency: str) -> int:
    return 10 ** exponent(currency)


# --- the schedule ---------------------------------------------------------------------------


@dataclass
class Op:
    """One intended operation. `kind` names it; the fields are what the seed decided."""

    kind: str
    player: int = 0  # the worker's player number
    slot: str = ""  # a session slot (launch ... close)
    provider: int = 0
    round: str = ""
    txn: str = ""
    ref: str = ""
    amount: int = 0  # minor units of the player's currency
    flag: str = ""  # variant: timeout, round_closed, buy_in, probe kind, decision pair...


@dataclass
class _Slot:
    player: int
    provider: int
    open: bool = True
    rounds: list = field(default_factory=list)


def schedule(seed: int, worker: int, *, players: int, providers: int):
    """The worker's endless, deterministic stream of Ops for this seed. What the seed decides
    is intent (this bet, into this round, of this amount); what the wallet answers is the
    run's business. Ids are unique within the worker (`w<worker>-...`)."""
    rng = random.Random(f"pitboss-soak:{seed}:{worker}")
    counter = 0
    slots: dict[str, _Slot] = {}
    rounds: dict[str, dict] = {}
    bets: list[tuple[str, str, int]] = []  # (slot, txn, amount)
    pending_late: list[tuple[int, Op]] = []  # (due step, op)
    step = 0

    def new(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"w{worker}-{prefix}{counter}"

    def currency(player: int) -> str:
        return player_currency(worker, player)

    def money(player: int, major: int) -> int:
        cur = currency(player)
        return major * _unit(cur) * _jpy(cur)

    def stake(player: int) -> int:
        return money(player, rng.choice([1, 2, 5, 10, 20, 50]))

    for number in range(players):
        yield Op(
            "deposit",
            player=number,
            amount=500 * _unit(currency(number)) * _jpy(currency(number)),
            txn=new("dep"),
        )

    while True:
        step += 1
        due = [op for at, op in pending_late if at <= step]
        pending_late[:] = [(at, op) for at, op in pending_late if at > step]
        yield from due
        open_slots = [name for name, s in slots.items() if s.open]
        live_rounds = [r for r, info in rounds.items() if not info["settled"] and info["bets"]]
        choice = rng.random()
        player = rng.randrange(players)
        if not open_slots or (choice < 0.07 and len(open_slots) < 2 * players):
            name = new("s")
            slots[name] = _Slot(player=player, provider=rng.randrange(providers))
            buy_in = rng.random() < 0.2
            yield Op(
                "launch",
                player=player,
                slot=name,
                provider=slots[name].provider,
                amount=rng.choice([20, 50]) * _unit(currency(player)) * _jpy(currency(player))
                if buy_in
                else 0,
            )
            continue
        if choice < 0.40:  # a bet, into a new round or an open one of the slot
            name = rng.choice(open_slots)
            slot = slots[name]
            own = [r for r in slot.rounds if not rounds[r]["settled"]]
            if own and rng.random() < 0.3:
                round_id = rng.choice(own)
            else:
                round_id = new("r")
                slot.rounds.append(round_id)
                rounds[round_id] = {"slot": name, "bets": [], "settled": False}
            txn = new("b")
            amount = stake(slot.player)
            rounds[round_id]["bets"].append(txn)
            bets.append((name, txn, amount))
            flag = "timeout" if rng.random() < 0.08 else ""
            yield Op("bet", slot=name, round=round_id, txn=txn, amount=amount, flag=flag)
            continue
        if choice < 0.56 and live_rounds:  # the round's win (0 allowed), maybe closing it
            round_id = rng.choice(live_rounds)
            info = rounds[round_id]
            info["settled"] = True
            amount = rng.choice([0, 0, 1, 2, 3, 10]) * _unit(currency(slots[info["slot"]].player))
            amount *= _jpy(currency(slots[info["slot"]].player))
            flag = rng.choice(["round_closed", "", "timeout"])
            yield Op(
                "win", slot=info["slot"], round=round_id, txn=new("w"), amount=amount, flag=flag
            )
            continue
        if choice < 0.62 and bets:  # a rollback of some bet (settled rounds: BET_SETTLED)
            name, txn, _ = rng.choice(bets[-12:])
            round_id = next(r for r, i in rounds.items() if txn in i["bets"])
            yield Op("rollback", slot=name, round=round_id, txn=new("rb"), ref=txn)
            continue
        if choice < 0.64 and open_slots:  # a rollback arriving before its bet: a tombstone
            name = rng.choice(open_slots)
            round_id = new("r")
            rounds[round_id] = {"slot": name, "bets": [], "settled": True}
            ghost = new("b")
            yield Op("rollback", slot=name, round=round_id, txn=new("rb"), ref=ghost)
            pending_late.append(
                (
                    step + rng.randint(1, 6),
                    Op(
                        "late_bet",
                        slot=name,
                        round=round_id,
                        txn=ghost,
                        amount=stake(slots[name].player),
                    ),
                )
            )
            continue
        if choice < 0.70:  # the provider repeats an earlier call (same payload)
            yield Op("repeat", flag=str(rng.randrange(1 << 30)))
            continue
        if choice < 0.72 and bets:  # the same transaction id with another amount
            name, txn, amount = rng.choice(bets[-12:])
            yield Op("mismatch", slot=name, txn=txn, amount=amount + _unit("EUR"))
            continue
        if choice < 0.75 and live_rounds:
            round_id = rng.choice(live_rounds)
            rounds[round_id]["settled"] = True
            yield Op("round_close", slot=rounds[round_id]["slot"], round=round_id)
            continue
        if choice < 0.80 and open_slots:  # the provider or staff ends a session...
            name = rng.choice(open_slots)
            slots[name].open = False
            yield Op("close", slot=name, flag=rng.choice(["provider", "staff"]))
            # ...and a win of a round still open arrives late: it must be paid.
            late = [r for r in slots[name].rounds if not rounds[r]["settled"] and rounds[r]["bets"]]
            if late and rng.random() < 0.7:
                round_id = rng.choice(late)
                rounds[round_id]["settled"] = True
                amount = rng.choice([1, 2, 5]) * _unit(currency(slots[name].player))
                amount *= _jpy(currency(slots[name].player))
                pending_late.append(
                    (
                        step + rng.randint(1, 4),
                        Op(
                            "win",
                            slot=name,
                            round=round_id,
                            txn=new("w"),
                            amount=amount,
                            flag="late",
                        ),
                    )
                )
            continue
        if choice < 0.84:
            yield Op(
                "deposit",
                player=player,
                amount=rng.choice([10, 20, 50, 100])
                * _unit(currency(player))
                * _jpy(currency(player)),
                txn=new("dep"),
            )
            continue
        if choice < 0.87:
            yield Op(
                "withdrawal",
                player=player,
                amount=rng.choice([5, 10, 30]) * _unit(currency(player)) * _jpy(currency(player)),
                txn=new("wd"),
            )
            continue
        if choice < 0.89:  # small deposits, then a large withdrawal: held; two staff decide
            cur = currency(player)
            for _ in range(3):
                yield Op(
                    "deposit", player=player, amount=10 * _unit(cur) * _jpy(cur), txn=new("dep")
                )
            pair = rng.choice(["approve+reject", "approve+approve", "reject+reject"])
            yield Op(
                "cashout",
                player=player,
                amount=rng.choice([120, 150]) * _unit(cur) * _jpy(cur),
                txn=new("wd"),
                flag=pair,
            )
            continue
        if choice < 0.97:
            probe = rng.choice(
                [
                    "bad_signature",
                    "invalid_amount",
                    "currency",
                    "unknown_token",
                    "overdraw_bet",
                    "overdraw_withdrawal",
                    "closed_bet",
                    "staff_close_again",
                ]
            )
            name = rng.choice(list(slots))
            yield Op(
                "probe",
                slot=name,
                player=slots[name].player,
                txn=new("p"),
                round=new("r"),
                flag=probe,
            )
            continue
        yield Op("balance", slot=rng.choice(open_slots) if open_slots else "")


def player_currency(worker: int, player: int) -> str:
    """Most players play in EUR (two decimals), one in three in JPY (none)."""
    return "JPY" if (worker + player) % 3 == 2 else "EUR"


def _jpy(currency: str) -> int:
    """JPY has no minor unit: its amounts are a hundred times the EUR figures (¥1000 ≈ €10)."""
    return 100 if currency == "JPY" else 1


# --- the server -----------------------------------------------------------------------------


def start_server(host: str = "127.0.0.1", port: int = 0):
    """The production entry point (config.wsgi.application) on a threaded loopback server in
    this process. Returns (server, base URL); `server.shutdown()` stops it."""
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    from config.wsgi import application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):  # one line per request would drown the progress bar
            pass

    class Server(ThreadedWSGIServer):
        daemon_threads = True
        request_queue_size = 64

        def handle_error(self, request, client_address):
            # A client that timed out on purpose drops its connection before the answer.
            if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                return
            super().handle_error(request, client_address)

    server = Server((host, port), QuietHandler)
    server.set_app(application)
    threading.Thread(target=server.serve_forever, name="soak-server", daemon=True).start()
    return server, f"http://{host}:{server.server_port}"


# --- set-up ---------------------------------------------------------------------------------


@dataclass
class SoakPlayer:
    id: int
    external_id: str
    currency: str
    wallet_id: int


@dataclass
class SeedSetup:
    seed: int
    providers: list[tuple[str, str]]  # (code, secret)
    players: dict[int, list[SoakPlayer]]  # worker -> its players
    tokens: tuple[str, str]  # two staff users (a hold needs a decision by one of them)


def staff_tokens() -> tuple[str, str]:
    """Two named staff users with back-office rights and their API tokens."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    tokens = []
    for name in ("soak-staff-a", "soak-staff-b"):
        user, _ = get_user_model().objects.get_or_create(
            username=name, defaults={"is_staff": True, "is_superuser": True}
        )
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return tokens[0], tokens[1]


def prepare(seed: int, *, workers: int, players: int, providers: int, tag: str) -> SeedSetup:
    """The seed's providers and players (empty wallets: money only ever arrives over HTTP)."""
    from wallets import services
    from wallets.models import Wallet

    made = []
    for number in range(providers):
        code = f"soak-{tag}-{seed}-{'abcdefgh'[number]}"
        _, secret = services.create_provider(
            code=code, name=f"Soak {seed} {number}", currencies=["EUR", "JPY"]
        )
        made.append((code, secret))
    by_worker = {}
    for worker in range(1, workers + 1):
        by_worker[worker] = []
        for number in range(players):
            currency = player_currency(worker, number)
            external_id = f"soak-{tag}-{seed}-w{worker}-p{number}"
            player = services.create_player(
                external_id=external_id, currency=currency, country="MT"
            )
            wallet = Wallet.objects.get(player=player, currency=currency)
            by_worker[worker].append(SoakPlayer(player.pk, external_id, currency, wallet.pk))
    return SeedSetup(seed, made, by_worker, staff_tokens())


# --- what the run saw -----------------------------------------------------------------------


class Findings:
    """Counters and violations shared by the workers of one seed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: Counter = Counter()  # (kind, outcome)
        self.refused = 0
        self.refused_checked = 0
        self.violations: list[str] = []

    def count(self, kind: str, outcome: str) -> None:
        with self.lock:
            self.calls[kind, outcome] += 1

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)


@dataclass
class _Round:
    accepted: list = field(default_factory=list)  # bet transaction ids the wallet applied
    won: bool = False  # a win was posted
    closed: bool = False  # a round close or round_closed win


@dataclass
class _Session:
    token: str
    session_id: int
    player: SoakPlayer
    provider: int
    open: bool = True


def _status_code(result: HttpResult) -> str:
    """A back-office answer as an outcome: "201", or the documented code beside the status."""
    if result.status == 0:
        return "NETWORK_ERROR"
    code = result.get("code") if isinstance(result.body, dict) else None
    return f"{result.status}" + (f" {code}" if code and result.status >= 400 else "")


class PlayWorker:
    """Plays one worker's schedule against the wallet over HTTP; the only writer of its
    players' wallets."""

    def __init__(self, run: "SeedRun", number: int):
        self.run = run
        self.number = number
        self.players = run.setup.players[number]
        self.ops = schedule(
            run.setup.seed, number, players=len(self.players), providers=len(run.setup.providers)
        )
        self.wallets = [
            WalletClient(run.base_url, code, secret, timeout=run.timeout)
            for code, secret in run.setup.providers
        ]
        self.staff = StaffClient(run.base_url, run.setup.tokens[0], timeout=run.timeout)
        self.sessions: dict[str, _Session] = {}
        self.rounds: dict[tuple[int, str], _Round] = {}
        self.applied: dict[tuple[int, str], tuple[str, int, SoakPlayer]] = {}  # id -> kind, amt
        self.answers: dict[tuple[int, str], str] = {}  # id -> wallet_transaction_id
        self.refunded: set = set()
        self.tombstones: set = set()
        self.history: list = []  # replayable calls that were applied
        self.books: dict[int, int] = {p.id: 0 for p in self.players}
        self.snapshots: dict[int, tuple] = {}
        self.sent: dict[tuple[int, str], dict] = {}  # (provider, id) -> fields first sent
        self.steps = 0

    # --- plumbing --------------------------------------------------------------------------

    def close(self) -> None:
        for client in self.wallets:
            client.close()
        self.staff.close()

    def play(self) -> None:
        from django.db import connection

        try:
            for player in self.players:
                self.snapshots[player.id] = self._snapshot(player)
            for op in self.ops:
                if self.run.finished(self.steps):
                    break
                self.steps += 1
                getattr(self, f"op_{op.kind}")(op)
        except Exception as error:  # a driver bug is a failed seed, never a hang
            import traceback

            self.run.findings.violation(
                f"worker {self.number}: driver error {error!r}\n{traceback.format_exc()}"
            )
        finally:
            self.close()
            connection.close()

    def _snapshot(self, player: SoakPlayer) -> tuple:
        from simulator.invariants import wallet_snapshot

        return wallet_snapshot(player.wallet_id)

    def _after(self, player: SoakPlayer, kind: str, refused: bool, what: str) -> tuple:
        """The wallet after a call: a refused call must have left it as it was."""
        from simulator.invariants import snapshot_difference

        after = self._snapshot(player)
        if refused:
            findings = self.run.findings
            with findings.lock:
                findings.refused += 1
                findings.refused_checked += 1
            changed = snapshot_difference(self.snapshots[player.id], after)
            if changed:
                findings.violation(f"refused {kind} changed the wallet ({what}): {changed}")
        self.snapshots[player.id] = after
        return after

    def _send(self, client: WalletClient, operation: str, body: bytes) -> HttpResult:
        """One wallet call, retried with the identical payload after a 5xx or a network error
        (as the contract asks of providers); a 5xx is also a violation: no input may cause one."""
        for attempt in range(4):
            result = client.send(operation, body)
            if result.status and result.status < 500:
                return result
            if result.status >= 500:
                self.run.findings.violation(
                    f"{operation} answered {result.status}: {str(result.body)[:200]}"
                )
            time.sleep(0.05 * (attempt + 1))
        return result

    def wallet(
        self,
        session: _Session,
        operation: str,
        kind: str,
        expected: set[str],
        *,
        timeout: bool = False,
        client: WalletClient | None = None,
        remember: bool = False,
        **fields,
    ) -> HttpResult:
        if remember:  # the payload a repeat or a mismatched replay starts from
            self.sent.setdefault((session.provider, fields["transaction_id"]), dict(fields))
        fields = {"session_token": session.token, **fields}
        body = dumps(fields)
        client = client or self.wallets[session.provider]
        # From the first delivery: a retry may be answered with the refusal its first attempt
        # got (a refused bet's id keeps its refusal).
        sent_at = time.monotonic()
        if timeout:
            self._timed_out_attempt(session, operation, body, kind)
        result = self._send(client, operation, body)
        code = result.code
        self.run.findings.count(kind, code)
        refused = code != "OK"
        after = self._after(session.player, kind, refused, f"{operation} {code}")
        if code in PROVIDER_REFUSALS:
            self.run.provider_refused(session.provider, code, sent_at, kind)
        if code == "INSUFFICIENT_FUNDS" and operation == "bet" and after:
            self._check_funds_refusal(session, fields, after)
        if code not in expected:
            self.run.findings.violation(
                f"{kind} ({operation} {fields.get('transaction_id', '')}) answered {code}, "
                f"expected {'/'.join(sorted(expected))}: {str(result.body)[:200]}"
            )
        if result.ok and "balance" in result.body and result.get("duplicate") is not True:
            shown = _minor(result.get("balance"), session.player.currency)
            if after and shown != after[0] - after[1]:
                self.run.findings.violation(
                    f"{kind} {fields.get('transaction_id', '')}: answered available balance "
                    f"{result.get('balance')} but the wallet holds {after[0]} - reserved "
                    f"{after[1]} minor units"
                )
        return result

    def _check_funds_refusal(self, session: _Session, fields: dict, after: tuple) -> None:
        """INSUFFICIENT_FUNDS only when the available balance plus what the session still holds
        of its buy-in is below the stake (the wallet is as it was: the call was refused)."""
        amount = _minor(fields.get("amount"), session.player.currency)
        held = 0
        for entry in (after[5] or "").split(","):
            number, _, rest = entry.partition(":")
            if number == str(session.session_id):
                held = int(rest.rpartition(":")[2])
        available = after[0] - after[1]
        if amount is not None and available + held >= amount:
            self.run.findings.violation(
                f"bet {fields.get('transaction_id')} of {amount} refused INSUFFICIENT_FUNDS with "
                f"{available} available and {held} left of the session's buy-in"
            )

    def _check_available(self, player: SoakPlayer, amount: int, what: str) -> None:
        """A back-office refusal for funds (402) only when the available balance is short."""
        balance, reserved = self.snapshots[player.id][:2]
        if balance - reserved >= amount:
            self.run.findings.violation(
                f"{what} of {amount} refused for funds with {balance - reserved} available"
            )

    def _timed_out_attempt(self, session: _Session, operation: str, body: bytes, kind: str):
        """The provider's first attempt times out (its answer never read): the server may or
        may not have applied it; the retry that follows must settle it exactly once."""
        code, secret = self.run.setup.providers[session.provider]
        impatient = WalletClient(self.run.base_url, code, secret, timeout=0.003)
        try:
            result = impatient.send(operation, body)
        finally:
            impatient.close()
        self.run.findings.count(f"{kind} (first attempt)", result.code)
        if result.status == 0:
            time.sleep(0.02)  # the answer the provider gave up on is on its way

    def staff_call(self, player: SoakPlayer, path: str, data: dict, kind: str, ok: set[int]):
        result = self.staff.post(path, data)
        for attempt in range(3):
            if result.status and result.status < 500:
                break
            self.run.findings.violation(f"{path} answered {result.status}: {result.body}")
            time.sleep(0.05 * (attempt + 1))
            result = self.staff.post(path, data)
        outcome = _status_code(result)
        self.run.findings.count(kind, outcome)
        refused = result.status >= 400
        self._after(player, kind, refused, f"{path} {outcome}")
        if result.status not in ok:
            self.run.findings.violation(
                f"{kind} {path} answered {outcome}, expected {sorted(ok)}: {str(result.body)[:200]}"
            )
        return result

    # --- the books -------------------------------------------------------------------------

    def _applied(self, provider: int, txn: str, kind: str, amount: int, player, result) -> bool:
        """An OK answer for `txn`: counted once, whatever the retries. False for a replay."""
        key = (provider, txn)
        wtid = str(result.get("wallet_transaction_id"))
        known = self.answers.get(key)
        if known is not None and known != wtid:
            self.run.findings.violation(
                f"{kind} {txn}: wallet transaction {wtid}, earlier answered {known}"
            )
        self.answers.setdefault(key, wtid)
        if key in self.applied:
            return False
        self.applied[key] = (kind, amount, player)
        return True

    # --- operations ------------------------------------------------------------------------

    def _player(self, number: int) -> SoakPlayer:
        return self.players[number]

    def op_deposit(self, op: Op) -> None:
        player = self._player(op.player)
        self._payment("deposit", player, op.amount, op.txn)

    def op_withdrawal(self, op: Op) -> None:
        player = self._player(op.player)
        self._payment("withdrawal", player, op.amount, op.txn)

    def _payment(self, kind: str, player: SoakPlayer, amount: int, txn: str):
        external_id = f"{self.run.prefix}-{txn}"
        data = {
            "player": player.id,
            "amount": format_amount(amount, player.currency),
            "currency": player.currency,
            "external_id": external_id,
        }
        path = f"payments/{kind}s"
        result = self.staff_call(
            player, path, data, kind, {201} if kind == "deposit" else {201, 402}
        )
        if result.status == 402:
            self._check_available(player, amount, f"{kind} {external_id}")
        if result.status != 201:
            return result
        status = result.get("status")
        if kind == "deposit" and status in ("posted", "held"):
            self.books[player.id] += amount
        elif kind == "withdrawal" and status == "posted":
            self.books[player.id] -= amount
        elif status != "held":
            self.run.findings.violation(f"{kind} {external_id}: new transaction is {status}")
        self.history.append(("payment", path, data, result.get("id"), player, kind))
        return result

    def op_launch(self, op: Op) -> None:
        player = self._player(op.player)
        code, _ = self.run.setup.providers[op.provider]
        data = {"player": player.id, "provider": code, "currency": player.currency}
        data["game_id"] = f"soak-game-{op.slot}"
        if op.amount:
            data["buy_in"] = format_amount(op.amount, player.currency)
        sent_at = time.monotonic()
        result = self.staff_call(player, "sessions/", data, "launch", {201, 402, 403})
        if result.status == 403 and result.get("code") in PROVIDER_REFUSALS:
            self.run.provider_refused(op.provider, result.get("code"), sent_at, "launch")
        if result.status == 402:
            self._check_available(player, op.amount, f"launch {op.slot} with a buy-in")
        if result.status != 201:
            return
        session = _Session(result.get("session_token"), result.get("id"), player, op.provider)
        self.sessions[op.slot] = session
        self.wallet(session, "authenticate", "authenticate", {"OK"} | PROVIDER_REFUSALS)

    def _session(self, op: Op) -> _Session | None:
        return self.sessions.get(op.slot)  # None: its launch was refused, nothing to play

    def _round(self, session: _Session, round_id: str) -> _Round:
        return self.rounds.setdefault((session.provider, round_id), _Round())

    def _bet(self, session: _Session, op: Op, kind: str, txn: str, amount: int, round_id: str):
        round_ = self._round(session, round_id)
        blockers = set()
        if not session.open:
            blockers.add("SESSION_EXPIRED")
        if round_.won or round_.closed:
            blockers.add("ROUND_CLOSED")
        if (session.provider, txn) in self.tombstones:
            blockers.add("TRANSACTION_ROLLED_BACK")
        expected = {"INSUFFICIENT_FUNDS"} | PROVIDER_REFUSALS | (blockers or {"OK"})
        result = self.wallet(
            session,
            "bet",
            kind,
            expected,
            timeout=op.flag == "timeout",
            remember=True,
            transaction_id=txn,
            round_id=round_id,
            amount=format_amount(amount, session.player.currency),
            currency=session.player.currency,
        )
        if result.ok:
            if self._applied(session.provider, txn, "bet", amount, session.player, result):
                self.books[session.player.id] -= amount
                round_.accepted.append(txn)
            self.history.append(("wallet", session, "bet", txn, result))
        return result

    def op_bet(self, op: Op) -> None:
        session = self._session(op)
        if session is not None:
            self._bet(session, op, "bet", op.txn, op.amount, op.round)

    def op_late_bet(self, op: Op) -> None:
        session = self._session(op)
        if session is not None:
            self._bet(session, op, "late bet", op.txn, op.amount, op.round)

    def op_win(self, op: Op) -> None:
        session = self._session(op)
        if session is None:
            return
        round_ = self._round(session, op.round)
        all_rolled_back = bool(round_.accepted) and all(
            (session.provider, txn) in self.refunded for txn in round_.accepted
        )
        expected = {"TRANSACTION_ROLLED_BACK"} if all_rolled_back else {"OK"}
        if not round_.accepted:
            # A win with no accepted bet in its round (a free win) is not owed: it needs what a
            # bet needs of the session and the provider.
            expected = {"OK"} | PROVIDER_REFUSALS if session.open else {"SESSION_EXPIRED"}
        fields = {
            "transaction_id": op.txn,
            "round_id": op.round,
            "amount": format_amount(op.amount, session.player.currency),
            "currency": session.player.currency,
        }
        if op.flag == "round_closed":
            fields["round_closed"] = True
        kind = "late win" if op.flag == "late" else "win"
        result = self.wallet(
            session, "win", kind, expected, timeout=op.flag == "timeout", remember=True, **fields
        )
        if result.ok:
            if self._applied(session.provider, op.txn, "win", op.amount, session.player, result):
                self.books[session.player.id] += op.amount
            round_.won = True
            round_.closed = round_.closed or op.flag == "round_closed"
            self.history.append(("wallet", session, "win", op.txn, result))

    def op_rollback(self, op: Op) -> None:
        session = self._session(op)
        if session is None:
            return
        key = (session.provider, op.ref)
        bet = self.applied.get(key)
        round_ = self._round(session, op.round)
        expected = {"BET_SETTLED"} if bet and round_.won else {"OK"}
        if bet and key in self.refunded:
            expected = {"OK"}  # a second rollback of a rolled-back bet changes nothing
        result = self.wallet(
            session,
            "rollback",
            "rollback" if bet else "rollback (tombstone)",
            expected,
            remember=True,
            transaction_id=op.txn,
            reference_transaction_id=op.ref,
            round_id=op.round,
        )
        if not result.ok:
            return
        self._applied(session.provider, op.txn, "rollback", 0, session.player, result)
        if bet is None:
            self.tombstones.add(key)
        elif key not in self.refunded:
            self.refunded.add(key)
            self.books[session.player.id] += bet[1]
        if round_.accepted and all((session.provider, t) in self.refunded for t in round_.accepted):
            round_.closed = True  # every bet rolled back, nothing paid: the round is cancelled
        self.history.append(("wallet", session, "rollback", op.txn, result))

    def op_repeat(self, op: Op) -> None:
        """A provider (or the cashier) sends an applied call again: same answer, no effect."""
        if not self.history:
            return
        entry = self.history[int(op.flag) % len(self.history)]
        if entry[0] == "payment":
            _, path, data, txn_id, player, kind = entry
            result = self.staff_call(player, path, data, f"{kind} (repeat)", {200})
            if result.status == 200 and (
                result.get("duplicate") is not True or result.get("id") != txn_id
            ):
                self.run.findings.violation(
                    f"repeated {kind} {data['external_id']}: answered id {result.get('id')} "
                    f"duplicate {result.get('duplicate')}, first answer id {txn_id}"
                )
            return
        _, session, operation, txn, first = entry
        body_fields = self._replay_fields(session, operation, txn)
        if body_fields is None:
            return
        expected = {"OK"}
        if operation == "bet" and (session.provider, txn) in self.refunded:
            # A replay of a bet rolled back since is told so (and changes nothing).
            expected.add("TRANSACTION_ROLLED_BACK")
        result = self.wallet(session, operation, f"{operation} (repeat)", expected, **body_fields)
        if result.ok and (
            result.get("duplicate") is not True
            or result.get("wallet_transaction_id") != first.get("wallet_transaction_id")
        ):
            self.run.findings.violation(
                f"repeated {operation} {txn}: answered {result.get('wallet_transaction_id')} "
                f"duplicate {result.get('duplicate')}, first answer "
                f"{first.get('wallet_transaction_id')}"
            )

    def _replay_fields(self, session: _Session, operation: str, txn: str) -> dict | None:
        sent = self.sent.get((session.provider, txn))
        return dict(sent) if sent else None

    def op_mismatch(self, op: Op) -> None:
        session = self._session(op)
        key = (session.provider, op.txn) if session else None
        if session is None or key not in self.applied:
            return
        sent = dict(self.sent[key])
        sent["amount"] = format_amount(op.amount, session.player.currency)
        self.wallet(session, "bet", "bet (mismatched replay)", {"DUPLICATE_MISMATCH"}, **sent)

    def op_round_close(self, op: Op) -> None:
        session = self._session(op)
        if session is None:
            return
        self.wallet(session, "round/close", "round close", {"OK"}, round_id=op.round)
        self._round(session, op.round).closed = True

    def op_close(self, op: Op) -> None:
        session = self._session(op)
        if session is None:
            return
        if op.flag == "provider":
            # Closing a closed session again: OK (idempotent) or SESSION_EXPIRED, no change.
            expected = {"OK"} if session.open else {"OK", "SESSION_EXPIRED"}
            result = self.wallet(session, "session/close", "session close (provider)", expected)
            session.open = session.open and not result.ok
            return
        ok = {200} if session.open else {409}
        result = self.staff_call(
            session.player,
            f"sessions/{session.session_id}/close",
            {"reason": "soak: support closes the session"},
            "session close (staff)",
            ok,
        )
        if result.status == 200:
            session.open = False

    def op_balance(self, op: Op) -> None:
        session = self._session(op)
        if session is not None:
            # A balance read needs no open session; SESSION_EXPIRED is as good for a closed one.
            expected = {"OK"} if session.open else {"OK", "SESSION_EXPIRED"}
            self.wallet(session, "balance", "balance", expected)

    def op_cashout(self, op: Op) -> None:
        """Small deposits came first; the large withdrawal is held by the fraud rules; two staff
        users decide the hold at the same moment: exactly one decision may take effect."""
        player = self._player(op.player)
        result = self._payment("withdrawal", player, op.amount, op.txn)
        if result.status != 201 or result.get("status") != "held":
            return
        found = self.staff.get("holds/", player=player.id, status="open")
        cases = [
            c for c in (found.get("results") or []) if c.get("transaction") == result.get("id")
        ]
        if len(cases) != 1:
            self.run.findings.violation(
                f"held withdrawal {result.get('id')}: {len(cases)} open cases ({found.status})"
            )
            return
        self._race(player, cases[0]["id"], op)

    def _race(self, player: SoakPlayer, case_id: int, op: Op) -> None:
        from fraud.models import Case
        from wallets.models import AuditRecord

        decisions = op.flag.split("+")
        barrier = threading.Barrier(2)
        answers: list = [None, None]
        rng = random.Random(f"{op.txn}")

        def decide(index: int) -> None:
            verb = decisions[index]
            reasons = APPROVE_REASONS if verb == "approve" else REJECT_REASONS
            client = StaffClient(self.run.base_url, self.run.setup.tokens[index])
            try:
                barrier.wait(timeout=10)
                answers[index] = client.post(
                    f"holds/{case_id}/{verb}",
                    {"reason": f"soak {verb}", "reason_code": rng.choice(reasons)},
                )
            finally:
                client.close()

        threads = [threading.Thread(target=decide, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        won = [i for i, answer in enumerate(answers) if answer is not None and answer.status == 200]
        for index, answer in enumerate(answers):
            self.run.findings.count(f"hold {decisions[index]} (race)", _status_code(answer))
        lost = [i for i in (0, 1) if i not in won]
        if len(won) != 1 or any(answers[i].status != 409 for i in lost):
            self.run.findings.violation(
                f"case {case_id}: two concurrent decisions answered "
                f"{[_status_code(a) for a in answers]} (exactly one 200 and one 409 expected)"
            )
        with self.run.findings.lock:
            self.run.findings.refused += len(lost)
        winner = decisions[won[0]] if won else None
        case = Case.objects.select_related("transaction").get(pk=case_id)
        audits = AuditRecord.objects.filter(
            action__in=["fraud.case.approve", "fraud.case.reject"],
            target_type="fraud.case",
            target_id=str(case_id),
        ).count()
        wanted = {"approve": ("approved", "posted"), "reject": ("rejected", "rejected")}
        if winner and (case.status, case.transaction.status) != wanted[winner]:
            self.run.findings.violation(
                f"case {case_id}: {winner} won, but the case is {case.status} and the "
                f"withdrawal {case.transaction.status}"
            )
        if audits != 1:
            self.run.findings.violation(f"case {case_id}: {audits} decision audit records")
        if winner == "approve":
            self.books[player.id] -= op.amount
        # The losing decision was refused: the wallet is what the winner alone made it.
        self._after(player, "hold decision (race)", False, "")
        with self.run.findings.lock:
            self.run.findings.refused_checked += len(lost)

    def op_probe(self, op: Op) -> None:
        """A call the wallet must refuse, leaving the wallet as it was."""
        session = self._session(op)
        player = self._player(op.player)
        fields = {
            "transaction_id": op.txn,
            "round_id": op.round,
            "amount": format_amount(
                _unit(player.currency) * _jpy(player.currency), player.currency
            ),
            "currency": player.currency,
        }
        if op.flag == "overdraw_withdrawal":
            self.staff_call(
                player,
                "payments/withdrawals",
                {
                    "player": player.id,
                    "amount": format_amount(10**9 * _unit(player.currency), player.currency),
                    "currency": player.currency,
                    "external_id": f"{self.run.prefix}-{op.txn}",
                },
                "withdrawal (over the balance)",
                {402},
            )
            return
        if session is None:
            return
        if op.flag == "staff_close_again":
            self.op_close(Op("close", slot=op.slot, flag="staff"))
            return
        if op.flag == "closed_bet":
            self._bet(
                session,
                op,
                "bet (maybe on a closed session)",
                op.txn,
                _unit(player.currency) * _jpy(player.currency),
                op.round,
            )
            return
        probes = {
            "bad_signature": ("INVALID_SIGNATURE", {}),
            "invalid_amount": ("INVALID_AMOUNT", {"amount": "-1.00"}),
            "currency": (
                "CURRENCY_MISMATCH",
                {"currency": "JPY" if player.currency == "EUR" else "EUR", "amount": "100"},
            ),
            "unknown_token": ("INVALID_TOKEN", {"session_token": "soak-" + secrets.token_hex(8)}),
            "overdraw_bet": (
                "INSUFFICIENT_FUNDS",
                {"amount": format_amount(10**9 * _unit(player.currency), player.currency)},
            ),
        }
        code, changes = probes[op.flag]
        expected = {code}
        if op.flag in ("currency", "overdraw_bet"):
            # Checked after the session and the provider: those refusals are as good.
            expected |= PROVIDER_REFUSALS | ({"SESSION_EXPIRED"} if not session.open else set())
        client = None
        if op.flag == "bad_signature":
            code_, _ = self.run.setup.providers[session.provider]
            client = WalletClient(
                self.run.base_url, code_, "not-the-secret", timeout=self.run.timeout
            )
        token = changes.pop("session_token", None)
        probe_session = session if token is None else _Session(token, 0, player, session.provider)
        try:
            self.wallet(
                probe_session,
                "bet",
                f"bet ({op.flag.replace('_', ' ')})",
                expected,
                client=client,
                **{**fields, **changes},
            )
        finally:
            if client is not None:
                client.close()


def _minor(text, currency: str) -> int | None:
    from simulator.clients import parse_minor

    try:
        return parse_minor(text, currency)
    except (ArithmeticError, ValueError, TypeError):
        return None


class StaffWorker:
    """Compliance and back-office staff acting while the providers play: suspend, restrict and
    restore the run's providers, list the review queue, and run internal reconciliation (the
    service the beat task runs) concurrently with the traffic."""

    def __init__(self, run: "SeedRun"):
        self.run = run
        self.rng = random.Random(f"pitboss-soak:{run.setup.seed}:staff")
        self.staff = StaffClient(run.base_url, run.setup.tokens[1], timeout=run.timeout)

    def post(self, path: str, data: dict, kind: str) -> HttpResult:
        result = self.staff.post(path, data)
        self.run.findings.count(kind, _status_code(result))
        # 409: already in that status (the wallet's own monitoring policy may have acted).
        if result.status not in (200, 409):
            self.run.findings.violation(f"{kind} {path} answered {_status_code(result)}")
        return result

    def work(self) -> None:
        from django.db import connection

        from reconciliation.services import reconcile_wallets

        codes = [code for code, _ in self.run.setup.providers]
        try:
            while not self.run.players_done.is_set():
                code = self.rng.choice(codes)
                choice = self.rng.random()
                pause = self.rng.uniform(0.05, 0.4)
                if choice < 0.35:
                    action = "suspend" if choice < 0.25 else "restrict"
                    started = time.monotonic()
                    self.post(f"providers/{code}/{action}", {"reason": f"soak {action}"}, action)
                    self.run.players_done.wait(pause)
                    self.post(f"providers/{code}/restore", {"reason": "soak restore"}, "restore")
                    self.run.provider_changed(code, action, started, time.monotonic())
                elif choice < 0.6:
                    run = reconcile_wallets(triggered_by="soak")
                    self.run.findings.count("reconciliation run", run.status)
                else:
                    result = self.staff.get("holds/", status="open")
                    self.run.findings.count("holds list", _status_code(result))
                self.run.players_done.wait(pause)
        except Exception as error:
            self.run.findings.violation(f"staff worker: driver error {error!r}")
        finally:
            self.restore_all(codes)
            self.staff.close()
            connection.close()

    def restore_all(self, codes: list[str]) -> None:
        from wallets.models import Provider

        for code in (
            Provider.objects.filter(code__in=codes)
            .exclude(status="active")
            .values_list("code", flat=True)
        ):
            self.post(f"providers/{code}/restore", {"reason": "soak: end of run"}, "restore")


class SeedRun:
    def __init__(self, setup: SeedSetup, base_url: str, *, steps: int, seconds: float, tag: str):
        self.setup = setup
        self.base_url = base_url
        self.steps = steps
        self.started = time.monotonic()
        self.deadline = self.started + seconds if seconds else None
        self.timeout = 30.0
        self.prefix = f"soak-{tag}-{setup.seed}"
        self.findings = Findings()
        self.players_done = threading.Event()
        # When the staff worker had a provider suspended or restricted (from before its request
        # to after its restore's answer), and the calls refused for the provider's status.
        self.provider_windows: list[tuple[str, str, float, float]] = []
        self.provider_refusals: list[tuple[str, str, float, float, str]] = []

    def provider_changed(self, code: str, action: str, started: float, ended: float) -> None:
        status = {"suspend": "PROVIDER_SUSPENDED", "restrict": "PROVIDER_RESTRICTED"}[action]
        with self.findings.lock:
            self.provider_windows.append((code, status, started, ended))

    def provider_refused(self, provider: int, status: str, sent_at: float, kind: str) -> None:
        code = self.setup.providers[provider][0]
        with self.findings.lock:
            self.provider_refusals.append((code, status, sent_at, time.monotonic(), kind))

    def unexplained_provider_refusals(self) -> list[str]:
        """Calls refused for their provider's status when no staff action could explain it:
        a refusal's call must overlap a window in which its provider had that status."""
        from wallets.models import AuditRecord, Provider

        problems = []
        for code, status, sent, answered, kind in self.provider_refusals:
            if any(
                c == code and s == status and sent < end and answered > start
                for c, s, start, end in self.provider_windows
            ):
                continue
            # The wallet's own policies (monitoring, compliance) may change a status too.
            others = AuditRecord.objects.filter(
                action="provider.status",
                target_type="wallets.provider",
                target_id=str(Provider.objects.get(code=code).pk),
                actor__isnull=True,
            ).exists()
            if not others:
                problems.append(
                    f"{kind} refused {status} at {sent - self.started:.2f}s though provider "
                    f"{code} was not {status.split('_')[1].lower()} then"
                )
        return problems

    def finished(self, steps_done: int) -> bool:
        if self.deadline is not None:
            return time.monotonic() >= self.deadline
        return steps_done >= self.steps


@dataclass
class SeedResult:
    seed: int
    calls: Counter
    refused: int
    refused_checked: int
    violations: dict[str, list[str]]
    elapsed: float

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())

    @property
    def checks(self) -> int:
        return len(self.violations)


def run_seed(
    seed: int,
    *,
    base_url: str,
    workers: int = 4,
    players: int = 2,
    providers: int = 3,
    steps: int = 60,
    seconds: float = 0.0,
    tag: str | None = None,
) -> SeedResult:
    """Play one seed (`seconds` of traffic, or `steps` operations per worker) and check it."""
    started = time.monotonic()
    tag = tag or secrets.token_hex(3)
    setup = prepare(seed, workers=workers, players=players, providers=providers, tag=tag)
    run = SeedRun(setup, base_url, steps=steps, seconds=seconds, tag=tag)
    play = [PlayWorker(run, number) for number in range(1, workers + 1)]
    staff = StaffWorker(run)
    threads = [threading.Thread(target=w.play, name=f"soak-{w.number}") for w in play]
    staff_thread = threading.Thread(target=staff.work, name="soak-staff")
    for thread in [*threads, staff_thread]:
        thread.start()
    for thread in threads:
        thread.join()
    run.players_done.set()
    staff_thread.join()

    return SeedResult(
        seed=seed,
        calls=run.findings.calls,
        refused=run.findings.refused,
        refused_checked=run.findings.refused_checked,
        violations=check_seed(run, play),
        elapsed=time.monotonic() - started,
    )


def check_seed(run: "SeedRun", play: list["PlayWorker"]) -> dict[str, list[str]]:
    """After the workers stopped: what they saw, the database invariants over the seed's
    wallets, the driver's books against the balances, and reconciliation's findings during
    the run. Check name -> violations."""
    from django.db.models import Q

    from reconciliation.models import Discrepancy
    from simulator import invariants
    from wallets.models import Wallet

    findings = run.findings
    violations = {
        "the wallet's answers (during the run)": [
            *findings.violations,
            *run.unexplained_provider_refusals(),
        ]
    }
    everyone = [p for worker in play for p in worker.players]
    wallet_ids = [p.wallet_id for p in everyone]
    violations.update(invariants.check_all(wallet_ids))
    # The driver's books: what the wallet's answers said was applied, counted once per id.
    balances = dict(Wallet.objects.filter(pk__in=wallet_ids).values_list("pk", "balance_minor"))
    books = []
    for worker in play:
        for player in worker.players:
            expected, actual = worker.books[player.id], balances.get(player.wallet_id)
            if expected != actual:
                books.append(
                    f"player {player.external_id}: the wallet's answers add up to {expected} "
                    f"minor units, the wallet holds {actual}"
                )
    violations["the driver's books = balances"] = books
    drift = Discrepancy.objects.filter(
        Q(kind="balance_drift") | Q(kind="reserved_drift"), wallet_id__in=wallet_ids
    )
    violations["reconciliation during the run found no drift"] = [
        f"{d.kind} on wallet {d.wallet_id}: cached {d.cached_minor}, expected {d.expected_minor}"
        for d in drift
    ]
    return violations


# --- the command line -----------------------------------------------------------------------


def parse_seeds(text: str) -> list[int]:
    """ "1-200", "7", "3,9,12-14" -> the seeds, in order, without repeats."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"seeds: {part!r} is not a number or a range like 1-200") from None
        if low < 0 or high < low:
            raise ValueError(f"seeds: {part!r} is not an ascending range of seeds >= 0")
        seeds += [s for s in range(low, high + 1) if s not in seeds]
    if not seeds:
        raise ValueError("seeds: none given")
    return seeds


def replay_command(seed: int, args) -> str:
    length = f"MINUTES={args.minutes:g}" if args.minutes else f"STEPS={args.steps}"
    return f"make soak SEEDS={seed} {length} WORKERS={args.workers}"


class Progress:
    def __init__(self, total: int, out, enabled: bool):
        self.total = total
        self.out = out
        self.tty = enabled and hasattr(out, "isatty") and out.isatty()
        self.started = time.monotonic()

    def update(self, done: int, calls: int, failed: int) -> None:
        if not self.tty:
            return
        width = 30
        filled = width * done // self.total
        elapsed = time.monotonic() - self.started
        self.out.write(
            f"\r\x1b[2K[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} seeds  "
            f"{calls} calls  {failed} failed  {elapsed:5.0f}s"
        )
        self.out.flush()

    def line(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K")
        self.out.write(text + "\n")
        self.out.flush()


def summary_lines(results: list[SeedResult], elapsed: float) -> list[str]:
    calls: Counter = Counter()
    for result in results:
        calls.update(result.calls)
    total = sum(calls.values())
    failed = [r.seed for r in results if not r.ok]
    by_kind: dict[str, Counter] = {}
    for (kind, outcome), n in calls.items():
        by_kind.setdefault(kind, Counter())[outcome] += n
    refused = sum(r.refused for r in results)
    checked = sum(r.refused_checked for r in results)
    checks = sum(r.checks for r in results)
    violations = sum(len(v) for r in results for v in r.violations.values())
    minutes, seconds = divmod(int(elapsed), 60)
    lines = [
        "",
        f"seeds run          {len(results)} ({len(results) - len(failed)} passed, "
        f"{len(failed)} failed{': ' + ', '.join(map(str, failed)) if failed else ''})",
        f"calls              {total} ({total / elapsed:.0f}/s)" if elapsed else f"calls {total}",
        f"refused calls      {refused}, {checked} checked to have changed nothing",
        f"invariant checks   {checks} ({checks // max(len(results), 1)} per seed), "
        f"{violations} violations",
        f"wall time          {minutes}m {seconds:02d}s",
        "",
        f"{'call':<34} {'total':>7}  outcomes",
    ]
    for kind in sorted(by_kind):
        outcomes = by_kind[kind]
        text = ", ".join(f"{o} {n}" for o, n in outcomes.most_common())
        lines.append(f"{kind:<34} {sum(outcomes.values()):>7}  {text}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.soak", description="The seeded money simulation."
    )
    parser.add_argument("--seeds", default="1-3", help="e.g. 1-200, 7, or 3,9,12-14")
    parser.add_argument(
        "--minutes", type=float, default=0.0, help="traffic per seed (e.g. 0.1); else --steps"
    )
    parser.add_argument("--steps", type=int, default=60, help="operations per worker and seed")
    parser.add_argument("--workers", type=int, default=4, help="play workers (plus one staff)")
    parser.add_argument("--players", type=int, default=2, help="players per worker")
    parser.add_argument("--providers", type=int, default=3)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as error:
        parser.error(str(error))
    if args.workers < 1 or args.players < 1 or not 1 <= args.providers <= 8 or args.steps < 1:
        parser.error("workers, players and steps must be at least 1, providers 1 to 8")
    if args.minutes < 0:
        parser.error("minutes must not be negative")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    server, base_url = start_server()
    out = sys.stderr
    progress = Progress(len(seeds), out, not args.no_progress)
    length = f"{args.minutes:g} min" if args.minutes else f"{args.steps} operations"
    progress.line(
        f"soak: {len(seeds)} seeds, {length} per worker and seed, {args.workers} workers "
        f"+ 1 staff, against config.wsgi at {base_url}"
    )
    results: list[SeedResult] = []
    started = time.monotonic()
    try:
        for done, seed in enumerate(seeds, 1):
            result = run_seed(
                seed,
                base_url=base_url,
                workers=args.workers,
                players=args.players,
                providers=args.providers,
                steps=args.steps,
                seconds=args.minutes * 60,
            )
            results.append(result)
            if not result.ok:
                progress.line(f"seed {seed} FAILED:")
                for check, problems in result.violations.items():
                    for problem in problems[:20]:
                        progress.line(f"  [{check}] {problem}")
                progress.line(f"  replay: {replay_command(seed, args)}")
            elif not progress.tty:
                progress.line(
                    f"seed {seed}: ok, {sum(result.calls.values())} calls, {result.elapsed:.1f}s"
                )
            progress.update(
                done, sum(sum(r.calls.values()) for r in results), sum(not r.ok for r in results)
            )
    except KeyboardInterrupt:
        progress.line("interrupted")
    finally:
        server.shutdown()
    for line in summary_lines(results, time.monotonic() - started):
        print(line)
    failed = [r.seed for r in results if not r.ok]
    if failed:
        print("\nFAILED seeds; replay each with:")
        for seed in failed:
            print(f"  {replay_command(seed, args)}")
        return 1
    if len(results) < len(seeds):
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
