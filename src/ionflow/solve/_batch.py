"""Many solves: a local process pool, or a Dask distributed cluster when given one.

Each input is solved independently; an input that fails yields an :class:`Outcome` with an
``error`` message and never stops the others. Outcomes come back in input order, as soon as
each is ready, so a caller can write them out as they arrive.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .._pool import process_pool
from ..errors import InputError, IonflowError
from ._result import ConductionResult
from ._simulate import simulate

__all__ = ["Outcome", "simulate_many"]

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """One input's result, or the one-line reason it has none."""

    index: int
    source: str
    result: ConductionResult | None = None
    error: str | None = None


def _source(item: Any, index: int) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"<array {index}>"


def message(exc: BaseException, source: str) -> str:
    """One line for a failed input, starting with its name."""
    if isinstance(exc, MemoryError) and not isinstance(exc, IonflowError):
        return f"{source}: out of memory while solving"
    if not isinstance(exc, IonflowError):
        return f"{source}: unexpected {type(exc).__name__}: {exc}"
    msg = str(exc)
    return msg if msg.startswith(source) else f"{source}: {msg}"


def _one(index: int, item: Any, loader: Callable | None, options: dict) -> Outcome:
    source = _source(item, index)
    try:
        if isinstance(item, (str, Path)):
            if loader is None:
                raise IonflowError("a file was given but no loader to read it")
            image = loader(item)
        else:
            image = np.asarray(item)
        return Outcome(index, source, simulate(image, source=source, **options))
    except Exception as exc:  # noqa: BLE001 - one bad input must not lose the batch
        return Outcome(index, source, error=message(exc, source))


def _chunk(args: tuple[list[tuple[int, Any]], Callable | None, dict]) -> list[Outcome]:
    items, loader, options = args
    return [_one(i, item, loader, options) for i, item in items]


def simulate_many(
    inputs: Sequence[Any],
    *,
    loader: Callable[[Any], np.ndarray] | None = None,
    jobs: int | None = None,
    scheduler: Any = None,
    chunksize: int | None = None,
    progress: bool = False,
    **options: Any,
) -> Iterator[Outcome]:
    """Solve many images, in parallel, yielding :class:`Outcome` objects in input order.

    Parameters
    ----------
    inputs : sequence
        Arrays, or paths that ``loader`` turns into arrays.
    loader : callable, optional
        ``loader(path) -> ndarray``; must be picklable (a module-level function or a partial).
    jobs : int, optional
        Worker processes for the local pool (default: all cores; 1 runs in this process).
    scheduler : str or dask.distributed.Client, optional
        A Dask scheduler address (``"tcp://host:8786"``) or client; the work then runs on that
        cluster instead of the local pool.
    chunksize : int, optional
        Inputs per task (default: enough tasks to keep every worker busy, at most 64 per task).
    progress : bool
        Show a progress bar (tqdm, on stderr).
    **options
        Passed to :func:`ionflow.simulate` (axis, voltage, conductivity, ...).

    Yields
    ------
    Outcome
        One per input, in input order: its :class:`~ionflow.ConductionResult` or the one-line
        reason it has none.
    """
    n = len(inputs)
    jobs = check_jobs(jobs)
    size = chunksize or default_chunksize(n, jobs, scheduler)
    tasks = [
        ([(i, inputs[i]) for i in range(start, min(n, start + size))], loader, options)
        for start in range(0, n, size)
    ]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="img", desc="simulate", leave=False)
    try:
        for chunk in run_tasks(_chunk, tasks, jobs=jobs, scheduler=scheduler):
            for outcome in chunk:
                if bar is not None:
                    bar.update(1)
                yield outcome
    finally:
        if bar is not None:
            bar.close()


def check_jobs(jobs: int | None) -> int:
    """Worker processes: ``jobs``, or all cores for None or 0; a negative number is refused."""
    if isinstance(jobs, bool) or not isinstance(jobs, (int, type(None))) or (jobs or 0) < 0:
        raise InputError(f"jobs must be a whole number >= 1 (0: all cores), got {jobs}")
    return jobs or os.cpu_count() or 1


def default_chunksize(n: int, jobs: int, scheduler: Any) -> int:
    """Inputs per task: enough tasks to keep every worker busy, at most 64 per task."""
    workers = jobs if scheduler is None else 8
    return max(1, min(64, n // (workers * 4) or 1))


def run_tasks(
    fn: Callable[[Any], T], tasks: list, *, jobs: int, scheduler: Any = None
) -> Iterator[T]:
    """``fn(task)`` for every task, in order: in this process, a local pool or on Dask.

    ``fn`` and the tasks must be picklable. Pool workers exit when this process dies
    (:func:`ionflow._pool.process_pool`).
    """
    if scheduler is not None:
        yield from _run_dask(fn, tasks, scheduler)
    elif jobs == 1 or len(tasks) <= 1:
        for task in tasks:
            yield fn(task)
    else:
        pool = process_pool(min(jobs, len(tasks)))  # its workers start at the first submit
        sigint = _Sigint()
        try:
            sigint.defer()
            with _sigint_blocked():  # the workers start with it blocked: Ctrl-C is ours
                # submit rather than map: map cancels its futures when interrupted, and a
                # pool whose workers are then terminated fails on cancelled futures
                # (InvalidStateError, 3.11)
                futures = [pool.submit(fn, task) for task in tasks]
            for future in futures:
                _wait(future, sigint)
                yield future.result()
        except BaseException:  # interrupted, or the caller stopped early: stop the workers
            # now rather than wait for their current (possibly long) solves, with a second
            # Ctrl-C held off so that it cannot cut the clean-up short
            sigint.defer()
            try:
                _stop(pool)
            finally:
                sigint.restore()
            raise
        pool.shutdown()


_POLL_SECONDS = 0.1
"""How often the main thread, waiting on a worker, looks whether Ctrl-C was pressed."""


class _Sigint:
    """Ctrl-C (SIGINT) held off: while deferred, each one adds to ``count`` instead of
    raising KeyboardInterrupt.

    Only in the main thread, and only where SIGINT has Python's default handler (the one that
    raises KeyboardInterrupt); elsewhere :meth:`defer` changes nothing and ``count`` stays 0.
    """

    def __init__(self) -> None:
        self.count = 0
        self._deferred = False

    def _note(self, signum: int, frame: Any) -> None:
        self.count += 1

    def defer(self) -> None:
        if (
            not self._deferred
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            signal.signal(signal.SIGINT, self._note)
            self._deferred = True

    def restore(self) -> None:
        if self._deferred:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._deferred = False


def _wait(future: Future, sigint: _Sigint) -> None:
    """Wait for ``future``; on Ctrl-C, raise KeyboardInterrupt with SIGINT still deferred.

    Ctrl-C reaches the whole process group, this process and every worker, and a second one
    (``timeout -s INT`` sends two) can come while the first is handled. Raised by the default
    handler, it could cut the pool's clean-up short, leave the pool's thread for the
    interpreter to join at exit, and interrupt that join with a stray traceback. Counted
    instead, it becomes one KeyboardInterrupt here, and later ones wait for the clean-up.
    """
    sigint.defer()
    while not wait([future], timeout=_POLL_SECONDS).done and not sigint.count:
        pass
    if sigint.count:
        raise KeyboardInterrupt
    sigint.restore()


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers of ``pool`` at once, and its manager thread before returning (else
    the interpreter joins that thread at exit, where a Ctrl-C interrupts it with a traceback).

    Its unfinished futures fail as "broken"; nobody waits on them.
    """
    for worker in list((getattr(pool, "_processes", None) or {}).values()):
        worker.terminate()
    pool.shutdown(wait=True)


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread within the block; one that comes is delivered after it.

    Processes forked and threads started here inherit the blocked signal: pool workers that
    start in the block never see Ctrl-C (which reaches the whole process group), so that an
    idle or starting worker does not print a KeyboardInterrupt traceback of its own. This
    process decides: it terminates them (:func:`_stop`), and they exit with it.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _connect(scheduler: Any):
    """A Dask client for an address, or one line saying why there is none."""
    try:
        from dask.distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise IonflowError(
            "a Dask scheduler was given but dask.distributed is not installed "
            "(pip install 'ionflow[dask]')"
        ) from exc
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler), True
    except Exception as exc:  # noqa: BLE001 - an unreachable or malformed address
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IonflowError(f"cannot use the Dask scheduler {scheduler!r}: {detail}") from None


def _run_dask(fn: Callable, tasks: list, scheduler: Any) -> Iterator:
    client, own = _connect(scheduler)
    try:
        futures = client.map(fn, tasks, pure=False)
        for future in futures:
            yield future.result()
    finally:
        if own:
            client.close()
