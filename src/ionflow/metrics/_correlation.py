"""Two-point correlation S2(r) of a phase, by FFT, radially averaged.

Convention: S2(r) = (pairs of voxels a distance r apart with both in the phase) / (all pairs
a distance r apart), pooled over every direction within a shell of width one voxel (the
smallest edge h) around r = 0, h, 2h, ... . Non-periodic (default): the mask is zero-padded
to twice its size, so only pairs with both points inside the image count (the unbiased
estimator; PoreSpy 3 pads the same way but averages per lag instead of pooling pairs).
Periodic: the image is wrapped, every separation has as many pairs as voxels. Per-axis
spacing: separations are physical distances.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ._common import spacing
from ._result import TwoPointCorrelation

__all__ = ["two_point_correlation"]


def _autocorrelation(
    mask: np.ndarray, lags: tuple[int, ...], *, periodic: bool
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Pairs with both points in the phase at every lag |k_i| <= lags[i], and the lags.

    Returns ``(both, ks)``: ``both`` indexed like ``np.ix_(*ks)`` (signed lags along each axis).
    Non-periodic: zero-padded to n_i + lags[i] (enough that no pair wraps around).
    """
    from scipy import fft

    f = mask.astype(np.float64)
    if periodic:
        size = f.shape
    else:
        size = tuple(fft.next_fast_len(n + k, real=True) for n, k in zip(f.shape, lags))
    spectrum = fft.rfftn(f, s=size)
    both = fft.irfftn(spectrum * spectrum.conj(), s=size)
    ks, index = [], []
    for m, k in zip(size, lags):
        k = min(k, m // 2) if periodic else k
        lag = np.arange(-k, k + 1)
        if periodic and 2 * k == m:
            lag = lag[1:]  # lags -m/2 and m/2 are one lag of a wrapped axis of even size
        ks.append(lag)
        index.append(lag % m)
    return np.rint(both[np.ix_(*index)]), tuple(ks)


def two_point_correlation(
    mask: np.ndarray,
    *,
    voxel_size: float | Sequence[float] | None = None,
    periodic: bool = False,
    r_max: float | None = None,
) -> TwoPointCorrelation:
    """S2(r) of ``mask`` (see the module docstring for the estimator).

    Parameters
    ----------
    mask : ndarray of bool, shape (n0, n1) or (n0, n1, n2)
        The phase.
    voxel_size : float or sequence of float, optional
        Voxel edge, one or one per axis (default 1: distances in voxels).
    periodic : bool
        Wrap the image (default False: pairs leaving the image do not count).
    r_max : float, optional
        Largest separation reported (default: half the shortest side of the image).

    Returns
    -------
    TwoPointCorrelation
    """
    mask = np.asarray(mask, dtype=bool)
    h = np.array(spacing(voxel_size, mask.ndim))
    h_min = float(h.min())
    if r_max is None:
        r_max = 0.5 * float(min(n * hh for n, hh in zip(mask.shape, h)))
    if not (math.isfinite(r_max) and r_max >= 0):
        raise InputError(f"r_max must be a length >= 0, got {r_max}")
    lags = tuple(int(math.floor(r_max / hh + 0.5 * h_min / hh + 1e-9)) for hh in h)
    lags = tuple(min(k, n - 1) for k, n in zip(lags, mask.shape))
    both, ks = _autocorrelation(mask, lags, periodic=periodic)
    dist2 = np.zeros(both.shape)
    pairs = np.ones(both.shape)
    for axis, (k, n, hh) in enumerate(zip(ks, mask.shape, h)):
        shape = [1] * both.ndim
        shape[axis] = k.size
        dist2 = dist2 + (k.reshape(shape) * hh) ** 2
        # pairs at lag k along this axis: n (wrapped) or n - |k| (both points inside)
        count = np.full(k.size, float(n)) if periodic else (n - np.abs(k)).astype(float)
        pairs = pairs * count.reshape(shape)
    bins = np.rint(np.sqrt(dist2) / h_min).astype(np.int64).ravel()
    nbins = int(math.floor(r_max / h_min + 1e-9)) + 1
    inside = bins < nbins
    num = np.bincount(bins[inside], weights=both.ravel()[inside], minlength=nbins)
    den = np.bincount(bins[inside], weights=pairs.ravel()[inside], minlength=nbins)
    valid = den > 0
    return TwoPointCorrelation(
        distances=tuple(float(i * h_min) for i in np.flatnonzero(valid)),
        probabilities=tuple(float(v) for v in num[valid] / den[valid]),
        periodic=periodic,
    )
