"""Every fast solver path gives the plain path's answer: 3D multigrid, 2D full-grid PARDISO,
batches; and a volume too large for the machine fails with a clear ResourceError."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

import ionflow
from ionflow import ResourceError, simulate, simulate_many
from ionflow.generate import blobs, disks
from ionflow.solve import _memory, _simulate
from ionflow.solve._linear import has_pardiso


def _maze_3d() -> np.ndarray:
    vol = np.zeros((18, 16, 17), bool)
    vol[:, 3, 4] = True  # a straight channel
    vol[:, 8:10, 8] = True  # a wider one
    vol[:6, 12, 12] = True  # a dead end from the inlet
    vol[10:, 14, 2] = True  # a dead end from the outlet
    vol[7:9, 5:7, 12:14] = True  # a floating island
    vol[4, 3, 4:12] = True  # a side branch (dead end off the channel)
    return vol


def _cases_3d():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, (16, 18, 17))
    return {
        "blobs-axis0": (blobs((20, 17, 23), electrolyte_fraction=0.6, rng=1), {}),
        "blobs-axis1": (blobs((20, 17, 23), electrolyte_fraction=0.6, rng=1), {"axis": 1}),
        "blobs-axis2": (blobs((20, 17, 23), electrolyte_fraction=0.6, rng=1), {"axis": 2}),
        "disks-32": (disks((32, 32, 32), electrolyte_fraction=0.55, rng=2), {}),
        "flat-axis0": (blobs((1, 21, 19), electrolyte_fraction=0.6, rng=3), {}),
        "flat-axis1": (blobs((19, 1, 21), electrolyte_fraction=0.6, rng=3), {"axis": 0}),
        "flat-axis2": (blobs((19, 21, 1), electrolyte_fraction=0.75, rng=3), {"axis": 1}),
        "column": (np.ones((25, 1, 1)), {}),
        "maze": (_maze_3d(), {}),
        "labels": (labels, {"label_conductivities": {0: 0.05, 1: 1.0, 2: 0.3}}),
        "matrix": (
            disks((18, 20, 16), electrolyte_fraction=0.4, rng=5),
            {"matrix_conductivity": 0.02},
        ),
    }


CASES_3D = _cases_3d()


@pytest.mark.parametrize("name", sorted(CASES_3D))
def test_multigrid_equals_direct_3d(name):
    img, kw = CASES_3D[name]
    ref = simulate(img, method="direct", **kw)
    assert ref.percolating
    mg = simulate(img, method="mg", rtol=1e-11, balance_tol=1e-8, **kw)
    assert mg.method == "multigrid-cg"
    assert_allclose(mg.current, ref.current, rtol=1e-8)
    assert_allclose(mg.outlet_current, mg.inlet_current, rtol=1e-8)
    assert mg.flux_imbalance <= 1e-8
    assert mg.accuracy < 1e-8
    assert mg.percolating_fraction == ref.percolating_fraction


def test_multigrid_is_the_3d_default_and_meets_the_balance_rule():
    vol = blobs((24, 20, 22), electrolyte_fraction=0.55, rng=9)
    res = simulate(vol)  # default rtol 1e-9, balance_tol 1e-6
    assert res.method == "multigrid-cg" and res.iterations > 0
    assert res.flux_imbalance <= 1e-6
    ref = simulate(vol, method="direct")
    assert_allclose(res.current, ref.current, rtol=2e-9)  # the energy current: second order
    strict = simulate(vol, balance_tol=1e-9)
    assert strict.flux_imbalance <= 1e-9
    assert strict.iterations >= res.iterations
    assert_allclose(strict.current, ref.current, rtol=2e-9)
    loose = simulate(vol, rtol=1e-3, balance_tol=1e-3)
    assert loose.iterations <= res.iterations
    assert loose.flux_imbalance <= 1e-3


def test_multigrid_fields_equal_direct_fields():
    vol = _maze_3d()
    ref = simulate(vol, method="direct", fields=True, axis=0)
    mg = simulate(vol, method="mg", fields=True, axis=0, rtol=1e-12)
    assert_allclose(mg.potential, ref.potential, rtol=0, atol=1e-9, equal_nan=True)
    assert_allclose(mg.current_density, ref.current_density, rtol=0, atol=1e-8)


def test_multigrid_blocked_volume_is_zero():
    vol = np.ones((12, 10, 11), bool)
    vol[6] = False
    res = simulate(vol, method="mg")
    assert res.current == 0.0 and not res.percolating


@pytest.mark.parametrize("shape", [(17, 23), (1, 30), (30, 1)])
def test_multigrid_in_2d_equals_direct(shape):
    img = blobs(shape, electrolyte_fraction=0.7, rng=4) if min(shape) > 1 else np.ones(shape)
    ref = simulate(img, method="direct")
    assert_allclose(simulate(img, method="mg", rtol=1e-11).current, ref.current, rtol=1e-8)


def _plain(img, **kw):
    """The general direct path (per-image pattern), bypassing the full-grid PARDISO solver."""
    saved = _simulate.grid_pardiso_solve
    _simulate.grid_pardiso_solve = lambda *a: None
    try:
        return simulate(img, method="direct", **kw)
    finally:
        _simulate.grid_pardiso_solve = saved


def _cases_2d():
    maze = np.zeros((20, 22), bool)
    maze[:, 3] = True
    maze[:7, 10] = True  # dead end from the inlet
    maze[8:11, 14:17] = True  # floating island
    maze[5, 3:9] = True  # side branch
    rng = np.random.default_rng(3)
    return {
        "disks": (disks((64, 64), electrolyte_fraction=0.7, rng=0), {}),
        "odd-axis1": (blobs((17, 29), electrolyte_fraction=0.65, rng=1), {"axis": 1}),
        "row": (np.ones((1, 16)), {}),
        "row-axis1": (np.ones((1, 16)), {"axis": 1}),
        "column": (np.ones((16, 1)), {}),
        "maze": (maze, {"fields": True}),
        "labels": (rng.integers(0, 3, (18, 21)), {"label_conductivities": {0: 0.1, 1: 1, 2: 0.4}}),
        "matrix": (disks((24, 24), electrolyte_fraction=0.4, rng=2), {"matrix_conductivity": 0.05}),
        # from THREADED_CELLS: MKL on this process's threads, the improved two-level factor
        "large-threaded": (disks((170, 165), electrolyte_fraction=0.7, rng=4), {"axis": 1}),
    }


CASES_2D = _cases_2d()


@pytest.mark.skipif(not has_pardiso(), reason="needs pypardiso (MKL)")
@pytest.mark.parametrize("name", sorted(CASES_2D))
def test_grid_pardiso_equals_general_direct(name):
    img, kw = CASES_2D[name]
    ref = _plain(img, **kw)
    fast = simulate(img, **kw)
    assert fast.method == "pardiso"
    assert_allclose(fast.current, ref.current, rtol=1e-10)
    assert_allclose(fast.outlet_current, ref.outlet_current, rtol=1e-10)
    if kw.get("fields"):
        assert_allclose(fast.potential, ref.potential, rtol=0, atol=1e-12, equal_nan=True)


@pytest.mark.skipif(not has_pardiso(), reason="needs pypardiso (MKL)")
@pytest.mark.parametrize("contrast, tol", [(1e-2, 1e-11), (1e-4, 1e-10), (1e-6, 2e-9)])
def test_grid_pardiso_refines_a_high_contrast_solve_to_the_series_formula(contrast, tol):
    # Electrolyte strips between 1-pixel binder lines across the flow: the exact relative
    # conductivity is the series sum of cell resistances. The factorisation alone was 1e-8
    # off at contrast 1e-6 (iterative refinement with the residual from potential
    # differences follows from a contrast of 1e-3); its reported accuracy stays honest.
    from fractions import Fraction

    lab = np.ones((64, 40), np.uint8)
    lab[4::8] = 2
    exact = float(Fraction(64) / (56 + 8 / Fraction(contrast)))
    r = simulate(lab, label_conductivities={1: 1.0, 2: contrast})
    assert r.method == "pardiso"
    assert abs(r.relative_conductivity / exact - 1) < tol
    assert r.accuracy < max(tol, 1e-9)


@pytest.mark.skipif(not has_pardiso(), reason="needs pypardiso (MKL)")
@pytest.mark.parametrize("contrast", [1e-4, 1e-6, 1e-8])
def test_3d_direct_solve_is_refined_to_the_series_formula(contrast):
    # the general direct solver (assembled system): refined with the residual from potential
    # differences (``A @ x`` stalled 2e-9 off at 1e-6), the current from the outlet side
    from fractions import Fraction

    lab = np.ones((64, 10, 12), np.uint8)
    lab[4::8] = 2
    exact = float(Fraction(64) / (56 + 8 / Fraction(contrast)))
    r = simulate(lab, label_conductivities={1: 1.0, 2: contrast}, method="direct")
    assert abs(r.relative_conductivity / exact - 1) < 1e-12


def test_difference_residual_equals_b_minus_a_x():
    from ionflow.solve._assemble import assemble

    img = blobs((20, 18, 16), electrolyte_fraction=0.6, rng=3)
    sigma = np.where(img > 0, 1.0, 0.0) + 0.3 * (np.arange(img.size).reshape(img.shape) % 3 == 0)
    keep = sigma > 0
    system = assemble(sigma, keep, 1)
    x = np.random.default_rng(0).random(system.A.shape[0])
    assert_allclose(system.residual(x), system.b - system.A @ x, rtol=0, atol=1e-13)


@pytest.mark.skipif(not has_pardiso(), reason="needs pypardiso (MKL)")
@pytest.mark.parametrize("first, then", [(4, 1), (2, 1)])
def test_grid_pardiso_analysis_follows_the_thread_count(monkeypatch, first, then):
    # A PARDISO analysis made for 4 MKL threads and then factorised on 1 gave a relative
    # conductivity ~100x too large (and 1 -> 2 corrupted the heap): each thread count gets
    # its own analysis. 170^2 cells: over THREADED_CELLS, where the count follows the setting.
    from ionflow.solve import _pardiso_grid

    img = disks((170, 170), electrolyte_fraction=0.75, rng=4)
    ref = _plain(img)
    results = []
    for threads in (first, then):
        monkeypatch.setattr(_pardiso_grid, "solver_threads", lambda t=threads: t)
        results.append(simulate(img))
    for r in results:
        assert r.method == "pardiso"
        assert_allclose(r.current, ref.current, rtol=1e-10)
    assert {(170, 170, first), (170, 170, then)} <= {k[:3] for k in _pardiso_grid._CACHE}


@pytest.mark.skipif(not has_pardiso(), reason="needs pypardiso (MKL)")
def test_general_direct_solve_keeps_no_factorisation():
    # pypardiso kept the last factorisation (~600 MB after an 80^3 direct solve) for a
    # repeat of the same matrix; it is released at once, so no process keeps or inherits one
    from pypardiso.scipy_aliases import pypardiso_solver

    vol = disks((12, 12, 12), electrolyte_fraction=0.7, rng=6)
    r = simulate(vol, method="direct")
    assert r.method == "pardiso"
    assert pypardiso_solver.factorized_A.shape == (0, 0)
    assert_allclose(simulate(vol, method="direct").current, r.current, rtol=1e-12)


LOCKED_FORK = """
import multiprocessing
import ionflow
from ionflow.generate import disks
from ionflow.solve import _linear, _pardiso_grid

def child(queue):
    img = disks((64, 64), electrolyte_fraction=0.8, rng=5)
    big = disks((600, 600), electrolyte_fraction=0.8, rng=5)  # the general direct solver
    queue.put((ionflow.simulate(img).current, ionflow.simulate(big).current))

if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with _pardiso_grid._LOCK, _linear._PARDISO_LOCK:  # as if another thread were solving
        proc = ctx.Process(target=child, args=(queue,))
        proc.start()
    try:
        print(*queue.get(timeout=120))
    finally:
        proc.kill()
"""


@pytest.mark.skipif(not has_pardiso(), reason="needs pypardiso (MKL)")
def test_forked_child_solves_while_the_parent_holds_the_pardiso_locks(tmp_path):
    # a pool forked while another thread of the parent is inside a PARDISO call: the child's
    # copies of the locks would stay held for ever (each worker would hang). A fresh
    # interpreter: ionflow forks only processes without numba or torch loaded (else it uses a
    # fork server), and this one has neither.
    script = tmp_path / "locked_fork.py"
    script.write_text(LOCKED_FORK)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    small, large = (float(v) for v in out.stdout.split())
    assert_allclose(small, simulate(disks((64, 64), electrolyte_fraction=0.8, rng=5)).current)
    ref = simulate(disks((600, 600), electrolyte_fraction=0.8, rng=5)).current
    assert_allclose(large, ref, rtol=1e-10)


AFTER_OPENMP = """
import sys
import ionflow
from ionflow.generate import disks
if sys.argv[1] == "numba":
    ionflow.simulate(disks((20, 20, 20), electrolyte_fraction=0.6, rng=2))  # numba's OpenMP
else:
    import torch
    torch.ones(4).sum()
for n in (170, 400):
    print(ionflow.simulate(disks((n, n), electrolyte_fraction=0.75, rng=4)).current)
"""


@pytest.mark.skipif(not has_pardiso(), reason="needs pypardiso (MKL)")
@pytest.mark.parametrize("first", ["numba", "torch"])
def test_large_2d_solve_after_another_openmp_runtime(first):
    # After numba's parallel kernels (a 3D solve) or torch started GNU OpenMP, MKL's improved
    # two-level factorisation segfaulted on 2D grids from ~170^2 (a notebook, or a batch
    # worker that had solved a volume, died). A fresh interpreter: a crash must not take
    # pytest with it.
    pytest.importorskip(first)
    out = subprocess.run(
        [sys.executable, "-c", AFTER_OPENMP, first], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = [float(v) for v in out.stdout.split()]
    for n, current in zip((170, 400), got):
        ref = simulate(disks((n, n), electrolyte_fraction=0.75, rng=4))
        assert_allclose(current, ref.current, rtol=1e-10)


def _solve_in_child(img, queue):
    from ionflow.solve import _pardiso_grid

    inherited = set(map(id, _pardiso_grid._CACHE.values()))  # the parent's handles, if kept
    r = simulate(img)
    own = not inherited & set(map(id, _pardiso_grid._CACHE.values()))
    queue.put((r.current, own, len(_pardiso_grid._CACHE)))


@pytest.mark.skipif(not has_pardiso(), reason="needs pypardiso (MKL)")
def test_forked_child_does_not_reuse_the_parents_pardiso_analysis():
    # a pool worker is a fork: the parent's handles (made for the parent's threads) stay out
    import multiprocessing

    img = disks((64, 64), electrolyte_fraction=0.8, rng=5)
    parent = simulate(img)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_solve_in_child, args=(img, queue))
    child.start()
    current, owner, cached = queue.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    assert owner and cached == 1  # its own analysis, the parent's dropped
    assert_allclose(current, parent.current, rtol=1e-12)


def test_pypardiso_is_pointed_at_the_environment_mkl(tmp_path, monkeypatch):
    from ionflow.solve._linear import point_pypardiso_at_mkl

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libmkl_rt.so.2").touch()
    (tmp_path / "lib" / "libmkl_rt.so").touch()
    monkeypatch.setattr("sys.prefix", str(tmp_path))
    monkeypatch.delenv("PYPARDISO_MKL_RT", raising=False)
    point_pypardiso_at_mkl()  # the shortest name, as pypardiso's own search prefers
    assert os.environ["PYPARDISO_MKL_RT"] == str(tmp_path / "lib" / "libmkl_rt.so")
    monkeypatch.setenv("PYPARDISO_MKL_RT", "/elsewhere/libmkl_rt.so")
    point_pypardiso_at_mkl()  # a user's choice is kept
    assert os.environ["PYPARDISO_MKL_RT"] == "/elsewhere/libmkl_rt.so"
    monkeypatch.delenv("PYPARDISO_MKL_RT")
    monkeypatch.setattr("sys.prefix", str(tmp_path / "none"))
    point_pypardiso_at_mkl()  # nothing found: pypardiso searches itself
    assert "PYPARDISO_MKL_RT" not in os.environ


def test_batch_of_one_shape_equals_one_by_one():
    imgs = [disks((32, 32), electrolyte_fraction=0.6 + 0.05 * (i % 5), rng=i) for i in range(12)]
    imgs[3] = np.ones((32, 32), bool)
    imgs[3][16] = False  # blocked
    one = [_plain(im).current for im in imgs]
    for jobs in (1, 2):
        out = list(simulate_many(imgs, jobs=jobs, chunksize=4))
        assert_allclose([o.result.current for o in out], one, rtol=1e-10, atol=0)


def test_too_large_volume_raises_resource_error(monkeypatch):
    monkeypatch.setattr(_memory, "available_memory", lambda: 1024)
    monkeypatch.setattr(_memory, "SMALL", 0)
    vol = np.ones((16, 16, 16), bool)
    with pytest.raises(
        ResourceError, match=r"volume 16x16x16 needs about .* GiB .* available; crop"
    ):
        simulate(vol)
    with pytest.raises(ResourceError):
        simulate(vol, method="cg")
    out = list(simulate_many([vol], jobs=1))  # one line in a batch, not a crash
    assert out[0].result is None and "needs about" in out[0].error and "\n" not in out[0].error
    with pytest.raises(ResourceError, match=r"image 16x16 needs about"):
        simulate(np.ones((16, 16), bool))  # 2D direct solves are guarded too


def test_electrode_memory_estimate_follows_its_solver(monkeypatch):
    """electrode_tortuosity and impedance (Lanczos on the multigrid's solves) solve a large 3D
    volume on the lean multigrid: their estimate is the multigrid's (~70 B/voxel here), not
    the assembled AMG-CG's (~400 B per unknown); below it both are refused."""
    from ionflow import electrode_tortuosity, impedance

    vol = np.ones((64, 64, 64), np.uint8)
    vol[:, ::4, ::4] = 0
    cells = vol.size
    lean = _memory.estimate_simulate_bytes(vol.shape, cells, "mg")
    assembled = _memory.estimate_simulate_bytes(vol.shape, cells, "cg")
    assert lean < assembled / 4
    monkeypatch.setattr(_memory, "SMALL", 0)
    monkeypatch.setattr(_memory, "available_memory", lambda: (lean + assembled) / 2)
    assert electrode_tortuosity(vol).tau_e > 1.0  # fits
    assert np.isfinite(impedance(vol, [1.0])).all()
    monkeypatch.setattr(_memory, "available_memory", lambda: lean / 2)
    for call in (lambda: electrode_tortuosity(vol), lambda: impedance(vol, [1.0])):
        with pytest.raises(ResourceError, match="volume 64x64x64 needs about"):
            call()


def test_memory_checked_before_any_large_allocation(monkeypatch):
    """The first check runs before the conductivity map exists (it was after ~18 B per voxel
    had been allocated: 800^3 reached 9 GB before the estimate)."""
    from ionflow.solve import _simulate

    def must_not_run(*args, **kwargs):
        raise AssertionError("allocated before the memory check")

    monkeypatch.setattr(_simulate, "conductivity_map", must_not_run)
    monkeypatch.setattr(_memory, "available_memory", lambda: 4096)
    monkeypatch.setattr(_memory, "SMALL", 0)
    with pytest.raises(ResourceError, match="needs about"):
        simulate(np.ones((16, 16, 16), bool))


def test_memory_error_part_way_becomes_resource_error(monkeypatch):
    from ionflow.solve import _simulate

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(_simulate, "conductivity_map", exhausted)
    with pytest.raises(ResourceError, match=r"volume 8x8x8 needs about .* part-way"):
        simulate(np.ones((8, 8, 8), bool), source="v.tif")


def test_ulimit_is_respected_with_an_estimate(tmp_path):
    """Under ``ulimit -v`` a large volume fails at once with the estimate, not a bare
    MemoryError (1400^3 used to raise one; 500^3 under 3 GiB shows the same path quickly)."""
    import subprocess
    import sys

    code = (
        "import resource, numpy as np, ionflow\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))\n"
        "v = np.ones((500, 500, 500), bool)\n"
        "try:\n"
        "    ionflow.simulate(v)\n"
        "except ionflow.ResourceError as e:\n"
        "    print('RESOURCE', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "RESOURCE volume 500x500x500 needs about" in out.stdout
    assert "GiB available" in out.stdout


def test_resource_error_is_one_line_in_the_cli(monkeypatch, tmp_path, capsys):
    from ionflow.cli import main

    monkeypatch.setattr(_memory, "available_memory", lambda: 1024)
    monkeypatch.setattr(_memory, "SMALL", 0)
    path = tmp_path / "vol.npy"
    np.save(path, np.ones((16, 16, 16), np.uint8))
    code = main(["simulate", str(path), "--json", "--jobs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and "needs about" in err[0] and "vol.npy" in err[0]


def test_memory_estimate_is_sane():
    need = _memory.estimate_solve_bytes(1000**3, 1000**3, "mg") / 2**30
    assert 30 < need < 60  # a conducting 1000^3 block: ~40 GiB on the lean multigrid
    # the 500^3 standard volume (30 % conducting) fits in 3 GiB, its 1000^3 tiling in 24
    assert _memory.estimate_simulate_bytes((500,) * 3, int(0.3 * 500**3), "mg", binary=True) < (
        3 * 2**30
    )
    assert _memory.estimate_simulate_bytes((1000,) * 3, int(0.3e9), "mg", binary=True) < 20 * 2**30
    assert _memory.available_memory() is None or _memory.available_memory() > 0
    assert issubclass(ResourceError, ionflow.IonflowError)


def test_label_arrays_are_refused_not_guessed():
    """A 0/85/170 array used to run with every nonzero label conducting (the solid too)."""
    labels = np.zeros((8, 8), np.uint8)
    labels[:, 2] = 85
    labels[:, 5] = 170
    with pytest.raises(ionflow.InputError, match="several nonzero values .85 and 170"):
        simulate(labels)
    with pytest.raises(ionflow.InputError, match="negative values"):
        simulate(np.where(labels > 0, -1, 0))
    res = simulate(labels, label_conductivities={0: 0.0, 85: 1.0, 170: 0.0})
    assert res.relative_conductivity == pytest.approx(1 / 8)
    assert simulate((labels == 85) * 7.5).relative_conductivity == pytest.approx(1 / 8)


def test_percolating_mask_shortcuts_equal_the_lookup():
    """Every cluster kept (or none) skips the per-cell lookup; the answer is the same."""
    from ionflow.solve._assemble import percolating_mask
    from ionflow.solve._clusters import electrode_clusters

    rng = np.random.default_rng(5)
    cases = [
        np.ones((6, 5, 4), bool),  # one cluster touching both faces
        rng.random((12, 10, 9)) < 0.6,  # mixed clusters
        np.pad(np.ones((4, 4), bool), 3),  # one island touching neither face
        (rng.random((9, 8)) < 0.7).astype(np.uint8),  # not bool: still bool masks out
    ]
    for img in cases:
        labels, first, last = electrode_clusters(img.astype(bool), 0)
        expected = ((first & last)[labels], (first & ~last)[labels], (last & ~first)[labels])
        for got, want in zip(percolating_mask(img, 0), expected):
            assert got.dtype == bool
            np.testing.assert_array_equal(got, want)
