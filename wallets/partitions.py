"""The ledger's time partitions: monthly RANGE partitions of wallets_transaction on created_at.

- `partition_ledger` turns the plain table into the partitioned one, online (the migration
  wallets 0022 runs it): the old table becomes the first, historic partition without being
  copied or rescanned under an exclusive lock.
- `ensure_ledger_partitions` creates the months ahead (a beat job, and
  `manage.py ledger_partitions`): a bet never waits for a partition, and a shortage of future
  months is logged as an error and reported long before it could.
- `prune_idempotency_keys` deletes idempotency keys past the providers' retry horizon in small
  batches (a beat job).

Partition names: wallets_transaction_history (everything before the first month boundary after
the conversion), then wallets_transaction_pYYYYMM for [month start, next month start) in UTC.
"""

import datetime
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from psycopg import errors

from wallets.sql import reapply_ledger_functions

log = logging.getLogger(__name__)

LEDGER = "wallets_transaction"
HISTORY = "wallets_transaction_history"
# The attached partitions of the ledger and their ranges (start NULL for MINVALUE), read back
# from the catalog, where a partition's bounds are stored as an expression.
PARTITION_RANGES_SQL = f"""
    SELECT c.relname AS name,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                         'FROM \\(''([^'']+)''\\)'))[1]::timestamptz AS starts,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                         'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS ends
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = '{LEDGER}'::regclass AND NOT i.inhdetachpending
"""  # noqa: S608 - the ledger's name, a constant


def partition_max_ids_sql(ranges_sql: str = PARTITION_RANGES_SQL) -> str:
    """SQL of each ledger partition's start ('-infinity' for the first) and the largest id it
    holds (one probe of its primary key; NULL when empty), for partitions given by
    `ranges_sql` (columns starts, ends). Ids come from one sequence: every row written after
    a row has a greater id, whatever time it carries, so "the first partition holding an id
    past X" bounds exactly where rows written after row X can be."""
    return f"""
    SELECT COALESCE(r.starts, '-infinity') AS starts,
           (SELECT MAX(t.id) FROM {LEDGER} t
            WHERE t.created_at >= COALESCE(r.starts, '-infinity') AND t.created_at < r.ends
           ) AS max_id
    FROM ({ranges_sql}) r
    """  # noqa: S608 - the ledger's name and SQL of this module's callers


def read_from_bound(
    cursor, *, bound_sql: str, read_sql: str, params: dict, unbounded_sql: str | None = None
) -> list[tuple]:
    """The rows of `read_sql` run from a bound: the partition start `bound_sql` returns (column
    `since`), taken just before and given to `read_sql` as the literal `%(since)s`, so that the
    planner leaves the older partitions out of its plan. `read_sql` takes the bound again in
    its own snapshot; if a row committed in between moved it back, it returns one row whose
    first column is NULL and the bound is taken again. After a second move, or with no bound
    ('-infinity'), every partition is read: `unbounded_sql`, or `read_sql` from '-infinity'."""
    for _attempt in range(2):
        cursor.execute(f"SELECT since::text FROM ({bound_sql}) b", params)  # noqa: S608 - callers' SQL
        since = cursor.fetchone()[0]  # text: '-infinity' is no datetime
        if since == "-infinity":
            break
        cursor.execute(read_sql, {**params, "since": since})
        rows = cursor.fetchall()
        if not rows or rows[-1][0] is not None:
            return rows
    if unbounded_sql is not None:
        cursor.execute(unbounded_sql, params)
    else:
        cursor.execute(read_sql, {**params, "since": "-infinity"})
    return cursor.fetchall()


# The CHECK that lets the old table be attached without a scan under an exclusive lock.
HISTORY_BOUND = "txn_created_before_partitioning"
# The unique index that becomes the history partition's part of the primary key (id, created_at).
HISTORY_KEY_INDEX = "txn_history_id_created_at"
# Indexes the partitioned ledger has and the plain one had not (Transaction.Meta.indexes):
# built CONCURRENTLY on the old table first, so attaching it builds nothing.
NEW_LEDGER_INDEXES = {
    "txn_by_provider_id": ("(provider_id, external_id, id_scope) WHERE provider_id IS NOT NULL",),
    "txn_by_payment_id": ("(kind, external_id) WHERE provider_id IS NULL",),
}
# The plain table's unique keys: the idempotency table holds them now (IdempotencyKey).
SWITCH_ATTEMPTS = 5
OLD_UNIQUE_KEYS = ("txn_unique_provider_scope_id", "txn_unique_payment_external_id")


def month_start(moment: datetime.datetime) -> datetime.datetime:
    moment = moment.astimezone(datetime.UTC)
    return datetime.datetime(moment.year, moment.month, 1, tzinfo=datetime.UTC)


def add_months(start: datetime.datetime, months: int) -> datetime.datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime.datetime(index // 12, index % 12 + 1, 1, tzinfo=datetime.UTC)


def partition_name(start: datetime.datetime) -> str:
    return f"{LEDGER}_p{start:%Y%m}"


def is_partitioned(cursor) -> bool:
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [LEDGER])
    row = cursor.fetchone()
    return row is not None and row[0] == "p"


# --- the conversion ------------------------------------------------------------------------


@dataclass
class Conversion:
    """What partition_ledger did: the first month boundary, the partitions it made, the locks
    its switch transaction held (relation, mode) and how long that transaction took."""

    boundary: datetime.datetime | None = None
    partitions: list[str] = field(default_factory=list)
    switch_locks: list[tuple[str, str]] = field(default_factory=list)
    switch_seconds: float = 0.0
    already: bool = False


def conversion_boundary(now: datetime.datetime) -> datetime.datetime:
    """The first month boundary the old table's rows must all be before: the next one, or the
    one after when fewer than two days are left (the CHECK below is enforced on inserts from
    the moment it is added: the switch must come before the boundary)."""
    boundary = add_months(month_start(now), 1)
    if boundary - now < datetime.timedelta(days=2):
        boundary = add_months(boundary, 1)
    return boundary


def partition_ledger(*, now=None, months_ahead: int | None = None) -> Conversion:
    """Make wallets_transaction a table partitioned by month of created_at, online.

    Run outside a transaction (autocommit). Steps, and the lock each takes on the old table:
    1. CHECK (created_at < boundary) NOT VALID (ACCESS EXCLUSIVE, catalog only: instant), then
       VALIDATE (SHARE UPDATE EXCLUSIVE: reads and writes go on during the scan).
    2. CREATE [UNIQUE] INDEX CONCURRENTLY for (id, created_at) and the indexes the new parent
       has that the old table lacks (SHARE UPDATE EXCLUSIVE: writes go on).
    3. One short switch transaction (ACCESS EXCLUSIVE on the old table, catalog work only, no
       row is read or copied): drop the foreign keys into the ledger and the old unique keys;
       rename the table to wallets_transaction_history; create the partitioned parent with
       the same columns, defaults, checks, foreign keys, indexes and triggers, its id sequence
       continuing the old one; create the monthly partitions from the boundary; ATTACH the old
       table FOR VALUES FROM (MINVALUE) TO (boundary) (its valid CHECK proves the bound: no
       scan; its indexes and foreign keys match the parent's: none built or revalidated); apply
       the ledger functions and triggers again.
    Idempotent: a ledger already partitioned is left as it is (`already`)."""
    now = now or timezone.now()
    result = Conversion()
    with connection.cursor() as cursor:
        if is_partitioned(cursor):
            result.already = True
            return result
        result.boundary = boundary = conversion_boundary(now)
        # 1. The bound, validated without blocking writes.
        cursor.execute(
            "SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
            [LEDGER, HISTORY_BOUND],
        )
        if cursor.fetchone() is None:
            cursor.execute(
                f"ALTER TABLE {LEDGER} ADD CONSTRAINT {HISTORY_BOUND} "
                f"CHECK (created_at < %s) NOT VALID",
                [boundary],
            )
        else:
            boundary = result.boundary = _existing_bound(cursor)
        cursor.execute(f"ALTER TABLE {LEDGER} VALIDATE CONSTRAINT {HISTORY_BOUND}")
        # 2. The indexes the parent's need, built without blocking writes.
        _index_concurrently(cursor, HISTORY_KEY_INDEX, "UNIQUE", "(id, created_at)")
        for name, (definition,) in NEW_LEDGER_INDEXES.items():
            _index_concurrently(cursor, name, "", definition)

    # 3. The switch: all or nothing. Under load it may meet a bet in a deadlock or wait past
    # its lock timeout; it is then rolled back whole (bets go on) and tried again.
    def switch() -> None:
        started = timezone.now()
        _switch_transaction(result, boundary, months_ahead, now)
        result.switch_seconds = (timezone.now() - started).total_seconds()

    _retried_on_lock(switch, "ledger switch")
    log.info(
        "ledger partitioned at %s; switch transaction %.3f s, locks held: %s",
        boundary,
        result.switch_seconds,
        ", ".join(f"{name} {mode}" for name, mode in result.switch_locks),
    )
    return result


def _switch_transaction(result: Conversion, boundary, months_ahead, now) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '10s'")
        # Every ledger call locks its wallet row first. Holding the wallets in EXCLUSIVE mode
        # (reads go on) lets the calls in flight finish and queues new ones before they take
        # any lock the switch needs (the ledger's, and those its foreign keys take on wallets,
        # sessions and rounds): a call never holds one of them while waiting for the switch,
        # so the two never deadlock.
        cursor.execute("LOCK TABLE wallets_wallet IN EXCLUSIVE MODE")
        cursor.execute(f"LOCK TABLE {LEDGER} IN ACCESS EXCLUSIVE MODE")
        _switch(cursor, boundary)
        months = months_ahead or settings.PITBOSS_LEDGER_PARTITIONS_AHEAD
        result.partitions = [HISTORY, *_create_months(cursor, boundary, months, now)]
        cursor.execute(
            f"ALTER TABLE {LEDGER} ATTACH PARTITION {HISTORY} FOR VALUES FROM (MINVALUE) TO (%s)",
            [boundary],
        )
        # The functions and both triggers (chain, idempotency key) on the parent.
        reapply_ledger_functions(cursor)
        cursor.execute(
            """SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               WHERE l.pid = pg_backend_pid() AND l.granted AND c.relname LIKE %s
               ORDER BY 1, 2""",
            [LEDGER + "%"],
        )
        result.switch_locks = [(name, mode) for name, mode in cursor.fetchall()]


def _existing_bound(cursor) -> datetime.datetime:
    # A conversion interrupted after step 1: its bound stands (it is enforced on inserts).
    cursor.execute(
        """SELECT (regexp_match(pg_get_constraintdef(oid), '''([^'']+)'''))[1]::timestamptz
           FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s""",
        [LEDGER, HISTORY_BOUND],
    )
    return cursor.fetchone()[0]


def _index_valid(cursor, name: str) -> bool | None:
    """Whether the index `name` is valid; None when there is none (an interrupted CREATE INDEX
    CONCURRENTLY leaves it invalid)."""
    cursor.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s",
        [name],
    )
    row = cursor.fetchone()
    return None if row is None else row[0]


def _index_concurrently(cursor, name: str, unique: str, definition: str) -> None:
    valid = _index_valid(cursor, name)
    if valid:
        return
    if valid is not None:  # left invalid by an interrupted build
        cursor.execute(f"DROP INDEX CONCURRENTLY {name}")
    using = definition.split(" WHERE ")
    where = f" WHERE {using[1]}" if len(using) > 1 else ""
    cursor.execute(f"CREATE {unique} INDEX CONCURRENTLY {name} ON {LEDGER} {using[0]}{where}")


def add_ledger_index(name: str, definition: str) -> list[str]:
    """Give the partitioned ledger the index `name` (`definition`: its columns and an optional
    WHERE, as for CREATE INDEX), online; returns the partitions whose index it built.

    Run outside a transaction (autocommit). Steps:
    1. CREATE INDEX ... ON ONLY the parent: catalog only, the index is invalid until every
       partition has its part. Partitions created from then on get theirs with them.
    2. For each partition without its part: CREATE INDEX CONCURRENTLY (SHARE UPDATE EXCLUSIVE
       on that partition: bets go on), then ALTER INDEX ... ATTACH PARTITION. After the last,
       PostgreSQL marks the parent's index valid.
    Resumable: a run interrupted half-way leaves the parts attached so far; a part left
    invalid by an interrupted build is dropped and built again."""
    built = []
    with connection.cursor() as cursor:
        _with_lock_retry(cursor, f"CREATE INDEX IF NOT EXISTS {name} ON ONLY {LEDGER} {definition}")
        cursor.execute(
            f"""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = '{LEDGER}'::regclass
                  AND NOT EXISTS (
                      SELECT 1 FROM pg_index x JOIN pg_inherits xi ON xi.inhrelid = x.indexrelid
                      WHERE x.indrelid = c.oid AND xi.inhparent = %s::regclass)
                ORDER BY c.relname""",  # noqa: S608 - the ledger's name, a constant
            [name],
        )
        for (partition,) in cursor.fetchall():
            part = f"{partition}_{name}"[:63]
            valid = _index_valid(cursor, part)
            if valid is False:  # left invalid by an interrupted build
                cursor.execute(f"DROP INDEX CONCURRENTLY {part}")
            if not valid:
                cursor.execute(f"CREATE INDEX CONCURRENTLY {part} ON {partition} {definition}")
                built.append(partition)
            cursor.execute(f"ALTER INDEX {name} ATTACH PARTITION {part}")
        if not _index_valid(cursor, name):
            raise RuntimeError(f"the ledger's index {name} is still invalid after its build")
    log.info("ledger index %s built on %s partition(s)", name, len(built))
    return built


def _with_lock_retry(cursor, sql: str) -> None:
    """Run a statement that takes a short lock on the ledger under a lock timeout: waiting
    behind a long transaction would queue every bet behind it."""

    def run() -> None:
        with transaction.atomic():
            cursor.execute("SET LOCAL lock_timeout = '5s'")
            cursor.execute(sql)

    _retried_on_lock(run, sql.split(" ON ")[0])


def _retried_on_lock(run, what: str) -> None:
    """Call `run` (one transaction); when it is rolled back by a deadlock or its lock timeout,
    call it again, up to SWITCH_ATTEMPTS times in all, waiting a little longer each time."""
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        try:
            run()
            return
        except OperationalError as error:
            if attempt == SWITCH_ATTEMPTS or not isinstance(
                error.__cause__, (errors.DeadlockDetected, errors.LockNotAvailable)
            ):
                raise
            log.warning("%s: attempt %s rolled back (%s); trying again", what, attempt, error)
            time.sleep(attempt)


def _switch(cursor, boundary: datetime.datetime) -> None:
    table = f"'{LEDGER}'::regclass"
    # Foreign keys into the ledger (the models declare them db_constraint=False; a key of
    # another app not yet changed is dropped here) and the ledger's own reference.
    cursor.execute(
        f"SELECT conrelid::regclass::text, conname FROM pg_constraint "  # noqa: S608 - constants
        f"WHERE confrelid = {table} AND contype = 'f'"
    )
    for relation, name in cursor.fetchall():
        log.warning("dropping foreign key %s on %s (the ledger is partitioned)", name, relation)
        cursor.execute(f'ALTER TABLE {relation} DROP CONSTRAINT "{name}"')
    for name in OLD_UNIQUE_KEYS:  # unique indexes (partial: not constraints)
        cursor.execute(f"DROP INDEX IF EXISTS {name}")
    cursor.execute(f"DROP TRIGGER IF EXISTS pitboss_chain ON {LEDGER}")
    cursor.execute(f"DROP TRIGGER IF EXISTS pitboss_key ON {LEDGER}")
    cursor.execute(f"DROP TRIGGER IF EXISTS pitboss_key_gone ON {LEDGER}")
    # What the parent copies: indexes (but the primary key), checks, foreign keys.
    cursor.execute(
        f"""SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = {table} AND NOT i.indisunique
            ORDER BY c.relname"""  # noqa: S608 - names: this module's constants or checked partition names
    )
    indexes = cursor.fetchall()
    cursor.execute(
        f"""SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = {table} AND contype IN ('c', 'f') AND conname <> %s
            ORDER BY conname""",  # noqa: S608 - names: this module's constants or checked partition names
        [HISTORY_BOUND],
    )
    constraints = cursor.fetchall()
    # The id sequence: the old identity's goes with its table; the parent's continues it.
    cursor.execute(f"SELECT pg_get_serial_sequence('{LEDGER}', 'id')")
    (sequence,) = cursor.fetchone()
    cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 - names: this module's constants or checked partition names
    last_value, is_called = cursor.fetchone()

    cursor.execute(f"ALTER TABLE {LEDGER} RENAME TO {HISTORY}")
    # Its primary key (id) gives way to (id, created_at) on the unique index built beforehand
    # (catalog only): attaching matches a primary key only to a primary key.
    cursor.execute(f"ALTER TABLE {HISTORY} DROP CONSTRAINT {LEDGER}_pkey")
    cursor.execute(
        f"ALTER TABLE {HISTORY} ADD CONSTRAINT {HISTORY}_pkey "
        f"PRIMARY KEY USING INDEX {HISTORY_KEY_INDEX}"
    )
    for name, _ in indexes:
        cursor.execute(f"ALTER INDEX {name} RENAME TO {_history_name(name)}")
    cursor.execute(f"ALTER TABLE {HISTORY} ALTER COLUMN id DROP IDENTITY IF EXISTS")
    cursor.execute(f"ALTER TABLE {HISTORY} ALTER COLUMN id DROP DEFAULT")

    cursor.execute(
        f"CREATE TABLE {LEDGER} (LIKE {HISTORY} INCLUDING DEFAULTS INCLUDING STORAGE) "
        f"PARTITION BY RANGE (created_at)"
    )
    cursor.execute(f"CREATE SEQUENCE {LEDGER}_id_seq OWNED BY {LEDGER}.id")
    cursor.execute("SELECT setval(%s, %s, %s)", [f"{LEDGER}_id_seq", last_value, is_called])
    cursor.execute(f"ALTER TABLE {LEDGER} ALTER COLUMN id SET DEFAULT nextval('{LEDGER}_id_seq')")
    cursor.execute(
        f"ALTER TABLE {LEDGER} ADD CONSTRAINT {LEDGER}_pkey PRIMARY KEY (id, created_at)"
    )
    for name, _kind, definition in constraints:
        cursor.execute(f'ALTER TABLE {LEDGER} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        # pg_get_indexdef named the table by its old name: the parent's now.
        cursor.execute(definition)


def _history_name(name: str) -> str:
    return f"{name[:50]}_history"


# --- months ahead ----------------------------------------------------------------------------


@dataclass
class PartitionStatus:
    created: list[str]
    future_months: int  # partitions starting after the current month
    last_bound: datetime.datetime | None

    @property
    def short(self) -> bool:
        return self.future_months < 2


def _create_months(cursor, first: datetime.datetime, months: int, now) -> list[str]:
    """Create the monthly partitions from `first` until `months` months after the current
    one are covered; returns the names created."""
    created = []
    start = first
    last_needed = add_months(month_start(now), months + 1)
    while start < last_needed:
        name = partition_name(start)
        cursor.execute("SELECT to_regclass(%s)", [name])
        if cursor.fetchone()[0] is None:
            cursor.execute(
                f"CREATE TABLE {name} PARTITION OF {LEDGER} FOR VALUES FROM (%s) TO (%s)",
                [start, add_months(start, 1)],
            )
            created.append(name)
        start = add_months(start, 1)
    return created


def ledger_upper_bound(cursor) -> datetime.datetime | None:
    """The end of the last attached partition's range."""
    cursor.execute(f"SELECT max(ends) FROM ({PARTITION_RANGES_SQL}) p")  # noqa: S608 - constant
    return cursor.fetchone()[0]


def ensure_ledger_partitions(*, months_ahead: int | None = None, now=None) -> PartitionStatus:
    """Create the ledger's monthly partitions so that the current month and `months_ahead`
    after it (settings.PITBOSS_LEDGER_PARTITIONS_AHEAD) exist. Creating a partition of a
    partitioned table takes a SHARE UPDATE EXCLUSIVE lock on the parent: bets go on. Logs an
    error (and reports `short`) when fewer than two future months exist after it ran."""
    now = now or timezone.now()
    months = months_ahead or settings.PITBOSS_LEDGER_PARTITIONS_AHEAD
    with transaction.atomic(), connection.cursor() as cursor:
        if not is_partitioned(cursor):
            raise RuntimeError("the ledger is not partitioned (migrate wallets first)")
        cursor.execute("SET LOCAL lock_timeout = '10s'")
        upper = ledger_upper_bound(cursor)
        first = upper if upper is not None else month_start(now)
        created = _create_months(cursor, first, months, now)
        upper = ledger_upper_bound(cursor)
    status = PartitionStatus(
        created=created,
        future_months=_months_between(add_months(month_start(now), 1), upper),
        last_bound=upper,
    )
    if status.short:
        log.error(
            "ledger partitions: only %s future month(s) ready (up to %s)",
            status.future_months,
            upper,
        )
    return status


@dataclass
class Partition:
    name: str
    bounds: str  # as PostgreSQL prints them
    estimated_rows: int  # the planner's figure (reltuples), not a count
    size: str


def partition_list() -> list[Partition]:
    """The ledger's attached partitions, oldest first (catalog reads only)."""
    with connection.cursor() as cursor:
        if not is_partitioned(cursor):
            return []
        cursor.execute(
            f"""SELECT c.relname, pg_get_expr(c.relpartbound, c.oid),
                       GREATEST(c.reltuples, 0)::bigint,
                       pg_size_pretty(pg_total_relation_size(c.oid))
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = '{LEDGER}'::regclass
                ORDER BY c.relname = '{HISTORY}' DESC, c.relname"""  # noqa: S608 - names: this module's constants or checked partition names
        )
        return [Partition(*row) for row in cursor.fetchall()]


def future_months(*, now=None) -> int:
    """How many whole months after the current one the ledger's partitions cover (the metric
    pitboss_ledger_future_partitions; below 2 is an error of the partition job)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        if not is_partitioned(cursor):
            return 0
        return _months_between(add_months(month_start(now), 1), ledger_upper_bound(cursor))


def _months_between(start: datetime.datetime, end: datetime.datetime | None) -> int:
    if end is None or end <= start:
        return 0
    return (end.year - start.year) * 12 + end.month - start.month


# --- idempotency keys past the horizon -------------------------------------------------------


def prune_idempotency_keys(*, batch_size: int = 10_000, now=None) -> int:
    """Delete idempotency keys (and remembered bet refusals) older than the providers' retry
    horizon (settings.PITBOSS_RETRY_HORIZON_DAYS), `batch_size` keys per statement, each in its
    own transaction: short locks, no long delete. Keys are walked in transaction id order (the
    order they were written in, so oldest first) and the walk stops at the first batch that
    reaches the horizon: each batch reads only the index entries it looks at. Returns the
    number of keys deleted."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.PITBOSS_RETRY_HORIZON_DAYS)
    deleted, after = 0, 0
    with connection.cursor() as cursor:
        while True:
            with transaction.atomic():
                cursor.execute(
                    """WITH batch AS (
                           SELECT transaction_id, created_at FROM wallets_idempotencykey
                           WHERE transaction_id > %s ORDER BY transaction_id LIMIT %s),
                       gone AS (
                           DELETE FROM wallets_idempotencykey k USING batch
                           WHERE k.transaction_id = batch.transaction_id
                             AND batch.created_at < %s
                           RETURNING 1)
                       SELECT (SELECT count(*) FROM batch), (SELECT max(transaction_id) FROM batch),
                              (SELECT count(*) FROM gone)""",
                    [after, batch_size, cutoff],
                )
                looked, last, gone = cursor.fetchone()
            deleted += gone
            if looked < batch_size or gone < looked:
                break  # the end, or the horizon reached
            after = last
        with transaction.atomic():
            cursor.execute("DELETE FROM wallets_betrefusal WHERE created_at < %s", [cutoff])
    return deleted


# --- archive: detach, export, verify, drop ---------------------------------------------------


class ArchiveRefused(Exception):
    """A partition that may not be archived (or dropped) now; the message says why."""


def _attached_partitions(cursor) -> list[tuple[str, datetime.datetime | None, datetime.datetime]]:
    """(name, range start or None for MINVALUE, range end) of the attached partitions, oldest
    first."""
    cursor.execute(f"SELECT name, starts, ends FROM ({PARTITION_RANGES_SQL}) p ORDER BY ends")  # noqa: S608 - constant
    return cursor.fetchall()


def archive_partition(name: str, *, now=None):
    """Detach the oldest ledger partition `name`, once all of it is older than the providers'
    retry horizon, and export it with proof (wallets.models.LedgerArchive):

    1. Refused (ArchiveRefused, nothing changed) unless `name` is the oldest attached partition
       (archives are a prefix of every wallet's history), its range ends before now - horizon,
       and none of its rows is still held (a decision would change it).
    2. Per wallet, what its rows carry forward (ArchivedWalletTotal: settled sum, count, last
       row's id and chain hash), in one statement, before the partition leaves: full
       reconciliation and hash-chain verification start from these afterwards.
    3. ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY (SHARE UPDATE EXCLUSIVE on the parent:
       bets go on; the detach waits for queries that may read it).
    4. COPY of the table, ordered by id, as CSV with a header, to
       settings.PITBOSS_LEDGER_ARCHIVE_DIR/<name>.csv: its SHA-256 computed while writing; its
       row count and per-currency sums taken from the table.
    5. Verification (verify_archive): the file read back must hash the same and add up to the
       same count and sums. Only a verified archive may be dropped (drop_archived_partition).
    Resumable: a partition detached earlier (with its archive row) goes on from step 4."""
    from wallets.models import LedgerArchive

    now = now or timezone.now()
    horizon = now - datetime.timedelta(days=settings.PITBOSS_RETRY_HORIZON_DAYS)
    archive = LedgerArchive.objects.filter(partition=name).first()
    if archive is None:
        with connection.cursor() as cursor:
            attached = _attached_partitions(cursor)
            names = [row[0] for row in attached]
            if name not in names:
                raise ArchiveRefused(f"{name} is not a partition of the ledger")
            if names[0] != name:
                raise ArchiveRefused(
                    f"{name} is not the oldest partition ({names[0]} is): archive in order"
                )
            _, range_from, range_to = attached[0]
            if range_to > horizon:
                raise ArchiveRefused(
                    f"{name} ends {range_to:%Y-%m-%d %H:%M} UTC, inside the retry horizon "
                    f"({settings.PITBOSS_RETRY_HORIZON_DAYS} days): not before "
                    f"{range_to + (now - horizon):%Y-%m-%d %H:%M} UTC"
                )
            if len(names) < 2:
                raise ArchiveRefused("the ledger's only partition cannot be archived")
        with transaction.atomic(), connection.cursor() as cursor:
            # No row of it may change any more: rows held wait for a decision.
            cursor.execute(f"LOCK TABLE {name} IN SHARE MODE")
            cursor.execute(f"SELECT count(*) FROM {name} WHERE status = 'held'")  # noqa: S608 - names: this module's constants or checked partition names
            (held,) = cursor.fetchone()
            if held:
                raise ArchiveRefused(f"{name} holds {held} held transaction(s): decide them first")
            archive = LedgerArchive.objects.create(
                partition=name, range_from=range_from, range_to=range_to, detached_at=now
            )
            cursor.execute(
                f"""INSERT INTO wallets_archivedwallettotal
                        (archive_id, wallet_id, rows, settled_minor, last_id, last_hash)
                    SELECT %s, wallet_id, count(*),
                           COALESCE(sum(delta_minor) FILTER (
                               WHERE status IN ('posted', 'rolled_back')), 0),
                           max(id), (array_agg(chain_hash ORDER BY id DESC))[1]
                    FROM {name} GROUP BY wallet_id""",  # noqa: S608 - names: this module's constants or checked partition names
                [archive.pk],
            )
            # Its keys are past the horizon: gone with it (the daily prune would take them).
            cursor.execute("DELETE FROM wallets_idempotencykey WHERE created_at < %s", [range_to])
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {LEDGER} DETACH PARTITION {name} CONCURRENTLY")
        archive.detached_at = timezone.now()
        archive.save(update_fields=["detached_at"])
    else:
        _finish_detach(name)
    if archive.exported_at is None:
        _export(archive)
    if archive.verified_at is None:
        verify_archive(archive)
    return archive


def _finish_detach(name: str) -> None:
    # A DETACH ... CONCURRENTLY interrupted half-way leaves the partition "detach pending".
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(%s)", [name]
        )
        row = cursor.fetchone()
        if row is not None and row[0]:
            cursor.execute(f"ALTER TABLE {LEDGER} DETACH PARTITION {name} FINALIZE")
        elif row is not None:
            cursor.execute(f"ALTER TABLE {LEDGER} DETACH PARTITION {name} CONCURRENTLY")


def _archive_path(archive) -> Path:
    folder = Path(settings.PITBOSS_LEDGER_ARCHIVE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{archive.partition}.csv"


def _table_figures(name: str) -> tuple[int, dict]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT currency, count(*), sum(delta_minor), sum(amount_minor) FROM {name}
                GROUP BY currency ORDER BY currency"""  # noqa: S608 - names: this module's constants or checked partition names
        )
        sums = {
            currency: {"rows": rows, "delta_minor": int(delta), "amount_minor": int(amount)}
            for currency, rows, delta, amount in cursor.fetchall()
        }
    return sum(s["rows"] for s in sums.values()), sums


def _export(archive) -> None:
    import hashlib

    path = _archive_path(archive)
    digest = hashlib.sha256()
    partial = path.with_suffix(".csv.partial")
    with connection.cursor() as cursor, partial.open("wb") as out:
        with cursor.cursor.copy(
            f"COPY (SELECT * FROM {archive.partition} ORDER BY id) "  # noqa: S608 - checked name
            f"TO STDOUT WITH (FORMAT csv, HEADER)"
        ) as copy:
            for chunk in copy:
                data = bytes(chunk)
                digest.update(data)
                out.write(data)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    archive.rows, archive.sums = _table_figures(archive.partition)
    archive.file = str(path)
    archive.sha256 = digest.hexdigest()
    archive.exported_at = timezone.now()
    archive.save(update_fields=["rows", "sums", "file", "sha256", "exported_at"])


def _file_sha256(path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_figures(path) -> tuple[int, dict]:
    """Row count and per-currency sums of an export, read back (ValueError if unreadable)."""
    import csv

    sums: dict[str, dict[str, int]] = {}
    rows = 0
    with open(path, newline="", encoding="utf-8") as text:
        for record in csv.DictReader(text):
            rows += 1
            figures = sums.setdefault(
                record["currency"], {"rows": 0, "delta_minor": 0, "amount_minor": 0}
            )
            figures["rows"] += 1
            figures["delta_minor"] += int(record["delta_minor"])
            figures["amount_minor"] += int(record["amount_minor"])
    return rows, dict(sorted(sums.items()))


def verify_archive(archive) -> None:
    """Read the export back: its SHA-256, row count and per-currency sums must be what was
    recorded when it was written (ArchiveRefused otherwise; `verified_at` stays empty)."""
    try:
        sha256 = _file_sha256(archive.file)
        if sha256 != archive.sha256:
            raise ArchiveRefused(f"{archive.file}: SHA-256 {sha256}, recorded {archive.sha256}")
        rows, sums = _file_figures(archive.file)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ArchiveRefused(f"{archive.file}: cannot be read back ({error})") from error
    if rows != archive.rows or sums != archive.sums:
        raise ArchiveRefused(
            f"{archive.file}: {rows} rows {sums}, recorded {archive.rows} rows {archive.sums}"
        )
    archive.verified_at = timezone.now()
    archive.save(update_fields=["verified_at"])


def drop_archived_partition(name: str):
    """Drop a detached partition whose export was verified and still hashes the same."""
    from wallets.models import LedgerArchive

    archive = LedgerArchive.objects.filter(partition=name).first()
    if archive is None or archive.verified_at is None:
        raise ArchiveRefused(f"{name} has no verified archive: archive it first")
    if archive.dropped_at is not None:
        raise ArchiveRefused(f"{name} was dropped already")
    verify_archive(archive)  # the file, again, as it is now
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(%s)", [name])
        if cursor.fetchone() is not None:
            raise ArchiveRefused(f"{name} is still attached to the ledger")
        cursor.execute(f"DROP TABLE {name}")
        archive.dropped_at = timezone.now()
        archive.save(update_fields=["dropped_at"])
    return archive
