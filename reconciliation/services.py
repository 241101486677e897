"""Reconciliation: the wallet's cached figures against its ledger (internal), the ledger against
a provider's report, and the life of the discrepancies found.

Nothing here changes a balance. A discrepancy is settled by a correction that a second staff
user approves (posted by wallets.ledger.adjust) or closed with an explanation; both audited.

Transient vs persistent: a provider mismatch younger than the provider's grace window
(ProviderReconciliationProfile.grace_seconds, default 5 minutes, measured from the transaction's
time) is a *pending* discrepancy, re-checked against the ledger by every incremental run and by
the next report of that provider; once it outlives the window it becomes *open*: queued for staff
and counted in the drift figures. Internal drift is open at once: it is read in one statement
(one consistent snapshot), so no in-flight call can show as drift.
"""

import csv
import io
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from reconciliation import parsing
from reconciliation.choices import (
    WALLET_KINDS,
    CorrectionStatus,
    DiscrepancyKind,
    DiscrepancyStatus,
    Outcome,
    RunKind,
    RunStatus,
)
from reconciliation.models import (
    DEFAULT_GRACE_SECONDS,
    CorrectionRequest,
    Discrepancy,
    LedgerChainCheckpoint,
    ProviderReconciliationProfile,
    ProviderReport,
    ReconciliationRun,
)
from wallets import ledger
from wallets.errors import FourEyesRequired, NotAllowed, ValidationFailed
from wallets.models import ArchivedWalletTotal, Provider, Transaction, Wallet
from wallets.partitions import PARTITION_RANGES_SQL, partition_max_ids_sql, read_from_bound
from wallets.services import record_audit

DEFAULT_CHUNK_SIZE = 5000
# Ledger writes set wallets.updated_at before they commit; a write that commits just after a
# run started can carry an earlier time. The next incremental run looks back this far past the
# watermark so it still sees such a wallet (ledger writes last microseconds, never seconds).
WATERMARK_OVERLAP_SECONDS = 5

# PostgreSQL work_mem for a report's transaction (server memory, bounded: one report per
# provider at a time).
REPORT_WORK_MEM = "256MB"

Progress = Callable[[int, int], None]


def grace_seconds(provider_id: int | None) -> int:
    if provider_id is None:
        return DEFAULT_GRACE_SECONDS
    profile = ProviderReconciliationProfile.objects.filter(provider_id=provider_id).first()
    return profile.grace_seconds if profile else DEFAULT_GRACE_SECONDS


class _Phases:
    """Milliseconds spent per phase of a run, recorded on the run."""

    def __init__(self) -> None:
        self.ms: dict[str, int] = {}
        self._last = time.perf_counter()

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.ms[phase] = int((now - self._last) * 1000)
        self._last = now


def _finish(run: ReconciliationRun, started: float, **fields) -> ReconciliationRun:
    run.status = RunStatus.FINISHED
    run.finished_at = timezone.now()
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    return run


def _fail(run: ReconciliationRun, started: float, error: BaseException) -> None:
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        duration_ms=int((time.perf_counter() - started) * 1000),
        error=f"{type(error).__name__}: {error}"[:2000],
    )


# --- internal reconciliation ----------------------------------------------------------------

# One statement per chunk of wallets, so each chunk is compared in one consistent snapshot.
# Per wallet, the ledger sum is an index-only scan of txn_by_wallet_covering (it carries
# status, delta_minor and amount_minor: no heap page per ledger row) and the open-session sum
# uses the session's wallet index: the cost follows the wallets checked and their rows' index
# entries, not the size of the ledger (bench/reconciliation_incremental.py).
# What counts in the balance and in `reserved` is the rule of wallets.models.Transaction.
# A wallet's figures against its ledger, and its checkpoint moved forward where they agree, in
# one statement (one snapshot). A checkpoint proves the balance at a ledger position: the
# balance the wallet's rows up to `last_id` add up to, counting only rows whose contribution
# can no longer change (posted, rolled back, rejected: a rollback is a row of its own, the bet
# keeps its delta), plus the ids of the rows still held then (a held credit counts, a held
# debit does not until approved; their decision comes later). An incremental check reads the
# rows after the checkpoint and the few held ones: its cost follows what changed, not the
# wallet's history. A full check (`full`) ignores the checkpoints and sums every row.
#
# Where a chunk's reading of the ledger can start: the first partition (one per month) that
# holds an id past the smallest checkpoint of the chunk's wallets (a partition's largest id is
# one probe of its primary key). A wallet's rows after its checkpoint can only be there or
# later. Taken from the ids each partition holds, not from clocks: exact in the snapshot it is
# read in; 'infinity' when no partition holds a newer row. The partitions' ranges are read
# from the catalog once per run (`starts`, `ends`): a partition created since can only be a
# later month, which the reading includes anyway.
_LEDGER_BOUND_SQL = """
SELECT COALESCE(MIN(p.starts), 'infinity') AS since FROM (__PARTITION_MAX_IDS__) p
WHERE p.max_id > (
    -- The smallest checkpoint of the chunk; 0 when a wallet has none (or for a full check).
    SELECT CASE WHEN NOT %(full)s AND COUNT(*) = cardinality(%(ids)s::bigint[])
                THEN MIN(c.last_id) ELSE 0 END
    FROM reconciliation_walletcheckpoint c WHERE c.wallet_id = ANY(%(ids)s::bigint[])
)
""".replace(
    "__PARTITION_MAX_IDS__",
    partition_max_ids_sql(
        "SELECT * FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) "
        "AS u(starts, ends)"
    ),
)

# The check reads each wallet's rows from `since` on, a literal taken just before (so the
# planner leaves the older partitions out of the plan and estimates the rest from their
# statistics). The statement takes the bound again in its own
# snapshot: if a row committed in between moved it back, nothing is proven or reported and a
# row of NULLs says so (wallets.partitions.read_from_bound; a full check, a chunk with a wallet
# never proven, and a bound moved twice read every partition without a bound).
_WALLET_CHECK_TEMPLATE = """
WITH __BOUND__
figures AS (
    SELECT w.id AS wallet_id, w.balance_minor, w.reserved_minor, w.updated_at,
           GREATEST(b.last_id, COALESCE(l.max_id, 0)) AS last_id,
           b.settled_minor + COALESCE(l.settled_minor, 0) AS settled_minor,
           COALESCE(l.held_ids, '{}') AS held_ids,
           b.settled_minor + COALESCE(l.settled_minor, 0)
               + COALESCE(l.held_credit_minor, 0) AS expected_balance_minor,
           COALESCE(l.held_minor, 0) + COALESCE(s.reserved_minor, 0) AS expected_reserved_minor
    FROM wallets_wallet w
    LEFT JOIN reconciliation_walletcheckpoint c ON c.wallet_id = w.id AND NOT %(full)s
    -- Rows of archived (detached) partitions are no longer in the ledger: what they carried
    -- forward, recorded at detach time (wallets_archivedwallettotal), is where a check
    -- starts when no checkpoint of this wallet is further on.
    LEFT JOIN LATERAL (
        SELECT SUM(a.settled_minor) AS settled_minor, MAX(a.last_id) AS last_id
        FROM wallets_archivedwallettotal a WHERE a.wallet_id = w.id
    ) a ON TRUE
    CROSS JOIN LATERAL (
        SELECT CASE WHEN a.last_id > COALESCE(c.last_id, 0) THEN a.last_id
                    ELSE COALESCE(c.last_id, 0) END AS last_id,
               CASE WHEN a.last_id > COALESCE(c.last_id, 0) THEN a.settled_minor
                    ELSE COALESCE(c.settled_minor, 0) END AS settled_minor,
               CASE WHEN a.last_id > COALESCE(c.last_id, 0) THEN '{}'::bigint[]
                    ELSE c.held_ids END AS held_ids
    ) b
    LEFT JOIN LATERAL (
        SELECT SUM(r.delta_minor) FILTER (
                   WHERE r.status IN ('posted', 'rolled_back')) AS settled_minor,
               SUM(r.delta_minor) FILTER (
                   WHERE r.status = 'held' AND r.delta_minor > 0) AS held_credit_minor,
               SUM(r.amount_minor) FILTER (WHERE r.status = 'held') AS held_minor,
               array_agg(r.id ORDER BY r.id) FILTER (WHERE r.status = 'held') AS held_ids,
               MAX(r.id) AS max_id
        FROM (
            SELECT t.id, t.status, t.delta_minor, t.amount_minor
            FROM wallets_transaction t
            WHERE t.wallet_id = w.id AND t.id > b.last_id
              __SINCE__
            UNION ALL
            -- Rows held at the checkpoint, looked up by id: one probe of each partition's
            -- primary key per row (LIMIT 1 keeps it a probe; joined, the planner read the
            -- wallet's whole history in every partition to hash it against them).
            SELECT t.id, t.status, t.delta_minor, t.amount_minor
            FROM unnest(b.held_ids) AS h(id)
            CROSS JOIN LATERAL (
                SELECT t.id, t.status, t.delta_minor, t.amount_minor
                FROM wallets_transaction t WHERE t.id = h.id AND t.wallet_id = w.id LIMIT 1
            ) t
        ) r
    ) l ON TRUE
    LEFT JOIN LATERAL (
        SELECT SUM(gs.reserved_minor) AS reserved_minor
        FROM wallets_gamesession gs
        -- The player's open sessions (a partial index), not every session the wallet had.
        WHERE gs.player_id = w.player_id AND gs.wallet_id = w.id AND gs.status = 'open'
    ) s ON TRUE
    WHERE w.id = ANY(%(ids)s)
),
proven AS (
    -- Only a wallet whose figures agree is proven at its new position; a drifting one keeps
    -- its last proven checkpoint.
    INSERT INTO reconciliation_walletcheckpoint AS c
        (wallet_id, last_id, settled_minor, held_ids, proven_at)
    SELECT wallet_id, last_id, settled_minor, held_ids, now() FROM figures
    WHERE balance_minor = expected_balance_minor AND reserved_minor = expected_reserved_minor
      __BOUND_HELD__
    ON CONFLICT (wallet_id) DO UPDATE
        SET last_id = EXCLUDED.last_id, settled_minor = EXCLUDED.settled_minor,
            held_ids = EXCLUDED.held_ids, proven_at = EXCLUDED.proven_at
        WHERE c.last_id <= EXCLUDED.last_id
)
SELECT wallet_id, balance_minor, reserved_minor, updated_at,
       expected_balance_minor, expected_reserved_minor
FROM figures
WHERE (balance_minor <> expected_balance_minor OR reserved_minor <> expected_reserved_minor)
  __BOUND_HELD__
__BOUND_MOVED__
"""


def _wallet_check_sql(*, bounded: bool) -> str:
    parts = {
        "__BOUND__": f"bound AS MATERIALIZED ({_LEDGER_BOUND_SQL}),",
        "__SINCE__": "AND t.created_at >= %(since)s::timestamptz",
        "__BOUND_HELD__": "AND (SELECT since FROM bound) >= %(since)s::timestamptz",
        "__BOUND_MOVED__": "UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL FROM bound "
        "WHERE since < %(since)s::timestamptz",
    }
    sql = _WALLET_CHECK_TEMPLATE
    for marker, text in parts.items():
        sql = sql.replace(marker, text if bounded else "")
    return sql


# Every partition (a full check, or a chunk with a wallet never proven); and from a bound.
_WALLET_CHECK_SQL = _wallet_check_sql(bounded=False)
_WALLET_CHECK_SINCE_SQL = _wallet_check_sql(bounded=True)

# Wallets written since the watermark: by time (wallets_wallet.updated_at index) or by a newer
# ledger row (primary key range). Both are index range scans.
# Ordered by checkpoint, so that a chunk holds wallets proven at about the same place (the
# chunk reads the ledger from its oldest checkpoint's partition on: one long-idle wallet does
# not send 4,999 others through months of partitions).
_CHANGED_WALLETS_SQL = """
SELECT ch.id FROM (
    SELECT id FROM wallets_wallet WHERE updated_at >= %(since)s
    UNION
    SELECT wallet_id FROM wallets_transaction WHERE id > %(since_id)s
) ch
LEFT JOIN reconciliation_walletcheckpoint c ON c.wallet_id = ch.id
ORDER BY COALESCE(c.last_id, 0), ch.id
"""


@dataclass(frozen=True)
class WalletDrift:
    wallet_id: int
    balance_minor: int
    reserved_minor: int
    updated_at: datetime
    expected_balance_minor: int
    expected_reserved_minor: int


def _chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _all_wallet_chunks(size: int) -> Iterable[list[int]]:
    after = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT id FROM wallets_wallet WHERE id > %s ORDER BY id LIMIT %s", [after, size]
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return
            yield ids
            after = ids[-1]


def ledger_ranges() -> dict:
    """The ledger partitions' ranges as check_wallets takes them (read once per run)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT starts, ends FROM ({PARTITION_RANGES_SQL}) p")  # noqa: S608 - constant
        rows = cursor.fetchall()
    return {"starts": [row[0] for row in rows], "ends": [row[1] for row in rows]}


def check_wallets(
    wallet_ids: list[int], *, full: bool = False, ranges: dict | None = None
) -> list[WalletDrift]:
    """Wallets among `wallet_ids` whose cached balance or reserved differs from the ledger;
    the others are proven at their latest ledger row (their checkpoint moves there). `full`
    sums every ledger row instead of starting at the checkpoints. `ranges`: ledger_ranges(),
    when the caller checks several chunks."""
    params = {"ids": wallet_ids, "full": full, **(ranges or ledger_ranges())}
    with connection.cursor() as cursor:
        if full:
            cursor.execute(_WALLET_CHECK_SQL, params)
            rows = cursor.fetchall()
        else:
            rows = read_from_bound(
                cursor,
                bound_sql=_LEDGER_BOUND_SQL,
                read_sql=_WALLET_CHECK_SINCE_SQL,
                params=params,
                unbounded_sql=_WALLET_CHECK_SQL,
            )
    return [WalletDrift(*row) for row in rows]


def _record_wallet_drift(drift: WalletDrift, run: ReconciliationRun, now) -> tuple[list, int]:
    """Open (or refresh) one discrepancy per drifting figure of the wallet: the kinds found and
    how many discrepancies were new."""
    found, new = [], 0
    figures = [
        (DiscrepancyKind.BALANCE_DRIFT, drift.balance_minor, drift.expected_balance_minor),
        (DiscrepancyKind.RESERVED_DRIFT, drift.reserved_minor, drift.expected_reserved_minor),
    ]
    for kind, cached, expected in figures:
        if cached == expected:
            continue
        found.append(kind)
        fields = {
            "cached_minor": cached,
            "expected_minor": expected,
            "drift_minor": abs(cached - expected),
            "last_seen_at": now,
            "last_run": run,
        }
        updated = Discrepancy.objects.filter(
            wallet_id=drift.wallet_id, kind=kind, status__in=[DiscrepancyStatus.OPEN]
        ).update(**fields)
        if not updated:
            new += 1
            wallet = Wallet.objects.select_related("player").get(pk=drift.wallet_id)
            Discrepancy.objects.create(
                kind=kind,
                status=DiscrepancyStatus.OPEN,
                wallet=wallet,
                player_external_id=wallet.player.external_id,
                currency=wallet.currency,
                occurred_at=drift.updated_at,
                opened_at=now,
                **fields,
            )
    return found, new


def reconcile_wallets(
    *,
    full: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    triggered_by: str = "",
) -> ReconciliationRun:
    """Compare every wallet's cached balance and reserved with its ledger (`full`), or only the
    wallets written since the last internal run's watermark (incremental; the first incremental
    run checks every wallet). Set-based: one statement per chunk of wallets, never a loop over
    ledger rows. Each drifting figure becomes (or refreshes) an open discrepancy. Read-only for
    money. Records a ReconciliationRun with the watermark for the next incremental run."""
    started = time.perf_counter()
    run = ReconciliationRun.objects.create(
        kind=RunKind.FULL if full else RunKind.INCREMENTAL, triggered_by=triggered_by
    )
    try:
        with connection.cursor() as cursor:
            # The new watermark is taken before reading, so nothing written during the run is
            # skipped by the next one.
            cursor.execute("SELECT now(), COALESCE(MAX(id), 0) FROM wallets_transaction")
            watermark_at, watermark_id = cursor.fetchone()
            previous = (
                ReconciliationRun.objects.filter(
                    kind__in=[RunKind.INCREMENTAL, RunKind.FULL],
                    status=RunStatus.FINISHED,
                    watermark_at__isnull=False,
                )
                .order_by("-id")
                .first()
            )
            if full or previous is None:
                cursor.execute("SELECT COUNT(*) FROM wallets_wallet")
                total = cursor.fetchone()[0]
                chunks = _all_wallet_chunks(chunk_size)
            else:
                cursor.execute(
                    _CHANGED_WALLETS_SQL,
                    {
                        "since": previous.watermark_at
                        - timedelta(seconds=WATERMARK_OVERLAP_SECONDS),
                        "since_id": previous.watermark_transaction_id or 0,
                    },
                )
                changed = [row[0] for row in cursor.fetchall()]
                total = len(changed)
                chunks = _chunks(changed, chunk_size)
        ranges = ledger_ranges()
        checked, counts = 0, {kind.value: 0 for kind in DiscrepancyKind if kind in WALLET_KINDS}
        drifting = opened = 0
        now = timezone.now()
        if progress:
            progress(0, total)
        for ids in chunks:
            for drift in check_wallets(ids, full=full or previous is None, ranges=ranges):
                drifting += 1
                kinds, new = _record_wallet_drift(drift, run, now)
                opened += new
                for kind in kinds:
                    counts[kind] += 1
            checked += len(ids)
            if progress:
                progress(checked, total)
        counts[Outcome.MATCHED.value] = checked - drifting
        recheck = recheck_pending(run=run)
        return _finish(
            run,
            started,
            wallets_checked=checked,
            counts=counts,
            discrepancies_opened=opened + recheck.opened,
            discrepancies_cleared=recheck.cleared,
            pending=recheck.pending,
            watermark_at=watermark_at,
            watermark_transaction_id=watermark_id,
        )
    except Exception as error:
        _fail(run, started, error)
        raise


# --- provider mismatches: shared SQL --------------------------------------------------------

# Does the provider's status agree with the wallet's? A held wallet row stands as posted.
_STATUS_AGREES = """(
    ({p} = 'posted' AND {w} IN ('posted', 'held'))
    OR ({p} = 'rolled_back' AND {w} = 'rolled_back')
    OR ({p} = 'rejected' AND {w} = 'rejected'))"""

# Classify a provider row (p: amount_minor, currency, status) against the ledger row t (or its
# absence). A provider row that moved no money (rolled back or rejected) and is unknown to the
# wallet is consistent: the wallet refused it or keeps only a rollback tombstone.
_CLASSIFY = """CASE
    WHEN t.id IS NULL AND {status} IN ('rolled_back', 'rejected') THEN 'matched'
    WHEN t.id IS NULL THEN 'missing_in_wallet'
    WHEN t.currency <> {currency} THEN 'currency_mismatch'
    WHEN t.amount_minor <> {amount} THEN 'amount_mismatch'
    WHEN NOT {agrees} THEN 'status_mismatch'
    ELSE 'matched'
END"""


def _classify(amount: str, currency: str, status: str) -> str:
    agrees = _STATUS_AGREES.format(p=status, w="t.status")
    return _CLASSIFY.format(amount=amount, currency=currency, status=status, agrees=agrees)


_GRACE = f"""make_interval(secs => COALESCE(
    (SELECT grace_seconds FROM reconciliation_providerreconciliationprofile gp
     WHERE gp.provider_id = d.provider_id), {DEFAULT_GRACE_SECONDS}))"""  # noqa: S608


@dataclass(frozen=True)
class RecheckResult:
    cleared: int
    opened: int
    pending: int


# Pending provider discrepancies compared with the ledger as it is now. Missing-at-provider
# ones can only be settled by a later report listing the transaction; they are promoted here.
_RECHECK_SQL = """
WITH current AS (
    SELECT d.id, t.id AS ledger_id, t.wallet_id, t.amount_minor, t.status AS wallet_status,
           CASE WHEN d.kind = 'missing_at_provider' THEN 'missing_at_provider'
                ELSE {classify} END AS outcome,
           d.occurred_at <= %(now)s - {grace} AS outlived
    FROM reconciliation_discrepancy d
    LEFT JOIN wallets_transaction t
      ON t.provider_id = d.provider_id AND t.external_id = d.provider_transaction_id
    WHERE d.status = 'pending' AND d.provider_id IS NOT NULL
)
UPDATE reconciliation_discrepancy d
SET kind = CASE WHEN c.outcome = 'matched' THEN d.kind ELSE c.outcome END,
    status = CASE WHEN c.outcome = 'matched' THEN 'cleared'
                  WHEN c.outlived THEN 'open' ELSE 'pending' END,
    opened_at = CASE WHEN c.outcome <> 'matched' AND c.outlived THEN %(now)s END,
    resolved_at = CASE WHEN c.outcome = 'matched' THEN %(now)s END,
    resolution_note = CASE WHEN c.outcome = 'matched'
                           THEN 'settled within the grace window' ELSE '' END,
    ledger_transaction_id = COALESCE(c.ledger_id, d.ledger_transaction_id),
    wallet_id = COALESCE(c.wallet_id, d.wallet_id),
    wallet_amount_minor = COALESCE(c.amount_minor, d.wallet_amount_minor),
    wallet_status = COALESCE(c.wallet_status, d.wallet_status),
    last_seen_at = %(now)s,
    last_run_id = %(run)s
FROM current c
WHERE d.id = c.id
RETURNING d.status
""".format(  # noqa: S608 (composed from this module's constants only)
    classify=_classify("d.provider_amount_minor", "d.provider_currency", "d.provider_status"),
    grace=_GRACE,
)


def recheck_pending(*, run: ReconciliationRun | None = None, now=None) -> RecheckResult:
    """Re-compare every pending provider discrepancy with the ledger: those that now agree are
    cleared (the in-flight call arrived); those still wrong that outlived their provider's grace
    window become open. One statement; run by every incremental run."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_RECHECK_SQL, {"now": now, "run": run.pk if run else None})
        statuses = [row[0] for row in cursor.fetchall()]
    return RecheckResult(
        cleared=statuses.count(DiscrepancyStatus.CLEARED),
        opened=statuses.count(DiscrepancyStatus.OPEN),
        pending=statuses.count(DiscrepancyStatus.PENDING),
    )


# --- provider reports -----------------------------------------------------------------------

_STAGING_DDL = """
CREATE TEMPORARY TABLE recon_staging (
    line_no integer NOT NULL,
    transaction_id text,
    round_id text,
    player text,
    kind text,
    amount_minor bigint,
    currency text,
    status text,
    occurred_at timestamptz,
    error text,
    raw text
) ON COMMIT DROP
"""

_COPY_SQL = (
    "COPY recon_staging (line_no, transaction_id, round_id, player, kind, amount_minor, "
    "currency, status, occurred_at, error, raw) FROM STDIN WITH (FORMAT csv)"
)

# Every staged row becomes a report row with its outcome, in one statement. A transaction id
# listed twice is malformed from its second listing on (the first is compared). The window
# groups by bytes (COLLATE "C"): equal ids are equal either way, and a byte sort of a million
# ids is several times cheaper than a locale-aware one.
_CLASSIFY_REPORT_SQL = """
INSERT INTO reconciliation_reportrow (
    report_id, line_no, outcome, pending, transaction_id, round_id, player, kind,
    amount_minor, currency, status, occurred_at, wallet_transaction_id, error, raw)
SELECT %(report)s, s.line_no, c.outcome,
       c.outcome NOT IN ('matched', 'malformed')
           AND s.occurred_at > %(now)s - make_interval(secs => %(grace)s),
       COALESCE(s.transaction_id, ''), COALESCE(s.round_id, ''), COALESCE(s.player, ''),
       COALESCE(s.kind, ''), s.amount_minor, COALESCE(s.currency, ''), COALESCE(s.status, ''),
       s.occurred_at, t.id, COALESCE(s.problem, ''), COALESCE(s.raw, '')
FROM (
    SELECT staged.*,
           COALESCE(staged.error, CASE WHEN staged.line_no <> staged.first_line
               THEN 'duplicate transaction_id: first listed at line ' || staged.first_line
           END) AS problem
    FROM (
        SELECT r.*, MIN(r.line_no) FILTER (WHERE r.error IS NULL)
                        OVER (PARTITION BY r.transaction_id COLLATE "C") AS first_line
        FROM recon_staging r
    ) staged
) s
LEFT JOIN wallets_transaction t
  ON s.problem IS NULL AND t.provider_id = %(provider)s AND t.external_id = s.transaction_id
CROSS JOIN LATERAL (
    SELECT CASE WHEN s.problem IS NOT NULL THEN 'malformed' ELSE {classify} END AS outcome
) c
""".format(classify=_classify("s.amount_minor", "s.currency", "s.status"))  # noqa: S608

# Ledger rows of the provider in the report's window that the report does not list. Rejected
# ledger rows moved no money and are not expected in a provider's report.
_MISSING_AT_PROVIDER_SQL = """
INSERT INTO reconciliation_reportrow (
    report_id, line_no, outcome, pending, transaction_id, round_id, player, kind,
    amount_minor, currency, status, occurred_at, wallet_transaction_id, error, raw)
SELECT %(report)s, NULL, 'missing_at_provider',
       t.created_at > %(now)s - make_interval(secs => %(grace)s),
       t.external_id, t.round_external_id, pl.external_id, t.kind, t.amount_minor, t.currency,
       t.status, t.created_at, t.id, '', ''
FROM wallets_transaction t
JOIN wallets_player pl ON pl.id = t.player_id
WHERE t.provider_id = %(provider)s
  AND t.created_at >= %(start)s AND t.created_at <= %(end)s
  AND t.status <> 'rejected'
  AND NOT EXISTS (SELECT 1 FROM recon_staging s WHERE s.transaction_id = t.external_id)
"""

# The mismatched rows of a report, with what a discrepancy needs. Provider-side fields are
# empty for missing-at-provider rows (they are ledger rows).
_REPORT_MISMATCHES = """
SELECT r.outcome AS kind, r.pending, r.transaction_id, r.round_id, r.player, r.occurred_at,
       COALESCE(t.wallet_id, w.id) AS wallet_id, t.id AS ledger_id,
       COALESCE(NULLIF(r.kind, ''), t.kind, '') AS transaction_kind,
       COALESCE(t.currency, r.currency) AS currency,
       CASE WHEN r.line_no IS NULL THEN '' ELSE r.currency END AS provider_currency,
       CASE WHEN r.line_no IS NULL THEN NULL ELSE r.amount_minor END AS provider_amount_minor,
       CASE WHEN r.line_no IS NULL THEN '' ELSE r.status END AS provider_status,
       t.amount_minor AS wallet_amount_minor, COALESCE(t.status, '') AS wallet_status,
       CASE r.outcome
           WHEN 'amount_mismatch' THEN ABS(r.amount_minor - t.amount_minor)
           WHEN 'missing_in_wallet' THEN r.amount_minor
           ELSE t.amount_minor
       END AS drift_minor
FROM reconciliation_reportrow r
LEFT JOIN wallets_transaction t ON t.id = r.wallet_transaction_id
LEFT JOIN wallets_player pl ON t.id IS NULL AND pl.external_id = r.player
LEFT JOIN wallets_wallet w ON w.player_id = pl.id AND w.currency = r.currency
WHERE r.report_id = %(report)s
  AND r.outcome <> 'matched'  -- the partial index of unmatched rows
  AND r.outcome IN ('amount_mismatch', 'currency_mismatch', 'missing_in_wallet',
                    'missing_at_provider', 'status_mismatch')
"""

# Refresh the active discrepancies the report saw again (an open one stays open)...
_UPDATE_DISCREPANCIES_SQL = f"""
WITH m AS ({_REPORT_MISMATCHES})
UPDATE reconciliation_discrepancy d
SET kind = m.kind,
    status = CASE WHEN d.status = 'open' OR NOT m.pending THEN 'open' ELSE 'pending' END,
    opened_at = CASE WHEN d.status = 'open' THEN d.opened_at
                     WHEN NOT m.pending THEN %(now)s END,
    wallet_id = COALESCE(m.wallet_id, d.wallet_id),
    ledger_transaction_id = m.ledger_id,
    provider_currency = m.provider_currency,
    provider_amount_minor = m.provider_amount_minor,
    provider_status = m.provider_status,
    wallet_amount_minor = m.wallet_amount_minor,
    wallet_status = m.wallet_status,
    drift_minor = m.drift_minor,
    last_seen_at = %(now)s,
    report_id = %(report)s,
    last_run_id = %(run)s
FROM m
WHERE d.provider_id = %(provider)s AND d.provider_transaction_id = m.transaction_id
  AND d.status IN ('pending', 'open')
RETURNING (d.status = 'open' AND d.opened_at = %(now)s)
"""  # noqa: S608

# ... and create the others: pending within the grace window, open after it.
_INSERT_DISCREPANCIES_SQL = f"""
WITH m AS ({_REPORT_MISMATCHES})
INSERT INTO reconciliation_discrepancy (
    kind, status, provider_id, wallet_id, ledger_transaction_id, provider_transaction_id,
    round_id, player_external_id, transaction_kind, currency, provider_currency,
    provider_amount_minor, provider_status, wallet_amount_minor, wallet_status,
    cached_minor, expected_minor, drift_minor, occurred_at, first_seen_at, last_seen_at,
    opened_at, report_id, last_run_id, resolution_note)
SELECT m.kind, CASE WHEN m.pending THEN 'pending' ELSE 'open' END, %(provider)s, m.wallet_id,
       m.ledger_id, m.transaction_id, m.round_id, m.player, m.transaction_kind, m.currency,
       m.provider_currency, m.provider_amount_minor, m.provider_status, m.wallet_amount_minor,
       m.wallet_status, NULL, NULL, m.drift_minor, m.occurred_at, %(now)s, %(now)s,
       CASE WHEN m.pending THEN NULL ELSE %(now)s END, %(report)s, %(run)s, ''
FROM m
WHERE NOT EXISTS (
    SELECT 1 FROM reconciliation_discrepancy d
    WHERE d.provider_id = %(provider)s AND d.provider_transaction_id = m.transaction_id
      AND d.status IN ('pending', 'open'))
RETURNING status
"""  # noqa: S608

# Pending discrepancies that this report now shows as matched: settled within grace.
_CLEAR_MATCHED_SQL = """
UPDATE reconciliation_discrepancy d
SET status = 'cleared', resolved_at = %(now)s, last_seen_at = %(now)s,
    resolution_note = 'matched in provider report #' || %(report)s, last_run_id = %(run)s
WHERE d.provider_id = %(provider)s AND d.status = 'pending'
  AND EXISTS (SELECT 1 FROM reconciliation_reportrow r
              WHERE r.report_id = %(report)s AND r.outcome = 'matched'
                AND r.transaction_id = d.provider_transaction_id)
"""


_COPY_BATCH_ROWS = 5000


def _stage(cursor, rows: Iterable[parsing.StagedRow]) -> int:
    """COPY the rows into the staging table as they are read, in batches of CSV text (the C
    csv writer formats them: far cheaper than one write per row); the number of rows. In COPY's
    CSV format an empty field is NULL: the staging columns that may be empty are read through
    COALESCE, so empty and NULL mean the same there."""
    total = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    with cursor.copy(_COPY_SQL) as copy:
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= _COPY_BATCH_ROWS:
                total += _flush(copy, writer, buffer, batch)
        total += _flush(copy, writer, buffer, batch)
    return total


def _flush(copy, writer, buffer: io.StringIO, batch: list) -> int:
    count = len(batch)
    if count:
        writer.writerows(batch)
        copy.write(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()
        batch.clear()
    return count


def reconcile_provider_report(
    *,
    provider: Provider,
    rows: Iterable[parsing.StagedRow],
    report_format: str,
    filename: str = "",
    uploaded_by=None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> ReconciliationRun:
    """Reconcile a provider's report with the ledger, end to end.

    `rows` is consumed once, row by row (see reconciliation.parsing: streamed from the file,
    never held whole), into a temporary staging table with COPY. Then, in SQL, every row is
    matched by (provider, transaction_id) and classified; ledger rows of the provider within
    the window (the given period, or the span of the report's valid rows) that the report does
    not list are missing at provider. Every row is kept (ReportRow), malformed ones with line
    number and reason. Mismatches become pending or open discrepancies (grace window); pending
    ones this report shows as matched are cleared. One report per provider at a time (advisory
    lock). The report and its run are stored first, so a failure leaves a failed run, never
    a lost report."""
    started = time.perf_counter()
    run = ReconciliationRun.objects.create(
        kind=RunKind.PROVIDER_REPORT,
        provider=provider,
        triggered_by=uploaded_by.get_username() if uploaded_by else "",
    )
    report = ProviderReport.objects.create(
        provider=provider,
        format=report_format,
        filename=filename[:255],
        uploaded_by=uploaded_by,
        period_start=period_start,
        period_end=period_end,
        run=run,
    )
    if uploaded_by is not None:
        record_audit(
            actor=uploaded_by,
            action="reconciliation.report_uploaded",
            target=report,
            after={"provider": provider.code, "filename": filename, "format": report_format},
        )
    grace = grace_seconds(provider.pk)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            phases = _Phases()
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [74_001, provider.pk])
            # Sorting and hashing a million staged rows against the ledger stays in memory
            # instead of spilling to disk in batches; for this transaction only.
            cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
            # These statements run once per report: compiling them (JIT) costs more than it saves.
            cursor.execute("SET LOCAL jit = off")
            now = timezone.now()
            # Within an outer transaction (tests, callers' atomic blocks) ON COMMIT DROP comes
            # late: drop any staging table left by an earlier report of the same transaction.
            cursor.execute("DROP TABLE IF EXISTS recon_staging")
            cursor.execute(_STAGING_DDL)
            total = _stage(cursor, rows)
            cursor.execute("ANALYZE recon_staging")
            phases.mark("stage")
            if period_start is None or period_end is None:
                cursor.execute(
                    "SELECT MIN(occurred_at), MAX(occurred_at) FROM recon_staging "
                    "WHERE error IS NULL"
                )
                first, last = cursor.fetchone()
                period_start = period_start or first
                period_end = period_end or last
            params = {
                "report": report.pk,
                "provider": provider.pk,
                "run": run.pk,
                "now": now,
                "grace": grace,
                "start": period_start,
                "end": period_end,
            }
            cursor.execute(_CLASSIFY_REPORT_SQL, params)
            rows_written = cursor.rowcount
            phases.mark("classify")
            if period_start is not None and period_end is not None:
                cursor.execute(_MISSING_AT_PROVIDER_SQL, params)
                rows_written += cursor.rowcount
            phases.mark("missing_at_provider")
            # Counted from the small partial index of unmatched rows; matched are the rest.
            cursor.execute(
                "SELECT outcome, COUNT(*), COUNT(*) FILTER (WHERE pending) "
                "FROM reconciliation_reportrow WHERE report_id = %s AND outcome <> 'matched' "
                "GROUP BY outcome",
                [report.pk],
            )
            counts = {outcome.value: 0 for outcome in Outcome}
            pending = 0
            for outcome, count, pending_count in cursor.fetchall():
                counts[outcome] = count
                pending += pending_count
            counts[Outcome.MATCHED.value] = rows_written - sum(counts.values())
            phases.mark("count")
            cursor.execute(_UPDATE_DISCREPANCIES_SQL, params)
            opened = sum(1 for (newly_open,) in cursor.fetchall() if newly_open)
            cursor.execute(_INSERT_DISCREPANCIES_SQL, params)
            opened += sum(1 for (status,) in cursor.fetchall() if status == "open")
            cleared = 0
            if Discrepancy.objects.filter(
                provider=provider, status=DiscrepancyStatus.PENDING
            ).exists():
                cursor.execute(_CLEAR_MATCHED_SQL, params)
                cleared = cursor.rowcount
            phases.mark("discrepancies")
            cursor.execute("DROP TABLE recon_staging")
            ProviderReport.objects.filter(pk=report.pk).update(
                rows_total=total,
                # Duplicates are found in SQL: the count of malformed rows comes from there.
                rows_malformed=counts[Outcome.MALFORMED.value],
                period_start=period_start,
                period_end=period_end,
            )
        return _finish(
            run,
            started,
            rows_total=total,
            counts=counts,
            pending=pending,
            discrepancies_opened=opened,
            discrepancies_cleared=cleared,
            phase_ms=phases.ms,
        )
    except Exception as error:
        _fail(run, started, error)
        raise


# --- resolution -----------------------------------------------------------------------------


def suggested_correction_minor(discrepancy: Discrepancy) -> int | None:
    """The balance change that would make the wallet agree with the provider, or None when
    there is no safe suggestion (currency mismatch, internal drift: a person must decide)."""
    kind = discrepancy.kind
    txn = discrepancy.ledger_transaction
    if kind == DiscrepancyKind.MISSING_IN_WALLET:
        if discrepancy.provider_status != "posted" or discrepancy.provider_amount_minor is None:
            return None
        sign = -1 if discrepancy.transaction_kind == "bet" else 1
        return sign * discrepancy.provider_amount_minor
    if txn is None:
        return None
    if kind == DiscrepancyKind.AMOUNT_MISMATCH:
        sign = -1 if txn.delta_minor < 0 else 1
        return sign * (discrepancy.provider_amount_minor - txn.amount_minor)
    if kind == DiscrepancyKind.STATUS_MISMATCH:
        # The provider says it stands and the wallet undid it: apply it; or the reverse.
        if discrepancy.provider_status == "posted":
            return txn.delta_minor
        return -txn.delta_minor if txn.status in ("posted", "held") else None
    if kind == DiscrepancyKind.MISSING_AT_PROVIDER:
        # E.g. a double credit the provider never sent: reverse it.
        return -txn.delta_minor if txn.status in ("posted", "held") else None
    return None


def _snapshot(discrepancy: Discrepancy) -> dict:
    return {"status": discrepancy.status, "kind": discrepancy.kind}


def _locked(discrepancy_id: int) -> Discrepancy:
    return (
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("ledger_transaction", "wallet")
        .get(pk=discrepancy_id)
    )


def propose_correction(
    *, discrepancy: Discrepancy, actor, reason: str, delta_minor: int | None = None
) -> CorrectionRequest:
    """Propose the ledger correction of an open discrepancy: `delta_minor` (signed) or, if not
    given, the suggested one. Nothing is posted until a different staff user approves it. One
    proposal at a time per discrepancy. Audited."""
    if not reason.strip():
        raise ValidationFailed("a correction needs a reason", field="reason")
    with transaction.atomic():
        locked = _locked(discrepancy.pk)
        if locked.kind in WALLET_KINDS:
            raise NotAllowed(
                "wallet drift cannot be corrected by a ledger row (an adjustment moves the "
                "cached balance and the ledger alike); investigate, then close with an "
                "explanation"
            )
        if locked.status != DiscrepancyStatus.OPEN:
            raise NotAllowed(f"the discrepancy is {locked.status}; only open ones are corrected")
        if locked.wallet_id is None:
            raise NotAllowed("no wallet of this player and currency; close it with a reason")
        if locked.corrections.filter(status=CorrectionStatus.PROPOSED).exists():
            raise NotAllowed("a correction is already proposed for this discrepancy")
        if delta_minor is None:
            delta_minor = suggested_correction_minor(locked)
            if delta_minor is None:
                raise ValidationFailed(
                    "no correction can be suggested: give the amount and direction",
                    field="amount",
                )
        if delta_minor == 0:
            raise ValidationFailed("a correction must change the balance", field="amount")
        correction = CorrectionRequest.objects.create(
            discrepancy=locked,
            wallet_id=locked.wallet_id,
            delta_minor=delta_minor,
            reason=reason.strip()[:500],
            requested_by=actor,
        )
        record_audit(
            actor=actor,
            action="reconciliation.correction_proposed",
            target=locked,
            reason=reason,
            before=_snapshot(locked),
            after={"correction": correction.pk, "delta_minor": delta_minor},
        )
    return correction


def approve_correction(*, discrepancy: Discrepancy, actor, reason: str = "") -> CorrectionRequest:
    """Approve the proposed correction of a discrepancy and post it: one `adjustment` ledger
    row (wallets.ledger.adjust, external id `discrepancy-<id>`, referencing the ledger row it
    corrects), requested by the proposer and approved by `actor`, who must be a different user
    (FourEyesRequired otherwise, with no effect). The discrepancy becomes corrected. Audited."""
    with transaction.atomic():
        locked = _locked(discrepancy.pk)
        correction = locked.corrections.filter(status=CorrectionStatus.PROPOSED).first()
        if correction is None or locked.status != DiscrepancyStatus.OPEN:
            raise NotAllowed("no proposed correction awaits approval for this discrepancy")
        if actor is None or correction.requested_by_id == actor.pk:
            raise FourEyesRequired("the user who proposed a correction cannot approve it")
        result = ledger.adjust(
            wallet=correction.wallet,
            delta_minor=correction.delta_minor,
            reason=f"discrepancy #{locked.pk}: {correction.reason}",
            requested_by=correction.requested_by,
            approved_by=actor,
            external_id=f"discrepancy-{locked.pk}",
            corrects=locked.ledger_transaction,
        )
        now = timezone.now()
        correction.status = CorrectionStatus.APPROVED
        correction.approved_by = actor
        correction.decided_at = now
        correction.adjustment = result.transaction
        correction.save()
        before = _snapshot(locked)
        locked.status = DiscrepancyStatus.CORRECTED
        locked.resolved_at = now
        locked.resolved_by = actor
        locked.resolution_note = reason or correction.reason
        locked.save()
        record_audit(
            actor=actor,
            action="reconciliation.correction_approved",
            target=locked,
            reason=reason,
            before=before,
            after={
                **_snapshot(locked),
                "correction": correction.pk,
                "adjustment": result.transaction.pk if result.transaction else None,
                "delta_minor": correction.delta_minor,
                "balance_minor": result.balance_minor,
            },
        )
    return correction


def close_discrepancy(*, discrepancy: Discrepancy, actor, reason: str) -> Discrepancy:
    """Close a pending or open discrepancy with an explanation, without touching the ledger;
    a proposed correction is cancelled. Audited."""
    if not reason.strip():
        raise ValidationFailed("closing needs an explanation", field="reason")
    with transaction.atomic():
        locked = _locked(discrepancy.pk)
        if locked.status not in (DiscrepancyStatus.PENDING, DiscrepancyStatus.OPEN):
            raise NotAllowed(f"the discrepancy is already {locked.status}")
        before = _snapshot(locked)
        cancelled = locked.corrections.filter(status=CorrectionStatus.PROPOSED).update(
            status=CorrectionStatus.CANCELLED, decided_at=timezone.now()
        )
        locked.status = DiscrepancyStatus.CLOSED
        locked.resolved_at = timezone.now()
        locked.resolved_by = actor
        locked.resolution_note = reason.strip()
        locked.save()
        record_audit(
            actor=actor,
            action="reconciliation.discrepancy_closed",
            target=locked,
            reason=reason,
            before=before,
            after={**_snapshot(locked), "corrections_cancelled": cancelled},
        )
    return locked


# --- the ledger's own alarms: a broken hash chain, a refused win reversal ---------------------


def _open_ledger_alarm(**fields) -> Discrepancy:
    """An open discrepancy (never pending: nothing in flight settles these), once per kind and
    ledger row or refused call."""
    now = timezone.now()
    found = Discrepancy.objects.filter(
        kind=fields["kind"],
        status=DiscrepancyStatus.OPEN,
        wallet_id=fields.get("wallet_id"),
        provider_transaction_id=fields.get("provider_transaction_id", ""),
        ledger_transaction_id=fields.get("ledger_transaction_id"),
    ).first()
    if found is not None:
        Discrepancy.objects.filter(pk=found.pk).update(last_seen_at=now)
        return found
    return Discrepancy.objects.create(
        status=DiscrepancyStatus.OPEN, opened_at=now, last_seen_at=now, **fields
    )


def record_refused_reversal(incident) -> Discrepancy:
    """wallets.hooks incident reporter: a provider reversed a win the player no longer has.
    The ledger refused it (never below zero); staff decide what to recover, with the amount."""
    win = (
        Transaction.objects.filter(
            provider_id=incident.provider_id,
            player_id=incident.player_id,
            external_id=incident.reference_external_id,
        )
        .only("pk", "amount_minor", "currency", "created_at")
        .first()
    )
    amount = win.amount_minor if win else None
    return _open_ledger_alarm(
        kind=DiscrepancyKind.WIN_REVERSAL_REFUSED,
        provider_id=incident.provider_id,
        wallet_id=incident.wallet_id,
        ledger_transaction_id=win.pk if win else None,
        provider_transaction_id=incident.external_id[:128],
        round_id=incident.round_id[:128],
        transaction_kind="rollback",
        currency=incident.currency,
        provider_amount_minor=amount,
        wallet_amount_minor=incident.available_minor,
        drift_minor=max((amount or 0) - incident.available_minor, 0),
        occurred_at=timezone.now(),
    )


@dataclass
class LedgerVerification:
    wallets: int = 0
    rows: int = 0
    broken: list[int] = field(default_factory=list)  # each broken wallet's first broken row
    seconds: float = 0.0


_ledger_log = logging.getLogger("pitboss.ledger")
_VERIFY_SQL = "SELECT broken_id, checked, last_id, last_hash FROM pitboss_verify_chain(%s, %s, %s)"


def verify_ledger(
    *, full: bool = False, wallet_ids: list[int] | None = None, progress: Progress | None = None
) -> LedgerVerification:
    """Check every wallet's hash chain (wallets/sql/ledger.sql) and name the first broken row.

    Incremental (the default): each wallet's rows after its checkpoint, for wallets written
    since it; `full`: every wallet from its first row, which must arrive at its checkpoint's
    hash again (a history rewritten behind the checkpoint is caught). A break opens a
    `ledger_tampered` discrepancy naming the row, logged as an error, and leaves the
    checkpoint where it was. Reads only; one wallet at a time, so it never holds locks long."""
    started = time.monotonic()
    checkpoints = {c.wallet_id: c for c in LedgerChainCheckpoint.objects.all()}
    with connection.cursor() as cursor:
        # Incremental: the wallets with a row past their checkpoint (or none yet), found by
        # the ledger's (wallet, id) index, whenever the row's transaction committed.
        cursor.execute(
            """
            SELECT w.id FROM wallets_wallet w
            LEFT JOIN reconciliation_ledgerchaincheckpoint c ON c.wallet_id = w.id
            WHERE (%(ids)s::bigint[] IS NULL OR w.id = ANY(%(ids)s::bigint[]))
              AND (%(full)s OR c.wallet_id IS NULL OR EXISTS (
                    SELECT 1 FROM wallets_transaction t
                    WHERE t.wallet_id = w.id AND t.id > c.last_id))
            ORDER BY w.id
            """,
            {"ids": wallet_ids, "full": full},
        )
        rows = [row[0] for row in cursor.fetchall()]
    outcome = LedgerVerification()
    archived = _archived_chain_ends(rows)
    for done, wallet_id in enumerate(rows, start=1):
        checkpoint = checkpoints.get(wallet_id)
        # Rows of archived partitions are gone: the chain goes on from the last of them, as
        # recorded when they were detached.
        archived_id, archived_hash = archived.get(wallet_id, (0, None))
        after_id, after_hash = archived_id, archived_hash
        if not full and checkpoint is not None and checkpoint.last_id > archived_id:
            after_id, after_hash = checkpoint.last_id, bytes(checkpoint.last_hash or b"") or None
        with connection.cursor() as cursor:
            cursor.execute(_VERIFY_SQL, [wallet_id, after_id, after_hash])
            broken_id, checked, last_id, last_hash = cursor.fetchone()
        outcome.wallets += 1
        outcome.rows += checked
        if (
            broken_id is None
            and full
            and checkpoint is not None
            and checkpoint.last_id > archived_id
            and last_id >= checkpoint.last_id
        ):
            # The full pass must find, at the checkpoint's row, the hash recorded there.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT chain_hash FROM wallets_transaction WHERE id = %s",
                    [checkpoint.last_id],
                )
                found = cursor.fetchone()
            if found is None or bytes(found[0] or b"") != bytes(checkpoint.last_hash or b""):
                broken_id = checkpoint.last_id
        if broken_id is not None:
            outcome.broken.append(broken_id)
            _record_broken_chain(wallet_id, broken_id)
            _ledger_log.error("ledger chain of wallet %s broken at row %s", wallet_id, broken_id)
        elif checked or checkpoint is None:
            LedgerChainCheckpoint.objects.update_or_create(
                wallet_id=wallet_id,
                defaults={
                    "last_id": last_id or 0,
                    "last_hash": last_hash,
                    "rows_verified": (
                        (0 if full or checkpoint is None else checkpoint.rows_verified) + checked
                    ),
                    "verified_at": timezone.now(),
                },
            )
        elif checkpoint is not None:
            LedgerChainCheckpoint.objects.filter(wallet_id=wallet_id).update(
                verified_at=timezone.now()
            )
        if progress:
            progress(done, len(rows))
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome


def _archived_chain_ends(wallet_ids: list[int]) -> dict[int, tuple[int, bytes | None]]:
    """Per wallet, its last row in an archived ledger partition: (id, chain hash)."""
    ends = (
        ArchivedWalletTotal.objects.filter(wallet_id__in=wallet_ids)
        .order_by("wallet_id", "-last_id")
        .distinct("wallet_id")
        .values_list("wallet_id", "last_id", "last_hash")
    )
    return {w: (last_id, bytes(h) if h is not None else None) for w, last_id, h in ends}


def _record_broken_chain(wallet_id: int, row_id: int) -> Discrepancy:
    row = (
        Transaction.objects.filter(pk=row_id)
        .values("provider_id", "external_id", "round_external_id", "kind", "currency",
                "amount_minor", "created_at")
        .first()
    )  # fmt: skip
    return _open_ledger_alarm(
        kind=DiscrepancyKind.LEDGER_TAMPERED,
        provider_id=row["provider_id"] if row else None,
        wallet_id=wallet_id,
        ledger_transaction_id=row_id if row else None,
        provider_transaction_id=(row["external_id"] if row else "")[:128],
        round_id=(row["round_external_id"] if row else "")[:128],
        transaction_kind=row["kind"] if row else "",
        currency=row["currency"] if row else "",
        wallet_amount_minor=row["amount_minor"] if row else None,
        drift_minor=max(row["amount_minor"], 1) if row else 1,
        occurred_at=row["created_at"] if row else timezone.now(),
    )
