"""Compiled (numba) kernels of the lean solver's *split* coarse levels (``_lean.py``).

With a weakly conducting phase the 2x2x2 blocks of the coarse levels are split by cluster: a
block holds one coarse unknown per face-connected cluster of well-conducting cells in it (and
one for the rest), so that two clusters that reach each other only through the weak phase
never share a coarse unknown (:meth:`~._lean.LeanMultigrid.split_setup`). A level then no
longer fits a grid; its operator is a graph Laplacian held in CSR form:

* ``indptr`` (int64), ``indices`` (int32), ``data`` (float32): the positive weight ``w`` of
  every off-diagonal coupling (the matrix entry is ``-w``), and ``E`` (float32) the electrode
  coupling of every unknown; the diagonal is formed on the fly as ``E + sum w`` (in float64),
  so that the float32 operator is exactly a graph Laplacian: a cluster that a weak phase
  isolates keeps its small coupling out (a stored float32 diagonal rounds it away at a
  contrast of 1e-6: 50 iterations and a current 1.5e-8 off on binder-sheet slabs);
* the unknowns are numbered plane by plane along the flow: ``planes[p]`` is the first unknown
  of plane ``p`` (``planes[-1]`` the count), and an unknown of plane ``p`` couples only to
  planes ``p - 1 .. p + 1``. Gauss-Seidel therefore runs over slabs of planes exactly as on the
  grid levels (``_lean_kernels.gauss_seidel``), and the restriction runs in parallel over the
  planes of the next level;
* ``agg`` maps each unknown of a level to its aggregate on the next (piecewise-constant
  prolongation), and ``f0`` planes of a level make one plane of the next.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._lean_kernels import _OPTS, _diag, _face, _row, slab_bounds

__all__: list[str] = []


@njit(inline="always", **_OPTS)
def _csr_row(indptr, indices, data, E, v, n):
    """(sum of w v[m] over the couplings of row n, its diagonal ``E[n] + sum w``), float64."""
    acc = 0.0
    d = np.float64(E[n])
    for e in range(indptr[n], indptr[n + 1]):
        w = np.float64(data[e])
        acc += w * v[indices[e]]
        d += w
    return acc, d


@njit(parallel=True, **_OPTS)
def csr_gauss_seidel(indptr, indices, data, E, z, r, planes, forward, nslab):
    """One Gauss-Seidel sweep on ``A z = r`` over slabs of planes (even slabs in parallel, then
    odd ones; ``forward`` False: the exact reverse)."""
    bounds = planes[slab_bounds(planes.shape[0] - 1, nslab)]  # in unknowns
    nslab = bounds.shape[0] - 1
    for phase in range(2):
        colour = phase if forward else 1 - phase
        if nslab == 1 and colour == 1:
            continue
        nsl = (nslab - colour + 1) // 2
        for t in prange(nsl):
            s = colour + 2 * t
            lo = bounds[s]
            hi = bounds[s + 1]
            for ii in range(hi - lo):
                n = lo + ii if forward else hi - 1 - ii
                acc, d = _csr_row(indptr, indices, data, E, z, n)
                if d > 0:
                    z[n] = (r[n] + acc) / d


@njit(parallel=True, **_OPTS)
def csr_apply(indptr, indices, data, E, v, out):
    """``out = A v``; returns ``v . out`` (float64)."""
    vAv = 0.0
    for n in prange(E.shape[0]):
        acc, d = _csr_row(indptr, indices, data, E, v, n)
        vn = np.float64(v[n])
        o = d * vn - acc
        out[n] = o
        vAv += vn * o
    return vAv


@njit(parallel=True, **_OPTS)
def csr_restrict(indptr, indices, data, E, z, r, planes, f0, agg, planes_c, out):
    """``out[c] = sum of (r - A z) over the unknowns aggregated into c`` (the next level's
    planes in parallel: plane ``P`` gathers planes ``f0 P .. f0 P + f0 - 1``)."""
    n0 = planes.shape[0] - 1
    for P in prange(planes_c.shape[0] - 1):
        for c in range(planes_c[P], planes_c[P + 1]):
            out[c] = 0.0
        lo = planes[min(f0 * P, n0)]
        hi = planes[min(f0 * P + f0, n0)]
        for n in range(lo, hi):
            acc, d = _csr_row(indptr, indices, data, E, z, n)
            out[agg[n]] += r[n] - (d * z[n] - acc)


@njit(parallel=True, **_OPTS)
def fine_restrict(idx, z, sig, wd, g_in, g_out, p1, p2, r, f0, agg, planes_c, out):
    """The fine (matrix-free) level's :func:`csr_restrict`."""
    n0, n1, n2 = idx.shape
    for P in prange(planes_c.shape[0] - 1):
        for c in range(planes_c[P], planes_c[P + 1]):
            out[c] = 0.0
        for i in range(f0 * P, min(f0 * P + f0, n0)):
            for j in range(n1):
                for k in range(n2):
                    n = idx[i, j, k]
                    if n < 0:
                        continue
                    acc, ws = _row(i, j, k, n, idx, z, None, sig, wd, p1, p2, 0.0)
                    t = r[n] - (_diag(None, None, sig, ws, i, n, n0, g_in, g_out) * z[n] - acc)
                    out[agg[n]] += t


@njit(parallel=True, **_OPTS)
def prolong_agg(agg, e, z):
    """``z[n] += e[agg[n]]`` (piecewise-constant prolongation)."""
    for n in prange(z.shape[0]):
        z[n] += e[agg[n]]


@njit(parallel=True, **_OPTS)
def split_blocks(idx, nu, cls, f):
    """Aggregates of the fine level (``nu`` unknowns): its ``f``-blocks, each split by
    ``cls`` (one aggregate per distinct value among the block's unknowns). Returns ``(agg,
    planes_c, coords, ccls)``: the aggregate of every unknown, the aggregates' plane offsets,
    their block coordinates and their ``cls``; numbered plane by plane, blocks in C order,
    then by first appearance."""
    n0, n1, n2 = idx.shape
    c0 = (n0 + f[0] - 1) // f[0]
    c1 = (n1 + f[1] - 1) // f[1]
    c2 = (n2 + f[2] - 1) // f[2]
    counts = np.zeros(c0 + 1, np.int64)
    for I in prange(c0):  # count: one coarse plane per task
        seen = np.empty(f[0] * f[1] * f[2], np.int64)
        cnt = 0
        for J in range(c1):
            for K in range(c2):
                cnt += _split_block(idx, cls, f, I, J, K, seen, 0, None, None, None)
        counts[I + 1] = cnt
    for I in range(c0):
        counts[I + 1] += counts[I]
    nc = counts[c0]
    agg = np.empty(nu, np.int32)
    coords = np.empty((nc, 3), np.int64)
    ccls = np.empty(nc, np.int64)
    for I in prange(c0):  # number, from the plane's offset
        seen = np.empty(f[0] * f[1] * f[2], np.int64)
        a = counts[I]
        for J in range(c1):
            for K in range(c2):
                a += _split_block(idx, cls, f, I, J, K, seen, a, agg, coords, ccls)
    return agg, counts, coords, ccls


@njit(parallel=True, **_OPTS)
def block_components(idx, nu, f):
    """The face-connected piece of its ``f``-block (at most 2x2x2 cells) that each of the
    ``nu`` unknowns of ``idx`` lies in: int32, the block's first cell of that piece in C order
    (0 .. 7), so that equal values within a block mean one piece (a binary image's split
    levels, :meth:`~._lean.LeanMultigrid.connect_setup`)."""
    n0, n1, n2 = idx.shape
    f0, f1, f2 = f[0], f[1], f[2]
    out = np.empty(nu, np.int32)
    for I in prange((n0 + f0 - 1) // f0):
        size = f0 * f1 * f2
        cell = np.empty(size, np.int64)
        pos = np.empty((size, 3), np.int64)
        parent = np.empty(size, np.int64)
        for J in range((n1 + f1 - 1) // f1):
            for K in range((n2 + f2 - 1) // f2):
                m = 0
                for i in range(I * f0, min(I * f0 + f0, n0)):
                    for j in range(J * f1, min(J * f1 + f1, n1)):
                        for k in range(K * f2, min(K * f2 + f2, n2)):
                            n = idx[i, j, k]
                            if n >= 0:
                                cell[m] = n
                                pos[m, 0], pos[m, 1], pos[m, 2] = i, j, k
                                parent[m] = m
                                m += 1
                for a in range(m):  # union by the smaller index: a root is its piece's first
                    for b in range(a + 1, m):
                        dist = (
                            abs(pos[a, 0] - pos[b, 0])
                            + abs(pos[a, 1] - pos[b, 1])
                            + abs(pos[a, 2] - pos[b, 2])
                        )
                        if dist != 1:
                            continue
                        ra, rb = a, b
                        while parent[ra] != ra:
                            ra = parent[ra]
                        while parent[rb] != rb:
                            rb = parent[rb]
                        if ra < rb:
                            parent[rb] = ra
                        elif rb < ra:
                            parent[ra] = rb
                for a in range(m):
                    r = a
                    while parent[r] != r:
                        r = parent[r]
                    out[cell[a]] = r
    return out


@njit(inline="always", **_OPTS)
def _split_block(idx, cls, f, I, J, K, seen, a, agg, coords, ccls):
    """The distinct ``cls`` values among the unknowns of block (I, J, K), in order of first
    appearance: their count, and (``agg`` not None) the aggregates ``a, a + 1, ...`` written
    for the block's unknowns (``agg``) and for themselves (``coords``, ``ccls``)."""
    n0, n1, n2 = idx.shape
    m = 0
    for i in range(I * f[0], min(I * f[0] + f[0], n0)):
        for j in range(J * f[1], min(J * f[1] + f[1], n1)):
            for k in range(K * f[2], min(K * f[2] + f[2], n2)):
                n = idx[i, j, k]
                if n < 0:
                    continue
                c = cls[n]
                t = 0
                while t < m and seen[t] != c:
                    t += 1
                if t == m:
                    seen[m] = c
                    m += 1
                    if agg is not None:
                        coords[a + t, 0] = I
                        coords[a + t, 1] = J
                        coords[a + t, 2] = K
                        ccls[a + t] = c
                if agg is not None:
                    agg[n] = a + t
    return m


@njit(parallel=True, **_OPTS)
def fine_faces(idx, sig, wd, p1, p2, agg, lo, hi):
    """The fine faces that leave their aggregate, from the cells of planes ``lo .. hi - 1``:
    ``(rows, cols, w)`` with ``rows = agg[n]``, ``cols = agg[m]`` for every face from unknown
    ``n`` to a neighbour ``m`` (both directions appear, from either side)."""
    n0, n1, n2 = idx.shape
    counts = np.zeros(hi - lo + 1, np.int64)
    for p in prange(hi - lo):
        i = lo + p
        c = 0
        for j in range(n1):
            for k in range(n2):
                n = idx[i, j, k]
                if n < 0:
                    continue
                c += _leaving(i, j, k, n, idx, agg, p1, p2, None, None, None, sig, wd, 0)
        counts[p + 1] = c
    for p in range(hi - lo):
        counts[p + 1] += counts[p]
    m = counts[hi - lo]
    rows = np.empty(m, np.int32)
    cols = np.empty(m, np.int32)
    w = np.empty(m, np.float64)
    for p in prange(hi - lo):
        _leaving_fill(lo + p, idx, agg, p1, p2, rows, cols, w, sig, wd, counts[p])
    return rows, cols, w


@njit(inline="always", **_OPTS)
def _leaving(i, j, k, n, idx, agg, p1, p2, rows, cols, w, sig, wd, at):
    """Count (``rows`` None) or write from ``at`` the faces of unknown n that leave its
    aggregate; returns their number."""
    n0, n1, n2 = idx.shape
    a = agg[n]
    c = 0
    for d in range(3):
        for s in (-1, 1):
            ii, jj, kk = i, j, k
            if d == 0:
                ii = i + s
                if ii < 0 or ii >= n0:
                    continue
            elif d == 1:
                if n1 < 2:
                    continue
                jj = j + s
                if jj < 0 or jj >= n1:
                    if not p1:
                        continue
                    jj = jj % n1
            else:
                if n2 < 2:
                    continue
                kk = k + s
                if kk < 0 or kk >= n2:
                    if not p2:
                        continue
                    kk = kk % n2
            m = idx[ii, jj, kk]
            if m < 0 or agg[m] == a:
                continue
            if rows is not None:
                rows[at + c] = a
                cols[at + c] = agg[m]
                w[at + c] = _face(None, sig, wd, n, m, n, d)
            c += 1
    return c


@njit(**_OPTS)
def _leaving_fill(i, idx, agg, p1, p2, rows, cols, w, sig, wd, at):
    n0, n1, n2 = idx.shape
    for j in range(n1):
        for k in range(n2):
            n = idx[i, j, k]
            if n < 0:
                continue
            at += _leaving(i, j, k, n, idx, agg, p1, p2, rows, cols, w, sig, wd, at)


@njit(**_OPTS)
def csr_faces(indptr, indices, data, agg, lo, hi):
    """A split level's couplings that leave their aggregate on the next level, from rows
    ``lo .. hi - 1``: ``(rows, cols, w)`` with ``rows = agg[a]``, ``cols = agg[b]`` for every
    stored coupling ``a``-``b`` (the next level's Galerkin weights, once summed)."""
    m = 0
    for a in range(lo, hi):
        for e in range(indptr[a], indptr[a + 1]):
            if agg[indices[e]] != agg[a]:
                m += 1
    rows = np.empty(m, np.int32)
    cols = np.empty(m, np.int32)
    w = np.empty(m, np.float64)
    t = 0
    for a in range(lo, hi):
        for e in range(indptr[a], indptr[a + 1]):
            b = agg[indices[e]]
            if b != agg[a]:
                rows[t] = agg[a]
                cols[t] = b
                w[t] = data[e]
                t += 1
    return rows, cols, w
