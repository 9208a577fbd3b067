"""Read splits of a dataset file into memory."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ._build import LABEL_KEYS, open_dataset
from ._config import DatasetConfig

__all__ = ["Split", "load_split"]


@dataclass(frozen=True)
class Split:
    """Images and labels of one split.

    Attributes
    ----------
    images : ndarray of uint8, shape (n, *shape)
    labels : dict of str -> ndarray, shape (n,)
    fraction_target : ndarray, shape (n,)
    config : DatasetConfig
    generator : ndarray of str, shape (n,)
        The generator (family) that drew each image.
    """

    images: np.ndarray
    labels: dict[str, np.ndarray]
    fraction_target: np.ndarray
    config: DatasetConfig
    generator: np.ndarray | None = None

    def select(self, keep: np.ndarray) -> Split:
        """The images where the boolean (or index) array ``keep`` selects."""
        return Split(
            self.images[keep],
            {k: v[keep] for k, v in self.labels.items()},
            self.fraction_target[keep],
            self.config,
            None if self.generator is None else self.generator[keep],
        )


def load_split(path: str | os.PathLike, split: str = "train") -> Split:
    """Load one split (``"train"``, ``"val"``, ``"test"`` or ``"all"``) of a complete dataset."""
    with open_dataset(path) as f:
        cfg = DatasetConfig.from_json(f.attrs["config"])
        names = [str(s) for s in f.attrs["split_names"]]
        done = f["done"][:]
        if not done.all():
            raise InputError(
                f"dataset is incomplete ({int(done.sum())} of {done.size} rows); "
                "rerun `ionflow dataset` with the same options to finish it",
                source=str(path),
            )
        if split == "all":
            sel = np.ones(done.size, bool)
        else:
            if split not in names:
                raise InputError(f"no split {split!r} (has {names})", source=str(path))
            sel = f["split"][:] == names.index(split)
        idx = np.flatnonzero(sel)
        images = (
            f["images"][idx[0] : idx[-1] + 1][sel[idx[0] : idx[-1] + 1]]
            if idx.size
            else f["images"][:0]
        )
        labels = {k: f[f"labels/{k}"][:][sel] for k in LABEL_KEYS}
        generator = np.asarray(cfg.generators, dtype=str)[f["generator"][:][sel]]
        return Split(images, labels, f["fraction_target"][:][sel], cfg, generator)
