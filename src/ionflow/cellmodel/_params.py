"""Microstructure parameters of one electrode for a homogenised (P2D / SPMe) cell model.

Definitions (SI units; "electrode volume" is the whole image, every phase):

* **porosity** eps: volume fraction of the electrolyte (the conducting phase; in a solid-state
  composite cathode the solid electrolyte, in a liquid cell the pore space).
* **transport efficiency** B = sigma_eff / sigma along the flow axis (the through-thickness
  direction of the electrode): BPX's "Transport efficiency", the inverse MacMullin number.
* **tortuosity factor** tau = eps / B (TauFactor's, and ``ConductionResult.tortuosity``).
* **Bruggeman exponent** b: the one exponent with eps**b = B, i.e. b = ln B / ln eps and
  tau = eps**(1 - b). PyBaMM's default transport model is B = eps**b, so this b reproduces the
  measured B exactly at the measured porosity (and extrapolates along a power law if a model
  changes eps). b = 1.5 is Bruggeman's value for spheres.
* **specific surface area** a (m^-1): surface of the active material (its interface with
  every other phase) per electrode volume, BPX's "Surface area per unit volume"; the
  **reactive surface area** is the part that touches the electrolyte (equal in a two-phase
  image; less where carbon-binder covers the particles). From ``ionflow.metrics``
  (voxel-face count x 2/3 in 3D). A 2D image is taken as a section of an isotropic 3D
  structure: stereology gives S_V = (4 / pi) L_A from the perimeter per area L_A.
* **particle radius** R (m) = 3 eps_am / a: the radius of spheres with the active material's
  volume fraction eps_am and surface a (for polydisperse spheres: the Sauter mean radius).
  PyBaMM (and its BPX reader) take the reacting area as 3 eps_am / R = a, so with a
  carbon-binder phase the reaction area is overstated by a / reactive (both are in the file;
  scale the exchange-current density to correct it).

Only the electrolyte conducts ions here: every other label (active material, carbon-binder)
insulates, as ``--conductive-label`` does in ``ionflow simulate``.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from ..errors import InputError

__all__ = ["ELECTRODES", "ElectrodeParameters", "electrode_parameters"]

log = logging.getLogger(__name__)

ELECTRODES = ("positive", "negative")


@dataclass(frozen=True)
class ElectrodeParameters:
    """Cell-model parameters of one electrode, measured on its image (SI units).

    Attributes
    ----------
    electrode : {"positive", "negative"}
        Which electrode of the cell the image shows.
    porosity : float
        Electrolyte volume fraction eps.
    transport_efficiency : float
        sigma_eff / sigma through the thickness (BPX "Transport efficiency").
    tortuosity_factor : float
        tau = eps / transport_efficiency.
    bruggeman_exponent : float
        b with eps**b = transport_efficiency (tau = eps**(1 - b)).
    active_material_fraction : float
        Volume fraction of the active material, eps_am.
    surface_area : float
        Whole surface of the active material per electrode volume, m^-1 (BPX "Surface area per
        unit volume").
    reactive_surface_area : float
        The part of it touching the electrolyte, m^-1 (= ``surface_area`` for two phases).
    particle_radius : float
        3 eps_am / surface_area, m.
    thickness : float or None
        Electrode thickness in m when the image spans it (given by the caller), else None.
    interval : tuple of float or None
        Confidence interval of the material's transport efficiency from a representativeness
        study (``ionflow.rev``), when one was run; ``confidence`` gives its level.
    confidence : float or None
        Level of ``interval``.
    provenance : dict
        Where the numbers came from: source, shape, axis, voxel size, labels, solver, accuracy,
        surface method, ionflow version.
    """

    electrode: str
    porosity: float
    transport_efficiency: float
    tortuosity_factor: float
    bruggeman_exponent: float
    active_material_fraction: float
    surface_area: float
    reactive_surface_area: float
    particle_radius: float
    thickness: float | None = None
    interval: tuple[float, float] | None = None
    confidence: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def domain(self) -> str:
        """``"Positive"`` or ``"Negative"``: the prefix of PyBaMM's and BPX's names."""
        return self.electrode.capitalize()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, field by field."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if self.interval is not None:
            out["interval"] = list(self.interval)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ElectrodeParameters:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        if values.get("interval") is not None:
            values["interval"] = tuple(values["interval"])
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown electrode parameter fields {sorted(unknown)}")
        return cls(**values)


def _labels(
    arr: np.ndarray,
    electrolyte: float | None,
    active: float | Sequence[float] | None,
    source: str | None,
) -> tuple[np.ndarray, float, tuple[float, ...]]:
    """(label image, electrolyte label, active labels); a binary image: 1 = electrolyte."""
    if arr.dtype == bool:
        arr = arr.view(np.uint8)
    values = [v.item() for v in np.unique(arr)]
    if electrolyte is None:
        if set(values) <= {0, 1}:
            electrolyte = 1
        elif len(values) == 2 and values[0] == 0:  # binary as stored (0/255): nonzero conducts
            electrolyte = values[1]
        else:
            raise InputError(
                f"a label image ({len(values)} labels: {values[:8]}) needs its electrolyte "
                "label (electrolyte=L, --electrolyte L)",
                source=source,
            )
    if electrolyte not in values:
        raise InputError(
            f"electrolyte label {electrolyte} is not in the image (its labels: {values[:8]})",
            source=source,
        )
    if active is None:
        others = [v for v in values if v != electrolyte]
        if len(others) != 1:
            raise InputError(
                f"the image has labels {values[:8]}: say which are active material (active=..., "
                "--active L, repeatable)",
                source=source,
            )
        active = others
    act = tuple(np.atleast_1d(np.asarray(active)).tolist())
    missing = [a for a in act if a not in values]
    if missing or electrolyte in act:
        raise InputError(
            f"active labels {list(act)} must be in the image (labels {values}) and differ "
            f"from the electrolyte label {electrolyte}",
            source=source,
        )
    return arr, electrolyte, act


def electrode_parameters(
    image: np.ndarray,
    *,
    pixel_size: float | tuple[float, ...],
    electrode: str = "positive",
    axis: int = 0,
    electrolyte: float | None = None,
    active: float | Sequence[float] | None = None,
    thickness: float | None = None,
    rev: bool | Mapping[str, Any] = False,
    solve: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> ElectrodeParameters:
    """Porosity, transport efficiency, tortuosity, Bruggeman exponent, surface and radius.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        Binary (nonzero = electrolyte, zero = active material) or a label image.
    pixel_size : float or tuple of float
        Edge of one voxel in metres, or one edge per axis (anisotropic voxels).
    electrode : {"positive", "negative"}
        Which electrode the image shows.
    axis : int
        The through-thickness axis (current collector to separator): the flow axis.
    electrolyte : label, optional
        Label of the electrolyte in a label image (binary images: 1 / True).
    active : label or labels, optional
        Label(s) of the active material; default: the one label that is not electrolyte.
    thickness : float, optional
        Electrode thickness in metres, only when the image spans the whole electrode.
    rev : bool or mapping
        Also run :func:`ionflow.rev.representativeness` (keywords in the mapping) and keep the
        material interval of the transport efficiency.
    solve : mapping, optional
        More keywords for :func:`ionflow.simulate` (``method``, ``rtol``).
    source : str, optional
        Name of the input, for messages.

    Returns
    -------
    ElectrodeParameters
    """
    from ..metrics import interfacial_areas, specific_surface_areas, volume_fractions
    from ..solve import simulate

    if electrode not in ELECTRODES:
        raise InputError(f"electrode must be one of {ELECTRODES}, got {electrode!r}")
    edges = pixel_size if isinstance(pixel_size, (tuple, list)) else (pixel_size,)
    if not edges or not all(
        isinstance(e, (int, float)) and math.isfinite(e) and e > 0 for e in edges
    ):
        raise InputError(
            "cell-model parameters need the voxel size in metres (surface area, particle "
            f"radius); got {pixel_size!r}",
            source=source,
        )
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise InputError(f"expected a 2D or 3D image, got shape {arr.shape}", source=source)
    if not -arr.ndim <= axis < arr.ndim:
        raise InputError(f"axis {axis} does not exist for a {arr.ndim}D image", source=source)
    if len(edges) not in (1, arr.ndim):
        raise InputError(
            f"{len(edges)} voxel sizes for a {arr.ndim}D image (give one, or one per axis)",
            source=source,
        )
    if thickness is not None:
        depth = arr.shape[axis % arr.ndim] * float(edges[axis % arr.ndim if len(edges) > 1 else 0])
        if not (isinstance(thickness, numbers.Real) and math.isfinite(thickness)) or thickness <= 0:
            raise InputError(
                f"thickness must be a positive length in m, got {thickness!r}", source=source
            )
        if thickness < depth * (1 - 1e-9):
            raise InputError(
                f"thickness {thickness:g} m is less than the image's own depth ({depth:g} m "
                f"along axis {axis}): give the whole electrode's thickness, or none",
                source=source,
            )
    labels, el, act = _labels(arr, electrolyte, active, source)
    conductive = labels == el
    res = simulate(conductive, axis=axis, pixel_size=pixel_size, **dict(solve or {}), source=source)
    eps = res.electrolyte_fraction
    te = res.relative_conductivity
    if not res.percolating or te <= 0:
        raise InputError(
            f"the electrolyte does not connect the two faces along axis {axis}: no transport "
            "efficiency, tortuosity or Bruggeman exponent",
            source=source,
        )
    if eps >= 1:
        raise InputError("the image is all electrolyte: not an electrode", source=source)
    fractions = volume_fractions(labels)
    eps_am = sum(fractions.get(a, 0.0) for a in act)
    surfaces = specific_surface_areas(labels, voxel_size=pixel_size)
    pairs = interfacial_areas(labels, voxel_size=pixel_size)
    a_am = sum(surfaces.get(a, 0.0) for a in act)
    a_am -= 2 * sum(pairs.get((min(x, y), max(x, y)), 0.0) for x in act for y in act if x < y)
    a_el = sum(pairs.get((min(a, el), max(a, el)), 0.0) for a in act)
    if arr.ndim == 2:  # a section of an isotropic 3D structure: S_V = (4 / pi) L_A
        a_am *= 4 / math.pi
        a_el *= 4 / math.pi
        log.warning(
            "%s: 2D image: surface and radius by stereology (isotropic 3D assumed); the 2D "
            "transport efficiency is not the 3D electrode's",
            source or "image",
        )
    if a_am <= 0:
        raise InputError("the active material has no surface inside the image", source=source)
    interval = confidence = None
    if rev:
        from ..rev import representativeness

        options = {"progress": False, "rng": 0, **(rev if isinstance(rev, Mapping) else {})}
        study = representativeness(
            conductive, axis=axis, pixel_size=pixel_size, solve=solve, source=source, **options
        )
        est = study["relative_conductivity"]
        low, high = est.material_interval
        interval, confidence = (float(low), float(high)), est.confidence
    provenance = {
        "source": source,
        "shape": list(arr.shape),
        "axis": axis % arr.ndim,
        "voxel size [m]": pixel_size,
        "electrolyte label": el,
        "active labels": list(act),
        "volume fractions": {str(k): v for k, v in fractions.items()},
        "method": res.method,
        "accuracy": res.accuracy,
        "percolating fraction": res.percolating_fraction,
        "surface": "voxel faces x 2/3 (3D); 2D: x pi/4, then S_V = 4/pi L_A",
        "ionflow": __version__,
    }
    return ElectrodeParameters(
        electrode=electrode,
        porosity=eps,
        transport_efficiency=te,
        tortuosity_factor=res.tortuosity,
        bruggeman_exponent=math.log(te) / math.log(eps),
        active_material_fraction=eps_am,
        surface_area=a_am,
        reactive_surface_area=a_el,
        particle_radius=3 * eps_am / a_am,
        thickness=thickness,
        interval=interval,
        confidence=confidence,
        provenance=provenance,
    )
