"""Percolating, dead-end and isolated shares of a phase, per direction.

Clusters are face-connected (4-connected in 2D, 6-connected in 3D), labelled by the solver's
own :func:`ionflow.solve._clusters.label_face_connected`, so "percolating along axis d" is
exactly the part of a conducting phase that ``ionflow.simulate(..., axis=d)`` keeps.
"""

from __future__ import annotations

import numpy as np

from ..solve._clusters import label_face_connected
from ._result import Percolation

__all__ = ["percolation"]


def percolation(
    mask: np.ndarray, *, axes: tuple[int, ...] | None = None
) -> tuple[Percolation, ...]:
    """Shares of ``mask``'s volume by contact with the two faces normal to each axis.

    Parameters
    ----------
    mask : ndarray of bool, shape (n0, n1) or (n0, n1, n2)
        The phase.
    axes : tuple of int, optional
        Directions to report (default: every axis). One labelling serves all of them.

    Returns
    -------
    tuple of Percolation
        One per axis; fractions of the phase volume (all 0 when the phase is absent).
    """
    mask = np.asarray(mask, dtype=bool)
    axes = tuple(range(mask.ndim)) if axes is None else tuple(a % mask.ndim for a in axes)
    total = int(np.count_nonzero(mask))
    if total == 0:
        return tuple(Percolation(axis=a, percolating=0.0, dead_end=0.0, isolated=0.0) for a in axes)
    labels, count = label_face_connected(mask)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    out = []
    for axis in axes:
        first = np.zeros(count + 1, bool)
        last = np.zeros(count + 1, bool)
        first[np.take(labels, 0, axis=axis)] = True
        last[np.take(labels, -1, axis=axis)] = True
        both = int(sizes[first & last].sum())
        one = int(sizes[first ^ last].sum())
        out.append(
            Percolation(
                axis=axis,
                percolating=both / total,
                dead_end=one / total,
                isolated=(total - both - one) / total,
            )
        )
    return tuple(out)
