#!/usr/bin/env python3
"""Label images with a weakly conducting phase: the 3D multigrid's cluster correction.

    python benchmarks/weak_phase.py [--data DIR] [--no-direct] [--no-write]

Electrolyte that reaches other electrolyte only through a weakly conducting phase (pore
pockets inside a carbon-binder domain) makes slow error modes that the multigrid's 2x2x2 blocks
cannot represent. Since 2026-11-29 each such cluster has a coarse unknown of its own
(``LeanMultigrid.cluster_setup``). This script measures, in one warm process:

* **Series slabs, exact answer.** A 64^3 volume of electrolyte slabs between 1-cell binder
  sheets across the flow; the relative conductivity is the series sum of cell resistances,
  exact as a fraction. The multigrid's and the direct solver's errors against it.
* **Real electrodes.** 160^3 crops (the first 160 cells of every axis) of the two real label
  volumes in ``--data`` (default ``../shared/data/real``), and the whole NREL volume at one
  contrast: iterations and time with the cluster correction (the default) and without it
  (``_lean.WEAK_CONTRAST = 0``, no cell counts as weak), and their relative difference;
  the NREL crop also with the direct solver at a few contrasts (``--no-direct`` skips it:
  ~2 min and ~9 GB each).

Writes the section "Weakly conducting phases" of ``BENCHMARKS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_head, machine  # noqa: E402
from _solver_report import publish  # noqa: E402

import ionflow  # noqa: E402
from ionflow.solve import _lean  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Weakly conducting phases (benchmarks/weak_phase.py)"
NREL = "nrel_nmc_cbd_bridge.tif"  # 0 pore, 1 NMC, 2 carbon-binder domain
TFE = "taufactor_electrode_256.tiff"  # 0 pore, 85 NMC, 170 carbon-binder domain
CONTRASTS = (1e-2, 1e-3, 1e-4, 3e-5, 1e-5, 1e-6)


def solve(vol: np.ndarray, conductivities: dict, *, clusters: bool = True, **kw) -> dict:
    """One timed solve (the cluster correction on or off); its numbers as a dict."""
    old = _lean.WEAK_CONTRAST
    _lean.WEAK_CONTRAST = old if clusters else 0.0
    try:
        t = time.perf_counter()
        r = ionflow.simulate(vol, label_conductivities=conductivities, **kw)
        s = time.perf_counter() - t
    finally:
        _lean.WEAK_CONTRAST = old
    return {
        "s": s,
        "it": r.iterations,
        "rel": r.relative_conductivity,
        "acc": r.accuracy,
        "method": r.method,
    }


def slabs(contrast: float, n: int = 64) -> tuple[np.ndarray, float]:
    lab = np.ones((n, n, n), np.uint8)
    lab[4::8] = 2
    sheets = len(range(4, n, 8))
    exact = Fraction(n) / (n - sheets + sheets / Fraction(contrast))
    return lab, float(exact)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "real"))
    ap.add_argument("--no-direct", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import tifffile

    t0 = time.perf_counter()
    ionflow.simulate(np.ones((40, 40, 40), bool))  # load the kernels
    lines_slabs = []
    for c in (1e-2, 1e-4, 1e-6):
        lab, exact = slabs(c)
        lc = {1: 1.0, 2: c}
        mg = solve(lab, lc, method="mg")
        off = solve(lab, lc, method="mg", clusters=False)
        di = solve(lab, lc, method="direct")
        lines_slabs.append(
            f"| {c:.0e} | {mg['it']} | {mg['rel'] / exact - 1:+.1e} | {mg['acc']:.1e} | "
            f"{off['it']} | {off['rel'] / exact - 1:+.1e} | "
            f"{di['rel'] / exact - 1:+.1e} | {di['acc']:.1e} |"
        )
        print(lines_slabs[-1], flush=True)

    # the same slabs against the 2x2x2 blocks of the coarse levels: sheets at cells 4-7 of
    # every 8 fill whole blocks of levels 1 and 2; other placements mix both phases in a block
    lines_align = []
    for name, cells in (
        ("1 cell (4)", (4,)),
        ("2 cells (4-5): whole level-1 blocks", (4, 5)),
        ("2 cells (5-6): straddling blocks", (5, 6)),
        ("4 cells (4-7): whole level-1 and -2 blocks", (4, 5, 6, 7)),
    ):
        lab = np.ones((64, 64, 64), np.uint8)
        for k in cells:
            lab[k::8] = 2
        its = [solve(lab, {1: 1.0, 2: c}, method="mg")["it"] for c in (1e-2, 1e-4)]
        lines_align.append(f"| {name} | {its[0]} | {its[1]} |")
        print(lines_align[-1], flush=True)

    data = Path(args.data)
    vols = {
        "NREL NMC + CBD 160^3 crop": (NREL, {0: 1.0, 1: 0.0}, 2),
        "TauFactor electrode 160^3 crop (NMC at 1e-4)": (TFE, {0: 1.0, 85: 1e-4}, 170),
    }
    lines_real = []
    direct_rows = []
    for name, (file, fixed, weak) in vols.items():
        if not (data / file).exists():
            print(f"skipped {name}: {data / file} not found", file=sys.stderr)
            continue
        crop = np.ascontiguousarray(tifffile.imread(data / file)[:160, :160, :160])
        for c in CONTRASTS:
            lc = {**fixed, weak: c}
            on = solve(crop, lc, method="mg")
            off = solve(crop, lc, method="mg", clusters=False)
            diff = abs(on["rel"] / off["rel"] - 1)
            lines_real.append(
                f"| {name} | {c:.0e} | {on['it']} | {on['s']:.1f} | {off['it']} | "
                f"{off['s']:.1f} | {on['rel']:.10f} | {diff:.1e} |"
            )
            print(lines_real[-1], flush=True)
            if file == NREL and not args.no_direct and c in (1e-4, 1e-6):
                di = solve(crop, lc, method="direct")
                direct_rows.append(
                    f"| {name} | {c:.0e} | {di['s']:.0f} | {di['acc']:.1e} | "
                    f"{on['rel'] / di['rel'] - 1:+.1e} | {off['rel'] / di['rel'] - 1:+.1e} |"
                )
                print(direct_rows[-1], flush=True)
    whole = []
    if (data / NREL).exists():
        vol = tifffile.imread(data / NREL)
        lc = {0: 1.0, 1: 0.0, 2: 1e-4}
        on = solve(vol, lc, method="mg")
        off = solve(vol, lc, method="mg", clusters=False)
        whole.append(
            f"| NREL NMC + CBD 251x301x301 | 1e-04 | {on['it']} | {on['s']:.1f} | {off['it']} | "
            f"{off['s']:.1f} | {on['rel']:.10f} | {abs(on['rel'] / off['rel'] - 1):.1e} |"
        )
        print(whole[-1], flush=True)

    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        SECTION,
        "",
        f"Run {date} at git {git_head()} on {machine()}; command "
        f"`python benchmarks/weak_phase.py` ({time.perf_counter() - t0:.0f} s in all). "
        'One warm process, the default 3D multigrid (`method="mg"`, rtol 1e-9); '
        "*no clusters* is the same solver without its cluster correction "
        "(`_lean.WEAK_CONTRAST = 0`).",
        "",
        "### Series slabs: exact answer",
        "",
        "64^3: electrolyte (1) slabs 7 cells thick between 1-cell binder sheets "
        "(*contrast*) across the flow; exact relative conductivity = the series sum of cell "
        "resistances. *err* = relative error against it, *acc* = the accuracy the solver "
        "reports.",
        "",
        "| contrast | mg it | mg err | mg acc | no clusters it | no clusters err | direct err "
        "| direct acc |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *lines_slabs,
        "",
        "The same slabs (1-cell sheets above) with binder sheets of other thicknesses and "
        "placements against the multigrid's 2x2x2 blocks: iterations at contrast 1e-2 and "
        "1e-4. What is left slow is the coarse blocks that join two slabs across a sheet (two "
        "clusters in one block: one coarse unknown cannot let them move apart): the sooner "
        "(the finer the level) a block does that, the more iterations; 4-cell sheets at cells "
        "4-7 never do it before level 4.",
        "",
        "| binder sheets every 8 cells | it at 1e-2 | it at 1e-4 |",
        "| --- | ---: | ---: |",
        *lines_align,
        "",
        "### Real electrodes",
        "",
        "Pore 1, NMC 0 (NREL) or 1e-4 (TauFactor electrode), carbon-binder domain at "
        "*contrast*; crops are the first 160 cells of each axis. *diff* = relative "
        "difference of the two answers.",
        "",
        "| volume | CBD | it | s | no clusters it | no clusters s | relative conductivity | diff |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *lines_real,
        *whole,
        "",
    ]
    if direct_rows:
        lines += [
            "Against the direct solver (PARDISO; its own *acc* is its inlet/outlet mismatch):",
            "",
            "| volume | CBD | direct s | direct acc | mg - direct | no clusters - direct |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *direct_rows,
            "",
        ]
    publish(lines, SECTION, not args.no_write, before="## 2D direct solver settings")


if __name__ == "__main__":
    main()
