"""The command line: contract of `ionflow simulate`, bad input, resume, generate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose

from ionflow.cli import main
from ionflow.generate import disks
from ionflow.io import read_image, write_image

KEYS = {
    "file",
    "electrolyte_fraction",
    "percolating_fraction",
    "current",
    "resistance",
    "conductivity",
    "relative_conductivity",
    "tortuosity",
}


def rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def images(tmp_path):
    uniform = np.ones((16, 16), bool)
    channels = np.ones((16, 16), bool)
    channels[:, ::4] = False
    blocked = np.ones((16, 16), bool)
    blocked[8] = False
    paths = {}
    for name, img in [("uniform", uniform), ("channels", channels), ("blocked", blocked)]:
        paths[name] = write_image(tmp_path / f"{name}.png", img)
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "empty.tif").write_bytes(b"")
    return tmp_path, paths


def test_json_contract(images, capsys):
    d, p = images
    code = main(["simulate", str(p["uniform"]), str(p["channels"]), str(p["blocked"]), "--json"])
    out = rows(capsys.readouterr().out)
    assert code == 0 and len(out) == 3
    got = {r["file"].split("/")[-1]: r for r in out}
    for r in out:
        assert KEYS <= set(r)
    assert_allclose(got["uniform.png"]["relative_conductivity"], 1.0, rtol=1e-12)
    assert_allclose(got["channels.png"]["relative_conductivity"], 0.75, rtol=1e-12)
    assert got["blocked.png"]["current"] == 0.0 and got["blocked.png"]["resistance"] is None


def test_bad_files_one_line_each_and_batch_survives(images, capsys):
    d, p = images
    code = main(
        [
            "simulate",
            str(p["uniform"]),
            str(d / "garbage.png"),
            str(d / "missing.png"),
            str(d / "empty.tif"),
            str(p["channels"]),
            "--json",
            "--jobs",
            "2",
        ]
    )
    cap = capsys.readouterr()
    assert code == 1
    assert len(rows(cap.out)) == 2
    err = cap.err.strip().splitlines()
    assert len(err) == 3 and "Traceback" not in cap.err
    assert any("missing.png" in e and "not found" in e for e in err)
    assert any("empty.tif" in e and "empty" in e for e in err)
    assert any("garbage.png" in e and "not a readable" in e for e in err)


@pytest.mark.slow  # 3 s alone, 13 s in a loaded full run (the folder and glob runs)
def test_directory_and_glob_and_table(images, capsys):
    d, p = images
    code = main(["simulate", str(d / "u*.png"), str(d / "ch*.png")])
    out = capsys.readouterr().out
    assert code == 0 and "uniform.png" in out and "channels.png" in out and "tortuosity" in out
    code = main(["simulate", str(d), "--json"])
    cap = capsys.readouterr()
    assert len(rows(cap.out)) == 3 and code == 1  # garbage.png in the folder


def test_resume_skips_done(images, capsys, tmp_path):
    d, p = images
    log = tmp_path / "out.jsonl"
    main(["simulate", str(p["uniform"]), "--json", "--output", str(log)])
    capsys.readouterr()
    with log.open("a") as fh:
        fh.write('{"file": "cut sho')  # an interrupted line is redone, not fatal
    main(["simulate", str(p["uniform"]), str(p["channels"]), "--json", "--output", str(log)])
    again = rows(capsys.readouterr().out)
    assert [r["file"] for r in again] == [str(p["channels"])]
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.endswith("}")]
    assert {r["file"] for r in lines} == {str(p["uniform"]), str(p["channels"])}


def test_axis_all_and_anisotropy(tmp_path, capsys):
    vol = np.ones((8, 8, 8), bool)
    vol[:, ::2, :] = False  # planes normal to axis 1: blocked along 1
    f = write_image(tmp_path / "vol.tif", vol)
    assert main(["simulate", str(f), "--axis", "all", "--json"]) == 0
    out = rows(capsys.readouterr().out)
    by_axis = {r["axis"]: r for r in out}
    assert set(by_axis) == {0, 1, 2}
    assert_allclose(by_axis[0]["relative_conductivity"], 0.5, rtol=1e-8)
    assert by_axis[1]["relative_conductivity"] == 0.0
    assert by_axis[0]["anisotropy"] is None  # blocked along one axis: infinite anisotropy


def test_label_volume_with_conductive_label(tmp_path, capsys):
    vol = np.full((6, 6, 6), 85, np.uint8)
    vol[:, :3] = 0  # pore (label 0) = electrolyte: half the volume, straight along axis 0
    vol[:, 3:, :2] = 170
    f = tmp_path / "labels.tif"
    tifffile.imwrite(f, vol)
    assert main(["simulate", str(f), "--conductive-label", "0", "--json"]) == 0
    r = rows(capsys.readouterr().out)[0]
    assert_allclose(r["relative_conductivity"], 0.5, rtol=1e-8)
    args = [
        "--label-conductivity",
        "0=1",
        "--label-conductivity",
        "85=0",
        "--label-conductivity",
        "170=0.5",
    ]
    assert main(["simulate", str(f), *args, "--json"]) == 0
    r = rows(capsys.readouterr().out)[0]
    # parallel columns: 18/36 pore at 1 S/m, 6/36 binder at 0.5 S/m
    assert_allclose(r["relative_conductivity"], 0.5 + 0.5 * (6 / 36), rtol=1e-8)


def test_fields_written(images, tmp_path, capsys):
    d, p = images
    assert main(["simulate", str(p["channels"]), "--fields", str(tmp_path / "f")]) == 0
    names = sorted(x.name for x in (tmp_path / "f").iterdir())
    assert names == [  # the default: float32 TIFFs for Fiji and the picture
        "channels_current_magnitude.tif",
        "channels_current_x.tif",
        "channels_current_y.tif",
        "channels_fields.png",
        "channels_potential.tif",
    ]
    args = ["--fields", str(tmp_path / "g"), "--fields-format", "npy"]
    assert main(["simulate", str(p["channels"]), *args]) == 0
    names = sorted(x.name for x in (tmp_path / "g").iterdir())
    assert names == ["channels_current_density.npy", "channels_potential.npy"]
    phi = np.load(tmp_path / "g" / "channels_potential.npy")
    assert phi.shape == (16, 16) and np.nanmax(phi) < 1.0


def test_generate_command(tmp_path, capsys):
    code = main(
        [
            "generate",
            "blobs",
            "--shape",
            "20",
            "20",
            "--fraction",
            "0.7",
            "--count",
            "2",
            "--out",
            str(tmp_path),
            "--format",
            "tif",
        ]
    )
    assert code == 0
    files = sorted(tmp_path.glob("*.tif"))
    assert len(files) == 2
    assert abs(read_image(files[0]).mean() - 0.7) < 0.005


def test_grayscale_otsu_and_invert(tmp_path):
    rng = np.random.default_rng(0)
    truth = disks((40, 40), electrolyte_fraction=0.7, rng=0)
    gray = np.where(truth, 200, 60) + rng.normal(0, 10, truth.shape)
    f = tmp_path / "sem.tif"
    tifffile.imwrite(f, gray.astype(np.float32))
    assert (read_image(f) == truth).mean() > 0.99
    assert (read_image(f, invert=True) == ~truth).mean() > 0.99
    rgb = np.repeat(np.where(truth, 255, 0).astype(np.uint8)[..., None], 3, axis=-1)
    f2 = tmp_path / "rgb.png"
    import imageio.v3 as iio

    iio.imwrite(f2, rgb)
    assert np.array_equal(read_image(f2), truth)


def test_nan_npy_is_rejected(tmp_path, capsys):
    f = tmp_path / "nan.npy"
    np.save(f, np.full((4, 4), np.nan))
    assert main(["simulate", str(f), "--json"]) == 1
    err = capsys.readouterr().err
    assert "nan.npy" in err and "NaN" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["--rtol", "--balance-tol"])
def test_tolerance_options_are_checked_before_any_file(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(tmp_path / "missing.png"), option, "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: a relative tolerance between 0 and 1, got '0'" in err
