"""Microstructure metrics of label images and volumes (2D and 3D; numpy/scipy/scikit-image).

``measure(image)`` returns a :class:`MicrostructureMetrics`: volume fraction, specific surface
area, local-thickness size distribution, percolating / dead-end / isolated shares per
direction and two-point correlation of every label, the interfacial area of every pair of
labels, the triple-phase boundary density of a three-label image and, on request, the
MacMullin number of the conducting label. Lengths are in the voxel size's unit (metres) or in
voxel edges when none is given; per-axis voxel sizes are honoured throughout.

Surface areas: face count x 2/3 (3D) / x pi/4 (2D) by default, 13-direction Crofton (as
Avizo) or marching cubes; the conventions and what each is exact for are in
:mod:`ionflow.metrics._surface`.
"""

from __future__ import annotations

from ._correlation import two_point_correlation
from ._files import MetricsOutcome, measure_files
from ._measure import (
    interfacial_areas,
    macmullin_number,
    measure,
    specific_surface_areas,
    triple_phase_boundary,
    volume_fractions,
)
from ._percolation import percolation
from ._result import (
    Interface,
    MacMullin,
    MicrostructureMetrics,
    Percolation,
    PhaseMetrics,
    SizeDistribution,
    TriplePhaseBoundary,
    TwoPointCorrelation,
)
from ._size import local_thickness, size_distribution
from ._surface import SURFACE_METHODS

__all__ = [
    "SURFACE_METHODS",
    "Interface",
    "MacMullin",
    "MetricsOutcome",
    "MicrostructureMetrics",
    "Percolation",
    "PhaseMetrics",
    "SizeDistribution",
    "TriplePhaseBoundary",
    "TwoPointCorrelation",
    "interfacial_areas",
    "local_thickness",
    "macmullin_number",
    "measure",
    "measure_files",
    "percolation",
    "size_distribution",
    "specific_surface_areas",
    "triple_phase_boundary",
    "two_point_correlation",
    "volume_fractions",
]
