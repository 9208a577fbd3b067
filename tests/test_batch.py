"""Every fast path gives the plain path's answers: batches, pools, Dask."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ionflow import simulate, simulate_many
from ionflow.generate import blobs, disks


def _images():
    imgs = [
        disks((24, 24), electrolyte_fraction=f, rng=i) for i, f in enumerate([0.6, 0.7, 0.8, 1.0])
    ]
    blocked = np.ones((24, 24), bool)
    blocked[5] = False
    return imgs + [blocked, np.zeros((4, 4)), blobs((10, 10, 10), electrolyte_fraction=0.7, rng=1)]


def test_pool_equals_one_by_one():
    imgs = _images()
    out = list(simulate_many(imgs, jobs=2, chunksize=2))
    assert [o.index for o in out] == list(range(len(imgs)))
    for img, o in zip(imgs, out):
        if not img.any():
            assert o.result is None and "insulating" in o.error
            continue
        assert_allclose(o.result.current, simulate(img).current, rtol=1e-9, atol=0)


def test_dask_local_cluster_equals_local():
    distributed = pytest.importorskip("dask.distributed")
    imgs = _images()
    local = list(simulate_many(imgs, jobs=1))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = list(simulate_many(imgs, scheduler=client))
    assert len(remote) == len(local)
    for a, b in zip(local, remote):
        assert a.error == b.error
        if a.result is not None:
            assert_allclose(b.result.current, a.result.current, rtol=1e-9, atol=0)
