"""ionflow: effective ionic conductivity of battery electrode microstructures.

Quick start::

    import ionflow
    img = ionflow.generate.disks((64, 64), electrolyte_fraction=0.8, rng=0)
    res = ionflow.simulate(img)          # ConductionResult
    res.relative_conductivity, res.tortuosity

The solver (``ionflow.solve``), generators (``ionflow.generate``) and image input
(``ionflow.io``) never import torch; the surrogate lives in ``ionflow.model``.
"""

from __future__ import annotations

from . import generate, io, solve
from .errors import InputError, IonflowError, ResourceError
from .io import read_image
from .solve import ConductionResult, simulate, simulate_many

__version__ = "0.1.0"

__all__ = [
    "ConductionResult",
    "InputError",
    "IonflowError",
    "ResourceError",
    "generate",
    "io",
    "read_image",
    "simulate",
    "simulate_many",
    "solve",
    "__version__",
]
