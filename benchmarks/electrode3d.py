#!/usr/bin/env python3
"""Electrode tortuosity on the solver's multigrid across microstructure families: the stopping
rule and the split coarse levels.

    python benchmarks/electrode3d.py [--data DIR] [--size 96] [--seeds 3 11] [--no-whole]
                                     [--no-write]

The volumes of ``families3d.py`` (every generator at electrolyte fractions 0.35 and 0.5,
seeds ``--seeds``, the pores of the two real electrodes and of the TauFactor 2 standard volume,
first ``--size`` cells of each axis) and the two real electrodes whole: the electrolyte (1)
fills the pores of active material (0), separator at the first slice along axis 0.
``electrode_tortuosity`` solves each on the multigrid of ``solve_lean_source`` three ways (in
this process, after a warm-up; best of 2):

* *residual, grid*: stopping at a relative residual of 1e-10 with 2x2x2 grid coarse levels
  (the solver before 2026-11-29: ``ENERGY_RTOL = None``, ``SPLIT = "never"``);
* *residual, auto*: the same stop, the coarse levels split into connected pieces when the grid
  levels converge slowly (``SPLIT = "auto"``);
* *energy, auto* (the default): stopping when the variational estimate of ``Re Z(0)`` is
  within ``ENERGY_RTOL`` = 1e-10.

*diff*: the largest relative difference of tau_e between the three. Writes the section
"Electrode tortuosity across microstructure families" of ``BENCHMARKS.md`` unless
``--no-write``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_head, machine  # noqa: E402
from _solver_report import publish  # noqa: E402
from families3d import generated, real  # noqa: E402

import ionflow  # noqa: E402
from ionflow.solve import _electrode, _lean  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Electrode tortuosity across microstructure families (benchmarks/electrode3d.py)"
VARIANTS = {  # label: (ENERGY_RTOL, SPLIT)
    "residual, grid": (None, "never"),
    "residual, auto": (None, "auto"),
    "energy, auto (default)": (_electrode.ENERGY_RTOL, "auto"),
}


def solve(labels: np.ndarray, energy: float | None, split: str) -> dict:
    """tau_e of ``labels`` (1 electrolyte, 0 active) with the given stop and split mode."""
    steps = []
    real_steps = _lean._fcg_steps

    def counted(ops):
        for step in real_steps(ops):
            steps.append(step)
            yield step

    old = _electrode.ENERGY_RTOL, _lean.SPLIT, _lean._fcg_steps
    _electrode.ENERGY_RTOL, _lean.SPLIT, _lean._fcg_steps = energy, split, counted
    try:
        best, tau = np.inf, float("nan")
        for _ in range(2):
            steps.clear()
            t = time.perf_counter()
            tau = ionflow.electrode_tortuosity(labels, axis=0).tau_e
            best = min(best, time.perf_counter() - t)
    finally:
        _electrode.ENERGY_RTOL, _lean.SPLIT, _lean._fcg_steps = old
    return {"s": best, "it": len(steps), "tau_e": tau}


def row(name: str, vol: np.ndarray) -> str:
    labels = vol.astype(np.uint8)
    r = {label: solve(labels, *v) for label, v in VARIANTS.items()}
    taus = [x["tau_e"] for x in r.values()]
    finite = all(np.isfinite(taus))
    diff = (max(taus) - min(taus)) / abs(min(taus)) if finite else float("nan")
    first, last = r["residual, grid"], r["energy, auto (default)"]
    cells = [
        name,
        "x".join(map(str, vol.shape)),
        f"{vol.mean():.2f}",
        f"{last['tau_e']:.6g}",
        *(f"{x['it']} / {x['s']:.2f}" for x in r.values()),
        f"{diff:.0e}" if finite else "-",
        f"{first['s'] / last['s']:.1f}x",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 11])
    ap.add_argument("--no-whole", action="store_true", help="skip the uncropped electrodes")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    warm = ionflow.generate.disks((48,) * 3, electrolyte_fraction=0.5, rng=1).astype(np.uint8)
    for v in VARIANTS.values():  # every kernel compiled or loaded outside the timing
        solve(warm, *v)
    solve(warm, None, "always")
    data = Path(args.data)
    cases = itertools.chain(generated(args.size, args.seeds), real(data, args.size))
    whole = [] if args.no_whole else real(data, 10**6)[:2]  # the two electrodes, uncropped
    rows = []
    for name, vol in itertools.chain(cases, ((f"{n}, whole", v) for n, v in whole)):
        line = row(name, vol)
        rows.append(line)
        print(line, flush=True)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    publish(
        [
            SECTION,
            "",
            f"Run {date} at git {git_head()} on {machine()}; command "
            f"`python benchmarks/electrode3d.py` ({time.perf_counter() - t0:.0f} s in all; "
            f"threads: {threads}). `electrode_tortuosity` along axis 0 (electrolyte = the "
            "generator's conducting phase or the pores, reacting with everything else), on "
            "the multigrid of `solve_lean_source`, in one process after a warm-up (best of 2; "
            "the machine is shared, so compare times within a row). *residual, grid*: the "
            "solver before 2026-11-29 (a relative residual of 1e-10, 2x2x2 grid coarse "
            "levels); *residual, auto*: the same stop, coarse levels split into connected "
            "pieces when the grid levels converge slowly; *energy, auto*: the default, "
            "stopping when the variational estimate of Re Z(0) is within 1e-10. *it*: "
            "flexible-CG iterations; *diff*: the largest relative difference of the three "
            "tau_e; *gain*: time of the first over the last.",
            "",
            "| case | shape | fraction | tau_e | residual, grid: it / s | residual, auto: it / s "
            "| energy, auto (default): it / s | diff | gain |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
        ],
        SECTION,
        not args.no_write,
        before="## 2D batch and single image",
    )


if __name__ == "__main__":
    main()
