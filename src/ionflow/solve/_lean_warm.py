"""Compile the 3D solver's kernels on two cores at once, the first time on a machine.

numba compiles each kernel of ``_lean_kernels.py`` (and ``_lean_dense.py``) on its first call
and caches it on disk; the first 3D solve on a machine therefore compiles a dozen large
parallel kernels one after the other (about a minute). Compilation holds a process-wide lock, so threads do not help,
but a second process does: :func:`compile_in_parallel` starts a helper interpreter that
compiles half of the large kernels into numba's cache while this process compiles the other
half, then waits for it. The solve that follows loads them all from the cache.

Each kernel is compiled by one process only (numba keeps one cache index per kernel, and two
writers of one index could drop each other's entries). The signatures are those of the
solver's calls (``_lean.py``) in one of two variants: a binary image (no conductivities), or
one conductivity per unknown (label images, a conducting matrix), whose kernels are compiled
separately (the first such solve). ``tests/test_lean.py`` checks, in a fresh interpreter,
that solves of either kind after the warm-up compile none of these kernels again.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["compile_in_parallel", "compile_kernels"]

log = logging.getLogger(__name__)

HELPER_TIMEOUT = 600.0  # seconds; a helper still compiling then is stopped (the solve compiles)
HERE = (  # this process: the large setup kernels and the small ones
    "plane_offsets",
    "number_cells",
    "coarse_index",
    "coarse_operator",
    "linear_start",
    "residual64",
    "currents",
    "plane_flow",
    "prolong_add",
    "cluster_correction",
    "coarse_diagonal",
    "vector",
    "dense_grid",
)
# the helper process (a binary image's cold compile: ~40 s here, ~40 s there)
HELPER = ("apply", "gauss_seidel", "restrict_residual", "dense_cycle")
# The split coarse levels' kernels (``_lean_split.py``): compiled only when a solve first
# switches to split levels (most label images never do; 15-20 s more on every first solve)
SPLIT_HERE = ("split_fine",)
SPLIT_HELPER = ("split_csr", "split_dense")


def _calls(conductivities: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Tiny arguments typed as the solver passes them, per kernel (fine level, then coarse);
    ``conductivities``: the variant with one conductivity per unknown (passed to every level)."""
    f32 = np.float32
    idx = np.arange(27, dtype=np.int32).reshape(3, 3, 3)  # a fine level
    idx_c = np.arange(8, dtype=np.int32).reshape(2, 2, 2)  # its blocks
    idx_cc = np.zeros((1, 1, 1), np.int32)  # theirs
    f = np.array([2, 2, 2], np.int64)
    wd = np.ones(3)
    g = 1.0
    x = np.zeros(27)
    v, out = np.zeros(27, f32), np.zeros(27, f32)
    W, D = np.zeros((8, 3), f32), np.ones(8, f32)
    vc, rc, cc = np.zeros(8, f32), np.zeros(8, f32), np.zeros(1, f32)
    no = False
    keep = np.ones((3, 3, 3), bool)
    offsets = np.arange(4, dtype=np.int64) * 9
    s32 = f32(1.0)
    s = np.ones(27) if conductivities else None
    calls: dict[str, list[tuple[Any, ...]]] = {
        "plane_offsets": [(keep,), (keep[:, ::2],)],  # a C-ordered mask (axis 0) and a view
        "number_cells": [(keep, offsets), (keep[:, ::2], offsets)],
        "coarse_index": [(idx, f)],
        "coarse_operator": [
            (idx, None, None, s, wd, g, g, no, no, idx_c, f, 8, no, no),
            (idx_c, W, D, s, wd, g, g, no, no, idx_cc, f, 1, no, no),
        ],
        "linear_start": [(offsets,)],
        # with a source: the electrode solver (binary images), the cluster set-up (others)
        "residual64": [
            (idx, x, s, wd, g, g, no, no, out, None),
            (idx, x, s, wd, g, g, no, no, out, x),
        ],
        "currents": [(idx, x, s, g, g)],
        "plane_flow": [(idx, x, s, wd)],
        "prolong_add": [(idx, idx_c, f, vc, v)],
        # images with weakly conducting cells
        "cluster_correction": [(np.zeros(27, np.int32), v, x, np.zeros((2, 27)), out)]
        if conductivities
        else [],
        "coarse_diagonal": [(idx_c, W.astype(np.float64), x[:8], wd, no, no)],
        "apply": [
            (idx, v, None, None, s, wd, g, g, no, no, out),
            (idx_c, vc, W, D, s, wd, g, g, no, no, rc),
        ],
        "gauss_seidel": [
            (idx, v, out, None, None, s, wd, g, g, no, no, True, 2),
            (idx_c, vc, rc, W, D, s, wd, g, g, no, no, True, 2),
        ],
        "restrict_residual": [
            (idx, v, None, None, s, wd, g, g, no, no, out, idx_c, f, vc),
            (idx_c, vc, W, D, s, wd, g, g, no, no, rc, idx_cc, f, cc),
        ],
        # the Krylov vector operations (float32, the potential float64)
        "vector.axpy": [(s32, v, out), (g, v, x)],
        "vector.axpyz": [(s32, v, out, v)],
        "vector.dot": [(v, out)],
        "vector.dot2": [(v, out, v)],
        "vector.xpby": [(v, s32, out)],
        "vector.zero": [(v,)],
        "vector.scale": [(s32, v, out)],
    }
    P = np.zeros((5, 5, 5), f32)  # a padded dense level
    w = (s32, s32, s32)
    if not conductivities:  # the dense finest level of binary images (``_lean_dense.py``)
        Wg = np.zeros((3, 5, 5, 5), f32)  # a dense coarse level's face weights
        calls.update({
            # the finest level's, and the dense coarse level's (its weights per face)
            "dense_grid.setup": [
                (idx, None, None, wd, g, g, no, no, None, P, P),
                (idx_c, W, D, wd, 0.0, 0.0, no, no, Wg, P, P),
            ],
            "dense_grid.copy": [(idx, v, P, True)],
            "dense_grid.wrap": [(P, no, no)],
            # the finest level's three weights, and the dense coarse level's weight per face
            "dense_cycle.restrict": [(P, P, P, w, idx_c, f, vc), (P, P, P, Wg, idx_cc, f, cc)],
            "dense_cycle.sweep": [(P, P, P, w, 0, True, s32), (P, P, P, Wg, 0, True, s32)],
            "dense_cycle.prolong": [(idx_c, f, vc, P, P)],
            "dense_cycle.apply": [(idx, P, P, w, out)],
            "dense_cycle.wapply": [(P, P, Wg, P)],
        })  # fmt: skip
    # split coarse levels (``_lean_split.py``): by cluster (label images), or into connected
    # pieces (binary images)
    i32 = np.zeros(8, np.int32)
    agg = np.zeros(27, np.int32)
    csr = (np.zeros(9, np.int64), i32, vc, vc)  # indptr, indices, weights, electrode
    calls.update({
        "split_fine.fine_restrict": [(idx, v, s, wd, g, g, no, no, out, 2, agg, offsets, vc)],
        "split_fine.prolong_agg": [(agg, vc, v)],
        "split_fine.split_blocks": [(idx, 27, np.zeros(27, np.int32), f)],
        "split_fine.fine_faces": [(idx, s, wd, no, no, agg, 0, 3)],
        "split_fine.block_components": [(idx, 27, f)],
        # a binary image's dense finest level above split levels
        "split_dense.restrict_agg": []
        if conductivities
        else [(P, P, P, w, idx, agg, 2, offsets, vc)],
        "split_dense.prolong_agg": [] if conductivities else [(idx, agg, vc, P)],
        "split_csr.csr_gauss_seidel": [(*csr, vc, rc, offsets, True, 2)],
        "split_csr.csr_apply": [(*csr, vc, rc)],
        "split_csr.csr_restrict": [(*csr, vc, rc, offsets, 2, i32, offsets, cc)],
        "split_csr.csr_faces": [(*csr[:3], i32, 0, 8)],
    })  # fmt: skip
    return calls


def compile_kernels(names: tuple[str, ...] | None = None, conductivities: bool = False) -> None:
    """Compile the named kernels (default: all of them) for the solver's signatures (of the
    variant ``conductivities``), into numba's on-disk cache; kernels already cached are only
    loaded."""
    from numba import typeof

    for name, calls in _calls(conductivities).items():
        if names is not None and name.split(".")[0] not in names:
            continue
        kernel = kernel_of(name)
        for args in calls:
            kernel.compile(tuple(typeof(a) for a in args))


def kernel_of(name: str) -> Any:
    """The kernel of a ``_calls`` entry: ``split_dense.*`` and ``dense_*.*`` in
    ``_lean_dense``, the other ``split_*.*`` in ``_lean_split``, the rest in
    ``_lean_kernels``."""
    from . import _lean_dense as X
    from . import _lean_kernels as K
    from . import _lean_split as S

    if name.startswith("split_dense"):
        return getattr(X, name.split(".")[-1])
    module = S if name.startswith("split") else X if name.startswith("dense") else K
    return getattr(module, name.split(".")[-1])


def is_cached(name: str, conductivities: bool = False) -> bool:
    """Whether numba's on-disk cache holds kernel ``name`` (a ``_calls`` entry) for its first
    signature in the variant ``conductivities`` on this machine (numba internals; callers
    guard)."""
    from numba import typeof

    kernel = kernel_of(name)
    signature = tuple(typeof(a) for a in _calls(conductivities)[name][0])
    magic = kernel.targetctx.codegen().magic_tuple()
    index = kernel._cache._cache_file._load_index()
    return any(key[0] == signature and key[1] == magic for key in index)


def _cache_writable() -> bool:
    """Whether numba can keep what the helper compiles (else its work would be lost)."""
    from . import _lean_kernels as K

    try:
        path = K.gauss_seidel._cache._cache_path  # numba internals: guarded
    except AttributeError:
        return False
    return os.path.isdir(path) and os.access(path, os.W_OK)


def compile_in_parallel(
    cores: int,
    conductivities: bool = False,
    here: tuple[str, ...] = HERE,
    helper_names: tuple[str, ...] = HELPER,
) -> bool:
    """Compile the large kernels (of the variant ``conductivities``) in this process and a
    helper process at once (``cores`` >= 2); returns False, having done nothing, when there is
    no second core or interpreter to use, or numba's cache cannot be written (then each process
    compiles for itself anyway)."""
    exe = sys.executable
    if cores < 2 or not exe or getattr(sys, "frozen", False) or not _cache_writable():
        return False
    package_parent = str(Path(__file__).resolve().parents[2])  # the ionflow this process runs
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    code = (
        "from ionflow.solve._lean_warm import compile_kernels; "
        f"compile_kernels({tuple(helper_names)!r}, {bool(conductivities)})"
    )
    try:
        helper = subprocess.Popen(
            [exe, "-c", code],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        log.debug("no helper process to compile with (%s)", exc)
        return False
    t = time.perf_counter()
    try:
        compile_kernels(here, conductivities)
        log.debug("this process's kernels compiled in %.1f s", time.perf_counter() - t)
        helper.wait(timeout=max(1.0, HELPER_TIMEOUT - (time.perf_counter() - t)))
    except BaseException as exc:  # interrupted, or the helper too slow: stop it
        helper.kill()
        helper.wait()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
    log.debug("kernels compiled in %.1f s (helper: %s)", time.perf_counter() - t, helper.returncode)
    return True
