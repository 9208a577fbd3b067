#!/usr/bin/env python3
"""What a new machine sees of the 3D solver: first solves with a cold kernel cache, and
systems the multigrid cannot solve that ``method="auto"`` hands to the direct solver.

    python benchmarks/first_solve.py [--no-write]

* Cold cache: each scenario runs in a fresh interpreter whose numba cache
  (``NUMBA_CACHE_DIR``) is a new empty folder, so every kernel is compiled as on a machine that
  never ran ionflow: a binary volume, a label volume (several conductivities: the second
  kernel variant) and a label volume that switches to coarse levels split by cluster (their
  kernels), and a label volume first. Then the same three solves again in a new interpreter
  with the cache now filled (what every later run pays).
* Hard systems: cell-level noise label volumes (labels 0/1/2 uniformly at random; 0
  insulating, 1 conducting, 2 at a small conductivity), the case where aggregation multigrid
  has no coherent structure to coarsen. ``method="mg"`` (iterations, or its error after 500),
  ``method="direct"`` and the default ``"auto"`` (falls back to the direct solver after 100
  multigrid iterations), each timed in one warm process; the auto answer is compared with the
  direct one.

Writes the section "First solves and hard systems" of ``BENCHMARKS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_head, machine  # noqa: E402
from _solver_report import publish  # noqa: E402

SECTION = "## First solves and hard systems (benchmarks/first_solve.py)"

SOLVES = """
import json, sys, time
import numpy as np
import ionflow
from ionflow.generate import blobs
vol = blobs((30, 30, 30), electrolyte_fraction=0.6, rng=1)
# a binder (label 1, 1e-2) in part of the pores (label 0): converges well, never splits
lab = vol.astype(np.uint8) * 2
lab[(vol == 0) & (blobs((30, 30, 30), electrolyte_fraction=0.5, rng=2) > 0)] = 1
sheets = np.ones((64, 32, 32), np.uint8)  # binder sheets straddling the 2x2x2 blocks
sheets[5::8] = 2
sheets[6::8] = 2
out = {}
for name in sys.argv[1:]:
    t = time.perf_counter()
    if name == "binary":
        ionflow.simulate(vol)
    elif name == "labels":
        ionflow.simulate(lab, label_conductivities={0: 0.0, 1: 1e-2, 2: 1.0})
    else:  # switches to coarse levels split by cluster
        ionflow.simulate(sheets, label_conductivities={1: 1.0, 2: 1e-4})
    out[name] = time.perf_counter() - t
print(json.dumps(out))
"""

HARD = """
import json, time
import numpy as np
import ionflow
from ionflow.errors import NotConvergedError
ionflow.simulate(np.ones((40, 40, 40), bool))  # load the kernels
rows = []
for shape in [(40, 36, 38), (80, 80, 80)]:
    lab = np.random.default_rng(0).integers(0, 3, shape)
    for contrast in (1e-4, 1e-6):
        kw = dict(label_conductivities={0: 0.0, 1: 1.0, 2: contrast})
        row = dict(shape=shape, contrast=contrast)
        for method in ("mg", "direct", "auto"):
            t = time.perf_counter()
            try:
                r = ionflow.simulate(lab, method=method, **kw)
                row[method] = dict(s=time.perf_counter() - t, used=r.method,
                                   iterations=r.iterations, rel=r.relative_conductivity)
            except NotConvergedError as exc:
                row[method] = dict(s=time.perf_counter() - t, error=str(exc))
        rows.append(row)
print(json.dumps(rows))
"""


def run(code: str, args: list[str], env: dict[str, str]) -> object:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cold: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        env_a = dict(os.environ, NUMBA_CACHE_DIR=a)
        env_b = dict(os.environ, NUMBA_CACHE_DIR=b)
        both = ["binary", "labels", "split"]
        cold.append(("empty cache: binary, then labels, then split", run(SOLVES, both, env_a)))
        cold.append(("same cache, new process", run(SOLVES, both, env_a)))
        cold.append(("empty cache: labels first", run(SOLVES, ["labels"], env_b)))
    hard = run(HARD, [], dict(os.environ))
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    git = git_head()
    lines = [
        SECTION,
        "",
        f"Run {date} at git {git} on {machine()}; command `python benchmarks/first_solve.py` "
        f"({time.perf_counter() - t0:.0f} s in all).",
        "",
        "### First 3D solves with a cold kernel cache",
        "",
        "Each row is a fresh interpreter with `NUMBA_CACHE_DIR` set to a folder of its own "
        "(empty at the first row of each scenario): the wall time of each `simulate` call, "
        "compiling included. *binary*: a 30^3 blobs volume; *labels*: the same with a binder "
        "label in part of its pores (conductivities 1 and 0.01; the kernel variant with one "
        "conductivity per unknown; 8 iterations, no switch to split levels); *split*: 64x32x32 electrolyte slabs between binder "
        "sheets at 1e-4 that straddle the 2x2x2 blocks, a solve that switches to coarse levels "
        "split by cluster (whose kernels are compiled only then). A cold cache compiles on two "
        "processes at once (`solve/_lean_warm.py`) when the machine has a second core.",
        "",
        "| scenario | binary s | labels s | split s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, t in cold:
        cells = [f"{t[k]:.1f}" if k in t else "-" for k in ("binary", "labels", "split")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Hard systems: cell-level noise labels",
        "",
        "Labels 0/1/2 uniformly at random per cell (`numpy.random.default_rng(0)`), "
        "conductivities 0 / 1 / *contrast*. One warm process; *mg* stops with an error after "
        "500 iterations, *auto* hands the volume to the direct solver (when its memory "
        "estimate fits) after 100 iterations that leave the current more than 1000x rtol "
        "from converged, or at 500; *auto - direct* is the relative difference of their "
        "conductivities.",
        "",
        "| shape | contrast | mg | direct s | auto s | auto used | auto - direct |",
        "| --- | ---: | --- | ---: | ---: | --- | ---: |",
    ]
    for row in hard:
        mg, di, au = row["mg"], row["direct"], row["auto"]
        mg_text = (
            f"{mg['s']:.1f} s, {mg['iterations']} it"
            if "error" not in mg
            else f"{mg['s']:.1f} s, did not converge"
        )
        diff = abs(au["rel"] - di["rel"]) / di["rel"]
        shape = "x".join(str(n) for n in row["shape"])
        lines.append(
            f"| {shape} | {row['contrast']:.0e} | {mg_text} | {di['s']:.2f} | {au['s']:.2f} | "
            f"{au['used']} | {diff:.1e} |"
        )
    lines.append("")
    publish(lines, SECTION, not args.no_write, before="## 2D direct solver settings")


if __name__ == "__main__":
    main()
