"""The provider simulator's machinery: configuration, fault injection, the shared rate limit,
counters, the progress line, and the worker threads that play the scenarios.

Everything goes over HTTP (simulator.clients): the simulator is a client of the real wallet API
and back-office API, never of the database, so what it provokes is what real providers provoke.
"""

import random
import re
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulator.clients import (
    HttpResult,
    StaffClient,
    WalletClient,
    dumps,
    exponent,
    format_amount,
    parse_minor,
)

# How each demo provider plays; an unknown code plays slots.
PROVIDER_STYLES = {"royale-live": "live"}
DEFAULT_PROVIDERS = ["stellar-slots", "royale-live", "spinwave"]

# Refusals any call may meet in a living wallet (staff, fraud rules, monitoring's
# auto-protection act while the simulator runs): counted, never "unexpected".
AMBIENT_REFUSALS = {
    "PROVIDER_SUSPENDED",
    "PROVIDER_RESTRICTED",
    "PLAYER_BLOCKED",
    "SESSION_EXPIRED",
    "BET_DECLINED",
    "LIMIT_EXCEEDED",
    "INSUFFICIENT_FUNDS",
    "SESSION_LIMIT",
}


RETRIES = 2  # extra attempts after a 5xx or a network error


def _retryable(result: HttpResult) -> bool:
    return result.status == 0 or result.status >= 500


class Stop(Exception):
    """The run is over (deadline or interrupt): the scenario unwinds."""


@dataclass
class Faults:
    """Per provider: client-side latency (seconds) and the share of calls doubled by a faulty
    one (bad signature or malformed body)."""

    latency: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"latency {c} {s * 1000:.0f}ms" for c, s in self.latency.items()]
        parts += [f"errors {c} {r * 100:g}%" for c, r in self.errors.items()]
        return ", ".join(parts) or "none"


_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s)?$")
_RATE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(%)?$")


def parse_faults(text: str) -> Faults:
    """`latency=royale-live:300ms,errors=spinwave:2%` (latency in ms or s; errors as % or a
    fraction). ValueError naming the bad part otherwise."""
    faults = Faults()
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        kind, _, rest = item.partition("=")
        code, _, value = rest.rpartition(":")
        if kind not in {"latency", "errors"} or not code or not value:
            raise ValueError(f"fault {item!r}: expected latency=<provider>:<ms> or errors=<p>:<%>")
        if kind == "latency":
            match = _DURATION.match(value)
            if not match:
                raise ValueError(f"fault {item!r}: latency like 300ms or 1.5s")
            number = float(match.group(1))
            faults.latency[code] = number if match.group(2) == "s" else number / 1000
        else:
            match = _RATE.match(value)
            if not match:
                raise ValueError(f"fault {item!r}: error rate like 2% or 0.02")
            number = float(match.group(1))
            share = number / 100 if match.group(2) else number
            if not 0 <= share <= 1:
                raise ValueError(f"fault {item!r}: error rate between 0 and 100%")
            faults.errors[code] = share
    return faults


@dataclass
class ProviderProfile:
    code: str
    secret: str  # native: the HMAC secret; other protocols: their signing key or secret
    currencies: list[str]
    style: str = "slots"
    protocol: str = "native"


@dataclass
class SimulationConfig:
    base_url: str
    token: str  # staff API token (integrator)
    secrets: dict[str, str]  # provider code -> HMAC secret
    providers: list[str] = field(default_factory=lambda: list(DEFAULT_PROVIDERS))
    # Providers of the other protocols (docs/integrations/): code -> (protocol, what it signs
    # with: a private key PEM or a shared secret). They play slots in their own protocol.
    protocol_providers: dict[str, tuple[str, str]] = field(default_factory=dict)
    rate: float = 5.0  # HTTP requests per second, all kinds together
    duration: float = 60.0  # seconds; 0 = until interrupted
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None
    players: int = 12
    workers: int | None = None
    fraud: bool = True
    fraud_interval: float = 1800.0
    report: bool = True
    report_interval: float = 1800.0
    progress: bool = True
    timeout: float = 30.0


@dataclass
class Summary:
    calls: int
    wallet_calls: int
    staff_calls: int
    by_outcome: dict[str, int]
    by_operation: dict[str, int]
    applied: dict[str, int]
    injected: int
    unexpected: list[str]
    server_errors: int
    server_error_samples: list[str]
    sessions_opened: int
    sessions_closed: int
    sessions_abandoned: int
    fraud_patterns: list[str]
    reports: list[str]
    elapsed: float

    def lines(self) -> list[str]:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.by_outcome.items()))
        operations = ", ".join(f"{k} {v}" for k, v in sorted(self.by_operation.items()))
        lines = [
            f"{self.calls} requests in {self.elapsed:.1f}s ({self.wallet_calls} wallet, "
            f"{self.staff_calls} back-office, {self.injected} injected faults)",
            f"  wallet outcomes: {outcomes or '-'}",
            f"  operations: {operations or '-'}",
            f"  sessions: {self.sessions_opened} opened, {self.sessions_closed} closed, "
            f"{self.sessions_abandoned} abandoned",
            f"  fraud patterns: {', '.join(self.fraud_patterns) or '-'}",
            f"  provider reports: {', '.join(self.reports) or '-'}",
            f"  server errors (5xx / network, retried): {self.server_errors}",
        ]
        lines += [f"    {sample}" for sample in self.server_error_samples[:10]]
        if self.unexpected:
            lines.append(f"  unexpected outcomes ({len(self.unexpected)}):")
            lines += [f"    {u}" for u in self.unexpected[:20]]
        return lines


class Stats:
    """Counters shared by the workers (one lock; a few operations a call)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.outcomes: Counter = Counter()
        self.applied: Counter = Counter()  # OK and not a duplicate, per operation
        self.operations: Counter = Counter()
        self.wallet_calls = 0
        self.staff_calls = 0
        self.injected = 0
        self.server_errors = 0
        self.server_error_samples: list[str] = []
        self.unexpected: list[str] = []
        self.unexpected_count = 0
        self.recent: deque = deque()
        self.playing = 0
        self.opened = 0
        self.closed = 0
        self.abandoned = 0
        self.fraud_patterns: list[str] = []
        self.reports: list[str] = []

    def _tick(self) -> None:
        now = time.monotonic()
        self.recent.append(now)
        while self.recent and self.recent[0] < now - 5:
            self.recent.popleft()

    def protocol_call(self, operation: str, answer, expected: set[str]) -> None:
        """A call in another protocol (a simulator.protocols Answer), counted by the ledger
        outcome its status stands for."""
        with self.lock:
            self._tick()
            self.wallet_calls += 1
            self.outcomes[answer.canonical] += 1
            self.operations[operation] += 1
            if answer.ok:
                self.applied[operation] += 1
            if _retryable(answer.http):
                self._server_error(operation, answer.http)
            elif answer.canonical not in expected and answer.canonical not in AMBIENT_REFUSALS:
                self.unexpected_count += 1
                if len(self.unexpected) < 50:
                    self.unexpected.append(
                        f"{operation}: {answer.http.status} {answer.status} (expected "
                        f"{'/'.join(sorted(expected))}) {str(answer.http.body)[:160]}"
                    )

    def wallet(self, operation: str, result: HttpResult, expected: set[str]) -> None:
        with self.lock:
            self._tick()
            self.wallet_calls += 1
            self.outcomes[result.code] += 1
            self.operations[operation] += 1
            if result.ok and result.get("duplicate") is not True:
                self.applied[operation] += 1
            if _retryable(result):
                self._server_error(operation, result)
            elif result.code not in expected and result.code not in AMBIENT_REFUSALS:
                self.unexpected_count += 1
                if len(self.unexpected) < 50:
                    self.unexpected.append(
                        f"{operation}: {result.status} {result.code} (expected "
                        f"{'/'.join(sorted(expected))}) {str(result.body)[:160]}"
                    )

    def staff(self, path: str, result: HttpResult, ok: bool) -> None:
        with self.lock:
            self._tick()
            self.staff_calls += 1
            if _retryable(result):
                self._server_error(path, result)
            elif not ok:
                self.unexpected_count += 1
                if len(self.unexpected) < 50:
                    self.unexpected.append(
                        f"back-office {path}: {result.status} {str(result.body)[:200]}"
                    )

    def _server_error(self, what: str, result: HttpResult) -> None:
        self.server_errors += 1
        if len(self.server_error_samples) < 20:
            detail = result.error or str(result.body)[:160]
            self.server_error_samples.append(f"{what}: {result.status} {result.code} {detail}")

    def fault(self) -> None:
        with self.lock:
            self._tick()
            self.injected += 1
            self.wallet_calls += 1

    def session(self, change: str) -> None:
        with self.lock:
            if change == "opened":
                self.opened += 1
                self.playing += 1
            else:
                self.playing -= 1
                if change == "closed":
                    self.closed += 1
                else:
                    self.abandoned += 1

    def rate(self) -> float:
        with self.lock:
            now = time.monotonic()
            recent = [t for t in self.recent if t >= now - 5]
            span = min(5.0, now - self.started) or 1.0
            return len(recent) / span

    def line(self) -> str:
        rate = self.rate()
        with self.lock:
            top = ", ".join(f"{code} {n}" for code, n in self.outcomes.most_common(5))
            return (
                f"{time.monotonic() - self.started:6.0f}s  {rate:5.1f} req/s  "
                f"wallet {self.wallet_calls} [{top or '-'}]  injected {self.injected}  "
                f"back-office {self.staff_calls}  sessions playing {self.playing} "
                f"(abandoned {self.abandoned})  errors {self.server_errors}  "
                f"unexpected {self.unexpected_count}"
            )


class RateLimiter:
    """Spaces all requests of all workers evenly at `rate` per second."""

    def __init__(self, rate: float, stop: threading.Event):
        self.interval = 1.0 / rate
        self.stop = stop
        self.lock = threading.Lock()
        self.next_at = time.monotonic()

    def acquire(self) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_at)
            self.next_at = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0 and self.stop.wait(delay):
            raise Stop()
        if self.stop.is_set():
            raise Stop()


@dataclass
class Txn:
    """A money call the simulator made, as its provider would list it in a report."""

    provider: str
    transaction_id: str
    round_id: str
    player: str
    kind: str
    amount_minor: int
    currency: str
    status: str
    at: datetime


class Ledger:
    """What the simulated providers believe they did (for their reconciliation reports)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rows: dict[tuple[str, str], Txn] = {}

    def add(self, txn: Txn) -> None:
        with self.lock:
            self.rows.setdefault((txn.provider, txn.transaction_id), txn)

    def mark_rolled_back(self, provider: str, transaction_id: str) -> None:
        with self.lock:
            row = self.rows.get((provider, transaction_id))
            if row is not None:
                row.status = "rolled_back"

    def forget_before(self, moment: datetime) -> None:
        """Drop rows already reported (a long run would otherwise keep every call)."""
        with self.lock:
            for key in [k for k, row in self.rows.items() if row.at < moment]:
                del self.rows[key]

    def snapshot(self, provider: str, since: datetime, until: datetime) -> list[Txn]:
        with self.lock:
            return [
                Txn(**vars(row))
                for (code, _), row in self.rows.items()
                if code == provider and since <= row.at <= until
            ]


@dataclass
class Player:
    id: int
    external_id: str
    currency: str


class Worker:
    """One thread's clients and random stream; scenarios call through it."""

    def __init__(self, sim: "Simulator", number: int):
        self.sim = sim
        self.number = number
        seed = None if sim.config.seed is None else sim.config.seed * 1000 + number
        self.rng = random.Random(seed)
        self.staff = StaffClient(sim.config.base_url, sim.config.token, timeout=sim.config.timeout)
        self.wallets: dict[str, WalletClient] = {}
        self.protocol_clients: dict = {}  # provider code -> (connection, ProtocolClient)
        self.open_plays: set = set()  # scenarios.Play objects not yet closed or abandoned
        self._seq = 0

    def close(self) -> None:
        """End of the run: close the sessions still being played (outside the rate limit)."""
        for play in list(self.open_plays):
            try:
                play.close(force=True)
            except Exception:  # the server may be going away too
                play.abandon()
        self.staff.close()
        for client in self.wallets.values():
            client.close()
        for connection, _ in self.protocol_clients.values():
            connection.close()

    def new_id(self, kind: str) -> str:
        self._seq += 1
        return f"sim-{self.sim.run_id}-w{self.number}-{kind}{self._seq}"

    def wallet_client(self, provider: ProviderProfile) -> WalletClient:
        client = self.wallets.get(provider.code)
        if client is None:
            client = WalletClient(
                self.sim.config.base_url,
                provider.code,
                provider.secret,
                timeout=self.sim.config.timeout,
            )
            self.wallets[provider.code] = client
        return client

    def protocol_client(self, provider: ProviderProfile):
        """The provider's client in its own protocol (simulator.protocols), one per worker."""
        from simulator.clients import Connection
        from simulator.protocols import kits

        found = self.protocol_clients.get(provider.code)
        if found is None:
            connection = Connection(self.sim.config.base_url, self.sim.config.timeout)
            found = (
                connection,
                kits.client(provider.protocol, connection, provider.code, provider.secret),
            )
            self.protocol_clients[provider.code] = found
        return found[1]

    def protocol_call(self, provider: ProviderProfile, operation: str, expected, send):
        """One call in the provider's protocol, after the rate limit: `send(client)` makes it;
        5xx and network errors are retried as a provider would."""
        self.sim.limiter.acquire()
        client = self.protocol_client(provider)
        for attempt in range(1, RETRIES + 2):
            answer = send(client)
            self.sim.stats.protocol_call(f"{provider.protocol}:{operation}", answer, expected)
            if not _retryable(answer.http) or attempt > RETRIES:
                break
            time.sleep(0.2 * attempt)
        return answer

    # --- wallet API ------------------------------------------------------------------------

    def call(
        self,
        provider: ProviderProfile,
        operation: str,
        expected: set[str] | None = None,
        *,
        force: bool = False,
        player: "Player | None" = None,
        **fields,
    ) -> HttpResult:
        """One signed wallet call, after the rate limit (unless `force`: closing calls while
        stopping), the provider's injected faults, and its latency."""
        sim = self.sim
        if not force:
            sim.limiter.acquire()
        error_rate = sim.config.faults.errors.get(provider.code, 0.0)
        if error_rate and self.rng.random() < error_rate:
            self._inject_fault(provider, operation, fields)
            if not force:
                sim.limiter.acquire()
        client = self.wallet_client(provider)
        delay = sim.config.faults.latency.get(provider.code, 0.0)
        body = dumps(fields)
        for attempt in range(1, RETRIES + 2):
            result = client.send(operation, body, body_delay=delay)
            sim.stats.wallet(operation, result, expected or {"OK"})
            # As the contract asks of providers: retry 5xx and timeouts, never 4xx.
            if not _retryable(result) or attempt > RETRIES:
                break
            time.sleep(0.2 * attempt)
        if player is not None:
            self._record(provider, player, operation, fields, result)
        return result

    def _inject_fault(self, provider: ProviderProfile, operation: str, fields: dict) -> None:
        client = self.wallet_client(provider)
        if self.rng.random() < 0.5:
            client.send(operation, dumps(fields), signature="0" * 64)
        else:
            client.send(operation, dumps(fields)[:-1])  # truncated JSON, validly signed
        self.sim.stats.fault()

    def _record(self, provider, player: "Player", operation: str, fields: dict, result) -> None:
        if operation not in {"bet", "win", "rollback"} or not result.ok:
            return
        if result.get("duplicate"):
            return
        if operation == "rollback":
            reference = fields["reference_transaction_id"]
            known = self.sim.ledger.rows.get((provider.code, reference))
            amount = known.amount_minor if known and known.status == "posted" else 0
            self.sim.ledger.mark_rolled_back(provider.code, reference)
        else:
            amount = parse_minor(fields["amount"], player.currency)
        self.sim.ledger.add(
            Txn(
                provider=provider.code,
                transaction_id=fields["transaction_id"],
                round_id=fields.get("round_id", ""),
                player=player.external_id,
                kind=operation,
                amount_minor=amount,
                currency=player.currency,
                status="posted",
                at=datetime.now(UTC),
            )
        )

    # --- back-office API -------------------------------------------------------------------

    def staff_post(self, path: str, data: dict, ok_statuses=(200, 201), *, force=False):
        if not force:
            self.sim.limiter.acquire()
        for attempt in range(1, RETRIES + 2):
            result = self.staff.post(path, data)
            self.sim.stats.staff(path, result, result.status in ok_statuses)
            if not _retryable(result) or attempt > RETRIES:
                break
            time.sleep(0.2 * attempt)
        return result

    def staff_get(self, path: str, **params):
        self.sim.limiter.acquire()
        result = self.staff.get(path, **params)
        self.sim.stats.staff(path, result, result.status == 200)
        return result

    def deposit(self, player: Player, minor: int, *, ip: str | None = None, tag="topup"):
        data = {
            "player": player.id,
            "amount": format_amount(minor, player.currency),
            "currency": player.currency,
            "external_id": self.new_id(tag),
        }
        if ip:
            data["ip"] = ip
        return self.staff_post("payments/deposits", data)

    def launch(self, player: Player, provider: ProviderProfile, *, buy_in: int = 0, game=""):
        data = {
            "player": player.id,
            "provider": provider.code,
            "currency": player.currency,
            "game_id": game or f"{provider.code}-{self.rng.choice(['alpha', 'beta', 'gamma'])}",
        }
        if buy_in:
            data["buy_in"] = format_amount(buy_in, player.currency)
        # Refusals a living wallet gives (provider suspended, session limit, funds): 4xx, fine.
        result = self.staff_post("sessions/", data, ok_statuses=(201, 400, 402, 403, 409))
        if result.status == 402:  # the buy-in is more than the player has: the cashier
            self.deposit(player, 200 * 10 ** exponent(player.currency))
        if result.status != 201:
            return None
        self.sim.stats.session("opened")
        return result.get("session_token")


class Simulator:
    def __init__(self, config: SimulationConfig, out=None):
        if config.rate <= 0:
            raise ValueError("rate must be above 0")
        self.config = config
        self.out = out or sys.stderr
        self.stop = threading.Event()
        self.stats = Stats()
        self.limiter = RateLimiter(config.rate, self.stop)
        self.ledger = Ledger()
        seed_rng = random.Random(config.seed)
        self.run_id = f"{int(time.time()):x}{seed_rng.randrange(16**4):04x}"
        self.players: list[Player] = []
        self.providers: list[ProviderProfile] = []
        self.fraud_queue: deque = deque()
        self.fraud_lock = threading.Lock()
        self.next_fraud_at = 0.0
        self.started_at = datetime.now(UTC)
        self.report_since = self.started_at  # the next report covers calls from here on
        self.last_report_at = time.monotonic()

    # --- set-up ----------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Providers (from the staff API), and the pool of simulated players, funded."""
        staff = StaffClient(self.config.base_url, self.config.token, timeout=self.config.timeout)
        try:
            for code in self.config.providers:
                secret = self.config.secrets.get(code)
                if not secret:
                    raise ValueError(f"no secret for provider {code}")
                found = staff.get(f"providers/{code}/")
                if found.status != 200:
                    raise ValueError(
                        f"provider {code}: GET /api/v1/providers/{code}/ answered "
                        f"{found.status} {found.body}"
                    )
                self.providers.append(
                    ProviderProfile(
                        code=code,
                        secret=secret,
                        currencies=list(found.get("currencies") or ["EUR"]),
                        style=PROVIDER_STYLES.get(code, "slots"),
                    )
                )
            for code, (protocol, credential) in self.config.protocol_providers.items():
                found = staff.get(f"providers/{code}/")
                if found.status != 200:
                    raise ValueError(f"provider {code}: {found.status} {found.body}")
                self.providers.append(
                    ProviderProfile(
                        code=code,
                        secret=credential,
                        currencies=list(found.get("currencies") or ["EUR"]),
                        style="protocol",
                        protocol=protocol,
                    )
                )
            offered = {c for p in self.providers for c in p.currencies}
            for number in range(1, self.config.players + 1):
                currency = "JPY" if number % 6 == 0 and "JPY" in offered else "EUR"
                if currency not in offered:
                    currency = sorted(offered)[0]
                self.players.append(self._player(staff, f"sim-player-{number:03d}", currency))
        finally:
            staff.close()

    def _player(self, staff: StaffClient, external_id: str, currency: str) -> Player:
        found = staff.get("players/", external_id=external_id)
        results = found.get("results") or []
        if results:
            row = results[0]
        else:
            created = staff.post(
                "players/",
                {
                    "external_id": external_id,
                    "currency": currency,
                    "country": "MT",
                    "registration_ip": "203.0.113.10",
                },
            )
            if created.status != 201:
                raise ValueError(f"creating player {external_id}: {created.status} {created.body}")
            row = created.body
        player = Player(id=row["id"], external_id=external_id, currency=row["currency"])
        available = 0
        for balance in row.get("balances") or []:
            if balance.get("currency") == player.currency:
                available = _minor(balance.get("available"), player.currency)
        floor = 100 * 10 ** exponent(player.currency)
        if available < floor:
            staff.post(
                "payments/deposits",
                {
                    "player": player.id,
                    "amount": format_amount(5 * floor, player.currency),
                    "currency": player.currency,
                    "external_id": f"sim-{self.run_id}-fund-{external_id}",
                },
            )
        return player

    # --- running ---------------------------------------------------------------------------

    def run(self) -> Summary:
        from simulator import scenarios  # the scenarios use this module's classes

        self.bootstrap()
        if self.config.fraud:
            self.fraud_queue.extend(scenarios.FRAUD_PATTERNS)
            self.next_fraud_at = time.monotonic() + self.config.fraud_interval
        count = self.config.workers or max(2, min(12, int(self.config.rate) + 2))
        threads = [
            threading.Thread(target=self._work, args=(n,), name=f"sim-{n}", daemon=True)
            for n in range(count)
        ]
        progress = threading.Thread(target=self._progress, name="sim-progress", daemon=True)
        for thread in threads:
            thread.start()
        if self.config.progress:
            progress.start()
        try:
            deadline = time.monotonic() + self.config.duration if self.config.duration else None
            while not self.stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.stop.wait(0.2)
                self._maybe_report(periodic=True)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=self.config.timeout + 5)
            if self.config.progress:
                progress.join(timeout=2)
        if self.config.report:
            self._maybe_report(periodic=False)
        return self.summary()

    def _work(self, number: int) -> None:
        from simulator import scenarios

        worker = Worker(self, number)
        try:
            while not self.stop.is_set():
                pattern = self._due_fraud_pattern()
                try:
                    if pattern is not None:
                        pattern(worker)
                        with self.stats.lock:
                            self.stats.fraud_patterns.append(pattern.__name__)
                    else:
                        scenarios.pick(worker)(worker)
                except Stop:
                    break
                except Exception as error:  # a bug in a scenario must not end the run
                    with self.stats.lock:
                        self.stats.unexpected_count += 1
                        self.stats.unexpected.append(f"scenario error: {error!r}")
                    self.stop.wait(1)
        finally:
            worker.close()

    def _due_fraud_pattern(self):
        if not self.config.fraud:
            return None
        with self.fraud_lock:
            if not self.fraud_queue and time.monotonic() >= self.next_fraud_at:
                from simulator import scenarios

                self.fraud_queue.extend(scenarios.FRAUD_PATTERNS)
                self.next_fraud_at = time.monotonic() + self.config.fraud_interval
            return self.fraud_queue.popleft() if self.fraud_queue else None

    def _maybe_report(self, *, periodic: bool) -> None:
        if not self.config.report:
            return
        if periodic and (
            self.config.duration
            or time.monotonic() - self.last_report_at < self.config.report_interval
        ):
            return
        self.last_report_at = time.monotonic()
        from simulator import scenarios

        try:
            outcome = scenarios.post_provider_report(self)
        except Exception as error:
            outcome = f"failed: {error!r}"
        if outcome:
            with self.stats.lock:
                self.stats.reports.append(outcome)

    def _progress(self) -> None:
        tty = hasattr(self.out, "isatty") and self.out.isatty()
        every = 0.5 if tty else 60.0
        while not self.stop.wait(every):
            if tty:
                self.out.write("\r\x1b[2K" + self.stats.line())
            else:
                self.out.write(self.stats.line() + "\n")
            self.out.flush()
        if tty:
            self.out.write("\n")
            self.out.flush()

    def summary(self) -> Summary:
        stats = self.stats
        with stats.lock:
            return Summary(
                calls=stats.wallet_calls + stats.staff_calls,
                wallet_calls=stats.wallet_calls,
                staff_calls=stats.staff_calls,
                by_outcome=dict(stats.outcomes),
                by_operation=dict(stats.operations),
                applied=dict(stats.applied),
                injected=stats.injected,
                unexpected=list(stats.unexpected),
                server_errors=stats.server_errors,
                server_error_samples=list(stats.server_error_samples),
                sessions_opened=stats.opened,
                sessions_closed=stats.closed,
                sessions_abandoned=stats.abandoned,
                fraud_patterns=list(stats.fraud_patterns),
                reports=list(stats.reports),
                elapsed=time.monotonic() - stats.started,
            )


def _minor(text, currency: str) -> int:
    try:
        return parse_minor(text, currency)
    except (ArithmeticError, ValueError, TypeError):
        return 0
