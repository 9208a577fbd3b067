"""Files in, typed results out: ``simulate_files`` / ``predict_files`` and the holes of issue 10
(lost batches, tracebacks, silent wrong answers, stale resumes, concurrency, interruption)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose

import ionflow
from ionflow import InputError, ReadOptions, SolveOptions, simulate, simulate_files
from ionflow.cli import main
from ionflow.generate import disks
from ionflow.io import write_image


def rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def pngs(tmp_path):
    channels = np.ones((16, 16), bool)
    channels[:, ::4] = False  # straight channels along axis 0: exactly 0.75
    a = write_image(tmp_path / "a.png", channels)
    b = write_image(tmp_path / "b.png", np.ones((16, 16), bool))
    return tmp_path, str(a), str(b)


@pytest.fixture
def volume(tmp_path):
    vol = np.ones((8, 8, 8), bool)
    vol[:, ::2, :] = False  # blocked along axis 1, half the cross-section along 0 and 2
    return str(write_image(tmp_path / "vol.npy", vol))


# -- the library entry point ------------------------------------------------------------------


def test_simulate_files_equals_simulate_and_reads_once(pngs, volume, monkeypatch):
    d, a, b = pngs
    reads = []

    class Counting(ReadOptions):
        def read(self, path):
            reads.append(path)
            return super().read(path)

        __call__ = read

    out = list(simulate_files([a, volume, b], axes=None, read=Counting(), jobs=1))
    assert reads == [a, volume, b]  # each file once, for all its axes
    assert [(o.source, o.axis) for o in out] == [
        (a, 0), (a, 1), (volume, 0), (volume, 1), (volume, 2), (b, 0), (b, 1),
    ]  # fmt: skip
    for o in out:
        image = ionflow.read_image(o.source)
        assert_allclose(
            o.result.current, simulate(image, axis=o.axis).current, rtol=1e-12, atol=1e-15
        )
    vol = {o.axis: o for o in out if o.source == volume}
    assert vol[0].anisotropy == np.inf and vol[0].to_dict()["anisotropy"] is None
    assert out[-1].to_dict()["anisotropy"] == pytest.approx(1.0, rel=1e-12)  # uniform


def test_options_are_checked_once_up_front(tmp_path):
    for bad in (-1e-6, 0.0, np.inf, np.nan):
        with pytest.raises(InputError, match="pixel size must be a positive, finite"):
            SolveOptions(pixel_size=bad)
        with pytest.raises(InputError, match="pixel size"):
            simulate(np.ones((4, 4), bool), pixel_size=bad)  # the library refuses it too
    with pytest.raises(InputError, match="conductivity"):
        SolveOptions(conductivity=-1)
    with pytest.raises(InputError, match="--min-size"):
        ReadOptions(min_size=-2)
    with pytest.raises(InputError, match="axis must be 0, 1 or 2"):
        simulate_files([], axes=[-1])
    assert SolveOptions(label_conductivities={2: 1.0, 0: 0.5}).label_conductivities == (
        (0.0, 0.5),
        (2.0, 1.0),
    )


# -- hole 6: silent wrong answers ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1e-6", "0", "inf", "nan"])
@pytest.mark.parametrize("command", ["simulate", "predict"])
def test_bad_pixel_size_is_one_line(pngs, capsys, value, command):
    d, a, b = pngs
    assert main([command, a, f"--pixel-size={value}", "--json"]) == 1
    cap = capsys.readouterr()
    assert cap.out.strip() == ""
    assert "pixel size must be a positive, finite number" in one_error(cap.err)


@pytest.mark.parametrize("command", ["simulate", "predict"])
def test_negative_axis_is_refused(pngs, capsys, command):
    d, a, b = pngs
    assert main([command, a, "--axis", "-1"]) == 1
    assert "--axis must be 0, 1, 2 or 'all'" in one_error(capsys.readouterr().err)


def test_min_size_negative_or_larger_than_the_image(pngs, capsys):
    d, a, b = pngs
    assert main(["simulate", a, "--min-size", "-3"]) == 1
    assert "--min-size must be" in one_error(capsys.readouterr().err)
    assert main(["simulate", a, b, "--min-size", "1000", "--json"]) == 1
    cap = capsys.readouterr()
    assert len(cap.err.strip().splitlines()) == 2  # one line per file, no answer for either
    assert "larger than the image (256 pixels)" in cap.err and rows(cap.out) == []


# -- hole 5: tracebacks instead of messages -----------------------------------------------------


def test_output_folder_and_fields_file_are_one_line(pngs, capsys):
    d, a, b = pngs
    assert main(["simulate", a, "--output", str(d)]) == 1
    assert "is a folder" in one_error(capsys.readouterr().err)
    assert main(["simulate", a, "--fields", b]) == 1
    assert "is a file; the fields go into a folder" in one_error(capsys.readouterr().err)


@pytest.mark.parametrize("address", ["nonsense:::", "tcp://127.0.0.1:1"])
def test_bad_dask_scheduler_is_one_line(pngs, capsys, address):
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.distributed")
    d, a, b = pngs
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(["simulate", a, "--scheduler", address, "--json"]) == 1
    assert "cannot use the Dask scheduler" in one_error(capsys.readouterr().err)


# -- hole 7: stale results ----------------------------------------------------------------------


def test_resume_only_rows_made_with_the_same_options(pngs, capsys, caplog):
    d, a, b = pngs
    out = d / "runs.jsonl"
    assert main(["simulate", a, b, "--json", "--output", str(out)]) == 0
    first = rows(capsys.readouterr().out)
    assert len(first) == 2
    # other physics: not "done"; solved again, printed, appended (the old rows stay)
    assert main(["simulate", a, b, "--json", "--output", str(out), "--conductivity", "5"]) == 0
    again = rows(capsys.readouterr().out)
    assert [r["conductivity"] for r in again] == pytest.approx([3.75, 5.0])
    assert "made with other options (conductivity 1.0 here 5.0)" in caplog.text
    stored = rows(out.read_text())
    assert len(stored) == 4 and {r["options"]["solve"]["conductivity"] for r in stored} == {1, 5}
    # the same options again: all resumed, nothing printed
    caplog.clear()
    assert main(["simulate", a, b, "--json", "--output", str(out), "--conductivity", "5"]) == 0
    assert rows(capsys.readouterr().out) == [] and "other options" not in caplog.text
    # other read options count too
    assert main(["simulate", a, "--json", "--output", str(out), "--invert"]) == 0
    assert len(rows(capsys.readouterr().out)) == 1


def test_garbage_line_in_the_results_file_is_reported(pngs, capsys, caplog):
    d, a, b = pngs
    out = d / "runs.jsonl"
    assert main(["simulate", a, "--json", "--output", str(out)]) == 0
    with out.open("a") as fh:
        fh.write("this is not json\n")
        fh.write('{"file": "' + b + '", "axis": 0}\n')  # a row without options: not reused
    capsys.readouterr()
    assert main(["simulate", a, b, "--json", "--output", str(out)]) == 0
    assert [r["file"] for r in rows(capsys.readouterr().out)] == [b]
    assert "line 2 is not a result row" in caplog.text
    assert "made without recorded options" in caplog.text


# -- hole 8: concurrency and interruption -------------------------------------------------------


def test_second_run_on_one_output_is_refused(pngs, capsys):
    from ionflow.solve._resume import ResultsFile

    d, a, b = pngs
    out = d / "runs.jsonl"
    with ResultsFile(out, {"another": "run"}):  # holds the lock, as a running ionflow does
        assert main(["simulate", a, "--json", "--output", str(out)]) == 1
        cap = capsys.readouterr()
        assert "another ionflow run is writing to this file" in one_error(cap.err)
    assert out.read_text() == ""  # nothing was written twice
    assert main(["simulate", a, "--json", "--output", str(out)]) == 0  # the lock is gone


def test_interrupted_axis_all_keeps_every_finished_row(pngs, volume, capsys, monkeypatch):
    import ionflow.solve._files as files

    d, a, b = pngs
    out = d / "runs.jsonl"
    real = files._solve_file

    def interrupted(task, run):
        if task.source == b:
            raise KeyboardInterrupt  # Ctrl-C while the third file is being solved
        return real(task, run)

    monkeypatch.setattr(files, "_solve_file", interrupted)
    code = main(["simulate", volume, a, b, "--axis", "all", "--json", "--jobs", "1",
                 "--output", str(out)])  # fmt: skip
    cap = capsys.readouterr()
    assert code == 130 and f"results so far are kept in {out}" in cap.err
    kept = rows(out.read_text())
    assert [(r["file"], r["axis"]) for r in kept] == [
        (volume, 0), (volume, 1), (volume, 2), (a, 0), (a, 1),
    ]  # fmt: skip
    assert all("anisotropy" in r for r in kept)  # blocked along axis 1: None (infinite)
    monkeypatch.setattr(files, "_solve_file", real)
    assert main(["simulate", volume, a, b, "--axis", "all", "--json", "--output", str(out)]) == 0
    assert [(r["file"], r["axis"]) for r in rows(capsys.readouterr().out)] == [(b, 0), (b, 1)]


def test_pool_workers_die_with_their_parent():
    """A parent killed with SIGKILL cannot stop its workers; they must notice by themselves
    (they used to run on for the rest of their solve, 90 s and more)."""
    code = (
        "import time\n"
        "from ionflow._pool import process_pool\n"
        "pool = process_pool(2)\n"
        "futures = [pool.submit(time.sleep, 60) for _ in range(2)]\n"
        "time.sleep(0.5)\n"
        "print(*pool._processes, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in workers if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "workers outlived their parent"


def test_interrupted_parent_stops_its_workers_at_once():
    """Ctrl-C (or a caller that stops iterating) must not wait for the workers' current solves:
    they are stopped, and the process exits."""
    code = (
        "import time\n"
        "from ionflow.solve._batch import run_tasks\n"
        "it = run_tasks(time.sleep, [60, 60, 60], jobs=2)\n"
        "try:\n"
        "    next(it)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 20
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        with open(f"/proc/{parent.pid}/task/{parent.pid}/children") as fh:
            workers = [int(p) for p in fh.read().split()]
    time.sleep(0.5)  # the workers are inside time.sleep(60)
    started = time.monotonic()
    os.kill(parent.pid, signal.SIGINT)  # the parent only, as `kill -INT`
    out, err = parent.communicate(timeout=30)
    assert time.monotonic() - started < 10 and out.strip() == "interrupted", err
    assert "Traceback" not in err, err
    assert not [p for p in workers if os.path.exists(f"/proc/{p}")]


@pytest.mark.slow  # 5 s: three field pictures
def test_fields_of_every_axis_are_kept_apart(volume, tmp_path, capsys):
    out = tmp_path / "f"
    args = ["--fields", str(out), "--fields-format", "npy,png", "--json"]
    assert main(["simulate", volume, "--axis", "all", *args]) == 0
    assert len(rows(capsys.readouterr().out)) == 3
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"vol_axis{a}_{kind}" for a in range(3)
        for kind in ("current_density.npy", "fields.png", "potential.npy")
    )  # fmt: skip
    phi = np.load(out / "vol_axis2_potential.npy")
    assert phi.shape == (8, 8, 8) and np.nanmax(phi) <= 1.0


def test_simulate_files_on_dask_equals_local(pngs, volume):
    distributed = pytest.importorskip("dask.distributed")
    d, a, b = pngs
    local = list(simulate_files([a, volume, b], axes=None, jobs=1))
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = list(simulate_files([a, volume, b], axes=None, scheduler=client))
    assert [(o.source, o.axis, o.anisotropy) for o in remote] == [
        (o.source, o.axis, o.anisotropy) for o in local
    ]
    for x, y in zip(local, remote):
        assert_allclose(y.result.current, x.result.current, rtol=1e-9, atol=0)


def test_empty_folder_is_an_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["simulate"], ["predict"], ["segment", "--out", str(tmp_path / "o")]):
        assert main([*command, str(empty)]) == 1
        assert "empty: no image files" in one_error(capsys.readouterr().err)


def test_segment_same_stem_is_refused_not_overwritten(tmp_path, capsys):
    gray = np.where(disks((24, 24), electrolyte_fraction=0.7, rng=0), 200, 40).astype(np.uint8)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = write_image(tmp_path / "one" / "x.png", gray)
    second = write_image(tmp_path / "two" / "x.png", 255 - gray)
    out = tmp_path / "seg"
    assert main(["segment", str(first), str(second), "--out", str(out)]) == 1
    cap = capsys.readouterr()
    line = one_error(cap.err)
    assert str(second) in line and f"same name as {first}" in line
    assert len(cap.out.strip().splitlines()) == 1
    binary = ionflow.read_image(out / "x_binary.png")
    assert binary.mean() == pytest.approx((gray > 120).mean())  # the first one's, intact


def test_fields_of_same_stem_inputs_are_refused(tmp_path, capsys):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    a = write_image(tmp_path / "one" / "x.png", np.ones((8, 8), bool))
    b = write_image(tmp_path / "two" / "x.png", np.ones((8, 8), bool))
    assert main(["simulate", str(a), str(b), "--json", "--fields", str(tmp_path / "f")]) == 1
    cap = capsys.readouterr()
    assert "same name as" in one_error(cap.err) and len(rows(cap.out)) == 1


# -- hole 4: batches lose work (predict) --------------------------------------------------------


def test_predict_verify_failure_keeps_the_batch(pngs, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    import ionflow.solve

    d, a, b = pngs
    big = [write_image(d / f"d{i}.png", disks((64, 64), electrolyte_fraction=0.8, rng=i))
           for i in range(3)]  # fmt: skip
    real = ionflow.solve.simulate

    def failing(image, **kw):
        if kw.get("source", "").endswith("d1.png"):
            raise ionflow.ResourceError("would need 99 GB")  # e.g. a volume too large to solve
        return real(image, **kw)

    monkeypatch.setattr(ionflow.solve, "simulate", failing)
    assert main(["predict", *map(str, big), "--verify", "--json"]) == 1
    cap = capsys.readouterr()
    line = one_error(cap.err)
    assert "d1.png" in line and "99 GB" in line
    out = rows(cap.out)
    assert [r["file"].split("/")[-1] for r in out] == ["d0.png", "d1.png", "d2.png"]
    assert out[1]["solver_relative_conductivity"] is None
    assert out[0]["error_percent"] < 10 and out[2]["solver_relative_conductivity"] > 0


def test_predict_model_of_the_other_dimension(pngs, volume, capsys):
    pytest.importorskip("onnxruntime")
    from ionflow.surrogate import default_model_path

    d, a, b = pngs
    model = str(default_model_path(3))
    assert main(["predict", a, b, "--model", model, "--json"]) == 1
    cap = capsys.readouterr()
    assert cap.err.count("a 2D image for a 3D model") == 2 and "Traceback" not in cap.err


def _model_with(tmp_path, name, edit=None, tensors_from=2, meta_from=2):
    from safetensors.numpy import load_file, safe_open, save_file

    from ionflow.surrogate import default_model_path

    with safe_open(str(default_model_path(meta_from)), "numpy") as f:
        meta = json.loads(f.metadata()["ionflow"])
    if edit:
        edit(meta)
    path = tmp_path / name
    tensors = load_file(str(default_model_path(tensors_from)))
    save_file(tensors, str(path), metadata={"ionflow": json.dumps(meta)})
    return str(path)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m: m["metrics"]["conformal"].pop("quantile"), "conformal lacks its quantile"),
        (lambda m: m.update(members="zz"), "members must be a non-empty list"),
        (lambda m: m["data"]["stats"].update(shape="abc"), "stats.shape"),
    ],
)
def test_predict_model_with_foreign_metadata_is_one_line(pngs, capsys, tmp_path, edit, words):
    pytest.importorskip("onnxruntime")
    d, a, b = pngs
    model = _model_with(tmp_path, "edited.safetensors", edit)
    assert main(["predict", a, b, "--model", model]) == 1
    line = one_error(capsys.readouterr().err)
    assert "edited.safetensors: model metadata is corrupt" in line and words in line


@pytest.mark.slow  # 7 s: imports torch
def test_predict_model_whose_weights_do_not_fit_is_one_line(pngs, capsys, tmp_path):
    pytest.importorskip("torch")
    d, a, b = pngs
    model = _model_with(tmp_path, "mixed.safetensors", tensors_from=2, meta_from=3)
    assert main(["predict", a, "--model", model]) == 1
    assert "weights do not fit the networks" in one_error(capsys.readouterr().err)


def test_predict_model_that_breaks_while_running_is_one_line_per_file(pngs, capsys, monkeypatch):
    pytest.importorskip("onnxruntime")
    from ionflow.surrogate import Predictor

    d, a, b = pngs

    def broken(self, images, **kw):
        raise KeyError("quantile")  # what an edited calibration used to raise mid-batch

    monkeypatch.setattr(Predictor, "predict", broken)
    assert main(["predict", a, b, "--json"]) == 1
    cap = capsys.readouterr()
    errors = cap.err.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in cap.err
    assert all("not a usable ionflow model (KeyError" in e for e in errors)
    assert errors[0].startswith(f"ionflow: error: {a}:")
