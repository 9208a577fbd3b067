"""Statistics of a segmented volume, and a generator that matches them.

:func:`fit_statistics` summarises a two-phase image (JSON-serialisable dict); :func:`fitted`
samples new images with the same electrolyte fraction and the same mean chord length along
every axis (hence the same anisotropy).

The model is a Boolean model of axis-aligned overlapping ellipsoids (the insulating phase) with
log-normal sizes. For a Boolean model the electrolyte chords along axis ``i`` are exponential
with mean ``l_i = E[V] / (E[A_i] * -ln(phi))``, ``A_i`` the particle's shadow perpendicular to
axis ``i`` and ``phi`` the electrolyte fraction. For ellipsoids with semi-axes ``a_i * r``
(``r`` log-normal, median 1, log-sigma ``s``) this gives

    a_i = l_i * -ln(phi) / (c * E[r^d] / E[r^(d-1)]),    c = 4/3 (3D), pi/2 (2D),

so the fitted semi-axes follow from the measured chords in closed form. The mean solid chord
follows from the electrolyte chord and the fraction (phases alternate along a line), so it is
matched too. Approximate: real electrodes are not Boolean models, so higher-order statistics
(two-point correlation shape, connectivity) are not matched; ``log_sigma`` comes from the
local maxima of the solid's distance transform, a rough size spread.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ._common import check_fraction, check_shape
from ._raster import Primitives, boolean_model, draw, ellipsoids

__all__ = ["fit_statistics", "fitted", "mean_chord_lengths"]

_LAGS = (1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64)
_Z = np.linspace(-4.0, 2.5, 131)
_W = np.exp(-0.5 * _Z**2) / np.exp(-0.5 * _Z**2).sum()


def mean_chord_lengths(mask: np.ndarray) -> np.ndarray:
    """Mean length (cells) of the runs of True cells along each axis.

    ``count(True) / count(run starts)``; a run cut by the image face counts as a run (the same
    rule for a source and a generated image). ``inf`` if the phase fills every line, 0 if absent.

    Parameters
    ----------
    mask : ndarray of bool
        2D or 3D image; the runs of True cells are measured.

    Returns
    -------
    ndarray of float, shape (ndim,)
        Mean run length along each axis, in cells.
    """
    mask = np.asarray(mask, dtype=bool)
    total = int(np.count_nonzero(mask))
    out = []
    for d in range(mask.ndim):
        first = np.take(mask, [0], axis=d)
        rest = np.diff(mask.astype(np.int8), axis=d) == 1
        starts = int(np.count_nonzero(first)) + int(np.count_nonzero(rest))
        out.append(total / starts if starts else (math.inf if total else 0.0))
    return np.asarray(out, dtype=float)


def _two_point(mask: np.ndarray) -> dict:
    """S2(r) of the True phase along each axis, and where its normalised form drops below 1/e."""
    phi = float(mask.mean())
    lags = [r for r in _LAGS if r <= max(mask.shape) // 2]
    s2, lengths = [], []
    for d in range(mask.ndim):
        n = mask.shape[d]
        row: list[float | None] = []  # None: lag longer than this axis
        for r in lags:
            if r >= n:
                row.append(None)
                continue
            a = np.take(mask, range(n - r), axis=d)
            b = np.take(mask, range(r, n), axis=d)
            row.append(float(np.count_nonzero(a & b)) / a.size)
        s2.append(row)
        lengths.append(_correlation_length(phi, lags, row))
    return {"lags": lags, "s2": s2, "correlation_length": lengths}


def _correlation_length(phi: float, lags: list[int], row: list[float | None]) -> float | None:
    var = phi - phi * phi
    if var <= 0:
        return None
    prev_r, prev_c = 0.0, 1.0
    for r, v in zip(lags, row):
        if v is None:
            return None
        c = (v - phi * phi) / var
        if c < math.exp(-1.0):
            return prev_r + (prev_c - math.exp(-1.0)) / (prev_c - c) * (r - prev_r)
        prev_r, prev_c = float(r), c
    return None


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def fit_statistics(volume: np.ndarray, conductive: bool = True) -> dict:
    """Summary statistics of a segmented 2D image or 3D volume (a JSON-serialisable dict).

    Parameters
    ----------
    volume : ndarray of bool, 2D or 3D
        Segmented image; e.g. ``labels == 0`` for the pore label of a real electrode.
    conductive : bool
        Which value is the electrolyte (conductive) phase.

    Returns
    -------
    dict
        ``ndim``, ``shape``, ``electrolyte_fraction``; ``mean_chord`` (cells, per axis) of the
        ``electrolyte`` and ``solid`` phases; ``chord_anisotropy`` (largest / smallest mean
        electrolyte chord); ``solid_size`` (``median_radius``, ``log_sigma``, ``count`` of the
        local maxima of the solid's distance transform); ``two_point`` (``lags``, per-axis
        ``s2`` of the electrolyte, ``correlation_length`` where the normalised S2 falls to 1/e).
    """
    vol = np.asarray(volume)
    if vol.dtype != bool:
        if not np.isin(vol, (0, 1)).all():
            raise InputError("fit_statistics needs a two-phase (boolean) image; segment it first")
        vol = vol.astype(bool)
    if vol.ndim not in (2, 3) or min(vol.shape) < 4:
        raise InputError(
            f"fit_statistics needs a 2D or 3D image of >= 4 cells a side, got {vol.shape}"
        )
    elec = vol if conductive else ~vol
    solid = ~elec
    chords_e = mean_chord_lengths(elec)
    chords_s = mean_chord_lengths(solid)
    finite = chords_e[np.isfinite(chords_e) & (chords_e > 0)]
    dist = ndimage.distance_transform_edt(solid)
    peaks = solid & (dist >= 1.0) & (ndimage.maximum_filter(dist, size=3) == dist)
    radii = dist[peaks]
    size: dict[str, float | int | None] = {
        "median_radius": None,
        "log_sigma": None,
        "count": int(radii.size),
    }
    if radii.size:
        logs = np.log(radii)
        size.update(median_radius=float(np.exp(np.median(logs))), log_sigma=float(logs.std()))
    return {
        "ndim": vol.ndim,
        "shape": [int(n) for n in vol.shape],
        "electrolyte_fraction": float(elec.mean()),
        "mean_chord": {
            "electrolyte": [_finite(x) for x in chords_e],
            "solid": [_finite(x) for x in chords_s],
        },
        "chord_anisotropy": _finite(finite.max() / finite.min()) if finite.size else None,
        "solid_size": size,
        "two_point": _two_point(elec),
    }


def _random_stats(rng: np.random.Generator, ndim: int) -> dict:
    return {
        "ndim": ndim,
        "electrolyte_fraction": float(rng.uniform(0.3, 0.7)),
        "mean_chord": {
            "electrolyte": [draw(rng, None, (3.0, 12.0), "", log=True) for _ in range(ndim)]
        },
        "solid_size": {"log_sigma": float(rng.uniform(0.1, 0.5))},
    }


def _model(stats: dict, ndim: int) -> tuple[float, np.ndarray, float]:
    """(source fraction, semi-axis medians per output axis, log-sigma) from ``stats``."""
    try:
        phi = float(stats["electrolyte_fraction"])
        chords = [float(x) for x in stats["mean_chord"]["electrolyte"]]
    except (KeyError, TypeError, ValueError):
        raise InputError(
            "stats must hold 'electrolyte_fraction' and 'mean_chord': {'electrolyte': [...]} "
            "(use fit_statistics)"
        ) from None
    sigma = (stats.get("solid_size") or {}).get("log_sigma")
    sigma = 0.3 if sigma is None else min(max(float(sigma), 0.0), 0.7)
    if not 0.0 < phi < 1.0:
        raise InputError(f"stats electrolyte_fraction must lie in (0, 1) to fit, got {phi}")
    if len(chords) < ndim:
        raise InputError(f"stats are {len(chords)}D; cannot generate a {ndim}D image from them")
    axes = np.asarray(chords[:ndim])  # a 2D image of 3D stats: the plane of axes 0 and 1
    if not np.all(np.isfinite(axes) & (axes > 0)):
        raise InputError(f"stats mean electrolyte chords must be positive and finite, got {axes}")
    r = np.exp(sigma * _Z)
    moment = float((_W * r**ndim).sum() / (_W * r ** (ndim - 1)).sum())
    c = 4.0 / 3.0 if ndim == 3 else math.pi / 2.0
    return phi, axes * -math.log(phi) / (c * moment), sigma


def fitted(
    shape: tuple[int, ...] | int,
    *,
    electrolyte_fraction: float | None = None,
    stats: dict | None = None,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Images whose mean chord lengths match ``stats`` (from :func:`fit_statistics`).

    Parameters
    ----------
    shape : int or tuple of int
        Image shape (cells). A 2D image from 3D statistics uses axes 0 and 1 (the plane that
        holds the through-thickness axis 0).
    electrolyte_fraction : float, optional
        Target fraction; default the measured one. At another fraction the fitted particles
        (sizes and shapes) are kept and only their number changes.
    stats : dict, optional
        Output of :func:`fit_statistics` (only ``electrolyte_fraction``,
        ``mean_chord.electrolyte`` and optionally ``solid_size.log_sigma`` are used). Default:
        random statistics (source fraction 0.3-0.7, chords 3-12 cells per axis, log-sigma
        0.1-0.5), i.e. random axis-aligned triaxial ellipsoids, for datasets that cycle over
        generator names.
    rng : int or numpy Generator, optional
        Seed or generator; the same seed gives the same image.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True = electrolyte.
    """
    shape = check_shape(shape)
    rng = np.random.default_rng(rng)
    ndim = len(shape)
    if stats is None:
        stats = _random_stats(rng, ndim)
    if not isinstance(stats, dict):
        raise InputError(f"stats must be a dict from fit_statistics, got {type(stats).__name__}")
    phi, semi, sigma = _model(stats, ndim)
    fraction = check_fraction(phi if electrolyte_fraction is None else electrolyte_fraction)
    safety = 1.1
    semi = semi * safety ** (1.0 / ndim)  # boolean_model shrinks by ~safety^(-1/ndim)
    eye = np.eye(ndim)

    def sample(g: np.random.Generator, k: int) -> Primitives:
        r = np.exp(sigma * np.clip(g.standard_normal(k), -4.0, 2.5))
        centres = g.uniform(0.0, 1.0, size=(k, ndim)) * np.asarray(shape, dtype=float)
        return ellipsoids(centres, r[:, None] * semi, np.broadcast_to(eye, (k, ndim, ndim)))

    ball = math.pi if ndim == 2 else 4.0 / 3.0 * math.pi
    volume = ball * float(np.prod(semi)) * float((_W * np.exp(sigma * _Z) ** ndim).sum())
    return boolean_model(shape, fraction, rng, sample, volume, safety=safety)
