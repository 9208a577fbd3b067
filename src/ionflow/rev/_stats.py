"""Statistics of subvolume values: spread against size, extrapolation to the sample's size.

Pure numpy on small arrays (one entry per subvolume edge); no solver here, so every rule can be
tested on made-up numbers. The model and its assumptions are written out in
``ionflow.rev._rev`` and in the README ("Is the sample big enough?").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["MeanTrend", "PowerLaw", "effective_count", "fit_mean_trend", "fit_spread", "z_value"]


def z_value(confidence: float) -> float:
    """Two-sided normal quantile: 1.96 for ``confidence=0.95``."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def effective_count(count: int, edge: int, shape: tuple[int, ...]) -> int:
    """Independent subvolumes among ``count`` cubes of ``edge`` drawn from ``shape``.

    Overlapping cubes share cells, so they carry no more information than the number of
    disjoint cubes the sample holds: ``min(count, prod(shape) // edge**ndim)``, at least 1.
    """
    disjoint = math.prod(shape) // edge ** len(shape)
    return max(1, min(count, disjoint))


@dataclass(frozen=True)
class PowerLaw:
    """The spread model std(L) = prefactor * L**-alpha (L: subvolume edge in cells).

    Attributes
    ----------
    prefactor : float
        c in the units of the quantity (0 when no subvolume varied).
    alpha : float
        Exponent (d/2 for a volume average of short-range correlated cells).
    alpha_stderr : float
        Standard error of the fitted exponent (NaN when alpha was fixed).
    fitted : bool
        Whether alpha came from the data (>= 2 edges with a spread) or was fixed.
    points : int
        Edges used in the fit.
    data_alpha : float
        The exponent the data gave before the cap at d/2 (NaN when not fitted); above d/2 the
        cap is in force and ``alpha`` = d/2.
    """

    prefactor: float
    alpha: float
    alpha_stderr: float
    fitted: bool
    points: int
    data_alpha: float = math.nan

    def __call__(self, edge: float | np.ndarray) -> float | np.ndarray:
        """Spread of the quantity over cubes of ``edge`` cells."""
        return self.prefactor * np.asarray(edge, dtype=float) ** -self.alpha

    def edge_for(self, half_width: float, z: float) -> float:
        """Edge (cells) at which ``z * std`` falls to ``half_width``; 1 when nothing varies."""
        if self.prefactor == 0:
            return 1.0
        if half_width <= 0 or self.alpha <= 0:
            return math.inf
        try:
            return (z * self.prefactor / half_width) ** (1 / self.alpha)
        except OverflowError:  # a spread that barely shrinks: no size is enough
            return math.inf


def fit_spread(
    edges: np.ndarray,
    stds: np.ndarray,
    counts: np.ndarray,
    *,
    sample_edge: float,
    ndim: int,
    alpha: float | None = None,
    iterations: int = 50,
) -> PowerLaw:
    """Fit std(L) = c L^-alpha to the spread of subvolume values within one sample.

    Subvolumes cut from one sample spread less than subvolumes of the material would, because
    the sample's own deviation from the material is common to all of them: for volume averages,
    Var_within(L) = Var(L) - Var(N). The fit adds the extrapolated Var(N) back and refits until
    it settles (a few iterations; Var(N) is small when the edges stay well below N). Var(N) is
    capped at the within-sample variance of the largest edge: a spread that hardly shrinks with
    size cannot be told apart from one that does not shrink at all.

    A fitted alpha above d/2 is capped at d/2: the spread of a statistically homogeneous
    material with a finite correlation length decays as 1/sqrt(volume) at large sizes, never
    faster (short of hyperuniform order), so a steeper decay over the edges tried is a small-cube
    effect (boundary layers, cubes that stop percolating) that must not be extrapolated.

    Parameters
    ----------
    edges, stds, counts : ndarray, shape (k,)
        Subvolume edge (cells), standard deviation (ddof=1) and number of independent
        subvolumes per edge (the weights). Entries with a non-finite or zero std, or fewer
        than 2 subvolumes, are left out.
    sample_edge : float
        Edge of the cube with the whole sample's volume, N (cells).
    ndim : int
        2 or 3; the exponent d/2 is used when fewer than 2 edges show a spread, and caps a
        fitted one.
    alpha : float, optional
        Fix the exponent instead of fitting it.

    Returns
    -------
    PowerLaw
    """
    edges = np.asarray(edges, dtype=float)
    stds = np.asarray(stds, dtype=float)
    counts = np.asarray(counts, dtype=float)
    ok = np.isfinite(stds) & (stds > 0) & (counts >= 2)
    if not ok.any():
        return PowerLaw(0.0, ndim / 2 if alpha is None else alpha, math.nan, False, 0)
    x = np.log(edges[ok])
    var = stds[ok] ** 2
    # log(std) from n values has variance ~ 1 / (2 (n - 1)): the weights of the fit
    w = 2 * (counts[ok] - 1)
    fit = bool(alpha is None and ok.sum() >= 2)
    slope = -(ndim / 2 if alpha is None else alpha)
    var_n = 0.0
    data_slope = math.nan
    for _ in range(iterations):
        y = 0.5 * np.log(var + var_n)
        if fit:
            xm = np.average(x, weights=w)
            ym = np.average(y, weights=w)
            data_slope = float(np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2))
            slope = max(data_slope, -ndim / 2)
        intercept = float(np.average(y - slope * x, weights=w))
        # Var(N) <= Var_within at the largest edge: beyond that the sample cannot tell (the
        # spread barely shrinks, the fixed point runs off to alpha = 0); the cap keeps the
        # answer finite and wide
        new = min(
            math.exp(2 * (intercept + slope * math.log(sample_edge))), float(var[np.argmax(x)])
        )
        if abs(new - var_n) <= 1e-12 * max(new, 1e-300):
            var_n = new
            break
        var_n = new
    stderr = math.nan
    if fit:
        xm = np.average(x, weights=w)
        sxx = float(np.sum(w * (x - xm) ** 2))
        scale = 1.0
        if ok.sum() >= 3:  # inflate by the scatter about the line when it exceeds the model's
            resid = y - (ym + data_slope * (x - xm))
            scale = max(1.0, float(np.sum(w * resid**2)) / (ok.sum() - 2))
        stderr = math.sqrt(scale / sxx)
    return PowerLaw(math.exp(intercept), -slope, stderr, fit, int(ok.sum()), -data_slope)


@dataclass(frozen=True)
class MeanTrend:
    """The mean against edge, mean(L) = limit + slope / L, evaluated at the sample's edge.

    Attributes
    ----------
    estimate : float
        Predicted mean over subvolumes the size of the sample: the whole sample's value as
        estimated from its subvolumes.
    stderr : float
        Standard error of ``estimate``.
    slope : float
        The finite-size term (quantity x cells); NaN when fewer than 3 edges were usable and the
        largest edge's mean was taken instead.
    points : int
        Edges used.
    """

    estimate: float
    stderr: float
    slope: float
    points: int


def fit_mean_trend(
    edges: np.ndarray, means: np.ndarray, stderrs: np.ndarray, *, sample_edge: float
) -> MeanTrend:
    """Weighted least squares of mean = limit + slope / L, evaluated at L = ``sample_edge``.

    Small subvolumes are biased (boundary layers at the electrodes and walls scale as surface /
    volume, i.e. 1/L, and small cubes percolate less often), so the mean of the largest cubes
    alone is not the sample's value. With fewer than 3 usable edges the trend is not fitted and
    the largest edge's mean and standard error are returned. The standard error is scaled up by
    the scatter about the line when that exceeds the subvolume statistics.
    """
    edges = np.asarray(edges, dtype=float)
    means = np.asarray(means, dtype=float)
    se = np.asarray(stderrs, dtype=float)
    ok = np.isfinite(means) & np.isfinite(se)
    if not ok.any():
        return MeanTrend(math.nan, math.nan, math.nan, 0)
    edges, means, se = edges[ok], means[ok], se[ok]
    if len(edges) < 3:
        i = int(np.argmax(edges))
        return MeanTrend(float(means[i]), float(se[i]), math.nan, len(edges))
    if np.all(se == 0):
        w = np.ones_like(se)
        floor = 0.0
    else:  # a size whose cubes all agreed still gets a finite weight
        floor = float(np.min(se[se > 0])) / 10
        w = 1 / np.maximum(se, floor) ** 2
    design = np.column_stack([np.ones_like(edges), 1 / edges])
    a = design * np.sqrt(w)[:, None]
    b = means * np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    cov = np.linalg.pinv(a.T @ a)
    resid = b - a @ coef
    if floor == 0.0:  # unweighted: the scatter is the only error estimate
        cov = cov * float(resid @ resid) / (len(edges) - 2)
    else:
        cov = cov * max(1.0, float(resid @ resid) / (len(edges) - 2))
    at = np.array([1.0, 1 / sample_edge])
    return MeanTrend(
        float(at @ coef), float(math.sqrt(max(0.0, at @ cov @ at))), float(coef[1]), len(edges)
    )
