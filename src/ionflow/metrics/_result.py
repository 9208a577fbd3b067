"""Typed results of the microstructure metrics (frozen dataclasses with ``to_dict``).

Units: every length is in the unit of the voxel size given (metres when it is given in metres),
or in voxel edges when no voxel size is given (``length_unit`` says which). A specific surface
area is an area per unit *total* volume (1/length; in 2D a perimeter per unit area, the same as
the area per volume of the image extruded into a prism). Fractions are dimensionless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Interface",
    "MacMullin",
    "MicrostructureMetrics",
    "Percolation",
    "PhaseMetrics",
    "SizeDistribution",
    "TriplePhaseBoundary",
    "TwoPointCorrelation",
]

Label = int | float


def _num(value: float) -> float | None:
    """JSON has no infinity or NaN: those become ``null``."""
    return float(value) if math.isfinite(value) else None


def _key(label: Label) -> str:
    return str(label)


@dataclass(frozen=True)
class Percolation:
    """How one phase's volume splits by connection to the two faces normal to ``axis``.

    Face-connected clusters (4-connected in 2D, 6-connected in 3D: the solver's rule, so the
    percolating part is exactly what carries current in ``ionflow.simulate``). The three
    fractions are of the *phase* volume and sum to 1 (all 0 for an absent phase).

    Attributes
    ----------
    axis : int
        The direction (array axis).
    percolating : float
        Share in clusters that touch both faces (first and last slice along ``axis``).
    dead_end : float
        Share in clusters that touch exactly one of the two faces.
    isolated : float
        Share in clusters that touch neither face.
    """

    axis: int
    percolating: float
    dead_end: float
    isolated: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "percolating": self.percolating,
            "dead_end": self.dead_end,
            "isolated": self.isolated,
        }


@dataclass(frozen=True)
class SizeDistribution:
    """Continuous size distribution of one phase from its local thickness.

    The local thickness of a voxel is the diameter of the largest ball that fits inside the
    phase and covers the voxel (Hildebrand & Rüegsegger 1997; the "continuous PSD" of Münch &
    Holzer 2008). Ball radii are Euclidean distances from a voxel centre to the nearest voxel
    centre of another phase, as in PoreSpy's ``local_thickness``, taken on levels ``step``
    apart (default half the smallest voxel edge).

    Attributes
    ----------
    diameters : tuple of float
        The diameter levels (length unit), increasing.
    volume_fractions : tuple of float
        Share of the phase volume whose local thickness is each diameter (sums to 1).
    mean : float
        Volume-weighted mean diameter.
    d10, d50, d90 : float
        Diameters below which 10, 50 and 90 % of the phase volume lies.
    """

    diameters: tuple[float, ...]
    volume_fractions: tuple[float, ...]
    mean: float
    d10: float
    d50: float
    d90: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "diameters": list(self.diameters),
            "volume_fractions": list(self.volume_fractions),
            "mean": self.mean,
            "d10": self.d10,
            "d50": self.d50,
            "d90": self.d90,
        }


@dataclass(frozen=True)
class TwoPointCorrelation:
    """Radially averaged two-point correlation S2(r) of one phase.

    S2(r) is the probability that two points a distance r apart both lie in the phase:
    S2(0) = volume fraction, S2(r) -> fraction**2 for an uncorrelated structure at large r.

    Attributes
    ----------
    distances : tuple of float
        Bin centres r (length unit): 0, h, 2h, ... with h the smallest voxel edge; each bin
        holds the separations within h/2 of its centre.
    probabilities : tuple of float
        S2 per bin: pairs with both points in the phase / all pairs in the bin.
    periodic : bool
        True: the image was wrapped (every separation has as many pairs as voxels).
        False: only pairs with both points inside the image count (zero-padded FFT).
    """

    distances: tuple[float, ...]
    probabilities: tuple[float, ...]
    periodic: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "distances": list(self.distances),
            "probabilities": list(self.probabilities),
            "periodic": self.periodic,
        }


@dataclass(frozen=True)
class PhaseMetrics:
    """The metrics of one label.

    Attributes
    ----------
    label : int or float
        The label value (a binary image has labels 0 and 1).
    volume_fraction : float
        Share of the image's voxels with this label.
    specific_surface_area : float
        Area of the phase's boundary with every other phase per unit total volume (1/length).
        Boundaries with the image's own faces do not count.
    percolation : tuple of Percolation
        One per axis.
    size_distribution : SizeDistribution or None
        None when not requested or the phase is absent.
    two_point : TwoPointCorrelation or None
        None when not requested or the phase is absent.
    """

    label: Label
    volume_fraction: float
    specific_surface_area: float
    percolation: tuple[Percolation, ...]
    size_distribution: SizeDistribution | None = None
    two_point: TwoPointCorrelation | None = None

    @property
    def surface_per_phase_volume(self) -> float:
        """Boundary area per unit volume of the phase itself (1/length; ``inf`` if absent)."""
        if self.volume_fraction == 0:
            return math.inf
        return self.specific_surface_area / self.volume_fraction

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "volume_fraction": self.volume_fraction,
            "specific_surface_area": self.specific_surface_area,
            "surface_per_phase_volume": _num(self.surface_per_phase_volume),
            "percolation": [p.to_dict() for p in self.percolation],
            "size_distribution": (
                self.size_distribution.to_dict() if self.size_distribution else None
            ),
            "two_point": self.two_point.to_dict() if self.two_point else None,
        }


@dataclass(frozen=True)
class Interface:
    """Interfacial area between two labels, per unit total volume.

    Attributes
    ----------
    labels : tuple of two labels
        ``(a, b)`` with ``a < b``.
    area_density : float
        Area of the a-b interface per unit total volume (1/length; 2D: length per area).
    """

    labels: tuple[Label, Label]
    area_density: float

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "area_density": self.area_density}


@dataclass(frozen=True)
class TriplePhaseBoundary:
    """Where three labels meet.

    3D: a length per unit volume (1/length**2). The lines are followed on the voxel edges: an
    edge counts (its length) when the four voxels around it hold all three labels. That
    staircase measures a line's L1 length; ``density`` = ``correction`` x ``voxel_density``
    with ``correction`` = 2/3, the mean ratio of Euclidean to L1 length of isotropically
    oriented lines (the same Cauchy-Crofton factor as for surfaces). Exact on average for
    isotropic lines, -33 % for a line along a grid axis, +15 % along a body diagonal.

    2D: the junctions are points: ``density`` is the number of voxel corners whose four
    pixels hold all three labels, per unit area (1/length**2), ``correction`` = 1. A clean
    junction of three straight boundaries gives one or two such corners.

    Attributes
    ----------
    labels : tuple of three labels
        The three labels that meet.
    density : float
        Corrected length per volume (3D) or junction points per area (2D).
    voxel_density : float
        Uncorrected voxel-edge length per volume (3D; equals ``density`` in 2D).
    correction : float
        ``density / voxel_density``.
    """

    labels: tuple[Label, Label, Label]
    density: float
    voxel_density: float
    correction: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "density": self.density,
            "voxel_density": self.voxel_density,
            "correction": self.correction,
        }


@dataclass(frozen=True)
class MacMullin:
    """MacMullin number along one axis: N_M = sigma / sigma_eff = tau / epsilon.

    Attributes
    ----------
    axis : int
        The flow direction.
    relative_conductivity : float
        sigma_eff / sigma of the conducting label (given, or from ``ionflow.simulate``).
    macmullin_number : float
        1 / relative_conductivity (``inf`` when nothing percolates; JSON ``null``).
    tortuosity : float
        tau = epsilon x N_M (TauFactor's tortuosity factor, ionflow's ``tortuosity``).
    """

    axis: int
    relative_conductivity: float
    macmullin_number: float
    tortuosity: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "relative_conductivity": self.relative_conductivity,
            "macmullin_number": _num(self.macmullin_number),
            "tortuosity": _num(self.tortuosity),
        }


@dataclass(frozen=True)
class MicrostructureMetrics:
    """Every metric of one image or volume (:func:`ionflow.metrics.measure`).

    Attributes
    ----------
    shape : tuple of int
        Image shape (pixels / voxels), array order.
    voxel_size : tuple of float or None
        Voxel edge along every axis as given; ``None``: lengths are in voxel edges.
    length_unit : str
        ``"m"`` when a voxel size was given (assumed in metres), else ``"voxel"``.
    surface_method : str
        ``"faces"`` (face count x 2/3 in 3D, x pi/4 in 2D), ``"crofton"`` (13 directions) or
        ``"marching_cubes"``.
    phases : tuple of PhaseMetrics
        One per label, in increasing label order.
    interfaces : tuple of Interface
        One per pair of labels that touch.
    triple_phase_boundary : TriplePhaseBoundary or None
        For a three-label image (or the triple asked for); None otherwise.
    conductive_label : int, float or None
        The label whose conduction gives ``macmullin``.
    macmullin : tuple of MacMullin or None
        One per axis asked for; None when not requested.
    source : str or None
        The file the image came from.
    """

    shape: tuple[int, ...]
    voxel_size: tuple[float, ...] | None
    length_unit: str
    surface_method: str
    phases: tuple[PhaseMetrics, ...]
    interfaces: tuple[Interface, ...]
    triple_phase_boundary: TriplePhaseBoundary | None = None
    conductive_label: Label | None = None
    macmullin: tuple[MacMullin, ...] | None = None
    source: str | None = None

    def phase(self, label: Label) -> PhaseMetrics:
        """The metrics of ``label`` (KeyError if the image has no such label)."""
        for p in self.phases:
            if p.label == label:
                return p
        raise KeyError(label)

    @property
    def volume_fractions(self) -> dict[Label, float]:
        return {p.label: p.volume_fraction for p in self.phases}

    @property
    def specific_surface_areas(self) -> dict[Label, float]:
        return {p.label: p.specific_surface_area for p in self.phases}

    def interface(self, a: Label, b: Label) -> float:
        """Interfacial area density between ``a`` and ``b`` (0 if they never touch)."""
        pair = (min(a, b), max(a, b))
        for i in self.interfaces:
            if i.labels == pair:
                return i.area_density
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain numbers and lists, infinities as ``null``."""
        return {
            "file": self.source,
            "shape": list(self.shape),
            "voxel_size": list(self.voxel_size) if self.voxel_size else None,
            "length_unit": self.length_unit,
            "surface_method": self.surface_method,
            "volume_fractions": {_key(k): v for k, v in self.volume_fractions.items()},
            "specific_surface_areas": {_key(k): v for k, v in self.specific_surface_areas.items()},
            "interfaces": [i.to_dict() for i in self.interfaces],
            "triple_phase_boundary": (
                self.triple_phase_boundary.to_dict() if self.triple_phase_boundary else None
            ),
            "conductive_label": self.conductive_label,
            "macmullin": [m.to_dict() for m in self.macmullin] if self.macmullin else None,
            "phases": [p.to_dict() for p in self.phases],
        }

    def summary(self) -> dict[str, Any]:
        """One flat row of scalars (what ``ionflow metrics --csv`` writes)."""
        row: dict[str, Any] = {"file": self.source, "shape": "x".join(map(str, self.shape))}
        for p in self.phases:
            k = _key(p.label)
            row[f"fraction_{k}"] = p.volume_fraction
            row[f"ssa_{k}"] = p.specific_surface_area
            for perc in p.percolation:
                row[f"percolating_{k}_axis{perc.axis}"] = perc.percolating
                row[f"isolated_{k}_axis{perc.axis}"] = perc.isolated
            if p.size_distribution is not None:
                row[f"d50_{k}"] = p.size_distribution.d50
        for i in self.interfaces:
            row[f"interface_{i.labels[0]}_{i.labels[1]}"] = i.area_density
        if self.triple_phase_boundary is not None:
            row["tpb_density"] = self.triple_phase_boundary.density
        for m in self.macmullin or ():
            row[f"macmullin_axis{m.axis}"] = _num(m.macmullin_number)
        return row
