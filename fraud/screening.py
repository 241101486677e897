"""The fraud app in the money path: the screener (wallets.hooks.screener) and the baseline
updater (a wallets.hooks.ledger_listeners entry).

The screener runs before the ledger call, from the session as the call read it (the ledger
applies its decision only to a new call that passed every other check). Its cost is bounded: the
enabled rules come from an in-process cache (refreshed every RULE_CACHE_SECONDS, and at once in
this process when a rule is saved); when a rule could fire at all, ONE primary-key query reads
the wallet's PlayerBaseline and the player's PlayerRisk. It never scans history. A bet that no
rule could touch (too small, or long after authentication) costs no query at all.

The baseline is derived data, updated after commit, off the request path: a committed ledger
row's update is queued and a writer thread applies the queue every BASELINE_FLUSH_SECONDS, all
of it in one transaction, one multi-row statement for each wallet's first updates, another for
the second ones, and so on (a wallet's updates in the order they were booked).
So a bet pays no baseline statement, and a crash can lose at most the last moment's updates
(rules briefly less sensitive), never a ledger row. A row booked inside an open transaction
(a caller's atomic block) updates its baseline in that same transaction instead. Rule hits
(rare) are recorded by fraud.services after commit, in the call.
"""

import logging
import os
import threading
import time

from django.db import connection, transaction

from fraud import rules as rule_kinds
from wallets import db, hooks, lifecycle

logger = logging.getLogger(__name__)

RULE_CACHE_SECONDS = 5.0

_cache_lock = threading.Lock()
_cache: dict = {"rules": None, "loaded_at": 0.0}


def invalidate_rule_cache(**kwargs) -> None:
    """Drop the cached rules (connected to FraudRule saves); the next screening reloads them."""
    _cache["loaded_at"] = 0.0
    _cache["rules"] = None


def active_rules() -> rule_kinds.RuleSet:
    rules = _cache["rules"]
    if rules is not None and time.monotonic() - _cache["loaded_at"] < RULE_CACHE_SECONDS:
        return rules
    with _cache_lock:
        from fraud.models import FraudRule

        loaded = rule_kinds.RuleSet(
            by_key={
                rule.key: rule_kinds.ActiveRule(
                    key=rule.key,
                    action=rule.action,
                    # Stored parameters were validated on save; defaults fill what is missing.
                    parameters={
                        **rule_kinds.default_parameters(rule.key),
                        **(rule.parameters or {}),
                    },
                    four_eyes_minor=rule.four_eyes_minor,
                )
                for rule in FraudRule.objects.filter(enabled=True)
                if rule.key in rule_kinds.PARAMETERS
            }
        )
        _cache["rules"] = loaded
        _cache["loaded_at"] = time.monotonic()
        return loaded


# One round trip, two primary-key lookups: the wallet's baseline and the player's risk record.
_BASELINE_SQL = """
SELECT b.bet_count, b.stake_ewma_minor, b.deposit_times, b.deposit_amounts,
       b.withdrawal_times, r.trusted, r.hold_next_withdrawal
FROM (SELECT 1) AS one
LEFT JOIN fraud_playerbaseline b ON b.wallet_id = %s
LEFT JOIN fraud_playerrisk r ON r.player_id = %s
"""


def read_baseline(wallet_id: int, player_id: int) -> rule_kinds.Baseline:
    with connection.cursor() as cursor:
        cursor.execute(_BASELINE_SQL, [wallet_id, player_id])
        row = cursor.fetchone()
    bets, ewma, deposit_times, deposit_amounts, withdrawal_times, trusted, hold_next = row
    return rule_kinds.Baseline(
        bet_count=bets or 0,
        stake_ewma_minor=ewma or 0,
        deposit_times=tuple(deposit_times or ()),
        deposit_amounts=tuple(deposit_amounts or ()),
        withdrawal_times=tuple(withdrawal_times or ()),
        trusted=bool(trusted),
        hold_next_withdrawal=bool(hold_next),
    )


def could_screen(kind: str, amount_minor: int) -> bool:
    """The screener's `screening_filter` (wallets.hooks): whether any enabled rule could act on
    such a call, from the rule cache alone (what `screen` decides without a query is "allow")."""
    return active_rules().could_act(kind, amount_minor)


def screen(request: hooks.ScreeningRequest) -> hooks.Screening:
    """wallets.hooks.screener: allow, flag, hold or decline one money call."""
    rules = active_rules()
    if not rules.needs_baseline(request):
        return hooks.ALLOW_ALL
    baseline = read_baseline(request.wallet_id, request.player_id)
    return rule_kinds.evaluate(request, rules, baseline, int(time.time()))


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
