"""A real Celery worker (prefork, one child) on a Redis server of the test's own, against a
database of its own, under faults:

- the pool child SIGKILLed in the middle of the session cleanup: the task is acks_late and
  reject_on_worker_lost, so the worker requeues it and runs it again, which finishes the job;
- the whole worker (parent and child) SIGKILLed in the middle of the job: the message is kept
  unacknowledged in Redis (not lost), and the job's next run after a restart completes it;
- Redis stopped while the worker runs and jobs are queued, then started again: the worker
  reconnects and jobs sent after Redis is back are executed.

Every session is ended exactly once (each released reservation leaves `reserved` once: the ledger
invariant of every wallet holds, balances are unchanged, the sessions that were not idle stay open
with their reservations).
"""

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import psycopg
import pytest
from celery import Celery, shared_task

from tests.reliability import servers

TASK = "tests.reliability.slow_cleanup"
IDLE = 200
ACTIVE = 3
FUNDS = 100_00
BUY_IN = 10_00


@shared_task(name=TASK, ignore_result=True)
def slow_cleanup(batch_size: int = 1, triggered_by: str = "test") -> int:
    """The cleanup job in batches of one session, so that it takes a while (imported by the
    worker with -I)."""
    from wallets import services

    return services.run_session_cleanup(
        batch_size=batch_size, time_budget_seconds=600, triggered_by=triggered_by
    ).sessions_ended


_SEED = """
import json, sys
import django
django.setup()
from django.db import connection
from wallets import ledger, services
spec = json.loads(sys.argv[1])
provider, _ = services.create_provider(code="celprov", name="Celery", currencies=["EUR"])
ids = []
for i in range(spec["idle"] + spec["active"]):
    player = services.create_player(external_id=f"cel-{i}", currency="EUR")
    ledger.deposit(player=player, currency="EUR", amount_minor=spec["funds"],
                   external_id=f"cel-seed-{i}")
    session, _ = ledger.open_session(player=player, provider=provider, currency="EUR",
                                     game_id="slot-1", buy_in_minor=spec["buy_in"])
    ids.append(session.pk)
with connection.cursor() as cursor:
    cursor.execute(
        "UPDATE wallets_gamesession SET last_activity_at = now() - interval '2 days' "
        "WHERE id = ANY(%s)", [ids[: spec["idle"]]])
print(json.dumps(ids))
"""


def seed(env: dict) -> list[int]:
    spec = json.dumps({"idle": IDLE, "active": ACTIVE, "funds": FUNDS, "buy_in": BUY_IN})
    done = subprocess.run(
        [servers.PYTHON, "-c", _SEED, spec],
        cwd=servers.ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"seeding failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


class Worker:
    """`celery -A config worker` with the prefork pool and one child."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log: Path | None = None

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        self.log = self.log_dir / f"worker-{self.starts}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(Path(servers.PYTHON).with_name("celery")), "-A", "config", "worker",
                    "--pool", "prefork", "--concurrency", "1", "-I", __name__,
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-n", f"rel{os.getpid()}-{self.starts}@localhost", "-l", "info",
                ],
                cwd=servers.ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        servers.wait_for(lambda: " ready." in self.text() or self.proc.poll() is not None,
                         timeout, f"celery worker ready (log {self.log})")  # fmt: skip
        assert self.proc.poll() is None, self.text()[-3000:]

    def text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")
        return ""

    def children(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                        pids.append(int(entry.name))
        return pids

    def kill_child(self) -> None:
        children = servers.wait_for(self.children, 10, "the pool child")
        for pid in children:
            os.kill(pid, signal.SIGKILL)

    def kill_all(self) -> None:
        if self.proc is None:
            return
        children = self.children()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        children = self.children()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None


def sender(redis_url: str) -> Celery:
    app = Celery("rel-sender", broker=redis_url)
    app.conf.broker_connection_timeout = 2
    app.conf.broker_connection_retry_on_startup = False
    return app


def send(app: Celery, triggered_by: str, **options) -> None:
    app.send_task(
        TASK,
        kwargs={"batch_size": 1, "triggered_by": triggered_by},
        retry=True,
        retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.2},
        **options,
    )


def query(url: str, sql: str, *params):
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def open_count(url: str, ids: list[int]) -> int:
    return query(
        url, "SELECT count(*) FROM wallets_gamesession WHERE status = 'open' AND id = ANY(%s)", ids
    )[0][0]


def runs(url: str, triggered_by: str) -> list[tuple]:
    return query(
        url,
        "SELECT id, finished_at IS NOT NULL, sessions_ended FROM wallets_sessioncleanuprun "
        "WHERE triggered_by = %s ORDER BY id",
        triggered_by,
    )


# The job is paused after ending this many sessions, and killed while paused.
ENDED_BEFORE_PAUSE = 100
_PAUSE_KEY = 74_999

# A trigger of this test's own database: once ENDED_BEFORE_PAUSE sessions are ended, the next
# session the job ends waits for an advisory lock that the test holds. The batches before it
# have committed; the paused one has not.
_PAUSE_SQL = f"""
CREATE FUNCTION test_pause_cleanup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM wallets_gamesession WHERE status <> 'open')
            >= {ENDED_BEFORE_PAUSE} THEN
        PERFORM pg_advisory_xact_lock({_PAUSE_KEY});
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_pause_cleanup BEFORE UPDATE OF status ON wallets_gamesession
FOR EACH ROW WHEN (OLD.status = 'open' AND NEW.status <> 'open')
EXECUTE FUNCTION test_pause_cleanup();
"""


@contextlib.contextmanager
def paused_mid_job(url: str):
    """While inside: the cleanup job stops, uncommitted, in the middle of its work (after
    ENDED_BEFORE_PAUSE sessions). Leaving releases it and removes the pause."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_PAUSE_KEY,))
        holder.execute(_PAUSE_SQL)
        try:
            yield holder.info.backend_pid
        finally:
            # The lock first: dropping the trigger waits for the paused transaction to end.
            holder.execute("SELECT pg_advisory_unlock(%s)", (_PAUSE_KEY,))
            holder.execute("DROP TRIGGER test_pause_cleanup ON wallets_gamesession")
            holder.execute("DROP FUNCTION test_pause_cleanup()")


def kill_mid_job(url: str, idle_ids: list[int], holder_pid: int, kill) -> None:
    """Wait until PostgreSQL shows the job paused (waiting for the test's lock), then kill."""

    def paused() -> bool:
        return (
            query(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                holder_pid,
            )[0][0]
            == 1
        )

    servers.wait_for(paused, 120, "the job to reach its pause")
    assert open_count(url, idle_ids) == IDLE - ENDED_BEFORE_PAUSE
    kill()


def assert_everything_ended_once(url: str, ids: list[int], balances_before: dict[int, int]):
    idle_ids, active_ids = ids[:IDLE], ids[IDLE:]
    assert open_count(url, idle_ids) == 0
    assert open_count(url, active_ids) == ACTIVE
    ended = query(
        url,
        "SELECT status, end_reason, reserved_minor, count(*) FROM wallets_gamesession "
        "WHERE id = ANY(%s) GROUP BY 1, 2, 3",
        idle_ids,
    )
    assert ended == [("expired", "idle_timeout", 0, IDLE)]
    # balance == ledger sum, reserved == open sessions' reservations + held amounts
    assert servers.wallet_state(url) == balances_before
    reserved = query(url, "SELECT sum(reserved_minor), count(*) FROM wallets_wallet")[0]
    assert reserved == (ACTIVE * BUY_IN, IDLE + ACTIVE)


@pytest.fixture
def celery_stack(rel_database, tmp_path):
    url, _ = rel_database
    redis = servers.PrivateRedis()
    redis.start()
    env = servers.base_env(url, redis.url, CELERY_BROKER_URL=redis.url)
    worker = Worker(env, tmp_path)
    try:
        yield url, env, redis, worker
    finally:
        worker.stop()
        redis.destroy()


def test_killed_job_is_redelivered_and_a_full_crash_is_completed_by_the_next_run(celery_stack):
    url, env, redis, worker = celery_stack
    ids = seed(env)
    balances = servers.wallet_state(url)
    assert all(balance == FUNDS for balance in balances.values())
    idle_ids = ids[:IDLE]
    app = sender(redis.url)
    worker.start()

    # 1. The pool child dies mid-job: the worker requeues the message (acks_late +
    #    reject_on_worker_lost) and the job runs again by itself, finishing what was left.
    with paused_mid_job(url) as holder_pid:
        send(app, "child-kill")
        kill_mid_job(url, idle_ids, holder_pid, worker.kill_child)
    servers.wait_for(lambda: open_count(url, idle_ids) == 0, 60, "the redelivered job")
    done = servers.wait_for(
        lambda: [r for r in runs(url, "child-kill") if r[1]], 30, "the redelivered run to finish"
    )
    attempts = runs(url, "child-kill")
    assert len(attempts) == 2, attempts  # the killed attempt (unfinished) and the redelivery
    assert not attempts[0][1] and attempts[1][1]
    # The second attempt ended only what the first had left.
    assert done[0][2] == IDLE - ENDED_BEFORE_PAUSE
    assert_everything_ended_once(url, ids, balances)

    # 2. The whole worker dies mid-job (a machine crash): nothing requeues the message at once,
    #    but it is kept unacknowledged in Redis (redelivered after the visibility timeout); the
    #    job's next run (beat's next tick) after the restart completes the work.
    reopened = reopen(url, idle_ids)
    assert reopened == IDLE
    with paused_mid_job(url) as holder_pid:
        send(app, "crash")
        kill_mid_job(url, idle_ids, holder_pid, worker.kill_all)
    unacked = subprocess.run(
        ["redis-cli", "-p", str(redis.port), "HLEN", "unacked"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout.strip()  # fmt: skip
    assert unacked == "1", "the message of the killed job was lost"
    worker.start()
    send(app, "next-run")
    servers.wait_for(
        lambda: [r for r in runs(url, "next-run") if r[1]], 60, "the next run to finish"
    )
    assert_everything_ended_once(url, ids, balances)
    crashed = runs(url, "crash")
    assert len(crashed) == 1 and not crashed[0][1]
    assert runs(url, "next-run")[0][2] == IDLE - ENDED_BEFORE_PAUSE


def reopen(url: str, idle_ids: list[int]) -> int:
    """Put the idle sessions back as they were (open, idle, with their buy-in reserved), the
    wallets' reservations with them, so the second scenario starts from the same state."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute(
            "UPDATE wallets_wallet w SET reserved_minor = w.reserved_minor + %s "
            "FROM wallets_gamesession s WHERE s.wallet_id = w.id AND s.id = ANY(%s)",
            (BUY_IN, idle_ids),
        )
        return conn.execute(
            "UPDATE wallets_gamesession SET status = 'open', ended_at = NULL, "
            "end_reason = '', reserved_minor = %s WHERE id = ANY(%s)",
            (BUY_IN, idle_ids),
        ).rowcount


def test_worker_reconnects_after_redis_restart(celery_stack):
    url, env, redis, worker = celery_stack
    ids = seed_small(env)
    app = sender(redis.url)
    worker.start()
    send(app, "before-outage")
    servers.wait_for(lambda: runs(url, "before-outage") and runs(url, "before-outage")[0][1],
                     30, "a job before the outage")  # fmt: skip

    # Redis goes away while the worker runs: it notices, and lives on.
    redis.stop()
    servers.wait_for(lambda: "Connection to broker lost" in worker.text(), 60,
                     f"the worker to notice the outage (log {worker.log})")  # fmt: skip
    assert worker.proc.poll() is None, "the worker died when Redis went away"
    with pytest.raises(Exception):  # noqa: B017 - kombu raises OperationalError
        send(app, "refused")

    # Redis back on the same port: the worker reconnects by itself and runs new jobs.
    redis.start()  # the same port
    send(app, "after-outage")
    servers.wait_for(lambda: runs(url, "after-outage") and runs(url, "after-outage")[0][1],
                     60, f"a job after Redis came back (log {worker.log})")  # fmt: skip
    assert worker.proc.poll() is None
    assert runs(url, "refused") == []
    assert open_count(url, ids) == 0


def seed_small(env: dict) -> list[int]:
    spec = json.dumps({"idle": 5, "active": 0, "funds": FUNDS, "buy_in": BUY_IN})
    done = subprocess.run(
        [servers.PYTHON, "-c", _SEED, spec],
        cwd=servers.ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"seeding failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])
