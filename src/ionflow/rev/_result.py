"""Typed results of a representativeness (REV) study."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["QUANTITIES", "RevEstimate", "RevLevel", "RevResult"]

#: The quantities every subvolume solve gives, in the order they are reported.
QUANTITIES = ("relative_conductivity", "tortuosity", "electrolyte_fraction")


def _num(value: float) -> float | None:
    """JSON-ready float: infinities and NaN become None."""
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class RevLevel:
    """Every subvolume of one edge.

    Attributes
    ----------
    edge : int
        Edge of the cubic (square) subvolumes, in cells.
    corners : ndarray of int, shape (n, ndim)
        Index of each subvolume's first cell in the image.
    relative_conductivity, tortuosity, electrolyte_fraction : ndarray, shape (n,)
        The solve's answer for each subvolume (tortuosity ``inf`` where nothing percolates).
    percolating : ndarray of bool, shape (n,)
        Whether a conducting path joins the two electrode faces of the subvolume.
    """

    edge: int
    corners: np.ndarray = field(repr=False)
    relative_conductivity: np.ndarray = field(repr=False)
    tortuosity: np.ndarray = field(repr=False)
    electrolyte_fraction: np.ndarray = field(repr=False)
    percolating: np.ndarray = field(repr=False)

    def values(self, quantity: str) -> np.ndarray:
        """The subvolume values of ``quantity`` (one of :data:`QUANTITIES`), shape (n,)."""
        if quantity not in QUANTITIES:
            raise KeyError(f"unknown quantity {quantity!r}; use one of {', '.join(QUANTITIES)}")
        return getattr(self, quantity)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (``inf`` tortuosity becomes None)."""
        return {
            "edge": self.edge,
            "corners": self.corners.tolist(),
            **{q: [_num(v) for v in self.values(q)] for q in QUANTITIES},
            "percolating": self.percolating.tolist(),
        }


@dataclass(frozen=True)
class RevEstimate:
    """Spread of one quantity against subvolume edge and what it says about the sample.

    Per-edge tuples follow ``edges``; an edge where some subvolume gave a non-finite value
    (tortuosity of a non-percolating cube) has NaN statistics and is left out of the fits.

    Attributes
    ----------
    quantity : str
        One of :data:`QUANTITIES`.
    edges : tuple of int
        Subvolume edges (cells).
    mean, std, cv : tuple of float
        Mean, standard deviation (ddof=1) and coefficient of variation std / mean per edge.
    stderr : tuple of float
        Standard error of each mean, std / sqrt(n_eff), n_eff = min(n, disjoint cubes that fit).
    alpha, alpha_stderr : float
        Exponent of the spread std(L) = prefactor * L^-alpha and the standard error of the
        fitted exponent (NaN when not fitted: then alpha is fixed at d/2 or the caller's value).
    alpha_fitted : bool
        Whether alpha came from the data.
    alpha_data : float
        The exponent the data gave; above d/2 it is capped (``alpha`` = d/2), since a steeper
        decay is a small-cube effect that must not be extrapolated.
    prefactor : float
        c of the spread law (quantity units x cells^alpha).
    sample_edge : float
        N, the edge of a cube with the sample's volume (cells).
    sample_std : float
        Extrapolated spread std(N) of the quantity over samples of this size.
    sample_estimate, sample_interval : float, (float, float)
        The whole sample's value predicted from its subvolumes alone (mean trend evaluated at
        N) and its ``confidence`` interval.
    finite_size_bias : float
        slope / N of the mean trend: how far cubes of the sample's size sit from infinitely
        large ones, by the same extrapolation (NaN with fewer than 3 edges).
    sample_value : float or None
        The whole sample's value from a full solve, when one was made.
    material_estimate, material_interval : float, (float, float)
        The property of the material: the sample's value (the full solve, else the estimate)
        +- z * std(N) (with the estimate's own error added when there is no full solve).
    relative_half_width : float
        Half the material interval / |material_estimate|: ImageRep's "d" at this confidence.
    edge_for_target : float
        Edge (cells) of a cubic sample whose interval would be +- ``target`` x the value.
    confidence, target : float
        The confidence level and relative half-width asked for.
    """

    quantity: str
    edges: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    cv: tuple[float, ...]
    stderr: tuple[float, ...]
    alpha: float
    alpha_stderr: float
    alpha_fitted: bool
    alpha_data: float
    prefactor: float
    sample_edge: float
    sample_std: float
    sample_estimate: float
    sample_interval: tuple[float, float]
    finite_size_bias: float
    sample_value: float | None
    material_estimate: float
    material_interval: tuple[float, float]
    relative_half_width: float
    edge_for_target: float
    confidence: float
    target: float

    @property
    def representative(self) -> bool:
        """Whether the material interval is within +- ``target`` of the value."""
        return bool(self.relative_half_width <= self.target)

    def std_at(self, edge: float | np.ndarray) -> float | np.ndarray:
        """The fitted spread at subvolume edge ``edge`` (cells)."""
        return self.prefactor * np.asarray(edge, dtype=float) ** -self.alpha

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (non-finite numbers become None)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = [_num(v) if isinstance(v, float) else v for v in value]
            elif isinstance(value, float):
                value = _num(value)
            out[name] = value
        out["representative"] = self.representative
        return out


@dataclass(frozen=True)
class RevResult:
    """A representativeness study of one image along one flow axis.

    Attributes
    ----------
    shape : tuple of int
        Shape of the image (cells).
    axis : int
        Flow axis of every solve.
    pixel_size : float, tuple of float, or None
        Cell edge in metres, if known (edges in the result stay in cells).
    samples : int
        Subvolumes per edge.
    seed : int or None
        The integer seed of the positions, when one was given.
    levels : tuple of RevLevel
        The subvolumes, one level per edge, smallest first.
    estimates : dict of str -> RevEstimate
        One per quantity in :data:`QUANTITIES`.
    full : ConductionResult or None
        The whole image's solve, when made.
    """

    shape: tuple[int, ...]
    axis: int
    pixel_size: float | tuple[float, ...] | None
    samples: int
    seed: int | None
    levels: tuple[RevLevel, ...] = field(repr=False)
    estimates: dict[str, RevEstimate] = field(repr=False)
    full: Any = field(default=None, repr=False)

    @property
    def edges(self) -> tuple[int, ...]:
        """Subvolume edges in cells, smallest first."""
        return tuple(level.edge for level in self.levels)

    def __getitem__(self, quantity: str) -> RevEstimate:
        return self.estimates[quantity]

    def summary(self, quantity: str = "relative_conductivity") -> list[str]:
        """A Markdown table per edge and the extrapolation, one string per line."""
        est = self.estimates[quantity]
        pc = int(100 * round(est.confidence, 4))
        lines = [
            f"| edge (cells) | subvolumes | mean {quantity} | std | CV | percolating |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for level, m, s, cv in zip(self.levels, est.mean, est.std, est.cv):
            lines.append(
                f"| {level.edge} | {len(level.corners)} | {m:.4g} | {s:.3g} | {cv:.3g} | "
                f"{int(level.percolating.sum())}/{len(level.percolating)} |"
            )
        fixed = "fitted" if est.alpha_fitted else "fixed"
        if est.alpha_fitted and est.alpha_data > est.alpha:
            fixed = f"capped at d/2; the data gave {est.alpha_data:.3g}"
        lo, hi = est.material_interval
        slo, shi = est.sample_interval
        full = "not solved" if est.sample_value is None else f"{est.sample_value:.4g}"
        if not any(level.percolating.any() for level in self.levels):
            lines += [
                "",
                f"no subvolume percolates along axis {self.axis}: no spread, and no edge "
                f"estimate; full solve: {full}",
            ]
            return lines
        if not math.isfinite(est.material_estimate) or not math.isfinite(est.edge_for_target):
            need = "no edge estimate (the subvolumes' values are not all finite)"
        elif est.prefactor == 0:
            need = "every subvolume gives the same value: any edge will do"
        else:
            need = f"+-{100 * est.target:.3g} % needs an edge of ~{est.edge_for_target:.0f} cells"
        lines += [
            "",
            f"spread: std = {est.prefactor:.3g} * L^-{est.alpha:.3g} (alpha {fixed}"
            + (f", +- {est.alpha_stderr:.2g}" if math.isfinite(est.alpha_stderr) else "")
            + f"; d/2 = {len(self.shape) / 2:g}); at the sample (N = {est.sample_edge:.4g}): "
            f"{est.sample_std:.3g}",
            f"whole sample from subvolumes: {est.sample_estimate:.4g} "
            f"[{slo:.4g}, {shi:.4g}] ({pc} %); full solve: {full}",
            f"material: {est.material_estimate:.4g} [{lo:.4g}, {hi:.4g}] ({pc} %), "
            f"+-{100 * est.relative_half_width:.2g} %; {need}",
        ]
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values: settings, every subvolume, the estimates and the full solve."""
        return {
            "shape": list(self.shape),
            "axis": self.axis,
            "pixel_size": self.pixel_size,
            "samples": self.samples,
            "seed": self.seed,
            "levels": [level.to_dict() for level in self.levels],
            "estimates": {q: e.to_dict() for q, e in self.estimates.items()},
            "full": None if self.full is None else _plain(self.full.to_dict()),
        }


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars (a solver's ``np.bool_``) as Python numbers, for ``json``."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()}
