"""wallets.lifecycle: work registered with at_exit runs once when a process ends normally, also
in a worker forked by multiprocessing (as the web server's are), which skips atexit."""

import atexit
import multiprocessing
from pathlib import Path

from wallets import lifecycle


def _child(marker: str, register) -> None:
    def write() -> None:
        with open(marker, "a") as file:
            file.write("ran\n")

    register(write)


def _run_forked_child(marker: Path, register) -> None:
    child = multiprocessing.get_context("fork").Process(target=_child, args=(str(marker), register))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0


def test_at_exit_runs_once_in_a_forked_worker(tmp_path):
    marker = tmp_path / "at_exit"
    _run_forked_child(marker, lifecycle.at_exit)
    assert marker.read_text() == "ran\n"


def test_plain_atexit_would_not_run_there(tmp_path):
    """Why at_exit exists: the same child with atexit alone loses the work."""
    marker = tmp_path / "atexit"
    _run_forked_child(marker, atexit.register)
    assert not marker.exists()
