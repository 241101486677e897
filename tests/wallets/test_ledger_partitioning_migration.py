"""The online migration to the partitioned ledger (wallets 0021 idempotency keys, 0022 the
partitioned table), run on a seeded 200,000-row plain ledger in a database of its own, while
bets are being placed:

- every row of the old ledger is there afterwards, unchanged (a digest of every row's
  content), with the same counts and per-currency sums; the old table became the historic
  partition with its indexes reused (none rebuilt) and every one attached to the parent's;
- the keys of the rows inside the retry horizon were copied: a retried bet is a duplicate,
  another payload under its id a mismatch, a second row under its key is refused by the
  database; a rollback of a bet older than the horizon (no key) still finds and refunds it;
- the hash chain still verifies (`manage.py verify_ledger --full`), and a bet / win / rollback
  round works after; every bet placed during the migration was booked (or refused for
  funds), none failed;
- the lock levels of the switch transaction are reported (and written to the log).
"""

import datetime
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from bench import ledger_scale
from bench.common import admin_connect, recreate_database
from wallets.sql import DROP_FUNCTIONS_SQL

ROOT = Path(__file__).resolve().parents[2]
ROWS = 200_000
PLAYERS = 2_000
# One per pytest-xdist worker: the module's tests may be spread over workers, each of which
# then makes the seeded database for its share (with one name, each dropped it under the other).
DATABASE = f"pitboss_partitioning_migration_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
BEFORE_PARTITIONING = "0020_payment_fingerprint_index"
BEFORE_FUNCTIONS = ROOT / "wallets" / "migrations" / "ledger_before_0021.sql"


def _server_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/postgres"


def _manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "PITBOSS_ENV": "development"}
    env.pop("DATABASE_REPLICA_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _figures(conn, max_id: int) -> dict:
    """What must not change: counts, sums per currency and status, a digest of every row."""
    return {
        "rows": conn.execute(
            "SELECT count(*) FROM wallets_transaction WHERE id <= %s", [max_id]
        ).fetchone()[0],
        "sums": conn.execute(
            """SELECT currency, status, count(*), sum(delta_minor), sum(amount_minor)
               FROM wallets_transaction WHERE id <= %s GROUP BY 1, 2 ORDER BY 1, 2""",
            [max_id],
        ).fetchall(),
        "digest": conn.execute(
            """SELECT md5(string_agg(md5(t::text), '' ORDER BY t.id))
               FROM (SELECT id, wallet_id, player_id, provider_id, session_id, round_id, kind,
                            status, currency, amount_minor, delta_minor, reserved_used_minor,
                            balance_after_minor, external_id, id_scope, reference_id,
                            reference_external_id, created_at, chain_hash
                     FROM wallets_transaction WHERE id <= %s) t""",
            [max_id],
        ).fetchone()[0],
    }


def _bet(conn, session: tuple, external_id: str, amount: int, round_id: str):
    session_id, wallet_id, provider_id = session
    return conn.execute(
        """SELECT outcome, detail, txn_id FROM pitboss_bet(%s, %s, %s, NULL, NULL, %s, false,
               %s, %s, 'EUR', '', NULL, false, NULL, 'test', 0)""",
        [provider_id, session_id, wallet_id, external_id, round_id, amount],
    ).fetchone()


class BetsDuringMigration(threading.Thread):
    """Bets on open sessions in a loop, each in autocommit (as the wallet API sends them)."""

    def __init__(self, url: str, sessions: list[tuple]):
        super().__init__(daemon=True)
        self.url, self.sessions = url, sessions
        self.stop = threading.Event()
        self.outcomes: dict[str, int] = {}
        self.errors: list[str] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            n = 0
            while not self.stop.is_set():
                session = self.sessions[n % len(self.sessions)]
                try:
                    outcome = _bet(conn, session, f"online-{n}", 1, f"online-round-{n}")[0]
                    self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                except psycopg.Error as error:
                    self.errors.append(str(error).splitlines()[0])
                n += 1
                time.sleep(0.002)


@pytest.fixture(scope="module")
def migrated():
    url = recreate_database(_server_url(), DATABASE)
    try:
        done = _manage(url, "migrate", "wallets", BEFORE_PARTITIONING, "-v", "0")
        assert done.returncode == 0, done.stderr
        with psycopg.connect(url, autocommit=True) as conn:
            # A database migrated to 0018 back then had the functions of that time (the
            # migrations apply the current ledger.sql, which needs the key table of 0021).
            with conn.transaction():
                conn.execute(DROP_FUNCTIONS_SQL)
                conn.execute(BEFORE_FUNCTIONS.read_text())
            for _label, statement in ledger_scale._sql(ROWS, PLAYERS):
                conn.execute(statement)
            for table in ("wallets_transaction", "wallets_round", "wallets_gamesession"):
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            conn.execute("VACUUM ANALYZE")
            max_id = conn.execute("SELECT max(id) FROM wallets_transaction").fetchone()[0]
            before = _figures(conn, max_id)
            covering = conn.execute(
                "SELECT relfilenode FROM pg_class WHERE relname = 'txn_by_wallet_covering'"
            ).fetchone()[0]
            sessions = conn.execute(
                """SELECT s.id, s.wallet_id, s.provider_id FROM wallets_gamesession s
                   JOIN wallets_player p ON p.id = s.player_id
                   WHERE s.status = 'open' AND p.status = 'active' ORDER BY s.id LIMIT 40"""
            ).fetchall()
        bets = BetsDuringMigration(url, sessions)
        bets.start()
        done = _manage(url, "migrate", "-v", "1")
        bets.stop.set()
        bets.join(timeout=30)
        assert done.returncode == 0, done.stderr[-3000:]
        yield {
            "url": url,
            "max_id": max_id,
            "before": before,
            "covering": covering,
            "sessions": sessions,
            "bets": bets,
            "log": done.stdout + done.stderr,
        }
    finally:
        with admin_connect(_server_url()) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [DATABASE],
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')


def test_the_old_rows_are_all_there_unchanged(migrated):
    with psycopg.connect(migrated["url"], autocommit=True) as conn:
        assert migrated["before"]["rows"] == ROWS
        assert _figures(conn, migrated["max_id"]) == migrated["before"]
        kind = conn.execute(
            "SELECT relkind FROM pg_class WHERE relname = 'wallets_transaction'"
        ).fetchone()[0]
        assert kind == "p"
        partitions = [
            row[0]
            for row in conn.execute(
                """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = 'wallets_transaction'::regclass ORDER BY 1"""
            )
        ]
        assert partitions[0] == "wallets_transaction_history"
        assert len(partitions) == 4  # the history and three months ahead
        # Every old row sits in the historic partition (it was attached, not copied).
        in_history = conn.execute(
            "SELECT count(*) FROM wallets_transaction_history WHERE id <= %s",
            [migrated["max_id"]],
        ).fetchone()[0]
        assert in_history == ROWS


def test_the_old_table_indexes_were_reused_not_rebuilt(migrated):
    with psycopg.connect(migrated["url"], autocommit=True) as conn:
        covering = conn.execute(
            "SELECT relfilenode FROM pg_class WHERE relname = 'txn_by_wallet_covering_history'"
        ).fetchone()[0]
        assert covering == migrated["covering"]
        unattached = conn.execute(
            """SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
               WHERE x.indrelid = 'wallets_transaction_history'::regclass
                 AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = x.indexrelid)"""
        ).fetchall()
        assert unattached == []


def test_an_index_added_after_partitioning_was_built_on_every_partition(migrated):
    # wallets 0025 (the rare kinds' index) ran on the partitioned ledger while bets went on.
    with psycopg.connect(migrated["url"], autocommit=True) as conn:
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'txn_rare_kinds'::regclass"
        ).fetchone()[0]
        assert valid
        without = conn.execute(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'wallets_transaction'::regclass
                 AND NOT EXISTS (
                     SELECT 1 FROM pg_index x JOIN pg_inherits xi ON xi.inhrelid = x.indexrelid
                     WHERE x.indrelid = c.oid AND x.indisvalid
                       AND xi.inhparent = 'txn_rare_kinds'::regclass)"""
        ).fetchall()
        assert without == []
    assert "ledger index txn_rare_kinds built on" in migrated["log"]


def test_the_switch_locks_are_reported(migrated):
    line = re.search(r"ledger partitioned at .*locks held: (.*)", migrated["log"])
    assert line, migrated["log"][-2000:]
    locks = line.group(1)
    # The one exclusive lock: the old table's, for catalog work only.
    assert "wallets_transaction_history AccessExclusiveLock" in locks


def test_bets_went_on_during_the_migration(migrated):
    bets = migrated["bets"]
    # Every migration that applies ledger.sql again replaces the functions in place, the
    # ledger's lock taken first, and the switch queues calls at the wallet lock: a bet placed
    # at any instant of the migration is booked (or refused for funds), none fails.
    assert bets.errors == []
    assert bets.outcomes.get("OK", 0) > 0
    assert set(bets.outcomes) <= {"OK", "INSUFFICIENT_FUNDS"}
    with psycopg.connect(migrated["url"], autocommit=True) as conn:
        booked = conn.execute(
            "SELECT count(*) FROM wallets_transaction WHERE external_id LIKE 'online-%%'"
        ).fetchone()[0]
        keys = conn.execute(
            "SELECT count(*) FROM wallets_idempotencykey WHERE external_id LIKE 'online-%%'"
        ).fetchone()[0]
    assert booked == keys == bets.outcomes["OK"]


def test_the_recent_keys_were_copied_and_are_enforced(migrated):
    with psycopg.connect(migrated["url"], autocommit=True) as conn:
        horizon = conn.execute(
            """SELECT count(*) FROM wallets_transaction
               WHERE id <= %s AND created_at >= now() - interval '30 days'""",
            [migrated["max_id"]],
        ).fetchone()[0]
        copied = conn.execute(
            "SELECT count(*) FROM wallets_idempotencykey WHERE transaction_id <= %s",
            [migrated["max_id"]],
        ).fetchone()[0]
        # Batches are whole id ranges: a few rows just past the horizon may be copied too.
        assert horizon <= copied <= horizon + 50_000
        assert horizon > 10_000
        bet = conn.execute(
            """SELECT t.id, t.provider_id, t.session_id, t.wallet_id, t.external_id,
                      t.amount_minor, t.round_external_id
               FROM wallets_transaction t
               WHERE t.kind = 'bet' AND t.status = 'posted' AND t.id <= %s
                 AND t.created_at >= now() - interval '10 days'
               ORDER BY t.id LIMIT 1""",
            [migrated["max_id"]],
        ).fetchone()
        row_id, provider_id, session_id, wallet_id, external_id, amount, round_id = bet
        session = (session_id, wallet_id, provider_id)
        rows_before = conn.execute("SELECT count(*) FROM wallets_transaction").fetchone()[0]
        assert _bet(conn, session, external_id, amount, round_id)[::2] == ("DUPLICATE", row_id)
        outcome, detail, _ = _bet(conn, session, external_id, amount + 1, round_id)
        assert (outcome, detail) == ("DUPLICATE_MISMATCH", "amount_minor")
        assert conn.execute("SELECT count(*) FROM wallets_transaction").fetchone()[0] == (
            rows_before
        )
        with pytest.raises(psycopg.errors.UniqueViolation, match="txn_unique_key_provider"):
            conn.execute(
                """INSERT INTO wallets_transaction (wallet_id, player_id, provider_id, kind,
                       status, currency, amount_minor, delta_minor, reserved_used_minor,
                       balance_after_minor, external_id, round_external_id,
                       reference_external_id, game_id, request_id, processing_us,
                       lock_wait_us, note, created_at)
                   SELECT wallet_id, player_id, provider_id, 'win', 'posted', 'EUR', 0, 0, 0,
                          balance_after_minor, external_id, '', '', '', '', 0, 0, '', now()
                   FROM wallets_transaction WHERE id = %s""",
                [row_id],
            )


def test_a_rollback_finds_a_bet_older_than_the_horizon(migrated):
    """Its key was never copied (past the horizon): the ledger's own index finds it. Its round
    paid a win, so the rollback is refused BET_SETTLED; an unknown bet would have left a
    tombstone instead."""
    with psycopg.connect(migrated["url"], autocommit=True) as conn:
        old = conn.execute(
            """SELECT t.provider_id, t.player_id, t.wallet_id, t.external_id,
                      t.round_external_id
               FROM wallets_transaction t
               WHERE t.kind = 'bet' AND t.status = 'posted'
                 AND t.created_at < now() - interval '60 days'
                 AND NOT EXISTS (SELECT 1 FROM wallets_idempotencykey k
                                 WHERE k.transaction_id = t.id)
                 AND EXISTS (SELECT 1 FROM wallets_transaction w
                             WHERE w.round_id = t.round_id AND w.kind = 'win')
               ORDER BY t.id LIMIT 1"""
        ).fetchone()
        provider_id, player_id, wallet_id, external_id, round_id = old

        def rollback(reference: str, own_id: str):
            return conn.execute(
                """SELECT outcome, detail FROM pitboss_rollback(%s, NULL, %s, %s, %s, '',
                       false, %s, %s, false, NULL, 'test', 0)""",
                [provider_id, player_id, wallet_id, own_id, reference, round_id],
            ).fetchone()

        assert rollback(external_id, "late-rb-1")[0] == "BET_SETTLED"
        assert rollback("never-seen", "late-rb-2") == ("OK", "tombstone")


def test_a_round_after_the_migration_and_the_ledger_adds_up(migrated):
    with psycopg.connect(migrated["url"], autocommit=True) as conn:
        session = migrated["sessions"][0]
        session_id, wallet_id, provider_id = session
        assert _bet(conn, session, "after-bet-1", 500, "after-round-1")[0] == "OK"
        win = conn.execute(
            """SELECT outcome FROM pitboss_win(%s, %s, %s, NULL, NULL, 'after-win-1', false,
                   'after-round-1', 1200, 'EUR', true, 'after-bet-1', NULL, false, false, '',
                   false, NULL, 'test', 0)""",
            [provider_id, session_id, wallet_id],
        ).fetchone()
        assert win == ("OK",)
        assert _bet(conn, session, "after-bet-2", 300, "after-round-2")[0] == "OK"
        player_id = conn.execute(
            "SELECT player_id FROM wallets_gamesession WHERE id = %s", [session_id]
        ).fetchone()[0]
        rollback = conn.execute(
            """SELECT outcome FROM pitboss_rollback(%s, %s, %s, %s, 'after-rb-1', '', false,
                   'after-bet-2', 'after-round-2', false, NULL, 'test', 0)""",
            [provider_id, session_id, player_id, wallet_id],
        ).fetchone()
        assert rollback == ("OK",)
        rows = conn.execute(
            """SELECT kind, status, tableoid::regclass::text FROM wallets_transaction
               WHERE external_id LIKE 'after-%%' ORDER BY id"""
        ).fetchall()
        today = datetime.datetime.now(datetime.UTC)
        expected = "wallets_transaction_history"  # until the month boundary after migrating
        assert [r[2] for r in rows] == [expected] * 4, today
        assert [r[:2] for r in rows] == [
            ("bet", "posted"),
            ("win", "posted"),
            ("bet", "rolled_back"),
            ("rollback", "posted"),
        ]
        drift = conn.execute(
            """SELECT count(*) FROM wallets_wallet w
               WHERE w.balance_minor <> (
                   SELECT COALESCE(sum(delta_minor) FILTER (
                       WHERE status IN ('posted', 'rolled_back')
                          OR (status = 'held' AND delta_minor > 0)), 0)
                   FROM wallets_transaction t WHERE t.wallet_id = w.id)"""
        ).fetchone()[0]
        assert drift == 0


def test_the_hash_chain_still_verifies(migrated):
    # After the rows written above (module order): the new rows chain onto the old ones.
    done = _manage(migrated["url"], "verify_ledger", "--full")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert re.search(r"[1-9]\d* rows verified .*; 0 broken", done.stdout), done.stdout
