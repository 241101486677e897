"""The GGR roll-up: daily (provider, game, currency, day) groups derived from the ledger.

The roll-up is never incremented. Whatever changed a (provider, day) since the last run - new
ledger rows past the watermark (bets, wins, late wins, rollbacks of past bets, promotional
credits, re-settlements) and hold decisions (a held win approved or rejected) - marks that
(provider, day) dirty, and its groups are recomputed whole from the ledger and replaced in one
transaction. A row's day is the UTC day its round opened, or, for a row outside any round, the
UTC day it was written (docs/reports.md): a late win or rollback re-rolls the round's day.

Ledger ids are assigned when a row is inserted, and its transaction commits a moment later, so
a row with a lower id can become visible after a higher one. The watermark therefore only
passes rows older than SETTLE_SECONDS (a ledger transaction holds its wallet lock for
microseconds); younger rows are read again on the next run, which costs a re-roll of the
current day, never a missed row. A daily full re-roll of recent days (`reroll_recent_days`)
is the backstop.
"""

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from reports.models import RollupState
from wallets.partitions import partition_max_ids_sql, read_from_bound

SETTLE_SECONDS = 60
# How many (provider, day) groups one transaction replaces at most.
BATCH_GROUPS = 200

# (provider, day) pairs touched by ledger rows in an id range, and by decisions in a time range.
# A row's day: its round's opening day (UTC), or its own for a row outside rounds.
_DIRTY_SQL = """
SELECT DISTINCT t.provider_id, ((COALESCE(r.opened_at, t.created_at) AT TIME ZONE 'UTC')::date)
FROM wallets_transaction t
LEFT JOIN wallets_round r ON r.id = t.round_id
WHERE t.id > %(after_id)s AND t.id <= %(upto_id)s AND t.provider_id IS NOT NULL
UNION
SELECT DISTINCT t.provider_id, ((COALESCE(r.opened_at, t.created_at) AT TIME ZONE 'UTC')::date)
FROM wallets_transaction t
LEFT JOIN wallets_round r ON r.id = t.round_id
WHERE t.decided_at IS NOT NULL AND t.decided_at > %(decided_after)s
  AND t.decided_at <= %(decided_upto)s AND t.provider_id IS NOT NULL
"""

# The groups of the given providers on one UTC day, recomputed from the ledger. What counts
# (docs/reports.md): stakes are every accepted bet (a bet is posted, or rolled_back later);
# refunds the rollback rows that refunded a bet (delta > 0; a tombstone or a repeated rollback
# moves nothing, a win reversal is negative); wins are game wins credited (posted or held: a
# rejected win was taken back, a reversed one is netted by its rollback) plus the provider's
# re-settlements (adjustments with a provider); credits with a credit type (promo rows, and
# wins marked free rounds) are apart, by type. Staff corrections (adjustments without a
# provider), deposits and withdrawals are not gaming revenue.
#
# The ledger is partitioned by month: read by round alone, each round's rows would be looked
# up in every month of history. Every row of a round comes after the row that opened it (a
# greater id) and that row is dated the day the round opened, so a round of the day has no row
# in a partition whose ids all precede the day's first row; the first partition holding a
# later id bounds the reading. No clock is assumed. The bound is taken just before and given as
# a literal, so that the planner leaves the older months out of the plan and estimates the
# rest (a bound it cannot see at planning made it scan whole months); the statement takes it
# again in its own snapshot, and if a row committed in between moved it back, it returns one
# row of NULLs instead of groups and the day is read again (wallets.partitions.read_from_bound).
_BOUND_SQL = """
SELECT COALESCE(MIN(p.starts), 'infinity') AS since FROM (__PARTITION_MAX_IDS__) p
WHERE p.max_id >= (SELECT MIN(id) FROM wallets_transaction
                   WHERE created_at >= %(start)s AND created_at < %(end)s)
""".replace("__PARTITION_MAX_IDS__", partition_max_ids_sql())

_GROUPS_SQL = """
WITH bound AS MATERIALIZED (__BOUND__),
game_rows AS (
    SELECT r.provider_id, t.game_id, t.currency, t.kind, t.status, t.amount_minor,
           t.delta_minor, t.credit_type, t.round_id
    FROM wallets_round r
    JOIN wallets_transaction t
      ON t.round_id = r.id AND t.created_at >= %(since)s::timestamptz
    WHERE r.provider_id = ANY(%(providers)s::bigint[])
      AND r.opened_at >= %(start)s AND r.opened_at < %(end)s
    UNION ALL
    SELECT t.provider_id, t.game_id, t.currency, t.kind, t.status, t.amount_minor,
           t.delta_minor, t.credit_type, t.round_id
    FROM wallets_transaction t
    WHERE t.provider_id = ANY(%(providers)s::bigint[]) AND t.round_id IS NULL
      AND t.created_at >= %(start)s AND t.created_at < %(end)s
)
SELECT provider_id, %(day)s::date AS day, game_id, currency,
    COALESCE(SUM(amount_minor) FILTER (WHERE kind = 'bet'), 0),
    COALESCE(SUM(amount_minor) FILTER (WHERE kind = 'rollback' AND delta_minor > 0), 0),
    COALESCE(SUM(amount_minor) FILTER (
        WHERE kind = 'win' AND credit_type = '' AND status IN ('posted', 'held')), 0)
      + COALESCE(SUM(delta_minor) FILTER (WHERE kind = 'adjustment'), 0),
    COALESCE(SUM(delta_minor) FILTER (WHERE kind = 'adjustment'), 0),
    COALESCE(SUM(amount_minor) FILTER (
        WHERE kind IN ('win', 'promo') AND credit_type = 'free_round'
          AND status IN ('posted', 'held')), 0),
    COALESCE(SUM(amount_minor) FILTER (
        WHERE kind IN ('win', 'promo') AND credit_type = 'promo'
          AND status IN ('posted', 'held')), 0),
    COALESCE(SUM(amount_minor) FILTER (
        WHERE kind IN ('win', 'promo') AND credit_type = 'jackpot'
          AND status IN ('posted', 'held')), 0),
    COALESCE(SUM(amount_minor) FILTER (
        WHERE kind IN ('win', 'promo') AND credit_type = 'reward'
          AND status IN ('posted', 'held')), 0),
    COUNT(*) FILTER (WHERE kind = 'bet'),
    COUNT(DISTINCT round_id) FILTER (WHERE kind = 'bet')
FROM game_rows
WHERE (SELECT since FROM bound) >= %(since)s::timestamptz
GROUP BY provider_id, game_id, currency
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM bound WHERE since < %(since)s::timestamptz
""".replace("__BOUND__", _BOUND_SQL)

_DELETE_SQL = """
DELETE FROM reports_ggrdaily g
USING unnest(%(providers)s::bigint[], %(days)s::date[]) AS x(provider_id, day)
WHERE g.provider_id = x.provider_id AND g.day = x.day
"""

_INSERT_SQL = """
INSERT INTO reports_ggrdaily
    (provider_id, day, game_id, currency, stakes_minor, refunds_minor, wins_minor,
     resettlements_minor, free_round_minor, promo_minor, jackpot_minor, reward_minor, bets,
     rounds, rolled_up_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

# The run lock: two roll-ups at once would replace the same groups in turn (harmless, but
# wasted); the second waits.
_LOCK_KEY = 0x6767_7201


@dataclass(frozen=True)
class RollupResult:
    groups: int  # (provider, day) pairs recomputed
    rows: int  # roll-up rows written
    last_id: int
    seconds: float


def _day_groups(cursor, day: date, providers: list[int]) -> list[tuple]:
    """The roll-up groups of `providers` on `day`, read from the ledger (_GROUPS_SQL)."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    params = {"providers": providers, "day": day, "start": start, "end": start + timedelta(days=1)}
    return read_from_bound(cursor, bound_sql=_BOUND_SQL, read_sql=_GROUPS_SQL, params=params)


def recompute_groups(pairs: list[tuple[int, date]], *, now: datetime | None = None) -> int:
    """Recompute the roll-up of each (provider id, day) in `pairs` from the ledger and replace
    what was stored for it, BATCH_GROUPS pairs per transaction (each batch one consistent
    snapshot). Idempotent. Returns the roll-up rows written."""
    now = now or timezone.now()
    written = 0
    pairs = sorted(set(pairs))
    for start in range(0, len(pairs), BATCH_GROUPS):
        batch = pairs[start : start + BATCH_GROUPS]
        params = {"providers": [p for p, _ in batch], "days": [d for _, d in batch]}
        by_day: dict[date, list[int]] = {}
        for provider_id, day in batch:
            by_day.setdefault(day, []).append(provider_id)
        with transaction.atomic(), connection.cursor() as cursor:
            rows = []
            # One statement per day, its bounds given as values: the planner then reads the
            # day's real volume from the statistics and walks the indexes. Bounds taken from
            # a joined list of days are estimated as a fixed share of the table, which on a
            # large ledger turns into scans of every round and ledger row.
            for day, providers in by_day.items():
                rows += [(*row, now) for row in _day_groups(cursor, day, providers)]
            cursor.execute(_DELETE_SQL, params)
            if rows:
                cursor.executemany(_INSERT_SQL, rows)
        written += len(rows)
    return written


def roll_up(*, now: datetime | None = None) -> RollupResult:
    """The incremental roll-up (beat job, every minute by default): re-roll every (provider,
    day) that ledger rows past the watermark, or hold decisions since the last run, touched.
    Safe to run concurrently (an advisory lock serialises runs) and to repeat."""
    started = time.perf_counter()
    now = now or timezone.now()
    settled = now - timedelta(seconds=SETTLE_SECONDS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        state, _ = RollupState.objects.select_for_update().get_or_create(name="ggr")
        with connection.cursor() as cursor:
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM wallets_transaction")
            upto_id = cursor.fetchone()[0]
            decided_after = state.decided_through or datetime(2000, 1, 1, tzinfo=now.tzinfo)
            cursor.execute(
                _DIRTY_SQL,
                {
                    "after_id": state.last_id,
                    "upto_id": upto_id,
                    "decided_after": decided_after,
                    "decided_upto": now,
                },
            )
            pairs = [(p, d) for p, d in cursor.fetchall()]
            # The watermark passes only rows old enough that no lower id can still commit.
            cursor.execute(
                "SELECT MAX(id) FROM wallets_transaction WHERE id > %s AND id <= %s "
                "AND created_at < %s",
                [state.last_id, upto_id, settled],
            )
            settled_id = cursor.fetchone()[0]
        written = recompute_groups(pairs, now=now)
        if settled_id is not None:
            # Only up to the first unsettled row: a settled id above a young one would skip it.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT MIN(id) FROM wallets_transaction WHERE id > %s AND id <= %s "
                    "AND created_at >= %s",
                    [state.last_id, upto_id, settled],
                )
                first_young = cursor.fetchone()[0]
            if first_young is not None:
                settled_id = min(settled_id, first_young - 1)
            state.last_id = max(state.last_id, settled_id)
        state.decided_through = max(decided_after, settled)
        state.last_run_at = now
        state.last_run_ms = int((time.perf_counter() - started) * 1000)
        state.last_run_groups = len(pairs)
        state.save()
    return RollupResult(
        groups=len(pairs),
        rows=written,
        last_id=state.last_id,
        seconds=round(time.perf_counter() - started, 3),
    )


def reroll_days(*, start: date, end: date, now: datetime | None = None) -> RollupResult:
    """Recompute every provider's groups for the UTC days start..end (inclusive) from the
    ledger: the backstop and what an operator runs after a bulk load
    (`manage.py roll_up_ggr --from ... --to ...`)."""
    started = time.perf_counter()
    if end < start:
        start, end = end, start
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM wallets_provider ORDER BY id")
        providers = [row[0] for row in cursor.fetchall()]
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    pairs = [(p, d) for d in days for p in providers]
    written = recompute_groups(pairs, now=now)
    state = RollupState.objects.filter(name="ggr").first()
    return RollupResult(
        groups=len(pairs),
        rows=written,
        last_id=state.last_id if state else 0,
        seconds=round(time.perf_counter() - started, 3),
    )


def reroll_recent_days(*, days: int = 3, now: datetime | None = None) -> RollupResult:
    """The daily backstop: the last `days` UTC days re-rolled in full."""
    today = (now or timezone.now()).date()
    return reroll_days(start=today - timedelta(days=days - 1), end=today, now=now)
