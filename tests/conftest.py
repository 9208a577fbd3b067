from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def label_tiff(tmp_path):
    """A TauFactor-like label volume as a TIFF: a slab of label 0 (x < 3), labels 85 (y < 6)
    and 170; ``(path, volume)``."""
    import tifffile

    vol = np.zeros((10, 12, 12), np.uint8)
    vol[:, :6] = 85
    vol[:, 6:] = 170
    vol[:, :, :3] = 0
    path = tmp_path / "labels.tif"
    tifffile.imwrite(path, vol)
    return path, vol
