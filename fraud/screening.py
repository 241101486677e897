"""The fraud app in the money path: the screener (wallets.hooks.screener) and the baseline
updater (a wallets.hooks.ledger_listeners entry).

The screener decides from committed state under the wallet row lock of the call it judges:
a withdrawal is screened inside its locked transaction, and a bet that a rule could act on
takes its wallet lock before it is screened (wallets.ledger.bet). The figures a rule decides on
(deposits and withdrawals in a window, the wallet's recent bets) are read from the ledger
there, so concurrent calls see each other exactly as sequential ones would: twelve
withdrawals sent at once against "5 per hour" pay out five and hold seven. The enabled rules
come from an in-process cache (refreshed every RULE_CACHE_SECONDS, and at once in this process
when a rule is saved); a call no rule could touch (too small, or long after authentication, a
deposit, a win) costs no query at all.

The baseline (PlayerBaseline: bet count, typical stake, recent payments) is derived data for
the staff's player pages and the pattern jobs; no real-time decision reads it. It is updated
after commit, off the request path: a committed ledger row's update is queued and a writer
thread applies the queue every BASELINE_FLUSH_SECONDS, all of it in one transaction, one
multi-row statement for each wallet's first updates, another for the second ones, and so on (a
wallet's updates in the order they were booked). A crash can lose at most the last moment's
updates, never a ledger row. A row booked inside an open transaction (a caller's atomic block)
updates its baseline in that same transaction instead. Rule hits (rare) are recorded by
fraud.services after commit, in the call.
"""

import dataclasses
import logging
import os
import threading
import time

from django.db import connection, transaction

from fraud import lists
from fraud import rules as rule_kinds
from fraud.choices import RuleKind
from wallets import db, hooks, lifecycle

logger = logging.getLogger(__name__)

RULE_CACHE_SECONDS = 5.0

_cache_lock = threading.Lock()
_cache: dict = {"rules": None, "loaded_at": 0.0}


def invalidate_rule_cache(**kwargs) -> None:
    """Drop the cached rules (connected to rule and version saves: a publish, a shadow started
    or stopped); the next screening reloads them. Other processes reload within
    RULE_CACHE_SECONDS."""
    _cache["loaded_at"] = 0.0
    _cache["rules"] = None


def _load_rules() -> rule_kinds.RuleSet:
    from fraud.choices import VersionState
    from fraud.models import RuleVersion

    live: dict[str, rule_kinds.ActiveRule] = {}
    shadows: dict[str, rule_kinds.ActiveRule] = {}
    versions = RuleVersion.objects.filter(
        state__in=[VersionState.LIVE, VersionState.SHADOW]
    ).select_related("rule")
    for version in versions:
        key = version.rule.key
        if key not in rule_kinds.PARAMETERS:
            continue
        active = rule_kinds.ActiveRule(
            key=key,
            action=version.action,
            # Stored parameters were validated on save; defaults fill what is missing.
            parameters={**rule_kinds.default_parameters(key), **(version.parameters or {})},
            four_eyes_minor=version.four_eyes_minor,
            version_id=version.pk,
            version_number=version.number,
        )
        if version.state == VersionState.SHADOW:
            shadows[key] = active
        elif version.rule.enabled:
            live[key] = active
    return rule_kinds.RuleSet(by_key=live, shadows=shadows)


def active_rules() -> rule_kinds.RuleSet:
    """The enabled rules' live versions, the shadow versions and the lists: from the
    in-process cache (rules: RULE_CACHE_SECONDS; lists: fraud.lists.LIST_CACHE_SECONDS)."""
    rules = _cache["rules"]
    if rules is None or time.monotonic() - _cache["loaded_at"] >= RULE_CACHE_SECONDS:
        with _cache_lock:
            rules = _load_rules()
            _cache["rules"] = rules
            _cache["loaded_at"] = time.monotonic()
    current_lists = lists.snapshot()
    if rules.lists is not current_lists:
        rules = dataclasses.replace(rules, lists=current_lists)
        _cache["rules"] = rules
    return rules


# The figures a real-time rule decides on are read from the ledger's committed rows, in the
# money call's own transaction and under the wallet row lock it holds (a withdrawal takes it
# before screening; a bet that could be screened takes it first, wallets.ledger.bet): every
# earlier call on this wallet has committed and none can commit meanwhile, so N concurrent
# calls see each other exactly as N sequential ones would. The derived PlayerBaseline (written
# after commit, below) is for display and the pattern jobs; no decision reads it.
# Each read is bounded: a partial index over a wallet's payments by time, and the wallet's last
# bets by id. The player's snoozed rules come in the same query (a partial index over the
# snoozes not lifted, by player and end).
_FIGURES_LIMIT = 200  # rows of one kind read for a decision; every threshold is far below it
_PAYMENTS_SQL = """
SELECT extract(epoch FROM clock_timestamp())::bigint, r.trusted, r.hold_next_withdrawal,
       (SELECT array_agg(s.rule_key) FROM fraud_rulesnooze s
        WHERE s.player_id = %(player)s AND s.lifted_at IS NULL
          AND s.until > clock_timestamp()) AS snoozed,
       d.times, d.amounts, w.times, p.country
FROM (SELECT 1) AS one
LEFT JOIN fraud_playerrisk r ON r.player_id = %(player)s
LEFT JOIN wallets_player p ON p.id = %(player)s
CROSS JOIN LATERAL (
    SELECT array_agg(at ORDER BY at DESC) AS times, array_agg(amount ORDER BY at DESC) AS amounts
    FROM (SELECT extract(epoch FROM created_at)::bigint AS at, amount_minor AS amount
          FROM wallets_transaction
          WHERE wallet_id = %(wallet)s AND kind = 'deposit' AND status IN ('posted', 'held')
            AND created_at >= clock_timestamp() - make_interval(secs => %(deposit_window)s)
          ORDER BY created_at DESC LIMIT %(limit)s) AS recent
) AS d
CROSS JOIN LATERAL (
    SELECT array_agg(at ORDER BY at DESC) AS times
    FROM (SELECT extract(epoch FROM created_at)::bigint AS at
          FROM wallets_transaction
          WHERE wallet_id = %(wallet)s AND kind = 'withdrawal' AND status IN ('posted', 'held')
            AND created_at >= clock_timestamp() - make_interval(secs => %(withdrawal_window)s)
          ORDER BY created_at DESC LIMIT %(limit)s) AS recent
) AS w
"""
_BETS_SQL = """
SELECT extract(epoch FROM clock_timestamp())::bigint, r.trusted, r.hold_next_withdrawal,
       (SELECT array_agg(s.rule_key) FROM fraud_rulesnooze s
        WHERE s.player_id = %(player)s AND s.lifted_at IS NULL
          AND s.until > clock_timestamp()) AS snoozed,
       b.amounts, p.country
FROM (SELECT 1) AS one
LEFT JOIN fraud_playerrisk r ON r.player_id = %(player)s
LEFT JOIN wallets_player p ON p.id = %(player)s
CROSS JOIN LATERAL (
    SELECT array_agg(amount_minor ORDER BY id) AS amounts
    FROM (SELECT id, amount_minor FROM wallets_transaction
          WHERE wallet_id = %(wallet)s AND kind = 'bet'
          ORDER BY id DESC LIMIT %(limit)s) AS recent
) AS b
"""


def typical_stake(amounts_oldest_first) -> int:
    """The wallet's typical stake: the running mean of the first 10 bets read, then an EWMA with
    alpha 1/10 (integer minor units), over its last bets (an older bet weighs less than 0.5 %
    after 50 more)."""
    ewma = 0
    for count, amount in enumerate(amounts_oldest_first, start=1):
        step = abs(amount - ewma) // min(count, 10)  # truncated towards zero, as SQL divides
        ewma += step if amount >= ewma else -step
    return ewma


def read_figures(
    request: hooks.ScreeningRequest, rules: rule_kinds.RuleSet
) -> tuple[rule_kinds.Baseline, int]:
    """(the figures the enabled rules need for `request`, the database's clock in epoch
    seconds), read from committed ledger rows under the caller's wallet lock. The windows
    reach as far as the live or the shadow version of a rule needs."""
    params = {"player": request.player_id, "wallet": request.wallet_id, "limit": _FIGURES_LIMIT}

    def reach(key: str, name: str) -> int:
        return max((rule.parameters[name] for rule in rules.versions_of(key)), default=0)

    with connection.cursor() as cursor:
        if request.kind == "bet":
            history = max(50, reach(RuleKind.HIGH_STAKE_AFTER_LOGIN, "min_history_bets"))
            cursor.execute(_BETS_SQL, {**params, "limit": history})
            now, trusted, hold_next, snoozed, amounts, country = cursor.fetchone()
            amounts = list(amounts or ())
            figures = rule_kinds.Baseline(
                bet_count=len(amounts), stake_ewma_minor=typical_stake(amounts)
            )
        else:
            # A deposit is judged by the list rules only: no window to read.
            payments = request.kind == "withdrawal"
            cursor.execute(
                _PAYMENTS_SQL,
                {
                    **params,
                    "deposit_window": reach(RuleKind.RAPID_DEPOSITS_WITHDRAWAL, "window_seconds")
                    if payments
                    else 0,
                    "withdrawal_window": reach(RuleKind.WITHDRAWAL_VELOCITY, "window_seconds")
                    if payments
                    else 0,
                },
            )
            (
                now,
                trusted,
                hold_next,
                snoozed,
                deposit_times,
                deposit_amounts,
                withdrawal_times,
                country,
            ) = cursor.fetchone()
            figures = rule_kinds.Baseline(
                deposit_times=tuple(deposit_times or ()),
                deposit_amounts=tuple(deposit_amounts or ()),
                withdrawal_times=tuple(withdrawal_times or ()),
            )
    return (
        dataclasses.replace(
            figures,
            trusted=bool(trusted),
            hold_next_withdrawal=bool(hold_next),
            snoozed=frozenset(snoozed or ()),
            country=country or "",
        ),
        int(now),
    )


def could_screen(kind: str, amount_minor: int) -> bool:
    """The screener's `screening_filter` (wallets.hooks): whether any enabled rule could act on
    such a call, from the rule cache alone (what `screen` decides without a query is "allow")."""
    return active_rules().could_act(kind, amount_minor)


def screen(request: hooks.ScreeningRequest) -> hooks.Screening:
    """wallets.hooks.screener: allow, flag, hold or decline one money call, by the live
    versions. Versions in shadow are evaluated on the same figures and their decisions queued
    for the shadow recorder; they never change the screening returned."""
    rules = active_rules()
    live_needs = rules.needs_baseline(request)
    if not live_needs and not rules.shadow_needs_baseline(request):
        return hooks.ALLOW_ALL
    figures, now = read_figures(request, rules)
    screening = rule_kinds.evaluate(request, rules, figures, now) if live_needs else hooks.ALLOW_ALL
    if rules.shadows:
        try:
            shadow_recorder.add_all(
                request, rule_kinds.evaluate_shadows(request, rules, figures, now)
            )
        except Exception:  # a shadow must never fail the call it watches
            logger.exception("fraud shadow evaluation failed")
    return screening


screen.screening_filter = could_screen  # see wallets.hooks


# --- after commit: the baseline -------------------------------------------------------------

# Each statement folds a list of updates (arrays, one element per wallet) into the baselines. A
# writer batch runs as one transaction that commits without waiting for the WAL flush:
# set_config(..., is_local => true) in the statement applies to that transaction only, in the
# same round trip. The baseline is derived data; a crash can lose its last few updates (rules
# briefly less sensitive), never a ledger row. Inside a caller's atomic block the setting is left
# as it is.
_COMMIT_MODE = """
CROSS JOIN (SELECT set_config('synchronous_commit',
                              CASE WHEN %(async)s THEN 'off'
                                   ELSE current_setting('synchronous_commit') END,
                              true)) AS commit_mode
"""
_UPDATES = """
FROM unnest(%(wallet)s::bigint[], %(player)s::bigint[], %(amount)s::bigint[], %(at)s::bigint[])
    AS u (wallet, player, amount, at)
"""

# Running mean over the first 10 bets, then an EWMA with alpha 1/10 (integer minor units).
_BET_UPSERT = f"""
INSERT INTO fraud_playerbaseline AS b
    (wallet_id, player_id, bet_count, stake_ewma_minor, last_bet_at,
     deposit_times, deposit_amounts, withdrawal_times, updated_at)
SELECT u.wallet, u.player, 1, u.amount, u.at, '{{}}', '{{}}', '{{}}', now()
{_UPDATES}{_COMMIT_MODE}
ON CONFLICT (wallet_id) DO UPDATE SET
    bet_count = b.bet_count + 1,
    stake_ewma_minor = b.stake_ewma_minor
        + (EXCLUDED.stake_ewma_minor - b.stake_ewma_minor) / LEAST(b.bet_count + 1, 10),
    last_bet_at = EXCLUDED.last_bet_at,
    updated_at = now()
"""

# The newest first, at most RECENT_LIMIT entries.
_DEPOSIT_UPSERT = f"""
INSERT INTO fraud_playerbaseline AS b
    (wallet_id, player_id, bet_count, stake_ewma_minor,
     deposit_times, deposit_amounts, withdrawal_times, updated_at)
SELECT u.wallet, u.player, 0, 0, ARRAY[u.at], ARRAY[u.amount], '{{}}', now()
{_UPDATES}{_COMMIT_MODE}
ON CONFLICT (wallet_id) DO UPDATE SET
    deposit_times = (EXCLUDED.deposit_times || b.deposit_times)[1:%(limit)s],
    deposit_amounts = (EXCLUDED.deposit_amounts || b.deposit_amounts)[1:%(limit)s],
    updated_at = now()
"""

_WITHDRAWAL_UPSERT = f"""
INSERT INTO fraud_playerbaseline AS b
    (wallet_id, player_id, bet_count, stake_ewma_minor,
     deposit_times, deposit_amounts, withdrawal_times, updated_at)
SELECT u.wallet, u.player, 0, 0, '{{}}', '{{}}', ARRAY[u.at], now()
{_UPDATES}{_COMMIT_MODE}
ON CONFLICT (wallet_id) DO UPDATE SET
    withdrawal_times = (EXCLUDED.withdrawal_times || b.withdrawal_times)[1:%(limit)s],
    updated_at = now()
"""

_UPSERTS = {"bet": _BET_UPSERT, "deposit": _DEPOSIT_UPSERT, "withdrawal": _WITHDRAWAL_UPSERT}


def _update(txn) -> tuple[int, int, int, int]:
    """(wallet, player, amount, at) of one ledger row's baseline update."""
    at = int(txn.created_at.timestamp()) if txn.created_at else int(time.time())
    return (txn.wallet_id, txn.player_id, txn.amount_minor, at)


def _apply(sql: str, updates: list[tuple[int, int, int, int]], *, run_async: bool) -> None:
    """One statement folding `updates` (at most one per wallet) into their baselines."""
    wallets, players, amounts, ats = (list(column) for column in zip(*updates, strict=True))
    db.execute(
        sql,
        {
            "wallet": wallets,
            "player": players,
            "amount": amounts,
            "at": ats,
            "limit": rule_kinds.RECENT_LIMIT,
            "async": run_async,
        },
    )


def _layers(updates: list[tuple[int, int, int, int]]) -> list[list[tuple[int, int, int, int]]]:
    """`updates` in layers that each hold at most one update per wallet (a statement may change
    a row only once): layer k has every wallet's k-th update, so a wallet's updates apply in
    booking order. Each layer is in wallet order, and a wallet's first update is in the first
    layer: every writer locks baselines in one order and writers never deadlock."""
    layers: list[list] = []
    seen: dict[int, int] = {}
    for update in updates:
        depth = seen.get(update[0], 0)
        seen[update[0]] = depth + 1
        if depth == len(layers):
            layers.append([])
        layers[depth].append(update)
    for layer in layers:
        layer.sort(key=lambda update: update[0])
    return layers


def update_baseline(txn) -> None:
    """Fold one ledger row into its wallet's baseline (concurrent rows of one wallet never lose
    an update: each UPSERT is atomic per row). Queued for the writer thread when the row is
    committed; run at once inside the caller's transaction when there is one."""
    if txn.kind not in _UPSERTS:
        return
    if connection.in_atomic_block:
        _apply(_UPSERTS[txn.kind], [_update(txn)], run_async=False)
        return
    baseline_writer.add(txn.kind, _update(txn))


BASELINE_FLUSH_SECONDS = 0.2
# Beyond this many queued updates (the database unreachable for a long while) new ones are
# dropped and counted: the baseline is derived data, memory is not to be exhausted for it.
BASELINE_QUEUE_LIMIT = 100_000


class BaselineWriter:
    """The per-process queue of baseline updates and the thread that writes it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[tuple[str, tuple]] = []
        self.pid: int | None = None
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.written = 0
        self.dropped = 0

    def add(self, kind: str, update: tuple) -> None:
        with self.lock:
            if len(self.pending) >= BASELINE_QUEUE_LIMIT:
                self.dropped += 1
                return
            self.pending.append((kind, update))
            if self.pid != os.getpid():  # first use in this process (also after a fork)
                self.pid = os.getpid()
                self.stopping.clear()
                self.thread = threading.Thread(
                    target=self._run, name="fraud-baselines", daemon=True
                )
                self.thread.start()
                lifecycle.at_exit(self.stop)  # in this process: also a forked web worker

    def flush(self) -> int:
        """Write everything queued, on this thread's connection; returns how many updates."""
        with self.lock:
            batch, self.pending = self.pending, []
        if not batch:
            return 0
        by_kind: dict[str, list[tuple]] = {}
        for kind, update in batch:
            by_kind.setdefault(kind, []).append(update)
        written = 0
        for kind, updates in by_kind.items():
            try:
                with transaction.atomic():
                    for layer in _layers(updates):
                        _apply(_UPSERTS[kind], layer, run_async=True)
            except Exception:
                self.dropped += len(updates)
                logger.exception("fraud baselines: %d updates lost", len(updates))
                connection.close()  # whatever broke, the next batch starts afresh
                continue
            written += len(updates)
        self.written += written
        return written

    def _run(self) -> None:
        while not self.stopping.wait(BASELINE_FLUSH_SECONDS):
            self.flush()
            with self.lock:
                idle = not self.pending
            if idle:
                # Nothing more waiting: give the connection back until there is.
                connection.close()
        self.flush()
        connection.close()

    def stop(self) -> None:
        """Write what is queued and end the thread, its connection closed (process exit, test
        teardown)."""
        self.stopping.set()
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.join(timeout=10)
        self.flush()
        self.pid = None


baseline_writer = BaselineWriter()


def on_ledger_row(txn, screening: hooks.Screening) -> None:
    """wallets.hooks.ledger_listeners entry: (transaction, screening) after commit."""
    update_baseline(txn)
    if screening.hits or getattr(txn, "status", None) == "held":
        from fraud import services

        services.record_screening(transaction=txn, screening=screening)


def on_decline(request: hooks.ScreeningRequest, screening: hooks.Screening) -> None:
    """wallets.hooks.decline_recorders entry: a refused bet opens a case (no transaction)."""
    from fraud import services

    services.record_declined_bet(request=request, screening=screening)


# --- shadow decisions -------------------------------------------------------------------------

SHADOW_FLUSH_SECONDS = 0.5
SHADOW_QUEUE_LIMIT = 100_000


class ShadowRecorder:
    """The per-process queue of shadow decisions and the thread that writes it (bulk inserts,
    outside every money transaction: a refused or rolled-back call keeps its shadow record, and
    no shadow write can slow or fail a call). `threaded = False` (tests) leaves the queue to
    explicit flush() calls."""

    threaded = True

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[dict] = []
        self.pid: int | None = None
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.written = 0
        self.dropped = 0

    def add_all(self, request: hooks.ScreeningRequest, decisions: list[dict]) -> None:
        if not decisions:
            return
        from django.utils import timezone

        at = timezone.now()
        rows = [
            {
                **decision,
                "request_kind": request.kind,
                "player_id": request.player_id,
                "wallet_id": request.wallet_id,
                "currency": request.currency,
                "amount_minor": request.amount_minor,
                "created_at": at,
            }
            for decision in decisions
        ]
        with self.lock:
            if len(self.pending) + len(rows) > SHADOW_QUEUE_LIMIT:
                self.dropped += len(rows)
                return
            self.pending.extend(rows)
            if self.threaded and self.pid != os.getpid():
                self.pid = os.getpid()
                self.stopping.clear()
                self.thread = threading.Thread(target=self._run, name="fraud-shadow", daemon=True)
                self.thread.start()
                lifecycle.at_exit(self.stop)

    def flush(self) -> int:
        """Write everything queued, on this thread's connection; returns how many rows."""
        from fraud.models import ShadowDecision

        with self.lock:
            batch, self.pending = self.pending, []
        if not batch:
            return 0
        try:
            ShadowDecision.objects.bulk_create([ShadowDecision(**row) for row in batch])
        except Exception:
            self.dropped += len(batch)
            logger.exception("fraud shadow decisions: %d lost", len(batch))
            if not connection.in_atomic_block:
                connection.close()
            return 0
        self.written += len(batch)
        return len(batch)

    def _run(self) -> None:
        while not self.stopping.wait(SHADOW_FLUSH_SECONDS):
            self.flush()
            with self.lock:
                idle = not self.pending
            if idle:
                connection.close()
        self.flush()
        connection.close()

    def stop(self) -> None:
        self.stopping.set()
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.join(timeout=10)
        self.flush()
        self.pid = None


shadow_recorder = ShadowRecorder()
