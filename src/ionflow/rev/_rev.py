"""Is the sample big enough? Subvolume solves, their spread against size, and intervals.

Method (written out for users in the README, "Is the sample big enough?"):

1. Cut ``samples`` cubes (squares in 2D) of each edge L at seeded positions (disjoint tiles of a
   randomly offset grid while they fit, then uniform random positions) and solve
   each along the flow axis with the same conventions as the whole image (Dirichlet faces on
   the cube's own faces, insulating walls, floating clusters removed).
2. Per edge: mean, std (ddof=1), coefficient of variation, and the standard error of the mean
   with the overlap of the cubes accounted for (``_stats.effective_count``).
3. Spread law: std(L) = c L^-alpha, fitted by weighted least squares in log-log (alpha = d/2
   for volume averages of short-range correlated cells; the fit finds it, or a fixed alpha is
   used when fewer than 2 edges vary). A fitted alpha above d/2 is capped at d/2 (a faster
   decay is a small-cube effect, not extrapolated). The within-sample spread is corrected for
   the sample's own deviation (Var_within = Var(L) - Var(N)).
4. (a) The whole sample's value from its subvolumes: the mean trend mean(L) = m + b / L
   evaluated at N = (number of cells)^(1/d), with its standard error; useful when the whole
   image is too large to solve. (b) The material's property: the sample's value (the full
   solve) +- z * std(N), the spread of samples of this size cut from the material.

Assumptions: the material is statistically homogeneous (stationary) over the sample; the spread
law holds from the largest edge tried up to N (no long-range structure such as a thickness
gradient); values over samples of size N are close to normal (central limit). Near the
percolation threshold the spread decays more slowly than d/2 and small cubes stop
percolating: the fitted alpha says so and the interval widens. Nothing here accounts for
segmentation error or for the sample not being a random draw from the electrode.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ._result import QUANTITIES, RevEstimate, RevLevel, RevResult
from ._stats import effective_count, fit_mean_trend, fit_spread, z_value

__all__ = ["check_levels", "default_edges", "representativeness"]

log = logging.getLogger(__name__)


def default_edges(
    shape: Sequence[int], *, smallest: int | None = None, count: int = 4
) -> tuple[int, ...]:
    """Halving edges from min(shape) / 2 down to ``smallest``, at most ``count`` of them.

    Parameters
    ----------
    shape : sequence of int
        Shape of the image.
    smallest : int, optional
        Smallest edge; default 8 cells in 3D and 16 in 2D (2D solves are cheap; edges below the
        particle size only saturate the spread).
    count : int
        Most edges returned.

    Returns
    -------
    tuple of int
        Ascending; ``(128, 128, 128)`` gives ``(8, 16, 32, 64)``, ``(1024, 1024)`` gives
        ``(64, 128, 256, 512)``.
    """
    if smallest is None:
        smallest = 8 if len(shape) == 3 else 16
    edges: list[int] = []
    edge = min(shape) // 2
    while edge >= smallest and len(edges) < count:
        edges.append(edge)
        edge //= 2
    if not edges:
        edges = [max(2, min(shape) // 2)]
    return tuple(sorted(edges))


def check_levels(
    *,
    confidence: float,
    target: float,
    alpha: float | None,
    ndim: int | None = None,
    source: str | None = None,
) -> None:
    """Refuse a confidence, target or fixed spread exponent that has no meaning.

    Parameters
    ----------
    confidence, target, alpha
        As for :func:`representativeness`.
    ndim : int, optional
        Dimension of the image; without it, ``alpha`` is only checked to be positive.
    source : str, optional
        Name of the input, for messages.

    Raises
    ------
    InputError
        One line naming the value and its range.
    """
    if not 0 < confidence < 1:  # also NaN
        raise InputError(
            f"confidence must lie strictly between 0 and 1 (e.g. 0.95), got {confidence}",
            source=source,
        )
    if not 0 < target < 1:
        raise InputError(
            f"target must be a relative half-width strictly between 0 and 1 (e.g. 0.05 for "
            f"+-5 %), got {target}",
            source=source,
        )
    most = math.inf if ndim is None else ndim / 2
    if alpha is not None and not (math.isfinite(alpha) and 0 < alpha <= most):
        # the spread of volume averages falls at most as fast as 1/sqrt(volume), L^-(d/2);
        # alpha <= 0 would be a spread that never falls (no sample size is enough)
        where = "a positive number" if ndim is None else f"in (0, {most:g}] for a {ndim}D image"
        raise InputError(
            f"alpha must be {where} (the spread falls as L^-alpha, at most as fast as "
            f"L^-d/2), got {alpha}",
            source=source,
        )


def _conducts(crop: np.ndarray, solve: Mapping[str, Any]) -> bool:
    """Whether the crop has any conducting cell (a solve of one without is an input error)."""
    labels = solve.get("label_conductivities")
    if labels:
        return any(v > 0 and bool((crop == k).any()) for k, v in labels.items())
    return bool(crop.any()) or solve.get("matrix_conductivity", 0.0) > 0


def _corners(shape: tuple[int, ...], edge: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """First cells of ``count`` cubes of ``edge`` inside ``shape``, disjoint where they fit.

    The cubes are tiles of a grid with a random offset, drawn without replacement, so they
    share no cell while the sample holds ``count`` of them; the rest go to uniform random
    positions (overlapping).
    """
    shape_a = np.array(shape)
    tiles = shape_a // edge
    offset = rng.integers(0, shape_a - tiles * edge + 1)
    picked = rng.permutation(math.prod(tiles.tolist()))[:count]
    corners = offset + np.array(np.unravel_index(picked, tiles)).T * edge
    extra = count - len(corners)
    if extra > 0:
        more = rng.integers(0, shape_a - edge + 1, size=(extra, len(shape)))
        corners = np.concatenate([corners, more])
    return corners.astype(np.int64)


def representativeness(
    image: np.ndarray,
    *,
    axis: int = 0,
    edges: Sequence[int] | None = None,
    samples: int = 8,
    rng: int | np.random.Generator | None = None,
    pixel_size: float | tuple[float, ...] | None = None,
    full: bool = True,
    confidence: float = 0.95,
    target: float = 0.05,
    alpha: float | None = None,
    progress: bool | None = None,
    solve: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> RevResult:
    """How representative is this image of its material? Subvolume solves and intervals.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        Binary image (nonzero = electrolyte) or a label image (with
        ``solve={"label_conductivities": ...}``).
    axis : int
        Flow axis of every solve.
    edges : sequence of int, optional
        Subvolume edges in cells, each 2 .. min(shape); default :func:`default_edges`.
    samples : int
        Subvolumes per edge (>= 2), at seeded positions: disjoint while they fit.
    rng : int or numpy Generator, optional
        Seed of the positions.
    pixel_size : float or tuple of float, optional
        Cell edge in metres, or one per axis (passed to the solver; with cubic cells
        sigma_eff / sigma and tau do not depend on it).
    full : bool
        Also solve the whole image: the sample's value at the centre of the material interval.
        Without it, the centre is the estimate from the subvolumes.
    confidence : float
        Two-sided confidence of the intervals (normal quantile), strictly between 0 and 1.
    target : float
        Relative half-width asked of the material interval (0.05 = +-5 %), strictly between 0
        and 1; the result gives the sample edge that would reach it.
    alpha : float, optional
        Fix the spread exponent (e.g. ``ndim / 2``) instead of fitting it; in (0, ndim / 2].
    progress : bool, optional
        Show a tqdm progress bar (default: when stderr is a terminal).
    solve : mapping, optional
        More keyword arguments for :func:`ionflow.simulate` (``label_conductivities``,
        ``conductivity``, ``matrix_conductivity``, ``method``, ``rtol``).
    source : str, optional
        Name of the input, for messages.

    Returns
    -------
    RevResult
        Every subvolume's values, per-quantity estimates (``result["relative_conductivity"]``)
        and the full solve.
    """
    from tqdm.auto import tqdm

    from ..solve import simulate

    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise InputError(f"expected a 2D or 3D image, got shape {arr.shape}", source=source)
    if not -arr.ndim <= axis < arr.ndim:
        raise InputError(f"axis {axis} does not exist for a {arr.ndim}D image", source=source)
    axis %= arr.ndim
    shape = tuple(int(n) for n in arr.shape)
    if min(shape) < 2:  # the smallest subvolume is 2 cells on a side
        raise InputError(
            f"image too small for rev ({'x'.join(map(str, shape))}): needs at least 2 cells "
            "along every axis",
            source=source,
        )
    check_levels(confidence=confidence, target=target, alpha=alpha, ndim=arr.ndim, source=source)
    edges = default_edges(shape) if edges is None else tuple(sorted({int(e) for e in edges}))
    bad = [e for e in edges if not 2 <= e <= min(shape)]
    if bad:
        raise InputError(
            f"subvolume edges {bad} do not fit: each must be 2 .. {min(shape)} cells", source=source
        )
    if samples < 2:
        raise InputError(f"need at least 2 subvolumes per edge, got {samples}", source=source)
    z = z_value(confidence)
    seed = int(rng) if isinstance(rng, (int, np.integer)) else None
    gen = np.random.default_rng(rng)
    solve = dict(solve or {})
    kwargs = dict(solve, axis=axis, pixel_size=pixel_size)

    levels = []
    with tqdm(
        total=samples * len(edges) + int(full),
        desc="REV",
        unit="solve",
        disable=(None if progress is None else not progress),
    ) as bar:
        for edge in edges:
            corners = _corners(shape, edge, samples, gen)
            values = np.zeros((len(QUANTITIES), samples))
            percolating = np.zeros(samples, dtype=bool)
            for i, corner in enumerate(corners):
                crop = arr[tuple(slice(c, c + edge) for c in corner)]
                if _conducts(crop, solve):
                    res = simulate(crop, **kwargs, source=source)
                    values[:, i] = [getattr(res, q) for q in QUANTITIES]
                    percolating[i] = res.percolating
                else:  # no conducting cell at all: nothing flows
                    values[:, i] = [0.0, math.inf, 0.0]
                bar.update()
            levels.append(RevLevel(edge, corners, values[0], values[1], values[2], percolating))
            log.debug("REV edge %d: mean relative conductivity %.4g", edge, values[0].mean())
        whole = None
        if full:
            whole = simulate(arr, **kwargs, source=source)
            bar.update()

    estimates = {
        q: _estimate(
            q, levels, shape, whole, z=z, confidence=confidence, target=target, alpha=alpha
        )
        for q in QUANTITIES
    }
    return RevResult(shape, axis, pixel_size, samples, seed, tuple(levels), estimates, whole)


def _estimate(
    quantity: str,
    levels: list[RevLevel],
    shape: tuple[int, ...],
    whole: Any,
    *,
    z: float,
    confidence: float,
    target: float,
    alpha: float | None,
) -> RevEstimate:
    """Per-edge statistics of one quantity, the spread law and the two intervals."""
    edges = np.array([lev.edge for lev in levels], dtype=float)
    # the spread at an edge is known to as many degrees of freedom as independent cubes
    counts = np.array(
        [effective_count(len(lev.corners), lev.edge, shape) for lev in levels], dtype=float
    )
    mean, std, stderr = [], [], []
    for lev in levels:
        v = lev.values(quantity)
        if np.all(np.isfinite(v)):
            mean.append(float(v.mean()))
            std.append(float(v.std(ddof=1)))
            stderr.append(std[-1] / math.sqrt(effective_count(len(v), lev.edge, shape)))
        else:
            mean.append(math.nan)
            std.append(math.nan)
            stderr.append(math.nan)
    mean_a, std_a = np.array(mean), np.array(std)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(mean_a != 0, std_a / np.abs(mean_a), np.where(std_a == 0, 0.0, math.inf))
    n_edge = math.prod(shape) ** (1 / len(shape))
    law = fit_spread(edges, std_a, counts, sample_edge=n_edge, ndim=len(shape), alpha=alpha)
    trend = fit_mean_trend(edges, mean_a, np.array(stderr), sample_edge=n_edge)
    sample_std = float(law(n_edge))
    est_lo = trend.estimate - z * trend.stderr
    est_hi = trend.estimate + z * trend.stderr

    value = None if whole is None else float(getattr(whole, quantity))
    if value is not None and math.isfinite(value):
        centre, half = value, z * sample_std
    else:
        centre = trend.estimate
        half = z * math.sqrt(sample_std**2 + trend.stderr**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = half / abs(centre) if centre != 0 else (0.0 if half == 0 else math.inf)
    return RevEstimate(
        quantity=quantity,
        edges=tuple(int(e) for e in edges),
        mean=tuple(mean),
        std=tuple(std),
        cv=tuple(float(c) for c in cv),
        stderr=tuple(stderr),
        alpha=law.alpha,
        alpha_stderr=law.alpha_stderr,
        alpha_fitted=law.fitted,
        alpha_data=law.data_alpha,
        prefactor=law.prefactor,
        sample_edge=n_edge,
        sample_std=sample_std,
        sample_estimate=trend.estimate,
        sample_interval=(est_lo, est_hi),
        finite_size_bias=trend.slope / n_edge,
        sample_value=value,
        material_estimate=centre,
        material_interval=(centre - half, centre + half),
        relative_half_width=float(rel),
        edge_for_target=law.edge_for(target * abs(centre), z),
        confidence=confidence,
        target=target,
    )
