"""The effective conductivity tensor and depth profiles along the thickness.

Tensor: with the flow along axis ``j`` (potential difference V over the length ``L_j``), the
volume average of the current density ``<J>`` gives column ``j`` of the effective conductivity
tensor, ``K[:, j] = <J> L_j / V`` (the diagonal entry equals ``simulate``'s effective
conductivity; the off-diagonal ones are the cross-currents a tilted microstructure drives).
Periodic lateral faces (the default here) let cross-currents flow; with insulating faces they
must vanish on average. The principal values and axes are those of the symmetric part; the
asymmetry ``|K - K^T| / |K|`` measures how far the finite sample is from the symmetric tensor
of homogenisation theory (electrode layers at the two faces make it slightly non-symmetric).

Depth profiles (TauFactor's ``tau_x`` for PyBaMM): per slice along the flow, the electrolyte
fraction ``eps(x)``, the electrolyte/solid interface density ``a(x)`` and, per face between
slices, a local tortuosity factor ``tau(x) = eps_face / kappa_face``: ``kappa_face`` is the
mean current density over the drop of the slice-averaged electrolyte potential across the
face. The ends use the electrodes (half a cell away; a whole cell with ``electrode="ghost"``),
so the harmonic mean of ``kappa`` over the faces, weighted by their distances (half weights at
the ends; whole ones with ghost electrodes), is exactly ``simulate``'s relative conductivity.
Interface densities count every electrolyte/solid voxel face by its own area (anisotropic
voxels: the area normal to each axis).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ._assemble import percolating_cells
from ._result import ConductionResult
from ._simulate import Boundary, simulate

__all__ = [
    "DepthProfile",
    "TensorResult",
    "conductivity_tensor",
    "depth_profile",
    "homogenised_tensor",
    "tensor_from_results",
]


def _jsonable(obj) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in obj.__dataclass_fields__:
        value = getattr(obj, name)
        if name == "results":
            value = [r.to_dict() for r in value]
        elif isinstance(value, np.ndarray):
            value = np.where(np.isfinite(value), value, np.nan).tolist()
            value = _nan_to_none(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def _nan_to_none(value):
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


@dataclass(frozen=True)
class TensorResult:
    """Effective conductivity tensor of one image.

    Attributes
    ----------
    conductivity : ndarray, shape (ndim, ndim)
        ``K[i, j]``: mean current density along ``i`` per unit potential gradient along ``j``,
        in S/m.
    relative : ndarray, shape (ndim, ndim)
        ``K / sigma`` (dimensionless).
    principal_values : ndarray, shape (ndim,)
        Eigenvalues of the symmetric part of ``relative``, largest first.
    principal_axes : ndarray, shape (ndim, ndim)
        Unit eigenvectors (columns, in array-axis coordinates) matching ``principal_values``.
    asymmetry : float
        ``|K - K^T| / |K|`` (Frobenius norms).
    boundary : str
        Lateral faces used for the solves.
    results : tuple of ConductionResult
        The solve along each axis.
    """

    conductivity: np.ndarray
    relative: np.ndarray
    principal_values: np.ndarray
    principal_axes: np.ndarray
    asymmetry: float
    boundary: str
    results: tuple[ConductionResult, ...] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (nested lists; infinities and NaN become ``None``)."""
        return _jsonable(self)


def conductivity_tensor(
    image: np.ndarray, *, boundary: Boundary = "periodic", **options: Any
) -> TensorResult:
    """The effective conductivity tensor from one solve per axis (see the module docstring).

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        As for :func:`ionflow.simulate`.
    boundary : {"periodic", "insulating"}
        Lateral faces of every solve (periodic by default: cross-currents can flow).
    **options
        Passed to :func:`ionflow.simulate` (conductivity, label_conductivities, pixel_size,
        method, rtol, source ...); not ``axis`` or ``fields``.

    Returns
    -------
    TensorResult
    """
    if "axis" in options or "fields" in options:
        raise InputError("conductivity_tensor solves along every axis and needs the fields")
    import dataclasses

    arr = np.asarray(image)
    results = []
    for j in range(arr.ndim):
        res = simulate(arr, axis=j, boundary=boundary, fields=boundary != "periodic", **options)
        if res.mean_current_density is None and res.current_density is not None:
            mean = res.current_density.reshape(arr.ndim, -1).mean(axis=1)
            res = dataclasses.replace(res, mean_current_density=tuple(float(v) for v in mean))
        results.append(_without_fields(res))
    return tensor_from_results(results)


TENSOR_RTOL = 1e-7
"""Relative residual to which :func:`homogenised_tensor` solves each cell problem (iterative
path). The tensor is read from the variational estimate, second order in the solves' error:
on a 128^3 crop of the TauFactor electrode's pores its entries were 9e-13 (relative) from the
1e-12 solves' at a residual of 1e-6, 3e-15 at 1e-7 and 9e-16 at 1e-8 (14.8 s against 20.6 s
at 1e-12 and 42.7 s with a hierarchy per axis; ad hoc)."""


def homogenised_tensor(
    image: np.ndarray,
    *,
    conductivity: float = 1.0,
    matrix_conductivity: float = 0.0,
    label_conductivities: Mapping[float, float] | None = None,
    pixel_size: float | Sequence[float] | None = None,
    source: str | None = None,
    progress: bool = False,
) -> TensorResult:
    """The homogenised (effective) conductivity tensor of a periodic cell: symmetric by design.

    The image is taken as one period of an infinite material (every axis wraps). For each
    axis ``j`` a mean gradient of 1 along ``j`` is imposed and the periodic fluctuation
    ``phi'`` solves ``div(sigma (grad phi' + e_j)) = 0`` on the cell's conducting clusters (the
    classical cell problem of homogenisation theory); ``K[:, j]`` is the volume average of
    ``sigma (grad phi' + e_j)``. Discretely this is the Galerkin form of the same stencil, so
    ``K`` is symmetric positive semi-definite to rounding, laminates are exact (harmonic mean
    across, arithmetic along) and a cluster that percolates in no direction carries no mean
    current. Unlike :func:`conductivity_tensor` there are no electrode layers.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        Binary (nonzero conducts) or label image (with ``label_conductivities``).
    conductivity, matrix_conductivity, label_conductivities
        As for :func:`ionflow.simulate` (S/m).
    pixel_size : float or sequence of float, optional
        Cell edge, or one per axis (anisotropic voxels); only ratios matter for ``K``.
    source : str, optional
        Name of the input, for error messages.
    progress : bool
        A progress bar on stderr (a million conducting cells or more: minutes at 256^3), one
        step per axis, with the stage and the CG iteration.

    Returns
    -------
    TensorResult
        ``results`` is empty (there is no electrode solve). ``relative`` is the variational
        (second-order, symmetric) estimate; ``asymmetry`` is that of the tensor of mean
        currents, first order in the solves' error: rounding on the direct path (small
        cells), about ``TENSOR_RTOL`` on the iterative one (pyamg's smoothed aggregation, set
        up once for every axis).
    """
    import scipy.sparse as sp

    from ._assemble import conductivity_map
    from ._clusters import label_face_connected
    from ._electrode import _spd_solver
    from ._geometry import cell_spacing, validate_image
    from ._memory import check_memory
    from ._stencil import axis_weights, face_conductances

    arr = validate_image(image, source=source)
    ndim = arr.ndim
    check_memory(arr.shape, arr.size, "cg", source=source)
    sigma, electrolyte, sigma_ref = conductivity_map(
        arr,
        conductivity=conductivity,
        matrix_conductivity=matrix_conductivity,
        label_conductivities=label_conductivities,
        source=source,
    )
    if not electrolyte.any():
        raise InputError("image is entirely insulating (no conductive pixel)", source=source)
    spacing = cell_spacing(arr.shape, 0, pixel_size, source=source)
    r = np.asarray(spacing) / spacing[0]
    w = axis_weights(tuple(r), ndim)  # conductance factor area / distance
    cell = float(np.prod(r))
    conductive = sigma > 0
    n = int(conductive.sum())
    index = np.full(arr.shape, -1, dtype=np.int64)
    index[conductive] = np.arange(n)
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    faces = []  # per axis: (lower cell, upper cell, conductance) of conducting faces
    for d in range(ndim):
        if arr.shape[d] == 1:
            # one cell along d: each cell's periodic neighbour is itself, across a face of its
            # own conductance. Its mean gradient drives a current (a uniform slab conducts
            # along its thickness); the fluctuation cannot (no term in A, no source)
            g = sigma * w[d]
            m = g > 0
            faces.append((index[m], index[m], g[m]))
            continue
        g = face_conductances(sigma, d, weight=w[d], periodic=True)
        m = g > 0
        a = index[m]
        b = np.roll(index, -1, axis=d)[m]
        g = g[m]
        faces.append((a, b, g))
        diag += np.bincount(a, g, minlength=n) + np.bincount(b, g, minlength=n)
        rows += [a, b]
        cols += [b, a]
        vals += [-g, -g]
    labels, count = label_face_connected(conductive, tuple(range(ndim)))
    # pin one cell per cluster (the fluctuation is defined up to a constant per cluster)
    first = np.full(count + 1, -1, dtype=np.int64)
    flat_labels = labels[conductive]
    order = np.arange(n)[::-1]
    first[flat_labels[order]] = order  # the first cell of every cluster wins
    pinned = first[1:][first[1:] >= 0]
    A = sp.csr_matrix(
        (
            np.concatenate(vals + [diag]),
            (np.concatenate(rows + [np.arange(n)]), np.concatenate(cols + [np.arange(n)])),
        ),
        shape=(n, n),
    )
    # symmetric pinning: the pinned rows and columns become the identity (phi' = 0 there)
    free = np.ones(n)
    free[pinned] = 0.0
    D = sp.diags(free)
    A = (D @ A @ D + sp.diags(1.0 - free)).tocsr()
    volume = arr.size * cell
    # K V = S - T: S_jj = r_j sum_j-faces c_j (the uniform gradient's current), T_ij =
    # rhs_i . A^-1 rhs_j (the fluctuation's), rhs_j the divergence of the uniform current c_j
    S, rhs = np.zeros((ndim, ndim)), []
    for j in range(ndim):
        a, b, g = faces[j]
        c = g * r[j]  # the mean gradient's drop across one cell along j, times the conductance
        S[j, j] = r[j] * float(c.sum())
        f = np.bincount(b, c, minlength=n) - np.bincount(a, c, minlength=n)
        f[pinned] = 0.0
        rhs.append(f)
    bar = _StageBar(n, ndim, progress)
    try:
        bar.stage("setting up the multigrid")
        solve = _spd_solver(
            A, ndim, rtol=TENSOR_RTOL, what="the periodic cell problem", on_iteration=bar.iteration
        )
        phi = []
        for j, f in enumerate(rhs):
            bar.stage(f"axis {j}")
            phi.append(solve(f) if f.any() else np.zeros(n))
            bar.step()
    finally:
        bar.close()
    res = [f - A @ p for f, p in zip(rhs, phi)]
    T = np.zeros((ndim, ndim))
    K = np.zeros((ndim, ndim))  # first order in the solves' error: their asymmetry
    for i in range(ndim):
        for j in range(ndim):
            # second order: rhs_i . phi_j + phi_i . r_j = T_ij - e_i . A e_j
            T[i, j] = float(rhs[i] @ phi[j] + phi[i] @ res[j])
            K[i, j] = S[i, j] - float(rhs[i] @ phi[j])
    K /= volume
    rel = (S - 0.5 * (T + T.T)) / volume
    values, vectors = np.linalg.eigh(rel)
    order2 = np.argsort(values)[::-1]
    norm = float(np.linalg.norm(K))
    return TensorResult(
        conductivity=rel * sigma_ref,
        relative=rel,
        principal_values=values[order2],
        principal_axes=vectors[:, order2],
        asymmetry=float(np.linalg.norm(K - K.T) / norm) if norm > 0 else 0.0,
        boundary="cell",
        results=(),
    )


class _StageBar:
    """A tqdm bar of a few long steps (the tensor's axes) for a million unknowns or more: the
    stage and the iteration within it as its postfix."""

    def __init__(self, unknowns: int, steps: int, want: bool) -> None:
        self.bar = None
        self.text = ""
        if want and unknowns >= 1_000_000:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=steps,
                desc=f"tensor ({unknowns / 1e6:.1f} M unknowns)",
                unit="axis",
                leave=False,
            )

    def stage(self, text: str) -> None:
        self.text = text
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    def iteration(self, k: int) -> None:
        if self.bar is not None and k % 5 == 0:
            self.bar.set_postfix_str(f"{self.text}, CG iteration {k}")

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def tensor_from_results(results: Sequence[ConductionResult]) -> TensorResult:
    """The tensor from one solve per axis that carries its mean current density.

    Parameters
    ----------
    results : sequence of ConductionResult
        One per axis of the image, in any order, each with ``mean_current_density`` (solved
        with periodic faces or with the fields).

    Returns
    -------
    TensorResult
    """
    if not results:
        raise InputError("no results to build a tensor from")
    ndim = len(results[0].shape)
    by_axis = {r.axis: r for r in results}
    if sorted(by_axis) != list(range(ndim)):
        raise InputError(f"a tensor needs one result per axis, got axes {sorted(by_axis)}")
    K = np.zeros((ndim, ndim))
    for j, res in by_axis.items():
        if res.mean_current_density is None:
            raise InputError("a tensor needs the mean current density (periodic faces or fields)")
        if res.percolating:
            # the mean gradient is V over the distance between the electrodes: the image's
            # length, or one cell more with ghost electrodes (half a cell out at each end)
            n = res.shape[j]
            between = res.length * (n + 1) / n if res.electrode == "ghost" else res.length
            K[:, j] = np.asarray(res.mean_current_density) * between / res.voltage
    results = [by_axis[j] for j in range(ndim)]
    boundary = results[0].boundary
    sigma = results[0].sigma
    rel = K / sigma
    sym = 0.5 * (rel + rel.T)
    values, vectors = np.linalg.eigh(sym)
    order = np.argsort(values)[::-1]
    norm = float(np.linalg.norm(rel))
    return TensorResult(
        conductivity=K,
        relative=rel,
        principal_values=values[order],
        principal_axes=vectors[:, order],
        asymmetry=float(np.linalg.norm(rel - rel.T) / norm) if norm > 0 else 0.0,
        boundary=boundary,
        results=tuple(results),
    )


def _without_fields(res: ConductionResult) -> ConductionResult:
    import dataclasses

    return dataclasses.replace(res, potential=None, current_density=None)


@dataclass(frozen=True)
class DepthProfile:
    """Homogenised quantities along the flow axis, per slice and per face between slices.

    Attributes
    ----------
    position : ndarray, shape (n,)
        Slice centres along the flow, in metres (or in units of the length l = 1 by default).
    fraction : ndarray, shape (n,)
        Electrolyte fraction eps(x) of each slice.
    interface_density : ndarray, shape (n,)
        Electrolyte/solid face area per volume of each slice, 1/m (1/l by default); voxel
        faces as they are, no correction: for an isotropic structure they overcount the
        true area by 3/2 on average (2D: 4/pi), which ``ionflow.metrics``' default and
        ``export-params`` divide out (multiply by 2/3, 2D by pi/4, to compare).
    face_position : ndarray, shape (n + 1,)
        Positions of the faces: the two electrodes and the n - 1 faces between slices.
    relative_conductivity : ndarray, shape (n + 1,)
        kappa(x) at every face (sigma_eff / sigma, local).
    tortuosity : ndarray, shape (n + 1,)
        tau(x) = eps_face / kappa(x) (``inf`` where no current passes; NaN where eps is 0).
    result : ConductionResult
        The solve the profile comes from.
    """

    position: np.ndarray
    fraction: np.ndarray
    interface_density: np.ndarray
    face_position: np.ndarray
    relative_conductivity: np.ndarray
    tortuosity: np.ndarray
    result: ConductionResult = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (lists; infinities and NaN become ``None``)."""
        out = _jsonable(self)
        out["result"] = self.result.to_dict()
        return out


def depth_profile(image: np.ndarray, *, axis: int = 0, **options: Any) -> DepthProfile:
    """Profiles eps(x), a(x) and tau(x) along the flow (see the module docstring).

    Parameters
    ----------
    image : ndarray
        Binary image (nonzero = electrolyte), as for :func:`ionflow.simulate`.
    axis : int
        Flow (thickness) axis.
    **options
        Passed to :func:`ionflow.simulate` (pixel_size, boundary, method ...).

    Returns
    -------
    DepthProfile
    """
    if "label_conductivities" in options or options.get("matrix_conductivity"):
        raise InputError("depth profiles are defined for binary images (one conducting phase)")
    arr = np.asarray(image)
    if arr.ndim in (2, 3) and -arr.ndim <= axis < arr.ndim and arr.shape[axis] < 2:
        raise InputError(
            f"image too small for a depth profile ({'x'.join(map(str, arr.shape))}): it needs "
            f"at least 2 cells along axis {axis % arr.ndim}",
            source=options.get("source"),
        )
    res = simulate(arr, axis=axis, fields=True, **options)
    axis = res.axis
    pore = np.moveaxis(arr != 0, axis, 0)
    n = pore.shape[0]
    h = res.length / n
    cells = pore[0].size
    fraction = pore.reshape(n, -1).mean(axis=1)
    spacing = res.pixel_size or (h,) * arr.ndim
    # the cell edges in the order of ``pore`` (the flow axis first)
    edges = [spacing[axis]] + [spacing[k] for k in range(arr.ndim) if k != axis]
    voxel = float(np.prod(edges))
    # interface area per slice: each face by its own area, voxel / its edge along the normal
    # (faces between slices count half for each side)
    faces = np.zeros(n)
    for d in range(pore.ndim):
        lo = tuple(slice(None, -1) if k == d else slice(None) for k in range(pore.ndim))
        hi = tuple(slice(1, None) if k == d else slice(None) for k in range(pore.ndim))
        mixed = (pore[lo] != pore[hi]).reshape(pore[lo].shape[0], -1).sum(axis=1)
        area = mixed * (voxel / edges[d])
        if d == 0:
            faces[:-1] += 0.5 * area
            faces[1:] += 0.5 * area
        else:
            faces += area
    interface = faces / (cells * voxel)
    position = (np.arange(n) + 0.5) * h
    # the electrodes: on the image's faces, or half a cell further out with ghost electrodes
    # (at the ghost cells' centres, one cell from the first and last slices' centres)
    gap = 1.0 if res.electrode == "ghost" else 0.5
    face_position = np.arange(n + 1) * h
    face_position[0] -= (gap - 0.5) * h
    face_position[-1] += (gap - 0.5) * h
    kappa = np.zeros(n + 1)
    tau = np.full(n + 1, np.inf)
    if res.percolating and res.potential is not None:
        periodic = tuple(range(1, arr.ndim)) if res.boundary == "periodic" else ()
        keep = percolating_cells(pore, 0, periodic)  # cells that carry the solution
        phi = np.where(keep, np.moveaxis(res.potential / res.voltage, axis, 0), 0.0)
        count = keep.reshape(n, -1).sum(axis=1)
        c = phi.reshape(n, -1).sum(axis=1) / np.maximum(count, 1)
        # each face's drop per cell of distance: the ends are gap cells from their electrode
        drop = np.concatenate([[(1.0 - c[0]) / gap], c[:-1] - c[1:], [c[-1] / gap]])
        # reduced current per cross-section cell: relative conductivity over the distance
        # between the electrodes, in cells
        mean_flux = res.relative_conductivity / (n + 2.0 * gap - 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = np.where(drop > 0, mean_flux / drop, 0.0)
            eps_face = np.concatenate(
                [fraction[:1], 0.5 * (fraction[:-1] + fraction[1:]), fraction[-1:]]
            )
            tau = np.where(kappa > 0, eps_face / kappa, np.inf)
    return DepthProfile(
        position=position,
        fraction=fraction,
        interface_density=interface,
        face_position=face_position,
        relative_conductivity=kappa,
        tortuosity=tau,
        result=_without_fields(res),
    )
