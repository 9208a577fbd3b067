"""The physics and solver options of a run, as one small frozen config object."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._scale import SCALE_LIMIT, in_scale
from ..errors import InputError
from ._geometry import check_pixel_size

__all__ = ["METHODS", "SolveOptions"]

METHODS = ("auto", "direct", "cg", "mg")
BOUNDARIES = ("insulating", "periodic")


@dataclass(frozen=True)
class SolveOptions:
    """What :func:`ionflow.simulate` needs besides the image and the axis, checked once.

    Bad values raise :class:`~ionflow.InputError` when the object is made, so a batch refuses
    them in one line before reading any file. ``ionflow.simulate_files`` takes one of these; a
    resumable output records :meth:`to_dict` with every row and resumes only rows made with
    equal options.

    Attributes
    ----------
    voltage : float
        Applied voltage V (V); finite and non-zero.
    conductivity : float
        Electrolyte conductivity sigma (S/m); positive and finite.
    matrix_conductivity : float
        Conductivity of the zero phase (S/m); finite and >= 0.
    label_conductivities : tuple of (label, S/m) pairs, or None
        Conductivity per label of a label image; a mapping is accepted and stored sorted.
    pixel_size : float, tuple of float, or None
        Pixel/voxel edge (m) for every file, or one edge per axis in array order (anisotropic
        voxels); None: each TIFF's own, else the l = 1 convention.
    boundary : {"insulating", "periodic"}
        Faces perpendicular to the flow (see :func:`ionflow.simulate`).
    electrode : {"face", "ghost"}
        Where the Dirichlet planes sit (see :func:`ionflow.simulate`).
    method : {"auto", "direct", "cg", "mg"}
        Linear solver (see :func:`ionflow.simulate`).
    rtol, balance_tol : float
        Accuracy targets of the iterative solvers; positive.
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where the 3D multigrid runs (see :func:`ionflow.simulate`).
    """

    voltage: float = 1.0
    conductivity: float = 1.0
    matrix_conductivity: float = 0.0
    label_conductivities: tuple[tuple[float, float], ...] | None = None
    pixel_size: float | tuple[float, ...] | None = None
    method: str = "auto"
    rtol: float = 1e-9
    balance_tol: float = 1e-6
    boundary: str = "insulating"
    electrode: str = "face"
    device: str = "auto"

    def __post_init__(self) -> None:
        labels = self.label_conductivities
        if labels is not None:
            pairs = labels.items() if isinstance(labels, Mapping) else labels
            try:
                norm = tuple(sorted((float(k), float(v)) for k, v in pairs))
            except (TypeError, ValueError):
                raise InputError(
                    f"label conductivities must be LABEL: S pairs, got {labels}"
                ) from None
            if any(not (math.isfinite(v) and v >= 0) for _, v in norm):
                raise InputError("label conductivities must be finite and >= 0")
            object.__setattr__(self, "label_conductivities", norm or None)
        if not (math.isfinite(self.voltage) and self.voltage != 0):
            raise InputError(f"voltage must be a finite non-zero number, got {self.voltage}")
        if not (math.isfinite(self.conductivity) and self.conductivity > 0):
            raise InputError(
                f"conductivity must be a positive, finite number, got {self.conductivity}"
            )
        if not (math.isfinite(self.matrix_conductivity) and self.matrix_conductivity >= 0):
            raise InputError(
                f"matrix conductivity must be finite and >= 0, got {self.matrix_conductivity}"
            )
        for what, value, unit in (
            ("voltage", self.voltage, "V"),
            ("conductivity", self.conductivity, "S/m"),
            ("matrix conductivity", self.matrix_conductivity, "S/m"),
            *(("a label conductivity", v, "S/m") for _, v in self.label_conductivities or ()),
        ):
            if not in_scale(value):
                raise InputError(
                    f"{what} {value:g} {unit} is out of range: give a value between "
                    f"{1 / SCALE_LIMIT:g} and {SCALE_LIMIT:g} {unit}"
                )
        if isinstance(self.pixel_size, (tuple, list)):
            sizes = tuple(float(check_pixel_size(v)) for v in self.pixel_size)  # type: ignore[arg-type]
            if not 1 <= len(sizes) <= 3:
                raise InputError(f"give 1, 2 or 3 pixel sizes, got {len(sizes)}")
            object.__setattr__(self, "pixel_size", sizes[0] if len(sizes) == 1 else sizes)
        else:
            object.__setattr__(self, "pixel_size", check_pixel_size(self.pixel_size))
        if self.electrode not in ("face", "ghost"):
            raise InputError(f"unknown electrode {self.electrode!r}; use face or ghost")
        if self.boundary not in BOUNDARIES:
            raise InputError(
                f"unknown boundary {self.boundary!r}; use one of {', '.join(BOUNDARIES)}"
            )
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if not (
            self.device in ("auto", "cpu", "cuda")
            or (self.device.startswith("cuda:") and self.device[5:].isdigit())
        ):
            raise InputError(f"unknown device {self.device!r}; use auto, cpu, cuda or cuda:N")
        for name in ("rtol", "balance_tol"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number, got {value}")

    def simulate_kwargs(self) -> dict[str, Any]:
        """Keywords of :func:`ionflow.simulate` (all but ``pixel_size``, which is per file)."""
        return {
            "voltage": self.voltage,
            "conductivity": self.conductivity,
            "matrix_conductivity": self.matrix_conductivity,
            "label_conductivities": dict(self.label_conductivities)
            if self.label_conductivities
            else None,
            "method": self.method,
            "rtol": self.rtol,
            "balance_tol": self.balance_tol,
            "boundary": self.boundary,
            "electrode": self.electrode,
            "device": self.device,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (label conductivities as ``[[label, S], ...]``)."""
        out = self.simulate_kwargs()
        out["label_conductivities"] = (
            [list(p) for p in self.label_conductivities] if self.label_conductivities else None
        )
        out["pixel_size"] = (
            list(self.pixel_size) if isinstance(self.pixel_size, tuple) else self.pixel_size
        )
        if self.boundary == "insulating":  # the default: rows written before it existed match
            del out["boundary"]
        if self.electrode == "face":
            del out["electrode"]
        del out["device"]  # where it ran does not change the answer (resume across devices)
        return out
