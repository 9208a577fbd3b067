"""``measure``: one label image in, every microstructure metric out."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ._common import check_labels, label_value, phase_labels, spacing
from ._correlation import two_point_correlation
from ._percolation import percolation
from ._result import Interface, MacMullin, MicrostructureMetrics, PhaseMetrics, TriplePhaseBoundary
from ._size import size_distribution
from ._surface import SURFACE_METHODS, crofton_areas, face_areas, marching_cubes_areas, tpb

__all__ = [
    "interfacial_areas",
    "triple_phase_boundary",
    "macmullin_number",
    "measure",
    "specific_surface_areas",
    "volume_fractions",
]


def volume_fractions(image: np.ndarray) -> dict[int | float, float]:
    """Share of the voxels of every label.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        A label image (bool: labels 0 and 1).

    Returns
    -------
    dict
        ``{label: fraction}``, labels in increasing order, fractions summing to 1.
    """
    arr = check_labels(image)
    values, counts = np.unique(arr, return_counts=True)
    return {label_value(v): float(c) / arr.size for v, c in zip(values, counts)}


def _areas(
    arr: np.ndarray, values: np.ndarray, h: tuple[float, ...], method: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """(area per label, pair-area matrix or None), totals in length**(ndim-1)."""
    if method == "faces":
        pairs = face_areas(arr, values, h)
        return pairs.sum(axis=1), pairs
    if method == "crofton":
        pairs = crofton_areas(arr, values, h)
        return pairs.sum(axis=1), pairs
    if method == "marching_cubes":
        return marching_cubes_areas(arr, values, h)
    raise InputError(f"unknown surface method {method!r}; use one of {', '.join(SURFACE_METHODS)}")


def specific_surface_areas(
    image: np.ndarray,
    *,
    voxel_size: float | Sequence[float] | None = None,
    method: str = "faces",
) -> dict[int | float, float]:
    """Boundary area of every label per unit total volume (1/length).

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        A label image (bool: labels 0 and 1).
    voxel_size : float or sequence of float, optional
        Voxel edge, one or one per axis (default 1: lengths in voxels).
    method : {"faces", "crofton", "marching_cubes"}
        Face count x 2/3 in 3D (x pi/4 in 2D), 13-direction Crofton (as Avizo) or marching
        cubes; see :mod:`ionflow.metrics._surface` for what each is exact for.

    Returns
    -------
    dict
        ``{label: area per unit volume}``; in 2D a perimeter per unit area. Boundaries with
        the image's own faces do not count.
    """
    arr = check_labels(image)
    values = phase_labels(arr)
    h = spacing(voxel_size, arr.ndim)
    totals, _ = _areas(arr, values, h, method)
    volume = arr.size * math.prod(h)
    return {label_value(v): float(t) / volume for v, t in zip(values, totals)}


def interfacial_areas(
    image: np.ndarray,
    *,
    voxel_size: float | Sequence[float] | None = None,
    method: str = "faces",
) -> dict[tuple[int | float, int | float], float]:
    """Interfacial area per unit total volume (1/length) of every pair of labels that touch.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        A label image (bool: labels 0 and 1).
    voxel_size : float or sequence of float, optional
        Voxel edge, one or one per axis (default 1: lengths in voxels).
    method : {"faces", "crofton", "marching_cubes"}
        As for :func:`specific_surface_areas`; ``"marching_cubes"`` gives pairs for two or
        three labels only (an error for more).

    Returns
    -------
    dict
        ``{(a, b): area per unit volume}`` with ``a < b``, only pairs that touch.
    """
    arr = check_labels(image)
    values = phase_labels(arr)
    h = spacing(voxel_size, arr.ndim)
    _, pairs = _areas(arr, values, h, method)
    if pairs is None:
        raise InputError(
            f"marching cubes gives pair areas for two or three labels, not {values.size}; "
            "use method='faces'"
        )
    volume = arr.size * math.prod(h)
    return {
        (label_value(values[i]), label_value(values[j])): float(pairs[i, j]) / volume
        for i in range(values.size)
        for j in range(i + 1, values.size)
        if pairs[i, j] > 0
    }


def macmullin_number(
    image: np.ndarray,
    *,
    conductive_label: int | float | None = None,
    axis: int = 0,
    relative_conductivity: float | None = None,
    source: str | None = None,
    **simulate_options,
) -> MacMullin:
    """MacMullin number N_M = sigma / sigma_eff = tau / epsilon of the conducting phase.

    Parameters
    ----------
    image : ndarray
        Binary (nonzero conducts) or label image (``conductive_label`` conducts, every other
        label insulates).
    conductive_label : int or float, optional
        Required for a label image with more than two values.
    axis : int
        Direction of the flow.
    relative_conductivity : float, optional
        A precomputed sigma_eff / sigma (from a solver, TauFactor, an experiment); when
        omitted, :func:`ionflow.simulate` solves for it.
    source : str, optional
        Name of the input, for error messages.
    **simulate_options
        Passed on to :func:`ionflow.simulate` (``method``, ``rtol``, ...).

    Returns
    -------
    MacMullin
    """
    arr = check_labels(image, source=source)
    conductive, _ = _conductive_mask(arr, conductive_label, source=source)
    axis = _axis(axis, arr.ndim, source=source)
    fraction = float(np.count_nonzero(conductive)) / arr.size
    if relative_conductivity is None:
        from ..solve import simulate

        res = simulate(conductive, axis=axis, source=source, **simulate_options)
        relative_conductivity = res.relative_conductivity
    rc = float(relative_conductivity)
    if not (math.isfinite(rc) and rc >= 0):
        raise InputError(f"relative conductivity must be a number >= 0, got {rc}", source=source)
    number = math.inf if rc == 0 else 1.0 / rc
    return MacMullin(
        axis=axis,
        relative_conductivity=rc,
        macmullin_number=number,
        tortuosity=fraction * number if fraction > 0 else math.inf,
    )


def _triple(
    arr: np.ndarray,
    values: np.ndarray,
    h: tuple[float, ...],
    labels: Sequence[int | float] | None,
    *,
    source: str | None = None,
) -> TriplePhaseBoundary:
    if labels is None:
        if values.size != 3:
            raise InputError(
                f"the image has {values.size} labels: say which three meet (labels=(a, b, c))",
                source=source,
            )
        labels = tuple(values)
    missing = [t for t in labels if not np.any(values == t)]
    if missing:
        raise InputError(
            f"triple-phase boundary label(s) {missing} not in the image", source=source
        )
    return tpb(arr, tuple(labels), h, source=source)


def triple_phase_boundary(
    image: np.ndarray,
    *,
    labels: Sequence[int | float] | None = None,
    voxel_size: float | Sequence[float] | None = None,
) -> TriplePhaseBoundary:
    """Triple-phase boundary density where three labels meet.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        A label image.
    labels : sequence of three labels, optional
        The triple (default: the image's labels, when it has exactly three).
    voxel_size : float or sequence of float, optional
        Voxel edge, one or one per axis (default 1: lengths in voxels).

    Returns
    -------
    TriplePhaseBoundary
        3D: corrected voxel-edge length per volume (1/length**2); 2D: junction points per
        area. See :class:`~ionflow.metrics.TriplePhaseBoundary` for the correction.
    """
    arr = check_labels(image)
    values = phase_labels(arr)
    return _triple(arr, values, spacing(voxel_size, arr.ndim), labels)


def _axis(axis: int, ndim: int, *, source: str | None = None) -> int:
    if not -ndim <= axis < ndim:
        raise InputError(f"axis {axis} does not exist for a {ndim}D image", source=source)
    return axis % ndim


def _conductive_mask(
    arr: np.ndarray, label: int | float | None, *, source: str | None = None
) -> tuple[np.ndarray, int | float | None]:
    """(mask of the conducting phase, its label); a binary image: the nonzero label."""
    if label is not None:
        mask = arr == label
        if not mask.any():
            raise InputError(
                f"conductive label {label:g} does not occur in the image", source=source
            )
        return mask, label_value(label)
    values = np.unique(arr)
    if values.size <= 2 and values[0] == 0:
        return arr != 0, label_value(values[-1]) if values[-1] != 0 else None
    raise InputError(
        f"a label image ({values.size} labels): say which label conducts "
        "(conductive_label; ionflow metrics --conductive-label L)",
        source=source,
    )


BYTES_PER_CELL = {2: 80, 3: 130}
"""Peak memory of :func:`measure` per cell, about (with its defaults; measured 69 B on a
3000^2 and 120 B on a 160^3 two-phase image above the image itself)."""


def _check_memory(arr: np.ndarray, source: str | None) -> None:
    """Refuse, in one line, an image whose metrics would not fit in the memory free now."""
    from .._freemem import check_fits

    check_fits(arr.size * BYTES_PER_CELL[arr.ndim], arr.shape, "measure", source=source,
               small=2**28)  # fmt: skip


def measure(
    image: np.ndarray,
    *,
    voxel_size: float | Sequence[float] | None = None,
    surface_method: str = "faces",
    axes: Sequence[int] | None = None,
    size_distributions: bool = True,
    size_step: float | None = None,
    two_point: bool = True,
    periodic: bool = False,
    tpb_labels: Sequence[int | float] | None = None,
    conductive_label: int | float | None = None,
    macmullin: bool = False,
    relative_conductivity: float | Sequence[float] | None = None,
    source: str | None = None,
) -> MicrostructureMetrics:
    """Microstructure metrics of a 2D image or 3D volume of labels.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        A label image (bool: labels 0 and 1). At most 32 distinct values.
    voxel_size : float or sequence of float, optional
        Voxel edge (metres), one for cubic voxels or one per axis in array order. Default:
        lengths in voxel edges.
    surface_method : {"faces", "crofton", "marching_cubes"}
        How boundary areas are measured (see :mod:`ionflow.metrics._surface`).
    axes : sequence of int, optional
        Directions for percolation and the MacMullin number (default: every axis).
    size_distributions : bool
        Compute the local-thickness size distribution of every label (the slowest part: one
        distance transform per half-voxel of radius).
    size_step : float, optional
        Radius level spacing of the size distributions (length; default half a voxel).
    two_point : bool
        Compute S2(r) of every label.
    periodic : bool
        Wrap the image for S2(r) (the other metrics never wrap).
    tpb_labels : sequence of three labels, optional
        The triple whose boundary is measured (default: the image's labels when it has
        exactly three; none otherwise).
    conductive_label : int or float, optional
        The conducting label for the MacMullin number (default: the nonzero phase of a
        binary image).
    macmullin : bool
        Solve for sigma_eff with :func:`ionflow.simulate` along every axis in ``axes``.
    relative_conductivity : float or sequence of float, optional
        Precomputed sigma_eff / sigma, one per axis in ``axes`` (a single number for a single
        axis); no solve.
    source : str, optional
        Name of the input (kept in the result and in error messages).

    Returns
    -------
    MicrostructureMetrics
    """
    arr = check_labels(image, source=source)
    _check_memory(arr, source)
    values = phase_labels(arr, source=source)
    h = spacing(voxel_size, arr.ndim, source=source)
    axes = (
        tuple(range(arr.ndim))
        if axes is None
        else tuple(_axis(a, arr.ndim, source=source) for a in axes)
    )
    volume = arr.size * math.prod(h)
    counts = np.array([np.count_nonzero(arr == v) for v in values])
    totals, pairs = _areas(arr, values, h, surface_method)

    phases = []
    for i, v in enumerate(values):
        mask = arr == v
        single = values.size == 1
        phases.append(
            PhaseMetrics(
                label=label_value(v),
                volume_fraction=float(counts[i]) / arr.size,
                specific_surface_area=float(totals[i]) / volume,
                percolation=percolation(mask, axes=axes),
                size_distribution=(
                    size_distribution(mask, voxel_size=h, step=size_step)
                    if size_distributions and not single
                    else None
                ),
                two_point=(
                    two_point_correlation(mask, voxel_size=h, periodic=periodic)
                    if two_point
                    else None
                ),
            )
        )
    interfaces: tuple[Interface, ...] = ()
    if pairs is not None:
        interfaces = tuple(
            Interface(
                labels=(label_value(values[a]), label_value(values[b])),
                area_density=float(pairs[a, b]) / volume,
            )
            for a in range(values.size)
            for b in range(a + 1, values.size)
            if pairs[a, b] > 0
        )

    triple = None
    if tpb_labels is not None or values.size == 3:
        triple = _triple(arr, values, h, tpb_labels, source=source)

    mm = None
    conductive = None
    if macmullin or relative_conductivity is not None:
        given: list = [None] * len(axes)
        if relative_conductivity is not None:
            given = list(np.atleast_1d(np.asarray(relative_conductivity, dtype=float)))
            if len(given) != len(axes):
                raise InputError(
                    f"{len(given)} relative conductivities for {len(axes)} axes {list(axes)}",
                    source=source,
                )
        _, conductive = _conductive_mask(arr, conductive_label, source=source)
        mm = tuple(
            macmullin_number(
                arr,
                conductive_label=conductive_label,
                axis=a,
                relative_conductivity=g,
                source=source,
                pixel_size=voxel_size,  # box-shaped voxels conduct differently along each axis
            )
            for a, g in zip(axes, given)
        )

    return MicrostructureMetrics(
        shape=tuple(int(n) for n in arr.shape),
        voxel_size=None if voxel_size is None else h,
        length_unit="voxel" if voxel_size is None else "m",
        surface_method=surface_method,
        phases=tuple(phases),
        interfaces=interfaces,
        triple_phase_boundary=triple,
        conductive_label=conductive,
        macmullin=mm,
        source=source,
    )
