"""The CLI of the transport physics: periodic faces, anisotropic voxels (flags and TIFF
metadata), the tensor with --axis all, ``ionflow electrode`` and ``ionflow profile``."""

import json

import numpy as np
import pytest
import tifffile

from ionflow import simulate
from ionflow.cli import main
from ionflow.generate import generate
from ionflow.io import read_pixel_size


@pytest.fixture
def volume(tmp_path):
    vol = generate("disks", (16, 14, 12), electrolyte_fraction=0.6, rng=0)
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, vol.astype(np.uint8) * 255)
    return path, vol


def _rows(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_periodic_and_per_axis_pixel_size_flags(volume, capsys):
    path, vol = volume
    code = main(
        ["simulate", str(path), "--json", "--no-progress", "--jobs", "1", "--boundary", "periodic"]
        + ["--pixel-size", "2e-6", "1e-6", "1e-6"]
    )
    assert code == 0
    row = _rows(capsys)[0]
    ref = simulate(vol, boundary="periodic", pixel_size=(2e-6, 1e-6, 1e-6))
    assert row["conductivity"] == pytest.approx(ref.conductivity, rel=1e-9)
    assert row["boundary"] == "periodic"
    assert row["pixel_size"] == [2e-6, 1e-6, 1e-6]
    assert len(row["mean_current_density"]) == 3


def test_axis_all_periodic_prints_the_tensor(volume, capsys):
    path, _ = volume
    code = main(["simulate", str(path), "--axis", "all", "--boundary", "periodic", "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "conductivity tensor" in out and "principal values" in out


def test_wrong_number_of_voxel_sizes_is_one_line(volume, capsys):
    path, _ = volume
    code = main(["simulate", str(path), "--jobs", "1", "--pixel-size", "1e-6", "2e-6"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "2 voxel sizes" in err[0] and "vol.tif" in err[0]


def test_anisotropic_voxels_from_imagej_metadata(tmp_path):
    vol = np.zeros((6, 8, 8), np.uint8)
    vol[:, :, ::2] = 255
    path = tmp_path / "fib.tif"
    # ImageJ: 0.01 um pixels (100 px per micron), slices 0.03 um apart
    tifffile.imwrite(
        path, vol, imagej=True, resolution=(100.0, 100.0), metadata={"unit": "um", "spacing": 0.03}
    )
    sizes = read_pixel_size(path)
    assert sizes == pytest.approx((3e-8, 1e-8, 1e-8))
    square = tmp_path / "cubic.tif"
    tifffile.imwrite(
        square,
        vol,
        imagej=True,
        resolution=(100.0, 100.0),
        metadata={"unit": "um", "spacing": 0.01},
    )
    assert read_pixel_size(square) == pytest.approx(1e-8)


def test_electrode_command(tmp_path, capsys):
    pores = np.zeros((20, 9), np.uint8)
    pores[:, 1::2] = 255
    tifffile.imwrite(tmp_path / "pores.tif", pores)
    (tmp_path / "broken.tif").write_text("not an image")
    code = main(
        ["electrode", str(tmp_path / "pores.tif"), str(tmp_path / "broken.tif"), "--json"]
        + ["--nyquist", str(tmp_path / "out")]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("\n") == 1 and "broken.tif" in captured.err
    row = json.loads(captured.out.splitlines()[0])
    assert row["tau_e"] == pytest.approx(1.0, rel=1e-12)
    assert row["tortuosity"] == pytest.approx(1.0, rel=1e-12)
    assert (tmp_path / "out" / "pores_nyquist.png").stat().st_size > 0
    lines = (tmp_path / "out" / "pores_impedance.csv").read_text().splitlines()
    assert lines[0].startswith("omega_reduced") and len(lines) == 26


def test_profile_command_csv(volume, capsys, tmp_path):
    path, vol = volume
    code = main(["profile", str(path), "--csv", "--plot", str(tmp_path / "plots")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0] == "file,depth,fraction,interface_density,tortuosity"
    assert len(lines) == 1 + vol.shape[0]
    assert (tmp_path / "plots" / "vol_profile.png").exists()


def test_predict_refuses_anisotropic_voxels(tmp_path, capsys):
    """The networks learnt cubic voxels: a stack with thick slices is one error line that
    points to simulate, not a silently wrong prediction."""
    vol = (generate("disks", (32, 32, 32), electrolyte_fraction=0.6, rng=1) * 255).astype(np.uint8)
    path = tmp_path / "fib.tif"
    tifffile.imwrite(
        path,
        vol,
        imagej=True,
        resolution=(100.0, 100.0),
        metadata={"unit": "um", "spacing": 0.03, "axes": "ZYX"},
    )
    code = main(["predict", str(path), "--json", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "anisotropic voxels" in err[0] and "simulate" in err[0]


def test_tensor_command(volume, capsys):
    path, vol = volume
    assert main(["tensor", str(path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    k = np.array(row["relative"])
    np.testing.assert_allclose(k, k.T, atol=1e-12)
    assert row["boundary"] == "cell" and len(row["principal_values"]) == 3


def test_tensor_and_profile_take_the_image_input_options(label_tiff, capsys):
    """tensor and profile read a label image as simulate does (they had --labels only, and the
    label-image error sent users to options they did not have)."""
    from ionflow.solve import homogenised_tensor

    path, vol = label_tiff
    assert main(["tensor", str(path), "--json"]) == 1
    assert "--conductive-label" in capsys.readouterr().err
    assert main(["tensor", str(path), "--json", "--conductive-label", "85"]) == 0
    k = np.array(_rows(capsys)[0]["relative"])
    np.testing.assert_allclose(k, homogenised_tensor(vol == 85).relative, atol=1e-12)
    np.testing.assert_allclose(np.diag(k), [0.375, 0.0, 0.0], atol=1e-9)  # straight along 0
    # three conductivities: arithmetic along axis 0, in series across 1, blocked along 2
    args = ["--label-conductivity", "0=0", "--label-conductivity", "85=2"]
    code = main(["tensor", str(path), "--json", *args, "--label-conductivity", "170=1"])
    assert code == 0
    row = _rows(capsys)[0]
    np.testing.assert_allclose(
        np.diag(row["conductivity"]), [0.375 * 3, 0.75 / (0.5 / 2 + 0.5 / 1), 0.0], atol=1e-9
    )
    assert main(["profile", str(path), "--json", "--conductive-label", "85"]) == 0
    prof = _rows(capsys)[0]
    np.testing.assert_allclose(prof["fraction"], 0.375)
    np.testing.assert_allclose(prof["tortuosity"], 1.0, atol=1e-9)
