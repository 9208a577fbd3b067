"""The conduction solver: conventions, assembly, linear solvers and batch runs.

Importing this package never imports torch.
"""

from ._assemble import (
    LinearSystem,
    assemble,
    conductivity_map,
    electrode_clusters,
    percolating_mask,
)
from ._batch import simulate_many
from ._result import ConductionResult
from ._simulate import geometry, simulate, validate_image

__all__ = [
    "ConductionResult",
    "LinearSystem",
    "assemble",
    "conductivity_map",
    "geometry",
    "electrode_clusters",
    "percolating_mask",
    "simulate",
    "simulate_many",
    "validate_image",
]
