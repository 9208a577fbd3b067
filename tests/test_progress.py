"""Long solves report progress: a log line per iteration (INFO) and a bar on stderr."""

import logging

import numpy as np

from ionflow import simulate
from ionflow.generate import generate
from ionflow.solve import _multigrid


def test_iterations_logged_with_accuracy_and_eta(monkeypatch, caplog, capsys):
    monkeypatch.setattr(_multigrid._Progress, "MIN_UNKNOWNS", 1000)
    vol = generate("disks", (24, 24, 24), electrolyte_fraction=0.6, rng=0)
    with caplog.at_level(logging.INFO, logger="ionflow.solve._multigrid"):
        res = simulate(vol, progress=True)
    lines = [r.getMessage() for r in caplog.records if "iteration" in r.getMessage()]
    assert len(lines) == res.iterations
    assert all("accuracy" in line and "ETA" in line for line in lines)
    assert "solve (" in capsys.readouterr().err  # the bar was drawn on stderr


def test_small_solves_stay_quiet(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="ionflow.solve._multigrid"):
        simulate(np.ones((8, 8, 8), bool), progress=True)
    assert not [r for r in caplog.records if "iteration" in r.getMessage()]
    assert capsys.readouterr().err == ""
