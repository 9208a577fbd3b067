"""``ionflow rev`` and ``ionflow export-params``, in process."""

import json

import pytest
import tifffile

import ionflow
from ionflow.cli import main


@pytest.fixture
def volume(tmp_path):
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, ionflow.generate.disks((24, 24, 24), electrolyte_fraction=0.5, rng=0))
    return path


def test_rev_prints_tables_json_and_plot(volume, tmp_path, capsys):
    assert main(["rev", str(volume), "--edges", "6", "12", "--samples", "3", "--plot",
                 str(tmp_path / "plots")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "| edge (cells)" in out and "material:" in out
    assert (tmp_path / "plots" / "vol_rev.png").exists()
    assert main(["rev", str(volume), "--edges", "6", "12", "--samples", "3", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["source"] == str(volume) and [lev["edge"] for lev in row["levels"]] == [6, 12]


def test_rev_bad_file_is_one_line_and_the_batch_goes_on(volume, tmp_path, capsys):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    code = main(["rev", str(bad), str(volume), "--edges", "6", "--samples", "2", "--json"])
    captured = capsys.readouterr()
    assert code == 1
    assert str(bad) in captured.err and len(captured.err.strip().splitlines()) == 1
    assert json.loads(captured.out)["source"] == str(volume)


def test_export_params(volume, tmp_path, capsys):
    out = tmp_path / "cell.json"
    assert main(["export-params", "--positive", str(volume), "--voxel-size", "1e-6",
                 "--out", str(out)]) == 0  # fmt: skip
    doc = json.loads(out.read_text())
    assert 0 < doc["Parameterisation"]["Positive electrode"]["Transport efficiency"] < 0.5
    assert "porosity 0.5" in capsys.readouterr().err
    assert main(["export-params", "--positive", str(volume)]) == 1  # no voxel size anywhere
    assert "--voxel-size" in capsys.readouterr().err
    assert main(["export-params"]) == 1
