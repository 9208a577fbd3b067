"""Particles (active material) in an electrolyte matrix.

Every generator returns a boolean array, True = electrolyte (conductive), False = particle. The
electrolyte fraction is exact to within one cell: particles are placed at random, then a
*score* (the distance to the nearest particle centre in units of that particle's radius) is
thresholded at the quantile that gives the target fraction, i.e. all particles are grown or
shrunk by one common factor (the same trick as scikit-image's ``binary_blobs``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import check_fraction, check_shape, top_fraction

__all__ = ["check_radius", "disks", "ellipses", "nonoverlapping_disks", "particle_score"]

_CUTOFF = 1.6  # particles are rasterised out to this many radii (room for the final growth)


def particle_score(
    shape: tuple[int, ...], centres: np.ndarray, transforms: np.ndarray, reach: np.ndarray
) -> np.ndarray:
    """Min over particles of ``|T_k (x - c_k)|``: < 1 inside particle k (at scale 1).

    Parameters
    ----------
    centres : ndarray, shape (k, ndim)
    transforms : ndarray, shape (k, ndim, ndim)
        Maps an offset from the centre to the unit ball (diag(1/semi-axes) @ rotation^T).
    reach : ndarray, shape (k,)
        Largest semi-axis of each particle, in cells (sets the bounding box).
    """
    score = np.full(shape, np.inf)
    ndim = len(shape)
    for c, t, r in zip(centres, transforms, reach):
        lo = np.maximum(np.floor(c - _CUTOFF * r).astype(int), 0)
        hi = np.minimum(np.ceil(c + _CUTOFF * r).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        axes = [np.arange(lo[d], hi[d]) + 0.5 - c[d] for d in range(ndim)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        s = np.linalg.norm(grid @ t.T, axis=-1)
        box = tuple(slice(lo[d], hi[d]) for d in range(ndim))
        np.minimum(score[box], s, out=score[box])
    return score


def check_radius(
    radius: float | tuple[float, float], name: str = "radius"
) -> float | tuple[float, float]:
    """A particle radius in cells, or a ``(min, max)`` range: positive and finite.

    A radius of 0 would divide by the particle volume and an infinite one cover any image.

    Parameters
    ----------
    radius : float or (min, max)
        As given.
    name : str
        The parameter's name, for the message.

    Returns
    -------
    float or (float, float)
        The radius, or the range, as floats.

    Raises
    ------
    InputError
        Not a positive, finite number or a ``0 < min <= max`` range.
    """
    spec: Any = radius  # a number or a (min, max) pair, checked at run time
    if bool(np.isscalar(spec)):  # a bool: numpy's TypeGuard would narrow ``spec`` wrongly
        try:
            r = float(spec)
        except (TypeError, ValueError):
            r = math.nan
        if not (math.isfinite(r) and r > 0):
            raise InputError(f"{name} must be a positive, finite number of cells, got {radius}")
        return r
    try:
        lo, hi = (float(v) for v in spec)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or a (min, max) range, got {radius!r}") from None
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise InputError(f"{name} range must satisfy 0 < min <= max (finite), got {radius}")
    return lo, hi


def _radii(rng: np.random.Generator, radius: float | tuple[float, float], k: int) -> np.ndarray:
    spec = check_radius(radius)
    if isinstance(spec, tuple):
        return rng.uniform(spec[0], spec[1], size=k)
    return np.full(k, spec)


def _random_rotations(rng: np.random.Generator, k: int, ndim: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((k, ndim, ndim)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def _expected_count(shape: tuple[int, ...], solid: float, mean_volume: float) -> int:
    total = float(np.prod(shape))
    solid = min(solid, 0.999)
    return max(1, int(math.ceil(-math.log(1.0 - solid) * total / mean_volume * 1.15)))


def _ball_volume(r: np.ndarray, ndim: int) -> float:
    return float(np.mean(math.pi * r**2 if ndim == 2 else 4.0 / 3.0 * math.pi * r**3))


def disks(
    shape: tuple[int, ...] | int,
    *,
    electrolyte_fraction: float,
    radius: float | tuple[float, float] = (2.0, 7.0),
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Polydisperse overlapping disks (2D) or spheres (3D): the paper's particles.

    Parameters
    ----------
    shape : int or tuple of int
        Image shape (cells); an int means a square image.
    electrolyte_fraction : float
        Target fraction of electrolyte (True) cells, exact to within one cell.
    radius : float or (min, max)
        Particle radius in cells, uniform in [min, max].
    rng : int or numpy Generator, optional
        Seed or generator; the same seed gives the same image.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True = electrolyte.
    """
    radius = check_radius(radius)  # named as the caller knows it, not as ellipses' semi_axes
    return ellipses(
        shape, electrolyte_fraction=electrolyte_fraction, semi_axes=radius, aspect=1.0, rng=rng
    )


def ellipses(
    shape: tuple[int, ...] | int,
    *,
    electrolyte_fraction: float,
    semi_axes: float | tuple[float, float] = (2.0, 7.0),
    aspect: float = 2.5,
    orientation: float | None = None,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Overlapping ellipses (2D) or prolate ellipsoids (3D), aligned or randomly oriented.

    Parameters
    ----------
    shape : int or tuple of int
        Image shape (cells), 2D or 3D; an int means a square image.
    electrolyte_fraction : float
        Target fraction of electrolyte (True) cells.
    semi_axes : float or (min, max)
        Long semi-axis in cells, uniform in [min, max].
    aspect : float
        Long / short semi-axis ratio (1 gives disks/spheres).
    orientation : float, optional
        Angle in degrees of the long axis from axis 0 (the default flow direction), in the plane
        of axes 0 and 1; ``None`` orients every particle at random.
    rng : int or numpy Generator, optional
        Seed or generator; the same seed gives the same image.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True = electrolyte.
    """
    shape = check_shape(shape)
    fraction = check_fraction(electrolyte_fraction)
    semi_axes = check_radius(semi_axes, "semi_axes")
    rng = np.random.default_rng(rng)
    ndim = len(shape)
    if not (math.isfinite(aspect) and aspect >= 1.0):
        raise InputError(f"aspect must be a finite number >= 1, got {aspect}")
    if orientation is not None and not math.isfinite(orientation):
        raise InputError(f"orientation must be a finite angle in degrees, got {orientation}")
    if fraction >= 1.0:
        return np.ones(shape, dtype=bool)
    probe = _radii(rng, semi_axes, 256)
    mean_volume = _ball_volume(probe, ndim) / aspect ** (ndim - 1)
    k = _expected_count(shape, 1.0 - fraction, mean_volume)
    for _ in range(8):
        long = _radii(rng, semi_axes, k)
        centres = rng.uniform(0, 1, size=(k, ndim)) * np.array(shape)
        semi = np.ones((k, ndim)) / aspect
        semi[:, 0] = 1.0
        semi *= long[:, None]
        if orientation is None:
            rot = _random_rotations(rng, k, ndim)
        else:
            a = math.radians(orientation)
            base = np.eye(ndim)
            base[0, 0], base[0, 1], base[1, 0], base[1, 1] = (
                math.cos(a),
                -math.sin(a),
                math.sin(a),
                math.cos(a),
            )
            rot = np.broadcast_to(base, (k, ndim, ndim))
        transforms = (rot / semi[:, None, :]).transpose(0, 2, 1)
        score = particle_score(shape, centres, transforms, long)
        mask = top_fraction(score, fraction)
        if np.isfinite(score[~mask]).all():
            return mask
        k *= 2  # too few particles to reach the target within the growth cut-off
    raise InputError(f"could not reach electrolyte fraction {fraction} with particles {semi_axes}")


def nonoverlapping_disks(
    shape: tuple[int, ...] | int,
    *,
    electrolyte_fraction: float,
    radius: float | tuple[float, float] = (2.0, 7.0),
    gap: float = 1.0,
    max_tries: int = 20000,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Non-overlapping disks/spheres by random sequential addition, then scaled to the fraction.

    Particles are added (largest first) with at least ``gap`` cells between surfaces until their
    volume exceeds the target; then all are shrunk by a common factor to hit the fraction
    exactly, which keeps them apart. Random sequential addition jams near a particle fraction of
    ~0.5 (2D) / ~0.35 (3D): lower electrolyte fractions raise an error.

    Parameters
    ----------
    shape : int or tuple of int
        Image shape (cells), 2D or 3D; an int means a square image.
    electrolyte_fraction : float
        Target fraction of electrolyte (True) cells.
    radius : float or (min, max)
        Particle radius in cells before the common shrink, uniform in [min, max].
    gap : float
        Smallest distance (cells) between particle surfaces while they are placed.
    max_tries : int
        Failed placements in a row after which the packing counts as jammed.
    rng : int or numpy Generator, optional
        Seed or generator; the same seed gives the same image.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True = electrolyte.

    Raises
    ------
    InputError
        If the particles jam before they fill the solid fraction.
    """
    shape = check_shape(shape)
    fraction = check_fraction(electrolyte_fraction)
    radius = check_radius(radius)
    if not (math.isfinite(gap) and gap >= 0):
        raise InputError(f"gap must be a finite number of cells >= 0, got {gap}")
    if int(max_tries) < 1:
        raise InputError(f"max_tries must be at least 1, got {max_tries}")
    rng = np.random.default_rng(rng)
    ndim = len(shape)
    if fraction >= 1.0:
        return np.ones(shape, dtype=bool)
    solid_target = (1.0 - fraction) * float(np.prod(shape)) * 1.02
    size = np.array(shape, dtype=float)
    centres: list[np.ndarray] = []
    radii: list[float] = []
    volume = 0.0
    tries = 0
    solid_cells = float(np.prod(shape)) - round(fraction * float(np.prod(shape)))
    while True:
        while volume < solid_target and tries < max_tries:
            r = float(_radii(rng, radius, 1)[0])
            c = rng.uniform(0, 1, size=ndim) * size
            tries += 1
            if centres:
                d = np.linalg.norm(np.asarray(centres) - c, axis=1)
                if np.any(d < np.asarray(radii) + r + gap):
                    continue
            centres.append(c)
            radii.append(r)
            volume += math.pi * r**2 if ndim == 2 else 4.0 / 3.0 * math.pi * r**3
            tries = 0
        if not centres or volume < (1.0 - fraction) * float(np.prod(shape)):
            raise InputError(
                f"non-overlapping particles jammed before reaching electrolyte fraction "
                f"{fraction}; use a higher fraction or overlapping disks"
            )
        reach = np.asarray(radii)
        transforms = np.eye(ndim)[None] / reach[:, None, None]
        score = particle_score(shape, np.asarray(centres), transforms, reach)
        # particles cut by the image's faces hold less than their volume: until the cells
        # inside them are enough, add more (the shrink below must not run out of them, or the
        # cells left over, tied outside every particle, were taken from the first slices: a
        # 3D volume started with a solid plane and carried no current)
        deficit = solid_cells - float(np.count_nonzero(score <= 1.0))
        if deficit <= 0 or tries >= max_tries:
            break
        solid_target = volume + 1.05 * deficit
    if deficit > 0:  # jammed short of the fraction: every particle grows by a common factor
        score[~np.isfinite(score)] = 2.0
        return top_fraction(score, fraction)
    np.minimum(score, 1.0 + 1e-9, out=score, where=score > 1.0 + 1e-9)  # never grow them
    score[~np.isfinite(score)] = 2.0
    return top_fraction(score, fraction)
