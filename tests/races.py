"""Forced interleavings for tests that assert what happens when two calls race.

A race is made to happen, never hoped for: the first call runs in a transaction that is left
open on its own connection; the second starts on another connection, and the first commits only
once PostgreSQL reports the second as blocked by it (pg_blocking_pids, read live from the lock
manager). Whatever the second call does next, it does after it met the first one's uncommitted
write: a row lock, a unique-index entry, an ON CONFLICT arbiter, an advisory lock.

Tests using these need real commits: pytest.mark.django_db(transaction=True).
"""

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

# A guard against a hung test, not a timing assertion: how long the holder waits for the
# racer to queue behind it before the test fails with a clear message.
BLOCK_TIMEOUT_SECONDS = 60


def backend_pid() -> int:
    """This thread's PostgreSQL backend (its own Django connection)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wait_until_blocked_by(waiter_pid: int, holder_pid: int, *, what: str = "the racer") -> None:
    """Poll (on this thread's connection) until `waiter_pid` waits for a lock `holder_pid`
    holds. pg_blocking_pids reads the lock manager as it is now, also inside a transaction."""
    deadline = time.monotonic() + BLOCK_TIMEOUT_SECONDS
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s = ANY(pg_blocking_pids(%s))", [holder_pid, waiter_pid])
            if cursor.fetchone()[0]:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never queued behind the open transaction")
        time.sleep(0.005)


@dataclass
class Raced:
    """What each side of a forced race returned or raised."""

    first: Any = None
    second: Any = None
    second_error: BaseException | None = None


def race_against_open_transaction(
    first: Callable[[], Any], second: Callable[[], Any], *, timeout: float = 120
) -> Raced:
    """Run `first` inside a transaction on one thread, keep that transaction open, run
    `second` on another thread and commit `first` only once `second` is blocked by it.

    `second`'s exception (if any) is captured in `second_error`; any failure of `first` or of
    the choreography fails the test."""
    raced = Raced()
    holder_pid: list[int] = []
    racer_pid: list[int] = []
    first_done, racer_ready = threading.Event(), threading.Event()
    failures: list[str] = []

    def holder():
        try:
            holder_pid.append(backend_pid())
            with transaction.atomic():
                raced.first = first()
                first_done.set()
                if not racer_ready.wait(BLOCK_TIMEOUT_SECONDS):
                    raise AssertionError("the racer thread never started")
                wait_until_blocked_by(racer_pid[0], holder_pid[0])
        except BaseException:
            failures.append(traceback.format_exc())
        finally:
            first_done.set()
            connection.close()

    def racer():
        try:
            racer_pid.append(backend_pid())
            racer_ready.set()
            if not first_done.wait(BLOCK_TIMEOUT_SECONDS) or failures:
                return
            try:
                raced.second = second()
            except Exception as error:  # the outcome under test
                raced.second_error = error
        except BaseException:
            failures.append(traceback.format_exc())
        finally:
            racer_ready.set()
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=racer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    assert not failures, "\n".join(failures)
    return raced


def run_beside_open_transaction(
    first: Callable[[], Any], second: Callable[[], Any], *, timeout: float = 120
) -> Raced:
    """Run `first` inside a transaction on one thread and keep it open until `second`, on
    another thread, has finished: `second` must never wait for `first` (the test fails at once
    if PostgreSQL shows it blocked by `first`, rather than hanging). Then commit `first`.

    For what must run side by side: a cleanup skipping the rows a call in flight holds, a bet
    beside a session launch of the same player."""
    raced = Raced()
    holder_pid: list[int] = []
    racer_pid: list[int] = []
    first_done, second_done = threading.Event(), threading.Event()
    failures: list[str] = []

    def holder():
        try:
            holder_pid.append(backend_pid())
            with transaction.atomic():
                raced.first = first()
                first_done.set()
                deadline = time.monotonic() + BLOCK_TIMEOUT_SECONDS
                while not second_done.wait(0.005):
                    if racer_pid:
                        with connection.cursor() as cursor:
                            cursor.execute(
                                "SELECT %s = ANY(pg_blocking_pids(%s))",
                                [holder_pid[0], racer_pid[0]],
                            )
                            if cursor.fetchone()[0]:
                                raise AssertionError("the second call waited for the first")
                    if time.monotonic() > deadline:
                        raise AssertionError("the second call never finished")
        except BaseException:
            failures.append(traceback.format_exc())
        finally:
            first_done.set()
            connection.close()

    def racer():
        try:
            pid = backend_pid()
            if not first_done.wait(BLOCK_TIMEOUT_SECONDS) or failures:
                return
            racer_pid.append(pid)
            try:
                raced.second = second()
            except Exception as error:  # the outcome under test
                raced.second_error = error
        except BaseException:
            failures.append(traceback.format_exc())
        finally:
            second_done.set()
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=racer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    assert not failures, "\n".join(failures)
    return raced


class HeldOpen:
    """`with HeldOpen(write):` runs `write` in a transaction on another thread (its own
    connection) and keeps that transaction open for the body of the with-block; it commits on
    leaving it. `.result` is what `write` returned; `.pid` its backend."""

    def __init__(self, write: Callable[[], Any]):
        self.write = write
        self.result: Any = None
        self.pid: int | None = None
        self._written, self._release = threading.Event(), threading.Event()
        self._failures: list[str] = []
        self._thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            self.pid = backend_pid()
            with transaction.atomic():
                self.result = self.write()
                self._written.set()
                if not self._release.wait(BLOCK_TIMEOUT_SECONDS):
                    raise AssertionError("the open transaction was never released")
        except BaseException:
            self._failures.append(traceback.format_exc())
        finally:
            self._written.set()
            connection.close()

    def __enter__(self) -> "HeldOpen":
        self._thread.start()
        assert self._written.wait(BLOCK_TIMEOUT_SECONDS), "the write never happened"
        assert not self._failures, "\n".join(self._failures)
        return self

    def __exit__(self, *exc_info) -> None:
        self._release.set()
        self._thread.join(BLOCK_TIMEOUT_SECONDS)
        assert not self._thread.is_alive(), "the open transaction never committed"
        assert not self._failures, "\n".join(self._failures)
