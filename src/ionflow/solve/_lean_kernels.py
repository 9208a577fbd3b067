"""Compiled (numba) kernels of the memory-lean multigrid solver (``_lean.py``).

Every level lives on a grid viewed flow axis first, ``(n0, n1, n2)``, with an ``int32`` index
grid ``idx`` (the unknown's number, ``-1`` where a cell is not an unknown); vectors hold the
unknowns only, in C order of the grid. A level's operator is either

* *fine* (matrix-free, the exact finite-volume stencil of ``_stencil.py``): the face weight
  between two unknowns along axis ``d`` is ``wd[d]`` (binary image, ``sig`` empty) or
  ``wd[d] * 2 s_a s_b / (s_a + s_b)`` (``sig`` holds the relative conductivity per unknown),
  and a cell of the first / last slice couples to its electrode with ``g_in * s`` /
  ``g_out * s``; nothing but the index grid (and ``sig``) is stored, or
* *coarse* (a Galerkin aggregate of the level below, formed on the grid): ``W[n, d]`` is the
  weight of the face from unknown ``n`` to its ``+d`` neighbour (0 when there is none) and
  ``D[n]`` the diagonal (float32).

Axes 1 and 2 may be periodic (the ``+d`` face of the last layer joins it to the first).
Smoothing is Gauss-Seidel over slabs of planes along axis 0: even slabs in parallel, then odd
slabs (a Gauss-Seidel ordering, so the forward / backward pair is a symmetric smoother), and
every kernel runs in parallel over planes. Reductions accumulate in float64.
"""

from __future__ import annotations

import os

# OpenMP threads that wait by spinning (GNU's default) cost up to 12x on a machine whose cores
# other work also wants (benchmarks/solver_scale.py); waiting passively costs little on an idle
# one because the small coarse levels run on one thread. Read when numba first starts its
# OpenMP pool; OMP_WAIT_POLICY=ACTIVE in the environment restores spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

__all__: list[str] = []

_OPTS = {"cache": True, "nogil": True, "fastmath": False}


@njit(inline="always", **_OPTS)
def _face(W, sig, wd, n, m, owner, d):
    """Weight of the face between unknowns n and m along d; ``owner`` is the one whose
    ``+d`` face it is (coarse levels store the weight there)."""
    if W is not None:
        return np.float64(W[owner, d])
    if sig is None:
        return wd[d]
    a = sig[n]
    b = sig[m]
    return wd[d] * 2.0 * a * b / (a + b)


@njit(inline="always", **_OPTS)
def _diag(W, D, sig, ws, i, n, n0, g_in, g_out):
    """Diagonal of row n in plane i (``ws``: the sum of its face weights)."""
    return ws + _electrode(D, sig, i, n, n0, g_in, g_out)


@njit(inline="always", **_OPTS)
def _electrode(D, sig, i, n, n0, g_in, g_out):
    """Row n's electrode couplings (the diagonal less the faces): stored in ``D`` on coarse
    levels, so that the float32 operator is exactly a graph Laplacian of its float32 weights
    plus these (a stored float32 diagonal rounds away the coupling out of a cluster isolated
    by a weak phase at contrasts near 1e-7)."""
    if D is not None:
        return np.float64(D[n])
    g = 0.0
    if i == 0:
        g += g_in
    if i == n0 - 1:
        g += g_out
    if sig is None:
        return g
    return g * sig[n]


@njit(inline="always", **_OPTS)
def _inlet(sig, n, g_in):
    if sig is None:
        return g_in
    return g_in * sig[n]


@njit(inline="always", **_OPTS)
def _row(i, j, k, n, idx, v, W, sig, wd, p1, p2, c):
    """(sum of w * (v[m] - c) over the neighbours m of unknown n, sum of w); ``v`` may be None.

    ``c = v[n]`` gives the fluxes from differences (the float64 residual: exact to rounding of
    each flux, where ``sum w v[m] - ws v[n]`` would lose the small potential differences of a
    weakly conducting phase to cancellation); ``c = 0`` the plain weighted sum.

    Six written-out faces, not a loop or nested helpers: numba inlines these at its IR level,
    and nested inlined helpers made every kernel compile 3-4x slower (first solve ~200 s)."""
    n0, n1, n2 = idx.shape
    acc = 0.0
    ws = 0.0
    # axis 0 (never periodic)
    if i > 0:
        m = idx[i - 1, j, k]
        mm = m if m >= 0 else n  # branch-free: a missing face has weight 0
        w = _face(W, sig, wd, n, mm, mm, 0) if m >= 0 else 0.0
        if v is not None:
            acc += w * (v[mm] - c)
        ws += w
    if i < n0 - 1:
        m = idx[i + 1, j, k]
        mm = m if m >= 0 else n  # branch-free: a missing face has weight 0
        w = _face(W, sig, wd, n, mm, n, 0) if m >= 0 else 0.0
        if v is not None:
            acc += w * (v[mm] - c)
        ws += w
    # axis 1
    if n1 > 1:
        jm = j - 1
        if jm < 0 and p1:
            jm = n1 - 1
        if jm >= 0:
            m = idx[i, jm, k]
            mm = m if m >= 0 else n  # branch-free: a missing face has weight 0
            w = _face(W, sig, wd, n, mm, mm, 1) if m >= 0 else 0.0
            if v is not None:
                acc += w * (v[mm] - c)
            ws += w
        jp = j + 1
        if jp == n1 and p1:
            jp = 0
        if jp < n1:
            m = idx[i, jp, k]
            mm = m if m >= 0 else n  # branch-free: a missing face has weight 0
            w = _face(W, sig, wd, n, mm, n, 1) if m >= 0 else 0.0
            if v is not None:
                acc += w * (v[mm] - c)
            ws += w
    # axis 2
    if n2 > 1:
        km = k - 1
        if km < 0 and p2:
            km = n2 - 1
        if km >= 0:
            m = idx[i, j, km]
            mm = m if m >= 0 else n  # branch-free: a missing face has weight 0
            w = _face(W, sig, wd, n, mm, mm, 2) if m >= 0 else 0.0
            if v is not None:
                acc += w * (v[mm] - c)
            ws += w
        kp = k + 1
        if kp == n2 and p2:
            kp = 0
        if kp < n2:
            m = idx[i, j, kp]
            mm = m if m >= 0 else n  # branch-free: a missing face has weight 0
            w = _face(W, sig, wd, n, mm, n, 2) if m >= 0 else 0.0
            if v is not None:
                acc += w * (v[mm] - c)
            ws += w
    return acc, ws


@njit(parallel=True, **_OPTS)
def residual64(idx, x, sig, wd, g_in, g_out, p1, p2, out, rhs):
    """``out = b - A x`` of the fine level in float64 (stored in ``out``'s precision), with
    ``b = rhs`` when given, else the inlet electrode's source ``g_in s`` on the first slice.

    Returns ``(r.x, b.x, r.r, sum r)`` accumulated in float64."""
    n0, n1, n2 = idx.shape
    rx = 0.0
    bx = 0.0
    rr = 0.0
    rs = 0.0
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                n = idx[i, j, k]
                if n < 0:
                    continue
                acc, _ = _row(i, j, k, n, idx, x, None, sig, wd, p1, p2, x[n])
                # the electrode couplings (the diagonal less the faces), kept apart from acc
                e_in = _inlet(sig, n, g_in) if i == 0 else 0.0
                e_out = _inlet(sig, n, g_out) if i == n0 - 1 else 0.0
                if rhs is not None:
                    gi = rhs[n]
                    r = gi + acc - (e_in + e_out) * x[n]
                else:  # the inlet at potential 1
                    gi = e_in
                    r = acc + e_in * (1.0 - x[n]) - e_out * x[n]
                out[n] = r
                rx += r * x[n]
                bx += gi * x[n]
                rr += r * r
                rs += r
    return rx, bx, rr, rs


@njit(**_OPTS)
def currents(idx, x, sig, g_in, g_out):
    """Reduced inlet and outlet currents ``sum g_in s (1 - x)``, ``sum g_out s x``."""
    n0, n1, n2 = idx.shape
    a = 0.0
    b = 0.0
    for j in range(n1):
        for k in range(n2):
            n = idx[0, j, k]
            if n >= 0:
                a += _inlet(sig, n, g_in) * (1.0 - x[n])
            n = idx[n0 - 1, j, k]
            if n >= 0:
                b += _inlet(sig, n, g_out) * x[n]
    return a, b


@njit(parallel=True, **_OPTS)
def plane_flow(idx, x, sig, wd):
    """Per interface ``p`` between planes ``p`` and ``p + 1``: the current across it,
    ``F[p] = sum w (x_a - x_b)`` over its faces, and its total face weight ``G[p] = sum w``
    (float64; the flow axis is never periodic)."""
    n0, n1, n2 = idx.shape
    F = np.zeros(max(n0 - 1, 0))
    G = np.zeros(max(n0 - 1, 0))
    for p in prange(n0 - 1):
        f = 0.0
        g = 0.0
        for j in range(n1):
            for k in range(n2):
                a = idx[p, j, k]
                if a < 0:
                    continue
                b = idx[p + 1, j, k]
                if b < 0:
                    continue
                w = _face(None, sig, wd, a, b, a, 0)
                f += w * (x[a] - x[b])
                g += w
        F[p] = f
        G[p] = g
    return F, G


@njit(parallel=True, **_OPTS)
def apply(idx, v, W, D, sig, wd, g_in, g_out, p1, p2, out):
    """``out = A v``; returns ``v . out`` (float64). Fine level: ``W``, ``D`` None."""
    n0, n1, n2 = idx.shape
    vAv = 0.0
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                n = idx[i, j, k]
                if n < 0:
                    continue
                acc, ws = _row(i, j, k, n, idx, v, W, sig, wd, p1, p2, 0.0)
                vn = np.float64(v[n])
                o = _diag(W, D, sig, ws, i, n, n0, g_in, g_out) * vn - acc
                out[n] = o
                vAv += vn * o
    return vAv


@njit(inline="always", **_OPTS)
def _gs_plane(i, forward, idx, z, r, W, D, sig, wd, g_in, g_out, p1, p2):
    n0, n1, n2 = idx.shape
    for jj in range(n1):
        j = jj if forward else n1 - 1 - jj
        for kk in range(n2):
            k = kk if forward else n2 - 1 - kk
            n = idx[i, j, k]
            if n < 0:
                continue
            acc, ws = _row(i, j, k, n, idx, z, W, sig, wd, p1, p2, 0.0)
            diag = _diag(W, D, sig, ws, i, n, n0, g_in, g_out)
            if diag > 0:
                z[n] = (r[n] + acc) / diag


@njit(inline="always", **_OPTS)
def slab_bounds(n0, nslab):
    """The first plane of each of ``nslab`` slabs of ``n0`` planes, and ``n0`` (one slab when
    there are fewer than two planes per slab)."""
    if nslab < 2 or n0 < 2 * nslab:
        nslab = 1
    bounds = np.empty(nslab + 1, np.int64)
    for s in range(nslab + 1):
        bounds[s] = (s * n0) // nslab
    return bounds


@njit(parallel=True, **_OPTS)
def gauss_seidel(idx, z, r, W, D, sig, wd, g_in, g_out, p1, p2, forward, nslab):
    """One Gauss-Seidel sweep on ``A z = r`` over slabs of planes (see the module docstring).

    ``forward``: even slabs then odd ones, each in increasing order; else the exact reverse.
    """
    n0 = idx.shape[0]
    bounds = slab_bounds(n0, nslab)
    nslab = bounds.shape[0] - 1
    for phase in range(2):
        colour = phase if forward else 1 - phase
        if nslab == 1 and colour == 1:
            continue
        nsl = (nslab - colour + 1) // 2
        for t in prange(nsl):
            s = colour + 2 * t
            a = bounds[s]
            b = bounds[s + 1]
            for ii in range(b - a):
                i = a + ii if forward else b - 1 - ii
                _gs_plane(i, forward, idx, z, r, W, D, sig, wd, g_in, g_out, p1, p2)


@njit(parallel=True, **_OPTS)
def restrict_residual(idx, z, W, D, sig, wd, g_in, g_out, p1, p2, r, idx_c, f, out):
    """``out[c] = sum of (r - A z) over the fine unknowns of block c`` (block sizes ``f``);
    the fine residual itself is never stored."""
    n0, n1, n2 = idx.shape
    c0 = idx_c.shape[0]
    for I in prange(c0):
        for i in range(I * f[0], min((I + 1) * f[0], n0)):
            for J in range(idx_c.shape[1]):
                for K in range(idx_c.shape[2]):
                    c = idx_c[I, J, K]
                    if c >= 0 and i == I * f[0]:
                        out[c] = 0.0
            for j in range(n1):
                J = j // f[1]
                for k in range(n2):
                    n = idx[i, j, k]
                    if n < 0:
                        continue
                    acc, ws = _row(i, j, k, n, idx, z, W, sig, wd, p1, p2, 0.0)
                    t = r[n] - (_diag(W, D, sig, ws, i, n, n0, g_in, g_out) * z[n] - acc)
                    out[idx_c[I, J, k // f[2]]] += t


@njit(parallel=True, **_OPTS)
def prolong_add(idx, idx_c, f, e, z):
    """``z[n] += e[block of n]`` (piecewise-constant prolongation)."""
    n0, n1, n2 = idx.shape
    for i in prange(n0):
        I = i // f[0]
        for j in range(n1):
            J = j // f[1]
            for k in range(n2):
                n = idx[i, j, k]
                if n >= 0:
                    z[n] += e[idx_c[I, J, k // f[2]]]


@njit(parallel=True, **_OPTS)
def plane_offsets(keep):
    """``o[i]``: the number of True cells of ``keep`` before plane ``i`` (C order; ``o[-1]``
    is the total). ``keep`` may be any view."""
    n0, n1, n2 = keep.shape
    o = np.zeros(n0 + 1, np.int64)
    for i in prange(n0):
        c = 0
        for j in range(n1):
            for k in range(n2):
                if keep[i, j, k]:
                    c += 1
        o[i + 1] = c
    for i in range(n0):
        o[i + 1] += o[i]
    return o


@njit(parallel=True, **_OPTS)
def number_cells(keep, offsets):
    """The int32 index grid: the True cells of ``keep`` numbered in C order, -1 elsewhere.

    Parallel over planes, so every thread first-touches its share of the new pages (on a
    virtual machine a fresh page costs far more than writing it)."""
    n0, n1, n2 = keep.shape
    idx = np.empty((n0, n1, n2), np.int32)
    for i in prange(n0):
        m = offsets[i]
        for j in range(n1):
            for k in range(n2):
                if keep[i, j, k]:
                    idx[i, j, k] = m
                    m += 1
                else:
                    idx[i, j, k] = -1
    return idx


@njit(parallel=True, **_OPTS)
def linear_start(offsets):
    """The potential falling linearly along axis 0 (1 before the first plane, 0 after the
    last), on the unknowns numbered plane by plane (``offsets`` of :func:`plane_offsets`)."""
    n0 = offsets.shape[0] - 1
    x = np.empty(offsets[n0])
    for i in prange(n0):
        v = 1.0 - (i + 0.5) / n0
        for m in range(offsets[i], offsets[i + 1]):
            x[m] = v
    return x


@njit(parallel=True, **_OPTS)
def coarse_index(idx, f):
    """Index grid of the blocks holding at least one unknown, and their count."""
    n0, n1, n2 = idx.shape
    c = ((n0 + f[0] - 1) // f[0], (n1 + f[1] - 1) // f[1], (n2 + f[2] - 1) // f[2])
    idx_c = np.full(c, -1, np.int32)
    for I in prange(c[0]):  # one coarse plane per task: no two tasks write one block
        for i in range(I * f[0], min((I + 1) * f[0], n0)):
            for j in range(n1):
                for k in range(n2):
                    if idx[i, j, k] >= 0:
                        idx_c[I, j // f[1], k // f[2]] = 0
    count = 0
    for I in range(c[0]):
        for J in range(c[1]):
            for K in range(c[2]):
                if idx_c[I, J, K] == 0:
                    idx_c[I, J, K] = count
                    count += 1
    return idx_c, count


@njit(parallel=True, **_OPTS)
def coarse_operator(idx, W, D, sig, wd, g_in, g_out, p1, p2, idx_c, f, nc, pc1, pc2):
    """Galerkin operator of the blocks: ``(W_c, E_c)``, float64.

    A block's ``+d`` weight sums the fine faces leaving it across its ``+d`` side (through the
    wrap when the axis is periodic); ``E_c`` sums its cells' electrode couplings (its diagonal
    is ``E_c`` plus the sum of its faces' weights, :func:`coarse_diagonal`). ``pc1``/``pc2``:
    the coarse axes stay periodic (unused here; kept for the call's signature).
    """
    n0, n1, n2 = idx.shape
    c0, c1, c2 = idx_c.shape
    Wc = np.zeros((nc, 3), np.float64)
    Ge = np.zeros(nc, np.float64)
    for I in prange(c0):
        for i in range(I * f[0], min((I + 1) * f[0], n0)):
            for j in range(n1):
                for k in range(n2):
                    n = idx[i, j, k]
                    if n < 0:
                        continue
                    c = idx_c[I, j // f[1], k // f[2]]
                    if i == 0 or i == n0 - 1:  # electrode part: the diagonal minus the faces
                        Ge[c] += _electrode(D, sig, i, n, n0, g_in, g_out)
                    # +d faces of n that leave its block
                    if i + 1 < n0 and (i + 1) // f[0] != I:
                        m = idx[i + 1, j, k]
                        if m >= 0:
                            Wc[c, 0] += _face(W, sig, wd, n, m, n, 0)
                    if n1 > 1:
                        jp = j + 1
                        if jp == n1 and p1:
                            jp = 0
                        if jp < n1 and jp // f[1] != j // f[1]:
                            m = idx[i, jp, k]
                            if m >= 0:
                                Wc[c, 1] += _face(W, sig, wd, n, m, n, 1)
                    if n2 > 1:
                        kp = k + 1
                        if kp == n2 and p2:
                            kp = 0
                        if kp < n2 and kp // f[2] != k // f[2]:
                            m = idx[i, j, kp]
                            if m >= 0:
                                Wc[c, 2] += _face(W, sig, wd, n, m, n, 2)
    return Wc, Ge


@njit(parallel=True, **_OPTS)
def coarse_diagonal(idx_c, Wc, Ge, wd, pc1, pc2):
    """Diagonal of a coarse level: its face weights ``Wc`` summed per block, plus ``Ge`` (the
    coarsest level's direct solve)."""
    c0, c1, c2 = idx_c.shape
    Dc = np.empty(Wc.shape[0], np.float64)
    for I in prange(c0):
        for J in range(c1):
            for K in range(c2):
                c = idx_c[I, J, K]
                if c < 0:
                    continue
                acc, ws = _row(I, J, K, c, idx_c, None, Wc, None, wd, pc1, pc2, 0.0)
                Dc[c] = ws + Ge[c]
    return Dc


@njit(parallel=True, **_OPTS)
def dot(a, b):
    """``a . b`` accumulated in float64."""
    s = 0.0
    for n in prange(a.shape[0]):
        s += np.float64(a[n]) * np.float64(b[n])
    return s


@njit(parallel=True, **_OPTS)
def dot2(a, b, c):
    """``(a . b, a . c)`` in one pass, accumulated in float64."""
    s = 0.0
    t = 0.0
    for n in prange(a.shape[0]):
        an = np.float64(a[n])
        s += an * np.float64(b[n])
        t += an * np.float64(c[n])
    return s, t


@njit(parallel=True, **_OPTS)
def axpy(alpha, x, y):
    """``y += alpha x`` (y may be float64 and x float32); returns the new ``y . y``."""
    s = 0.0
    for n in prange(x.shape[0]):
        v = y[n] + alpha * x[n]
        y[n] = v
        s += np.float64(v) * np.float64(v)
    return s


@njit(parallel=True, **_OPTS)
def xpby(x, beta, y):
    """``y = x + beta y``."""
    for n in prange(x.shape[0]):
        y[n] = x[n] + beta * y[n]


@njit(parallel=True, **_OPTS)
def axpyz(alpha, x, y, out):
    """``out = y + alpha x``; returns ``out . out`` (float64)."""
    s = 0.0
    for n in prange(x.shape[0]):
        v = y[n] + alpha * x[n]
        out[n] = v
        s += np.float64(v) * np.float64(v)
    return s


@njit(parallel=True, **_OPTS)
def scale(alpha, x, out):
    """``out = alpha x``."""
    for n in prange(x.shape[0]):
        out[n] = alpha * x[n]


@njit(parallel=True, **_OPTS)
def zero(x):
    """``x = 0``."""
    for n in prange(x.shape[0]):
        x[n] = 0


@njit(parallel=True, **_OPTS)
def cluster_correction(comp, r, inv, part, out):
    """``out = Z diag(inv) Z^T r``: ``Z`` the indicators of the clusters numbered in ``comp``
    (``comp[n]`` = unknown n's cluster, 0 = none, whose ``inv[0]`` is 0); ``part`` a float64
    buffer ``(chunks, clusters)``, one row of cluster sums per share of the unknowns (threads)."""
    chunks, m = part.shape
    n = comp.shape[0]
    step = (n + chunks - 1) // chunks
    for t in prange(chunks):
        for c in range(m):
            part[t, c] = 0.0
        for i in range(t * step, min(n, (t + 1) * step)):
            part[t, comp[i]] += r[i]
    for c in prange(m):
        acc = 0.0
        for t in range(chunks):
            acc += part[t, c]
        part[0, c] = acc * inv[c]
    for i in prange(n):
        out[i] = part[0, comp[i]]
