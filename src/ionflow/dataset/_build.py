"""Build a labelled dataset in one HDF5 file: parallel, resumable, self-describing.

File layout (``ionflow-dataset`` format 1)::

    /images          uint8 (N, *shape)   1 = electrolyte, 0 = particle
    /labels/<key>    float64 (N,)        every ConductionResult number (inf stored as inf)
    /split           int8 (N,)           index into attrs["split_names"]
    /fraction_target float64 (N,)        the target electrolyte fraction (its class)
    /generator       int8 (N,)           index into config.generators
    /done            bool (N,)           all True (files that older versions built in place
                                         could be partial; such a file is resumed)
    attrs: format, config (JSON), split_names

The file appears only when complete: finished chunks wait in ``<out>.partial/`` (see
``_partial``), so a build killed at any moment, SIGKILL included, leaves nothing unreadable and
loses at most the chunks in flight; rerunning the same command resumes.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from .._pool import process_pool
from ..errors import InputError
from ..generate import generate
from ..generate._common import check_memory
from ..io._write import output_folder
from ..solve import simulate
from ._config import DatasetConfig
from ._partial import PartialBuild, Rows, partial_dir, replace_atomically

if TYPE_CHECKING:
    import h5py

Plan = tuple[np.ndarray, np.ndarray, np.ndarray]  # per row: split, target fraction, generator

__all__ = ["LABEL_KEYS", "build_dataset", "open_dataset", "sample"]

log = logging.getLogger(__name__)

FORMAT = "ionflow-dataset/1"
LABEL_KEYS = (
    "relative_conductivity",
    "current",
    "resistance",
    "conductivity",
    "tortuosity",
    "electrolyte_fraction",
    "percolating_fraction",
    "flux_imbalance",
)


def _plan(cfg: DatasetConfig) -> Plan:
    """Split index, target fraction and generator index of every image (deterministic)."""
    split, frac, gen = [], [], []
    rng = np.random.default_rng([cfg.seed, 2**31 - 1])
    for s, (_, n) in enumerate(cfg.splits):
        split += [s] * n
        if cfg.fraction_range is not None:
            frac += list(rng.uniform(*cfg.fraction_range, size=n))
        else:
            k = len(cfg.fractions)
            frac += [cfg.fractions[i * k // n] for i in range(n)]
        gen += [i % len(cfg.generators) for i in range(n)]
    return np.array(split, np.int8), np.array(frac), np.array(gen, np.int8)


def sample(cfg: DatasetConfig, index: int, fraction: float, generator: int) -> np.ndarray:
    """Image ``index`` of the dataset described by ``cfg`` (reproducible on its own)."""
    kind = cfg.generators[generator]
    options = {}
    if kind in ("disks", "nonoverlapping"):
        options["radius"] = tuple(cfg.radius)
    elif kind == "ellipses":
        options["semi_axes"] = tuple(cfg.radius)
    return generate(
        kind,
        cfg.shape,
        electrolyte_fraction=float(fraction),
        rng=np.random.default_rng([cfg.seed, index]),
        **options,
    )


def _work(
    args: tuple[DatasetConfig, list[tuple[int, float, int]]],
) -> list[tuple[int, np.ndarray, dict]]:
    cfg, items = args
    out = []
    s = cfg.solver
    for index, fraction, generator in items:
        img = sample(cfg, index, fraction, generator)
        if not img.any():
            labels = {k: 0.0 for k in LABEL_KEYS}
            labels.update(resistance=np.inf, tortuosity=np.inf)
        else:
            res = simulate(
                img,
                axis=s.axis,
                voltage=s.voltage,
                conductivity=s.conductivity,
                matrix_conductivity=s.matrix_conductivity,
            )
            labels = {k: float(getattr(res, k)) for k in LABEL_KEYS}
        out.append((index, img.astype(np.uint8), labels))
    return out


def open_dataset(path: str | os.PathLike, mode: str = "r") -> h5py.File:
    """Open an ionflow dataset file with h5py, refusing foreign or corrupt files clearly."""
    import h5py

    path = Path(path)
    if not path.exists():
        hint = ""
        if partial_dir(path).is_dir():
            hint = (
                f" (an unfinished build waits in {partial_dir(path)}: rerun `ionflow dataset` "
                "with the same options to finish it)"
            )
        raise InputError(f"dataset file not found{hint}", source=str(path))
    try:
        f = h5py.File(path, mode)
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", source=str(path)) from None
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise InputError(f"not an ionflow dataset (expected format {FORMAT})", source=str(path))
    return f


def _chunks(todo: np.ndarray, plan: Plan, size: int) -> Iterator[list[tuple[int, float, int]]]:
    _, frac, gen = plan
    for start in range(0, len(todo), size):
        idx = todo[start : start + size]
        yield [(int(i), float(frac[i]), int(gen[i])) for i in idx]


def _as_rows(rows: list[tuple[int, np.ndarray, dict]]) -> Rows:
    return Rows(
        np.array([r[0] for r in rows], np.int64),
        np.stack([r[1] for r in rows]),
        {k: np.array([r[2][k] for r in rows], np.float64) for k in LABEL_KEYS},
    )


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (``kill``, a batch scheduler's time limit) stops the build as Ctrl-C does
    (``KeyboardInterrupt``): workers are stopped and the lock released instead of the process
    vanishing. Finished chunks are on disk either way. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(pool: ProcessPoolExecutor) -> None:
    """End a process pool now, in-flight chunks included (their rows are made again)."""
    pool.shutdown(wait=False, cancel_futures=True)
    stop = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if stop is not None:
        stop()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.kill()  # SIGKILL: a forked worker would take SIGTERM as KeyboardInterrupt


def _import_in_place(f: h5py.File, store: PartialBuild) -> np.ndarray:
    """Rows done in a file that an older ionflow built in place become chunks of ``store``;
    returns which, (size,) bool."""
    done = f["done"][:]
    rows = np.flatnonzero(done)
    for start in range(0, rows.size, 1024):
        idx = rows[start : start + 1024]
        labels = {k: f[f"labels/{k}"][idx] for k in LABEL_KEYS}
        store.add(Rows(idx, f["images"][idx], labels))
    return done


def _assemble(out: Path, store: PartialBuild, cfg: DatasetConfig, plan: Plan) -> None:
    """Write the dataset file from the finished chunks: a temporary file, then a rename."""
    import h5py

    n = cfg.size
    tmp = store.dir / (out.name + ".tmp")
    labels = {k: np.full(n, np.nan) for k in LABEL_KEYS}
    done = np.zeros(n, bool)
    with h5py.File(tmp, "w", rdcc_nbytes=64 * 2**20) as f:
        f.attrs["format"] = FORMAT
        f.attrs["config"] = cfg.to_json()
        f.attrs["split_names"] = [name for name, _ in cfg.splits]
        img_chunk = (min(n, 256), *cfg.shape) if len(cfg.shape) == 2 else (1, *cfg.shape)
        images = f.create_dataset(
            "images",
            (n, *cfg.shape),
            np.uint8,
            chunks=img_chunk,
            compression="gzip",
            compression_opts=1,
            shuffle=True,
        )
        for rows in store.rows():
            images[rows.index] = rows.images
            for key in LABEL_KEYS:
                labels[key][rows.index] = rows.labels[key]
            done[rows.index] = True
        if not done.all():  # a chunk vanished while assembling: nothing is lost, redo it
            raise InputError(
                f"{int((~done).sum())} rows went missing from {store.dir} while assembling; "
                "rerun the same command",
                source=str(out),
            )
        for key in LABEL_KEYS:
            f.create_dataset(f"labels/{key}", data=labels[key])
        f.create_dataset("split", data=plan[0])
        f.create_dataset("fraction_target", data=plan[1])
        f.create_dataset("generator", data=plan[2])
        f.create_dataset("done", data=done)
    replace_atomically(tmp, out)


def build_dataset(
    path: str | os.PathLike,
    config: DatasetConfig | None = None,
    *,
    jobs: int | None = None,
    progress: bool = False,
    chunk: int = 64,
) -> Path:
    """Generate and label a dataset into ``path`` (HDF5), crash-safe and resumable.

    Finished chunks of rows wait in ``<path>.partial/`` (each written atomically) and ``path``
    is written only when every row is done, through a temporary file and a rename: a build
    killed at any moment (SIGKILL included) leaves no unreadable ``path``, and rerunning the
    same command makes only the missing rows. SIGTERM stops it like Ctrl-C
    (``KeyboardInterrupt``), keeping every finished chunk.

    Parameters
    ----------
    path : path
        Output ``.h5`` file. If it exists complete with the same config, nothing is done; with
        another config it is refused. (A file that an older ionflow left incomplete in place
        is resumed.)
    config : DatasetConfig, optional
        Default: the paper's protocol.
    jobs : int, optional
        Worker processes (default: all cores).
    progress : bool
        A progress bar on stderr.
    chunk : int
        Images per task; an interruption loses at most the chunks in flight.

    Returns
    -------
    Path
        ``path``, complete.
    """
    cfg = config or DatasetConfig()
    path = Path(path)
    if int(chunk) < 1:
        raise InputError(f"chunk must be at least 1 image, got {chunk}", source=str(path))
    check_memory(cfg.shape)  # one image per worker at a time: refused before anything is made
    plan = _plan(cfg)
    n = cfg.size
    store = PartialBuild(path, cfg.to_json(), n, cfg.shape, LABEL_KEYS)
    in_place = path.exists()
    if in_place:
        try:
            f = open_dataset(path)
        except InputError as exc:
            raise InputError(
                f"{exc.reason}; not overwritten: delete it (an older ionflow killed while "
                "building leaves such a file) or choose another file name",
                source=str(path),
            ) from None
        with f:
            if f.attrs["config"] != cfg.to_json():
                raise InputError(
                    "exists with a different configuration; choose another file name",
                    source=str(path),
                )
            if f["done"][:].all():
                if store.dir.is_dir():  # killed between the rename and the clean-up
                    store.remove()
                return path
    output_folder(path.parent)
    with _sigterm_interrupts():
        done = store.open()
        try:
            if in_place and not done.any():
                log.info("%s: resuming a file that an older ionflow built in place", path)
                with open_dataset(path) as f:
                    done |= _import_in_place(f, store)
            todo = np.flatnonzero(~done)
            if len(todo):
                log.info("%s: %d of %d images to make", path, len(todo), n)
                _make(store, cfg, plan, todo, jobs=jobs, progress=progress, chunk=chunk)
            _assemble(path, store, cfg, plan)
        except BaseException:
            store.close()
            raise
        store.remove()
    return path


def _make(
    store: PartialBuild,
    cfg: DatasetConfig,
    plan: Plan,
    todo: np.ndarray,
    *,
    jobs: int | None,
    progress: bool,
    chunk: int,
) -> None:
    """Make the rows ``todo`` in chunks, each written to ``store`` as soon as it is finished."""
    from concurrent.futures import as_completed

    jobs = jobs or os.cpu_count() or 1
    tasks = [(cfg, items) for items in _chunks(todo, plan, chunk)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.size, initial=cfg.size - len(todo), unit="img", desc="dataset")
    kept = cfg.size - len(todo)
    pool = process_pool(min(jobs, len(tasks))) if jobs > 1 and len(tasks) > 1 else None
    finished: Iterator[list[tuple[int, np.ndarray, dict]]]
    try:
        if pool is None:
            finished = map(_work, tasks)
        else:
            futures = [pool.submit(_work, task) for task in tasks]
            finished = (future.result() for future in as_completed(futures))
        for rows in finished:
            store.add(_as_rows(rows))
            kept += len(rows)
            if bar is not None:
                bar.update(len(rows))
    except BaseException as exc:
        if pool is not None:
            _stop(pool)
        if isinstance(exc, KeyboardInterrupt):
            log.warning(
                "%s: stopped; %d of %d images are kept in %s, rerun the same command to go on",
                store.out,
                kept,
                cfg.size,
                store.dir,
            )
        raise
    else:
        if pool is not None:
            pool.shutdown()
    finally:
        if bar is not None:
            bar.close()
