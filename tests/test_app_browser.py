"""``ionflow app`` in a real headless browser: Debian's Chromium driven by Playwright.

The browser is the system one (``apt-get install chromium``), never a download: Playwright's
own browser builds cannot be fetched on these machines. Without Chromium or the ``playwright``
package the tests are skipped with the reason.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "fastapi", reason="ionflow app needs the app extra (pip install 'ionflow[app]')"
)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "no system Chromium on PATH (Debian: apt-get install chromium); browsers are never "
        "downloaded by the tests",
        allow_module_level=True,
    )

pytestmark = pytest.mark.slow  # a browser and a server process: ~10-15 s in all

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "ionflow" / "data" / "examples"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server():
    """``ionflow app --port 0`` in a subprocess; yields its URL."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ionflow.cli", "app", "--port", "0", "--max-upload-mb", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    url = None
    seen = []
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        url = match.group(0) if match else None
    if url is None:
        proc.kill()
        proc.wait()
        pytest.fail("ionflow app did not start:\n" + "".join(seen))
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(server)
    pg.wait_for_function("document.getElementById('max-size').textContent !== '?'")
    try:
        yield pg
    finally:
        context.close()


def _simulate_cli(path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "ionflow.cli", "simulate", str(path), "--json", "--no-progress"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.splitlines()[0])


def test_upload_solve_matches_the_command(page, tmp_path):
    example = EXAMPLES / "disks_0.6.png"
    page.set_input_files("#file-input", str(example))
    page.wait_for_function("document.getElementById('fraction').textContent !== '-'")
    assert page.inner_text("#file-info").startswith("disks_0.6.png: 64 x 64 pixels")
    page.click("#run")
    cell = page.wait_for_selector(
        'td[data-key="relative_conductivity"][data-kind="exact"][data-axis="0"]'
    )
    expected = _simulate_cli(example)["relative_conductivity"]
    shown = cell.inner_text()
    # the page shows 6 significant digits, as the command's table does; the cell carries the
    # full value (JSON round-trips doubles exactly; the command's batch solver may differ from a
    # single solve in the last bits)
    assert float(shown) == float(f"{expected:.6g}")
    assert float(cell.get_attribute("data-value")) == pytest.approx(expected, rel=1e-12, abs=0)
    surrogate = page.wait_for_selector(
        'td[data-key="relative_conductivity"][data-kind="surrogate"][data-axis="0"]'
    )
    assert float(surrogate.get_attribute("data-value")) == pytest.approx(expected, rel=0.2)
    # the maps arrived (decoded images, not broken ones)
    page.wait_for_function(
        "['map-potential', 'map-current'].every(id => document.getElementById(id).naturalWidth > 0)"
    )
    assert "ionflow simulate disks_0.6.png" in page.inner_text("#command")
    shot = tmp_path / "app.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_bad_uploads_are_explained_and_the_server_keeps_serving(page):
    # dropped (drag and drop), not chosen: a text file named like an image
    page.evaluate(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], name, {type: "image/png"}));
            const zone = document.getElementById("drop-zone");
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
        }""",
        ["notes.png", base64.b64encode(b"these are notes, not pixels").decode()],
    )
    page.wait_for_selector("#message:not([hidden])")
    page.wait_for_function("document.getElementById('message').textContent.includes('readable')")
    text = page.inner_text("#message")
    assert "notes.png" in text and "/tmp" not in text
    # larger than the server's limit (1 MB here): refused before it is sent
    page.set_input_files(
        "#file-input",
        files=[{"name": "big.tif", "mimeType": "image/tiff", "buffer": b"\0" * 1_200_000}],
    )
    page.wait_for_function("document.getElementById('message').textContent.includes('limit')")
    assert "1.2 MB" in page.inner_text("#message")
    # still serving: a good file goes through
    page.set_input_files("#file-input", str(EXAMPLES / "blobs_0.7.png"))
    page.wait_for_function("document.getElementById('fraction').textContent !== '-'")
    assert page.is_hidden("#message")


def test_three_phases_by_gray_level_match_the_command(page, tmp_path):
    import numpy as np

    import ionflow
    from ionflow.io import write_image

    labels = ionflow.generate.binder_labels((64, 64), electrolyte_fraction=0.45, rng=0)
    noise = np.random.default_rng(1).normal(0, 6, labels.shape)
    gray = np.array([40.0, 200.0, 115.0])[labels] + noise  # pore, active, binder
    path = tmp_path / "cathode.png"
    write_image(path, np.clip(gray, 0, 255).astype(np.uint8))
    page.set_input_files("#file-input", str(path))
    page.wait_for_function("document.getElementById('fraction').textContent !== '-'")
    page.select_option("#phases", "3")
    # three phases: no choice yet, so the page asks which conducts
    page.wait_for_function(
        "document.getElementById('segment-warning').textContent.includes('choose which phase')"
    )
    assert page.is_visible("#cuts-row") and page.is_hidden("#threshold-row")
    assert page.is_disabled("#invert")
    assert float(page.input_value("#cut-0")) < float(page.input_value("#cut-1"))
    page.select_option("#conductive-phase", label="pore")
    page.wait_for_function(
        "document.getElementById('phase-fractions').textContent.includes('pore')"
        " && document.getElementById('phase-fractions').textContent.includes('(conducts)')"
    )
    page.uncheck("#surrogate")
    page.click("#run")
    cell = page.wait_for_selector('td[data-key="relative_conductivity"][data-kind="exact"]')
    command = page.inner_text("#command")
    assert "--phases 3 --phase-names pore,binder,active --conductive-phase pore" in command
    out = subprocess.run(
        [sys.executable, "-m", "ionflow.cli", "simulate", str(path), "--phases", "3",
         "--conductive-phase", "0", "--json", "--no-progress"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    expected = json.loads(out.stdout.splitlines()[0])["relative_conductivity"]
    assert float(cell.get_attribute("data-value")) == expected
