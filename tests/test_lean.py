"""The memory-lean multigrid (``solve/_lean.py``, the 3D default): the exact answers of the
direct solver in every stencil variant, float64 accuracy from float32 work, a symmetric
preconditioner, and answers that do not depend on the number of threads."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ionflow import simulate
from ionflow.generate import blobs, disks
from ionflow.solve import _lean
from ionflow.solve._assemble import percolating_mask
from ionflow.solve._lean import LeanMultigrid, _index_grid, solve_lean
from ionflow.solve._stencil import DEFAULT, Stencil


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": 2},
        {"boundary": "periodic", "axis": 1},
        {"pixel_size": (2.0, 1.0, 0.5)},
        {"electrode": "ghost"},
        {"pixel_size": (1.0, 3.0, 1.0), "boundary": "periodic", "electrode": "ghost", "axis": 2},
    ],
)
def test_lean_equals_direct_in_every_stencil_variant(kwargs):
    vol = blobs((22, 19, 24), electrolyte_fraction=0.45, rng=11)
    a = simulate(vol, method="direct", **kwargs)
    b = simulate(vol, method="mg", **kwargs)
    assert b.method == "multigrid-cg"
    assert_allclose(b.current, a.current, rtol=2e-9)
    assert b.accuracy <= 1e-9
    assert b.flux_imbalance <= 1e-6  # the default balance_tol
    assert_allclose(b.inlet_current, b.current, rtol=1e-6)
    assert_allclose(b.outlet_current, b.current, rtol=1e-6)


def test_lean_with_several_conductivities_equals_direct():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (20, 21, 18))
    cond = {0: 0.0, 1: 1.0, 2: 0.25, 3: 0.01}
    a = simulate(labels, method="direct", label_conductivities=cond)
    b = simulate(labels, method="mg", label_conductivities=cond)
    assert_allclose(b.current, a.current, rtol=2e-9)


@pytest.mark.parametrize("binder", [1e-2, 1e-4, 1e-6])
def test_lean_three_phase_electrode_with_a_weakly_conducting_binder_equals_direct(binder):
    # electrolyte, insulating particles and a carbon-binder phase conducting ions weakly
    # (TauFactor's MultiPhaseSolver case); intermediate contrasts are aggregation's hardest
    from ionflow.generate import binder_labels

    labels = binder_labels((36, 30, 32), electrolyte_fraction=0.5, rng=3)
    cond = {0: 1.0, 1: 0.0, 2: binder}
    a = simulate(labels, method="direct", label_conductivities=cond)
    b = simulate(labels, method="mg", label_conductivities=cond)
    assert b.method == "multigrid-cg"
    assert_allclose(b.current, a.current, rtol=2e-9)
    assert b.accuracy <= 1e-9


def test_lean_uniform_and_series_layers_are_exact():
    res = simulate(np.ones((24, 10, 12)), method="mg", rtol=1e-12)
    assert_allclose(res.relative_conductivity, 1.0, rtol=1e-12)
    # layers across the flow in series: 1 / sigma_eff = mean(1 / sigma)
    vol = np.zeros((30, 8, 9), int)
    vol[10:20] = 1
    vol[20:] = 2
    cond = {0: 1.0, 1: 0.2, 2: 0.5}
    res = simulate(vol, method="mg", label_conductivities=cond, rtol=1e-12)
    expect = 1.0 / np.mean([1.0 / cond[v] for v in vol[:, 0, 0]])
    assert_allclose(res.relative_conductivity, expect, rtol=1e-11)


def test_lean_flipped_volume_carries_the_same_current():
    vol = disks((28, 26, 30), electrolyte_fraction=0.5, rng=4)
    a = simulate(vol, method="mg")
    b = simulate(vol[::-1], method="mg")
    assert_allclose(a.current, b.current, rtol=2e-9)
    assert_allclose(a.inlet_current, a.outlet_current, rtol=1e-6)  # the default balance_tol


def test_lean_reaches_float64_accuracy_on_a_large_system():
    # ~100k unknowns: float32 alone stalls near 1e-7 relative; the float64 refinement must not
    vol = blobs((48, 48, 48), electrolyte_fraction=0.5, rng=8)
    a = simulate(vol, method="direct")
    b = simulate(vol, method="mg", rtol=1e-11, balance_tol=1e-10)
    assert_allclose(b.current, a.current, rtol=1e-10)
    assert b.accuracy <= 1e-11


def _hierarchy(vol, axis=0):
    keep = percolating_mask(vol, axis)[0]
    idx, offsets = _index_grid(np.moveaxis(keep, axis, 0))
    n = int(offsets[-1])
    return LeanMultigrid(idx, n, None, np.ones(3), 2.0, 2.0, (False, False), max_coarse=50), n


def test_lean_preconditioner_is_symmetric_and_positive(monkeypatch):
    monkeypatch.setattr(_lean, "DENSE", "never")  # the compressed finest level (dense: below)
    M, n = _hierarchy(blobs((24, 20, 22), electrolyte_fraction=0.7, rng=2))
    assert n > 1000
    assert len(M.levels) >= 3
    rng = np.random.default_rng(0)
    r1 = rng.standard_normal(n).astype(np.float32)
    r2 = rng.standard_normal(n).astype(np.float32)
    # the K-cycle is nonlinear; one V-cycle (no inner CG) on two levels is a fixed operator
    M.levels = M.levels[:2]
    M._coarsest()
    z1 = M(r1, np.empty_like(r1)).astype(np.float64)
    z2 = M(r2, np.empty_like(r2)).astype(np.float64)
    assert abs(z1 @ r2 - z2 @ r1) <= 1e-5 * np.sqrt((z1 @ r1) * (z2 @ r2))
    assert z1 @ r1 > 0 and z2 @ r2 > 0


def test_index_grid_numbers_kept_cells_in_c_order_on_any_view():
    rng = np.random.default_rng(4)
    keep = rng.random((7, 9, 5)) < 0.4
    for view in (keep, np.moveaxis(keep, 2, 0), keep[:, ::-1, :]):
        idx, offsets = _index_grid(view)
        ref = np.full(view.shape, -1, np.int32)
        ref[view] = np.arange(int(np.count_nonzero(view)), dtype=np.int32)
        assert np.array_equal(idx, ref) and idx.dtype == np.int32
        per_plane = np.count_nonzero(view.reshape(view.shape[0], -1), axis=1)
        assert np.array_equal(offsets, np.concatenate([[0], np.cumsum(per_plane)]))


def test_lean_galerkin_coarse_operator_matches_the_sparse_product():
    import scipy.sparse as sp

    from ionflow.solve._assemble import assemble

    vol = blobs((12, 10, 14), electrolyte_fraction=0.6, rng=6)
    keep = percolating_mask(vol, 0)[0]
    system = assemble(vol.astype(float), keep, 0, Stencil(periodic=(2,)))
    idx, offsets = _index_grid(keep)
    n = int(offsets[-1])
    M = LeanMultigrid(idx, n, None, np.ones(3), 2.0, 2.0, (False, True), max_coarse=10)
    C = M.levels[1]
    # piecewise-constant prolongation on 2x2x2 blocks
    ii, jj, kk = np.nonzero(keep)
    cols = C.idx[ii // 2, jj // 2, kk // 2]
    P = sp.csr_matrix((np.ones(n), (np.arange(n), cols)), shape=(n, C.n))
    Ac = (P.T @ system.A @ P).toarray()
    # coarse levels store their electrode couplings; the diagonal adds the face weights
    D = M.K.coarse_diagonal(C.idx, C.W.astype(float), C.D.astype(float), M.wd, C.p1, C.p2)
    assert_allclose(np.diag(Ac), D, rtol=1e-6)
    ci, cj, ck = np.nonzero(C.idx >= 0)
    c = C.idx[ci, cj, ck]
    for d in range(3):
        nb = [ci.copy(), cj.copy(), ck.copy()]
        nb[d] += 1
        if d == 2:
            nb[2] %= C.idx.shape[2]
        ok = nb[d] < C.idx.shape[d]
        m = np.full(c.shape, -1)
        m[ok] = C.idx[nb[0][ok], nb[1][ok], nb[2][ok]]
        has = m >= 0
        assert_allclose(-Ac[c[has], m[has]], C.W[c[has], d], rtol=1e-6, atol=1e-6)


def test_lean_answer_does_not_depend_on_the_threads(tmp_path):
    vol = disks((40, 36, 38), electrolyte_fraction=0.5, rng=9)
    np.save(tmp_path / "v.npy", vol)
    code = (
        "import sys, numpy as np; from ionflow import simulate; "
        f"print(repr(simulate(np.load(r'{tmp_path / 'v.npy'}'), method='mg').current))"
    )
    out = []
    for threads in ("1", "2"):
        env = dict(os.environ, IONFLOW_THREADS=threads, NUMBA_NUM_THREADS=threads)
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        out.append(float(proc.stdout.strip()))
    assert_allclose(out[0], out[1], rtol=2e-9)


def test_lean_memory_estimate_fits_the_standard_volume_in_3_gib(monkeypatch):
    from ionflow.solve._memory import estimate_simulate_bytes

    # the TauFactor 500^3 volume: 30 % conducts (too large for the dense finest level)
    shape = (500, 500, 500)
    assert estimate_simulate_bytes(shape, int(0.3 * 500**3), "mg", binary=True) < 3 * 2**30
    assert _lean.dense_bytes(shape, int(0.3 * 500**3)) == 0
    # a 200^3 binary image gets the dense levels: 16 bytes per (padded) cell, 52 per coarse one
    small, unknowns = (200, 200, 200), int(0.7 * 200**3)
    assert _lean.dense_bytes(small, unknowns) == 16 * 202**3 + 52 * 102**3
    with_dense = estimate_simulate_bytes(small, unknowns, "mg", binary=True)
    monkeypatch.setattr(_lean, "DENSE", "never")
    without = estimate_simulate_bytes(small, unknowns, "mg", binary=True)
    assert with_dense - without >= 16 * 202**3
    assert estimate_simulate_bytes(shape, 10, "mg") > estimate_simulate_bytes(
        shape, 10, "mg", binary=True
    )


# --- the GPU backend (PyTorch), run on the CPU here -------------------------------------------
torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": 1, "periodic": (0, 2)},
        {"axis": 2, "spacing": (1.0, 2.0, 0.5)},
        {"gap": 1.0},
    ],
)
def test_torch_backend_equals_the_cpu_solver(kwargs):
    from ionflow.solve._torch_mg import solve_torch

    vol = blobs((26, 23, 21), electrolyte_fraction=0.5, rng=5) > 0
    axis = kwargs.get("axis", 0)
    periodic = tuple(d for d in kwargs.get("periodic", ()) if d != axis)
    st = Stencil(spacing=kwargs.get("spacing"), periodic=periodic, gap=kwargs.get("gap", 0.5))
    keep = percolating_mask(vol, axis, periodic)[0]
    a = solve_lean(keep, axis, stencil=st)
    b = solve_torch(keep, axis, stencil=st, device="cpu", return_x=True)
    assert_allclose(b.current, a.current, rtol=2e-9)
    assert_allclose(b.outlet, b.inlet, rtol=1e-11)  # balanced planes, as on the CPU
    assert_allclose(b.inlet, b.current, rtol=1e-6)
    assert b.accuracy <= 1e-9
    assert b.x is not None and b.x.shape == (int(keep.sum()),)


def test_torch_backend_with_conductivities_and_in_2d():
    from ionflow.solve._torch_mg import solve_torch

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, (18, 20, 17))
    sigma = np.array([0.0, 1.0, 0.2])[labels]
    keep = percolating_mask(sigma > 0, 0)[0]
    a = solve_lean(keep, 0, sigma=sigma)
    b = solve_torch(keep, 0, sigma=sigma, device="cpu")
    assert_allclose(b.current, a.current, rtol=2e-9)
    img = blobs((60, 50), electrolyte_fraction=0.6, rng=1) > 0
    keep = percolating_mask(img, 1)[0]
    ref = simulate(img, axis=1, method="direct")
    b = solve_torch(keep, 1, device="cpu")
    assert_allclose(b.current, ref.current, rtol=2e-9)


def test_device_option_is_checked_in_one_line():
    from ionflow import InputError
    from ionflow.solve import SolveOptions
    from ionflow.solve._torch_mg import cuda_available

    with pytest.raises(InputError, match="unknown device"):
        simulate(np.ones((4, 4, 4)), device="tpu")
    with pytest.raises(InputError, match="unknown device"):
        SolveOptions(device="gpu")
    if not cuda_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            simulate(np.ones((4, 4, 4)), device="cuda")
        assert simulate(np.ones((6, 5, 4)), device="auto").method == "multigrid-cg"
    assert simulate(np.ones((6, 5, 4)), device="cpu").relative_conductivity == pytest.approx(1.0)


def test_pool_after_a_3d_solve_does_not_fork_numba_threads(tmp_path):
    # GNU OpenMP (numba's threading layer) kills a child forked after it started: the pool must
    # come from a fork server once the multigrid has run
    script = tmp_path / "s.py"
    script.write_text(
        "import numpy as np, ionflow\n"
        "from ionflow.generate import blobs\n"
        "if __name__ == '__main__':\n"
        "    vols = [blobs((20, 18, 16), electrolyte_fraction=0.6, rng=i) > 0 for i in range(3)]\n"
        "    a = ionflow.simulate(vols[0])\n"
        "    res = list(ionflow.simulate_many(vols, jobs=2))\n"
        "    assert all(r.error is None for r in res), res\n"
        "    assert abs(res[0].result.current - a.current) <= 2e-9 * a.current\n"
        "    print('OK')\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OK" in proc.stdout


def test_first_compilation_is_announced_once_per_kernel_variant(monkeypatch, caplog):
    """A cold numba cache gets one INFO line on ``ionflow.compile`` (the CLI shows it) and a
    parallel compile, once per process for binary images and once for conductivities."""
    from ionflow.solve import _lean, _lean_warm

    cached = {(n, c): True for n in ("gauss_seidel", "apply", "coarse_operator") for c in (0, 1)}
    compiled = []
    monkeypatch.setattr(_lean_warm, "is_cached", lambda n, c: cached[n, c])
    monkeypatch.setattr(_lean_warm, "compile_in_parallel", lambda cores, c: compiled.append(c))
    monkeypatch.setattr(_lean, "_COMPILED", set())
    caplog.set_level("INFO", logger="ionflow.compile")
    _lean._announce_compilation()
    _lean._announce_compilation(True)
    assert not caplog.records and not compiled
    monkeypatch.setattr(_lean, "_COMPILED", set())
    cached["apply", 1] = False  # the conductivity variant is cold
    _lean._announce_compilation()
    _lean._announce_compilation(True)
    _lean._announce_compilation(True)  # once per process
    assert compiled == [True]
    assert len(caplog.records) == 1
    assert "compiling the 3D solver's kernels for several conductivities" in caplog.text
    # the check itself, against numba's real cache: kernels a solve just used are cached
    simulate(blobs((40, 40, 40), electrolyte_fraction=0.8, rng=1))
    assert _lean_warm.is_cached("gauss_seidel", False)


def test_solve_lean_source_zero_source_and_direct_answer():
    """A zero source needs no iteration (x = 0); a multi-level solve equals the direct one."""
    import scipy.sparse.linalg as spla

    from ionflow.solve._assemble import assemble, percolating_mask
    from ionflow.solve._lean import solve_lean_source

    vol = disks((30, 28, 26), electrolyte_fraction=0.6, rng=12)
    both, inlet_only, _ = percolating_mask(vol > 0, 0)
    keep = both | inlet_only
    x, xr = solve_lean_source(keep, 0, np.zeros(vol.shape))
    assert not x.any() and xr == 0.0
    source = np.random.default_rng(1).random(vol.shape)
    x, xr = solve_lean_source(keep, 0, source)
    system = assemble(keep.astype(float), keep, 0)
    A = system.A.tocsr(copy=True)
    diag = A.diagonal()
    np.subtract.at(diag, system.outlet, system.g_outlet)  # the blocked collector
    A.setdiag(diag)
    ref = spla.spsolve(A.tocsc(), source[keep])
    assert np.abs(x - ref).max() <= 1e-7 * np.abs(ref).max()
    assert source[keep] @ x + xr == pytest.approx(source[keep] @ ref, rel=1e-12)


def test_solver_threads_reads_ionflow_threads(monkeypatch):
    from ionflow._pool import solver_threads

    monkeypatch.setenv("IONFLOW_THREADS", "1")
    assert solver_threads() == 1
    monkeypatch.setenv("IONFLOW_THREADS", "100000")  # at most the cores this process may use
    assert solver_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("IONFLOW_THREADS", "many")  # not a number: ignored
    assert solver_threads() == len(os.sched_getaffinity(0))


WARM_CHECK = """
from numba import typeof
import numpy as np
import ionflow
from ionflow.generate import disks
from ionflow.solve._lean_warm import _calls, kernel_of
vol = disks((24, 24, 24), electrolyte_fraction=0.5, rng=3)
for kw in ({"axis": 0}, {"axis": 1}, {"axis": 2}, {"boundary": "periodic"},
           {"pixel_size": (2.0, 1.0, 1.0)}):
    ionflow.simulate(vol, **kw)
ionflow.simulate(disks((64, 64), electrolyte_fraction=0.6, rng=3), method="mg")
ionflow.simulate(disks((64, 64, 64), electrolyte_fraction=0.6, rng=3))  # K-cycle levels
labels = disks((64, 64, 64), electrolyte_fraction=0.6, rng=3).astype("uint8")
labels[::3] *= 2  # a second conducting phase
for kw in ({}, {"boundary": "periodic", "axis": 2}):
    ionflow.simulate(labels, label_conductivities={0: 0.0, 1: 1.0, 2: 0.1}, **kw)
from ionflow.solve import _lean
_lean.SPLIT = "always"  # coarse levels split by cluster (binder sheets part the slabs)
sheets = np.ones((64, 32, 32), np.uint8)
sheets[4::8] = 2
for kw in ({}, {"boundary": "periodic", "axis": 0}):
    ionflow.simulate(sheets, label_conductivities={1: 1.0, 2: 1e-4}, **kw)
ionflow.simulate(vol, matrix_conductivity=0.01)
from ionflow.solve._electrode import electrode_tortuosity
electrode_tortuosity(disks((48, 48, 48), electrolyte_fraction=0.6, rng=3))
warm = {}
for conductivities in (False, True):
    for name, calls in _calls(conductivities).items():
        warm.setdefault(name, set()).update(
            tuple(typeof(a) for a in args) for args in calls)
missing = [(n, str(s)) for n, sigs in warm.items() for s in kernel_of(n).signatures
           if tuple(s) not in sigs]
print(len(warm), missing)
"""


def test_parallel_warm_up_compiles_the_signatures_the_solver_uses():
    # The first 3D solve compiles the kernels in two processes at once (_lean_warm); a
    # signature the warm-up does not know would be compiled again, one by one, by the solve.
    # A fresh interpreter: the kernels' signatures are then those of these solves only, of
    # binary images and with conductivities (large enough for coarse levels between the
    # finest and the direct one).
    out = subprocess.run(
        [sys.executable, "-c", WARM_CHECK], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    count, missing = out.stdout.strip().split(" ", 1)
    assert int(count) >= 14
    assert missing == "[]"


def test_parallel_warm_up_needs_a_second_core():
    from ionflow.solve._lean_warm import compile_in_parallel

    assert compile_in_parallel(1) is False


def _plane_currents(keep, axis, x, sigma, stencil):
    """Current into the first plane, across every interface and out of the last, from the
    potential on the kept cells (``x`` in ``keep[keep]`` order of the flow-first view)."""
    from ionflow.solve import _lean_kernels as K
    from ionflow.solve._lean import flow_geometry, to_view

    _, wd, ge = flow_geometry(keep.ndim, axis, stencil)
    idx, _ = _index_grid(to_view(keep, axis))
    sig = None if sigma is None else np.ascontiguousarray(to_view(sigma, axis)[idx >= 0])
    F, _ = K.plane_flow(idx, x, sig, wd)
    i_in, i_out = K.currents(idx, x, sig, ge, ge)
    return np.concatenate(([i_in], F, [i_out]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": 1, "stencil": Stencil(periodic=(0, 2))},
        {"axis": 2, "stencil": Stencil(spacing=(1.0, 2.0, 0.5), gap=1.0)},
        {"sigma": True},
    ],
)
def test_multigrid_answer_carries_one_current_through_every_plane(kwargs):
    # The stopping rule balances the planes (plane_correction): every interface across the
    # flow carries the same current to rounding, and it agrees with the energy current.
    kwargs = dict(kwargs)
    axis = kwargs.pop("axis", 0)
    vol = blobs((30, 26, 28), electrolyte_fraction=0.5, rng=9) > 0
    sigma = None
    if kwargs.pop("sigma", False):
        sigma = np.where(vol, np.random.default_rng(1).choice([1.0, 0.3], vol.shape), 0.0)
    periodic = kwargs.get("stencil", DEFAULT).periodic
    keep = percolating_mask(vol, axis, periodic)[0]
    sol = solve_lean(keep, axis, sigma=sigma, return_x=True, **kwargs)
    assert sol.iterations > 0  # the multigrid, not the direct solve of a tiny system
    # the potential in the solver's order: the flow-first view's C order
    from ionflow.solve._lean import to_view

    x = to_view(_full(keep, sol.x), axis)[to_view(keep, axis)]
    flows = _plane_currents(keep, axis, x, sigma, kwargs.get("stencil", DEFAULT))
    assert flows.shape[0] == keep.shape[axis] + 1
    assert_allclose(flows, sol.inlet, rtol=1e-11)
    assert_allclose(sol.outlet, sol.inlet, rtol=1e-11)
    assert_allclose(sol.inlet, sol.current, rtol=1e-6)  # the default balance_tol


def _full(keep, values):
    out = np.zeros(keep.shape)
    out[keep] = values
    return out


def test_plane_correction_balances_any_potential_and_never_raises_the_energy():
    from ionflow.solve import _lean_kernels as K
    from ionflow.solve._lean import plane_correction

    vol = blobs((24, 22, 20), electrolyte_fraction=0.55, rng=3) > 0
    keep = percolating_mask(vol, 0)[0]
    idx, offsets = _index_grid(keep)
    n = int(offsets[-1])
    # one level: its coarsest solve is the exact float64 operator's
    M = LeanMultigrid(idx, n, None, np.ones(3), 2.0, 2.0, (False, False), max_coarse=10**6)
    rng = np.random.default_rng(0)
    e_in = 2.0 * int(offsets[1])
    e_out = 2.0 * (n - int(offsets[-2]))

    def energy_current(x):  # I_var = c0 - b.x - r.x
        rx, bx, _, _ = M.residual(x, np.empty(n))
        return e_in - bx - rx

    def balanced(x):
        F, G = K.plane_flow(idx, x, None, np.ones(3))
        i_in, i_out = K.currents(idx, x, None, 2.0, 2.0)
        c = plane_correction(i_in, i_out, F, G, e_in, e_out)
        y = x.copy()
        for p in range(c.shape[0]):
            y[offsets[p] : offsets[p + 1]] += c[p]
        return y, c

    x = K.linear_start(offsets) + 0.05 * rng.standard_normal(n)
    y, c = balanced(x)
    assert np.abs(c).max() > 1e-3  # the rough potential was out of balance
    F, _ = K.plane_flow(idx, y, None, np.ones(3))
    i_in, i_out = K.currents(idx, y, None, 2.0, 2.0)
    assert_allclose(F, i_in, rtol=1e-12)
    assert_allclose(i_out, i_in, rtol=1e-12)
    # a Galerkin correction: the energy current (an upper bound of the exact one) decreases
    exact = simulate(vol, method="direct").current
    assert exact < energy_current(y) < energy_current(x)
    # the exact solution is balanced already
    z = np.empty(n)
    z[:] = K.linear_start(offsets)
    M.solve_direct(z)
    _, c = balanced(z)
    assert np.abs(c).max() < 1e-12


class _ScriptedOps:
    """Just enough of fcg's ``ops`` to replay a scripted sequence of energy decreases."""

    def __init__(self, decreases, current):
        self.decreases, self.current = list(decreases), current
        self.r = np.ones(4)
        self.i_var = current + sum(decreases)

    def exact(self):
        return self.i_var, self.current, self.current  # balanced boundary currents

    def balance(self):
        return self.exact()

    def dot(self, a, b):
        return 1.0


def _replay(decreases, current=1.0, rtol=1e-9):
    from ionflow.solve import _lean

    ops = _ScriptedOps(decreases, current)

    def steps(ops):
        for dec in ops.decreases:
            ops.i_var -= dec
            yield dec, 1.0

    original = _lean._fcg_steps
    _lean._fcg_steps = steps
    try:
        it, i_var, *_ = _lean.fcg(ops, 4, rtol=rtol, balance_tol=1e-6, maxiter=100, progress=False)
    finally:
        _lean._fcg_steps = original
    return it, (i_var - current) / current


def test_energy_estimate_remembers_the_slow_steps_before_a_fast_one():
    # A K-cycle FCG on a high-contrast image contracts erratically: slow steps (ratio 0.8),
    # then one 10x smaller. The latest ratio alone (clipped to 0.2) would stop there with a
    # remaining error of 2e-8 (20x rtol); the slowest ratio of the last steps keeps going until
    # the remaining error is below rtol.
    slow = [1e-7 * 0.8**k for k in range(80)]
    seq = [1e-2, 1e-4, 1e-6, *slow[:13], slow[13] / 10, *slow[14:]]
    it, remaining = _replay(seq)
    assert 0 < remaining <= 1e-9
    assert it > 17
    # a steady fast contraction still stops as soon as its estimate allows
    it, remaining = _replay([10.0**-k for k in range(1, 30)])
    assert it <= 11
    assert remaining <= 1e-9


def test_a_multigrid_that_stalls_hands_the_volume_to_the_direct_solver(monkeypatch, caplog):
    """Cell-level noise of three labels with a contrast of 1e-6 defeats the aggregation
    multigrid without its cluster correction (no coherent structure for its blocks; switched
    off here to have a solve that stalls): ``method="mg"`` says so in one error; the default
    ``"auto"`` solves it directly once 100 iterations leave it far from the accuracy asked,
    with a warning; a slow solve that is nearly there goes on."""
    from ionflow.errors import NotConvergedError
    from ionflow.solve import _lean
    from ionflow.solve import _simulate as sim

    monkeypatch.setattr(_lean, "WEAK_CONTRAST", 0.0)  # no cell is weak: no cluster correction

    lab = np.random.default_rng(1).integers(0, 3, (24, 24, 24))
    kw = {"label_conductivities": {0: 0.0, 1: 1.0, 2: 1e-6}, "source": "noise.tif"}
    with pytest.raises(NotConvergedError, match="did not converge: .* after 500 iterations"):
        simulate(lab, method="mg", **kw)
    exact = simulate(lab, method="direct", **kw)
    with caplog.at_level("WARNING", logger="ionflow"):
        r = simulate(lab, **kw)
    assert r.method == exact.method == "pardiso"
    assert r.current == exact.current
    assert any(
        m.startswith("noise.tif: multigrid CG converges too slowly: current accuracy")
        and "after 100 iterations" in m
        and m.endswith("solving directly")
        for m in caplog.messages
    )
    # a converging volume never falls back, and one the direct solver cannot hold keeps the error
    assert simulate(blobs((20, 20, 20), electrolyte_fraction=0.7, rng=2)).method == "multigrid-cg"
    monkeypatch.setattr(sim, "_direct_fits", lambda *a: False)
    with pytest.raises(NotConvergedError, match="after 500 iterations"):
        simulate(lab, **kw)


def test_a_slow_solve_that_is_nearly_there_is_not_given_up():
    """``give_up_after`` stops a solve only while it is far (1000 x rtol) from converged: the
    same noise volume at a milder contrast needs more than 100 iterations but gets there."""
    from ionflow.errors import NotConvergedError
    from ionflow.solve._assemble import percolating_cells

    lab = np.random.default_rng(1).integers(0, 3, (24, 24, 24))
    sigma = np.select([lab == 1, lab == 2], [1.0, 1e-2], 0.0)
    keep = percolating_cells(sigma > 0, 0, ())
    full = solve_lean(keep, 0, sigma=sigma)
    assert full.iterations > 12
    k = full.iterations - 2  # two iterations before the end: within 1000 x rtol
    assert solve_lean(keep, 0, sigma=sigma, give_up_after=k).current == full.current
    with pytest.raises(NotConvergedError, match="converges too slowly"):
        solve_lean(keep, 0, sigma=sigma, give_up_after=2)


def test_the_direct_fallback_is_for_systems_a_direct_solve_finishes_soon():
    from ionflow.solve._simulate import FALLBACK_MAX_UNKNOWNS, _direct_fits

    assert _direct_fits((40, 40, 40), 40**3, False)
    assert not _direct_fits((200, 200, 200), FALLBACK_MAX_UNKNOWNS + 1, False)


def _series_layers(shape, contrast):
    """Electrolyte slabs 7 cells thick between 1-cell binder sheets across the flow (axis 0,
    64 cells), and its exact relative conductivity: the series sum of cell resistances."""
    from fractions import Fraction

    lab = np.ones(shape, np.uint8)
    lab[4::8] = 2
    sheets = len(range(4, shape[0], 8))
    exact = Fraction(shape[0]) / (shape[0] - sheets + sheets / Fraction(contrast))
    return lab, float(exact)


@pytest.mark.parametrize("contrast", [1e-2, 1e-4, 1e-6, 1e-8, 1e-10])
def test_electrolyte_slabs_between_binder_sheets_match_the_series_formula(contrast):
    # Every slab is a cluster of electrolyte reached only through the weak binder: the cluster
    # correction's case. Before it (and before the energy current was summed from the inlet
    # current), contrast 1e-6 reported 7e-15 accuracy and was 3e-8 off; before the coarse
    # levels stored their electrode couplings instead of float32 diagonals (exact graph
    # Laplacians), 1e-8 stopped 6.5e-7 off.
    lab, exact = _series_layers((64, 24, 24), contrast)
    r = simulate(lab, label_conductivities={0: 0.0, 1: 1.0, 2: contrast}, method="mg")
    assert abs(r.relative_conductivity / exact - 1) < 1e-10
    assert r.accuracy < 1e-9
    assert r.iterations <= (20 if contrast >= 1e-8 else 30)  # 1e-10: 21


def test_cluster_correction_finds_the_clusters_of_well_conducting_cells():
    from ionflow.solve import _lean
    from ionflow.solve._lean import flow_geometry

    lab, _ = _series_layers((64, 16, 16), 1e-4)
    sigma = np.where(lab == 2, 1e-4, 1.0)

    def multigrid(sig):
        _, wd, ge = flow_geometry(3, 0, DEFAULT)
        idx, off = _index_grid(np.ones(lab.shape, bool))
        return LeanMultigrid(idx, int(off[-1]), sig, wd, ge, ge, (False, False))

    M = multigrid(sigma.ravel())
    assert M.clusters is not None
    comp, inv, _ = M.clusters
    assert comp.max() == 9 and np.all((comp.reshape(lab.shape) == 0) == (lab == 2))
    # each slab's coarse unknown: its coupling through the two binder faces (the end slabs:
    # one binder face and the electrode)
    w = 2 * 1e-4 / (1 + 1e-4) * 16 * 16
    coupling = 1 / inv[1:]
    assert np.allclose(coupling[1:-1], 2 * w, rtol=1e-6)
    assert np.allclose(coupling[[0, -1]], w + 2 * 16 * 16, rtol=1e-6)
    # nothing to correct: one conductivity, or all contrast within WEAK_CONTRAST
    assert multigrid(np.ones(lab.size)).clusters is None
    assert multigrid(np.where(lab.ravel() == 2, 2 * _lean.WEAK_CONTRAST, 1.0)).clusters is None


def test_cluster_correction_joins_clusters_across_periodic_faces():
    from ionflow.solve._lean import flow_geometry

    lab = np.full((32, 16, 16), 2, np.uint8)  # binder with electrolyte rods along axis 1
    lab[:, :, 3] = 1
    lab[:, 6:10, 3] = 2  # ... each cut in two, joined again across the periodic y faces
    lab[:, :, 11] = 1
    sigma = np.where(lab == 2, 1e-3, 1.0).ravel()
    _, wd, ge = flow_geometry(3, 0, DEFAULT)
    idx, off = _index_grid(np.ones(lab.shape, bool))
    for periodic, count in (((False, False), 3), ((True, False), 2)):
        M = LeanMultigrid(idx, int(off[-1]), sigma, wd, ge, ge, periodic)
        assert M.clusters is not None and M.clusters[0].max() == count


@pytest.mark.parametrize("periodic", [(), (1, 2)])
def test_torch_backend_has_the_cluster_correction_and_the_exact_residual(periodic):
    from ionflow.solve._torch_mg import solve_torch

    lab, exact = _series_layers((64, 20, 20), 1e-6)
    sigma = np.where(lab == 2, 1e-6, 1.0)
    keep = np.ones(lab.shape, bool)
    b = solve_torch(keep, 0, sigma=sigma, device="cpu", stencil=Stencil(periodic=periodic))
    assert abs(b.current * 64 / 400 / exact - 1) < 1e-10
    assert b.accuracy <= 1e-9 and b.iterations <= 25


def test_a_contrast_beyond_the_multigrid_is_solved_directly(caplog):
    # Below MG_MIN_CONTRAST (1e-10) the CPU multigrid is not relied on (slabs at 1e-12 never
    # balance their currents): auto solves directly (refined: exact to rounding), an explicit
    # mg warns. The torch backend's floor is 1e-7 (its float32 diagonals are stored sums).
    lab, exact = _series_layers((64, 12, 12), 1e-11)
    kw = {"label_conductivities": {1: 1.0, 2: 1e-11}, "source": "slabs.tif"}
    with caplog.at_level("WARNING", logger="ionflow"):
        r = simulate(lab, **kw)
    assert r.method == "pardiso"
    assert abs(r.relative_conductivity / exact - 1) < 1e-12
    assert any(m.startswith("slabs.tif: conductivity contrast 1.0e-11") for m in caplog.messages)
    caplog.clear()
    with caplog.at_level("WARNING", logger="ionflow"):
        r = simulate(lab, method="mg", **kw)
    assert r.method == "multigrid-cg"
    assert any("may be off by up to ~1e-6" in m for m in caplog.messages)


def _split_multigrid(lab, sigma, periodic=(False, False), mode="always", **kw):
    from ionflow.solve import _lean
    from ionflow.solve._lean import flow_geometry

    _, wd, ge = flow_geometry(3, 0, Stencil(periodic=tuple(d + 1 for d in (0, 1) if periodic[d])))
    keep = sigma > 0
    idx, off = _index_grid(keep)
    old = _lean.SPLIT
    _lean.SPLIT = mode
    try:
        return LeanMultigrid(idx, int(off[-1]), sigma[keep], wd, ge, ge, periodic, **kw), keep
    finally:
        _lean.SPLIT = old


def _binary_multigrid(keep, periodic=(False, False), mode="auto", **kw):
    from ionflow.solve import _lean
    from ionflow.solve._lean import flow_geometry

    _, wd, ge = flow_geometry(3, 0, Stencil(periodic=tuple(d + 1 for d in (0, 1) if periodic[d])))
    idx, off = _index_grid(keep)
    old = _lean.SPLIT
    _lean.SPLIT = mode
    try:
        return LeanMultigrid(idx, int(off[-1]), None, wd, ge, ge, periodic, **kw)
    finally:
        _lean.SPLIT = old


def _galerkin_matches(A, L, C):
    """Assert that split level ``C`` is P^T A P of level ``L`` (``A`` its matrix, P its
    aggregates), held as float32 weights and electrode couplings; returns (P^T A P, weights),
    dense."""
    import scipy.sparse as sp

    P = sp.csr_matrix((np.ones(L.n), (np.arange(L.n), L.agg)), shape=(L.n, C.n))
    Ac = np.asarray(sp.csr_matrix(P.T @ A @ P).todense())
    indptr, indices, data, E = C.csr
    W = sp.csr_matrix((data.astype(float), indices, indptr), shape=(C.n, C.n)).toarray()
    off = ~np.eye(C.n, dtype=bool)
    assert_allclose(-Ac[off], W[off], rtol=1e-6, atol=1e-12)
    assert_allclose(np.diag(Ac), E + W.sum(axis=1), rtol=1e-6)
    return Ac, W


@pytest.mark.parametrize("periodic", [(False, False), (True, True)])
def test_split_levels_are_the_galerkin_operators_of_their_aggregates(periodic):
    """Every split level is P^T A P of the level above (P: its aggregates), held as float32
    weights and electrode couplings; no aggregate mixes two clusters."""
    import scipy.sparse as sp

    from ionflow.solve._assemble import assemble

    lab = np.ones((24, 12, 10), np.uint8)
    lab[5::8] = 2  # binder sheets straddling the 2x2x2 blocks
    lab[6::8] = 2
    lab[:, 3:5, 2:8] = 0  # and an insulating hole
    sigma = np.select([lab == 1, lab == 2], [1.0, 1e-4], 0.0)
    M, keep = _split_multigrid(lab, sigma, periodic, max_coarse=20)
    assert len(M.levels) >= 3 and all(L.csr is not None for L in M.levels[1:])
    stencil = Stencil(periodic=tuple(d + 1 for d in (0, 1) if periodic[d]))
    A = assemble(sigma, keep, 0, stencil).A.tocsr()
    comp = M.clusters[0] if M.clusters is not None else None
    assert comp is not None and comp.max() >= 2
    for L, C in zip(M.levels[:-1], M.levels[1:]):
        Ac, W = _galerkin_matches(A, L, C)
        if L is M.levels[0]:  # first split level: big clusters never share an aggregate
            cl = np.zeros(C.n, np.int64)
            mixed = np.zeros(C.n, bool)
            for a, c in zip(L.agg, comp):
                mixed[a] |= cl[a] not in (0, c)
                cl[a] = c if cl[a] == 0 else cl[a]
            assert not mixed.any()
        A = sp.csr_matrix(Ac)
        # the planes: every unknown of plane p couples only to planes p-1 .. p+1
        plane = np.searchsorted(C.planes, np.arange(C.n), side="right") - 1
        rows, cols = np.nonzero(W)
        assert np.abs(plane[rows] - plane[cols]).max() <= 1


@pytest.mark.parametrize("shape", [(6, 6, 6), (7, 5, 3), (5, 1, 6)])
def test_block_components_are_the_face_connected_pieces_of_each_block(shape):
    from scipy import ndimage

    from ionflow.solve import _lean_split as S

    keep = np.random.default_rng(1).random(shape) < 0.55
    idx, off = _index_grid(keep)
    f = np.array([2 if s > 1 else 1 for s in shape], np.int64)
    got = S.block_components(idx, int(off[-1]), f)
    pos = np.argwhere(keep)  # C order: the unknowns' numbering
    for c in np.unique(pos // f, axis=0):
        sl = tuple(slice(a * b, a * b + b) for a, b in zip(c, f))
        lab, _ = ndimage.label(keep[sl])  # face connectivity
        members = idx[sl][keep[sl]]
        want = lab[keep[sl]]
        # one piece per label: the same partition (numbering aside)
        assert len(set(zip(want, got[members]))) == len(set(want)) == len(set(got[members]))


@pytest.mark.parametrize("periodic", [(False, False), (True, True)])
def test_connected_split_levels_hold_connected_pieces_and_are_galerkin(periodic):
    """A binary image's split levels (``connect_setup``): every aggregate, on every level, is
    one face-connected set of fine cells inside its block, and every level is P^T A P."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    from ionflow.solve._assemble import assemble

    axes = tuple(d + 1 for d in (0, 1) if periodic[d])
    noise = np.random.default_rng(2).random((20, 16, 14)) < 0.55
    keep = percolating_mask(noise, 0, axes)[0]
    M = _binary_multigrid(keep, periodic, mode="always", max_coarse=20)
    assert M.dense1 is None and len(M.levels) >= 3
    blocks = np.unique(np.argwhere(keep) // 2, axis=0).shape[0]
    assert M.levels[1].n > blocks  # blocks in several pieces
    assert all(L.csr is not None for L in M.levels[1:])
    stencil = Stencil(periodic=axes)
    A = assemble(keep.astype(float), keep, 0, stencil).A.tocsr()
    graph = sp.triu(A, 1).tocoo()  # the fine faces
    fine_of = np.arange(M.levels[0].n)  # each fine unknown's aggregate on the current level
    Al = A
    for L, C in zip(M.levels[:-1], M.levels[1:]):
        Ac, _ = _galerkin_matches(Al, L, C)
        Al = sp.csr_matrix(Ac)
        fine_of = L.agg[fine_of]
        inside = fine_of[graph.row] == fine_of[graph.col]
        g = sp.csr_matrix(
            (np.ones(int(inside.sum())), (graph.row[inside], graph.col[inside])),
            shape=A.shape,
        )
        pieces = connected_components(g, directed=False)[0]
        assert pieces == C.n  # each aggregate one connected piece, none empty


def test_a_binary_image_near_its_percolation_threshold_switches_to_connected_pieces():
    """A 64^3 crop of a Gaussian random field at 40 % electrolyte barely percolates (relative
    conductivity 0.013): on grid blocks the multigrid needs ~90 iterations; ``SPLIT="auto"``
    switches to blocks split into their connected pieces after a few slow ones."""
    from ionflow.generate import grf

    vol = grf((128,) * 3, electrolyte_fraction=0.4, rng=11)[:64, :64, :64]
    res = {}
    for mode in ("never", "auto", "always"):
        old = _lean.SPLIT
        _lean.SPLIT = mode
        try:
            res[mode] = simulate(vol)
        finally:
            _lean.SPLIT = old
    exact = simulate(vol, method="direct").relative_conductivity
    for r in res.values():
        assert abs(r.relative_conductivity / exact - 1) < 1e-9
    assert res["never"].iterations > 60
    assert res["auto"].iterations < res["never"].iterations / 3
    assert res["always"].iterations <= res["auto"].iterations
    # the same with two conductivities and no weak phase (a third of the electrolyte at 0.5)
    lab = vol.astype(np.uint8)
    lab[(np.random.default_rng(0).random(vol.shape) < 0.3) & vol] = 2
    kw = {"label_conductivities": {0: 0.0, 1: 1.0, 2: 0.5}}
    exact = simulate(lab, method="direct", **kw).relative_conductivity
    its = {}
    for mode in ("never", "auto"):
        old = _lean.SPLIT
        _lean.SPLIT = mode
        try:
            r = simulate(lab, **kw)
        finally:
            _lean.SPLIT = old
        assert abs(r.relative_conductivity / exact - 1) < 1e-9
        its[mode] = r.iterations
    assert its["auto"] < its["never"] / 3


def test_a_binary_image_stays_on_grid_levels_without_memory_for_split_ones(monkeypatch, caplog):
    from ionflow.generate import grf

    vol = grf((128,) * 3, electrolyte_fraction=0.4, rng=11)[:64, :64, :64]
    keep = percolating_mask(vol, 0)[0]
    M = _binary_multigrid(keep)
    assert M.connectable and M.levels[0].agg is None
    monkeypatch.setattr(_lean, "available_memory", lambda: 1000)
    with caplog.at_level("INFO", logger="ionflow"):
        assert not M.upgrade()
    assert "coarse levels stay on the grid" in caplog.text
    assert M.levels[0].agg is None and not M.connectable  # asked once
    assert not M.upgrade()
    M2 = _binary_multigrid(keep)
    monkeypatch.setattr(_lean, "available_memory", lambda: None)  # unknown: switch
    assert M2.upgrade() and M2.levels[0].agg is not None and M2.dense is not None


def test_split_preconditioner_is_symmetric_and_positive():
    lab = np.ones((32, 16, 16), np.uint8)
    lab[5::8] = 2
    lab[6::8] = 2
    sigma = np.where(lab == 2, 1e-4, 1.0)
    M, keep = _split_multigrid(lab, sigma, max_coarse=200)
    M.levels = M.levels[:2]  # one V-cycle on two levels: a fixed operator
    M._coarsest()
    n = M.levels[0].n
    rng = np.random.default_rng(0)
    r1, r2 = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
    M.clusters = None  # the correction is applied outside the cycle
    z1 = M(r1, np.empty_like(r1)).astype(np.float64)
    z2 = M(r2, np.empty_like(r2)).astype(np.float64)
    assert abs(z1 @ r2 - z2 @ r1) <= 1e-5 * np.sqrt((z1 @ r1) * (z2 @ r2))
    assert z1 @ r1 > 0 and z2 @ r2 > 0


@pytest.mark.parametrize("mode", ["never", "always", "auto"])
def test_split_levels_cure_sheets_that_straddle_the_blocks(mode, monkeypatch):
    """Binder sheets at cells 5-6 of every 8 put two slabs in one 2x2x2 block: the grid levels
    need ~30 iterations, split levels 9; auto switches after a few slow steps. Every way gives
    the series formula."""
    from fractions import Fraction

    from ionflow.solve import _lean

    monkeypatch.setattr(_lean, "SPLIT", mode)
    lab = np.ones((64, 24, 24), np.uint8)
    lab[5::8] = 2
    lab[6::8] = 2
    exact = float(Fraction(64) / (64 - 16 + 16 / Fraction(1e-4)))
    r = simulate(lab, label_conductivities={1: 1.0, 2: 1e-4}, method="mg")
    assert abs(r.relative_conductivity / exact - 1) < 1e-9
    assert r.iterations <= {"never": 40, "always": 12, "auto": 16}[mode]
    if mode == "never":
        assert r.iterations >= 20  # the case stays one that split levels cure


def test_auto_split_only_when_the_grid_levels_converge_slowly(monkeypatch):
    from ionflow.solve import _lean

    upgrades = []
    real = _lean.LeanMultigrid.upgrade

    def spy(self):
        done = real(self)
        upgrades.append(done)
        return done

    monkeypatch.setattr(_lean.LeanMultigrid, "upgrade", spy)
    # a well-converging label image: spheres in a matrix at 1e-3 (11 iterations)
    vol = disks((48, 48, 48), electrolyte_fraction=0.5, rng=3).astype(np.uint8)
    simulate(vol, label_conductivities={0: 1e-3, 1: 1.0}, method="mg")
    assert upgrades == []
    lab = np.ones((64, 16, 16), np.uint8)
    lab[5::8] = 2
    lab[6::8] = 2
    simulate(lab, label_conductivities={1: 1.0, 2: 1e-4}, method="mg")
    assert upgrades == [True]  # once: the levels are split from then on


def test_split_levels_keep_shrinking_on_noise_labels():
    """Cell-level noise has thousands of tiny clusters: only those larger than a block of the
    new level are split out, so every level still shrinks."""
    lab = np.random.default_rng(0).integers(0, 3, (40, 40, 40)).astype(np.uint8)
    sigma = np.select([lab == 1, lab == 2], [1.0, 1e-4], 0.0)
    M, _ = _split_multigrid(lab, sigma, max_coarse=100)
    sizes = [L.n for L in M.levels]
    assert all(b <= 0.6 * a for a, b in zip(sizes, sizes[1:]))
    assert sizes[-1] <= 2000


def test_split_kernels_compile_when_a_solve_first_splits(monkeypatch, caplog):
    """The split levels' kernels are not in the first solve's warm-up; the first split set-up
    on a cold cache says so once and compiles them on two processes."""
    from ionflow.solve import _lean, _lean_warm

    compiled = []
    monkeypatch.setattr(_lean_warm, "is_cached", lambda n, c: False)
    monkeypatch.setattr(
        _lean_warm, "compile_in_parallel", lambda *a: compiled.append(a[1:]) or True
    )
    monkeypatch.setattr(_lean, "_COMPILED", {False, True})  # the other variants are warm
    caplog.set_level("INFO", logger="ionflow.compile")
    lab = np.ones((32, 16, 16), np.uint8)
    lab[5::8] = 2
    sigma = np.where(lab == 2, 1e-4, 1.0)
    for _ in range(2):
        _split_multigrid(lab, sigma, max_coarse=100)
    assert compiled == [(True, _lean_warm.SPLIT_HERE, _lean_warm.SPLIT_HELPER)]
    assert caplog.text.count("kernels of split coarse levels") == 1
    # a binary image's split levels (connected pieces) have kernels of their own
    for _ in range(2):
        _binary_multigrid(lab == 1, mode="always", max_coarse=100)
    assert compiled[1:] == [(False, _lean_warm.SPLIT_HERE, _lean_warm.SPLIT_HELPER)]
    assert caplog.text.count("kernels of split coarse levels") == 2


# --- the dense finest level (binary images, ``_lean_dense.py``) --------------------------------


def _dense_hierarchy(vol, wd=(1.0, 1.0, 1.0), periodic=(False, False)):
    keep = percolating_mask(vol, 0, periodic=tuple(1 + d for d in range(2) if periodic[d]))[0]
    idx, offsets = _index_grid(keep)
    n = int(offsets[-1])
    wd = np.asarray(wd, float)
    M = LeanMultigrid(idx, n, None, wd, 2 * wd[0], 2 * wd[0], periodic, max_coarse=50)
    return M, n


@pytest.mark.parametrize(
    "shape, periodic",
    [((23, 19, 25), (False, False)), ((21, 20, 18), (True, True)), ((21, 20, 17), (True, False))],
)
def test_dense_kernels_equal_the_compressed_ones(shape, periodic, monkeypatch):
    from ionflow.solve import _lean_dense as X
    from ionflow.solve import _lean_kernels as K

    monkeypatch.setattr(_lean, "DENSE", "always")
    wd = (1.0, 0.25, 4.0)  # anisotropic cells: one weight per axis
    M, n = _dense_hierarchy(blobs(shape, electrolyte_fraction=0.6, rng=5), wd, periodic)
    D, L, C = M.dense, M.levels[0], M.levels[1]
    assert D is not None and n > 1000
    args = (M.sig, M.wd, M.g_in, M.g_out, L.p1, L.p2)
    rng = np.random.default_rng(1)
    z = rng.standard_normal(n).astype(np.float32)
    r = rng.standard_normal(n).astype(np.float32)
    # the operator
    want = np.empty(n, np.float32)
    vAv = K.apply(L.idx, z, None, None, *args, want)
    X.copy(L.idx, z, D.Z, True)
    D.wrap()  # periodic axes: their padding holds the opposite faces
    got = np.empty(n, np.float32)
    assert_allclose(X.apply(L.idx, D.Z, D.diag, D.w, got), vAv, rtol=1e-5)
    assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # nothing but the unknowns (and periodic padding) holds a value: the stencil needs no tests
    inner = (slice(1, -1),) * 3
    assert not D.Z[inner][D.diag[inner] == 0].any() and not D.invd[D.diag == 0].any()
    # the restricted residual
    X.copy(L.idx, r, D.R, True)
    want_c = np.empty(C.n, np.float32)
    K.restrict_residual(L.idx, z, None, None, *args, r, C.idx, L.f, want_c)
    got_c = np.empty(C.n, np.float32)
    X.restrict(D.Z, D.R, D.diag, D.w, C.idx, L.f, got_c)
    assert_allclose(got_c, want_c, rtol=1e-4, atol=1e-4)
    # the prolongation
    e = rng.standard_normal(C.n).astype(np.float32)
    want_z = z.copy()
    K.prolong_add(L.idx, C.idx, L.f, e, want_z)
    X.prolong(C.idx, L.f, e, D.diag, D.Z)
    got_z = np.empty(n, np.float32)
    X.copy(L.idx, got_z, D.Z, False)
    assert_allclose(got_z, want_z, rtol=1e-6)
    assert not D.Z[inner][D.diag[inner] == 0].any()


@pytest.mark.parametrize("periodic", [(False, False), (True, True)])
def test_dense_kernels_into_split_levels_equal_the_compressed_ones(periodic, monkeypatch):
    """Above split coarse levels (a binary image's connected pieces) the dense finest level
    restricts into, and prolongs from, the aggregates as the compressed level does."""
    from ionflow.solve import _lean_dense as X
    from ionflow.solve import _lean_split as S

    monkeypatch.setattr(_lean, "DENSE", "always")
    monkeypatch.setattr(_lean, "SPLIT", "always")
    wd = (1.0, 0.25, 4.0)
    M, n = _dense_hierarchy(blobs((22, 20, 24), electrolyte_fraction=0.5, rng=5), wd, periodic)
    D, L, C = M.dense, M.levels[0], M.levels[1]
    assert D is not None and L.agg is not None and C.csr is not None and M.dense1 is None
    args = (M.sig, M.wd, M.g_in, M.g_out, L.p1, L.p2)
    rng = np.random.default_rng(1)
    z = rng.standard_normal(n).astype(np.float32)
    r = rng.standard_normal(n).astype(np.float32)
    X.copy(L.idx, z, D.Z, True)
    X.copy(L.idx, r, D.R, True)
    D.wrap()
    want = np.empty(C.n, np.float32)
    S.fine_restrict(L.idx, z, *args, r, L.f0, L.agg, C.planes, want)
    got = np.full(C.n, np.nan, np.float32)
    X.restrict_agg(D.Z, D.R, D.diag, D.w, L.idx, L.agg, L.f0, C.planes, got)
    assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    e = rng.standard_normal(C.n).astype(np.float32)
    want_z = z.copy()
    S.prolong_agg(L.agg, e, want_z)
    X.prolong_agg(L.idx, L.agg, e, D.Z)
    got_z = np.empty(n, np.float32)
    X.copy(L.idx, got_z, D.Z, False)
    assert_allclose(got_z, want_z, rtol=1e-6)


def test_dense_red_black_sweep_solves_each_colour_exactly(monkeypatch):
    from ionflow.solve import _lean_dense as X

    monkeypatch.setattr(_lean, "DENSE", "always")
    M, n = _dense_hierarchy(blobs((20, 22, 21), electrolyte_fraction=0.7, rng=2), (2.0, 1.0, 1.0))
    D, L = M.dense, M.levels[0]
    rng = np.random.default_rng(3)
    X.copy(L.idx, rng.standard_normal(n).astype(np.float32), D.R, True)
    i, j, k = np.indices(D.Z.shape)
    unknown = D.diag > 0
    Az = np.empty(n, np.float32)
    R = np.empty(n, np.float32)
    X.copy(L.idx, R, D.R, False)
    one = np.float32(1.0)
    for colour, start in ((0, True), (1, False), (0, False)):
        before = D.Z.copy()
        X.sweep(D.Z, D.R, D.invd, D.w, colour, start, one)
        X.apply(L.idx, D.Z, D.diag, D.w, Az)
        res = np.zeros(D.Z.shape, np.float32)
        X.copy(L.idx, R - Az, res, True)
        this = unknown & ((i + j + k + 1) % 2 == colour)  # the colour just updated
        assert np.abs(res[this]).max() <= 1e-5 * np.abs(R).max()
        assert np.abs(res[unknown & ~this]).max() > 1e-3  # the other colour was not
        if start:  # from zero: the other colour is cleared
            assert not D.Z[unknown & ~this].any()
        # over-relaxed: the same step, omega times as long
        gs = D.Z.copy()
        D.Z[:] = before
        X.sweep(D.Z, D.R, D.invd, D.w, colour, start, np.float32(1.3))
        step = gs - (0 if start else before)
        want = (0 if start else before) + np.float32(1.3) * step
        assert_allclose(D.Z[this], want[this], rtol=1e-5, atol=1e-6)
        assert_array_equal(D.Z[unknown & ~this], gs[unknown & ~this])
        D.Z[:] = gs


@pytest.mark.parametrize(
    "periodic, coarse, split",
    [
        ((False, False), False, "never"),
        ((True, True), False, "never"),
        ((False, False), True, "never"),
        ((True, True), False, "always"),  # above split levels (connected pieces)
    ],
)
def test_dense_preconditioner_is_symmetric_and_positive(periodic, coarse, split, monkeypatch):
    monkeypatch.setattr(_lean, "DENSE", "always")
    monkeypatch.setattr(_lean, "DENSE_COARSE", coarse)
    monkeypatch.setattr(_lean, "SPLIT", split)
    vol = blobs((24, 20, 22), electrolyte_fraction=0.7, rng=2)
    M, n = _dense_hierarchy(vol, periodic=periodic)
    assert M.dense is not None and len(M.levels) >= 3
    assert (M.dense1 is not None) == coarse
    assert (M.levels[0].agg is not None) == (split == "always")
    rng = np.random.default_rng(0)
    r1 = rng.standard_normal(n).astype(np.float32)
    r2 = rng.standard_normal(n).astype(np.float32)
    # a fixed operator: one V-cycle on two levels, or on three with a dense first coarse level
    # (and no K-cycle: it is nonlinear)
    M.levels = M.levels[: 3 if coarse else 2]
    M._coarsest()
    monkeypatch.setattr(M, "_kcycle", M._cycle)
    z1 = M(r1, np.empty_like(r1)).astype(np.float64)
    z2 = M(r2, np.empty_like(r2)).astype(np.float64)
    assert abs(z1 @ r2 - z2 @ r1) <= 1e-5 * np.sqrt((z1 @ r1) * (z2 @ r2))
    assert z1 @ r1 > 0 and z2 @ r2 > 0


@pytest.mark.parametrize(
    "kwargs, dense",
    [
        ({}, True),
        ({"axis": 2}, True),
        ({"pixel_size": (2.0, 1.0, 0.5), "axis": 1}, True),
        ({"electrode": "ghost"}, True),
        ({"boundary": "periodic"}, True),  # lateral sides 38 and 42: red-black across both
        ({"boundary": "periodic", "axis": 1, "pixel_size": (1.0, 2.0, 1.0)}, False),  # 45: odd
    ],
)
def test_dense_and_compressed_finest_levels_give_the_direct_answer(kwargs, dense, monkeypatch):
    vol = disks((45, 38, 42), electrolyte_fraction=0.55, rng=7)  # odd sides: partial blocks
    a = simulate(vol, method="direct", **kwargs)
    used = []
    cycle = LeanMultigrid._dense_cycle
    monkeypatch.setattr(
        LeanMultigrid, "_dense_cycle", lambda self, r, z: used.append(1) or cycle(self, r, z)
    )
    for mode, split in (("always", "never"), ("never", "never"), ("always", "always")):
        monkeypatch.setattr(_lean, "DENSE", mode)
        monkeypatch.setattr(_lean, "SPLIT", split)  # above split (connected-piece) levels
        used.clear()
        b = simulate(vol, method="mg", **kwargs)
        assert bool(used) == (mode == "always" and dense)
        assert_allclose(b.current, a.current, rtol=2e-9)
        assert b.accuracy <= 1e-9


def test_dense_level_is_exact_on_uniform_volumes_and_straight_channels(monkeypatch):
    monkeypatch.setattr(_lean, "DENSE", "always")
    res = simulate(np.ones((40, 36, 30)), method="mg", rtol=1e-12)
    assert_allclose(res.relative_conductivity, 1.0, rtol=1e-12)
    vol = np.zeros((40, 36, 30), bool)
    vol[:, ::3, ::2] = True  # straight channels along the flow: a third of a half conducts
    res = simulate(vol, method="mg", rtol=1e-12)
    assert_allclose(res.relative_conductivity, vol.mean(), rtol=1e-12)


def test_dense_level_only_where_it_applies(monkeypatch):
    shape = (40, 40, 40)
    assert _lean._dense_pays(shape, 40**3 // 2)
    assert not _lean._dense_pays(shape, 40**3 // 10)  # few unknowns: the compressed level
    assert not _lean._dense_pays((500, 500, 500), 500**3 // 2)  # the memory-lean path
    assert not _lean._dense_pays((64, 64, 1), 4000)  # a 2D image
    monkeypatch.setattr(_lean, "DENSE", "always")
    assert _lean._dense_pays(shape, 40**3 // 10)
    monkeypatch.setattr(_lean, "DENSE", "never")
    assert not _lean._dense_pays(shape, 40**3 // 2)
    monkeypatch.setattr(_lean, "DENSE", "always")
    vol = blobs((30, 28, 13), electrolyte_fraction=0.6, rng=1)
    keep = percolating_mask(vol, 0)[0]
    idx, offsets = _index_grid(keep)
    n = int(offsets[-1])
    wd = np.ones(3)
    periodic = LeanMultigrid(idx, n, None, wd, 2.0, 2.0, (True, False), max_coarse=50)
    assert periodic.dense is not None  # axis 1 has 28 cells: red-black across it
    odd = LeanMultigrid(idx, n, None, wd, 2.0, 2.0, (False, True), max_coarse=50)
    assert odd.dense is None  # 13 cells along periodic axis 2: the compressed level
    sig = np.where(np.arange(n) % 2, 1.0, 0.5)
    labels = LeanMultigrid(idx, n, sig, wd, 2.0, 2.0, (False, False), max_coarse=50)
    assert labels.dense is None  # several conductivities: the compressed level


def test_dense_coarse_level_kernels_equal_the_compressed_ones(monkeypatch):
    from ionflow.solve import _lean_dense as X
    from ionflow.solve import _lean_kernels as K

    monkeypatch.setattr(_lean, "DENSE", "always")
    M, n = _dense_hierarchy(blobs((41, 38, 45), electrolyte_fraction=0.6, rng=9), (1.0, 0.5, 2.0))
    E, C, C2 = M.dense1, M.levels[1], M.levels[2]
    assert E is not None and C.n > 1000
    args = (C.W, C.D, None, M.wd, 0.0, 0.0, False, False)
    rng = np.random.default_rng(2)
    z = rng.standard_normal(C.n).astype(np.float32)
    r = rng.standard_normal(C.n).astype(np.float32)
    Z, R = np.zeros(E.shape, np.float32), np.zeros(E.shape, np.float32)
    Z[1:-1, 1:-1, 1:-1][C.idx >= 0] = z[C.idx[C.idx >= 0]]
    R[1:-1, 1:-1, 1:-1][C.idx >= 0] = r[C.idx[C.idx >= 0]]
    # the operator (zero off the unknowns)
    want = np.empty(C.n, np.float32)
    vAv = K.apply(C.idx, z, *args, want)
    out = np.zeros(E.shape, np.float32)
    assert_allclose(X.wapply(Z, E.diag, E.Wg, out), vAv, rtol=1e-5)
    inner = out[1:-1, 1:-1, 1:-1]
    assert_allclose(inner[C.idx >= 0], want[C.idx[C.idx >= 0]], rtol=1e-5, atol=1e-5)
    assert not inner[C.idx < 0].any()
    # the restricted residual
    want_c = np.empty(C2.n, np.float32)
    K.restrict_residual(C.idx, z, *args, r, C2.idx, C.f, want_c)
    got_c = np.empty(C2.n, np.float32)
    X.restrict(Z, R, E.diag, E.Wg, C2.idx, C.f, got_c)
    assert_allclose(got_c, want_c, rtol=1e-4, atol=1e-4)
    # a half-sweep solves its colour's equations
    i, j, k = np.indices(E.shape)
    red = (E.diag > 0) & ((i + j + k + 1) % 2 == 0)
    X.sweep(Z, R, E.invd, E.Wg, 0, False, np.float32(1.0))
    X.wapply(Z, E.diag, E.Wg, out)
    assert np.abs((R - out)[red]).max() <= 1e-5 * np.abs(R).max()


def test_a_crawling_device_solve_finishes_on_the_cpu_with_split_levels(monkeypatch, caplog):
    """The torch backend has grid coarse levels only; near the percolation threshold it
    crawls (88 iterations on this crop). When it is still far from converged after
    FALLBACK_AFTER iterations, the CPU multigrid solves the volume with split levels from the
    start; a volume the device solves well stays there. (torch on the CPU stands in for a
    GPU: the iterations are the same.)"""
    pytest.importorskip("torch")
    import logging

    from ionflow.generate import grf
    from ionflow.solve import _simulate

    monkeypatch.setattr(_simulate, "resolve_device", lambda device, ndim: "cpu:0")
    vol = grf((128,) * 3, electrolyte_fraction=0.4, rng=11)[:64, :64, :64]
    exact = simulate(vol, method="direct").relative_conductivity
    monkeypatch.setattr(_simulate, "FALLBACK_AFTER", 20)
    with caplog.at_level(logging.WARNING, logger="ionflow"):
        res = simulate(vol, device="cuda")
    assert res.method == "multigrid-cg"
    assert "solving on the CPU" in caplog.text
    assert res.iterations <= 15  # split from the start (the grid levels need over 60)
    assert abs(res.relative_conductivity / exact - 1) < 1e-9
    easy = blobs((40, 36, 34), electrolyte_fraction=0.6, rng=3)
    res = simulate(easy, device="cuda")
    assert res.method == "multigrid-cg-torch"
    ref = simulate(easy, method="direct").relative_conductivity
    assert abs(res.relative_conductivity / ref - 1) < 1e-9
