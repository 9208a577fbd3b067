"""``ionflow app``: the JSON API with FastAPI's TestClient (no server, no browser)."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "fastapi", reason="ionflow app needs the app extra (pip install 'ionflow[app]')"
)
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

from fastapi.testclient import TestClient  # noqa: E402

import ionflow  # noqa: E402
from ionflow.app import AppConfig, create_app, serve  # noqa: E402
from ionflow.app._jobs import JobStore  # noqa: E402
from ionflow.cli import main  # noqa: E402
from ionflow.errors import InputError, IonflowError  # noqa: E402
from ionflow.io import read_image, write_image  # noqa: E402
from ionflow.surrogate import Predictor, default_model_path  # noqa: E402

EXAMPLES = Path(ionflow.__file__).parent / "data" / "examples"


@pytest.fixture(scope="module")
def client():
    app = create_app(AppConfig(max_upload_mb=0.5))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def _upload(client, path: Path, name: str | None = None):
    return client.post("/api/uploads", files={"file": (name or path.name, path.read_bytes())})


def _run(client, upload_id: str, timeout: float = 120, **body) -> dict:
    r = client.post(f"/api/uploads/{upload_id}/jobs", json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "error"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def _rows(job: dict, kind: str) -> dict[int, dict]:
    return {r["axis"]: r for r in job["result"]["results"] if r["kind"] == kind}


@pytest.fixture
def gray_png(tmp_path) -> Path:
    """An SEM-like 8-bit image: bright electrolyte, dark particles, noise."""
    rng = np.random.default_rng(3)
    particles = ionflow.generate.disks((48, 48), electrolyte_fraction=0.7, rng=3)
    gray = np.where(particles, 170.0, 70.0) + rng.normal(0, 25, particles.shape)
    path = tmp_path / "sem.png"
    write_image(path, np.clip(gray, 0, 255).astype(np.uint8))
    return path


@pytest.mark.parametrize(
    ("name", "axis", "axes"),
    [
        ("disks_0.6.png", "0", [0]),
        ("ellipses_0.75.png", "1", [1]),
        ("spheres_0.45_64cube.tif", "all", [0, 1, 2]),
    ],
)
def test_example_numbers_are_simulate_and_predict_exactly(client, name, axis, axes):
    path = EXAMPLES / name
    r = _upload(client, path)
    assert r.status_code == 201, r.text
    info = r.json()
    image = read_image(path)
    assert info["shape"] == list(image.shape) and info["kind"] == "binary"
    job = _run(client, info["id"], axis=axis)
    assert job["state"] == "done", job["error"]
    assert job["step"] == job["total"]
    exact, predicted = _rows(job, "exact"), _rows(job, "surrogate")
    assert sorted(exact) == sorted(predicted) == axes
    model = Predictor(default_model_path(image.ndim))
    for a in axes:
        want = ionflow.simulate(image, axis=a).to_dict()
        assert {k: exact[a][k] for k in want} == want  # same numbers, to the last bit
        guess = model.predict([image], axis=a)[0].to_dict()
        assert {k: predicted[a][k] for k in guess} == guess
        assert predicted[a]["error_percent"] == pytest.approx(
            abs(guess["relative_conductivity"] / want["relative_conductivity"] - 1) * 100
        )
    if len(axes) > 1:
        values = [exact[a]["relative_conductivity"] for a in axes]
        assert exact[0]["anisotropy"] == pytest.approx(max(values) / min(values))


def test_command_shown_gives_the_same_numbers(client, gray_png, capsys):
    info = _upload(client, gray_png).json()
    options = {"threshold": 110.0, "invert": False, "min_size": 4}
    job = _run(client, info["id"], options=options, axis="1", surrogate=False)
    result = job["result"]
    command = shlex.split(result["command"])
    assert command[:3] == ["ionflow", "simulate", "sem.png"]
    assert main([*command[1:2], str(gray_png), *command[3:], "--json", "--no-progress"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    (exact,) = result["results"]
    assert exact["axis"] == row["axis"] == 1
    assert exact["relative_conductivity"] == pytest.approx(row["relative_conductivity"], rel=1e-12)
    assert exact["electrolyte_fraction"] == row["electrolyte_fraction"]


def test_grayscale_threshold_preview_matches_the_solve(client, gray_png):
    info = _upload(client, gray_png).json()
    assert info["kind"] == "grayscale" and info["values"] == []
    from skimage.filters import threshold_otsu

    gray = ionflow.io.read_gray(gray_png)  # raw gray levels (uint8: Otsu on integer bins)
    assert info["default_threshold"] == threshold_otsu(gray)
    r = client.post(f"/api/uploads/{info['id']}/segmentation", json={})
    assert r.status_code == 200
    assert r.json()["threshold"] == pytest.approx(info["default_threshold"])
    assert r.json()["image"].startswith("data:image/png;base64,")
    for threshold, invert in [(90.0, False), (150.0, True)]:
        options = {"threshold": threshold, "invert": invert}
        seg = client.post(f"/api/uploads/{info['id']}/segmentation", json={"options": options})
        want = (gray > threshold) != invert
        assert seg.json()["electrolyte_fraction"] == pytest.approx(want.mean())
        assert seg.json()["threshold"] == threshold
        job = _run(client, info["id"], options=options, surrogate=False)
        (row,) = job["result"]["results"]
        assert row["electrolyte_fraction"] == pytest.approx(want.mean())
        solved = ionflow.simulate(read_image(gray_png, threshold=threshold, invert=invert))
        assert row["relative_conductivity"] == solved.relative_conductivity


def test_label_image_choose_the_conducting_label(client, tmp_path):
    labels = np.zeros((40, 40), np.uint8)
    labels[:, :15] = 1
    labels[:, 15:22] = 2  # a straight channel of each label along axis 0
    path = tmp_path / "labels.png"
    write_image(path, labels)
    info = _upload(client, path).json()
    assert info["kind"] == "labels" and info["values"] == [0.0, 1.0, 2.0]
    # which label conducts is asked, never guessed
    seg = client.post(f"/api/uploads/{info['id']}/segmentation", json={})
    assert seg.status_code == 200 and "choose which label conducts" in seg.json()["warning"]
    job = _run(client, info["id"])
    assert job["state"] == "error" and "choose which label conducts" in job["error"]
    for label, width in [(1, 15), (2, 7)]:
        options = {"conductive_label": label}
        seg = client.post(f"/api/uploads/{info['id']}/segmentation", json={"options": options})
        assert seg.json()["electrolyte_fraction"] == pytest.approx(width / 40)
        job = _run(client, info["id"], options=options)
        # straight channels along the flow: sigma_eff / sigma = fraction (exact)
        assert _rows(job, "exact")[0]["relative_conductivity"] == pytest.approx(width / 40)


@pytest.fixture
def three_phase_png(tmp_path) -> Path:
    """A cathode-like gray image: pore (dark), active (bright), binder (between), noise."""
    labels = ionflow.generate.binder_labels((64, 64), electrolyte_fraction=0.45, rng=0)
    gray = np.array([40.0, 200.0, 115.0])[labels] + np.random.default_rng(1).normal(
        0, 6, labels.shape
    )
    path = tmp_path / "cathode.png"
    write_image(path, np.clip(gray, 0, 255).astype(np.uint8))
    return path


@pytest.mark.parametrize("cuts", [None, [80.0, 157.25]])
def test_three_phases_give_the_commands_number(client, three_phase_png, capsys, cuts):
    info = _upload(client, three_phase_png).json()
    assert info["kind"] == "grayscale"
    names = ["pore", "binder", "active"]
    options = {"phases": 3, "phase_names": names, "conductive_phases": ["pore"]}
    if cuts is not None:
        options["threshold"] = cuts
    seg = client.post(f"/api/uploads/{info['id']}/segmentation", json={"options": options})
    assert seg.status_code == 200, seg.text
    preview = seg.json()
    assert preview["phase_names"] == names and preview["conductive_phases"] == [0]
    assert preview["threshold"] is None and len(preview["thresholds"]) == 2
    if cuts is None:  # multi-level Otsu of the file's gray levels, as the reader cuts them
        from skimage.filters import threshold_multiotsu

        gray = ionflow.io.read_gray(three_phase_png)
        assert preview["thresholds"] == threshold_multiotsu(gray, classes=3).tolist()
    else:
        assert preview["thresholds"] == cuts
    assert sum(preview["phase_fractions"]) == pytest.approx(1.0)
    job = _run(client, info["id"], options=options, surrogate=False)
    assert job["state"] == "done", job["error"]
    result = job["result"]
    (row,) = result["results"]
    assert row["electrolyte_fraction"] == pytest.approx(preview["electrolyte_fraction"])
    assert preview["electrolyte_fraction"] == pytest.approx(preview["phase_fractions"][0], abs=0.01)
    command = shlex.split(result["command"])
    assert command[3:] == [
        "--phases", "3", "--phase-names", "pore,binder,active",
        *(["--threshold", "80,157.25"] if cuts else []), "--conductive-phase", "pore",
    ]  # fmt: skip
    assert main(["simulate", str(three_phase_png), *command[3:], "--json", "--no-progress"]) == 0
    cli = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["relative_conductivity"] == cli["relative_conductivity"]  # to the last bit
    assert row["electrolyte_fraction"] == cli["electrolyte_fraction"]
    # and the short form of the brief: --phases 3 --conductive-phase NAME (index names)
    if cuts is None:
        plain = {"phases": 3, "conductive_phases": ["0"]}
        job = _run(client, info["id"], options=plain, surrogate=False)
        assert "--phases 3 --conductive-phase 0" in job["result"]["command"]
        argv = ["simulate", str(three_phase_png), "--phases", "3", "--conductive-phase", "0"]
        assert main([*argv, "--json", "--no-progress"]) == 0
        cli = json.loads(capsys.readouterr().out.splitlines()[0])
        (again,) = job["result"]["results"]
        assert again["relative_conductivity"] == cli["relative_conductivity"]
        assert again["relative_conductivity"] == row["relative_conductivity"]


def test_bad_phase_choices_get_a_message(client, three_phase_png):
    info = _upload(client, three_phase_png).json()
    names = ["pore", "binder", "active"]
    bad = [
        ({"phases": 3}, "choose which phase conducts"),
        ({"phases": 3, "conductive_phases": ["electrolyte"]}, "unknown phase 'electrolyte'"),
        ({"phases": 3, "conductive_phases": ["5"]}, "unknown phase '5'"),
        ({"phases": 7, "conductive_phases": ["0"]}, "--phases must be 2 to 5"),
        ({"phases": 3, "phase_names": ["a", "b"], "conductive_phases": ["a"]}, "3 different names"),
        ({"phases": 3, "phase_names": ["a", "a", "b"], "conductive_phases": ["a"]}, "different"),
        ({"phases": 3, "phase_names": names, "conductive_phases": ["pore"], "invert": True},
         "--invert does not apply"),
        ({"phases": 3, "conductive_phases": ["0"], "threshold": [150.0, 90.0]}, "must increase"),
        ({"phases": 3, "conductive_phases": ["0"], "threshold": [90.0]}, "needs 2 thresholds"),
        ({"phases": 3, "phase_names": ["a,b", "c", "d"], "conductive_phases": ["c"]}, "commas"),
    ]  # fmt: skip
    for options, words in bad:
        r = client.post(f"/api/uploads/{info['id']}/jobs", json={"options": options})
        assert r.status_code == 422 and words in r.json()["detail"], (options, r.text)
    # the preview asks for the choice instead of refusing, and refuses the rest
    seg = client.post(f"/api/uploads/{info['id']}/segmentation", json={"options": bad[0][0]})
    assert seg.status_code == 200 and "choose which phase conducts" in seg.json()["warning"]
    assert seg.json()["electrolyte_fraction"] == 0 and len(seg.json()["phase_fractions"]) == 3
    for options, words in bad[1:4]:
        seg = client.post(f"/api/uploads/{info['id']}/segmentation", json={"options": options})
        assert seg.status_code == 422 and words in seg.json()["detail"], (options, seg.text)
    # phases by gray level on an image that is not grayscale
    binary = _upload(client, EXAMPLES / "disks_0.8.png").json()
    options = {"phases": 3, "conductive_phases": ["0"]}
    r = client.post(f"/api/uploads/{binary['id']}/jobs", json={"options": options})
    assert r.status_code == 422 and "grayscale images only" in r.json()["detail"]


def test_bad_uploads_get_a_message_and_the_server_keeps_serving(client, tmp_path):
    r = client.post("/api/uploads", files={"file": ("notes.txt", b"hello")})
    assert r.status_code == 415 and "not an image file" in r.json()["detail"]
    r = client.post("/api/uploads", files={"file": ("fake.png", b"not a png at all")})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("fake.png: not a readable PNG") and "ionflow-app-" not in detail
    r = client.post("/api/uploads", files={"file": ("big.tif", b"\0" * 600_000)})
    assert r.status_code == 413
    assert "0.6 MB" in r.json()["detail"] and "limit is 0.5 MB" in r.json()["detail"]
    black = tmp_path / "black.png"
    write_image(black, np.zeros((16, 16), bool))
    r = _upload(client, black)
    assert r.status_code == 422 and "entirely insulating" in r.json()["detail"]
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert _upload(client, empty).status_code == 422
    volume = tmp_path / "four.npy"
    np.save(volume, np.ones((2, 3, 4, 5)))
    r = _upload(client, volume)
    assert r.status_code == 422 and "four.npy" in r.json()["detail"]
    # still serving
    assert client.get("/api/info").status_code == 200
    assert _upload(client, EXAMPLES / "blobs_0.7.png").status_code == 201


def test_bad_runs_and_unknown_ids(client, gray_png):
    info = _upload(client, EXAMPLES / "disks_0.8.png").json()
    r = client.post(f"/api/uploads/{info['id']}/jobs", json={"axis": "2"})
    assert r.status_code == 422 and "axis 2 does not exist" in r.json()["detail"]
    r = client.post(f"/api/uploads/{info['id']}/jobs", json={"exact": False, "surrogate": False})
    assert r.status_code == 422 and "nothing to run" in r.json()["detail"]
    r = client.post(f"/api/uploads/{info['id']}/jobs", json={"conductivity": -1})
    assert r.status_code == 422
    gray = _upload(client, gray_png).json()
    options = {"threshold": 1000.0}  # above every gray level: nothing conducts
    seg = client.post(f"/api/uploads/{gray['id']}/segmentation", json={"options": options})
    assert seg.json()["electrolyte_fraction"] == 0 and "no pixel conducts" in seg.json()["warning"]
    job = _run(client, gray["id"], options=options)
    assert job["state"] == "error" and job["error"].startswith(
        "sem.png: image is entirely insulating"
    )
    r = client.post(
        f"/api/uploads/{gray['id']}/segmentation", json={"options": {"crop": [30, 30, 0, 0]}}
    )
    assert r.status_code == 422 and "removes the whole" in r.json()["detail"]
    assert client.post("/api/uploads/nope/segmentation", json={}).status_code == 404
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/jobs/nope/result.csv").status_code == 404


def test_downloads_and_maps(client):
    import tifffile

    info = _upload(client, EXAMPLES / "spheres_0.45_64cube.tif").json()
    job = _run(client, info["id"], axis="2", surrogate=False)
    base = f"/api/jobs/{job['id']}"
    r = client.get(f"{base}/result.json")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.json()["results"] == job["result"]["results"]
    r = client.get(f"{base}/result.csv")
    assert r.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert (
        float(row["relative_conductivity"]) == job["result"]["results"][0]["relative_conductivity"]
    )
    assert row["shape"] == "64x64x64" and row["kind"] == "exact"
    exact = ionflow.simulate(read_image(EXAMPLES / "spheres_0.45_64cube.tif"), axis=2, fields=True)
    potential = tifffile.imread(io.BytesIO(client.get(f"{base}/fields/2/potential.tif").content))
    assert potential.dtype == np.float32 and potential.shape == (64, 64, 64)
    np.testing.assert_allclose(potential, exact.potential, rtol=1e-6, atol=1e-7, equal_nan=True)
    current = tifffile.imread(io.BytesIO(client.get(f"{base}/fields/2/current.tif").content))
    magnitude = np.sqrt((exact.current_density**2).sum(axis=0))
    np.testing.assert_allclose(current, magnitude, rtol=1e-5, atol=1e-6)
    for query in ["", "?index=3", "?log=true"]:
        r = client.get(f"{base}/maps/2/current.png{query}")
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"{base}/maps/0/potential.png").status_code == 404  # axis 0 not solved
    assert client.get(f"{base}/maps/2/pressure.png").status_code == 422


def test_surrogate_only_has_no_fields(client):
    info = _upload(client, EXAMPLES / "disks_0.45.png").json()
    job = _run(client, info["id"], exact=False)
    (row,) = job["result"]["results"]
    assert row["kind"] == "surrogate" and row["interval"] is not None
    assert client.get(f"/api/jobs/{job['id']}/maps/0/potential.png").status_code == 404


def test_only_loopback_names_are_served(client):
    assert client.get("/api/info").status_code == 200
    assert client.get("/api/info", headers={"host": "attacker.example"}).status_code == 400


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="drop-zone"' in page.text
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_cli_options_and_a_busy_port(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["app", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "127.0.0.1" in text and "--port" in text and "--max-upload-mb" in text
    assert main(["app", "--port", "70000"]) == 1
    assert "--port must be" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(IonflowError, match=f"port {port} is in use"):
            serve(AppConfig(port=port))


def test_ionflow_app_serves_on_loopback():
    """The command itself, in a subprocess: prints its URL, serves the page, stops on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ionflow.cli", "app", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(match.group(0) + "api/info", timeout=5) as r:
                    info = json.load(r)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert info["version"] == ionflow.__version__
        with urllib.request.urlopen(match.group(0), timeout=5) as r:
            assert b'id="drop-zone"' in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()


def test_jobs_report_progress_and_failures():
    store = JobStore(workers=1, keep=2)
    gate = threading.Event()

    def work(progress):
        progress(1, 3, "exact solve along axis 0")
        gate.wait(10)
        progress(3, 3, "done")
        return 42

    job = store.submit("u", work)
    deadline = time.monotonic() + 10
    while job.message != "exact solve along axis 0" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.get(job.id).to_dict()["state"] == "running"
    assert (job.step, job.total) == (1, 3)
    gate.set()
    while job.state != "done" and time.monotonic() < deadline:
        time.sleep(0.01)

    def bad_input(progress):
        raise InputError("image is entirely insulating", source="x.png")

    def bug(progress):
        raise RuntimeError("oops")

    failed, broken = store.submit("u", bad_input), store.submit("u", bug)
    while broken.state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (job.state, job.result) == ("done", 42)
    assert failed.error == "x.png: image is entirely insulating"
    assert broken.state == "error" and broken.error == "unexpected error: RuntimeError: oops"
    assert store.get(job.id) is None  # only the last 2 jobs are kept (finished ones go first)
    store.close()


def test_metaimage_and_amiramesh_uploads(client, tmp_path):
    """Single-file volumes of ITK and Avizo upload like a TIFF stack; a detached MetaImage
    header without its data file is one message."""
    vol = ionflow.generate.disks((8, 10, 12), electrolyte_fraction=0.7, rng=1)
    raw = vol.astype(np.uint8).tobytes()
    head = "ObjectType = Image\nNDims = 3\nDimSize = 12 10 8\nElementType = MET_UCHAR\n"
    mha = tmp_path / "vol.mha"
    mha.write_bytes((head + "ElementDataFile = LOCAL\n").encode() + raw)
    r = _upload(client, mha)
    assert r.status_code == 201, r.text
    assert r.json()["shape"] == [8, 10, 12]
    am = tmp_path / "vol.am"
    am.write_bytes(
        b"# AmiraMesh BINARY-LITTLE-ENDIAN 2.1\n\ndefine Lattice 12 10 8\n\n"
        b"Lattice { byte Data } @1\n\n# Data section follows\n@1\n" + raw + b"\n"
    )
    r = _upload(client, am)
    assert r.status_code == 201, r.text
    assert r.json()["shape"] == [8, 10, 12]
    mhd = tmp_path / "alone.mhd"
    mhd.write_bytes((head + "ElementDataFile = alone.raw\n").encode())
    r = client.post("/api/uploads", files={"file": ("alone.mhd", mhd.read_bytes())})
    assert r.status_code in (415, 422)
