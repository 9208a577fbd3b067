"""A process pool that is safe to start from any process, and dies with its parent."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

__all__ = ["available_cores", "process_pool", "solver_threads"]

WATCH_SECONDS = 0.5
"""How often a worker checks that the process that started it is still alive."""


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def solver_threads() -> int:
    """Threads a solver in this process may use: ``IONFLOW_THREADS`` (1 in pool workers), at
    most the cores this process may run on."""
    cores = available_cores()
    try:
        want = int(os.environ.get("IONFLOW_THREADS") or cores)
    except ValueError:  # not a number: ignored
        want = cores
    return max(1, min(want, cores))


def _exit_with_parent() -> None:
    """Worker initializer: end this worker when the process that started it is gone (and run
    the multigrid's kernels on one thread: the pool already has a process per core).

    A parent killed with SIGKILL (or SIGTERM, which skips Python's clean-up) cannot stop its
    workers, and a worker busy with a long solve would otherwise run on for minutes. A daemon
    thread watches the parent id; when the worker is re-parented, it exits at once. (With
    ``forkserver`` the parent is the fork server, which itself exits when the main process
    dies.)
    """
    parent = os.getppid()
    # the pool runs a process per core: the multigrid's kernels take one thread each
    os.environ["IONFLOW_THREADS"] = "1"

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="ionflow-parent-watch", daemon=True).start()


def process_pool(workers: int) -> ProcessPoolExecutor:
    """``ProcessPoolExecutor`` with ``fork`` where that is safe, ``forkserver`` otherwise.

    Forking a process that has started OpenMP/MKL threads (torch does, on import; the numba
    kernels of the 3D multigrid do on their first call) can deadlock the children, so once
    torch or numba is loaded the workers come from a clean fork server instead.
    Every worker exits within :data:`WATCH_SECONDS` of its parent's death.
    """
    threaded = "torch" in sys.modules or "numba" in sys.modules
    method = "forkserver" if threaded else "fork"
    if method not in multiprocessing.get_all_start_methods():
        method = "spawn"
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_exit_with_parent,
    )
