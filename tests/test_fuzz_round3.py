"""Holes found by the third fuzzing round (the analysis commands): option combinations that
were applied to the wrong image, labels floating point merges, export-params' thickness and
output, exit codes, tracebacks on option values, and outputs of one stem overwritten."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from ionflow.cli import main
from ionflow.errors import InputError
from ionflow.io import ReadOptions


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def labels(tmp_path):
    """Channels of labels 1 and 2 along axis 0 between walls of 0."""
    img = np.zeros((8, 8), np.uint8)
    img[:, 1::4] = 1
    img[:, 3::4] = 2
    path = tmp_path / "labels.tif"
    tifffile.imwrite(path, img)
    return path


@pytest.mark.parametrize("command", ["simulate", "tensor"])
def test_a_label_table_with_conductive_labels_is_refused(labels, capsys, command):
    """The reader binarised by --conductive-label first, and the table was then applied to
    0 and 1: label 2 was solved at label 1's conductivity and label 1 insulated, exit 0."""
    table = ["--label-conductivity", "0=0", "--label-conductivity", "1=0.3"]
    table += ["--label-conductivity", "2=0.5"]
    assert main([command, str(labels), *table, "--conductive-label", "2"]) == 1
    assert "--conductive-label does not go with --label-conductivity" in _one_error(capsys)
    assert main([command, str(labels), *table, "--json"]) == 0  # the table alone


def test_the_library_refuses_the_same_combination(labels):
    from ionflow.solve import SolveOptions, simulate_files

    options = SolveOptions(label_conductivities=((0, 0.0), (1, 0.3), (2, 0.5)))
    with pytest.raises(InputError, match="do not go with label_conductivities"):
        simulate_files([labels], read=ReadOptions(conductive_labels=(2,)), options=options)


def test_invert_with_conductive_labels_is_refused(labels, capsys):
    """--invert swapped the phases after the labels were picked: label 1 was reported as the
    conducting one while labels 0 and 2 were solved."""
    with pytest.raises(InputError, match="--invert does not apply with --conductive-label"):
        ReadOptions(conductive_labels=(1,), invert=True)
    assert main(["tensor", str(labels), "--conductive-label", "1", "--invert"]) == 1
    assert "--invert does not apply" in _one_error(capsys)


def test_labels_floating_point_cannot_tell_apart_are_refused(tmp_path, capsys):
    big = 2**53
    img = np.full((6, 6), big, np.int64)
    img[:, ::2] = big + 1  # float64(big + 1) == float64(big): one phase, silently
    path = tmp_path / "big.npy"
    np.save(path, img)
    for command in (["metrics", str(path), "--no-sizes", "--no-s2"], ["tensor", str(path)]):
        assert main([*command, "--conductive-label", str(big + 1)]) == 1
        assert "cannot tell them apart" in _one_error(capsys)
    ok = tmp_path / "binary.npy"  # large but distinct as floats: a binary image, fine
    np.save(ok, np.where(img == big, 0, np.iinfo(np.uint64).max).astype(np.uint64))
    assert main(["tensor", str(ok), "--json"]) == 0


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--positive-thickness", "-1"], "must be a positive length"),
        (["--positive-thickness", "nan"], "must be a positive length"),
        (["--positive-thickness", "1e-9"], "less than the image's own depth"),
        (["--negative-thickness", "1e-4"], "--negative-thickness needs --negative"),
        (["--electrolyte", "nan"], "--electrolyte must be a label value"),
        (["--out", "/dev/null/x.json"], "cannot create output folder /dev/null"),
    ],
)
def test_export_params_option_values(tmp_path, capsys, extra, says):
    img = np.zeros((16, 12, 12), np.uint8)
    img[:, ::3] = 255
    path = tmp_path / "electrode.tif"
    tifffile.imwrite(path, img)
    assert main(["export-params", "--positive", str(path), "--voxel-size", "1e-6", *extra]) == 1
    assert says in _one_error(capsys)


def test_export_params_out_is_a_folder(tmp_path, capsys):
    img = np.zeros((16, 12, 12), np.uint8)
    img[:, ::3] = 255
    path = tmp_path / "electrode.tif"
    tifffile.imwrite(path, img)
    args = ["export-params", "--positive", str(path), "--voxel-size", "1e-6"]
    assert main([*args, "--out", str(tmp_path)]) == 1
    assert "it is a folder" in _one_error(capsys)
    assert main([*args, "--positive-thickness", "1e-4", "--out", str(tmp_path / "p.json")]) == 0
    doc = json.loads((tmp_path / "p.json").read_text())
    assert "1e-04" in json.dumps(doc) or "0.0001" in json.dumps(doc)


@pytest.mark.parametrize("command", ["tensor", "profile", "electrode"])
def test_an_empty_folder_fails_the_command(tmp_path, capsys, command):
    (tmp_path / "empty").mkdir()
    assert main([command, str(tmp_path / "empty")]) == 1
    assert "no image files" in _one_error(capsys)


@pytest.mark.parametrize(
    "args",
    [["generate", "disks", "--seed", "-1", "--out", "OUT"], ["rev", "IMG", "--seed", "-1"]],
)
def test_negative_seeds_are_refused(tmp_path, capsys, labels, args):
    args = [str(tmp_path / "g") if a == "OUT" else str(labels) if a == "IMG" else a for a in args]
    assert main(args) == 1
    assert "--seed must be a whole number >= 0" in _one_error(capsys)


def test_metrics_nan_label(labels, capsys):
    assert main(["metrics", str(labels), "--conductive-label", "nan"]) == 1
    assert "--conductive-label must be a label value" in _one_error(capsys)


def test_outputs_of_one_stem_are_not_overwritten(tmp_path, capsys):
    img = np.zeros((10, 8), np.uint8)
    img[:, 1::2] = 1
    png, npy = tmp_path / "cell.png", tmp_path / "cell.npy"
    tifffile.imwrite(tmp_path / "cell.tif", img)
    np.save(npy, img)
    from ionflow.io import write_image

    write_image(png, img.astype(bool))
    out = tmp_path / "spectra"
    assert main(["electrode", str(tmp_path / "cell.tif"), str(npy), "--nyquist", str(out)]) == 1
    err = capsys.readouterr().err
    assert "has the same name as" in err and str(npy) in err
    assert sorted(p.name for p in out.iterdir()) == ["cell_impedance.csv", "cell_nyquist.png"]
    plots = tmp_path / "plots"
    assert main(["profile", str(png), str(npy), "--plot", str(plots)]) == 1
    assert "has the same name as" in capsys.readouterr().err


def test_no_interface_says_why_no_spectrum(tmp_path, caplog):
    path = tmp_path / "ones.npy"
    np.save(path, np.ones((8, 8), np.uint8))
    assert main(["electrode", str(path), "--nyquist", str(tmp_path / "out")]) == 0
    assert "no spectrum written" in caplog.text
    assert not list((tmp_path / "out").iterdir())


def test_rev_summary_without_percolation_or_spread():
    """No subvolume percolates: no edge estimate (it read "needs an edge of ~1 cells"); all
    subvolumes equal: any edge will do (it read "~0 cells")."""
    from ionflow.rev import representativeness

    blocked = np.ones((32, 32), bool)
    blocked[::2] = False  # insulating rows across the flow
    text = "\n".join(representativeness(blocked, samples=4).summary())
    assert "no subvolume percolates along axis 0" in text and "needs an edge" not in text
    text = "\n".join(representativeness(np.ones((32, 32), bool), samples=4).summary())
    assert "any edge will do" in text and "needs an edge" not in text


def test_electrode_labels_named_read_the_values_as_labels(tmp_path, capsys):
    """--conductive-label on a label image needed --labels too, and the refusal advised the
    option just given; on a 0/255 PNG the label is 255 (as stored)."""
    img = np.zeros((12, 8), np.uint8)
    img[:, 1::2] = 85
    img[:, 2::4] = 170
    path = tmp_path / "three.tif"
    tifffile.imwrite(path, img)
    assert main(["electrode", str(path), "--conductive-label", "85", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["electrolyte_fraction"] == pytest.approx(0.5)
    assert main(["electrode", str(path), "--conductive-label", "1"]) == 1
    assert "label 1 is not in the image (its values: 0, 85, 170)" in _one_error(capsys)


def test_an_all_matrix_image_is_not_called_insulating():
    from ionflow import simulate

    with pytest.raises(InputError, match="no electrolyte pixel"):
        simulate(np.zeros((4, 4)), matrix_conductivity=0.5)
    with pytest.raises(InputError, match="entirely insulating"):
        simulate(np.zeros((4, 4)))


def test_a_colour_image_is_not_read_as_labels(tmp_path, capsys):
    """Labels are gray levels: a true-colour PNG's luminances (18.3855, 54.1875) were taken as
    labels, and two colours of equal luminance would have merged. Gray saved as RGB reads."""
    from PIL import Image

    from ionflow.io import read_image

    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, ::2] = (255, 0, 0)
    rgb[:, 1::2] = (0, 0, 255)
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(InputError, match="colour image cannot be read as labels"):
        read_image(path, labels=True)
    assert main(["metrics", str(path), "--no-sizes", "--no-s2"]) == 1
    assert "cannot be read as labels" in _one_error(capsys)
    gray = tmp_path / "gray.png"
    Image.fromarray(np.repeat(np.where(rgb[..., :1] > 0, 85, 0), 3, axis=2).astype(np.uint8)).save(
        gray
    )
    assert set(np.unique(read_image(gray, labels=True)).tolist()) <= {0, 85}
    assert read_image(path).dtype == bool  # by brightness, as before


def test_export_params_reads_values_as_stored(tmp_path, capsys):
    """A 0/255 TIFF: the nonzero value is the electrolyte by default and can be named as
    stored (--electrolyte 1 failed while 1 worked by default); a label image's refusal names
    --electrolyte, not options export-params lacks."""
    img = np.zeros((16, 12, 12), np.uint8)
    img[:, ::3] = 255
    path = tmp_path / "binary.tif"
    tifffile.imwrite(path, img)
    args = ["export-params", "--positive", str(path), "--voxel-size", "1e-6"]
    assert main(args) == 0
    default = capsys.readouterr().err
    assert main([*args, "--electrolyte", "255"]) == 0
    assert capsys.readouterr().err == default
    assert main([*args, "--electrolyte", "1"]) == 1
    assert "its labels: [0, 255]" in _one_error(capsys)
    img[:, 1::3] = 128
    tifffile.imwrite(path, img)
    assert main(args) == 1
    err = _one_error(capsys)
    assert "--electrolyte L" in err and "--conductive-label" not in err
