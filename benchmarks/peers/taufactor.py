"""TauFactor 2 ``Solver`` (CPU): ``D_eff`` with ``D_0 = 1`` (= D_rel = eps / tau).

Same boundary convention as ionflow (a ghost layer at 2 x the face value with a doubled weight
= a Dirichlet face half a voxel out), so no conversion. TauFactor flows along its first spatial
axis and wants ``(batch, x, y, z)``: other axes are moved there, 2D images get a z of 1.
"""

from __future__ import annotations

import contextlib
import io
import os
import time

import numpy as np

from . import require

NAME = "taufactor"
LABEL = "TauFactor Solver"
API = "Solver"
TAG = "tf"
BATCH_VARIANT = "Solver, one batch of all images"
BATCH_SPEC = {"batch": True}
REQUIRES = ("taufactor", "torch")
INSTALL = "pip install taufactor torch"  # torch for CPU is enough
VERSIONS = ("taufactor", "torch")
MARKER = ("s", "C1")
CONVENTION = (
    "TauFactor 2 `Solver`: the same convention (the padded ghost layer holds twice the "
    "face value and counts twice in the neighbour sum, i.e. a Dirichlet face half a voxel "
    "out). `D_eff` (with `D_0 = 1`; = `D_rel` = `VF / tau`) is compared directly with "
    "`relative_conductivity`, and its `tau` is ionflow's tortuosity. TauFactor flows along "
    "its first spatial axis: other axes are moved there with `np.moveaxis`; 2D images are "
    "passed as `(batch, x, y, 1)`. It solves in float32 and stops when the flux of every "
    "layer agrees to 1 % and tau changed by < 2e-3 over 100 iterations, hence differences "
    "of up to ~0.2 %. (`MultiPhaseSolver`, not benchmarked, puts its ghost cell one voxel "
    "out instead.)"
)


def _input(images: list[np.ndarray], axis: int, batch: bool) -> list[np.ndarray]:
    """TauFactor flows along its first spatial axis; 2D images need a trailing z of 1."""
    moved = [np.moveaxis(img, axis, 0) for img in images]
    moved = [m[..., None] if m.ndim == 2 else m for m in moved]
    if batch:
        return [np.ascontiguousarray(np.stack(moved)).astype(np.uint8)]
    return [np.ascontiguousarray(m[None]).astype(np.uint8) for m in moved]


def _solver(img: np.ndarray):
    """A solved ``taufactor.Solver`` for one image along axis 0."""
    taufactor = require("taufactor", NAME)
    a = img[None, ..., None] if img.ndim == 2 else img[None]
    s = taufactor.Solver(a.astype(np.uint8), device="cpu")
    s.solve(verbose=False)
    return s


def runner(images: list[np.ndarray], axis: int, spec: dict):
    """One ``Solver`` per image, or one for the whole stack with ``spec["batch"]``."""
    taufactor = require("taufactor", NAME)
    torch = require("torch", NAME)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count() or 1)
    batches = _input(images, axis, spec.get("batch", False))

    def solve():
        rel, iters, conv = [], [], []
        for b in batches:
            s = taufactor.Solver(b, device="cpu")
            s.solve(verbose=False)
            rel += [float(v) for v in np.asarray(s.D_eff).ravel()]
            iters.append(int(s.iter))
            conv.append(bool(s.converged))
        return rel, {
            "iterations": max(iters),
            "converged": all(conv),
            "threads": torch.get_num_threads(),
        }

    return solve


def known_answers(img: np.ndarray) -> dict[str, float]:
    """``D_eff`` and ``VF / tau`` along axis 0 (both = relative conductivity)."""
    s = _solver(img)
    return {"taufactor D_eff": float(s.D_eff[0]), "taufactor eps/tau": float(s.VF[0] / s.tau[0])}


def on_blocked(img: np.ndarray) -> str:
    """Iterations, time, convergence and what TauFactor prints on a non-percolating image."""
    buf = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(buf):
            s = _solver(img)
        said = " | ".join(x.strip() for x in buf.getvalue().splitlines() if x.strip())
        return (
            f"returns after {s.iter} iterations ({time.perf_counter() - t0:.1f} s), "
            f"converged={s.converged}, D_eff={float(np.ravel(s.D_eff)[0]):g}, "
            f"tau={float(np.ravel(s.tau)[0]):g}" + (f"; prints: {said[:160]}" if said else "")
        )
    except Exception as exc:  # noqa: BLE001
        return f"raises {type(exc).__name__}: {str(exc)[:120]}"
