"""Shared pieces of the generators."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._freemem import check_fits
from ..errors import InputError

BYTES_PER_CELL = 32
"""Peak memory of a generator per cell, about: a float64 score or field, the argsort of the
fraction quantile (int64) and the mask (measured 17-29 B/cell at 64^3 for disks, blobs, grf,
lognormal, binder and agglomerates; the fibres' and fitted's are higher, up to 70)."""

_SMALL = 256 * 2**20  # below this estimate, no need to read the free memory


def check_shape(shape: tuple[int, ...] | int, *, memory: bool = True) -> tuple[int, ...]:
    """A 2D or 3D shape of positive ints whose image fits in the memory available.

    Parameters
    ----------
    shape : int or tuple of int
        The shape; an int means a square image.
    memory : bool
        Also check that an image of this shape can be generated here (:func:`check_memory`).

    Raises
    ------
    InputError
        Not 2 or 3 positive sizes.
    ResourceError
        The image would need more memory than this process can still allocate.
    """
    # checked here at run time: callers pass ints, tuples, lists, numpy sizes (a bool, so that
    # numpy's TypeGuard does not narrow ``raw`` to ``generic | str | bytes | ...``)
    raw: Any = shape
    scalar = bool(np.isscalar(raw))
    dims = (int(raw),) * 2 if scalar else tuple(int(n) for n in raw)
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise InputError(f"shape must be 2 or 3 positive sizes, got {dims}")
    if memory:
        check_memory(dims)
    return dims


def check_memory(shape: tuple[int, ...], bytes_per_cell: float = BYTES_PER_CELL) -> None:
    """Refuse, in one line, an image that would need more memory than is available.

    Parameters
    ----------
    shape : tuple of int
        The image's shape (cells).
    bytes_per_cell : float
        Peak memory per cell of the generator (default :data:`BYTES_PER_CELL`).

    Raises
    ------
    ResourceError
        ``image 100000x100000 needs about 298 GiB to generate, 12 GiB available``.
    """
    need = float(np.prod([float(n) for n in shape])) * bytes_per_cell
    check_fits(need, shape, "generate", hint="give a smaller shape", small=_SMALL)


def check_fraction(fraction: float) -> float:
    """An electrolyte fraction in [0, 1] (NaN refused)."""
    if not 0.0 <= fraction <= 1.0:
        raise InputError(f"electrolyte_fraction must lie in [0, 1], got {fraction}")
    return float(fraction)


def top_fraction(score: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the ``round(fraction * size)`` cells with the largest score.

    The achieved fraction is within half a cell of the target, whatever the ties; ties are
    broken by position (deterministic).
    """
    k = int(round(fraction * score.size))
    flat = score.ravel()
    mask = np.zeros(flat.size, dtype=bool)
    if k > 0:
        order = np.argsort(flat, kind="stable")
        mask[order[flat.size - k :]] = True
    return mask.reshape(score.shape)
