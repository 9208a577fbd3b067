"""Shared pieces of the generators."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError


def check_shape(shape: tuple[int, ...] | int) -> tuple[int, ...]:
    """A 2D or 3D shape of positive ints."""
    # checked here at run time: callers pass ints, tuples, lists, numpy sizes (a bool, so that
    # numpy's TypeGuard does not narrow ``raw`` to ``generic | str | bytes | ...``)
    raw: Any = shape
    scalar = bool(np.isscalar(raw))
    dims = (int(raw),) * 2 if scalar else tuple(int(n) for n in raw)
    if len(dims) not in (2, 3) or min(dims) < 1:
        raise InputError(f"shape must be 2 or 3 positive sizes, got {dims}")
    return dims


def check_fraction(fraction: float) -> float:
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
