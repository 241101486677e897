"""Work a process must finish when it ends normally (queued metrics, fraud baselines).

`atexit` alone is not enough: the web server's workers (granian) are processes forked by
multiprocessing, which end with os._exit after running multiprocessing's own finalizers, so
atexit handlers never run in them. `at_exit` registers with both; the function runs once.
"""

import atexit
import multiprocessing.util
import threading
from collections.abc import Callable


def at_exit(function: Callable[[], object]) -> None:
    """Run `function` once when this process ends normally. Call it from the process that must
    run it: in a forked child, multiprocessing forgets the finalizers of its parent."""
    lock = threading.Lock()
    done = False

    def once() -> None:
        nonlocal done
        with lock:
            if done:
                return
            done = True
        function()

    atexit.register(once)
    multiprocessing.util.Finalize(None, once, exitpriority=10)
