"""Periodic lateral boundaries and anisotropic voxels through ``simulate``: analytic answers,
agreement between every solver path, and the wrap in percolation."""

import numpy as np
import pytest

from ionflow import InputError, simulate
from ionflow.generate import generate


def _wrapped_path():
    """A path that joins the electrodes only across the wrap: column 7 from row 0 to row 4,
    then column 0 from row 4 to row 7 (row 4 holds both ends of the wrap face)."""
    img = np.zeros((8, 8), bool)
    img[0:5, 7] = True
    img[4:8, 0] = True
    return img


def test_path_through_the_wrap_is_exact():
    img = _wrapped_path()
    closed = simulate(img)
    assert not closed.percolating and closed.current == 0
    res = simulate(img, boundary="periodic")
    # series: half a cell + 4 faces + the wrap face + 3 faces + half a cell = 9 unit resistors
    assert res.percolating and res.boundary == "periodic"
    assert res.current == pytest.approx(1 / 9, rel=1e-12)
    assert res.percolating_fraction == pytest.approx(9 / 64)
    assert res.flux_imbalance < 1e-12


@pytest.mark.parametrize("method", ["mg", "cg", "direct"])
def test_periodic_3d_solvers_agree_and_are_translation_invariant(method):
    vol = generate("disks", (24, 20, 18), electrolyte_fraction=0.6, rng=3)
    ref = simulate(vol, boundary="periodic", method="direct")
    res = simulate(vol, boundary="periodic", method=method)
    assert res.current == pytest.approx(ref.current, rel=1e-8)
    rolled = simulate(np.roll(vol, (5, 7), axis=(1, 2)), boundary="periodic", method=method)
    assert rolled.current == pytest.approx(ref.current, rel=1e-8)
    walls = simulate(vol, method=method)
    assert abs(walls.current - ref.current) > 1e-6 * ref.current


def test_periodic_uniform_and_channels_equal_insulating():
    for img in (
        np.ones((9, 7, 5), bool),
        np.tile(np.arange(7) % 3 > 0, (9, 5, 1)).transpose(0, 2, 1),
    ):
        a = simulate(img)
        b = simulate(img, boundary="periodic")
        assert b.current == pytest.approx(a.current, rel=1e-10)


def test_periodic_odd_sizes_multigrid():
    """Odd lateral lengths put the wrap face inside a coarse block unless it is moved."""
    vol = generate("disks", (21, 17, 15), electrolyte_fraction=0.55, rng=1)
    ref = simulate(vol, boundary="periodic", method="direct")
    res = simulate(vol, boundary="periodic", method="mg")
    assert res.current == pytest.approx(ref.current, rel=1e-8)
    assert res.iterations < 60


def test_anisotropic_voxels_equal_refined_grid():
    """Layers normal to the flow with voxels twice as thick along the flow: exactly the solve of
    the volume with every slice doubled and cubic voxels."""
    rng = np.random.default_rng(0)
    labels = np.broadcast_to(rng.uniform(0.2, 1.0, (6, 1, 1)), (6, 5, 4)).copy()
    lc = {float(v): float(v) for v in np.unique(labels)}
    coarse = simulate(labels, label_conductivities=lc, pixel_size=(2e-6, 1e-6, 1e-6))
    fine = simulate(np.repeat(labels, 2, axis=0), label_conductivities=lc, pixel_size=1e-6)
    assert coarse.conductivity == pytest.approx(fine.conductivity, rel=1e-10)
    assert coarse.length == pytest.approx(fine.length)
    assert coarse.area == pytest.approx(fine.area)
    assert coarse.pixel_size == (2e-6, 1e-6, 1e-6)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_anisotropic_solvers_agree_and_uniform_is_sigma(axis):
    size = (3e-6, 1e-6, 2e-6)
    uniform = simulate(np.ones((6, 8, 7), bool), axis=axis, pixel_size=size, conductivity=0.1)
    assert uniform.conductivity == pytest.approx(0.1, rel=1e-10)
    vol = generate("disks", (20, 18, 16), electrolyte_fraction=0.6, rng=2)
    ref = simulate(vol, axis=axis, pixel_size=size, method="direct")
    for method in ("mg", "cg"):
        res = simulate(vol, axis=axis, pixel_size=size, method=method)
        assert res.conductivity == pytest.approx(ref.conductivity, rel=1e-8)
    iso = simulate(vol, axis=axis, pixel_size=2e-6)
    assert abs(iso.relative_conductivity - ref.relative_conductivity) > 1e-4


def test_anisotropic_fields_conserve_current():
    vol = generate("disks", (12, 10, 9), electrolyte_fraction=0.7, rng=4)
    res = simulate(vol, pixel_size=(2e-6, 1e-6, 1.5e-6), fields=True, boundary="periodic")
    j = res.current_density[0]  # along the flow, A/m^2
    # mean flux density along the flow times the cross-section is the current
    assert j.mean() * res.area == pytest.approx(res.current, rel=1e-8)


def test_bad_voxel_sizes_and_boundary():
    img = np.ones((4, 4, 4), bool)
    with pytest.raises(InputError, match="2 voxel sizes"):
        simulate(img, pixel_size=(1e-6, 1e-6))
    with pytest.raises(InputError, match="positive"):
        simulate(img, pixel_size=(1e-6, 0.0, 1e-6))
    with pytest.raises(InputError, match="unknown boundary"):
        simulate(img, boundary="mirror")


@pytest.mark.parametrize("method", ["mg", "cg", "direct"])
def test_ghost_electrode_reproduces_taufactor_121_multiphase(method):
    """TauFactor 1.2.1's MultiPhaseSolver puts the Dirichlet planes one cell out, in a ghost
    cell of the boundary material: series layers then give (n + 1) / (sum 1/s + 1/2s_first +
    1/2s_last) (its 0.0268275 on this stack, measured in benchmarks/parity.py)."""
    s = np.repeat([1.0, 0.1, 0.01], 16)
    img = np.broadcast_to(s[:, None, None], (48, 6, 5)).copy()
    lc = {1.0: 1.0, 0.1: 0.1, 0.01: 0.01}
    res = simulate(img, label_conductivities=lc, electrode="ghost", method=method)
    expected = 49 / (np.sum(1 / s) + 0.5 / s[0] + 0.5 / s[-1])
    assert res.relative_conductivity == pytest.approx(expected, rel=1e-9)
    assert res.electrode == "ghost"
    face = simulate(img, label_conductivities=lc, method=method)
    assert face.relative_conductivity == pytest.approx(48 / np.sum(1 / s), rel=1e-9)


def test_ghost_electrode_uniform_and_2d():
    assert simulate(np.ones((7, 5)), electrode="ghost").relative_conductivity == pytest.approx(1)
    assert simulate(np.ones((7, 5, 4)), electrode="ghost").relative_conductivity == pytest.approx(1)
    img = generate("disks", (40, 40), electrolyte_fraction=0.7, rng=3)
    direct = simulate(img, electrode="ghost")
    cg = simulate(img, electrode="ghost", method="cg")
    assert direct.current == pytest.approx(cg.current, rel=1e-8)
    with pytest.raises(InputError, match="unknown electrode"):
        simulate(img, electrode="half")
