"""Fast direct solves of many 2D images of one shape: MKL PARDISO on the full-grid pattern.

The system of ``assemble`` has a different sparsity pattern for every image, so a sparse
direct solver redoes its ordering and symbolic analysis each time, which dominates the cost
for small images. Here the unknowns are *all* cells of the grid, in C order of the image: a
missing edge is an explicit zero conductance and a removed cell (insulating, or in a cluster
that does not join both electrodes) an identity row with right-hand side 0. Every image of one
shape then shares one pattern, PARDISO analyses it once (phase 11; reordering with METIS), and
each image costs only the numeric Cholesky factorisation and the solve (phases 22 and 33).
The equations of the kept cells are exactly those of ``assemble``; removed cells decouple.

The matrix is symmetric positive definite (every kept cluster touches an electrode), so PARDISO
runs with mtype 2 on the upper triangle. MKL runs single-threaded here (a thread-local setting,
restored afterwards) on images under ``THREADED_CELLS``: these systems are small and the batch
runner already uses every core; larger ones get the threads of
:func:`~ionflow._pool.solver_threads`.

An analysis is only ever used with the MKL thread count it was made with, in the process that
made it: PARDISO lays out its factorisation for that many threads, and the same handle used
with fewer threads gave wrong potentials (4 -> 1: relative conductivity off by a factor of
~100) and with more it corrupted the heap. So the cache is keyed by (shape, threads,
factorisation), and a forked child (a pool worker inherits its parent's cache, and its own
thread count is 1) starts with an empty one (``os.register_at_fork``). The factorisation: MKL's improved two-level one
on large grids, unless numba or torch is loaded (:func:`_improved_is_safe`: it segfaults once
their GNU OpenMP runtime has started).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp

from .._pool import solver_threads
from ._linear import REFINE_CONTRAST, REFINE_STEPS, MklThreads, has_pardiso
from ._stencil import DEFAULT, Stencil, electrode_conductances, face_conductances

__all__ = ["grid_pardiso_solve", "MAX_CELLS"]

MAX_CELLS = 512 * 512  # larger images: the general direct solver (factor memory is cached here)
THREADED_CELLS = 160 * 160  # from this size MKL may use every core this process may use
_CACHE_SIZE = 4  # analysed shapes kept per process
_LOCK = threading.Lock()  # one PARDISO call at a time per process
# (n0, n1, threads, improved two-level factorisation)
_CACHE: OrderedDict[tuple[int, int, int, bool], _GridPardiso] = OrderedDict()


def _after_fork_in_child() -> None:
    """A forked child gets a free lock (a thread of the parent may have held it) and none of
    the parent's handles: dropped, not released (their memory is a copy of the parent's)."""
    global _LOCK
    _LOCK = threading.Lock()
    _CACHE.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
_LIB: ctypes.CDLL | None | bool = None


def _library() -> ctypes.CDLL | None:
    """MKL as loaded by pypardiso (whose ``pardiso`` argtypes we reuse), or None."""
    global _LIB
    if _LIB is None:
        _LIB = False
        if has_pardiso():  # the one place that finds and loads pypardiso
            try:
                from pypardiso.scipy_aliases import pypardiso_solver

                _LIB = pypardiso_solver.libmkl
            except Exception:  # noqa: BLE001 - a pypardiso without this layout
                pass
    return _LIB if isinstance(_LIB, ctypes.CDLL) else None


class _GridPardiso:
    """PARDISO handle holding the analysis of the full 2D grid pattern of one shape."""

    def __init__(self, lib: ctypes.CDLL, shape: tuple[int, int], improved: bool) -> None:
        self.lib = lib
        self.shape = shape
        n0, n1 = shape
        n = n0 * n1
        idx = np.arange(n, dtype=np.int64).reshape(shape)
        # upper triangle in C order: per row, the diagonal, the +axis-1 neighbour, +axis-0 one
        rows = np.concatenate([idx.ravel(), idx[:, :-1].ravel(), idx[:-1, :].ravel()])
        cols = np.concatenate([idx.ravel(), idx[:, 1:].ravel(), idx[1:, :].ravel()])
        tag = np.arange(1, rows.size + 1, dtype=np.float64)
        M = sp.csr_matrix((tag, (rows, cols)), shape=(n, n))
        M.sort_indices()
        # where entry t of (diag, right, down) sits in the CSR data
        self.pos = np.empty(rows.size, dtype=np.int64)
        self.pos[M.data.astype(np.int64) - 1] = np.arange(rows.size)
        self.ia = (M.indptr + 1).astype(np.int32)  # one-based
        self.ja = (M.indices + 1).astype(np.int32)
        self.n = n
        self.pt = np.zeros(64, dtype=np.int64)
        self.iparm = np.zeros(64, dtype=np.int32)
        self.iparm[0] = 1  # these settings, not the defaults
        self.iparm[1] = 2  # METIS nested dissection
        self.iparm[9] = 8  # pivot perturbation 1e-8 (SPD: not expected to trigger)
        # Two-level factorisation: the same factor, a faster numeric phase on these grids
        # (benchmarks/pardiso_settings.py; answers equal to 1e-14). Its improved variant (10)
        # pays on large grids, where MKL may also run on several threads; on small ones the
        # classic one (1) is faster. ``improved``: see :func:`_improved_is_safe`.
        self.iparm[23] = 10 if improved else 1
        self.perm = np.zeros(n, dtype=np.int32)
        self.data = np.empty(rows.size, dtype=np.float64)
        ones = np.ones(shape)
        self._fill(ones, ones.astype(bool), 0)
        self._call(11)

    def _fill(
        self,
        s: np.ndarray,
        keep: np.ndarray,
        axis: int,
        weights: tuple[float, ...] = (1.0, 1.0),
        electrode_weight: float | None = None,
    ) -> np.ndarray:
        """Write the matrix values for conductivities ``s`` (0 off ``keep``); returns b."""
        right = face_conductances(s, 1, weight=weights[1])
        down = face_conductances(s, 0, weight=weights[0])
        diag = np.zeros(self.shape)
        diag[:, :-1] += right
        diag[:, 1:] += right
        diag[:-1, :] += down
        diag[1:, :] += down
        ew = weights[axis] if electrode_weight is None else electrode_weight
        g_in, g_out = electrode_conductances(s, axis, weight=ew)
        b = np.zeros(self.shape)
        first: list[slice | int] = [slice(None), slice(None)]
        last: list[slice | int] = [slice(None), slice(None)]
        first[axis] = 0
        last[axis] = -1
        diag[tuple(first)] += g_in
        diag[tuple(last)] += g_out
        b[tuple(first)] = g_in
        diag[~keep] = 1.0  # removed cells: identity rows, x = 0
        values = np.concatenate([diag.ravel(), -right.ravel(), -down.ravel()])
        self.data[self.pos] = values
        self._faces = (right, down, g_in, g_out, axis)
        return b.ravel()

    def _residual(self, x: np.ndarray) -> np.ndarray:
        """``b - A x`` of the last filled system from potential differences (no cancellation
        of the small fluxes of a weakly conducting phase; removed cells have none)."""
        right, down, g_in, g_out, axis = self._faces
        X = x.reshape(self.shape)
        r = np.zeros(self.shape)
        f = right * (X[:, 1:] - X[:, :-1])
        r[:, :-1] += f
        r[:, 1:] -= f
        f = down * (X[1:, :] - X[:-1, :])
        r[:-1, :] += f
        r[1:, :] -= f
        first: list[slice | int] = [slice(None), slice(None)]
        last: list[slice | int] = [slice(None), slice(None)]
        first[axis] = 0
        last[axis] = -1
        r[tuple(first)] += g_in * (1.0 - X[tuple(first)])
        r[tuple(last)] -= g_out * X[tuple(last)]
        return r.ravel()

    def _call(self, phase: int, b: np.ndarray | None = None) -> np.ndarray:
        rhs = np.zeros(self.n) if b is None else np.ascontiguousarray(b, dtype=np.float64)
        x = np.zeros(self.n)
        err = ctypes.c_int32(0)
        c32 = ctypes.c_int32
        self.lib.pardiso(
            self.pt.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
            ctypes.byref(c32(1)),  # maxfct
            ctypes.byref(c32(1)),  # mnum
            ctypes.byref(c32(2)),  # mtype: real symmetric positive definite
            ctypes.byref(c32(phase)),
            ctypes.byref(c32(self.n)),
            self.data.ctypes.data_as(ctypes.c_void_p),
            self.ia.ctypes.data_as(ctypes.POINTER(c32)),
            self.ja.ctypes.data_as(ctypes.POINTER(c32)),
            self.perm.ctypes.data_as(ctypes.POINTER(c32)),
            ctypes.byref(c32(1)),  # nrhs
            self.iparm.ctypes.data_as(ctypes.POINTER(c32)),
            ctypes.byref(c32(0)),  # msglvl
            rhs.ctypes.data_as(ctypes.c_void_p),
            x.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(err),
        )
        if err.value != 0:
            raise RuntimeError(f"PARDISO phase {phase} failed with error {err.value}")
        return x

    def solve(
        self,
        sigma: np.ndarray,
        keep: np.ndarray,
        axis: int,
        weights: tuple[float, ...],
        electrode_weight: float | None = None,
    ) -> np.ndarray:
        """Potential on every cell (0 off ``keep``), C order.

        With a conductivity contrast of ``REFINE_CONTRAST`` or more among the kept cells, up to
        ``REFINE_STEPS`` steps of iterative refinement on the same factor follow, with the
        residual from potential differences: the factorisation alone loses about
        ``contrast * 1e-14`` of the current there (1e-8 at 1e-6, 1.5e-6 at 1e-8)."""
        s = np.where(keep, sigma, 0.0)
        b = self._fill(s, keep, axis, weights, electrode_weight)
        x = self._call(23, b)  # numeric factorisation + solve in one call
        kept = s[keep]
        if kept.size and kept.min() < REFINE_CONTRAST * kept.max():
            for _ in range(REFINE_STEPS):
                dx = self._call(33, self._residual(x))
                x += dx
                if np.abs(dx).max() <= 1e-15 * max(np.abs(x).max(), 1e-300):
                    break
        return x

    def release(self) -> None:
        self._call(-1)


def _improved_is_safe() -> bool:
    """Whether PARDISO's improved two-level factorisation (iparm[23] = 10) may run here.

    Once another OpenMP runtime has started in the process (GNU libgomp: numba's parallel
    kernels, PyTorch), MKL's improved factorisation segfaults on grids from about 170^2 (MKL
    2025, Intel OpenMP), even on one thread; the classic one (1) and the plain one (0) do not.
    The 3D solver (numba) or the surrogate (torch) loaded: the classic one.
    """
    return "numba" not in sys.modules and "torch" not in sys.modules


def _cached(lib: ctypes.CDLL, shape: tuple[int, int], threads: int) -> _GridPardiso:
    """This process's analysis of ``shape`` for ``threads`` MKL threads (made when missing)."""
    improved = shape[0] * shape[1] >= THREADED_CELLS and _improved_is_safe()
    key = (*shape, threads, improved)
    solver = _CACHE.get(key)
    if solver is None:
        solver = _CACHE[key] = _GridPardiso(lib, shape, improved)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)[1].release()
    else:
        _CACHE.move_to_end(key)
    return solver


def grid_pardiso_solve(
    sigma: np.ndarray, keep: np.ndarray, axis: int, stencil: Stencil = DEFAULT
) -> np.ndarray | None:
    """Solve a 2D system on the full-grid pattern (``stencil``: spacing only, not periodic).

    Returns the reduced potential on every cell, shape of ``sigma`` (0 off ``keep``), or None
    when this path does not apply (no MKL, not 2D, too large). Raises RuntimeError when
    PARDISO reports an error.
    """
    if sigma.ndim != 2 or sigma.size > MAX_CELLS or stencil.periodic:
        return None
    lib = _library()
    if lib is None:
        return None
    shape = (int(sigma.shape[0]), int(sigma.shape[1]))
    # Small images run on one thread (a batch already has a process per core); large ones on
    # the threads this process may use (1 in a pool worker).
    threads = solver_threads() if sigma.size >= THREADED_CELLS else 1
    with _LOCK, MklThreads(lib, threads):
        solver = _cached(lib, shape, threads)
        x = solver.solve(sigma, keep, axis, stencil.weights(2), stencil.electrode_weight(2, axis))
    return x.reshape(shape)
