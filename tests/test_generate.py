from __future__ import annotations

import numpy as np
import pytest

from ionflow import InputError
from ionflow.generate import GENERATORS, generate


@pytest.mark.parametrize("kind", sorted(GENERATORS))
@pytest.mark.parametrize("shape", [(64, 64), (24, 28, 20)])
@pytest.mark.parametrize("fraction", [0.6, 0.85])
def test_fraction_is_exact(kind, shape, fraction):
    img = generate(kind, shape, electrolyte_fraction=fraction, rng=7)
    assert img.dtype == bool and img.shape == shape
    assert abs(img.mean() - fraction) < 0.005
    assert abs(img.mean() - fraction) <= 0.5 / img.size + 1e-12  # within half a cell


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_same_seed_same_image(kind):
    a = generate(kind, (32, 32), electrolyte_fraction=0.7, rng=42)
    b = generate(kind, (32, 32), electrolyte_fraction=0.7, rng=42)
    c = generate(kind, (32, 32), electrolyte_fraction=0.7, rng=43)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_full_electrolyte():
    assert generate("disks", (16, 16), electrolyte_fraction=1.0, rng=0).all()


def test_nonoverlapping_jams_with_a_clear_error():
    with pytest.raises(InputError, match="jammed"):
        generate("nonoverlapping", (32, 32), electrolyte_fraction=0.1, rng=0)


def test_nonoverlapping_particles_do_not_touch():
    from scipy import ndimage

    img = generate("nonoverlapping", (64, 64), electrolyte_fraction=0.75, radius=5.0, rng=1)
    # equal radii, shrunk to the fraction: every particle has the same area (+- pixelisation)
    labels, n = ndimage.label(~img)
    sizes = np.bincount(labels.ravel())[1:]
    assert n > 5
    assert sizes.max() < 2.0 * np.pi * 5.0**2


def test_bad_options():
    with pytest.raises(InputError):
        generate("disks", (8, 8), electrolyte_fraction=1.5)
    with pytest.raises(InputError, match="unknown generator"):
        generate("cubes", (8, 8), electrolyte_fraction=0.5)


def test_nonoverlapping_particles_leave_no_solid_plane():
    """Particles cut by the faces hold less solid than their volume; the shrink to the
    fraction then ran out of particle cells and took the first slices whole: every 3D volume
    of 32^3 or more started with a solid plane and carried no current."""
    import ionflow

    vol = ionflow.generate.generate("nonoverlapping", (40,) * 3, electrolyte_fraction=0.8, rng=2)
    assert abs(vol.mean() - 0.8) < 1e-4
    for axis in range(3):
        slices = vol.mean(axis=tuple(d for d in range(3) if d != axis))
        assert slices.min() > 0.4
    assert ionflow.simulate(vol).relative_conductivity > 0.5
