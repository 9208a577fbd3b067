from __future__ import annotations

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose

from ionflow import InputError, simulate
from ionflow.dataset import DatasetConfig, build_dataset, load_split, open_dataset, sample

TINY = DatasetConfig(
    shape=(16, 16), splits=(("train", 10), ("val", 5), ("test", 5)), radius=(1.5, 3.0)
)


def test_build_labels_match_solver(tmp_path):
    path = build_dataset(tmp_path / "d.h5", TINY, jobs=1)
    tr = load_split(path, "train")
    assert tr.images.shape == (10, 16, 16)
    assert sorted(set(tr.fraction_target.tolist())) == [0.6, 0.7, 0.8, 0.9, 1.0]
    for i in (0, 4, 9):
        img = sample(TINY, i, tr.fraction_target[i], 0)
        assert np.array_equal(img, tr.images[i].astype(bool))
        if img.any():
            expect = simulate(img).relative_conductivity
            assert_allclose(tr.labels["relative_conductivity"][i], expect, rtol=1e-12)
    assert_allclose(tr.labels["electrolyte_fraction"], tr.fraction_target, atol=0.005)
    assert load_split(path, "test").images.shape[0] == 5


def test_resume_after_interruption(tmp_path):
    path = tmp_path / "d.h5"
    build_dataset(path, TINY, jobs=1)
    whole = load_split(path, "all")
    with h5py.File(path, "a") as f:  # simulate an interruption: the last 7 rows never written
        f["done"][13:] = False
        f["labels/relative_conductivity"][13:] = np.nan
    with pytest.raises(InputError, match="incomplete"):
        load_split(path, "all")
    build_dataset(path, TINY, jobs=2, chunk=3)
    again = load_split(path, "all")
    assert_allclose(again.labels["relative_conductivity"], whole.labels["relative_conductivity"])


def test_refuses_foreign_or_other_config(tmp_path):
    foreign = tmp_path / "x.h5"
    with h5py.File(foreign, "w") as f:
        f["a"] = 1
    with pytest.raises(InputError, match="not an ionflow dataset"):
        open_dataset(foreign)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"junk" * 10)
    with pytest.raises(InputError, match="not a readable HDF5"):
        build_dataset(junk, TINY)
    path = build_dataset(tmp_path / "d.h5", TINY, jobs=1)
    other = DatasetConfig(**{**TINY.__dict__, "seed": 5})
    with pytest.raises(InputError, match="different configuration"):
        build_dataset(path, other)


def test_config_roundtrip():
    cfg = DatasetConfig(shape=(8, 8, 8), fraction_range=(0.3, 1.0), generators=("blobs", "disks"))
    assert DatasetConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("n_classes", [5, 15])
def test_labels_plot_for_classes_and_continuous_fractions(tmp_path, n_classes):
    import imageio.v3 as iio

    from ionflow.plot import plot_labels_by_class

    rng = np.random.default_rng(0)
    groups = np.round(rng.integers(0, n_classes, 200) / n_classes * 0.7 + 0.3, 2)
    path = plot_labels_by_class(tmp_path / "labels.png", groups**2, groups)
    image = iio.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0
