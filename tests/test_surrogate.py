"""The torch-free prediction path: ONNX export, ONNX Runtime, typed results, hostile files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ionflow import InputError, simulate
from ionflow.generate import disks
from ionflow.surrogate import (
    OnnxRunner,
    PredictionResult,
    Predictor,
    default_model_path,
    fit_conformal,
    interval,
    onnx_path,
    read_model_info,
)

pytest.importorskip("onnxruntime")


def test_predict_runs_without_torch_or_sparse_solvers():
    """`ionflow predict` (and the library predictor) never import torch, and `predict` starts
    fast: SciPy's sparse solvers are not imported for images of the training size."""
    code = (
        "import sys, numpy as np\n"
        "from ionflow.cli import main\n"
        "assert main(['predict', '--json', '--no-progress']) == 0\n"
        "heavy = [m for m in ('torch', 'scipy.sparse.linalg', 'pyamg') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from ionflow.surrogate import Predictor, default_model_path\n"
        "p = Predictor(default_model_path(3))\n"
        "p.predict([np.ones((64, 64, 64), bool)])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("dim", [2, 3])
def test_bundled_exports_are_current(dim):
    """The bundled ONNX files were exported from the bundled weights (SHA-256 recorded)."""
    path = default_model_path(dim)
    runner = OnnxRunner(onnx_path(path), source=path)  # raises on a stale export
    assert runner.members == 1


@pytest.mark.parametrize("dim", [2, 3])
def test_onnx_and_torch_agree(dim):
    pytest.importorskip("torch")
    shape = (64,) * dim
    images = np.stack(
        [disks(shape, electrolyte_fraction=f, rng=i) for i, f in enumerate((0.5, 0.8))]
    )
    path = default_model_path(dim)
    fast = Predictor(path, backend="onnx").predict_relative(images)[0]
    slow = Predictor(path, backend="torch").predict_relative(images)[0]
    np.testing.assert_allclose(fast, slow, rtol=1e-4)  # float32 kernels differ in rounding


def test_prediction_has_every_key_of_simulate():
    img = disks((64, 64), electrolyte_fraction=0.7, rng=3)
    exact = simulate(img).to_dict()
    row = Predictor(default_model_path(2)).predict([img])[0]
    assert isinstance(row, PredictionResult)
    got = row.to_dict()
    assert set(exact) <= set(got)
    assert {"uncertainty", "interval", "ood", "ood_reasons", "feature_distance"} <= set(got)
    json.dumps(got)  # JSON-ready
    # units follow the same conventions: l = A = 1, V = 1, sigma = 1
    assert got["current"] == pytest.approx(got["relative_conductivity"])
    assert got["resistance"] == pytest.approx(1 / got["current"])


def test_exact_answers_need_no_network():
    p = Predictor(default_model_path(2))
    blocked = np.ones((64, 64), bool)
    blocked[30] = False
    full, none = p.predict([np.ones((64, 64), bool), blocked])
    assert full.relative_conductivity == 1.0 and full.interval == (1.0, 1.0) and not full.ood
    assert none.relative_conductivity == 0.0 and not none.percolating
    assert none.to_dict()["resistance"] is None and none.to_dict()["tortuosity"] is None


def test_axis_moves_the_flow():
    """Predicting along axis 1 equals predicting the transposed image along axis 0."""
    img = disks((64, 64), electrolyte_fraction=0.75, rng=5)
    p = Predictor(default_model_path(2))
    a = p.predict([img], axis=1)[0]
    b = p.predict([img.T], axis=0)[0]
    assert a.relative_conductivity == pytest.approx(b.relative_conductivity, rel=1e-6)
    assert a.axis == 1


def test_stale_or_missing_export(tmp_path):
    pytest.importorskip("torch")
    src = default_model_path(2)
    model = tmp_path / "m.safetensors"
    shutil.copy(src, model)
    with pytest.raises(InputError, match="no ONNX export"):
        Predictor(model, backend="onnx")
    shutil.copy(onnx_path(src), onnx_path(model))
    Predictor(model, backend="onnx")  # same weights: accepted
    data = bytearray(model.read_bytes())
    data[-1] ^= 1  # a different weight: the export is stale
    model.write_bytes(bytes(data))
    with pytest.raises(InputError, match="stale ONNX export"):
        Predictor(model, backend="onnx")
    Predictor(model)  # auto: falls back to torch (with a warning in the log)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "too short"),
        (b"\xff" * 8 + b"{}", "bad header length"),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00{}", "not an ionflow model"),
        (b"\x05\x00\x00\x00\x00\x00\x00\x00{oops", "not a readable"),
    ],
)
def test_hostile_model_headers(tmp_path, content, message):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_model_info(bad)


def test_corrupt_onnx_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(InputError, match="not a readable ONNX model"):
        OnnxRunner(bad)


def test_conformal_interval_covers_exchangeable_cases():
    """Split-conformal: on new cases drawn like the calibration cases, 90 % intervals cover
    about 90 % (a heteroscedastic toy problem where one descriptor sets the error scale)."""
    rng = np.random.default_rng(0)

    def draw(n):
        z = np.column_stack([np.ones(n), rng.uniform(-2, 2, (n, 5))])
        scale = 0.02 * np.exp(0.8 * z[:, 1])
        return z, rng.normal(0, scale)

    z, r = draw(2000)
    cal = fit_conformal(r, z, coverage=0.9)
    z2, r2 = draw(4000)
    pred = np.full(4000, 0.5)
    lo, hi = interval(pred, z2, cal)
    inside = (pred * np.exp(-r2) >= lo) & (pred * np.exp(-r2) <= hi)
    assert 0.87 < inside.mean() < 0.93
    assert cal["weights"][1] == pytest.approx(0.8, abs=0.15)  # the scale was learned
    with pytest.raises(ValueError, match="at least 10"):
        fit_conformal(r[:5], z[:5])


def test_cli_predict_axis_all_and_bad_files(tmp_path, capsys):
    from ionflow.cli import main
    from ionflow.io import write_image

    write_image(tmp_path / "a.png", disks((64, 64), electrolyte_fraction=0.8, rng=1))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    write_image(tmp_path / "zeros.png", np.zeros((64, 64), bool))
    np.save(tmp_path / "nan.npy", np.full((64, 64), np.nan))
    bad = [str(tmp_path / f) for f in ("bad.png", "zeros.png", "nan.npy")]
    code = main(["predict", str(tmp_path / "a.png"), *bad, "--axis", "all", "--json"])
    cap = capsys.readouterr()
    rows = [json.loads(x) for x in cap.out.splitlines()]
    errors = cap.err.strip().splitlines()
    assert code == 1 and len(errors) == 3  # one line per bad file, the good one answered
    assert "bad.png" in errors[0] and "insulating" in errors[1] and "NaN" in errors[2]
    assert [r["axis"] for r in rows] == [0, 1]
    assert rows[0]["anisotropy"] == rows[1]["anisotropy"] >= 1.0


@pytest.mark.parametrize("dim", [2, 3])
def test_patch_codes_are_the_block_bit_patterns(dim):
    """Bit k of a block's code is the cell at offset (k >> d) & 1 along axis d (the order of
    ionflow.model._nets.PatchCode, which the ONNX export check ties to the networks)."""
    from ionflow.surrogate._runtime import patch_codes

    rng = np.random.default_rng(dim)
    images = rng.random((3,) + (6,) * dim) < 0.5
    codes = patch_codes(images)
    assert codes.shape == (3,) + (3,) * dim and codes.dtype == np.int32
    for n in range(3):
        for block in np.ndindex(*(3,) * dim):
            expect = 0
            for k in range(2**dim):
                cell = tuple(2 * b + ((k >> d) & 1) for d, b in enumerate(block))
                expect |= int(images[(n, *cell)]) << k
            assert codes[(n, *block)] == expect


def test_cli_generator_names_match_the_registry():
    from ionflow.cli import GENERATOR_NAMES
    from ionflow.generate import GENERATORS

    assert tuple(sorted(GENERATORS)) == GENERATOR_NAMES


@pytest.mark.parametrize("dim", [2, 3])
def test_exact_conduction_bounds_hold(dim):
    """Straight paths below, slices in series above: the exact answer always lies between
    (Rayleigh monotonicity); equal to it for uniform images, laminates and blocked ones."""
    from ionflow.generate import generate
    from ionflow.surrogate._bounds import conduction_bounds

    rng = np.random.default_rng(dim)
    for k in range(40):
        shape = tuple(int(v) for v in rng.integers(6, 16, size=dim))
        kind = ("disks", "blobs", "grf", "ellipses")[k % 4]
        img = generate(kind, shape, electrolyte_fraction=rng.uniform(0.5, 1.0), rng=k)
        exact = simulate(img).relative_conductivity
        lo, hi = conduction_bounds(img)
        assert lo - 1e-12 <= exact <= hi + 1e-12
    assert conduction_bounds(np.ones((5,) * dim, bool)) == (1.0, 1.0)
    layers = np.ones((8,) * dim, bool)
    layers[:, ::2] = False  # straight channels: both bounds are the fraction
    assert conduction_bounds(layers) == pytest.approx((0.5, 0.5))
    wall = np.ones((8,) * dim, bool)
    wall[4] = False
    assert conduction_bounds(wall) == (0.0, 0.0)


def test_a_prediction_outside_the_bounds_is_clipped_and_flagged():
    """A one-cell pinhole in a solid wall across a training-like image: the network cannot see
    it (0.47 predicted, 0.15 exact, no flag before); the slices-in-series bound can."""
    p = Predictor(default_model_path(2))
    img = disks((64, 64), electrolyte_fraction=0.937766160454413, rng=84)
    img[21] = False
    img[19:24, 32] = True
    res = p.predict([img])[0]
    exact = simulate(img).relative_conductivity
    assert res.ood and any("exact bounds" in r for r in res.ood_reasons)
    lo, hi = res.interval
    assert lo <= res.relative_conductivity <= hi and lo <= exact <= hi


def test_a_zero_prediction_for_a_percolating_image_is_not_exact(monkeypatch):
    """The network's 0 was taken as exact: interval [0, 0], no ood check at all, next to
    "percolating": true. Now only the image decides what is exact."""
    p = Predictor(default_model_path(2))
    img = np.ones((64, 64), bool)
    img[10:13] = False  # a three-cell-thick wall, a crooked pinhole through it
    img[10, 30:32] = img[11, 31:33] = img[12, 32:34] = True
    real = p._infer

    def zero(batch, perc):
        rel, spread, distance = real(batch, perc)
        return np.zeros_like(rel), spread, distance

    monkeypatch.setattr(p, "_infer", zero)
    res = p.predict([img])[0]
    lo, hi = conduction_bounds_of(img)
    assert res.percolating and res.interval == (lo, hi) and hi > 0
    assert res.ood and any("no conduction" in r for r in res.ood_reasons)
    assert lo <= simulate(img).relative_conductivity <= hi


def conduction_bounds_of(img):
    from ionflow.surrogate._bounds import conduction_bounds

    return conduction_bounds(img)


def test_a_thin_wall_is_out_of_distribution():
    """One-pixel solid lines pierced by slits across a 2D image (0.45 predicted, 0.19 exact,
    unflagged before): the narrowest passage is far below any training image's of that
    electrolyte fraction (recorded per fraction bin in the model)."""
    from ionflow.surrogate import bottleneck, bottleneck_envelope

    p = Predictor(default_model_path(2))
    assert p.stats.get("bottleneck")  # the bundled model carries the envelope
    img = np.ones((64, 64), bool)
    img[39] = img[55] = False
    img[39, 53:57] = img[55, 34:38] = True
    res = p.predict([img])[0]
    assert res.ood and any("thin wall" in r for r in res.ood_reasons)
    assert bottleneck(img[None])[0] == pytest.approx(4 / 64)
    # and a training-like image is not flagged for it
    plain = disks((64, 64), electrolyte_fraction=0.8, rng=3)
    assert not any("thin wall" in r for r in p.predict([plain])[0].ood_reasons)
    env = bottleneck_envelope(np.stack([np.ones((8, 8), bool), img[:8, :8]]))
    assert len(env) == 20 and env[-1] == 1.0


def test_a_clipped_prediction_keeps_an_uncertainty_and_axis_moves_pixel_sizes():
    """Clipped to a bound, the interval is the bounds and the uncertainty their wider side
    (it was lost: nan accuracy, None uncertainty); with the flow along axis 1, a per-axis
    pixel size moves with the image (the length was the other axis's)."""
    p = Predictor(default_model_path(2))
    img = disks((64, 64), electrolyte_fraction=0.937766160454413, rng=84)
    img[21] = False
    img[19:24, 32] = True  # a pinhole wall: the network overshoots the slices-in-series bound
    res = p.predict([img])[0]
    assert any("exact bounds" in r for r in res.ood_reasons)
    assert res.interval[1] == res.relative_conductivity  # at the upper bound
    assert res.uncertainty is not None and res.uncertainty > 0  # inf: the lower bound is 0
    json.dumps(res.to_dict())
    flat = disks((64, 64), electrolyte_fraction=0.8, rng=1)
    r = p.predict([flat], axis=1, pixel_size=[(1e-6, 4e-6)])[0]
    s = simulate(flat, axis=1, pixel_size=(1e-6, 4e-6))
    assert r.length == pytest.approx(s.length) and r.area == pytest.approx(s.area)
    with pytest.raises(InputError, match="pixel sizes for 1 images"):
        p.predict([flat], pixel_size=(1e-6, 4e-6))
