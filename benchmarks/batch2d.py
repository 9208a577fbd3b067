#!/usr/bin/env python3
"""The 2D targets of issue 12: 2000 images of 64x64 through the CLI as a whole process, and one
400x400 image in-process.

    python benchmarks/batch2d.py [--repeats 3] [--workdir DIR] [--no-write]

* The batch: the same seeded 64x64 disks images as ``benchmarks/solver.py`` (fraction uniform
  in 0.6-1.0, ``rng = 1000 + i``), written once as PNGs, then ``ionflow simulate DIR --json
  --no-progress`` timed as a whole process (start-up, reading, solving, writing), with the
  default workers (one per core) and with ``--jobs 1``; every image's result is checked to be
  there. Best and median of ``--repeats`` runs.
* One 400x400 disks image (fraction 0.7, ``rng = 7``, as in ``solver.py``): ``simulate()`` in a
  fresh process, the first call (which analyses the grid pattern) and the best of 5 after it.

Writes the section "2D batch and single image" of ``BENCHMARKS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_head, machine  # noqa: E402
from _solver_report import publish  # noqa: E402

SECTION = "## 2D batch and single image (benchmarks/batch2d.py)"
N = 2000

SINGLE = """
import json, sys, time
import ionflow
img = ionflow.generate.disks((400, 400), electrolyte_fraction=0.7, rng=7)
t = time.perf_counter(); r = ionflow.simulate(img); first = time.perf_counter() - t
times = []
for _ in range(5):
    t = time.perf_counter(); r = ionflow.simulate(img); times.append(time.perf_counter() - t)
print(json.dumps(dict(first=first, times=times, rel=r.relative_conductivity, method=r.method)))
"""


def make_images(folder: Path) -> None:
    import ionflow
    from ionflow.io import write_image

    if len(list(folder.glob("img_*.png"))) == N:
        return
    folder.mkdir(parents=True, exist_ok=True)
    fractions = np.random.default_rng(2024).uniform(0.6, 1.0, size=N)
    for i, f in enumerate(fractions):
        img = ionflow.generate.disks((64, 64), electrolyte_fraction=float(f), rng=1000 + i)
        write_image(folder / f"img_{i:05d}.png", img)


def run_cli(folder: Path, extra: list[str]) -> float:
    exe = Path(sys.executable).with_name("ionflow")
    cmd = [str(exe), "simulate", str(folder), "--json", "--no-progress", *extra]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or len(rows) != N:
        raise SystemExit(f"CLI run failed ({out.returncode}, {len(rows)} rows): {out.stderr}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--workdir", default=os.path.join(tempfile.gettempdir(), "ionflow-batch2d"), type=Path
    )
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    folder = args.workdir / "batch64_png"
    make_images(folder)
    runs: dict[str, list[float]] = {"default workers": [], "--jobs 1": []}
    for _ in range(args.repeats):  # alternating, so load hits both alike
        runs["default workers"].append(run_cli(folder, []))
        runs["--jobs 1"].append(run_cli(folder, ["--jobs", "1"]))
    single = json.loads(
        subprocess.run(
            [sys.executable, "-c", SINGLE], capture_output=True, text=True, check=True
        ).stdout
    )
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    git = git_head()
    lines = [
        SECTION,
        "",
        f"Run {date} at git {git} on {machine()}; command `python benchmarks/batch2d.py "
        f"--repeats {args.repeats}`. Targets of issue 12: the batch under 3 s as a whole "
        "process, the single image under 0.1 s.",
        "",
        "| workload | runs | best s | median s | per image ms (best) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, ts in runs.items():
        lines.append(
            f"| {N} x 64x64 PNGs, `ionflow simulate DIR --json` ({name}), whole process | "
            f"{len(ts)} | {min(ts):.2f} | {statistics.median(ts):.2f} | "
            f"{min(ts) / N * 1e3:.2f} |"
        )
    lines.append(
        f"| one 400x400 image, `simulate()` in-process (method {single['method']}) | 5 | "
        f"{min(single['times']):.3f} | {statistics.median(single['times']):.3f} | - |"
    )
    lines += [
        "",
        f"The 400x400 image's first call, which also analyses the grid pattern: "
        f"{single['first']:.3f} s; relative conductivity {single['rel']:.6f}.",
        "",
    ]
    publish(lines, SECTION, not args.no_write, before="## 2D direct solver settings")


if __name__ == "__main__":
    main()
