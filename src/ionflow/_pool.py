"""A process pool that is safe to start from any process."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

__all__ = ["process_pool"]


def process_pool(workers: int) -> ProcessPoolExecutor:
    """``ProcessPoolExecutor`` with ``fork`` where that is safe, ``forkserver`` otherwise.

    Forking a process that has started OpenMP/MKL threads (torch does, on import) can deadlock
    the children, so once torch is loaded the workers come from a clean fork server instead.
    """
    method = "forkserver" if "torch" in sys.modules else "fork"
    if method not in multiprocessing.get_all_start_methods():
        method = "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
