"""Electrode tortuosity factor and impedance: the transmission-line limits, exactly."""

import numpy as np
import pytest

from ionflow import InputError
from ionflow.generate import generate
from ionflow.solve._electrode import (
    electrode_tortuosity,
    ideal_impedance,
    ideal_low_frequency_resistance,
    impedance,
)


def _straight_pores(shape):
    """One-cell-wide pores along axis 0 between solid walls: every pore cell has the same
    interface (two faces in 2D, four in 3D)."""
    img = np.zeros(shape, np.uint8)
    if len(shape) == 2:
        img[:, 1::2] = 1
    else:
        img[:, 1::2, 1::2] = 1
    return img


@pytest.mark.parametrize("shape", [(20, 9), (12, 7, 7), (5, 3)])
def test_straight_pores_have_tau_e_one(shape):
    res = electrode_tortuosity(_straight_pores(shape))
    assert res.tau_e == pytest.approx(1.0, rel=1e-12)
    assert res.connected_interface == 1.0


def test_ideal_chain_formula():
    # continuum limit n/3 per unit conductance, plus the discrete 1/(6n)
    assert ideal_low_frequency_resistance(10, 1.0, 1.0) == pytest.approx(10 / 3 + 1 / 60)
    z = ideal_impedance([1e-7], 10)
    assert z.real[0] == pytest.approx(ideal_low_frequency_resistance(10, 1.0, 1.0), rel=1e-8)


def test_straight_pore_is_the_classic_transmission_line():
    img = _straight_pores((20, 9))
    omega = np.array([1e-3, 0.1, 1.0, 10.0, 1e4])
    z = impedance(img, omega)
    pores = 4
    expected = ideal_impedance(omega, 20, capacitance=2.0) / pores
    np.testing.assert_allclose(z, expected, rtol=1e-10)
    # infinitely fast interface (omega -> inf): only the separator's half cell remains
    assert z[-1].real == pytest.approx(0.5 / pores, rel=1e-6)
    # low frequency: the capacitive branch 1 / (j omega C)
    low = impedance(img, [1e-7])[0]
    assert -low.imag == pytest.approx(1 / (1e-7 * 2 * 20 * pores), rel=1e-6)


def test_low_frequency_limit_matches_the_complex_solve():
    vol = generate("disks", (14, 12, 12), electrolyte_fraction=0.5, rng=0)
    res = electrode_tortuosity(vol)
    z = impedance(vol, [1e-9, 1e-7])
    np.testing.assert_allclose(z.real, res.resistance_low_frequency, rtol=1e-8)
    assert res.tau_e > 1.0


def test_periodic_and_anisotropic_options():
    vol = generate("disks", (14, 12, 12), electrolyte_fraction=0.55, rng=1)
    a = electrode_tortuosity(vol, boundary="periodic")
    b = electrode_tortuosity(np.roll(vol, 5, axis=2), boundary="periodic")
    assert a.tau_e == pytest.approx(b.tau_e, rel=1e-9)
    pores = _straight_pores((10, 5, 5))
    assert electrode_tortuosity(pores, pixel_size=(3e-6, 1e-6, 2e-6)).tau_e == pytest.approx(1.0)


def test_three_phase_binder_is_inert():
    """Label 2 (binder) neither conducts nor reacts: straight pores walled by binder on one
    side and active material on the other still give tau_e = 1 (uniform interface)."""
    img = np.zeros((16, 7), np.uint8)
    img[:, 1::2] = 1
    img[:, 2::4] = 2  # every other wall is binder: each pore has one active and one binder wall
    res = electrode_tortuosity(img, conductive_label=1, reactive_label=0)
    assert res.tau_e == pytest.approx(1.0, rel=1e-12)
    assert res.interface_density == pytest.approx((3 * 16) / (16 * 7))


def test_blocked_and_bad_inputs():
    img = np.ones((6, 6), np.uint8)
    img[3] = 0  # no electrolyte beyond row 2 ... but the pores near the separator still react
    res = electrode_tortuosity(img)
    assert np.isfinite(res.tau_e)
    solid_only_far = np.zeros((6, 6), np.uint8)
    solid_only_far[:, 2] = 1  # a pore without any... it has interfaces: finite
    assert np.isfinite(electrode_tortuosity(solid_only_far).tau_e)
    with pytest.raises(InputError, match="no electrolyte"):
        electrode_tortuosity(np.zeros((4, 4)))
    with pytest.raises(InputError, match="positive"):
        impedance(solid_only_far, [0.0])
    no_interface = np.ones((5, 5), np.uint8)
    assert electrode_tortuosity(no_interface).tau_e == float("inf")


def test_amg_path_equals_direct(monkeypatch):
    from ionflow.solve import _electrode

    vol = generate("disks", (16, 14, 14), electrolyte_fraction=0.5, rng=3)
    direct = electrode_tortuosity(vol)
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10)
    amg = electrode_tortuosity(vol)
    assert amg.tau_e == pytest.approx(direct.tau_e, rel=1e-9)


def test_impedance_krylov_path_equals_direct(monkeypatch):
    """Large 2D systems: COCG per frequency (preconditioned by AMG of the real shift)."""
    from ionflow.solve import _electrode

    img = generate("disks", (40, 36), electrolyte_fraction=0.6, rng=4)
    omega = [1e-4, 0.05, 1.0, 30.0]
    direct = impedance(img, omega)
    monkeypatch.setattr(_electrode, "DIRECT_MAX_2D", 10)
    krylov = impedance(img, omega)
    np.testing.assert_allclose(krylov, direct, rtol=1e-8)


def test_impedance_lanczos_path_equals_direct(monkeypatch):
    """Large 3D systems: every frequency from one Lanczos process on the multigrid's solves,
    over eight decades, equal to the direct solves; its low-frequency real part tends to
    tau_e's Re Z(0), and its steps are far fewer than frequencies times iterations."""
    from ionflow.solve import _electrode, _lean

    vol = generate("disks", (24, 20, 20), electrolyte_fraction=0.5, rng=4)
    omega = np.logspace(-5, 3, 33)
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10**9)
    direct = impedance(vol, omega)
    low = electrode_tortuosity(vol).resistance_low_frequency
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10)
    solves = []
    real = _lean.lean_source_solver

    def counting(*args, **kwargs):
        solve = real(*args, **kwargs)

        def counted(*a, **k):
            solves.append(1)
            return solve(*a, **k)

        return counted

    monkeypatch.setattr(_lean, "lean_source_solver", counting)
    lanczos = impedance(vol, omega)
    np.testing.assert_allclose(lanczos, direct, rtol=1e-7)
    assert lanczos[0].real == pytest.approx(low, rel=1e-4)
    assert 5 <= len(solves) < 150


def test_multigrid_path_equals_direct(monkeypatch):
    """Large 3D electrodes go through the solver's own multigrid (grid layout, blocked
    collector); it must give the direct answer."""
    from ionflow.solve import _electrode

    vol = generate("disks", (18, 16, 14), electrolyte_fraction=0.5, rng=6)
    for boundary in ("insulating", "periodic"):
        direct = electrode_tortuosity(vol, boundary=boundary)
        monkeypatch.setattr(_electrode, "DIRECT_MAX", 10)
        mg = electrode_tortuosity(vol, boundary=boundary)
        monkeypatch.setattr(_electrode, "DIRECT_MAX", 8000)
        assert mg.tau_e == pytest.approx(direct.tau_e, rel=1e-9)
    pores = _straight_pores((12, 9, 9))
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10)
    assert electrode_tortuosity(pores, pixel_size=(2.0, 1.0, 1.0)).tau_e == pytest.approx(1.0)


def test_lean_multigrid_path_iterates_to_the_direct_answer(monkeypatch):
    """A volume large enough for several multigrid levels (the FCG loop of
    ``solve_lean_source``, float32 preconditioner): tau_e equals the direct solve's, through the
    variational estimate."""
    from ionflow.solve import _electrode, _lean

    vol = generate("disks", (34, 30, 32), electrolyte_fraction=0.5, rng=8)
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10**9)
    direct = electrode_tortuosity(vol)
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10)
    levels = []
    real_init = _lean.LeanMultigrid.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        levels.append(len(self.levels))

    monkeypatch.setattr(_lean.LeanMultigrid, "__init__", spy)
    mg = electrode_tortuosity(vol)
    assert levels and levels[0] >= 2
    assert mg.tau_e == pytest.approx(direct.tau_e, rel=1e-10)


def _count_steps(monkeypatch):
    """Count the flexible-CG steps of every multigrid solve from here on."""
    from ionflow.solve import _lean

    steps = []
    real = _lean._fcg_steps

    def spy(ops):
        for step in real(ops):
            steps.append(step)
            yield step

    monkeypatch.setattr(_lean, "_fcg_steps", spy)
    return steps


def test_multigrid_stops_on_the_variational_estimate(monkeypatch):
    """tau_e needs only d . A^-1 d, second order in the error: the multigrid stops when that
    estimate is within ENERGY_RTOL, in at most half the steps the residual criterion takes,
    and stays within 1e-10 of the direct answer."""
    from ionflow.solve import _electrode

    vol = generate("disks", (40, 36, 36), electrolyte_fraction=0.5, rng=3)
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10**9)
    direct = electrode_tortuosity(vol).tau_e
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10)
    steps = _count_steps(monkeypatch)
    energy = electrode_tortuosity(vol).tau_e
    n_energy = len(steps)
    monkeypatch.setattr(_electrode, "ENERGY_RTOL", None)  # the residual criterion alone
    residual = electrode_tortuosity(vol).tau_e
    assert 2 <= n_energy <= (len(steps) - n_energy) / 2
    assert energy == pytest.approx(direct, rel=1e-10)
    assert residual == pytest.approx(direct, rel=1e-10)


def test_an_electrode_near_its_percolation_threshold_switches_to_connected_pieces(monkeypatch):
    """A 48^3 crop of a Gaussian random field at 40 % electrolyte: on grid blocks the electrode
    solve needs ~90 steps; ``SPLIT="auto"`` switches to blocks split into their connected pieces
    after a few slow ones (as ``simulate`` does) and every mode gives the direct answer."""
    from ionflow.generate import grf
    from ionflow.solve import _electrode, _lean

    vol = grf((128,) * 3, electrolyte_fraction=0.4, rng=11)[:48, :48, :48]
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10**9)
    direct = electrode_tortuosity(vol).tau_e
    monkeypatch.setattr(_electrode, "DIRECT_MAX", 10)
    steps = _count_steps(monkeypatch)
    its, tau = {}, {}
    for mode in ("never", "auto", "always"):
        monkeypatch.setattr(_lean, "SPLIT", mode)
        steps.clear()
        tau[mode] = electrode_tortuosity(vol).tau_e
        its[mode] = len(steps)
    assert its["never"] > 50
    assert its["auto"] < its["never"] / 3
    assert its["always"] <= its["auto"]
    for mode in ("auto", "always"):
        assert tau[mode] == pytest.approx(direct, rel=1e-10)
    assert tau["never"] == pytest.approx(direct, rel=1e-9)


def test_a_reactive_label_not_in_the_image_is_named():
    vol = generate("disks", (10, 8, 8), electrolyte_fraction=0.6, rng=1).astype(np.uint8)
    with pytest.raises(InputError, match="no active-material cell \\(reactive label 7\\)"):
        electrode_tortuosity(vol, conductive_label=1, reactive_label=7)


def test_a_label_image_needs_its_labels_named():
    """Every nonzero value conducts only in a binary image: a 0/85/170 volume (TauFactor's
    pore 0) made its binder and active material the electrolyte, with no error, as simulate
    refuses to."""
    img = np.zeros((8, 6, 6), np.uint8)
    img[:, :2] = 85
    img[:, 2:4] = 170
    for call in (lambda: electrode_tortuosity(img), lambda: impedance(img, [1.0])):
        with pytest.raises(InputError, match="several nonzero values.*conductive_label"):
            call()
    res = electrode_tortuosity(img, conductive_label=0, reactive_label=170)
    assert np.isfinite(res.tau_e) and res.electrolyte_fraction == pytest.approx(1 / 3)


def test_interface_density_with_box_shaped_voxels():
    """The interface per volume counts each voxel's own volume: a 2D image and its extrusion
    into 3D (one cell deep) agree at any voxel shape (the 3D one read 2x with dz = 2 dx)."""
    rng = np.random.default_rng(5)
    img = (rng.random((10, 8)) < 0.7).astype(np.uint8)
    flat = electrode_tortuosity(img, pixel_size=(1e-6, 3e-6))
    deep = electrode_tortuosity(img[:, :, None], pixel_size=(1e-6, 3e-6, 2e-6))
    assert flat.interface_density == pytest.approx(deep.interface_density, rel=1e-12)
    assert flat.tau_e == pytest.approx(deep.tau_e, rel=1e-9)
    # straight pores one cell wide along axis 0 (columns 1, 3, 5, 7 of 8), walls across axis
    # 1 only: 7 faces of area dx dz per row of 8 cells (dx dy dz each): 7 / (8 dy)
    pores = np.zeros((6, 8, 3), np.uint8)
    pores[:, 1::2] = 1
    res = electrode_tortuosity(pores, pixel_size=(1e-6, 4e-6, 2e-6))  # in units of 1 / dx
    assert res.interface_density == pytest.approx(7 / 8 / 4.0)
