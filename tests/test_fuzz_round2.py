"""Holes found by the second fuzzing round: ``--label-conductivity`` values, uploads whose
pixels are no image, and a quiet Ctrl-C during a parallel batch or while the CLI imports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import ionflow
from ionflow.cli import main
from ionflow.cli._common import _attach_label_values, _label_map
from ionflow.errors import InputError
from ionflow.io import ReadOptions, write_image


def _rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def labels() -> np.ndarray:
    """Three labels in columns: 0, 1 and 2 (every column spans the flow axis 0)."""
    return np.tile(np.repeat(np.array([0, 1, 2], np.int16), 4), (12, 1))


# -- --label-conductivity ---------------------------------------------------------------------


def test_a_label_given_two_conductivities_is_refused(labels, tmp_path, capsys):
    path = str(write_image(tmp_path / "lab.npy", labels))
    args = ["simulate", path, "--json", "--label-conductivity", "1=1", "--label-conductivity"]
    assert main([*args, "0=0", "--label-conductivity", "2=0", "--label-conductivity", "0=5"]) == 1
    line = _one_error(capsys.readouterr().err)
    assert line == (
        "ionflow: error: --label-conductivity: label 0 is given two conductivities, 0=0 and 0=5"
    )
    # the same value twice, however written, is one
    assert _label_map(["0=1", "0.0=1", "1=0.5", "1=5e-1"]) == ((0.0, 1.0), (1.0, 0.5))
    assert main([*args, "0=0", "--label-conductivity", "2=0", "--label-conductivity", "0.0=0"]) == 0
    assert len(_rows(capsys.readouterr().out)) == 1


def test_a_phase_given_two_conductivities_is_refused():
    read = ReadOptions(phases=3, phase_names=("pore", "binder", "active"))
    with pytest.raises(InputError, match="^--label-conductivity: phase pore is given two "):
        _label_map(["pore=1", "0=2"], read)
    assert _label_map(["pore=1", "0=1", "active=0.1"], read) == ((0.0, 1.0), (1.0, 0.0), (2.0, 0.1))


@pytest.mark.parametrize("label", ["nan", "inf", "-inf", "NaN"])
def test_a_label_that_is_no_finite_number_is_refused(labels, tmp_path, capsys, label):
    path = str(write_image(tmp_path / "lab.npy", labels))
    assert main(["simulate", path, "--label-conductivity", f"{label}=5"]) == 1
    line = _one_error(capsys.readouterr().err)
    assert line == (
        f"ionflow: error: --label-conductivity {label}=5: a label must be a finite number, "
        f"got {label!r}"
    )


def test_negative_labels_are_values_not_options(labels, tmp_path, capsys):
    negative = labels.copy()
    negative[negative == 2] = -2
    pos = str(write_image(tmp_path / "pos.npy", labels))
    neg = str(write_image(tmp_path / "neg.npy", negative))
    given = ["--label-conductivity", "0=0", "--label-conductivity", "1=1"]
    assert main(["simulate", pos, "--json", *given, "--label-conductivity", "2=0.5"]) == 0
    expected = _rows(capsys.readouterr().out)[0]
    # as its own argument, abbreviated, and with the label given twice alike
    assert main(["simulate", neg, "--json", *given, "--label-conductivity", "-2=0.5"]) == 0
    assert main(["simulate", neg, "--json", "--label-cond", "-2=0.5", *given, "--phase-conductivity",
                 "-2.0=0.5"]) == 0  # fmt: skip
    got = _rows(capsys.readouterr().out)
    assert len(got) == 2
    for row in got:  # the same columns conduct: the same numbers
        assert_allclose(row["relative_conductivity"], expected["relative_conductivity"], rtol=1e-12)
        assert_allclose(row["current"], expected["current"], rtol=1e-12)
    assert main(["simulate", neg, *given, "--label-conductivity", "-2=0", "--label-conductivity",
                 "-2=1"]) == 1  # fmt: skip
    assert "label -2 is given two conductivities, -2=0 and -2=1" in capsys.readouterr().err


def test_only_negative_labels_after_the_option_are_attached():
    assert _attach_label_values(["simulate", "a.png", "--label-conductivity", "-2=1"]) == [
        "simulate", "a.png", "--label-conductivity=-2=1",
    ]  # fmt: skip
    unchanged = [
        ["simulate", "--label-conductivity", "2=1", "--phase-conductivity", "pore=1"],
        ["simulate", "--label-conductivity", "--labels"],  # a missing value stays an error
        ["simulate", "--label-conductivity", "-x=1"],  # not a number: argparse says so
        ["simulate", "--pixel-size", "-2=1"],
        ["simulate", "--", "--label-conductivity", "-2=1"],
    ]
    for argv in unchanged:
        assert _attach_label_values(argv) == argv


# -- uploads: the pixel checks of ionflow simulate --------------------------------------------


def _bad_pixels(folder: Path) -> dict[str, str]:
    """Files whose pixels are no image -> the reason ``ionflow simulate`` gives."""
    import tifffile

    grid = np.arange(64).reshape(8, 8) % 3 == 0
    nan = grid.astype(np.float32)
    nan[0, 0] = np.nan
    inf = grid.astype(np.float32)
    inf[0, 0] = np.inf
    arrays = {
        "bytes.npy": np.where(grid, b"a", b"b"),
        "text.npy": np.where(grid, "a", "b"),
        "dates.npy": grid.astype("datetime64[s]"),
        "record.npy": np.zeros((8, 8), dtype=[("a", "u1"), ("b", "f4")]),
        "void.npy": np.zeros((8, 8), dtype="V4"),
        "nan.npy": nan,
        "complex.npy": grid.astype(np.complex128),
    }
    for name, arr in arrays.items():
        np.save(folder / name, arr)
    tifffile.imwrite(folder / "nan.tif", nan)
    tifffile.imwrite(folder / "inf.tif", inf)
    tifffile.imwrite(folder / "complex.tif", grid.astype(np.complex64))
    nonfinite = "image contains NaN or infinite values"
    return {
        "bytes.npy": "unsupported pixel type |S1",
        "text.npy": "unsupported pixel type <U1",
        "dates.npy": "unsupported pixel type datetime64[s]",
        "record.npy": "unsupported pixel type [('a', 'u1'), ('b', '<f4')]",
        "void.npy": "unsupported pixel type |V4",
        "nan.npy": nonfinite,
        "complex.npy": "complex-valued pixels are not an image",
        "nan.tif": nonfinite,
        "inf.tif": nonfinite,
        "complex.tif": "complex-valued pixels are not an image",
    }


def test_uploads_of_pixels_that_are_no_image_get_the_commands_message(tmp_path, capsys):
    pytest.importorskip("fastapi", reason="ionflow app needs the app extra")
    pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
    from fastapi.testclient import TestClient

    from ionflow.app import AppConfig, create_app

    reasons = _bad_pixels(tmp_path)
    app = create_app(AppConfig(max_upload_mb=1))
    with TestClient(app, base_url="http://127.0.0.1") as client:  # a 500 would raise here
        for name, reason in reasons.items():
            r = client.post("/api/uploads", files={"file": (name, (tmp_path / name).read_bytes())})
            assert r.status_code == 422, (name, r.text)
            assert r.json()["detail"] == f"{name}: {reason}"
            # the command says the same about the same file
            assert main(["simulate", str(tmp_path / name), "--labels"]) == 1
            assert _one_error(capsys.readouterr().err) == (
                f"ionflow: error: {tmp_path / name}: {reason}"
            )
        good = tmp_path / "good.npy"
        np.save(good, np.arange(64).reshape(8, 8) % 3 == 0)
        r = client.post("/api/uploads", files={"file": ("good.npy", good.read_bytes())})
        assert r.status_code == 201 and r.json()["kind"] == "binary"


# -- Ctrl-C during a parallel batch -----------------------------------------------------------


def _batch(folder: Path, n: int) -> None:
    for i in range(n):
        image = ionflow.generate.disks((160, 160), electrolyte_fraction=0.7, rng=i)
        write_image(folder / f"im{i:02d}.png", image)


def test_ctrl_c_in_a_parallel_batch_is_one_line_and_a_rerun_completes(tmp_path, capsys):
    """Ctrl-C reaches the whole process group; ``timeout -s INT`` sends it twice. Neither the
    workers nor the interpreter's exit may add a traceback (``Exception ignored in: <module
    'threading'>``), and the rows written are kept for the rerun, which adds the rest once."""
    folder = tmp_path / "images"
    folder.mkdir()
    n = 40
    _batch(folder, n)
    out = tmp_path / "runs.jsonl"
    cmd = [sys.executable, "-m", "ionflow.cli", "simulate", str(folder), "--json", "--output",
           str(out), "--jobs", "2", "--no-progress"]  # fmt: skip
    run = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 1:
            break
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGINT)  # the terminal's Ctrl-C, and then as timeout does
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 130, err
    assert _one_error(err).startswith("ionflow: error: interrupted"), err
    kept = _rows(out.read_text())
    assert 1 <= len(kept) < n  # whole rows only: every line is JSON
    assert main(["simulate", str(folder), "--json", "--output", str(out), "--jobs", "2"]) == 0
    added = _rows(capsys.readouterr().out)
    keys = [(r["file"], r["axis"]) for r in _rows(out.read_text())]
    assert len(keys) == len(set(keys)) == n and len(kept) + len(added) == n


def test_an_interrupted_pool_restores_ctrl_c_and_leaves_no_thread():
    """The library side: a KeyboardInterrupt out of the iterator, the workers and the pool's
    thread gone at once, and SIGINT's default handler back (two Ctrl-C, one interruption)."""
    code = (
        "import os, signal, threading, time\n"
        "from ionflow.solve._batch import run_tasks\n"
        "it = run_tasks(time.sleep, [30, 30, 30], jobs=2)\n"
        "def ctrl_c():\n"
        "    time.sleep(0.5)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "threading.Thread(target=ctrl_c, daemon=True).start()\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    next(it)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', round(time.monotonic() - started) < 5)\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
        "print(sorted(t.name for t in threading.enumerate() if not t.daemon))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines() == ["interrupted True", "True", "['MainThread']"]


def test_ctrl_c_while_the_cli_imports_is_one_line(monkeypatch, capsys):
    """The ``ionflow`` command's entry (``ionflow.__main__``) says Ctrl-C during the CLI's
    import like Ctrl-C later: one line, exit 130, and a second Ctrl-C ignored meanwhile."""
    import signal
    import types

    from ionflow import __main__ as entry

    class Interrupting(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "ionflow.cli", Interrupting("ionflow.cli"))
    before = signal.getsignal(signal.SIGINT)
    try:
        assert entry.main() == 130
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    assert capsys.readouterr().err == "ionflow: error: interrupted\n"


def test_python_dash_m_ionflow_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "ionflow", "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.startswith("ionflow ")
