"""The conduction system laid out on the voxel grid, for the geometric multigrid solver.

Same equations as :func:`ionflow.solve.assemble` (see the conventions in ``_assemble.py``), in
another layout:

* The array is viewed with the flow axis first and as 3D (a 2D image gets a third axis of
  length 1). Unknowns are the kept cells in C order of that view, so the inlet cells (first
  slice) are the first unknowns and the outlet cells (last slice) the last ones.
* Every matrix row holds exactly ``2 * dims + 1`` entries (an ELL-like layout written slot by
  slot, with no scatter and no sort): a missing neighbour is an explicit zero whose column is the
  row itself, and the diagonal is stored *last* in the row. The matrix is therefore not in
  canonical CSR form (explicit zeros, repeated and unsorted columns): the Gauss-Seidel kernel
  takes the last entry with ``j == i`` as the diagonal, which is the true one, and
  ``A.diagonal()`` sums duplicates correctly. Call ``sum_duplicates`` before anything else.
* The coarse levels of the multigrid are the same operator on 2x2x2 blocks of cells: the
  Galerkin product with piecewise-constant prolongation is the graph Laplacian of the blocks,
  whose edge weights are sums of fine edge weights and whose electrode conductances are sums of
  fine electrode conductances. They are formed on the grid, never by sparse products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._stencil import DEFAULT, Stencil, edge_weights, electrode_conductances

__all__ = ["GridSystem", "assemble_grid", "assemble_level"]

I32 = np.int32


@dataclass
class Coarse:
    """Grid data of the next coarser level: block edge weights, electrode conductances."""

    weights: list[np.ndarray]  # 3 full-shape arrays (weight between p and p + e_d)
    g_in: np.ndarray  # (m1, m2) electrode conductances of the first slice
    g_out: np.ndarray  # (m1, m2) of the last slice
    active: np.ndarray  # bool, blocks holding at least one unknown
    factors: list[int]  # block size per axis (2, or 1 along an axis of length 1)
    periodic: tuple[bool, bool, bool] = (False, False, False)  # wrap-around axes (view order)


@dataclass
class GridSystem:
    """A x = b on the kept cells, with the data to build the multigrid hierarchy.

    ``A`` is SPD, CSR float64 (padded layout, see the module docstring); ``b[:n_in] = g_in`` and
    0 elsewhere. ``g_in`` / ``g_out`` are the electrode conductances (2 sigma) of the first
    ``g_in.size`` / last ``g_out.size`` unknowns. ``keep3`` is the kept mask in the flow-first 3D
    view; ``coarse`` the next level's grid data (``None`` when there is none).
    """

    A: sp.csr_matrix
    g_in: np.ndarray
    g_out: np.ndarray
    keep3: np.ndarray
    coarse: Coarse | None

    def currents(self, x: np.ndarray) -> tuple[float, float]:
        """Reduced inlet and outlet current for the solution ``x``."""
        n = x.shape[0]
        i_in = float(self.g_in.sum() - np.dot(self.g_in, x[: self.g_in.size]))
        i_out = float(np.dot(self.g_out, x[n - self.g_out.size :]))
        return i_in, i_out

    def linear_start(self) -> np.ndarray:
        """The linear potential 1 - (i + 1/2) / n along the flow, on the unknowns."""
        n0 = self.keep3.shape[0]
        counts = np.count_nonzero(self.keep3.reshape(n0, -1), axis=1)
        return np.repeat(1.0 - (np.arange(n0) + 0.5) / n0, counts)

    def to_original(self, x: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
        """Potential on the kept cells in the original orientation (``phi[keep]`` order)."""
        phi = np.full(self.keep3.shape, np.nan)
        phi[self.keep3] = x
        if len(shape) == 2:
            phi = phi[:, :, 0]
        phi = np.moveaxis(phi, 0, axis)
        return phi[~np.isnan(phi)]


def _blocksum(x: np.ndarray, f: list[int]) -> np.ndarray:
    """Sum over blocks of size ``f`` (the array is zero-padded up to a multiple of ``f``)."""
    m = x.shape
    M = [((m[k] + f[k] - 1) // f[k]) * f[k] for k in range(3)]
    if list(M) != list(m):
        xp = np.zeros(M, dtype=x.dtype)
        xp[: m[0], : m[1], : m[2]] = x
        x = xp
    x = x.reshape(M[0] // f[0], f[0], M[1] // f[1], f[1], M[2] // f[2], f[2])
    return x.sum(axis=(1, 3, 5), dtype=np.float64 if x.dtype.kind == "f" else np.int64)


def _coarse_edges(g: np.ndarray, d: int, f: list[int], periodic: bool = False) -> np.ndarray:
    """Block edge weights along d: sum of the fine weights crossing each block interface.

    With ``periodic`` the last layer of ``g`` is the wrap face; it stays the last (wrap) layer
    of the coarse grid when the length is not a multiple of the block size.
    """
    m = g.shape
    if m[d] % f[d]:
        pad = [(0, 0)] * 3
        pad[d] = (0, f[d] - m[d] % f[d])
        g = np.pad(g, pad)
        if periodic:
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            src[d] = m[d] - 1
            dst[d] = g.shape[d] - 1
            g[tuple(dst)] = g[tuple(src)]
            g[tuple(src)] = 0.0
    sl = [slice(None)] * 3
    sl[d] = slice(f[d] - 1, None, f[d])
    ff = list(f)
    ff[d] = 1
    return _blocksum(g[tuple(sl)], ff)


def assemble_level(
    weights: list[Any],
    g_in: np.ndarray,
    g_out: np.ndarray,
    active: np.ndarray,
    *,
    dtype: type = np.float64,
    keep_coarse: bool = True,
    periodic: tuple[bool, bool, bool] = (False, False, False),
) -> tuple[sp.csr_matrix, np.ndarray, Coarse | None]:
    """Assemble the operator on the active cells of one grid level (padded layout).

    ``weights[d]`` is a full-shape edge-weight array or a callable making it (so that only one
    axis is held at a time); entries are dropped after use. Along the axes flagged in
    ``periodic`` the last layer of ``weights[d]`` joins the last cell to the first. Returns A,
    the grid of unknown numbers (int32, -1 where inactive) and the next level's grid data.
    """
    shape = active.shape
    flat = np.flatnonzero(active)
    N = flat.size
    if active.size + shape[1] * shape[2] < 2**31 - 1:
        flat = flat.astype(I32)  # neighbour offsets below stay in range
    idx = np.full(shape, -1, dtype=I32)
    idx_flat = idx.ravel()
    idx_flat[flat] = np.arange(N, dtype=I32)
    strides = [shape[1] * shape[2], shape[2], 1]
    f = [2 if shape[k] > 1 else 1 for k in range(3)]
    dims = [d for d in range(3) if shape[d] > 1]
    nslot = 2 * len(dims) + 1

    diag = np.zeros(N, dtype=np.float64)
    n_first = int(np.count_nonzero(active[0]))
    n_last = int(np.count_nonzero(active[-1]))
    diag[:n_first] += g_in[active[0]]
    diag[N - n_last :] += g_out[active[-1]]

    data: np.ndarray = np.empty((N, nslot), dtype=dtype)
    indices = np.empty((N, nslot), dtype=I32)
    ar = np.arange(N, dtype=I32)
    coarse_w: list[np.ndarray | None] = [None, None, None]
    for d in range(3):
        w_d = weights[d]  # an array, a callable making one, or None
        weights[d] = None  # dropped from the caller's list too: freed after use
        g = w_d() if callable(w_d) else w_d
        if g is None:
            g = np.zeros(shape)
        if shape[d] > 1:
            gf = g.ravel()
            k = dims.index(d)
            wrap = periodic[d]
            # cells in the first / last layer along d: their neighbour is across the wrap
            at_end = None
            for sign in (-1, 1):
                if wrap:
                    coord = (flat // strides[d]) % shape[d]
                    at_end = coord == (0 if sign < 0 else shape[d] - 1)
                    del coord
                if sign < 0:
                    src = flat - strides[d]  # a negative index wraps onto the zero last layer
                    if wrap:
                        src[at_end] += shape[d] * strides[d]  # ... or onto the wrap face
                    w = gf[src]
                    del src
                    col = k
                else:
                    w = gf[flat]
                    col = nslot - 2 - k
                diag += w
                np.negative(w, out=data[:, col])
                q = flat + sign * strides[d]
                if wrap:
                    q[at_end] -= sign * shape[d] * strides[d]
                elif sign > 0:
                    q[q >= idx_flat.size] -= idx_flat.size
                c = idx_flat[q]  # garbage where there is no edge ...
                np.copyto(c, ar, where=w <= 0)  # ... replaced by the row itself, weight 0
                indices[:, col] = c
                del c, w, q
        if keep_coarse and shape[d] > 1:
            coarse_w[d] = _coarse_edges(g, d, f, periodic[d])
        del g
    data[:, nslot - 1] = diag
    indices[:, nslot - 1] = ar
    del diag, ar
    itype = I32 if nslot * N < 2**31 - 1 else np.int64
    indptr = np.arange(0, nslot * N + 1, nslot, dtype=itype)
    A = sp.csr_matrix((data.reshape(-1), indices.reshape(-1), indptr), shape=(N, N))
    A.has_sorted_indices = False
    A.has_canonical_format = False
    if not keep_coarse:
        return A, idx, None
    active_c = _blocksum(active.view(np.int8), f) > 0
    coarse = Coarse(
        weights=[w if w is not None else np.zeros(active_c.shape) for w in coarse_w],
        g_in=_blocksum(g_in[None], [1, *f[1:]])[0],
        g_out=_blocksum(g_out[None], [1, *f[1:]])[0],
        active=active_c,
        factors=f,
        periodic=(
            bool(periodic[0] and active_c.shape[0] > 1),
            bool(periodic[1] and active_c.shape[1] > 1),
            bool(periodic[2] and active_c.shape[2] > 1),
        ),
    )
    return A, idx, coarse


def assemble_grid(
    sigma: np.ndarray,
    keep: np.ndarray,
    axis: int,
    stencil: Stencil = DEFAULT,
    *,
    blocked_outlet: bool = False,
) -> GridSystem:
    """Assemble the reduced system of ``sigma`` (relative) on the cells in ``keep``.

    ``keep`` must be a union of whole face-connected clusters (as from ``percolating_mask``),
    so no kept cell has an edge to a removed conductive cell. ``stencil`` sets the cell
    spacing and the periodic (lateral) axes. ``blocked_outlet``: no electrode after the last
    slice (a current collector that blocks ionic current; the electrode problem).
    """
    if axis in stencil.periodic:
        raise ValueError("the flow axis cannot be periodic")
    order = [axis] + [d for d in range(sigma.ndim) if d != axis]  # axes in the view's order
    periodic = [stencil.is_periodic(d) for d in order] + [False] * (3 - sigma.ndim)
    moved = np.moveaxis(sigma, axis, 0)
    kmoved = np.moveaxis(keep, axis, 0)
    w = list(stencil.weights(sigma.ndim))
    w.insert(0, w.pop(axis))  # the flow axis first, as in the view
    if sigma.ndim == 2:
        moved = moved[:, :, None]
        kmoved = kmoved[:, :, None]
        w.append(1.0)
    s3 = np.empty(moved.shape, dtype=np.float64)  # C order: one copy of sigma, removed cells 0
    np.multiply(moved, kmoved, out=s3)
    keep3 = np.ascontiguousarray(kmoved)
    g_in, g_out = electrode_conductances(s3, 0, weight=stencil.electrode_weight(sigma.ndim, axis))
    if blocked_outlet:
        g_out = np.zeros_like(g_out)
    weights: list = [
        (lambda d=d: edge_weights(s3, d, weight=w[d], periodic=periodic[d])) for d in range(3)
    ]
    wrap = (False, periodic[1], periodic[2])
    A, _, coarse = assemble_level(weights, g_in, g_out, keep3, periodic=wrap)
    return GridSystem(A, g_in[keep3[0]], g_out[keep3[-1]], keep3, coarse)
