"""Three-phase micrographs: gray-level classes, naming, which conducts, and the checks that say
what was taken (a particle-like electrolyte, the labels of a label image)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose

from ionflow import InputError, simulate
from ionflow.cli import main
from ionflow.generate import binder_labels, disks
from ionflow.io import ReadOptions, phase_thresholds, read_image, segment, write_image
from ionflow.io._phases import classify, electrolyte_warning, remove_label_specks

# gray levels of the rendered slice: pore (electrolyte) dark, binder between, active bright,
# as in an SEM image of an infiltrated composite cathode
PORE, ACTIVE, BINDER = 40.0, 200.0, 115.0
NAMES = ("pore", "binder", "active")  # darkest first


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """A rendered three-phase slice (noise sigma 14 gray levels) and its true labels
    (``binder_labels``: 0 pore, 1 active, 2 binder)."""
    labels = binder_labels((128, 128), electrolyte_fraction=0.45, binder_share=0.3, rng=0)
    rng = np.random.default_rng(1)
    gray = np.choose(labels, [PORE, ACTIVE, BINDER]) + rng.normal(0, 14, labels.shape)
    path = tmp_path_factory.mktemp("three") / "three.tif"
    tifffile.imwrite(path, np.clip(gray, 0, 255).astype(np.uint8))
    return path, labels


def test_otsu_lumps_binder_with_the_electrolyte_and_three_phases_do_not(three, caplog):
    path, labels = three
    truth = simulate(labels == 0).relative_conductivity
    assert 0.05 < truth < 0.1  # 0.0704 with these seeds
    # two phases: Otsu cuts between binder and active; bright = electrolyte takes the
    # particles, and a warning says the electrolyte looks like particles
    with caplog.at_level(logging.WARNING, logger="ionflow"):
        bright = read_image(path)
    assert any("looks like particles" in r.message for r in caplog.records)
    assert simulate(bright).relative_conductivity == 0  # the particles do not percolate
    # --invert: pore + binder conduct, twice the true value (2.15x measured)
    lumped = simulate(read_image(path, invert=True)).relative_conductivity
    assert lumped > 1.8 * truth
    # three phases by gray level, the darkest conducting: within 2 % (0.9975 measured)
    read = ReadOptions(phases=3, phase_names=NAMES, conductive_phases=("pore",))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ionflow"):
        image = read(path)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("conducting: pore" in r.message for r in caplog.records)
    assert (image == (labels == 0)).mean() > 0.99
    assert_allclose(simulate(image).relative_conductivity, truth, rtol=0.02)


def test_per_phase_conductivities_follow_the_true_labels(three):
    path, labels = three
    read = ReadOptions(phases=3, phase_names=NAMES, labels=True)
    classes = read(path)
    assert classes.dtype == np.uint8 and set(np.unique(classes)) == {0, 1, 2}
    sigma = read.phase_conductivities({"pore": 1.0, "binder": 0.1})
    assert sigma == {0.0: 1.0, 1.0: 0.1, 2.0: 0.0}  # active, not listed, insulates
    got = simulate(classes, label_conductivities=sigma).relative_conductivity
    want = simulate(labels, label_conductivities={0: 1.0, 1: 0.0, 2: 0.1}).relative_conductivity
    assert_allclose(got, want, rtol=0.02)  # 0.1077 vs 0.1079 measured


def _info(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ionflow.phases"]


def test_cli_three_phases_named_and_per_phase(three, capsys, caplog):
    path, labels = three
    base = ["simulate", str(path), "--phases", "3", "--phase-names", "pore,binder,active"]
    with caplog.at_level(logging.INFO, logger="ionflow.phases"):
        assert main([*base, "--conductive-phase", "pore", "--json"]) == 0
    # one info line: the phases by gray level and which conducts
    (line,) = _info(caplog)
    assert "phases by gray level" in line and line.endswith("conducting: pore")
    first = json.loads(capsys.readouterr().out)
    read = ReadOptions(phases=3, phase_names=NAMES, conductive_phases=("pore",))
    assert first["relative_conductivity"] == simulate(read(path)).relative_conductivity
    caplog.clear()
    args = ["--phase-conductivity", "pore=1", "--phase-conductivity", "binder=0.1", "--json"]
    with caplog.at_level(logging.INFO, logger="ionflow.phases"):
        assert main([*base, *args]) == 0
    sigma = {0: 1.0, 1: 0.0, 2: 0.1}
    want = simulate(labels, label_conductivities=sigma).relative_conductivity
    row = json.loads(capsys.readouterr().out)
    assert_allclose(row["relative_conductivity"], want, rtol=0.02)
    (line,) = _info(caplog)
    assert line.endswith(
        "phases pore (45 %), binder (17 %), active (38 %); conducting: pore "
        "(1 S/m), binder (0.1 S/m)"
    )
    # the cuts given by hand: the same classes as multi-Otsu's
    cuts = ",".join(f"{t:g}" for t in phase_thresholds(tifffile.imread(path), 3))
    assert main(["simulate", "--threshold", cuts, str(path), "--conductive-phase", "0"]) == 0
    assert f"{first['relative_conductivity']:.6g}" in capsys.readouterr().out


def test_phases_without_a_choice_are_refused_naming_them(three, capsys):
    path, _ = three
    with pytest.raises(InputError, match=r"pore \(gray <= 7\d.*45 %.*--conductive-phase"):
        ReadOptions(phases=3, phase_names=NAMES)(path)
    assert main(["simulate", str(path), "--phases", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cut into 3 phases by gray level, darkest first" in err


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"phases": 3, "phase_names": ("a", "b")}, "needs 3 different names"),
        ({"phases": 6}, "2 to 5"),
        ({"phases": 3, "conductive_phases": ("electrolyte",)}, "unknown phase 'electrolyte'"),
        ({"phases": 3, "conductive_phases": (3,)}, "unknown phase 3"),
        ({"phases": 3, "invert": True}, "--invert does not apply"),
        ({"conductive_phases": (0,), "conductive_labels": (0,)}, "--conductive-label names"),
        ({"threshold": (150, 80)}, "must increase"),
        ({"threshold": (80, 150), "phases": 4}, "needs 3 thresholds"),
    ],
)
def test_phase_options_are_checked_once(kwargs, match):
    with pytest.raises(InputError, match=match):
        ReadOptions(**kwargs)


def test_dark_electrolyte_without_invert(tmp_path, caplog):
    """Two phases, the electrolyte dark: --conductive-phase 0 equals --invert, and the
    electrolyte taken bright by default is flagged as particle-like."""
    truth = disks((96, 96), electrolyte_fraction=0.65, radius=(3, 6), rng=2)
    gray = np.where(truth, 60, 190).astype(np.uint8)
    gray = np.clip(gray + np.random.default_rng(0).normal(0, 10, gray.shape), 0, 255)
    write_image(tmp_path / "dark.tif", gray.astype(np.uint8))
    by_name = ReadOptions(phases=2, phase_names=("pore", "solid"), conductive_phases=("pore",))
    a = by_name(tmp_path / "dark.tif")
    b = read_image(tmp_path / "dark.tif", invert=True)
    assert np.array_equal(a, b) and (a == truth).mean() > 0.99
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    read_image(tmp_path / "dark.tif")  # bright = electrolyte: the particles
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "24 separate convex pieces" in record.getMessage()


def test_label_images_say_which_labels_conduct(tmp_path, capsys, caplog):
    labels = binder_labels((24, 24), electrolyte_fraction=0.5, rng=3).astype(np.uint8) * 85
    path = tmp_path / "lab.tif"
    write_image(path, labels)
    with caplog.at_level(logging.INFO, logger="ionflow.phases"):
        assert main(["simulate", str(path), "--conductive-label", "0"]) == 0
    (line,) = _info(caplog)
    assert line.startswith(f"{path}: labels 0 (") and line.endswith("conducting: 0")
    caplog.clear()
    args = ["--label-conductivity", "0=1", "--label-conductivity", "85=0"]
    with caplog.at_level(logging.INFO, logger="ionflow.phases"):
        assert main(["simulate", str(path), *args, "--label-conductivity", "170=0.5"]) == 0
    (line,) = _info(caplog)
    assert line.endswith("conducting: 0 (1 S/m), 170 (0.5 S/m)")
    # as a user sees it: one line on stderr, at the default verbosity
    run = subprocess.run(
        [sys.executable, "-m", "ionflow.cli", "simulate", str(path), "--conductive-label", "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stderr == f"ionflow: {line.split(';')[0]}; conducting: 0\n"


def test_particle_check_flags_particles_not_pore_space():
    d = disks((96, 96), electrolyte_fraction=0.6, radius=(3, 6), rng=1)
    # the particles (False) as electrolyte: isolated convex pieces while the pores span
    assert "looks like particles" in electrolyte_warning(~d, [("pore", d)])
    # the pore space: spans the image
    assert electrolyte_warning(d, [("solid", ~d)]) is None
    # low-fraction pore space cut off by particles is concave: not flagged
    low = disks((96, 96), electrolyte_fraction=0.3, rng=0)
    assert electrolyte_warning(low, [("solid", ~low)]) is None


def test_segment_three_phases_and_min_size():
    gray = np.zeros((30, 30))
    gray[:, 10:20], gray[:, 20:] = 100, 200
    gray[5, 5] = 200  # a one-pixel speck of the brightest class in the darkest
    classes, cuts = segment(gray, phases=3, return_threshold=True)
    assert cuts == (0.0, 100.0) and classes[5, 5] == 2  # three levels: cut at the levels
    assert np.array_equal(classify(gray, cuts), classes)
    clean = segment(gray, phases=3, min_size=2)
    assert clean[5, 5] == 0 and np.array_equal(clean[:, 10:], classes[:, 10:])
    assert remove_label_specks(classes, 1) is classes
    with pytest.raises(InputError, match="fewer than the 4 phases"):
        segment(gray, phases=4)


def test_segment_cli_writes_phases_and_histogram(three, tmp_path, capsys):
    path, _ = three
    args = ["segment", str(path), "--phases", "3", "--phase-names", "pore,binder,active"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert line[1].startswith("phases=pore:0.4") and line[2].startswith("thresholds=")
    classes = read_image(tmp_path / "three_phases.png", labels=True)
    assert set(np.unique(classes)) == {0, 1, 2}
    assert (tmp_path / "three_segmentation.png").stat().st_size > 10_000
    assert main([*args, "--conductive-phase", "pore", "--out", str(tmp_path / "b")]) == 0
    assert "electrolyte_fraction=0.4" in capsys.readouterr().out


def test_read_options_record_phases_only_when_set():
    """Rows of a results file written before the phase options existed still match."""
    assert set(ReadOptions().to_dict()) == {
        "threshold", "invert", "labels", "conductive_labels", "crop", "denoise", "min_size"
    }  # fmt: skip
    read = ReadOptions(phases=3, phase_names=NAMES, conductive_phases=("binder", "pore"))
    assert read.to_dict()["conductive_phases"] == [0, 1]
    assert read.to_dict()["phase_names"] == list(NAMES)
