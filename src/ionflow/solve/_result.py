"""The typed result of one conduction solve."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ConductionResult"]


@dataclass(frozen=True)
class ConductionResult:
    """Effective conduction through one image or volume along one axis.

    Attributes
    ----------
    current : float
        Total current I through the sample, in A: the inlet current of a direct solve; the
        multigrid's energy (variational) current, accurate to second order in its residual
        (an upper bound on the exact current, within ``accuracy``).
    resistance : float
        R = V / I in ohm; ``inf`` when nothing percolates.
    conductivity : float
        Effective ionic conductivity sigma_eff = I l / (V A) in S/m.
    relative_conductivity : float
        sigma_eff / sigma (dimensionless, 0..1 for a two-phase image with an insulating matrix).
    tortuosity : float
        Tortuosity factor tau = electrolyte_fraction * sigma / sigma_eff (TauFactor's definition);
        ``inf`` when nothing percolates. With several conducting labels, sigma and the fraction
        are the most conductive label's; TauFactor's ``MultiPhaseSolver`` reports
        ``sum_k VF_k sigma_k / sigma_eff`` instead (this times ``sum_k VF_k sigma_k /
        (electrolyte_fraction * sigma)``).
    electrolyte_fraction : float
        Volume fraction of the electrolyte (conductive) phase.
    percolating_fraction : float
        Volume fraction (of the whole image) of electrolyte connected to both electrodes.
    percolating : bool
        Whether any conductive path joins the two electrodes.
    inlet_current, outlet_current : float
        Current entering at the phi = V face and leaving at the phi = 0 face, in A (first order
        in an iterative solver's residual).
    flux_imbalance : float
        |inlet - outlet| / |current| (0 when nothing flows); a conservation check. The
        multigrid balances the current of every plane across the flow before it stops, so its
        imbalance is at rounding (~1e-14); it iterates until the inlet current is within
        ``balance_tol`` (default 1e-6) of ``current``.
    accuracy : float
        Estimated relative accuracy of ``current`` reached by the linear solver.
    axis : int
        The flow axis.
    shape : tuple of int
        Shape of the image (pixels / voxels).
    voltage, sigma : float
        Applied voltage (V) and electrolyte conductivity (S/m).
    length, area : float
        Sample extent along the flow, l (m), and cross-section, A (m^2).
    method : str
        Linear solver that produced the answer.
    iterations : int
        Iterations of an iterative solver (0 for a direct solve).
    pixel_size : tuple of float or None
        Edge of a cell along every axis (m), as given; ``None`` for the paper's convention
        (l = 1, cubic cells).
    boundary : str
        The faces perpendicular to the flow: ``"insulating"`` or ``"periodic"``.
    electrode : str
        Where the Dirichlet planes sit: ``"face"`` (the image's faces) or ``"ghost"`` (one cell
        out; then sigma_eff uses the distance n + 1 cells between them).
    mean_current_density : tuple of float or None
        Volume average of the current density (A/m^2), one component per axis; computed with
        periodic faces (its off-flow components are the cross-currents of the conductivity
        tensor), else None.
    potential : ndarray or None
        Potential (V) per cell, same shape as the image; NaN in insulating cells, only when
        fields were requested.
    current_density : ndarray or None
        Current density (A/m^2) per cell, shape ``(ndim, *shape)``, component d along axis d.
    """

    current: float
    resistance: float
    conductivity: float
    relative_conductivity: float
    tortuosity: float
    electrolyte_fraction: float
    percolating_fraction: float
    percolating: bool
    inlet_current: float
    outlet_current: float
    flux_imbalance: float
    accuracy: float
    axis: int
    shape: tuple[int, ...]
    voltage: float
    sigma: float
    length: float
    area: float
    method: str
    iterations: int = 0
    pixel_size: tuple[float, ...] | None = None
    boundary: str = "insulating"
    electrode: str = "face"
    mean_current_density: tuple[float, ...] | None = None
    potential: np.ndarray | None = field(default=None, repr=False, compare=False)
    current_density: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; infinities become ``None`` and fields are left out."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if name in ("potential", "current_density"):
                continue
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out
