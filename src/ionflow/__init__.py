"""ionflow: effective ionic conductivity of battery electrode microstructures.

Quick start::

    import ionflow
    img = ionflow.generate.disks((64, 64), electrolyte_fraction=0.8, rng=0)
    res = ionflow.simulate(img)          # ConductionResult
    res.relative_conductivity, res.tortuosity

The solver (``ionflow.solve``), generators (``ionflow.generate``), image input (``ionflow.io``)
and prediction (``ionflow.surrogate``) never import torch; training lives in ``ionflow.model``.
Subpackages and the top-level functions load on first use, so ``ionflow predict`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import InputError, IonflowError, NotConvergedError, ResourceError

__version__ = "0.1.0"  # the one source: pyproject.toml reads it (tool.setuptools.dynamic)

_SUBPACKAGES = (
    "generate",
    "io",
    "solve",
    "metrics",
    "rev",
    "cellmodel",
    "surrogate",
    "dataset",
    "model",
    "plot",
)
_WHERE = {
    "ConductionResult": "solve",
    "simulate": "solve",
    "simulate_many": "solve",
    "conductivity_tensor": "solve",
    "depth_profile": "solve",
    "electrode_tortuosity": "solve",
    "homogenised_tensor": "solve",
    "impedance": "solve",
    "simulate_files": "solve",
    "SolveOptions": "solve",
    "ReadOptions": "io",
    "read_image": "io",
}

__all__ = [
    "ConductionResult",
    "InputError",
    "IonflowError",
    "NotConvergedError",
    "ReadOptions",
    "ResourceError",
    "SolveOptions",
    "cellmodel",
    "conductivity_tensor",
    "depth_profile",
    "electrode_tortuosity",
    "generate",
    "homogenised_tensor",
    "impedance",
    "io",
    "metrics",
    "read_image",
    "rev",
    "simulate",
    "simulate_files",
    "simulate_many",
    "solve",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from . import cellmodel, generate, io, metrics, rev, solve
    from .io import ReadOptions, read_image
    from .solve import (
        ConductionResult,
        SolveOptions,
        conductivity_tensor,
        depth_profile,
        electrode_tortuosity,
        homogenised_tensor,
        impedance,
        simulate,
        simulate_files,
        simulate_many,
    )


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
