"""Representativeness (ionflow.rev): the statistics on made-up numbers, then on solved images."""

import json
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import ionflow
from ionflow import InputError
from ionflow.rev import default_edges, representativeness
from ionflow.rev._rev import _corners
from ionflow.rev._stats import effective_count, fit_mean_trend, fit_spread, z_value


def test_z_value():
    assert_allclose(z_value(0.95), 1.959964, atol=1e-6)
    with pytest.raises(ValueError):
        z_value(1.0)


def test_effective_count_is_the_disjoint_cubes_that_fit():
    assert effective_count(8, 16, (64, 64)) == 8  # 16 tiles fit
    assert effective_count(8, 32, (64, 64)) == 4
    assert effective_count(8, 64, (64, 64)) == 1
    assert effective_count(8, 32, (64, 64, 64)) == 8


def test_fit_spread_recovers_the_power_law_and_the_overlap_correction():
    """Within-sample spreads made exactly as the model says, Var(L) - Var(N): the fit returns
    c and alpha (so the Var(N) correction is the right fixed point)."""
    c, alpha, n = 0.8, 1.2, 256.0
    edges = np.array([16.0, 32, 64, 128])
    within = np.sqrt(c**2 * edges ** (-2 * alpha) - c**2 * n ** (-2 * alpha))
    law = fit_spread(edges, within, np.full(4, 8), sample_edge=n, ndim=3)
    assert law.fitted and law.points == 4
    assert_allclose([law.prefactor, law.alpha], [c, alpha], rtol=1e-6)
    # no scatter about the line: the error is that of 4 spreads from 8 values each
    x = np.log(edges)
    assert_allclose(law.alpha_stderr, 1 / math.sqrt(14 * np.sum((x - x.mean()) ** 2)), rtol=1e-9)
    assert_allclose(law(n), c * n**-alpha, rtol=1e-6)


def test_fit_spread_caps_alpha_at_d_over_2():
    """A spread falling faster than 1/sqrt(volume) is a small-cube effect: alpha = d/2."""
    edges = np.array([8.0, 16, 32])
    law = fit_spread(edges, 5 * edges**-2.5, np.full(3, 8), sample_edge=1e6, ndim=3)
    assert law.fitted and law.alpha == 1.5
    assert_allclose(law.data_alpha, 2.5, rtol=1e-6)
    assert law(1e6) > 5 * 1e6**-2.5  # wider than the steep law would say


def test_fit_spread_fixed_or_too_few_points_uses_d_over_2():
    law = fit_spread(np.array([16.0]), np.array([0.1]), np.array([8]), sample_edge=64, ndim=2)
    assert not law.fitted and law.alpha == 1.0
    law = fit_spread(np.array([8.0, 16]), np.array([0.2, 0.1]), np.array([8, 8]), sample_edge=64,
                     ndim=3, alpha=1.5)  # fmt: skip
    assert not law.fitted and law.alpha == 1.5
    flat = fit_spread(np.array([8.0, 16]), np.zeros(2), np.array([8, 8]), sample_edge=64, ndim=3)
    assert flat.prefactor == 0 and flat(64) == 0 and flat.edge_for(0.01, 1.96) == 1.0


def test_edge_for_target():
    law = fit_spread(np.array([10.0, 100]), np.array([0.1, 0.01]), np.array([50, 50]),
                     sample_edge=1e9, ndim=2)  # fmt: skip
    assert_allclose(law.alpha, 1.0, rtol=1e-9)
    # z * 1 / L = 0.001  ->  L = 1960
    assert_allclose(law.edge_for(0.001, 1.96), 1960, rtol=1e-6)


def test_fit_mean_trend_extrapolates_m_plus_b_over_l():
    edges = np.array([8.0, 16, 32, 64])
    means = 0.5 - 0.8 / edges
    trend = fit_mean_trend(edges, means, np.full(4, 0.01), sample_edge=128)
    assert_allclose(trend.estimate, 0.5 - 0.8 / 128, rtol=1e-9)
    assert_allclose(trend.slope, -0.8, rtol=1e-9)
    two = fit_mean_trend(edges[:2], means[:2], np.array([0.02, 0.01]), sample_edge=128)
    assert two.estimate == means[1] and two.stderr == 0.01 and math.isnan(two.slope)


def test_default_edges():
    assert default_edges((128, 128, 128)) == (8, 16, 32, 64)
    assert default_edges((64, 64)) == (16, 32)
    assert default_edges((1024, 1024)) == (64, 128, 256, 512)


def test_corners_are_disjoint_while_they_fit(rng):
    corners = _corners((64, 64), 16, 8, rng)
    boxes = {tuple(c) for c in corners}
    assert len(boxes) == 8
    for a in corners:  # no two squares share a cell
        for b in corners:
            if tuple(a) != tuple(b):
                assert np.any(np.abs(a - b) >= 16)
    many = _corners((32, 32), 16, 6, rng)  # 4 tiles fit, 2 more overlap
    assert many.shape == (6, 2) and np.all(many <= 16) and np.all(many >= 0)


@pytest.mark.parametrize("shape", [(32, 32), (16, 16, 16)])
def test_uniform_image_has_no_spread(shape):
    res = representativeness(np.ones(shape, bool), rng=0, progress=False, edges=(4, 8))
    for q in ("relative_conductivity", "tortuosity", "electrolyte_fraction"):
        est = res[q]
        assert est.std == (0.0, 0.0) and est.cv == (0.0, 0.0)
        assert_allclose(est.mean, 1.0, rtol=1e-9)
        assert_allclose(est.material_interval, (1.0, 1.0), rtol=1e-9)
        assert_allclose(est.sample_interval, (1.0, 1.0), rtol=1e-9)
        assert est.relative_half_width == 0 and est.representative
    assert res.full.relative_conductivity == pytest.approx(1.0)


@pytest.fixture(scope="module")
def disks_study():
    img = ionflow.generate.disks((128, 128), electrolyte_fraction=0.8, rng=3)
    return representativeness(img, rng=1, samples=10, edges=(16, 32, 64), progress=False)


def test_smaller_subvolumes_spread_more(disks_study):
    est = disks_study["relative_conductivity"]
    assert est.alpha_fitted and est.alpha > 0
    assert est.std[0] > est.std[1] > est.std[2] > 0
    widths = est.std_at(np.array(est.edges + (est.sample_edge,)))
    assert np.all(np.diff(widths) < 0)  # the interval narrows with size
    assert est.sample_std < est.std[0]
    assert est.edge_for_target > 0


def test_whole_sample_estimate_is_consistent_with_the_full_solve(disks_study):
    est = disks_study["relative_conductivity"]
    full = disks_study.full.relative_conductivity
    assert est.sample_value == full
    lo, hi = est.sample_interval
    assert lo <= full <= hi
    lo, hi = est.material_interval
    assert lo < full < hi and est.material_estimate == full
    fr = disks_study["electrolyte_fraction"]
    assert fr.sample_interval[0] <= disks_study.full.electrolyte_fraction <= fr.sample_interval[1]


def test_same_seed_same_study(disks_study):
    img = ionflow.generate.disks((128, 128), electrolyte_fraction=0.8, rng=3)
    again = representativeness(img, rng=1, samples=10, edges=(16, 32, 64), progress=False)
    for a, b in zip(again.levels, disks_study.levels):
        assert np.array_equal(a.corners, b.corners)
        assert_allclose(a.relative_conductivity, b.relative_conductivity, rtol=1e-9)
    assert again.seed == 1


def test_without_full_solve_the_estimate_is_the_centre():
    img = ionflow.generate.disks((64, 64), electrolyte_fraction=0.8, rng=0)
    res = representativeness(img, rng=0, edges=(8, 16, 32), full=False, progress=False)
    est = res["relative_conductivity"]
    assert res.full is None and est.sample_value is None
    assert est.material_estimate == est.sample_estimate
    mlo, mhi = est.material_interval
    slo, shi = est.sample_interval
    assert mhi - mlo > shi - slo  # the sample's own spread is added


def test_subvolumes_without_electrolyte_count_as_zero():
    img = np.ones((64, 64), bool)
    img[:, :40] = False  # the left 40 columns are insulating: some squares have no electrolyte
    res = representativeness(img, rng=2, edges=(8, 16), samples=6, progress=False)
    low = res.levels[0]
    assert np.any(low.electrolyte_fraction == 0)
    assert np.all(low.relative_conductivity[low.electrolyte_fraction == 0] == 0)
    assert np.all(np.isinf(low.tortuosity[low.electrolyte_fraction == 0]))
    assert math.isnan(res["tortuosity"].mean[0])  # not a finite statistic
    json.dumps(res.to_dict(), allow_nan=False)  # JSON: infinities become null


def test_label_image_through_solve_options():
    labels = np.where(ionflow.generate.disks((48, 48), electrolyte_fraction=0.7, rng=1), 0, 2)
    res = representativeness(labels, rng=0, edges=(12, 24), progress=False,
                             solve={"label_conductivities": {0: 1.0, 2: 0.0}})  # fmt: skip
    binary = representativeness(labels == 0, rng=0, edges=(12, 24), progress=False)
    assert_allclose(res["relative_conductivity"].mean, binary["relative_conductivity"].mean,
                    rtol=1e-9)  # fmt: skip


def test_bad_options_are_input_errors():
    img = np.ones((32, 32), bool)
    with pytest.raises(InputError, match="do not fit"):
        representativeness(img, edges=(8, 64), progress=False)
    with pytest.raises(InputError, match="at least 2"):
        representativeness(img, samples=1, progress=False)
    with pytest.raises(InputError, match="axis 2"):
        representativeness(img, axis=2, progress=False)


def test_summary_and_plot(disks_study, tmp_path):
    lines = disks_study.summary()
    assert lines[0].startswith("| edge") and any("material:" in line for line in lines)
    from ionflow.plot import plot_rev

    out = plot_rev(tmp_path / "rev.png", disks_study)
    assert out.exists() and out.stat().st_size > 1000


@pytest.mark.slow
def test_3d_generated_volume():
    vol = ionflow.generate.disks((48, 48, 48), electrolyte_fraction=0.5, rng=2)
    res = representativeness(vol, rng=0, edges=(8, 16, 24), samples=8, progress=False)
    est = res["relative_conductivity"]
    assert est.std[0] > est.std[-1]
    assert est.sample_interval[0] <= res.full.relative_conductivity <= est.sample_interval[1]
