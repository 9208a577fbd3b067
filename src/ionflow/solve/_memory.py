"""Will a solve fit in memory? Checked before any large allocation, so an image that is too large
fails at once with a clear :class:`~ionflow.ResourceError` (naming the estimate) instead of
swapping, being killed, or raising a bare ``MemoryError`` half-way.

Two checks run in :func:`ionflow.simulate`: a first one right after the input's shape is known
(before the conductivity map, the cluster labels or anything else the size of the image exists),
with every conducting cell counted as an unknown; and a second, tighter one once the percolating
cells are known. "Available" is the smallest of the free memory (``MemAvailable``), the address
space left under ``ulimit -v`` and the memory left in the process's cgroup.
"""

from __future__ import annotations

from .._freemem import available_memory, memory_message
from ..errors import ResourceError

__all__ = ["available_memory", "check_memory", "estimate_simulate_bytes", "estimate_solve_bytes"]

# Peak memory of the solve phase (hierarchy, Krylov vectors), on top of the image and the
# arrays that exist before it, in bytes per cell of the image and per unknown (kept cell).
# Lean multigrid ("mg", ``_lean.py``): an int32 index grid (4 B/cell) and the coarse levels'
# grids (~0.6 B/cell), the float64 potential and four float32 vectors (24 B/unknown), the coarse
# levels (~0.18 coarse unknowns per unknown at 44 B each: 8 B/unknown), +36 B/unknown with
# several conductivities (the conductivity, the cluster labels and coarse levels split by
# cluster: the whole NREL electrode peaked 280 MB higher with them, 25 B per unknown); the
# 500^3 standard volume peaked at 2.3 GB (30 % conducting). A binary 3D image of up to 400^3
# cells also gets the dense finest level (16 B/cell, ``_lean.dense_bytes``).
# pyamg's smoothed aggregation needs ~330 B per unknown (60^3 blobs); the sparse direct solver
# more still in 3D (its fill-in grows faster than linearly, so that figure is only a floor). 2D
# direct: 2000^2 random pixels (2.8 M unknowns) peaked at 1.9 GB, ~620 B per unknown.
_BYTES = {
    "mg": (5.0, 34.0),
    "mg-conductivities": (5.0, 70.0),
    "cg": (25.0, 400.0),
    "direct": (25.0, 1500.0),
    "direct2d": (25.0, 800.0),
}
# Arrays that exist before and during the solve: the float64 conductivity map, the phase and
# cluster masks and the cluster labels (uint32), per cell of the image; a binary image on the
# lean multigrid keeps only the electrolyte and kept-cell masks (2 B/cell) by the solve, and
# its cluster labelling (~10 B/cell) is over before the solve allocates.
_PREPARE = 20.0
_PREPARE_LEAN = 2.0
_LABELLING = 10.0
_FIELDS = 16.0
_SAFETY = 1.1
# Below this estimate the check does not read the limits (a 64^2 batch solves ~2000 images
# a second; a MemoryError of a small solve still becomes a ResourceError in simulate).
SMALL = 32 * 2**20


def estimate_solve_bytes(cells: int, unknowns: int, method: str) -> float:
    """Estimated extra peak memory (bytes) of the linear solve with ``method``.

    Parameters
    ----------
    cells : int
        Cells of the image.
    unknowns : int
        Cells that are unknowns (the percolating conductive cells, or an upper bound).
    method : str
        ``"mg"``, ``"cg"``, ``"direct"`` (3D) or ``"direct2d"``.

    Returns
    -------
    float
        Bytes, with a 10 % margin.
    """
    per_cell, per_unknown = _BYTES.get(method, _BYTES["cg"])
    return _SAFETY * (per_cell * cells + per_unknown * unknowns)


def estimate_simulate_bytes(
    shape: tuple[int, ...],
    unknowns: int,
    method: str,
    *,
    fields: bool = False,
    binary: bool = False,
) -> float:
    """Estimated peak memory (bytes) of a whole :func:`ionflow.simulate` call, beyond the input.

    Parameters
    ----------
    shape : tuple of int
        Shape of the image.
    unknowns : int
        Cells that will be unknowns (an upper bound is fine).
    method : str
        Solver used (see :func:`estimate_solve_bytes`; a 2D ``"direct"`` is counted as
        ``"direct2d"``).
    fields : bool
        Whether the potential and current-density fields are returned.
    binary : bool
        One conducting phase (no matrix or label conductivities): the lean multigrid then
        needs no conductivity map.

    Returns
    -------
    float
        Bytes.
    """
    cells = _cells(shape)
    if method == "direct" and len(shape) == 2:
        method = "direct2d"
    dense = 0.0
    if method == "mg" and binary:
        from ._lean import dense_bytes

        dense = _SAFETY * dense_bytes(tuple(shape), unknowns)  # 3D, up to 400^3 cells
    if method == "mg" and binary and not fields:
        # the cluster labelling peaks before the solve allocates: the larger of the two
        solve = _SAFETY * _PREPARE_LEAN * cells + estimate_solve_bytes(cells, unknowns, method)
        return max(_SAFETY * _LABELLING * cells, solve + dense)
    if method == "mg":
        method = "mg-conductivities"
    extra = _PREPARE + (_FIELDS + 8.0 * len(shape) if fields else 0.0)
    return _SAFETY * extra * cells + estimate_solve_bytes(cells, unknowns, method) + dense


def check_memory(
    shape: tuple[int, ...],
    unknowns: int,
    method: str,
    *,
    fields: bool = False,
    binary: bool = False,
    source: str | None = None,
) -> None:
    """Raise :class:`ResourceError` when a simulate call would not fit in the available memory.

    Parameters
    ----------
    shape : tuple of int
        Shape of the image.
    unknowns : int
        Cells that will be unknowns (an upper bound is fine).
    method : str
        Solver (``"mg"``, ``"cg"``, ``"direct"``).
    fields : bool
        Whether the fields are returned.
    binary : bool
        One conducting phase (see :func:`estimate_simulate_bytes`).
    source : str, optional
        Name of the input, for the message.

    Raises
    ------
    ResourceError
        With the estimate and what is available.
    """
    need = estimate_simulate_bytes(shape, unknowns, method, fields=fields, binary=binary)
    if need < SMALL:  # a small image: not worth six file reads per solve
        return
    have = available_memory()
    if have is None or need <= have:
        return
    raise ResourceError(out_of_memory_message(shape, need, have, source=source))


def out_of_memory_message(
    shape: tuple[int, ...], need: float, have: float | None, *, source: str | None = None
) -> str:
    """One line: what the image needs, what is available, what to do."""
    return memory_message(shape, need, have, "solve", source=source)


def _cells(shape: tuple[int, ...]) -> int:
    cells = 1
    for n in shape:
        cells *= int(n)
    return cells
