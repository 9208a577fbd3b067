"""Compiled (numba) kernels of the lean multigrid's *dense* finest level (``_lean.py``).

For a binary image (every face weight ``wd[d]``), the preconditioner's finest level can work
on the whole grid instead of the kept cells only. The grid is padded by one cell on every side:
``Z`` (the correction), ``R`` (the residual it is smoothed against) and ``diag`` / ``invd``
(the diagonal and its inverse) are zero on every cell that is not an unknown, and the padding
of a periodic lateral axis holds a copy of the opposite face of ``Z`` (:func:`wrap`, before
every kernel that reads neighbours; such an axis must have an even number of cells, so that
neighbours across it still have opposite colours). A cell's neighbour sum is then ``sum_d wd[d] (Z[-d] + Z[+d])`` without any test: a
neighbour that is no unknown holds 0, exactly the face weight 0 of the compressed operator
(``_lean_kernels.py``), and the electrode faces are in the diagonal. The loops along the last
axis have no gathers and no branches, so they vectorise.

Smoothing is red-black Gauss-Seidel, over-relaxed (a cell's colour is the parity of ``i + j +
k``): the forward sweep updates red then black, the backward one black then red, with the same
factor, so the pair is symmetric. The rows are computed whole and only one colour is written back, which keeps the
inner loop a plain stencil.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._lean_kernels import _OPTS, _diag, _row

__all__: list[str] = []


@njit(parallel=True, **_OPTS)
def setup(idx, W, D, wd, g_in, g_out, p1, p2, Wg, diag, invd):
    """Fill the padded ``diag`` and ``invd`` (float32, zero-initialised) of the unknowns of
    ``idx``: the binary fine operator (``W``, ``D``, ``Wg`` None; ``g_in``, ``g_out`` its
    electrode conductances, ``p1``, ``p2`` its periodic lateral axes), or a grid coarse level
    (``W``, ``D``: its float32 face weights and electrode couplings, copied into ``Wg``, the
    +d face weight of each padded cell; no periodic axes)."""
    n0, n1, n2 = idx.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                n = idx[i, j, k]
                if n < 0:
                    continue
                if Wg is not None:
                    for d in range(3):
                        Wg[d, i + 1, j + 1, k + 1] = W[n, d]
                _, ws = _row(i, j, k, n, idx, None, W, None, wd, p1, p2, 0.0)
                d = _diag(W, D, None, ws, i, n, n0, g_in, g_out)
                diag[i + 1, j + 1, k + 1] = d
                invd[i + 1, j + 1, k + 1] = 1.0 / d if d > 0 else 0.0


@njit(parallel=True, **_OPTS)
def copy(idx, v, G, to_grid):
    """Between a vector ``v`` of the unknowns and the padded grid ``G``: ``G = v`` on the
    unknowns (``to_grid``; the other cells of ``G`` stay as they are, 0), else ``v = G``."""
    n0, n1, n2 = idx.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                n = idx[i, j, k]
                if n < 0:
                    continue
                if to_grid:
                    G[i + 1, j + 1, k + 1] = v[n]
                else:
                    v[n] = G[i + 1, j + 1, k + 1]


@njit(parallel=True, **_OPTS)
def wrap(Z, p1, p2):
    """Fill the padding of the periodic lateral axes (1: ``p1``, 2: ``p2``) of the padded grid
    ``Z`` with the opposite faces' values, so that the stencil reaches across them."""
    n0, n1, n2 = Z.shape
    for i in prange(1, n0 - 1):
        if p1:
            for k in range(n2):
                Z[i, 0, k] = Z[i, n1 - 2, k]
                Z[i, n1 - 1, k] = Z[i, 1, k]
        if p2:
            for j in range(n1):
                Z[i, j, 0] = Z[i, j, n2 - 2]
                Z[i, j, n2 - 1] = Z[i, j, 1]


def _neighbours(Z, W, i, j, k):
    """The weighted sum of padded cell (i, j, k)'s six neighbours in ``Z``. ``W``: the three
    face weights of a binary finest level (a tuple), or a dense coarse level's +d face weights
    per cell (``Wg``, shape ``(3, *Z.shape)``: a cell's -d face is its -d neighbour's +d one).
    Compiled code only (:func:`_neighbours_impl` picks the form by the type of ``W``)."""
    raise NotImplementedError


@overload(_neighbours, inline="always")
def _neighbours_impl(Z, W, i, j, k):
    if isinstance(W, types.BaseTuple):

        def uniform(Z, W, i, j, k):
            return (
                W[0] * (Z[i - 1, j, k] + Z[i + 1, j, k])
                + W[1] * (Z[i, j - 1, k] + Z[i, j + 1, k])
                + W[2] * (Z[i, j, k - 1] + Z[i, j, k + 1])
            )

        return uniform

    def per_face(Z, W, i, j, k):
        return (
            W[0, i, j, k] * Z[i + 1, j, k]
            + W[0, i - 1, j, k] * Z[i - 1, j, k]
            + W[1, i, j, k] * Z[i, j + 1, k]
            + W[1, i, j - 1, k] * Z[i, j - 1, k]
            + W[2, i, j, k] * Z[i, j, k + 1]
            + W[2, i, j, k - 1] * Z[i, j, k - 1]
        )

    return per_face


@njit(parallel=True, **_OPTS)
def sweep(Z, R, invd, W, colour, start, omega):
    """Update the cells of one colour (``(i + j + k) % 2 == colour`` in the unpadded indices)
    by over-relaxed Gauss-Seidel: ``Z += omega ((R + sum of the neighbours' weighted Z) / diag
    - Z)``. ``start``: ``Z`` is taken as zero (its other colour is cleared). ``W``: the face
    weights, either form of :func:`_neighbours`; ``omega``: float32 (1: plain Gauss-Seidel)."""
    n0, n1, n2 = Z.shape
    for i in prange(1, n0 - 1):
        tmp = np.empty(n2, np.float32)
        for j in range(1, n1 - 1):
            s = 1 + ((i + j + colour) & 1)  # the row's first padded k of this colour
            if start:
                for k in range(1, n2 - 1):
                    tmp[k] = omega * R[i, j, k] * invd[i, j, k]
                for k in range(1, n2 - 1):
                    Z[i, j, k] = 0.0
            else:
                for k in range(1, n2 - 1):
                    z = Z[i, j, k]
                    gs = (R[i, j, k] + _neighbours(Z, W, i, j, k)) * invd[i, j, k]
                    tmp[k] = z + omega * (gs - z)
            for k in range(s, n2 - 1, 2):
                Z[i, j, k] = tmp[k]


@njit(parallel=True, **_OPTS)
def restrict(Z, R, diag, W, idx_c, f, out):
    """``out[c]`` = the sum of the residual ``R - A Z`` over the fine cells of block ``c``
    (block sizes ``f``; the residual is zero off the unknowns; ``W`` as in :func:`sweep`)."""
    n0, n1, n2 = Z.shape[0] - 2, Z.shape[1] - 2, Z.shape[2] - 2
    c0, c1, c2 = idx_c.shape
    f0, f1, f2 = f[0], f[1], f[2]
    for I in prange(c0):
        tmp = np.empty(n2 + 2, np.float32)
        acc = np.empty(c2, np.float64)
        for J in range(c1):
            acc[:] = 0.0
            for i in range(I * f0 + 1, min((I + 1) * f0, n0) + 1):
                for j in range(J * f1 + 1, min((J + 1) * f1, n1) + 1):
                    for k in range(1, n2 + 1):
                        d = diag[i, j, k]
                        t = R[i, j, k] - d * Z[i, j, k] + _neighbours(Z, W, i, j, k)
                        tmp[k] = t if d > 0 else np.float32(0.0)
                    for k in range(1, n2 + 1):
                        acc[(k - 1) // f2] += tmp[k]
            for K in range(c2):
                c = idx_c[I, J, K]
                if c >= 0:
                    out[c] = acc[K]


@njit(parallel=True, **_OPTS)
def prolong(idx_c, f, e, diag, Z):
    """``Z += e[block]`` on the unknowns (piecewise-constant prolongation)."""
    n0, n1, n2 = Z.shape[0] - 2, Z.shape[1] - 2, Z.shape[2] - 2
    c0, c1, c2 = idx_c.shape
    f0, f1, f2 = f[0], f[1], f[2]
    for I in prange(c0):
        row = np.empty(n2 + 2, np.float32)
        for J in range(c1):
            for k in range(1, n2 + 1):
                c = idx_c[I, J, (k - 1) // f2]
                row[k] = e[c] if c >= 0 else np.float32(0.0)
            for i in range(I * f0 + 1, min((I + 1) * f0, n0) + 1):
                for j in range(J * f1 + 1, min((J + 1) * f1, n1) + 1):
                    for k in range(1, n2 + 1):
                        if diag[i, j, k] > 0:
                            Z[i, j, k] += row[k]


@njit(parallel=True, **_OPTS)
def restrict_agg(Z, R, diag, W, idx, agg, f0, planes_c, out):
    """:func:`restrict` into split aggregates (``_lean_split.py``): ``out[c]`` = the sum of the
    residual over the unknowns ``n`` (numbered by ``idx``) with ``agg[n] == c``; the next
    level's planes in parallel (plane ``P`` gathers fine planes ``f0 P .. f0 P + f0 - 1``)."""
    n0, n1, n2 = idx.shape
    for P in prange(planes_c.shape[0] - 1):
        for c in range(planes_c[P], planes_c[P + 1]):
            out[c] = 0.0
        tmp = np.empty(n2 + 2, np.float32)
        for i in range(f0 * P + 1, min(f0 * P + f0, n0) + 1):
            for j in range(1, n1 + 1):
                for k in range(1, n2 + 1):
                    tmp[k] = R[i, j, k] - diag[i, j, k] * Z[i, j, k] + _neighbours(Z, W, i, j, k)
                for k in range(1, n2 + 1):
                    n = idx[i - 1, j - 1, k - 1]
                    if n >= 0:
                        out[agg[n]] += tmp[k]


@njit(parallel=True, **_OPTS)
def prolong_agg(idx, agg, e, Z):
    """``Z += e[agg[n]]`` on the unknowns (piecewise-constant prolongation from split
    aggregates)."""
    n0, n1, n2 = idx.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                n = idx[i, j, k]
                if n >= 0:
                    Z[i + 1, j + 1, k + 1] += e[agg[n]]


@njit(parallel=True, **_OPTS)
def apply(idx, Z, diag, W, out):
    """``out = A v`` on the unknowns, ``Z`` holding ``v`` (padded, zero off the unknowns);
    returns ``v . out`` (float64)."""
    n0, n1, n2 = idx.shape
    vAv = 0.0
    for i in prange(1, n0 + 1):
        tmp = np.empty(n2 + 2, np.float32)
        for j in range(1, n1 + 1):
            for k in range(1, n2 + 1):
                tmp[k] = diag[i, j, k] * Z[i, j, k] - _neighbours(Z, W, i, j, k)
            for k in range(1, n2 + 1):
                n = idx[i - 1, j - 1, k - 1]
                if n >= 0:
                    out[n] = tmp[k]
                    vAv += np.float64(Z[i, j, k]) * tmp[k]
    return vAv


# --- a dense coarse level (the first below the dense finest one) --------------------------------
# ``Wg[d]`` holds each cell's +d face weight on the padded grid (0 where there is none; filled by
# :func:`setup`); its sweep and restriction are :func:`sweep` and :func:`restrict` with
# ``W = Wg``. Vectors are the
# padded grid, zero off the unknowns and on the padding, so the Krylov vector kernels work on
# them as they are.


@njit(parallel=True, **_OPTS)
def wapply(Z, diag, Wg, out):
    """``out = A Z`` on a weighted dense level (every interior cell; 0 off the unknowns);
    returns ``Z . out`` (float64)."""
    n0, n1, n2 = Z.shape
    vAv = 0.0
    for i in prange(1, n0 - 1):
        for j in range(1, n1 - 1):
            for k in range(1, n2 - 1):
                t = diag[i, j, k] * Z[i, j, k] - _neighbours(Z, Wg, i, j, k)
                out[i, j, k] = t
                vAv += np.float64(Z[i, j, k]) * t
    return vAv
