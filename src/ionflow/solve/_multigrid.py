"""The assembled geometric-aggregation multigrid preconditioner (used by the electrode solves),
the result type and the progress reports of the multigrid solvers.

``GridMultigrid``: aggregation on 2x2x2 blocks of voxels with Galerkin coarse operators formed
on the grid (``_grid.py``), symmetric Gauss-Seidel smoothing (one forward sweep before, one
backward sweep after the coarse correction), Notay's K-cycle (two inner flexible-CG steps on
every coarse level but the last) and float32 coarse levels; the coarsest level (<= 500
unknowns) is solved by sparse LU. ``electrode_tortuosity`` runs flexible CG with it on the
assembled grid layout. The 3D default of ``simulate`` is the matrix-free solver of ``_lean.py``
(same algorithm, its stopping rule in ``_lean.fcg``).
"""

from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from pyamg.amg_core import gauss_seidel as _gauss_seidel

from ._grid import GridSystem, assemble_level

__all__ = ["GridMultigrid", "MultigridSolution"]

log = logging.getLogger(__name__)

_csr_matvec = sp._sparsetools.csr_matvec  # C kernel, accumulates into its output, frees the GIL
_POOL: ThreadPoolExecutor | None = None


def _pool(nthreads: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers != nthreads:
        _POOL = ThreadPoolExecutor(nthreads)
    return _POOL


class _RowBlocks:
    """A CSR matrix split into row blocks (views, no copies) so that SciPy's matvec kernel,
    which releases the GIL, runs on several threads for large levels."""

    def __init__(self, A: sp.csr_matrix, nthreads: int, min_rows: int = 40000) -> None:
        n = A.shape[0]
        self.nthreads = nthreads if n >= min_rows else 1
        self.ncols = A.shape[1]
        self.blocks = []
        cuts = np.linspace(0, n, self.nthreads + 1).astype(np.int64)
        ip = A.indptr
        for a, b in zip(cuts[:-1], cuts[1:]):
            s, e = int(ip[a]), int(ip[b])
            sub = (ip[a : b + 1] - ip[a]).astype(ip.dtype)
            self.blocks.append((int(a), int(b), sub, A.indices[s:e], A.data[s:e]))
        self.pool = _pool(self.nthreads) if self.nthreads > 1 else None

    def _run(self, fn) -> None:
        if self.pool is None:
            fn(0)
        else:
            list(self.pool.map(fn, range(len(self.blocks))))

    def matvec(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = A x."""

        def part(i: int) -> None:
            a, b, ip, ind, dat = self.blocks[i]
            o = out[a:b]
            o.fill(0)
            _csr_matvec(b - a, self.ncols, ip, ind, dat, x, o)

        self._run(part)
        return out

    def residual(self, z: np.ndarray, r: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = r - A z."""

        def part(i: int) -> None:
            a, b, ip, ind, dat = self.blocks[i]
            o = out[a:b]
            o.fill(0)
            _csr_matvec(b - a, self.ncols, ip, ind, dat, z, o)
            np.subtract(r[a:b], o, out=o)

        self._run(part)
        return out


@dataclass
class _Level:
    A: sp.csr_matrix
    op: _RowBlocks
    work: np.ndarray
    agg: np.ndarray | None = None  # fine unknown -> coarse unknown (None on the coarsest)
    n_coarse: int = 0


class GridMultigrid:
    """K-cycle aggregation multigrid preconditioner for a :class:`GridSystem`."""

    def __init__(
        self,
        system: GridSystem,
        *,
        max_coarse: int = 500,
        coarse_dtype: type = np.float32,
        ktol: float = 0.25,
        nthreads: int | None = None,
    ) -> None:
        nthreads = nthreads or min(2, os.cpu_count() or 1)
        self.ktol = ktol
        mats = [system.A]
        aggs = []
        coarse = system.coarse
        active = system.keep3
        while coarse is not None and mats[-1].shape[0] > max_coarse and max(active.shape) > 1:
            Ac, idx_c, coarse_next = assemble_level(
                coarse.weights,
                coarse.g_in,
                coarse.g_out,
                coarse.active,
                dtype=coarse_dtype,
                periodic=coarse.periodic,
            )
            t = idx_c
            for d in range(3):
                if coarse.factors[d] > 1:
                    t = np.repeat(t, coarse.factors[d], axis=d)
            t = t[: active.shape[0], : active.shape[1], : active.shape[2]]
            aggs.append(np.ascontiguousarray(t[active]))
            del t, idx_c
            mats.append(Ac)
            active, coarse = coarse.active, coarse_next
        system.coarse = None  # the grid data is no longer needed; free it
        self.levels = [
            _Level(A, _RowBlocks(A, nthreads), np.empty(A.shape[0], dtype=A.dtype)) for A in mats
        ]
        for L, C, agg in zip(self.levels[:-1], self.levels[1:], aggs):
            L.agg = agg
            L.n_coarse = C.A.shape[0]
        last = self.levels[-1].A.astype(np.float64)  # a copy: the padded level stays intact
        last.sum_duplicates()
        last.eliminate_zeros()
        self.coarse_lu = spla.splu(last.tocsc(), permc_spec="MMD_AT_PLUS_A")

    @property
    def fine_op(self) -> _RowBlocks:
        return self.levels[0].op

    def __call__(self, r: np.ndarray, out: np.ndarray) -> np.ndarray:
        return self._cycle(0, r, out)

    def _cycle(self, l: int, r: np.ndarray, z: np.ndarray) -> np.ndarray:
        L = self.levels[l]
        if l == len(self.levels) - 1:
            z[:] = self.coarse_lu.solve(r.astype(np.float64))
            return z
        A, t, n = L.A, L.work, r.shape[0]
        z.fill(0)
        _gauss_seidel(A.indptr, A.indices, A.data, z, r, 0, n, 1)  # forward sweep
        L.op.residual(z, r, t)
        C = self.levels[l + 1]
        assert L.agg is not None  # every level but the coarsest has its aggregation
        rc = np.bincount(L.agg, weights=t, minlength=L.n_coarse).astype(C.A.dtype, copy=False)
        ec = np.empty_like(rc)
        if l + 1 == len(self.levels) - 1:
            self._cycle(l + 1, rc, ec)
        else:
            self._kcycle(l + 1, rc, ec)
        if ec.dtype == t.dtype:
            np.take(ec, L.agg, out=t)  # prolongation (t is free again)
            z += t
        else:
            z += ec[L.agg]
        _gauss_seidel(A.indptr, A.indices, A.data, z, r, n - 1, -1, -1)  # backward sweep
        return z

    def _kcycle(self, l: int, r: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Two flexible-CG steps on level l preconditioned by the cycle (Notay's K-cycle)."""
        op = self.levels[l].op
        c = self._cycle(l, r, np.empty_like(r))
        v = op.matvec(c, np.empty_like(r))
        rho1 = float(np.dot(c, v))
        alpha1 = float(np.dot(c, r))
        if rho1 <= 0:
            out[:] = c
            return out
        r2 = r - (alpha1 / rho1) * v
        if np.linalg.norm(r2) <= self.ktol * np.linalg.norm(r):
            np.multiply(c, alpha1 / rho1, out=out)
            return out
        d = self._cycle(l, r2, np.empty_like(r))
        w = op.matvec(d, np.empty_like(r))
        gamma = float(np.dot(d, v))
        beta = float(np.dot(d, w))
        alpha2 = float(np.dot(d, r2))
        rho2 = beta - gamma * gamma / rho1
        if rho2 <= 1e-12 * beta:
            np.multiply(c, alpha1 / rho1, out=out)
            return out
        np.multiply(c, alpha1 / rho1 - gamma * alpha2 / (rho1 * rho2), out=out)
        out += (alpha2 / rho2) * d
        return out


@dataclass(frozen=True)
class MultigridSolution:
    """Outcome of a multigrid solve (reduced units: sigma_ref = V = cell size = 1)."""

    x: np.ndarray | None  # potential on the kept cells in ``phi[keep]`` order, if asked for
    inlet: float
    outlet: float
    iterations: int
    accuracy: float


class _Progress:
    """Iteration reports of a long solve: a log line per iteration (INFO) and a tqdm bar.

    The FCG error estimate falls roughly geometrically, so the bar shows
    ``log(first / now) / log(first / rtol)`` and the ETA extrapolates the recent rate.
    """

    MIN_UNKNOWNS = 1_000_000

    def __init__(self, unknowns: int, rtol: float, *, bar: bool) -> None:
        large = unknowns >= self.MIN_UNKNOWNS
        self.log = large and log.isEnabledFor(logging.INFO)
        self.want_bar = large and bar
        self.active = self.log or self.want_bar
        self.rtol = rtol
        self.unknowns = unknowns
        self.first: float | None = None
        self.bar = None
        self.start = 0.0
        self.last_current: float | None = None

    def __enter__(self) -> _Progress:
        self.start = time.perf_counter()
        if self.want_bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=100,
                desc=f"solve ({self.unknowns / 1e6:.1f} M unknowns)",
                unit="%",
                leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, it: int, estimate: float, current: float) -> None:
        if not np.isfinite(estimate) or estimate <= 0:
            return
        if self.first is None:
            self.first = max(estimate, self.rtol * 10)
        span = math.log(self.first / self.rtol)
        done = min(max(math.log(self.first / estimate) / span, 0.0), 1.0) if span > 0 else 1.0
        elapsed = time.perf_counter() - self.start
        eta = elapsed * (1.0 - done) / done if done > 0 else math.inf
        change = abs(current - self.last_current) / abs(current) if self.last_current else math.inf
        self.last_current = current
        if self.log:
            log.info(
                "iteration %d: current %.9g (change %.1e), accuracy %.1e, ETA %.0f s",
                it,
                current,
                change,
                estimate,
                eta,
            )
        if self.bar is not None:
            self.bar.n = round(100 * done)
            self.bar.set_postfix_str(f"it {it}, accuracy {estimate:.1e}, ETA {eta:.0f} s")
