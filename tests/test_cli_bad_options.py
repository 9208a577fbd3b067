"""Bad option values and unusable outputs (found by fuzzing): one clear line on stderr, a
non-zero exit, no traceback, and nothing left behind."""

from __future__ import annotations

import numpy as np
import pytest

from ionflow.cli import main
from ionflow.io import write_image


@pytest.fixture
def image(tmp_path):
    """A 24x24 binary image with particles, conducting along both axes."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    img = np.ones((24, 24), bool)
    for cy, cx in rng.integers(0, 24, (5, 2)):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 9] = False
    return str(write_image(tmp_path / "good.png", img))


@pytest.fixture
def blocked_dir(tmp_path):
    """A folder that cannot be made: its parent is a file."""
    (tmp_path / "file").write_text("not a folder")
    return str(tmp_path / "file" / "out")


def one_error(capsys, code: int, expected: int = 1, *, no_output: bool = False) -> str:
    """The single stderr line of a failed command (after checking the exit code); with
    ``no_output``, also that nothing reached stdout (refused before any work)."""
    out, err = capsys.readouterr()
    assert code == expected, err
    assert not (no_output and out), out
    assert "Traceback" not in err and "Warning" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ionflow: error: ")
    return lines[0]


def test_rev_confidence_target_alpha(image, capsys):
    for flag, value, words in [
        ("--confidence", "2", "confidence must lie strictly between 0 and 1"),
        ("--target", "0", "target must be a relative half-width strictly between 0 and 1"),
        ("--alpha", "nan", "alpha must be a positive number"),
        ("--samples", "1", "--samples must be at least 2"),
    ]:
        line = one_error(capsys, main(["rev", image, "--no-progress", flag, value]))
        assert words in line
    # the spread falls at most as L^-d/2: 1 in 2D (checked per image, before any solve)
    line = one_error(capsys, main(["rev", image, "--no-progress", "--alpha", "1.5"]))
    assert "good.png: alpha must be in (0, 1] for a 2D image" in line


def test_generate_refuses_bad_sizes_and_counts(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "gen")
    cases = [
        (["--radius", "0"], "radius must be a positive, finite number of cells, got 0.0"),
        (["--radius", "inf"], "radius must be a positive, finite number of cells, got inf"),
        (["--radius", "5", "2"], "radius range must satisfy 0 < min <= max"),
        (["--radius", "1", "2", "3"], "--radius takes one radius or MIN MAX, got 3 values"),
        (["--count", "-1"], "--count must be at least 1, got -1"),
        (["--count", "0"], "--count must be at least 1, got 0"),
    ]
    for extra, words in cases:
        line = one_error(capsys, main(["generate", "disks", "--out", out, *extra]))
        assert words in line
    line = one_error(capsys, main(["generate", "blobs", "--out", out, "--radius", "3"]))
    assert "--radius does not apply to blobs" in line
    monkeypatch.setenv("IONFLOW_MEMORY_LIMIT", str(2**20))  # 1 MiB: nothing big fits
    line = one_error(
        capsys, main(["generate", "disks", "--out", out, "--shape", "100000", "100000", "100000"])
    )
    assert "volume 100000x100000x100000 needs about" in line and "GiB available" in line
    assert not (tmp_path / "gen").exists()  # refused before the folder was made


def test_output_folders_that_cannot_be_made(image, blocked_dir, tmp_path, capsys):
    commands = [
        ["segment", image, "--out", blocked_dir],
        ["generate", "disks", "--shape", "16", "16", "--out", blocked_dir],
        ["electrode", image, "--nyquist", blocked_dir],
        ["profile", image, "--plot", blocked_dir],
        ["rev", image, "--no-progress", "--plot", blocked_dir],
        ["dataset", f"{blocked_dir}/ds.h5", "--shape", "16", "16", "--train", "2"]
        + ["--val", "0", "--test", "0", "--no-progress"],
    ]
    for argv in commands:
        line = one_error(capsys, main(argv), no_output=True)  # before any work or table head
        assert f"cannot create output folder {blocked_dir}: Not a directory" in line, argv


def test_dataset_counts_checked_before_anything_is_made(tmp_path, capsys):
    out = tmp_path / "ds.h5"
    line = one_error(
        capsys, main(["dataset", str(out), "--train", "-1", "--val", "0", "--test", "0"])
    )
    assert "split 'train' must have a whole number of images >= 0, got -1" in line
    line = one_error(
        capsys, main(["dataset", str(out), "--train", "0", "--val", "0", "--test", "0"])
    )
    assert "a dataset needs at least one image" in line
    assert list(tmp_path.iterdir()) == []  # no ds.h5.partial/ left behind


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--voltage", "nan", "voltage must be a finite non-zero number, got nan"),
        ("--conductivity", "-1", "conductivity must be a positive, finite number, got -1.0"),
    ],
)
def test_predict_checks_physics_as_simulate(image, capsys, flag, value, words):
    for command in ("simulate", "predict"):
        line = one_error(capsys, main([command, image, "--no-progress", flag, value]))
        assert words in line


def test_threshold_count_is_named(image, capsys):
    line = one_error(capsys, main(["simulate", image, "--threshold", "1,2,3,4,5,6,7"]))
    assert "--threshold has 7 values, which cut 8 phases; give at most 4" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--pixel-size", "1e-300"],
        ["simulate", "--pixel-size", "1e-6", "1e300"],
        ["predict", "--no-progress", "--pixel-size", "1e-300"],
        ["profile", "--pixel-size", "1e-300"],
        ["rev", "--no-progress", "--pixel-size", "1e300"],
    ],
)
def test_pixel_sizes_that_under_or_overflow(image, capsys, argv):
    line = one_error(capsys, main([*argv[:1], image, *argv[1:]]))
    assert "--pixel-size" in line and "is out of range: give a value between 1e-30 and" in line


@pytest.mark.parametrize(
    "args",
    [
        ["--matrix-conductivity", "1e200"],
        ["--conductivity", "1e-40"],
        ["--label-conductivity", "0=1e40", "--label-conductivity", "255=1"],
    ],
)
def test_conductivities_that_overflow(image, capsys, args):
    line = one_error(capsys, main(["simulate", image, *args]))
    assert "is out of range: give a value between 1e-30 and 1e+30 S/m" in line


def test_label_lists_are_shortened():
    from ionflow.io._phases import label_census

    census = label_census(np.arange(4096.0).reshape(64, 64) / 4096, {0.0: 1.0})
    assert "... (4096 in all)" in census and len(census) < 300


def test_file_error_once_with_axis_all(tmp_path, capsys):
    path = str(write_image(tmp_path / "black.npy", np.zeros((6, 6, 6), bool)))
    line = one_error(capsys, main(["simulate", path, "--axis", "all", "--json"]))
    assert line.endswith("black.npy: image is entirely insulating (no conductive pixel)")


def test_predict_refuses_too_thin_volume_quietly(tmp_path, capfd):
    pytest.importorskip("onnxruntime")
    from ionflow.surrogate import Predictor, default_model_path

    path = str(write_image(tmp_path / "thin.npy", np.ones((16, 32, 1), bool)))
    # capfd: onnxruntime logs from C++ straight to file descriptor 2
    line = one_error(capfd, main(["predict", path, "--no-progress", "--json"]), no_output=True)
    assert "thin.npy: image too small for the 3D model (16x32x1): it needs at least 7" in line
    # the network runtime itself, fed a shape it cannot take, raises without its own log line
    predictor = Predictor(default_model_path(3))
    assert predictor.min_size == 7
    with pytest.raises(Exception, match="Invalid input shape"):
        predictor.runner(np.ones((1, 2, 32, 32), bool))
    assert capfd.readouterr().err == ""


def test_images_too_small_for_profile_and_rev(tmp_path, capsys):
    path = str(write_image(tmp_path / "tiny.png", np.ones((1, 4), bool)))
    line = one_error(capsys, main(["profile", path]))
    assert "tiny.png: image too small for profile (1x4): needs at least 2 cells" in line
    line = one_error(capsys, main(["rev", path, "--no-progress"]))
    assert "tiny.png: image too small for rev (1x4): needs at least 2 cells" in line


def test_export_params_says_file_not_found_first(tmp_path, capsys):
    line = one_error(capsys, main(["export-params", "--positive", str(tmp_path / "no.tif")]))
    assert line.endswith("no.tif: file not found")
    (tmp_path / "empty.npy").write_bytes(b"")
    line = one_error(capsys, main(["export-params", "--positive", str(tmp_path / "empty.npy")]))
    assert "no voxel size" not in line and "empty.npy" in line


def test_library_refuses_what_the_cli_refuses():
    """The bounds of the command line hold for the Python API too (one InputError line)."""
    import numpy as np

    from ionflow import InputError, simulate
    from ionflow.solve import depth_profile

    img = np.ones((6, 5), bool)
    for kwargs, text in (
        ({"pixel_size": 1e-300}, "pixel size 1e-300 m is out of range"),
        ({"matrix_conductivity": 1e200}, "matrix conductivity 1e\\+200 S/m is out of range"),
        ({"voltage": 1e40}, "voltage 1e\\+40 V is out of range"),
        ({"label_conductivities": {0: 0.0, 1: 1e-40}}, "0 or between 1e-30 and 1e\\+30"),
    ):
        with pytest.raises(InputError, match=text):
            simulate(img, **kwargs)
    labels = np.arange(60).reshape(6, 10) % 30
    with pytest.raises(InputError) as info:
        simulate(labels, label_conductivities={0: 1.0, 1: 0.5})
    assert "(28 in all)" in str(info.value) and len(str(info.value)) < 200
    with pytest.raises(InputError, match="image too small for a depth profile"):
        depth_profile(np.ones((1, 4), bool), axis=0)


def test_results_to_a_device_and_never_onto_an_image(tmp_path):
    """--output /dev/null streams (no fsync, lock or resume on a device); an existing file
    that is not JSON lines (an image given by mistake) is refused, untouched."""
    import subprocess
    import sys

    from PIL import Image

    img = tmp_path / "a.png"
    Image.fromarray(((np.indices((16, 16)).sum(0) % 5 > 0) * 255).astype(np.uint8)).save(img)
    before = img.read_bytes()
    run = [sys.executable, "-m", "ionflow.cli", "simulate", str(img), "--json", "--output"]
    ok = subprocess.run([*run, "/dev/null"], capture_output=True, text=True)
    assert ok.returncode == 0 and "Traceback" not in ok.stderr
    bad = subprocess.run([*run, str(img)], capture_output=True, text=True)
    assert bad.returncode != 0 and "is not a results file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and img.read_bytes() == before


def test_control_characters_in_file_names_stay_on_one_line(tmp_path):
    """A newline or a terminal escape in a file name is written as an escape: the error stays
    one line and cannot recolour the terminal."""
    import subprocess
    import sys

    bad = tmp_path / "two\nlines\x1b[31m.png"
    bad.write_bytes(b"not a png")
    run = subprocess.run(
        [sys.executable, "-m", "ionflow.cli", "simulate", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "two\\nlines\\x1b[31m.png" in lines[0] and "\x1b" not in run.stderr


def test_conductivity_with_label_conductivities_is_refused(tmp_path, capsys):
    """--conductivity and --matrix-conductivity would be ignored next to
    --label-conductivity (each label's value sets it): one line instead of a silent no-op."""
    import tifffile

    from ionflow import InputError, simulate

    img = np.array([[1, 2], [1, 2]], np.uint8)
    with pytest.raises(InputError, match="conductivity does not apply"):
        simulate(img, conductivity=5.0, label_conductivities={1: 1.0, 2: 2.0})
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, img)
    labels = ["--label-conductivity", "1=1", "--label-conductivity", "2=2"]
    for flag in ("--conductivity", "--matrix-conductivity"):
        for command in ("simulate", "tensor"):
            assert main([command, str(path), *labels, flag, "3"]) == 1
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and f"{flag} does not apply with --label-conductivity" in err[0]
