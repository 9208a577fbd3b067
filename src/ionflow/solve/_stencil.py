"""The finite-volume stencil: the one place that defines conductances, couplings and currents.

Every solver path (the assembled system of ``_assemble``, the grid layout of the multigrid in
``_grid``, the shared-pattern PARDISO solver of ``_pardiso_grid``, the fields of ``_simulate``
and the block homogenisation of ``ionflow.surrogate._tiles``) takes its numbers from here, so a
convention changes in one place. NumPy only: the surrogate imports it without SciPy.

Conventions (the contract; the README repeats them)
---------------------------------------------------
* Cell-centred finite volumes on a grid of box cells with edges ``spacing[d]`` (equal edges by
  default). A face normal to axis ``d`` has area ``prod(spacing) / spacing[d]`` and joins two
  cell centres ``spacing[d]`` apart, so its geometric weight is ``w_d = prod(spacing) /
  spacing[d]**2`` (1 for unit cubes; :func:`axis_weights`).
* Between two face neighbours the conductance is ``w_d`` times the harmonic mean
  ``2 s_i s_j / (s_i + s_j)`` (zero when either cell is insulating; :func:`harmonic_mean`).
* The flow runs along ``axis``. phi = V on the face *before* the first slice and phi = 0 on the
  face *after* the last one: the Dirichlet faces are the image's own faces, half a cell from
  the first/last cell centres, so a boundary cell couples to its electrode with conductance
  ``2 s w_axis`` (:func:`electrode_conductances`). ``Stencil(gap=1.0)`` moves the Dirichlet
  planes one whole cell out (a ghost cell of the boundary cell's material, TauFactor 1.2.1's
  ``MultiPhaseSolver``): the coupling becomes ``s w_axis`` and the distance between the
  electrodes ``n + 1`` cells.
* Faces perpendicular to the flow are insulating, or, along an axis marked ``periodic``, wrap
  around: the last cell couples to the first through the same harmonic-mean face.
* Currents are positive from the phi = V electrode to the phi = 0 one; the inlet current is
  ``sum g_in (V - phi_first)`` and the outlet current ``sum g_out phi_last``
  (:func:`electrode_currents`). At convergence they agree (conservation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Stencil",
    "axis_weights",
    "edge_weights",
    "electrode_conductances",
    "electrode_currents",
    "face_conductances",
    "face_fluxes",
    "harmonic_mean",
]


@dataclass(frozen=True)
class Stencil:
    """Geometry of the finite-volume stencil.

    Parameters
    ----------
    spacing : tuple of float, optional
        Cell edge per axis, in any unit (only ratios enter the reduced system). ``None`` means
        equal edges.
    periodic : tuple of int
        Axes whose two faces wrap around (never the flow axis).
    gap : float
        Distance, in cells, from each Dirichlet plane to the centre of the nearest cell: 0.5
        (the image's own faces, the default) or 1.0 (a ghost cell, TauFactor 1.2.1's
        ``MultiPhaseSolver``).
    """

    spacing: tuple[float, ...] | None = None
    periodic: tuple[int, ...] = ()
    gap: float = 0.5

    def electrode_weight(self, ndim: int, axis: int) -> float:
        """Weight to pass to :func:`electrode_conductances`: ``w_axis * 0.5 / gap``."""
        return self.weights(ndim)[axis] * 0.5 / self.gap

    def weights(self, ndim: int) -> tuple[float, ...]:
        """Geometric weight ``w_d`` of a face normal to each axis (see :func:`axis_weights`)."""
        return axis_weights(self.spacing, ndim)

    def is_periodic(self, d: int) -> bool:
        """True when the faces normal to axis ``d`` wrap around."""
        return d in self.periodic


DEFAULT = Stencil()


def axis_weights(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    """Face area over centre distance, ``prod(spacing) / spacing[d]**2``, for each axis.

    Parameters
    ----------
    spacing : sequence of float or None
        Cell edge per axis; ``None`` for equal edges (every weight 1).
    ndim : int
        Number of axes.

    Returns
    -------
    tuple of float
        One weight per axis.
    """
    if spacing is None:
        return (1.0,) * ndim
    h = np.asarray(spacing, dtype=np.float64)
    if h.shape != (ndim,) or not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(f"spacing must be {ndim} positive finite numbers, got {spacing!r}")
    cell = float(np.prod(h))
    return tuple(cell / float(x) ** 2 for x in h)


def harmonic_mean(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``2 a b / (a + b)``, and 0 where ``a + b`` is 0 (two insulating cells).

    Parameters
    ----------
    a, b : ndarray
        Conductivities (>= 0) of the two cells of each face.
    out : ndarray, optional
        Where to write the result (float64, shape of ``a``).

    Returns
    -------
    ndarray
        The face conductances.
    """
    if out is None:
        out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.float64)
    np.multiply(a, b, out=out)
    out *= 2.0
    total = a + b  # conductivities are >= 0: where the total is 0, so is the product
    np.divide(out, total, out=out, where=total > 0)
    return out


def _pairs(ndim: int, d: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    lo = [slice(None)] * ndim
    hi = [slice(None)] * ndim
    lo[d] = slice(None, -1)
    hi[d] = slice(1, None)
    return tuple(lo), tuple(hi)


def face_conductances(
    s: np.ndarray, d: int, *, weight: float = 1.0, periodic: bool = False
) -> np.ndarray:
    """Conductances of the faces normal to axis ``d`` between neighbouring cells.

    Parameters
    ----------
    s : ndarray
        Cell conductivities (reduced units; 0 for insulating or removed cells).
    d : int
        Axis the faces are normal to.
    weight : float
        Geometric weight ``w_d`` of these faces (:func:`axis_weights`).
    periodic : bool
        Also return the wrap-around face between the last and the first cell along ``d``.

    Returns
    -------
    ndarray
        Shape of ``s`` with ``n_d - 1`` entries along ``d`` (entry ``i`` is the face between
        cells ``i`` and ``i + 1``), or ``n_d`` when ``periodic`` (entry ``n_d - 1`` is the wrap
        face).
    """
    if periodic:
        g = harmonic_mean(s, np.roll(s, -1, axis=d))
        if s.shape[d] < 2:
            g[...] = 0.0
    else:
        lo, hi = _pairs(s.ndim, d)
        g = harmonic_mean(s[lo], s[hi])
    if weight != 1.0:
        g *= weight
    return g


def edge_weights(
    s: np.ndarray, d: int, *, weight: float = 1.0, periodic: bool = False
) -> np.ndarray:
    """Face conductances in the grid layout: full shape, ``g[p]`` joins ``p`` and ``p + e_d``.

    The last layer along ``d`` is 0 (no neighbour), or the wrap face when ``periodic``.

    Parameters
    ----------
    s : ndarray
        Cell conductivities (reduced units; 0 for insulating or removed cells).
    d : int
        Axis the faces are normal to.
    weight : float
        Geometric weight ``w_d`` of these faces.
    periodic : bool
        Whether the last layer holds the wrap-around face.

    Returns
    -------
    ndarray of float64
        Shape of ``s``.
    """
    if s.shape[d] < 2:
        return np.zeros(s.shape, dtype=np.float64)
    if periodic:
        return face_conductances(s, d, weight=weight, periodic=True)
    g = np.zeros(s.shape, dtype=np.float64)
    lo, hi = _pairs(s.ndim, d)
    harmonic_mean(s[lo], s[hi], out=g[lo])
    if weight != 1.0:
        g *= weight
    return g


def electrode_conductances(
    s: np.ndarray, axis: int, *, weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Couplings of the first and last slice to their electrodes, half a cell away.

    Parameters
    ----------
    s : ndarray
        Cell conductivities (reduced units; 0 for insulating or removed cells).
    axis : int
        Flow axis.
    weight : float
        Geometric weight ``w_axis`` of faces normal to the flow.

    Returns
    -------
    g_in, g_out : ndarray
        ``2 s w`` on the first and on the last slice (the slice's shape).
    """
    factor = 2.0 * weight
    return factor * np.take(s, 0, axis=axis), factor * np.take(s, -1, axis=axis)


def electrode_currents(
    phi: np.ndarray, s: np.ndarray, axis: int, *, weight: float = 1.0
) -> tuple[float, float]:
    """Reduced inlet and outlet currents of a potential on the full grid (V = 1).

    Parameters
    ----------
    phi : ndarray
        Reduced potential on every cell (any finite value on removed cells).
    s : ndarray
        Cell conductivities, 0 on removed cells.
    axis : int
        Flow axis.
    weight : float
        Geometric weight ``w_axis``.

    Returns
    -------
    inlet, outlet : float
        ``sum g_in (1 - phi_first)`` and ``sum g_out phi_last``.
    """
    g_in, g_out = electrode_conductances(s, axis, weight=weight)
    inlet = float(np.sum(g_in * (1.0 - np.take(phi, 0, axis=axis))))
    outlet = float(np.sum(g_out * np.take(phi, -1, axis=axis)))
    return inlet, outlet


def face_fluxes(
    phi: np.ndarray,
    s: np.ndarray,
    d: int,
    *,
    axis: int,
    weight: float = 1.0,
    periodic: bool = False,
    electrode_weight: float | None = None,
) -> np.ndarray:
    """Reduced currents through every face normal to ``d``, positive along ``+d``.

    Parameters
    ----------
    phi : ndarray
        Reduced potential (V = 1) on every cell; finite everywhere ``s > 0``.
    s : ndarray
        Cell conductivities, 0 on removed cells.
    d : int
        Axis the faces are normal to.
    axis : int
        Flow axis: along it the two outer faces carry the electrode currents.
    weight : float
        Geometric weight ``w_d``.
    periodic : bool
        Faces normal to ``d`` wrap around (the outer faces then both carry the wrap flux).
    electrode_weight : float, optional
        Weight of the electrode couplings (:meth:`Stencil.electrode_weight`; default
        ``weight``).

    Returns
    -------
    ndarray
        ``n_d + 1`` faces along ``d`` (face ``i`` lies before cell ``i``); the other axes as
        ``phi``.
    """
    p = np.where(s > 0, phi, 0.0)
    shape = list(phi.shape)
    shape[d] += 1
    faces = np.zeros(shape)
    inner: list[slice | int] = [slice(None)] * phi.ndim
    if periodic and phi.shape[d] >= 2:
        g = face_conductances(s, d, weight=weight, periodic=True)
        flux = g * (p - np.roll(p, -1, axis=d))
        inner[d] = slice(1, None)
        faces[tuple(inner)] = flux
        wrap: list[slice | int] = [slice(None)] * phi.ndim
        wrap[d] = 0
        faces[tuple(wrap)] = np.take(flux, -1, axis=d)
        return faces
    g = face_conductances(s, d, weight=weight)
    inner[d] = slice(1, -1)
    faces[tuple(inner)] = g * -np.diff(p, axis=d)
    if d == axis:
        ew = weight if electrode_weight is None else electrode_weight
        g_in, g_out = electrode_conductances(s, d, weight=ew)
        first: list[slice | int] = [slice(None)] * phi.ndim
        last: list[slice | int] = [slice(None)] * phi.ndim
        first[d] = 0
        last[d] = -1
        faces[tuple(first)] = g_in * (1.0 - np.take(p, 0, axis=d))
        faces[tuple(last)] = g_out * np.take(p, -1, axis=d)
    return faces
