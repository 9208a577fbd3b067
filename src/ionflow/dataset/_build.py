"""Build a labelled dataset in one HDF5 file: parallel, resumable, self-describing.

File layout (``ionflow-dataset`` format 1)::

    /images          uint8 (N, *shape)   1 = electrolyte, 0 = particle
    /labels/<key>    float64 (N,)        every ConductionResult number (inf stored as inf)
    /split           int8 (N,)           index into attrs["split_names"]
    /fraction_target float64 (N,)        the target electrolyte fraction (its class)
    /generator       int8 (N,)           index into config.generators
    /done            bool (N,)           rows written; a rerun fills in the rest
    attrs: format, config (JSON), split_names

Interrupting a build loses at most the chunk in flight; rerunning the same command resumes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._pool import process_pool
from ..errors import InputError
from ..generate import generate
from ..solve import simulate
from ._config import DatasetConfig

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


def _plan(cfg: DatasetConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def open_dataset(path: str | os.PathLike, mode: str = "r"):
    """Open an ionflow dataset file with h5py, refusing foreign or corrupt files clearly."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise InputError("dataset file not found", source=str(path))
    try:
        f = h5py.File(path, mode)
    except OSError as exc:
        raise InputError(f"not a readable HDF5 file ({exc})", source=str(path)) from None
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise InputError(f"not an ionflow dataset (expected format {FORMAT})", source=str(path))
    return f


def _chunks(todo: np.ndarray, plan, size: int) -> Iterator[list[tuple[int, float, int]]]:
    _, frac, gen = plan
    for start in range(0, len(todo), size):
        idx = todo[start : start + size]
        yield [(int(i), float(frac[i]), int(gen[i])) for i in idx]


def build_dataset(
    path: str | os.PathLike,
    config: DatasetConfig | None = None,
    *,
    jobs: int | None = None,
    progress: bool = False,
    chunk: int = 64,
) -> Path:
    """Generate and label a dataset into ``path`` (HDF5), resuming a partial file.

    Parameters
    ----------
    path : path
        Output ``.h5`` file. If it exists with the same config, missing rows are added; with
        another config it is refused.
    config : DatasetConfig, optional
        Default: the paper's protocol.
    jobs : int, optional
        Worker processes (default: all cores).
    """
    import h5py

    cfg = config or DatasetConfig()
    path = Path(path)
    plan = _plan(cfg)
    n = cfg.size
    if path.exists():
        f = open_dataset(path, "a")
        if f.attrs["config"] != cfg.to_json():
            f.close()
            raise InputError(
                "exists with a different configuration; choose another file name",
                source=str(path),
            )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(path, "w")
        f.attrs["format"] = FORMAT
        f.attrs["config"] = cfg.to_json()
        f.attrs["split_names"] = [name for name, _ in cfg.splits]
        img_chunk = (min(n, 256), *cfg.shape) if len(cfg.shape) == 2 else (1, *cfg.shape)
        f.create_dataset(
            "images",
            (n, *cfg.shape),
            np.uint8,
            chunks=img_chunk,
            compression="gzip",
            compression_opts=1,
            shuffle=True,
        )
        for key in LABEL_KEYS:
            f.create_dataset(f"labels/{key}", (n,), np.float64, fillvalue=np.nan)
        f.create_dataset("split", data=plan[0])
        f.create_dataset("fraction_target", data=plan[1])
        f.create_dataset("generator", data=plan[2])
        f.create_dataset("done", (n,), bool, fillvalue=False)
    try:
        done = f["done"][:]
        todo = np.flatnonzero(~done)
        if len(todo) == 0:
            return path
        log.info("%s: %d of %d images to make", path, len(todo), n)
        jobs = jobs or os.cpu_count() or 1
        tasks = [(cfg, items) for items in _chunks(todo, plan, chunk)]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, initial=n - len(todo), unit="img", desc="dataset")
        pool = process_pool(jobs) if jobs > 1 else None
        try:
            results = pool.map(_work, tasks) if pool is not None else map(_work, tasks)
            for rows in results:
                idx = np.array([r[0] for r in rows])
                order = np.argsort(idx)
                idx = idx[order]
                f["images"][idx] = np.stack([rows[k][1] for k in order])
                for key in LABEL_KEYS:
                    f[f"labels/{key}"][idx] = [rows[k][2][key] for k in order]
                f["done"][idx] = True
                f.flush()
                if bar is not None:
                    bar.update(len(rows))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    finally:
        f.close()
    return path
