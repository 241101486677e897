"""Backtests: what a rule version would have done over the last N days of the ledger.

`run_backtest(backtest_id=...)` is the plain function (the Celery task fraud.tasks.run_backtest
and the tests call it). It works in set-based SQL, one statement per rule kind and time slice of
the window, writing the would-be hits into a temporary table; the report is then aggregated in
SQL and the outcome labels joined from fraud.selectors.case_labels. Progress (percent and stage)
is written to the Backtest row after each slice, so the admin shows it while the job runs.

What each kind replays (the same thresholds and counts as the real-time screener and the
pattern jobs, on the rows as booked):

- rapid_deposits_withdrawal: each withdrawal from `withdrawal_min_minor` in the window, with at
  least `min_small_deposits` deposits up to `small_deposit_max_minor` of the same wallet in the
  `window_seconds` before it;
- withdrawal_velocity: each withdrawal with at least `max_withdrawals` earlier withdrawals of the
  same wallet in the `window_seconds` before it;
- high_stake_after_login: each bet from `min_stake_minor` booked within `within_seconds` of its
  session's authentication whose stake is at least `stake_multiple` times the typical stake of
  the wallet's earlier bets (the screener's running mean / EWMA over the last 50 or
  `min_history_bets`, computed for these few candidates only), with `min_history_bets` of
  history;
- bonus_farming: each player whose deposits up to `min_deposit_max_minor` reach `min_count`
  within `window_seconds` (one hit per player: the deposit that completed the pattern);
- multi_account_ip: each (player, address) where at least `min_accounts` players registered,
  or deposited, from that address within `window_seconds` (one hit per pair, as the job's cases);
- list_block / list_review: each deposit, withdrawal (and bet, with `bets`) in the window whose
  address, player's country, player or payment fingerprint is on an enabled list of the purpose,
  as the lists are now (a row booked without a fingerprint matches by its other values only).

Deposits, withdrawals and bets count whatever their status now (a rejected row was held when it
was booked). Trusted players (as they are now), and rows whose address, player's country, player
or payment fingerprint is on an enabled trust list now, are skipped by the rules the screener
skips trusted players for. A version whose action is `allow` still reports its hits.
"""

# The statements are composed from constants of this module (the table name, the statuses);
# every value is a bound parameter.
# ruff: noqa: S608

import logging
import time
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from fraud import rules as rule_kinds
from fraud import selectors
from fraud.choices import BacktestStatus, RuleAction, RuleKind
from fraud.models import Backtest
from fraud.screening import typical_stake

logger = logging.getLogger(__name__)

HITS_TABLE = "fraud_backtest_hits"
MAX_SLICES = 20

# Row kinds that were booked (the call happened), and those that count as history.
_HISTORY = "('posted', 'held', 'rejected')"


def _trusted(row: str) -> str:
    """SQL: ledger row `row` is of a trusted player (Player risk) or one of its values is on an
    enabled trust list now: what the screener's with_trust says for the call."""
    return f"""(EXISTS (SELECT 1 FROM fraud_playerrisk r WHERE r.player_id = {row}.player_id
                    AND r.trusted)
     OR EXISTS (SELECT 1 FROM fraud_listentry e JOIN fraud_fraudlist l ON l.id = e.list_id
                WHERE l.enabled AND l.purpose = 'trust'
                  AND (e.expires_at IS NULL OR e.expires_at > now())
                  AND ((CASE WHEN l.kind = 'ip' AND {row}.client_ip IS NOT NULL
                             THEN e.value::cidr >>= {row}.client_ip END)
                       OR (l.kind = 'player' AND e.value = {row}.player_id::text)
                       OR (l.kind = 'payment_fingerprint'
                           AND e.value = {row}.payment_fingerprint)
                       OR (l.kind = 'country' AND e.value = (
                           SELECT country FROM wallets_player WHERE id = {row}.player_id)))))"""


_RAPID_SQL = f"""
INSERT INTO {HITS_TABLE} (txn_id, player_id, kind, currency, amount_minor, at, figures)
SELECT w.id, w.player_id, w.kind, w.currency, w.amount_minor, w.created_at,
       jsonb_build_object('small_deposits', d.n)
FROM wallets_transaction w
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM wallets_transaction d
    WHERE d.wallet_id = w.wallet_id AND d.kind = 'deposit' AND d.status IN {_HISTORY}
      AND d.created_at >= w.created_at - make_interval(secs => %(window_seconds)s)
      AND d.created_at <= w.created_at AND d.amount_minor <= %(small_deposit_max_minor)s
) AS d
WHERE w.kind = 'withdrawal' AND w.created_at >= %(start)s AND w.created_at < %(end)s
  AND w.amount_minor >= %(withdrawal_min_minor)s AND d.n >= %(min_small_deposits)s
  AND NOT {_trusted("w")}
"""

_VELOCITY_SQL = f"""
INSERT INTO {HITS_TABLE} (txn_id, player_id, kind, currency, amount_minor, at, figures)
SELECT w.id, w.player_id, w.kind, w.currency, w.amount_minor, w.created_at,
       jsonb_build_object('withdrawals_in_window', p.n)
FROM wallets_transaction w
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM wallets_transaction p
    WHERE p.wallet_id = w.wallet_id AND p.kind = 'withdrawal' AND p.status IN {_HISTORY}
      AND p.created_at >= w.created_at - make_interval(secs => %(window_seconds)s)
      AND p.created_at <= w.created_at AND p.id < w.id
) AS p
WHERE w.kind = 'withdrawal' AND w.created_at >= %(start)s AND w.created_at < %(end)s
  AND p.n >= %(max_withdrawals)s
"""

# Candidates only (stake, time since authentication, history length): the typical stake of
# these few is then computed exactly as the screener does.
_HIGH_STAKE_CANDIDATES_SQL = f"""
SELECT t.id, t.player_id, t.kind, t.currency, t.amount_minor, t.created_at,
       extract(epoch FROM t.created_at - s.authenticated_at)::float8, h.amounts
FROM wallets_transaction t
JOIN wallets_gamesession s ON s.id = t.session_id
CROSS JOIN LATERAL (
    SELECT array_agg(amount_minor ORDER BY id) AS amounts
    FROM (SELECT id, amount_minor FROM wallets_transaction b
          WHERE b.wallet_id = t.wallet_id AND b.kind = 'bet' AND b.id < t.id
          ORDER BY b.id DESC LIMIT %(history)s) AS recent
) AS h
WHERE t.kind = 'bet' AND t.created_at >= %(start)s AND t.created_at < %(end)s
  AND t.amount_minor >= %(min_stake_minor)s
  AND s.authenticated_at IS NOT NULL
  AND t.created_at - s.authenticated_at <= make_interval(secs => %(within_seconds)s)
  AND NOT {_trusted("t")}
"""

_BONUS_SQL = f"""
INSERT INTO {HITS_TABLE} (txn_id, player_id, kind, currency, amount_minor, at, figures)
SELECT DISTINCT ON (player_id) id, player_id, kind, currency, amount_minor, created_at,
       jsonb_build_object('minimum_deposits', n)
FROM (
    SELECT d.*, count(*) OVER (
        PARTITION BY d.wallet_id ORDER BY d.created_at
        RANGE BETWEEN make_interval(secs => %(window_seconds)s) PRECEDING AND CURRENT ROW
    ) AS n
    FROM wallets_transaction d
    WHERE d.kind = 'deposit' AND d.status <> 'rejected'
      AND d.amount_minor <= %(min_deposit_max_minor)s
      AND d.created_at >= %(start)s - make_interval(secs => %(window_seconds)s)
      AND d.created_at < %(end)s
) AS counted
WHERE n >= %(min_count)s AND created_at >= %(start)s
  AND NOT EXISTS (SELECT 1 FROM fraud_playerrisk r WHERE r.player_id = counted.player_id
                  AND r.trusted)
  AND NOT EXISTS (SELECT 1 FROM {HITS_TABLE} h WHERE h.player_id = counted.player_id)
ORDER BY player_id, created_at, id
"""

# Events per source (registrations, deposits); an anchor is an event whose window holds at
# least min_accounts players of that source and address; every player in an anchor's window is
# hit once per address.
_MULTI_ACCOUNT_SQL = f"""
WITH ev AS (
    SELECT 'registration' AS via, registration_ip AS ip, id AS player_id, created_at AS at
    FROM wallets_player
    WHERE registration_ip IS NOT NULL
      AND created_at >= %(start)s - make_interval(secs => %(window_seconds)s)
      AND created_at < %(end)s
    UNION ALL
    SELECT 'deposit', client_ip, player_id, created_at
    FROM wallets_transaction
    WHERE kind = 'deposit' AND client_ip IS NOT NULL
      AND created_at >= %(start)s - make_interval(secs => %(window_seconds)s)
      AND created_at < %(end)s
), anchors AS (
    SELECT DISTINCT e.via, e.ip, e.at FROM ev e
    WHERE e.at >= %(start)s
      AND (SELECT count(DISTINCT x.player_id) FROM ev x
           WHERE x.via = e.via AND x.ip = e.ip
             AND x.at > e.at - make_interval(secs => %(window_seconds)s) AND x.at <= e.at)
          >= %(min_accounts)s
), pairs AS (
    SELECT DISTINCT ON (x.player_id, x.ip) x.player_id, x.ip, a.at, x.via
    FROM anchors a
    JOIN ev x ON x.via = a.via AND x.ip = a.ip
             AND x.at > a.at - make_interval(secs => %(window_seconds)s) AND x.at <= a.at
    ORDER BY x.player_id, x.ip, a.at
)
INSERT INTO {HITS_TABLE} (txn_id, player_id, kind, currency, amount_minor, at, figures)
SELECT NULL, p.player_id, 'pattern', '', 0, p.at,
       jsonb_build_object('ip', host(p.ip), 'via', p.via)
FROM pairs p
WHERE NOT EXISTS (SELECT 1 FROM fraud_playerrisk r WHERE r.player_id = p.player_id AND r.trusted)
  AND NOT EXISTS (SELECT 1 FROM {HITS_TABLE} h
                  WHERE h.player_id = p.player_id AND h.figures->>'ip' = host(p.ip))
"""

_LIST_SQL = f"""
INSERT INTO {HITS_TABLE} (txn_id, player_id, kind, currency, amount_minor, at, figures)
SELECT t.id, t.player_id, t.kind, t.currency, t.amount_minor, t.created_at,
       jsonb_build_object('on_lists', m.found)
FROM wallets_transaction t
JOIN wallets_player pl ON pl.id = t.player_id
CROSS JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object('kind', l.kind, 'value', e.value, 'list', l.name))
           AS found
    FROM fraud_listentry e JOIN fraud_fraudlist l ON l.id = e.list_id
    WHERE l.enabled AND l.purpose = %(purpose)s
      AND (e.expires_at IS NULL OR e.expires_at > now())
      -- CASE: the cast is made for address entries only (AND does not order its operands).
      AND ((CASE WHEN l.kind = 'ip' AND t.client_ip IS NOT NULL
                 THEN e.value::cidr >>= t.client_ip END)
           OR (l.kind = 'country' AND e.value = pl.country)
           OR (l.kind = 'player' AND e.value = t.player_id::text)
           OR (l.kind = 'payment_fingerprint' AND e.value = t.payment_fingerprint))
) AS m
WHERE t.kind = ANY(%(kinds)s) AND t.created_at >= %(start)s AND t.created_at < %(end)s
  AND m.found IS NOT NULL
"""


def _slices(start, end, count: int):
    step = (end - start) / count
    for index in range(count):
        yield start + step * index, (start + step * (index + 1)) if index < count - 1 else end


def _progress(backtest: Backtest, percent: int, stage: str) -> None:
    Backtest.objects.filter(pk=backtest.pk).update(progress=min(percent, 100), stage=stage[:200])


def _high_stake(cursor, p: dict, params: dict) -> None:
    history = max(50, p["min_history_bets"])
    cursor.execute(_HIGH_STAKE_CANDIDATES_SQL, {**params, "history": history})
    rows = []
    for txn_id, player_id, kind, currency, amount, at, since_auth, amounts in cursor.fetchall():
        amounts = list(amounts or ())
        typical = typical_stake(amounts)
        if len(amounts) < p["min_history_bets"] or typical <= 0:
            continue
        if amount < p["stake_multiple"] * typical:
            continue
        figures = {
            "typical_stake_minor": typical,
            "bets_in_history": len(amounts),
            "seconds_since_authentication": round(since_auth, 3),
        }
        rows.append((txn_id, player_id, kind, currency, amount, at, figures))
    if rows:
        from psycopg.types.json import Jsonb

        cursor.executemany(
            f"INSERT INTO {HITS_TABLE} "
            "(txn_id, player_id, kind, currency, amount_minor, at, figures) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(*row[:6], Jsonb(row[6])) for row in rows],
        )


def _replay(cursor, key: str, p: dict, start, end) -> None:
    """Insert the hits of rule kind `key` (parameters `p`) on rows booked in [start, end)."""
    params = {**p, "start": start, "end": end}
    if key == RuleKind.RAPID_DEPOSITS_WITHDRAWAL:
        cursor.execute(_RAPID_SQL, params)
    elif key == RuleKind.WITHDRAWAL_VELOCITY:
        cursor.execute(_VELOCITY_SQL, params)
    elif key == RuleKind.HIGH_STAKE_AFTER_LOGIN:
        _high_stake(cursor, p, params)
    elif key == RuleKind.BONUS_FARMING:
        cursor.execute(_BONUS_SQL, params)
    elif key == RuleKind.MULTI_ACCOUNT_IP:
        cursor.execute(_MULTI_ACCOUNT_SQL, params)
    elif key in rule_kinds.LIST_RULE_PURPOSE:
        kinds = [
            kind
            for kind, name in (
                ("bet", "bets"),
                ("deposit", "deposits"),
                ("withdrawal", "withdrawals"),
            )
            if p[name]
        ]
        purpose = rule_kinds.LIST_RULE_PURPOSE[key]
        cursor.execute(_LIST_SQL, {**params, "kinds": kinds, "purpose": str(purpose)})
    else:
        raise ValueError(f"no backtest for rule kind {key!r}")


def _report(cursor, action: str, labels: dict[int, str], confirmed_total: int) -> dict[str, Any]:
    from wallets.money import format_amount

    cursor.execute(
        f"""SELECT kind, currency, count(*), COALESCE(sum(amount_minor), 0)::bigint
            FROM {HITS_TABLE} GROUP BY kind, currency ORDER BY kind, currency"""
    )
    by_kind = []
    held: dict[str, int] = {}
    declined: dict[str, int] = {}
    flagged: dict[str, int] = {}
    for kind, currency, count, total in cursor.fetchall():
        by_kind.append({"kind": kind, "currency": currency, "hits": count, "amount_minor": total})
        if not currency:
            continue
        # What the action would have done to that row (a payment is held, never declined).
        if action == RuleAction.DECLINE and kind == "bet":
            bucket = declined
        elif action in (RuleAction.HOLD, RuleAction.DECLINE) and kind != "bet":
            bucket = held
        elif action == RuleAction.ALLOW:
            continue
        else:
            bucket = flagged
        bucket[currency] = bucket.get(currency, 0) + total
    cursor.execute(f"SELECT count(*), count(DISTINCT player_id) FROM {HITS_TABLE}")
    hits, players = cursor.fetchone()
    cursor.execute(f"SELECT player_id, count(*) FROM {HITS_TABLE} GROUP BY player_id")
    hits_by_player = dict(cursor.fetchall())
    confirmed_players = [pid for pid in hits_by_player if labels.get(pid) == "confirmed_fraud"]
    false_players = [pid for pid in hits_by_player if labels.get(pid) == "false_positive"]
    confirmed_hits = sum(hits_by_player[pid] for pid in confirmed_players)
    false_hits = sum(hits_by_player[pid] for pid in false_players)
    labelled = len(confirmed_players) + len(false_players)

    def money(amounts: dict[str, int]) -> list[dict]:
        return [
            {"currency": c, "amount_minor": v, "amount": f"{format_amount(v, c)} {c}"}
            for c, v in sorted(amounts.items())
        ]

    cursor.execute(
        f"SELECT player_id FROM {HITS_TABLE} GROUP BY player_id ORDER BY count(*) DESC, "
        "player_id LIMIT 50"
    )
    return {
        "hits": hits,
        "players_affected": players,
        "by_kind": by_kind,
        "would_hold": money(held),
        "would_decline": money(declined),
        "would_flag": money(flagged),
        "confirmed_fraud_hits": confirmed_hits,
        "false_positive_hits": false_hits,
        "unlabelled_hits": hits - confirmed_hits - false_hits,
        "confirmed_fraud_players": len(confirmed_players),
        "false_positive_players": len(false_players),
        "confirmed_fraud_players_in_window": confirmed_total,
        # Per player: of the labelled players hit, the share confirmed; of the confirmed
        # players in the window, the share hit. None when there is nothing to divide by.
        "precision": round(len(confirmed_players) / labelled, 4) if labelled else None,
        "recall": round(len(confirmed_players) / confirmed_total, 4) if confirmed_total else None,
        "top_players": [row[0] for row in cursor.fetchall()],
    }


def run_backtest(*, backtest_id: int, now=None) -> Backtest:
    """Run one queued backtest to its end (status done, or failed with the error kept; it never
    raises for a bad version). Reads only: no case, hold, hit or balance is written; the hits
    live in a temporary table of this connection."""
    backtest = Backtest.objects.select_related("version__rule").get(pk=backtest_id)
    if backtest.status not in (BacktestStatus.QUEUED, BacktestStatus.FAILED):
        return backtest
    version = backtest.version
    end = now or timezone.now()
    start = end - timedelta(days=backtest.days)
    Backtest.objects.filter(pk=backtest.pk).update(
        status=BacktestStatus.RUNNING,
        started_at=timezone.now(),
        window_start=start,
        window_end=end,
        progress=0,
        stage="starting",
        error="",
    )
    started = time.perf_counter()
    try:
        key = version.rule.key
        p = rule_kinds.validate_parameters(key, version.parameters)
        slices = (
            1
            if key in (RuleKind.MULTI_ACCOUNT_IP, RuleKind.BONUS_FARMING)
            else min(MAX_SLICES, max(1, backtest.days))
        )
        # Inside a caller's transaction (tests, a shell) a failure must not poison it: a
        # savepoint. Run alone (the worker), each statement commits, so the progress shows.
        guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with guard, connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {HITS_TABLE}")
            cursor.execute(
                f"CREATE TEMP TABLE {HITS_TABLE} (txn_id bigint, player_id bigint NOT NULL, "
                "kind text NOT NULL, currency text NOT NULL, amount_minor bigint NOT NULL, "
                "at timestamptz NOT NULL, figures jsonb NOT NULL)"
            )
            try:
                for index, (slice_start, slice_end) in enumerate(_slices(start, end, slices)):
                    _replay(cursor, key, p, slice_start, slice_end)
                    _progress(
                        backtest,
                        int(90 * (index + 1) / slices),
                        f"replayed {slice_end:%Y-%m-%d %H:%M} ({index + 1}/{slices})",
                    )
                _progress(backtest, 92, "reading outcome labels")
                labels = selectors.case_labels(since=start, until=end)
                confirmed_total = sum(1 for label in labels.values() if label == "confirmed_fraud")
                result = _report(cursor, version.action, labels, confirmed_total)
            finally:
                cursor.execute(f"DROP TABLE IF EXISTS {HITS_TABLE}")
        result["seconds"] = round(time.perf_counter() - started, 3)
        result["rule"] = key
        result["version"] = version.number
        result["action"] = version.action
        Backtest.objects.filter(pk=backtest.pk).update(
            status=BacktestStatus.DONE,
            progress=100,
            stage="done",
            result=result,
            finished_at=timezone.now(),
        )
    except Exception as error:
        logger.exception("backtest %s failed", backtest_id)
        Backtest.objects.filter(pk=backtest.pk).update(
            status=BacktestStatus.FAILED,
            stage="failed",
            error=f"{type(error).__name__}: {error}"[:2000],
            finished_at=timezone.now(),
        )
    backtest.refresh_from_db()
    return backtest
