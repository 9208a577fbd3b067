"""Many solves: a local process pool, or a Dask distributed cluster when given one.

Each input is solved independently; an input that fails yields an :class:`Outcome` with an
``error`` message and never stops the others. Outcomes come back in input order, as soon as
each is ready, so a caller can write them out as they arrive.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._pool import process_pool
from ..errors import IonflowError
from ._result import ConductionResult
from ._simulate import simulate

__all__ = ["Outcome", "simulate_many"]


@dataclass(frozen=True)
class Outcome:
    """One input's result, or the one-line reason it has none."""

    index: int
    source: str
    result: ConductionResult | None = None
    error: str | None = None


def _source(item: Any, index: int) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"<array {index}>"


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
    except IonflowError as exc:
        msg = str(exc)
        return Outcome(index, source, error=msg if msg.startswith(source) else f"{source}: {msg}")
    except MemoryError:
        return Outcome(index, source, error=f"{source}: out of memory while solving")
    except Exception as exc:  # noqa: BLE001 - one bad input must not lose the batch
        return Outcome(index, source, error=f"{source}: unexpected {type(exc).__name__}: {exc}")


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
    jobs = jobs or os.cpu_count() or 1
    workers = jobs if scheduler is None else 8
    if chunksize is None:
        chunksize = max(1, min(64, n // (workers * 4) or 1))
    tasks = [
        ([(i, inputs[i]) for i in range(start, min(n, start + chunksize))], loader, options)
        for start in range(0, n, chunksize)
    ]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="img", desc="simulate", leave=False)
    try:
        for chunk in _run(tasks, jobs=jobs, scheduler=scheduler):
            for outcome in chunk:
                if bar is not None:
                    bar.update(1)
                yield outcome
    finally:
        if bar is not None:
            bar.close()


def _run(tasks: list, *, jobs: int, scheduler: Any) -> Iterator[list[Outcome]]:
    if scheduler is not None:
        yield from _run_dask(tasks, scheduler)
    elif jobs == 1 or len(tasks) <= 1:
        for task in tasks:
            yield _chunk(task)
    else:
        with process_pool(min(jobs, len(tasks))) as pool:
            yield from pool.map(_chunk, tasks)


def _run_dask(tasks: list, scheduler: Any) -> Iterator[list[Outcome]]:
    try:
        from dask.distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise IonflowError(
            "a Dask scheduler was given but dask.distributed is not installed "
            "(pip install 'ionflow[dask]')"
        ) from exc
    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        futures = client.map(_chunk, tasks, pure=False)
        for future in futures:
            yield future.result()
    finally:
        if own:
            client.close()
