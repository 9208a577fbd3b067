"""The README's Python snippets run as written.

Each fenced ``python`` block is executed on its own, in a fresh namespace, in a temporary
folder that holds the input files the README names: ``cathode.tif`` (the bundled 64^3
example volume stands in for the reader's tomogram) and ``electrode.tif`` (a seeded 40^3
three-phase volume, labels 0 pore, 85 active, 170 binder, as TauFactor's example writes them).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

import ionflow
from ionflow.generate import binder_labels

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)
EXAMPLES = Path(ionflow.__file__).parent / "data" / "examples"


def test_readme_has_python_snippets():
    assert len(BLOCKS) >= 2


@pytest.mark.slow  # the first block solves a 64^3 volume along 3 axes and starts 2 workers: ~5-13 s
@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda i: f"block{i + 1}")
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    shutil.copy(EXAMPLES / "spheres_0.45_64cube.tif", tmp_path / "cathode.tif")
    labels = binder_labels((40, 40, 40), electrolyte_fraction=0.45, rng=0)
    lut = np.array([0, 85, 170], np.uint8)  # binder_labels: 0 pore, 1 active, 2 binder
    tifffile.imwrite(tmp_path / "electrode.tif", lut[labels])
    monkeypatch.chdir(tmp_path)
    code = compile(BLOCKS[index], f"README.md (python block {index + 1})", "exec")
    exec(code, {"__name__": "__readme__"})
