"""What the simulated providers do: slots and live tables, concurrent sessions, retries and
duplicate wins, rollbacks and tombstones, abandoned sessions and late wins, the fraud patterns
(through the back-office payment API), and a provider report with a few planted discrepancies.

Each scenario is a function of a Worker. Every call states what outcome it expects; anything
else (besides the refusals a living wallet may give at any time) is counted as unexpected.
"""

from datetime import UTC, datetime

from simulator.clients import exponent, format_amount
from simulator.engine import Player, ProviderProfile, Simulator, Stop, Worker

OK = {"OK"}


def units(currency: str, major: int) -> int:
    return major * 10 ** exponent(currency)


def stake(worker: Worker, currency: str) -> int:
    """A typical stake: 0.20 to 5.00 (or 20 to 500 in a currency without decimals)."""
    cents = worker.rng.choice([20, 20, 50, 50, 100, 100, 200, 500])
    places = exponent(currency)
    return cents * 10 ** (places - 2) if places >= 2 else cents


def payout(worker: Worker, amount: int) -> int:
    """Most rounds lose; the rest pay a multiple (about 96% return overall)."""
    if worker.rng.random() < 0.55:
        return 0
    return amount * worker.rng.choice([1, 1, 2, 2, 2, 3, 5, 5])


class Play:
    """A launched session as the provider's game server drives it."""

    def __init__(self, worker: Worker, provider: ProviderProfile, player: Player, token: str):
        self.worker = worker
        self.provider = provider
        self.player = player
        self.token = token
        self.open = True
        worker.open_plays.add(self)  # closed by the worker if the run stops mid-scenario

    def call(self, operation: str, expected=OK, *, force=False, **fields):
        return self.worker.call(
            self.provider,
            operation,
            expected,
            force=force,
            player=self.player,
            session_token=self.token,
            **fields,
        )

    def money(self, minor: int) -> dict:
        return {
            "amount": format_amount(minor, self.player.currency),
            "currency": self.player.currency,
        }

    def authenticate(self) -> bool:
        return self.call("authenticate").ok

    def bet(self, round_id: str, minor: int, txn: str | None = None, expected=OK):
        txn = txn or self.worker.new_id("bet")
        result = self.call(
            "bet", expected, transaction_id=txn, round_id=round_id, **self.money(minor)
        )
        return txn, result

    def win(self, round_id: str, minor: int, *, close=True, txn=None, reference=None):
        txn = txn or self.worker.new_id("win")
        fields = {"transaction_id": txn, "round_id": round_id, **self.money(minor)}
        if close:
            fields["round_closed"] = True
        if reference:
            fields["reference_transaction_id"] = reference
        return txn, self.call("win", **fields)

    def rollback(self, bet_txn: str, round_id: str, expected=OK):
        return self.call(
            "rollback",
            expected,
            transaction_id=self.worker.new_id("rb"),
            reference_transaction_id=bet_txn,
            round_id=round_id,
        )

    def close(self, *, force=False) -> None:
        """Close the session. A close the run's stop interrupted (or the network lost) leaves
        the play open: the worker closes it once more on the way out, or counts it abandoned."""
        if self.open:
            self.call("session/close", force=force)
            self.open = False
            self.worker.open_plays.discard(self)
            self.worker.sim.stats.session("closed")

    def abandon(self) -> None:
        """Stop calling: the session stays open until the wallet's idle cleanup ends it."""
        if self.open:
            self.open = False
            self.worker.open_plays.discard(self)
            self.worker.sim.stats.session("abandoned")


def _provider(worker: Worker, style: str | None = None) -> ProviderProfile:
    """A native provider (of `style` when there is one); the providers of other protocols play
    only protocol_slots."""
    providers = [p for p in worker.sim.providers if p.protocol == "native"]
    preferred = [p for p in providers if style is None or p.style == style]
    return worker.rng.choice(preferred or providers)


def _players(worker: Worker, provider: ProviderProfile, count: int = 1) -> list[Player]:
    fitting = [p for p in worker.sim.players if p.currency in provider.currencies]
    return worker.rng.sample(fitting, min(count, len(fitting)))


def _start(worker, provider, player, *, buy_in=0) -> Play | None:
    token = worker.launch(player, provider, buy_in=buy_in)
    if token is None:
        return None
    play = Play(worker, provider, player, token)
    if not play.authenticate():
        play.abandon()
        return None
    return play


def _top_up(worker: Worker, player: Player) -> None:
    worker.deposit(player, units(player.currency, 200))


def _finish(plays: list[Play]) -> None:
    """On the way out of a stopped run: close what is still open (outside the rate limit)."""
    for play in plays:
        if play.open:
            try:
                play.close(force=True)
            except Exception:  # pragma: no cover - best effort while stopping
                play.abandon()


# --- scenarios -----------------------------------------------------------------------------


def slots(worker: Worker) -> None:
    """A slot session: spins (bet, then a win that closes the round), with provider retries,
    duplicate wins, cancelled spins, and an ending that is graceful, abandoned or a late win."""
    rng = worker.rng
    provider = _provider(worker, "slots")
    players = _players(worker, provider)
    if not players:
        return
    player = players[0]
    play = _start(worker, provider, player)
    if play is None:
        return
    try:
        for _ in range(rng.randint(3, 12)):
            amount = stake(worker, player.currency)
            round_id = worker.new_id("round")
            bet_txn, placed = play.bet(round_id, amount)
            if placed.code == "INSUFFICIENT_FUNDS":
                _top_up(worker, player)
                break
            if not placed.ok:
                break
            if rng.random() < 0.04:
                # The provider timed out and retries: identical payload, duplicate answer.
                play.bet(round_id, amount, txn=bet_txn)
            roll = rng.random()
            if roll < 0.04:
                play.rollback(bet_txn, round_id)  # the game server cancelled the spin
                continue
            if roll < 0.07:
                play.abandon()  # the player's connection dropped mid-round
                return
            win_amount = payout(worker, amount)
            win_txn, won = play.win(round_id, win_amount)
            if won.ok and rng.random() < 0.06:
                play.win(round_id, win_amount, txn=win_txn)  # a duplicate win, resent as it was
        ending = rng.random()
        if ending < 0.08:
            # A late win: the round's result arrives after the session was closed.
            amount = stake(worker, player.currency)
            round_id = worker.new_id("round")
            _, placed = play.bet(round_id, amount)
            play.close()
            if placed.ok:
                play.win(round_id, amount * 2)
        elif ending < 0.14:
            play.abandon()
        else:
            play.close()
    finally:
        _finish([play])


def live_table(worker: Worker) -> None:
    """A live table: several players (some with a buy-in) bet into the same round ids; the
    dealer settles each round, sometimes voids one (rollbacks), sometimes a player drops out."""
    rng = worker.rng
    provider = _provider(worker, "live")
    seats = _players(worker, provider, rng.randint(2, 4))
    table = worker.new_id("table")
    plays: list[Play] = []
    try:
        for player in seats:
            buy_in = units(player.currency, 20) if rng.random() < 0.5 else 0
            play = _start(worker, provider, player, buy_in=buy_in)
            if play is not None:
                plays.append(play)
        for number in range(rng.randint(2, 5)):
            round_id = f"{table}-round{number}"
            bets = []
            for play in plays:
                if not play.open:
                    continue
                amount = stake(worker, play.player.currency)
                txn, placed = play.bet(round_id, amount)
                if placed.ok:
                    bets.append((play, txn, amount))
                elif placed.code == "INSUFFICIENT_FUNDS":
                    _top_up(worker, play.player)
            if not bets:
                break
            if rng.random() < 0.05:
                for play, txn, _ in bets:  # the dealer voided the round
                    play.rollback(txn, round_id)
                continue
            if rng.random() < 0.05:
                bets[0][0].abandon()  # a player's connection is gone; their round stays open
            for play, _, amount in bets:
                if play.open:
                    play.win(round_id, payout(worker, amount), close=False)
                    play.call("round/close", round_id=round_id)
        for play in plays:
            if rng.random() < 0.1:
                play.abandon()
            else:
                play.close()
    finally:
        _finish(plays)


def two_sessions(worker: Worker) -> None:
    """One player in two games at once (two sessions, possibly at two providers), interleaved."""
    rng = worker.rng
    first = _provider(worker)
    players = _players(worker, first)
    if not players:
        return
    player = players[0]
    fitting = [
        p
        for p in worker.sim.providers
        if p.protocol == "native" and player.currency in p.currencies
    ]
    second = rng.choice(fitting)
    plays = [p for p in (_start(worker, first, player), _start(worker, second, player)) if p]
    try:
        for _ in range(rng.randint(3, 6)):
            for play in plays:
                amount = stake(worker, player.currency)
                round_id = worker.new_id("round")
                _, placed = play.bet(round_id, amount)
                if placed.ok:
                    play.win(round_id, payout(worker, amount))
                elif placed.code == "INSUFFICIENT_FUNDS":
                    _top_up(worker, player)
        for play in plays:
            play.close()
    finally:
        _finish(plays)


def tombstone(worker: Worker) -> None:
    """The rollback overtakes its bet: the unknown-reference rollback succeeds, the late bet is
    refused with TRANSACTION_ROLLED_BACK."""
    provider = _provider(worker, "slots")
    players = _players(worker, provider)
    if not players:
        return
    player = players[0]
    play = _start(worker, provider, player)
    if play is None:
        return
    try:
        round_id = worker.new_id("round")
        bet_txn = worker.new_id("bet")
        play.rollback(bet_txn, round_id)
        play.bet(
            round_id,
            stake(worker, player.currency),
            txn=bet_txn,
            expected={"TRANSACTION_ROLLED_BACK"},
        )
        play.close()
    finally:
        _finish([play])


def protocol_slots(worker: Worker) -> None:
    """A slot session of a provider speaking its own protocol (Hub88, Pragmatic, ...): spins
    of a bet and its win, a provider retry now and then (a duplicate), a cancelled spin; the
    session is left to the wallet's idle cleanup, as these protocols have no close call."""
    from simulator.protocols.base import Seat

    rng = worker.rng
    providers = [p for p in worker.sim.providers if p.style == "protocol"]
    if not providers:
        return
    provider = rng.choice(providers)
    players = _players(worker, provider)
    if not players:
        return
    player = players[0]
    token = worker.launch(player, provider)
    if token is None:
        return
    seat = Seat(token, player.external_id, player.currency)
    try:
        for _ in range(rng.randint(3, 10)):
            amount = stake(worker, player.currency)
            round_id, bet_id = worker.new_id("round"), worker.new_id("bet")
            placed = worker.protocol_call(
                provider,
                "bet",
                OK,
                lambda client, bet_id=bet_id, round_id=round_id, amount=amount: client.bet(
                    seat, bet_id, round_id, amount
                ),
            )
            if placed.canonical == "INSUFFICIENT_FUNDS":
                _top_up(worker, player)
                break
            if not placed.ok:
                break
            if rng.random() < 0.05:  # a provider retry: the same bet again, a duplicate
                worker.protocol_call(
                    provider,
                    "bet",
                    OK,
                    lambda client, bet_id=bet_id, round_id=round_id, amount=amount: client.bet(
                        seat, bet_id, round_id, amount
                    ),
                )
            if rng.random() < 0.05:  # the game server cancelled the spin
                worker.protocol_call(
                    provider,
                    "rollback",
                    OK,
                    lambda client, bet_id=bet_id, round_id=round_id: client.rollback(
                        seat, worker.new_id("rb"), bet_id, round_id
                    ),
                )
                continue
            won = payout(worker, amount)
            worker.protocol_call(
                provider,
                "win",
                OK,
                lambda client, bet_id=bet_id, round_id=round_id, won=won: client.win(
                    seat, worker.new_id("win"), round_id, won, bet_txn=bet_id, close=True
                ),
            )
    finally:
        worker.sim.stats.session("abandoned")


SCENARIOS = [
    (slots, 50),
    (live_table, 25),
    (two_sessions, 15),
    (tombstone, 5),
    (protocol_slots, 20),
]


def pick(worker: Worker):
    functions, weights = zip(*SCENARIOS, strict=True)
    return worker.rng.choices(functions, weights=weights)[0]


# --- fraud patterns (fraud rules' defaults: see fraud.rules.PARAMETERS) --------------------


def _new_player(worker: Worker, tag: str, *, ip: str | None = None) -> Player | None:
    external_id = worker.new_id(f"fraud-{tag}-")
    data = {"external_id": external_id, "currency": "EUR", "country": "MT"}
    if ip:
        data["registration_ip"] = ip
    created = worker.staff_post("players/", data, ok_statuses=(201,))
    if created.status != 201:
        return None
    return Player(id=created.get("id"), external_id=external_id, currency="EUR")


def rapid_deposits_then_withdrawal(worker: Worker) -> None:
    """Six deposits of 20.00 within seconds, then a withdrawal of 110.00 (card testing, then
    cash out): the withdrawal should be held."""
    player = _new_player(worker, "rapid")
    if player is None:
        return
    for _ in range(6):
        worker.deposit(player, units("EUR", 20), ip="192.0.2.50", tag="rapid-dep")
    worker.staff_post(
        "payments/withdrawals",
        {
            "player": player.id,
            "amount": format_amount(units("EUR", 110), "EUR"),
            "currency": "EUR",
            "external_id": worker.new_id("rapid-wd"),
            "ip": "192.0.2.50",
        },
        ok_statuses=(200, 201, 402),  # 402: a deposit was held, so the funds are not free
    )


def high_stake_after_login(worker: Worker) -> None:
    """A player with a history of 1.00 stakes logs in and bets 300.00 within seconds: a fraud
    rule may decline it (BET_DECLINED) and open a case."""
    provider = _provider(worker, "slots")
    if "EUR" not in provider.currencies:
        return
    player = _new_player(worker, "stake")
    if player is None:
        return
    worker.deposit(player, units("EUR", 1000), tag="stake-dep")
    history = _start(worker, provider, player)
    if history is None:
        return
    try:
        for _ in range(21):
            round_id = worker.new_id("round")
            _, placed = history.bet(round_id, units("EUR", 1))
            if placed.ok:
                history.win(round_id, 0)
        history.close()
    finally:
        _finish([history])
    login = _start(worker, provider, player)
    if login is None:
        return
    try:
        round_id = worker.new_id("round")
        _, placed = login.bet(round_id, units("EUR", 300), expected={"OK", "BET_DECLINED"})
        if placed.ok:
            login.win(round_id, 0)
        login.close()
    finally:
        _finish([login])


def many_accounts_one_ip(worker: Worker) -> None:
    """Six accounts registered and funded from one address within a minute."""
    ip = f"198.18.{worker.rng.randrange(256)}.{worker.rng.randrange(1, 255)}"
    for _ in range(6):
        player = _new_player(worker, "ip", ip=ip)
        if player is not None:
            worker.deposit(player, units("EUR", 25), ip=ip, tag="ip-dep")


def repeated_minimum_deposits(worker: Worker) -> None:
    """Four minimum deposits (10.00), then a withdrawal: bonus farming."""
    player = _new_player(worker, "mindep")
    if player is None:
        return
    for _ in range(4):
        worker.deposit(player, units("EUR", 10), ip="192.0.2.77", tag="min-dep")
    worker.staff_post(
        "payments/withdrawals",
        {
            "player": player.id,
            "amount": format_amount(units("EUR", 30), "EUR"),
            "currency": "EUR",
            "external_id": worker.new_id("min-wd"),
            "ip": "192.0.2.77",
        },
        ok_statuses=(200, 201, 402),
    )


FRAUD_PATTERNS = [
    rapid_deposits_then_withdrawal,
    high_stake_after_login,
    many_accounts_one_ip,
    repeated_minimum_deposits,
]


# --- provider report -----------------------------------------------------------------------


def post_provider_report(sim: Simulator) -> str:
    """Post one provider's view of this run's transactions to the reconciliation endpoint,
    with planted discrepancies: one win amount changed, one bet left out, one transaction the
    wallet never saw, and (when there is one) a rolled-back bet reported as posted.

    Returns what happened, or "" when the wallet has no such endpoint (404).
    """
    from simulator.clients import StaffClient

    since, now = sim.report_since, datetime.now(UTC)
    sim.report_since = now
    candidates = []
    for provider in sim.providers:
        if provider.protocol != "native":
            continue  # the simulator keeps the native providers' calls for their reports
        rows = sim.ledger.snapshot(provider.code, since, now)
        if len(rows) >= 4:
            candidates.append((provider, rows))
    sim.ledger.forget_before(now)
    if not candidates:
        return ""
    provider, rows = max(candidates, key=lambda item: len(item[1]))
    planted = []
    wins = [r for r in rows if r.kind == "win" and r.amount_minor > 0]
    if wins:
        wins[0].amount_minor += 10 ** exponent(wins[0].currency)
        planted.append("amount")
    bets = [r for r in rows if r.kind == "bet" and r.status == "posted"]
    if len(bets) > 1:
        rows.remove(bets[-1])
        planted.append("missing")
    rolled = [r for r in rows if r.kind == "bet" and r.status == "rolled_back"]
    if rolled:
        rolled[0].status = "posted"
        planted.append("status")
    template = rows[0]
    body_rows = [
        {
            "transaction_id": r.transaction_id,
            "round_id": r.round_id,
            "player": r.player,
            "kind": r.kind,
            "amount": format_amount(r.amount_minor, r.currency),
            "currency": r.currency,
            "status": r.status,
            "time": r.at.isoformat(),
        }
        for r in rows
    ]
    body_rows.append(
        {
            "transaction_id": f"sim-{sim.run_id}-phantom",
            "round_id": f"sim-{sim.run_id}-phantom-round",
            "player": template.player,
            "kind": "win",
            "amount": format_amount(5 * 10 ** exponent(template.currency), template.currency),
            "currency": template.currency,
            "status": "posted",
            "time": now.isoformat(),
        }
    )
    planted.append("unknown")
    staff = StaffClient(sim.config.base_url, sim.config.token, timeout=sim.config.timeout)
    try:
        result = staff.post(
            "reconciliation/reports",
            {
                "provider": provider.code,
                "rows": body_rows,
                "period_start": since.isoformat(),
                "period_end": datetime.now(UTC).isoformat(),
            },
        )
    finally:
        staff.close()
    if result.status == 404:
        return ""
    if result.status == 201:
        return (
            f"{provider.code}: {len(body_rows)} rows, planted {'/'.join(planted)} "
            f"(run {result.get('id')})"
        )
    return f"{provider.code}: HTTP {result.status} {str(result.body)[:120]}"


__all__ = ["FRAUD_PATTERNS", "SCENARIOS", "Stop", "pick", "post_provider_report"]
