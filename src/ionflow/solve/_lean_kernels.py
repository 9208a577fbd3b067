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
    if D is not None:
        return np.float64(D[n])
    g = 0.0
    if i == 0:
        g += g_in
    if i == n0 - 1:
        g += g_out
    if sig is None:
        return ws + g
    return ws + g * sig[n]


@njit(inline="always", **_OPTS)
def _inlet(sig, n, g_in):
    if sig is None:
        return g_in
    return g_in * sig[n]


@njit(inline="always", **_OPTS)
def _step(c, n, periodic, s):
    """The neighbour coordinate ``c + s`` (s = +-1) on an axis of length n, or -1 (none)."""
    c += s
    if c < 0:
        return n - 1 if periodic and n > 1 else -1
    if c >= n:
        return 0 if periodic and n > 1 else -1
    return c


@njit(inline="always", **_OPTS)
def _term(n, m, minus, d, v, W, sig, wd):
    """``(w * v[m], w)`` of the face from unknown n to neighbour m along d, ``minus`` when m
    is on the ``-d`` side; ``(0, 0)`` when m < 0 (no unknown there). ``v`` may be None."""
    mm = m if m >= 0 else n  # branch-free: a missing face has weight 0
    w = _face(W, sig, wd, n, mm, mm if minus else n, d) if m >= 0 else 0.0
    if v is None:
        return 0.0, w
    return w * v[mm], w


@njit(inline="always", **_OPTS)
def _side(i, j, k, n, idx, v, W, sig, wd, p1, p2, s):
    """``(sum of w * v[m], sum of w)`` over the neighbours m of unknown n on side s (-1 or
    +1) of every axis. Axis 0 (the flow) is never periodic."""
    n0, n1, n2 = idx.shape
    acc = 0.0
    ws = 0.0
    a = _step(i, n0, False, s)
    if a >= 0:
        t, w = _term(n, idx[a, j, k], s < 0, 0, v, W, sig, wd)
        acc += t
        ws += w
    b = _step(j, n1, p1, s)
    if b >= 0:
        t, w = _term(n, idx[i, b, k], s < 0, 1, v, W, sig, wd)
        acc += t
        ws += w
    c = _step(k, n2, p2, s)
    if c >= 0:
        t, w = _term(n, idx[i, j, c], s < 0, 2, v, W, sig, wd)
        acc += t
        ws += w
    return acc, ws


@njit(inline="always", **_OPTS)
def _row(i, j, k, n, idx, v, W, sig, wd, p1, p2):
    """(sum of w * v[m] over the neighbours m of unknown n, sum of w); ``v`` may be None."""
    a_lo, w_lo = _side(i, j, k, n, idx, v, W, sig, wd, p1, p2, -1)
    a_hi, w_hi = _side(i, j, k, n, idx, v, W, sig, wd, p1, p2, 1)
    return a_lo + a_hi, w_lo + w_hi


@njit(parallel=True, **_OPTS)
def residual64(idx, x, sig, wd, g_in, g_out, p1, p2, out):
    """``out = b - A x`` of the fine level in float64 (stored in ``out``'s precision).

    Returns ``(r.x, b.x)`` accumulated in float64 (``b = g_in s`` on the first slice)."""
    n0, n1, n2 = idx.shape
    rx = 0.0
    bx = 0.0
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                n = idx[i, j, k]
                if n < 0:
                    continue
                acc, ws = _row(i, j, k, n, idx, x, None, sig, wd, p1, p2)
                diag = _diag(None, None, sig, ws, i, n, n0, g_in, g_out)
                gi = _inlet(sig, n, g_in) if i == 0 else 0.0
                r = gi + acc - diag * x[n]
                out[n] = r
                rx += r * x[n]
                bx += gi * x[n]
    return rx, bx


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
def apply(idx, v, W, D, sig, wd, g_in, g_out, p1, p2, out):
    """``out = A v``. Fine level: ``W``, ``D`` None."""
    n0, n1, n2 = idx.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                n = idx[i, j, k]
                if n < 0:
                    continue
                acc, ws = _row(i, j, k, n, idx, v, W, sig, wd, p1, p2)
                out[n] = _diag(W, D, sig, ws, i, n, n0, g_in, g_out) * v[n] - acc


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
            acc, ws = _row(i, j, k, n, idx, z, W, sig, wd, p1, p2)
            diag = _diag(W, D, sig, ws, i, n, n0, g_in, g_out)
            if diag > 0:
                z[n] = (r[n] + acc) / diag


@njit(parallel=True, **_OPTS)
def gauss_seidel(idx, z, r, W, D, sig, wd, g_in, g_out, p1, p2, forward, nslab):
    """One Gauss-Seidel sweep on ``A z = r`` over slabs of planes (see the module docstring).

    ``forward``: even slabs then odd ones, each in increasing order; else the exact reverse.
    """
    n0 = idx.shape[0]
    if nslab < 2 or n0 < 2 * nslab:
        nslab = 1
    bounds = np.empty(nslab + 1, np.int64)
    for s in range(nslab + 1):
        bounds[s] = (s * n0) // nslab
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
                    acc, ws = _row(i, j, k, n, idx, z, W, sig, wd, p1, p2)
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
    """Galerkin operator of the blocks: ``(W_c, D_c)``, float64.

    A block's ``+d`` weight sums the fine faces leaving it across its ``+d`` side (through the
    wrap when the axis is periodic); its diagonal is the sum of its faces' weights plus its
    cells' electrode couplings. ``pc1``/``pc2``: the coarse axes stay periodic.
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
                        acc, ws = _row(i, j, k, n, idx, None, W, sig, wd, p1, p2)
                        Ge[c] += _diag(W, D, sig, ws, i, n, n0, g_in, g_out) - ws
                    # +d faces of n that leave its block
                    a = _step(i, n0, False, 1)
                    if a >= 0 and a // f[0] != I:
                        Wc[c, 0] += _term(n, idx[a, j, k], False, 0, None, W, sig, wd)[1]
                    b = _step(j, n1, p1, 1)
                    if b >= 0 and b // f[1] != j // f[1]:
                        Wc[c, 1] += _term(n, idx[i, b, k], False, 1, None, W, sig, wd)[1]
                    e = _step(k, n2, p2, 1)
                    if e >= 0 and e // f[2] != k // f[2]:
                        Wc[c, 2] += _term(n, idx[i, j, e], False, 2, None, W, sig, wd)[1]
    Dc = np.empty(nc, np.float64)
    for I in prange(c0):
        for J in range(c1):
            for K in range(c2):
                c = idx_c[I, J, K]
                if c < 0:
                    continue
                acc, ws = _row(I, J, K, c, idx_c, None, Wc, None, wd, pc1, pc2)
                Dc[c] = ws + Ge[c]
    return Wc, Dc


@njit(parallel=True, **_OPTS)
def dot(a, b):
    """``a . b`` accumulated in float64."""
    s = 0.0
    for n in prange(a.shape[0]):
        s += np.float64(a[n]) * np.float64(b[n])
    return s


@njit(parallel=True, **_OPTS)
def axpy(alpha, x, y):
    """``y += alpha x`` (y may be float64 and x float32)."""
    for n in prange(x.shape[0]):
        y[n] += alpha * x[n]


@njit(parallel=True, **_OPTS)
def xpby(x, beta, y):
    """``y = x + beta y``."""
    for n in prange(x.shape[0]):
        y[n] = x[n] + beta * y[n]


@njit(parallel=True, **_OPTS)
def axpyz(alpha, x, y, out):
    """``out = y + alpha x``."""
    for n in prange(x.shape[0]):
        out[n] = y[n] + alpha * x[n]


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
