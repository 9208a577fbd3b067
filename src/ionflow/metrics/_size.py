"""Particle / pore size distribution from the local thickness (maximum inscribed ball).

Convention: a voxel's local thickness is the diameter 2r of the largest ball that lies in the
phase and covers the voxel. The ball radius available at a centre c is the Euclidean distance
from c to the nearest voxel centre of another phase (``distance_transform_edt``, per-axis
spacing honoured; PoreSpy's ``local_thickness`` uses the same distance). For a digitised ball
of radius R (voxel centres within R) that distance is R to within a fraction of a voxel, so
every voxel of the ball reads 2R; a flat layer t voxels thick reads t (t even) or t + 1
(t odd). The image's own faces are not walls: the distance is to other phases only.

Algorithm (Hildebrand & Rüegsegger 1997, on levels, as PoreSpy's ``"dt"`` mode): radii
r_0 < r_1 < ... spaced ``step`` apart; a voxel within r_k of a centre whose distance is at
least r_k gets thickness 2 x (mean distance of the centres in [r_k, r_k+1)); the largest level
wins. One distance transform per level, on the bounding box of that level's centres. Centres
are voxel centres, so a ball whose centre is off the lattice reads small: its best centre is
up to half a voxel from the true one (see ``size_distribution`` for measured values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ._common import spacing
from ._result import SizeDistribution

__all__ = ["local_thickness", "size_distribution"]

MAX_LEVELS = 64
"""Levels beyond this are merged by widening ``step`` (bounds the run time on large pores)."""


def _edt(mask: np.ndarray, h: tuple[float, ...]) -> np.ndarray:
    """Distance (length) from each True voxel to the nearest False voxel centre.

    The ``edt`` package (a PoreSpy dependency) when installed: the same exact Euclidean
    transform, about 6x faster; else ``scipy.ndimage.distance_transform_edt``.
    """
    try:
        import edt
    except ImportError:
        edt = None
    if edt is not None:
        return edt.edt(mask, anisotropy=h, black_border=False, parallel=1)
    from scipy import ndimage

    return ndimage.distance_transform_edt(mask, sampling=h)


def local_thickness(
    mask: np.ndarray,
    *,
    voxel_size: float | Sequence[float] | None = None,
    step: float | None = None,
) -> np.ndarray:
    """Local thickness (diameter, length unit) of every True voxel of ``mask``; 0 elsewhere.

    Parameters
    ----------
    mask : ndarray of bool, shape (n0, n1) or (n0, n1, n2)
        The phase.
    voxel_size : float or sequence of float, optional
        Voxel edge, one or one per axis (default 1: lengths in voxels).
    step : float, optional
        Spacing of the radius levels (default: half the smallest voxel edge, widened so that
        there are at most 64 levels).

    Returns
    -------
    ndarray of float64, same shape as ``mask``
    """
    mask = np.asarray(mask, dtype=bool)
    h = spacing(voxel_size, mask.ndim)
    out = np.zeros(mask.shape)
    if not mask.any():
        return out
    if mask.all():
        raise InputError("local thickness is undefined for a phase that fills the image")
    dist = _edt(mask, h).astype(np.float64, copy=False)
    radii = _levels(dist[mask], min(h), step)
    # Largest level first: a voxel takes the first level whose balls reach it. Only the centres
    # of the level's own band [r_k, r_k+1) are needed (a centre with a larger distance already
    # covered a larger ball), and only within their bounding box grown by r_k. The value is
    # twice the band's mean distance: exact when the band holds one distance (layers, lattice-
    # centred balls), and half a level closer than r_k on average otherwise.
    top = np.inf
    for r in radii[:0:-1]:
        band = mask & (dist >= r - 1e-9) & (dist < top - 1e-9)
        top = r
        where = np.nonzero(band)
        if not where[0].size:
            continue
        box = tuple(
            slice(
                max(int(w.min()) - int(math.ceil(r / hh)) - 1, 0),
                min(int(w.max()) + int(math.ceil(r / hh)) + 2, n),
            )
            for w, hh, n in zip(where, h, mask.shape)
        )
        # Within r of a centre: the distance from the complement of the centres is <= r.
        covered = _edt(~band[box], h) <= r + 1e-9
        sub = out[box]
        sub[covered & mask[box] & (sub == 0)] = 2 * float(dist[band].mean())
    # Every voxel is the centre of its own level's ball: what is left is on the lowest level.
    rest = mask & (out == 0)
    if rest.any():
        out[rest] = 2 * float(dist[mask & (dist < top - 1e-9)].mean())
    return out


def _levels(distances: np.ndarray, h_min: float, step: float | None) -> np.ndarray:
    lo, hi = float(distances.min()), float(distances.max())
    if step is None:
        step = 0.5 * h_min
    if not (math.isfinite(step) and step > 0):
        raise InputError(f"size step must be a positive length, got {step}")
    step = max(step, (hi - lo) / (MAX_LEVELS - 1))
    count = int(math.floor((hi - lo) / step + 1e-9)) + 1
    return lo + step * np.arange(count)


def size_distribution(
    mask: np.ndarray,
    *,
    voxel_size: float | Sequence[float] | None = None,
    step: float | None = None,
) -> SizeDistribution | None:
    """Volume-weighted distribution of the local thickness of ``mask``.

    Parameters
    ----------
    mask : ndarray of bool, shape (n0, n1) or (n0, n1, n2)
        The phase.
    voxel_size : float or sequence of float, optional
        Voxel edge, one or one per axis (default 1: lengths in voxels).
    step : float, optional
        Spacing of the radius levels (see :func:`local_thickness`).

    Returns
    -------
    SizeDistribution or None
        None when the phase is absent.

    Notes
    -----
    See :func:`local_thickness` and :class:`~ionflow.metrics.SizeDistribution`. Measured on
    digitised balls: a ball of radius R centred on a voxel reads twice the distance from its
    centre to the nearest voxel outside, uniformly (R = 5: 2 sqrt(26) = 10.2); flat layers of
    even thickness are exact; balls of radius 3-8 centred off the lattice read 0.8-1.0 voxel
    small in the volume-weighted mean diameter and 0.4-0.6 voxel small in the mode.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    thick = local_thickness(mask, voxel_size=voxel_size, step=step)[mask]
    diameters, counts = np.unique(thick, return_counts=True)
    weights = counts / counts.sum()
    cdf = np.cumsum(weights)

    def quantile(q: float) -> float:
        return float(diameters[min(int(np.searchsorted(cdf, q - 1e-12)), diameters.size - 1)])

    return SizeDistribution(
        diameters=tuple(float(d) for d in diameters),
        volume_fractions=tuple(float(w) for w in weights),
        mean=float(np.dot(diameters, weights)),
        d10=quantile(0.1),
        d50=quantile(0.5),
        d90=quantile(0.9),
    )
