"""Redraw docs/app.png: ``ionflow app`` in headless Chromium after solving a bundled example.

Needs the app extra, ``playwright`` (pip) and Debian's ``chromium`` (no browser download):

    python docs/make_app_screenshot.py [EXAMPLE] [--axis all]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "src" / "ionflow" / "data" / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("example", nargs="?", default=str(EXAMPLES / "disks_0.6.png"))
    parser.add_argument("--axis", default="0")
    parser.add_argument("--out", default=str(HERE / "app.png"))
    args = parser.parse_args()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ionflow.cli", "app", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for line in proc.stdout:
            match = re.search(r"http://127\.0\.0\.1:\d+/", line)
            if match:
                url = match.group(0)
                break
        if url is None:
            sys.exit("ionflow app did not start")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"))
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.set_input_files("#file-input", args.example)
            page.wait_for_function("document.getElementById('fraction').textContent !== '-'")
            page.select_option("#axis", args.axis)
            page.click("#run")
            page.wait_for_selector('td[data-key="relative_conductivity"][data-kind="exact"]')
            page.wait_for_function(
                "['map-potential', 'map-current', 'preview']"
                ".every(id => document.getElementById(id).naturalWidth > 0)"
            )
            page.screenshot(path=args.out, full_page=True)
            browser.close()
        print(args.out)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
