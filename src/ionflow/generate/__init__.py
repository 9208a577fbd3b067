"""Seeded microstructure generators (2D and 3D); numpy/scipy only.

Every generator takes ``shape``, a keyword-only ``electrolyte_fraction`` and ``rng`` and returns
a boolean array with True = electrolyte, exact to within one cell of the target fraction.
"""

from collections.abc import Callable
from typing import Any

import numpy as np

from ._families import agglomerates, anisotropic, binder, binder_labels, fibres, grf, lognormal
from ._fields import blobs
from ._fit import fit_statistics, fitted, mean_chord_lengths
from ._particles import disks, ellipses, nonoverlapping_disks

GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "disks": disks,
    "nonoverlapping": nonoverlapping_disks,
    "ellipses": ellipses,
    "blobs": blobs,
    "lognormal": lognormal,
    "anisotropic": anisotropic,
    "fibres": fibres,
    "agglomerates": agglomerates,
    "binder": binder,
    "grf": grf,
    "fitted": fitted,
}

__all__ = [
    "GENERATORS",
    "agglomerates",
    "anisotropic",
    "binder",
    "binder_labels",
    "blobs",
    "disks",
    "ellipses",
    "fibres",
    "fit_statistics",
    "fitted",
    "generate",
    "grf",
    "lognormal",
    "mean_chord_lengths",
    "nonoverlapping_disks",
]


def generate(
    kind: str,
    shape: tuple[int, ...] | int,
    *,
    electrolyte_fraction: float,
    rng: int | np.random.Generator | None = None,
    **options: Any,
) -> np.ndarray:
    """Call the generator named ``kind`` (one of :data:`GENERATORS`).

    Parameters
    ----------
    kind : str
        A key of :data:`GENERATORS`, e.g. ``"disks"`` or ``"grf"``.
    shape : int or tuple of int
        Image shape (cells), 2D or 3D.
    electrolyte_fraction : float
        Target fraction of electrolyte (True) cells.
    rng : int or numpy Generator, optional
        Seed or generator.
    **options
        Keyword options of that generator (see its docstring).

    Returns
    -------
    ndarray
        The generator's image, bool, shape ``shape``: True = electrolyte.
    """
    from ..errors import InputError

    try:
        fn = GENERATORS[kind]
    except KeyError:
        raise InputError(f"unknown generator {kind!r}; choose from {sorted(GENERATORS)}") from None
    return fn(shape, electrolyte_fraction=electrolyte_fraction, rng=rng, **options)
