"""The surrogate pipeline on tiny data: dataset -> train -> evaluate -> predict (CPU, seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ionflow import InputError  # noqa: E402
from ionflow.cli import main  # noqa: E402
from ionflow.dataset import DatasetConfig, build_dataset  # noqa: E402
from ionflow.io import write_image  # noqa: E402
from ionflow.model import (  # noqa: E402
    ModelConfig,
    Predictor,
    TrainConfig,
    create_model,
    evaluate,
    load_bundle,
    train,
)

pytestmark = pytest.mark.ml

SMALL = ModelConfig(channels=(8, 16), head_hidden=16)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("ds")
    cfg = DatasetConfig(shape=(16, 16), splits=(("train", 40), ("val", 10), ("test", 10)), radius=(1.5, 3.0))
    return build_dataset(d / "tiny.h5", cfg, jobs=1)


@pytest.fixture(scope="module")
def model(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    return train(data, out, model=SMALL, config=TrainConfig(epochs=5, batch_size=16, threads=1))


def test_factory_shapes():
    net = create_model(SMALL)
    assert net(torch.zeros(3, 1, 16, 16)).shape == (3,)
    net3 = create_model(ModelConfig(arch="ionnet3d", channels=(4, 8), head_hidden=8), dim=3)
    assert net3(torch.zeros(2, 1, 8, 8, 8)).shape == (2,)


def test_efficientnetv2_s_option_builds():
    pytest.importorskip("timm")
    net = create_model(ModelConfig(arch="efficientnetv2_s", head_hidden=32))
    assert net(torch.zeros(2, 1, 64, 64)).shape == (2,)


def test_train_writes_safe_bundle_with_config(model, data):
    b = load_bundle(model)
    assert b.dim == 2 and len(b.members) == 1
    assert b.members[0].model["channels"] == [8, 16] or tuple(b.members[0].model["channels"]) == (8, 16)
    assert b.data["n_train"] == 40 and b.data["stats"]["shape"] == [16, 16]
    assert len(b.members[0].metrics["history"]) == 5
    assert np.isfinite(b.metrics["val_mape"])
    # safetensors: plain tensors + JSON metadata, no pickle
    assert model.read_bytes()[8:9] == b"{"


def test_predictor_exact_limits_and_flip_invariance(model):
    p = Predictor(model)
    full = np.ones((16, 16), bool)
    blocked = np.ones((16, 16), bool)
    blocked[8] = False
    rng = np.random.default_rng(0)
    img = rng.random((16, 16)) < 0.8
    rel, unc = p.predict_relative(np.stack([full, blocked, img, img[:, ::-1]]))
    assert rel[0] == 1.0 and rel[1] == 0.0
    assert rel[2] == pytest.approx(rel[3], rel=1e-5)  # TTA over the flips: exactly symmetric
    assert 0 <= rel[2] <= 1.5 and np.isfinite(unc[2])


def test_evaluate_table_has_baselines(model, data, tmp_path):
    res = evaluate(model, data, plot=tmp_path / "parity.png")
    assert set(res["table"]) >= {"surrogate", "Bruggeman f^1.5"}
    assert any(k.startswith("power law") for k in res["table"])
    assert (tmp_path / "parity.png").stat().st_size > 1000
    row = res["table"]["surrogate"]
    assert np.isfinite(row["mape"]) and set(row["per_class_mape"]) >= {"0.6", "0.9"}


def test_resume_keeps_finished_members(data, tmp_path):
    out = tmp_path / "ens.safetensors"
    cfg = TrainConfig(epochs=2, batch_size=16, members=2, threads=1)
    partial = out.with_name(out.name + ".partial")
    partial.mkdir()
    # a finished member 0 from an "interrupted" run is picked up, not retrained
    train(data, tmp_path / "one.safetensors", model=SMALL, config=TrainConfig(epochs=2, batch_size=16, threads=1))
    b = load_bundle(tmp_path / "one.safetensors")
    from ionflow.model._train import TrainConfig as TC  # noqa: F401

    torch.save({"state": b.members[0].state, "info": {"val_mape": 1.0, "marker": True}}, partial / "member0.done.pt")
    import dataclasses

    (partial / "run.json").write_text(
        json.dumps({"model": SMALL.to_dict(), "train": dataclasses.asdict(cfg), "data": str(data)})
    )
    train(data, out, model=SMALL, config=cfg)
    ens = load_bundle(out)
    assert len(ens.members) == 2 and ens.members[0].metrics.get("marker") is True
    assert not partial.exists()


def test_per_class_members(data, tmp_path):
    out = train(data, tmp_path / "pc.safetensors", model=SMALL,
                config=TrainConfig(epochs=1, batch_size=16, per_class=True, threads=1))
    b = load_bundle(out)
    assert len(b.members) == 5 and all(m.fraction_range is not None for m in b.members)
    rel, _ = Predictor(b).predict_relative(np.random.default_rng(1).random((3, 16, 16)) < 0.75)
    assert np.all(rel >= 0)


def test_bad_model_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable"):
        load_bundle(bad)
    with pytest.raises(InputError, match="not found"):
        load_bundle(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(InputError, match="not an ionflow model"):
        load_bundle(tmp_path / "foreign.safetensors")


def test_predict_cli_json_keys_and_ood(model, tmp_path, capsys):
    rng = np.random.default_rng(2)
    a = write_image(tmp_path / "a.png", rng.random((16, 16)) < 0.8)
    big = write_image(tmp_path / "big.png", rng.random((40, 40)) < 0.8)
    (tmp_path / "bad.png").write_bytes(b"nope")
    code = main(["predict", str(a), str(big), str(tmp_path / "bad.png"), "--model", str(model), "--json", "--verify"])
    cap = capsys.readouterr()
    rows = [json.loads(x) for x in cap.out.splitlines() if x.startswith("{")]
    assert code == 1 and len(rows) == 2 and "bad.png" in cap.err
    keys = {"file", "electrolyte_fraction", "current", "resistance", "conductivity",
            "relative_conductivity", "tortuosity", "uncertainty", "ood"}
    assert keys <= set(rows[0])
    by = {r["file"].split("/")[-1]: r for r in rows}
    assert by["big.png"]["ood"] is True and "size" in by["big.png"]["ood_reasons"][0]
    assert "solver_relative_conductivity" in by["a.png"]


def test_train_cli_and_evaluate_cli(data, tmp_path, capsys):
    out = tmp_path / "cli.safetensors"
    assert main(["train", str(data), str(out), "--channels", "8", "16", "--epochs", "1",
                 "--batch-size", "16", "--no-progress"]) == 0
    assert main(["evaluate", str(out), str(data)]) == 0
    text = capsys.readouterr().out
    assert "surrogate" in text and "Bruggeman" in text


def test_bundled_models_agree_with_the_solver():
    """The shipped models load and predict the bundled examples close to the exact solver."""
    from ionflow import simulate
    from ionflow.cli import examples_dir
    from ionflow.io import read_image
    from ionflow.model import default_model_path

    for dim in (2, 3):
        path = default_model_path(dim)
        assert path.exists(), f"bundled {dim}D model missing"
        files = [f for f in sorted(examples_dir().iterdir()) if f.suffix in (".png", ".tif")]
        images = [read_image(f) for f in files]
        images = [im for im in images if im.ndim == dim]
        rows = Predictor(path).predict(images)
        for im, row in zip(images, rows):
            true = simulate(im).relative_conductivity
            # measured: <= 6 % on these examples (README); 15 % leaves room for other BLAS builds
            assert abs(row["relative_conductivity"] - true) / true < 0.15
            assert row["ood"] is False
