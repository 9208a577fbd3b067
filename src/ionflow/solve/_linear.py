"""Linear solvers for the conduction system (the assembled, per-image-pattern system).

* ``"direct"``: a sparse LU factorisation, exact to rounding. MKL PARDISO (``pypardiso``) when it
  is installed (x86-64), SciPy's SuperLU otherwise. The default for 2D images; images up to
  512 x 512 first try the faster shared-pattern PARDISO solver in ``_pardiso_grid.py``.
* ``"cg"``: conjugate gradients preconditioned with algebraic multigrid (``pyamg``), started from
  the linear potential. It stops on the *current*, not only the residual: when the inlet and
  outlet currents agree to ``rtol`` and the current changed by less than ``rtol`` since the last
  check. The 3D default is the geometric multigrid of ``_multigrid.py`` (``"mg"``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IonflowError
from ._assemble import LinearSystem

__all__ = ["solve_direct", "solve_iterative", "has_pardiso"]

log = logging.getLogger(__name__)

_PARDISO: object | None = None
_PARDISO_LOCK = threading.Lock()  # pypardiso's solver object is not thread-safe


def _after_fork_in_child() -> None:
    """A forked child gets a free lock (a thread of the parent may have held it)."""
    global _PARDISO_LOCK
    _PARDISO_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def point_pypardiso_at_mkl() -> None:
    """Tell pypardiso where MKL's runtime is when it sits in this environment's ``lib``.

    Without ``PYPARDISO_MKL_RT`` pypardiso searches the whole of ``sys.prefix`` recursively for
    ``*mkl_rt*`` when it is imported: 1-1.5 s in a typical virtual environment, paid by every
    process (each worker of a batch). The pip and conda packages put the library directly in
    ``lib`` (``Library/bin`` on Windows), so look there first; a value already set is kept.
    """
    if os.environ.get("PYPARDISO_MKL_RT"):
        return
    for sub in ("lib", "Library/bin"):
        folder = Path(sys.prefix) / sub
        try:
            found = sorted(
                (p for p in folder.iterdir() if p.name.startswith(("libmkl_rt", "mkl_rt"))),
                key=lambda p: len(p.name),
            )
        except OSError:
            continue
        if found:
            os.environ["PYPARDISO_MKL_RT"] = str(found[0])
            return


def has_pardiso() -> bool:
    """True when MKL PARDISO (pypardiso) can be used."""
    global _PARDISO
    if _PARDISO is None:
        point_pypardiso_at_mkl()
        try:
            import pypardiso  # noqa: F401

            _PARDISO = pypardiso
        except Exception:  # ImportError, or MKL failing to load
            _PARDISO = False
    return _PARDISO is not False


class MklThreads:
    """MKL's thread-local thread count set for the duration (when MKL offers it)."""

    def __init__(self, lib: ctypes.CDLL, threads: int = 1) -> None:
        self.fn = getattr(lib, "MKL_Set_Num_Threads_Local", None)
        self.threads = threads
        self.previous = 0

    def __enter__(self) -> None:
        if self.fn is not None:
            self.previous = self.fn(self.threads)

    def __exit__(self, *exc: object) -> None:
        if self.fn is not None:
            self.fn(self.previous)


REFINE_CONTRAST = 1e-3  # a contrast beyond this: iterative refinement of direct solves
REFINE_STEPS = 3


def _high_contrast(A: Any) -> bool:
    """Whether the nonzero entries of ``A`` span a ratio beyond ``1 / REFINE_CONTRAST``."""
    d = np.abs(A.data)
    d = d[d > 0]
    return bool(d.size) and float(d.min()) < REFINE_CONTRAST * float(d.max())


def _pardiso_spsolve(
    A: Any, b: np.ndarray, residual: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
    """pypardiso's solve on the threads this process may use, its factorisation freed after;
    with ``residual`` (``x -> b - A x``), up to ``REFINE_STEPS`` steps of iterative refinement
    on the same factor follow (a high-contrast system: the factorisation alone lost 1e-8 of the
    current at a contrast of 1e-6).

    pypardiso keeps the last factorisation (hundreds of MB for a 3D system) for a repeat of
    the same matrix, and MKL would run on every core in each worker of a batch. Here MKL
    takes :func:`~ionflow._pool.solver_threads` threads for the call (1 in a pool worker),
    and the factorisation is released at once, so none is reused with another thread count
    or in a forked child (PARDISO's layout depends on the threads it was made with).
    """
    from pypardiso.scipy_aliases import pypardiso_solver

    from .._pool import solver_threads

    try:
        with MklThreads(pypardiso_solver.libmkl, solver_threads()):
            x = np.asarray(_PARDISO.spsolve(A, b)).ravel()  # type: ignore[union-attr]
            if residual is not None:  # the same A: pypardiso solves with the factor it kept
                for _ in range(REFINE_STEPS):
                    dx = np.asarray(_PARDISO.spsolve(A, residual(x))).ravel()  # type: ignore[union-attr]
                    x += dx
                    if np.abs(dx).max() <= 1e-15 * max(float(np.abs(x).max()), 1e-300):
                        break
            return x
    finally:
        pypardiso_solver.free_memory(everything=True)


def solve_direct(system: LinearSystem) -> tuple[np.ndarray, str]:
    """Solve by sparse LU; returns the solution and the name of the method used."""
    A, b = system.A, system.b
    if has_pardiso():
        try:
            with _PARDISO_LOCK:
                x = _pardiso_spsolve(A, b, system.residual if _high_contrast(A) else None)
            return np.asarray(x).ravel(), "pardiso"
        except Exception as exc:  # noqa: BLE001 - PARDISO's own error type; fall back to SuperLU
            log.warning("PARDISO failed (%s); falling back to SuperLU", exc)
    from scipy.sparse.linalg import spsolve

    return spsolve(A.tocsc(), b, permc_spec="COLAMD"), "superlu"


def solve_iterative(
    system: LinearSystem,
    x0: np.ndarray,
    *,
    rtol: float = 1e-9,
    maxiter: int = 2000,
    check_every: int = 2,
) -> tuple[np.ndarray, str, int, float]:
    """AMG-preconditioned CG with a stopping rule on the current.

    Returns
    -------
    x : ndarray
        Solution (reduced potential).
    method : str
        ``"amg-cg"``.
    iterations : int
        CG iterations taken.
    accuracy : float
        Estimated relative accuracy of the current (the larger of the inlet/outlet mismatch and
        the change of the current over the last check).
    """
    import pyamg

    A = system.A
    b = system.b
    ml = pyamg.smoothed_aggregation_solver(
        A, symmetry="hermitian", strength=None, smooth=None, max_coarse=500, keep=False
    )
    M = ml.aspreconditioner(cycle="V")
    x = x0.astype(np.float64, copy=True)
    r = b - A @ x
    z = M @ r
    p = z.copy()
    rz = float(r @ z)
    last = None
    accuracy = np.inf
    bnorm = float(np.linalg.norm(b)) or 1.0
    for it in range(1, maxiter + 1):
        if rz <= 0.0 or float(np.linalg.norm(r)) <= 1e-15 * bnorm:
            i_in, i_out = system.currents(x)  # exact (e.g. the linear start on a uniform image)
            return x, "amg-cg", it - 1, abs(i_in - i_out) / max(abs(i_in), 1e-300)
        Ap = A @ p
        alpha = rz / float(p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        if it % check_every == 0:
            i_in, i_out = system.currents(x)
            scale = max(abs(i_in), abs(i_out), 1e-300)
            mismatch = abs(i_in - i_out) / scale
            change = abs(i_in - last) / scale if last is not None else np.inf
            last = i_in
            accuracy = max(mismatch, change)
            if accuracy < rtol:
                return x, "amg-cg", it, accuracy
        z = M @ r
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    raise IonflowError(
        f"CG did not reach relative accuracy {rtol:g} in {maxiter} iterations (reached {accuracy:.2e})"
    )
