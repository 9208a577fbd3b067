"""The conduction solver: conventions, assembly, linear solvers and batch runs.

Importing this package never imports torch. Names load on first use (PEP 562), so that a
caller needing only the light parts (results, geometry, clusters: ``ionflow predict``) does not
pay for SciPy's sparse solvers at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_WHERE = {
    "LinearSystem": "_assemble",
    "assemble": "_assemble",
    "conductivity_map": "_assemble",
    "percolating_mask": "_assemble",
    "electrode_clusters": "_clusters",
    "simulate_many": "_batch",
    "simulate_files": "_files",
    "FileOutcome": "_outcome",
    "SolveOptions": "_options",
    "check_pixel_size": "_geometry",
    "ConductionResult": "_result",
    "ElectrodeResult": "_electrode",
    "electrode_tortuosity": "_electrode",
    "impedance": "_electrode",
    "ideal_impedance": "_electrode",
    "TensorResult": "_tensor",
    "conductivity_tensor": "_tensor",
    "homogenised_tensor": "_tensor",
    "DepthProfile": "_tensor",
    "depth_profile": "_tensor",
    "geometry": "_geometry",
    "validate_image": "_geometry",
    "simulate": "_simulate",
}

__all__ = [
    "ConductionResult",
    "DepthProfile",
    "ElectrodeResult",
    "TensorResult",
    "conductivity_tensor",
    "depth_profile",
    "electrode_tortuosity",
    "homogenised_tensor",
    "ideal_impedance",
    "impedance",
    "FileOutcome",
    "LinearSystem",
    "SolveOptions",
    "assemble",
    "check_pixel_size",
    "conductivity_map",
    "geometry",
    "electrode_clusters",
    "percolating_mask",
    "simulate",
    "simulate_files",
    "simulate_many",
    "validate_image",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from ._assemble import LinearSystem, assemble, conductivity_map, percolating_mask
    from ._batch import simulate_many
    from ._clusters import electrode_clusters
    from ._electrode import ElectrodeResult, electrode_tortuosity, ideal_impedance, impedance
    from ._files import simulate_files
    from ._geometry import check_pixel_size, geometry, validate_image
    from ._options import SolveOptions
    from ._outcome import FileOutcome
    from ._result import ConductionResult
    from ._simulate import simulate
    from ._tensor import (
        DepthProfile,
        TensorResult,
        conductivity_tensor,
        depth_profile,
        homogenised_tensor,
    )


def __getattr__(name: str):
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
