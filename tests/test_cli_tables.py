"""Tables people paste elsewhere (--csv), file names that tell files apart, --help defaults."""

from __future__ import annotations

import argparse
import csv
import io
import json

import pytest

from ionflow.cli import build_parser, main
from ionflow.generate import blobs
from ionflow.io import short_names, write_image


@pytest.fixture
def twins(tmp_path):
    """Two different images with the same file name, in two folders."""
    paths = []
    for i, run in enumerate(("run1", "run2")):
        path = tmp_path / run / "slice.png"
        write_image(path, blobs((24, 24), electrolyte_fraction=0.6 + 0.2 * i, rng=i))
        paths.append(str(path))
    return paths


def test_short_names_tell_same_named_files_apart(tmp_path):
    names = short_names(["a/run1/x.png", "b/run2/x.png", "c/y.png", "c/y.png", "q/r/z.tif",
                         "p/r/z.tif"])  # fmt: skip
    assert names == {
        "a/run1/x.png": "run1/x.png",
        "b/run2/x.png": "run2/x.png",
        "c/y.png": "y.png",
        "q/r/z.tif": "q/r/z.tif",
        "p/r/z.tif": "p/r/z.tif",
    }


def test_simulate_table_shows_enough_of_the_path(twins, capsys):
    assert main(["simulate", *twins]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("run1/slice.png ") and lines[2].startswith("run2/slice.png ")


def test_simulate_csv_equals_json(twins, capsys):
    assert main(["simulate", *twins, "--axis", "all", "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(["simulate", *twins, "--axis", "all", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(table) == len(rows) == 4  # one row per file and axis
    for got, want in zip(table, rows):
        assert got["file"] == want["file"] and int(got["axis"]) == want["axis"]
        assert float(got["relative_conductivity"]) == want["relative_conductivity"]
        assert got["shape"] == "24x24" and got["pixel_size"] == ""  # None: empty
        assert (float(got["anisotropy"]) if got["anisotropy"] else None) == want["anisotropy"]
    with pytest.raises(SystemExit):  # one output format at a time
        main(["simulate", *twins, "--csv", "--json"])


def test_predict_csv_and_table(twins, capsys):
    assert main(["predict", *twins, "--csv", "--no-progress"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["file"] for r in table] == twins
    lo, hi = float(table[0]["interval_low"]), float(table[0]["interval_high"])
    assert lo <= float(table[0]["relative_conductivity"]) <= hi
    assert main(["predict", *twins, "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("run1/slice.png ") and lines[2].startswith("run2/slice.png ")


def _subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize(
    "command", ["simulate", "segment", "generate", "dataset", "train", "evaluate", "predict"]
)
def test_help_shows_every_default(command):
    parser = _subcommands()[command]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.option_strings[0]} has no help"
        default = action.default
        if action.help == argparse.SUPPRESS or default in (None, False):
            continue
        shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
        assert f"default: {shown}" in text or "default" in action.help.lower(), (
            f"{command} {action.option_strings[0]}: default {shown} not in the help"
        )


def test_help_states_units():
    text = " ".join(_subcommands()["simulate"].format_help().split())
    assert "electrolyte conductivity sigma, in S/m (default: 1.0)" in text
    assert "relative accuracy of the reported current (dimensionless) (default: 1e-09)" in text
    assert "applied voltage V, in V (default: 1.0)" in text
    train = " ".join(_subcommands()["train"].format_help().split())
    assert "in minutes" in train and "peak learning rate (AdamW) (default: 0.002)" in train
    generate = " ".join(_subcommands()["generate"].format_help().split())
    assert "electrolyte volume fraction (0..1) (default: 0.8)" in generate
