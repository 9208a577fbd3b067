"""Generator families (lognormal, anisotropic, fibres, agglomerates, binder, grf, fitted)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from ionflow import InputError
from ionflow.generate import (
    GENERATORS,
    anisotropic,
    binder_labels,
    fibres,
    fit_statistics,
    fitted,
    generate,
    grf,
    lognormal,
    mean_chord_lengths,
)
from ionflow.generate._common import top_fraction
from ionflow.generate._raster import top_count

FAMILIES = ["lognormal", "anisotropic", "fibres", "agglomerates", "binder", "grf", "fitted"]


@pytest.mark.parametrize("kind", FAMILIES)
@pytest.mark.parametrize("shape", [(40, 36), (20, 24, 18)])
@pytest.mark.parametrize("fraction", [0.35, 0.6, 0.9])
def test_fraction_is_exact(kind, shape, fraction):
    for seed in range(3):  # default options draw their own shape parameters: try a few
        img = generate(kind, shape, electrolyte_fraction=fraction, rng=seed)
        assert img.dtype == bool and img.shape == shape
        assert abs(img.mean() - fraction) <= 0.5 / img.size + 1e-12  # within half a cell


@pytest.mark.parametrize("kind", FAMILIES)
def test_extreme_fractions(kind):
    assert generate(kind, (16, 16), electrolyte_fraction=1.0, rng=0).all()
    assert not generate(kind, (16, 16, 8), electrolyte_fraction=0.0, rng=0).any()


@pytest.mark.parametrize("kind", FAMILIES)
@pytest.mark.parametrize("shape", [(32, 32), (16, 20, 12)])
def test_seeded(kind, shape):
    a = generate(kind, shape, electrolyte_fraction=0.6, rng=5)
    b = generate(kind, shape, electrolyte_fraction=0.6, rng=np.random.default_rng(5))
    c = generate(kind, shape, electrolyte_fraction=0.6, rng=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_top_count_matches_top_fraction():
    rng = np.random.default_rng(0)
    score = rng.integers(0, 5, size=(9, 11)).astype(np.float32)  # many ties
    for fraction in (0.0, 0.13, 0.5, 0.77, 1.0):
        k = int(round(fraction * score.size))
        assert np.array_equal(top_count(score, k), top_fraction(score, fraction))


def _anisotropy(img: np.ndarray, axis: int) -> float:
    """Mean solid chord along ``axis`` over the mean of the other axes."""
    chords = mean_chord_lengths(~img)
    return chords[axis] / np.delete(chords, axis).mean()


@pytest.mark.parametrize("align", [0, 1, 2])
def test_alignment_sets_the_long_chord(align):
    opts = dict(electrolyte_fraction=0.6, radius=3.0, sigma=0.1, aspect=3.0, jitter=0.0)
    prolate = anisotropic((40, 40, 40), shape_kind="prolate", align=align, rng=1, **opts)
    oblate = anisotropic((40, 40, 40), shape_kind="oblate", align=align, rng=1, **opts)
    # needles along `align` give long chords along it; discs normal to `align` short ones
    assert _anisotropy(prolate, align) > 1.8
    assert _anisotropy(oblate, align) < 0.6
    isotropic = anisotropic((40, 40, 40), shape_kind="prolate", align="random", rng=1, **opts)
    assert 0.8 < _anisotropy(isotropic, align) < 1.25


def test_alignment_2d():
    img = anisotropic(
        (64, 64), electrolyte_fraction=0.6, aspect=3.0, shape_kind="prolate", align=1, rng=0
    )
    assert _anisotropy(img, 1) > 1.8


def test_fibres_are_elongated():
    img = fibres(
        (48, 48, 48), electrolyte_fraction=0.8, radius=1.5, length=30.0, align=2, jitter=0.0, rng=3
    )
    assert _anisotropy(img, 2) > 4.0
    chords = mean_chord_lengths(~img)
    assert chords[2] > 12.0  # rods ~30 cells long (runs cut by the faces and overlaps shorten them)
    assert chords[:2].max() < 4.0  # ~3 cells across


def test_random_fibres_are_isotropic_but_thin():
    img = fibres(
        (48, 48, 48), electrolyte_fraction=0.8, radius=1.0, length=24.0, align="random", rng=2
    )
    chords = mean_chord_lengths(~img)
    assert chords.max() / chords.min() < 1.4
    assert chords.mean() < 6.0  # thin rods: short chords across them


def test_binder_sits_on_particles():
    labels = binder_labels(
        (40, 40, 40), electrolyte_fraction=0.5, radius=4.0, binder_share=0.2, neck=1.5, rng=0
    )
    electrolyte, particle, binder = (labels == k for k in range(3))
    assert abs(electrolyte.mean() - 0.5) <= 0.5 / labels.size
    assert abs(binder.sum() / (~electrolyte).sum() - 0.2) < 0.02
    dist = ndimage.distance_transform_edt(~particle)  # distance to the nearest particle cell
    assert np.quantile(dist[binder], 0.95) <= 3.0
    assert dist[binder].mean() < dist[electrolyte].mean() / 2
    # necks: binder prefers pore cells close to two particles (blurred density adds up)
    density = ndimage.uniform_filter(particle.astype(float), 5, mode="wrap")
    assert density[binder].mean() > density[electrolyte].mean() + 0.15


def test_binder_is_insulating():
    img = generate("binder", (32, 32), electrolyte_fraction=0.7, rng=1)
    labels = binder_labels((32, 32), electrolyte_fraction=0.7, rng=1)
    assert np.array_equal(img, labels == 0)


def test_grf_correlation_length_and_anisotropy():
    short = grf(
        (64, 64), electrolyte_fraction=0.5, correlation_length=1.5, anisotropy=(1, 1), rng=0
    )
    long = grf((64, 64), electrolyte_fraction=0.5, correlation_length=8.0, anisotropy=(1, 1), rng=0)
    assert mean_chord_lengths(long).mean() > 3 * mean_chord_lengths(short).mean()
    stretched = grf(
        (64, 64), electrolyte_fraction=0.5, correlation_length=3, anisotropy=(3, 1), rng=0
    )
    assert _anisotropy(~stretched, 0) > 1.8


def test_lognormal_radius_sets_the_size():
    small = lognormal((48, 48, 48), electrolyte_fraction=0.6, radius=2.0, sigma=0.2, rng=0)
    large = lognormal((48, 48, 48), electrolyte_fraction=0.6, radius=6.0, sigma=0.2, rng=0)
    ratio = mean_chord_lengths(~large).mean() / mean_chord_lengths(~small).mean()
    assert 2.2 < ratio < 3.8  # chords scale with the radius (3x)


@pytest.mark.parametrize(
    ("shape", "source"),
    [
        (
            (40, 40, 40),
            dict(radius=3.5, sigma=0.2, aspect=2.5, shape_kind="oblate", align=0, jitter=0.0),
        ),
        (
            (96, 96),
            dict(radius=3.5, sigma=0.2, aspect=2.5, shape_kind="prolate", align=1, jitter=0.0),
        ),
    ],
)
def test_fitted_recovers_the_statistics(shape, source):
    src = anisotropic(shape, electrolyte_fraction=0.45, rng=0, **source)
    stats = fit_statistics(src)
    assert json.loads(json.dumps(stats)) == stats  # JSON-serialisable
    assert stats["electrolyte_fraction"] == pytest.approx(0.45, abs=1e-4)
    assert stats["chord_anisotropy"] > 1.5
    img = fitted(shape, stats=stats, rng=1)
    assert abs(img.mean() - stats["electrolyte_fraction"]) <= 0.5 / img.size + 1e-12
    for phase, mask in (("electrolyte", img), ("solid", ~img)):
        want = np.asarray(stats["mean_chord"][phase])
        # closed-form Boolean-model fit; pixelisation and the size-spread estimate cost ~10 %
        np.testing.assert_allclose(mean_chord_lengths(mask), want, rtol=0.25)


def test_fitted_other_fraction_and_2d_from_3d():
    src = anisotropic(
        (32, 32, 32),
        electrolyte_fraction=0.5,
        radius=3.0,
        aspect=2.0,
        shape_kind="prolate",
        align=0,
        rng=0,
    )
    stats = fit_statistics(src)
    img = fitted((48, 48), electrolyte_fraction=0.8, stats=stats, rng=0)
    assert img.shape == (48, 48) and abs(img.mean() - 0.8) <= 0.5 / img.size
    with pytest.raises(InputError, match="cannot generate a 3D image"):
        fitted((16, 16, 16), stats=fit_statistics(img), rng=0)


def test_fit_statistics_conductive_flag():
    img = lognormal((24, 24, 24), electrolyte_fraction=0.6, rng=0)
    a, b = fit_statistics(img), fit_statistics(~img, conductive=False)
    assert a == b


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("lognormal", {"radius": -1.0}, "radius must be"),
        ("lognormal", {"sigma": (0.5, 0.1)}, "sigma range"),
        ("anisotropic", {"shape_kind": "spherical"}, "shape_kind must be"),
        ("anisotropic", {"align": 3}, "align must be"),
        ("anisotropic", {"aspect": 0.5}, "aspect must be"),
        ("fibres", {"radius": 3.0, "length": 4.0}, "at least twice the radius"),
        ("fibres", {"align": "diagonal"}, "align must be"),
        ("agglomerates", {"cluster_size": 0.5}, "cluster_size must be"),
        ("binder", {"binder_share": 1.0}, "binder_share must be below 1"),
        ("grf", {"anisotropy": (1.0, 2.0, 3.0)}, "anisotropy must be 2 positive"),
        ("grf", {"cut": "three"}, "cut must be"),
        ("grf", {"correlation_length": "long"}, "correlation_length must be"),
        ("fitted", {"stats": {"mean_chord": {}}}, "stats must hold"),
        ("fitted", {"stats": [1, 2]}, "stats must be a dict"),
    ],
)
def test_bad_options(kind, options, message):
    with pytest.raises(InputError, match=message):
        generate(kind, (16, 16), electrolyte_fraction=0.5, rng=0, **options)


def test_bad_fraction_and_volume():
    with pytest.raises(InputError, match="electrolyte_fraction"):
        generate("lognormal", (16, 16), electrolyte_fraction=1.2)
    with pytest.raises(InputError, match="two-phase"):
        fit_statistics(np.arange(64).reshape(8, 8))


def test_all_families_registered():
    assert set(FAMILIES) <= set(GENERATORS)
