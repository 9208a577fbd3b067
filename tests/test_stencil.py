"""The one stencil (``ionflow.solve._stencil``): every solver path agrees with it, and it carries
per-axis spacing and periodic faces exactly."""

import numpy as np
import pytest
from scipy.sparse.linalg import spsolve

from ionflow.solve import assemble, percolating_mask, simulate
from ionflow.solve._lean import solve_lean
from ionflow.solve._stencil import (
    DEFAULT,
    Stencil,
    axis_weights,
    edge_weights,
    electrode_currents,
    face_conductances,
    face_fluxes,
    harmonic_mean,
)
from ionflow.surrogate._tiles import coarse_relative_conductivity


def _solve(sigma, axis, stencil=DEFAULT, keep=None):
    keep = sigma > 0 if keep is None else keep
    system = assemble(sigma, keep, axis, stencil)
    x = spsolve(system.A.tocsc(), system.b)
    phi = np.zeros(sigma.shape)
    phi[keep] = x
    return phi, system.currents(x)


def test_harmonic_mean_values():
    a = np.array([0.0, 1.0, 2.0, 0.0])
    b = np.array([0.0, 1.0, 6.0, 3.0])
    np.testing.assert_allclose(harmonic_mean(a, b), [0.0, 1.0, 3.0, 0.0])


def test_axis_weights():
    assert axis_weights(None, 3) == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(axis_weights((2.0, 1.0, 1.0), 3), [0.5, 2.0, 2.0])
    with pytest.raises(ValueError):
        axis_weights((1.0, -1.0), 2)
    with pytest.raises(ValueError):
        axis_weights((1.0, 1.0), 3)


def test_edge_weights_match_faces():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, (5, 4, 3)) * (rng.random((5, 4, 3)) > 0.3)
    for d in range(3):
        g = edge_weights(s, d, weight=0.7)
        faces = face_conductances(s, d, weight=0.7)
        np.testing.assert_array_equal(np.take(g, range(s.shape[d] - 1), axis=d), faces)
        assert not np.take(g, -1, axis=d).any()
        wrap = edge_weights(s, d, periodic=True)
        np.testing.assert_allclose(
            np.take(wrap, -1, axis=d),
            harmonic_mean(np.take(s, -1, axis=d), np.take(s, 0, axis=d)),
        )


def test_currents_and_fluxes_conserve():
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.2, 1.0, (9, 7))
    for axis in (0, 1):
        phi, (i_in, i_out) = _solve(sigma, axis)
        assert electrode_currents(phi, sigma, axis) == pytest.approx((i_in, i_out), rel=1e-12)
        div = np.zeros(sigma.shape)
        for d in range(2):
            faces = face_fluxes(phi, sigma, d, axis=axis)
            div += np.diff(faces, axis=d)
        assert np.abs(div).max() < 1e-12
        assert np.take(face_fluxes(phi, sigma, axis, axis=axis), 0, axis=axis).sum() == (
            pytest.approx(i_in, rel=1e-12)
        )


@pytest.mark.parametrize("axis", [0, 1])
def test_spacing_equals_refined_grid_for_layers(axis):
    """Series layers along the flow and parallel channels across it are exact in finite volumes,
    so a cell of edge 2 along one axis must give the current of two cells of edge 1."""
    rng = np.random.default_rng(2)
    layers = rng.uniform(0.1, 1.0, 6)
    sigma = np.repeat(layers[:, None], 5, axis=1)  # layers normal to axis 0
    if axis == 1:
        sigma = sigma.T.copy()  # channels along axis 0 ... now layers normal to axis 1
    for stretched in (0, 1):
        spacing = [1.0, 1.0]
        spacing[stretched] = 2.0
        fine = np.repeat(sigma, 2, axis=stretched)
        _, (i_coarse, _) = _solve(sigma, axis, Stencil(spacing=tuple(spacing)))
        _, (i_fine, _) = _solve(fine, axis)
        assert i_coarse == pytest.approx(i_fine, rel=1e-12)


def test_lean_layout_uses_the_same_stencil_with_spacing():
    """The matrix-free multigrid evaluates the stencil itself: same current as the assembled
    system's direct solve, anisotropic cells included."""
    rng = np.random.default_rng(3)
    sigma = (rng.random((8, 6, 5)) > 0.3).astype(float)
    keep = percolating_mask(sigma > 0, 1)[0]
    stencil = Stencil(spacing=(1.0, 0.5, 2.0))
    a = assemble(sigma, keep, 1, stencil)
    xa = spsolve(a.A.tocsc(), a.b)
    lean = solve_lean(keep, 1, stencil=stencil, rtol=1e-12, balance_tol=1e-12)
    assert lean.inlet == pytest.approx(a.currents(xa)[0], rel=1e-10)


def test_periodic_faces_translation_invariant():
    """With the lateral axis wrapped, rolling the image along it changes nothing; without, it
    does (a random image has side walls that matter)."""
    rng = np.random.default_rng(4)
    sigma = rng.uniform(0.05, 1.0, (10, 8))
    wrapped = Stencil(periodic=(1,))
    _, (i0, o0) = _solve(sigma, 0, wrapped)
    _, (i1, o1) = _solve(np.roll(sigma, 3, axis=1), 0, wrapped)
    assert i0 == pytest.approx(i1, rel=1e-12)
    assert i0 == pytest.approx(o0, rel=1e-12)
    _, (j0, _) = _solve(sigma, 0)
    _, (j1, _) = _solve(np.roll(sigma, 3, axis=1), 0)
    assert abs(j0 - j1) > 1e-6 * j0
    phi, _ = _solve(sigma, 0, wrapped)
    div = sum(np.diff(face_fluxes(phi, sigma, d, axis=0, periodic=d == 1), axis=d) for d in (0, 1))
    assert np.abs(div).max() < 1e-12


def test_periodic_uniform_equals_insulating():
    sigma = np.ones((6, 5, 4))
    _, (i_wall, _) = _solve(sigma, 0)
    _, (i_wrap, _) = _solve(sigma, 0, Stencil(periodic=(1, 2)))
    assert i_wall == pytest.approx(20 / 6, rel=1e-12)
    assert i_wrap == pytest.approx(i_wall, rel=1e-12)


def test_block_homogenisation_uses_the_fine_stencil():
    """The surrogate's coarse solve on blocks of one cell each is the fine solve."""
    rng = np.random.default_rng(5)
    sigma = rng.uniform(0.1, 1.0, (6, 5))
    res = simulate(sigma, axis=0, label_conductivities={v: v for v in np.unique(sigma)})
    coarse = coarse_relative_conductivity(np.stack([sigma, sigma]), (1.0, 1.0))
    assert coarse == pytest.approx(res.relative_conductivity * sigma.max(), rel=1e-10)
