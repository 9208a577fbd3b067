#!/usr/bin/env python3
"""Label images with a weakly conducting phase: the 3D multigrid's cluster correction and its
coarse levels split by cluster.

    python benchmarks/weak_phase.py [--data DIR] [--no-direct] [--no-write]

Electrolyte that reaches other electrolyte only through a weakly conducting phase (pore
pockets inside a carbon-binder domain, slabs between binder sheets) makes slow error modes.
Two parts of the multigrid address them (``_lean.py``): the *cluster correction* (each such
cluster has a coarse unknown of its own, ``LeanMultigrid.cluster_setup``) and *split coarse
levels* (2x2x2 blocks split by cluster, ``LeanMultigrid.split_setup``), which the default
(``_lean.SPLIT = "auto"``) switches to when the grid levels converge slowly. This script
measures, in one warm process, the default against *grid* (``SPLIT = "never"``), *split*
(``SPLIT = "always"``) and *no clusters* (``WEAK_CONTRAST = 0``: no cell counts as weak, so
neither part is used):

* **Series slabs, exact answer.** A 64^3 volume of electrolyte slabs between binder sheets
  across the flow; the relative conductivity is the series sum of cell resistances, exact as
  a fraction: the errors against it down to a contrast of 1e-10, and iterations for sheets
  placed in several ways against the 2x2x2 blocks.
* **Real electrodes.** 160^3 crops (the first 160 cells of every axis) of the two real label
  volumes in ``--data`` (default ``../shared/data/real``), and the whole NREL volume at one
  contrast: iterations and time per variant; the NREL crop also with the direct solver at
  two contrasts (``--no-direct`` skips it: ~2 min and ~9 GB each).
* **Extreme contrasts.** 80^3 crops and 48^3 noise labels at 1e-6 to 1e-12 against the
  direct solver (the floor of ``_simulate.MG_MIN_CONTRAST``).

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


VARIANTS = {  # name: (SPLIT, cluster correction on)
    "default": ("auto", True),
    "grid": ("never", True),
    "split": ("always", True),
    "no clusters": ("never", False),
}


def solve(vol: np.ndarray, conductivities: dict, variant: str = "default", **kw) -> dict:
    """One timed solve with one of ``VARIANTS``; its numbers as a dict."""
    split, clusters = VARIANTS[variant]
    old = _lean.WEAK_CONTRAST, _lean.SPLIT
    _lean.WEAK_CONTRAST = old[0] if clusters else 0.0
    _lean.SPLIT = split
    try:
        t = time.perf_counter()
        r = ionflow.simulate(vol, label_conductivities=conductivities, **kw)
        s = time.perf_counter() - t
    finally:
        _lean.WEAK_CONTRAST, _lean.SPLIT = old
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


def extreme_row(name: str, vol: np.ndarray, lc: dict, c: float) -> str:
    """The default multigrid (forced: ``auto`` hands contrasts below ``MG_MIN_CONTRAST`` to
    the direct solver) against the direct solver."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        di = solve(vol, lc, method="direct")
        try:
            mg = solve(vol, lc, method="mg")
            cells = f"{mg['it']} | {mg['rel'] / di['rel'] - 1:+.1e} | {mg['acc']:.1e}"
        except ionflow.errors.IonflowError as exc:
            cells = f"- | {str(exc).split(':')[0]} | -"
    return f"| {name} | {c:.0e} | {cells} | {di['acc']:.1e} |"


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
    for c in (1e-2, 1e-4, 1e-6, 1e-8, 1e-10):
        lab, exact = slabs(c)
        lc = {1: 1.0, 2: c}
        mg = solve(lab, lc, method="mg")
        grid = solve(lab, lc, "grid", method="mg")
        off = solve(lab, lc, "no clusters", method="mg")
        di = solve(lab, lc, method="direct")
        lines_slabs.append(
            f"| {c:.0e} | {mg['it']} | {mg['rel'] / exact - 1:+.1e} | {mg['acc']:.1e} | "
            f"{grid['it']} | {grid['rel'] / exact - 1:+.1e} | "
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
        its = [
            solve(lab, {1: 1.0, 2: c}, v, method="mg")["it"]
            for v in ("grid", "split", "default")
            for c in (1e-2, 1e-4)
        ]
        lines_align.append(f"| {name} | " + " | ".join(str(i) for i in its) + " |")
        print(lines_align[-1], flush=True)

    data = Path(args.data)
    vols = {
        "NREL NMC + CBD 160^3 crop": (NREL, {0: 1.0, 1: 0.0}, 2),
        "TauFactor electrode 160^3 crop (NMC at 1e-4)": (TFE, {0: 1.0, 85: 1e-4}, 170),
    }
    names = ("default", "grid", "split", "no clusters")

    def real_row(name: str, vol: np.ndarray, lc: dict, c: float) -> tuple[str, dict]:
        res = {v: solve(vol, lc, v, method="mg") for v in names}
        rels = [r["rel"] for r in res.values()]
        diff = max(rels) / min(rels) - 1
        cells = " | ".join(f"{res[v]['it']} | {res[v]['s']:.1f}" for v in names)
        return f"| {name} | {c:.0e} | {cells} | {res['default']['rel']:.10f} | {diff:.1e} |", res

    lines_real = []
    direct_rows = []
    extreme_rows = []
    for name, (file, fixed, weak) in vols.items():
        if not (data / file).exists():
            print(f"skipped {name}: {data / file} not found", file=sys.stderr)
            continue
        full = tifffile.imread(data / file)
        crop = np.ascontiguousarray(full[:160, :160, :160])
        for c in CONTRASTS:
            lc = {**fixed, weak: c}
            row, res = real_row(name, crop, lc, c)
            lines_real.append(row)
            print(row, flush=True)
            if file == NREL and not args.no_direct and c in (1e-4, 1e-6):
                di = solve(crop, lc, method="direct")
                direct_rows.append(
                    f"| {name} | {c:.0e} | {di['s']:.0f} | {di['acc']:.1e} | "
                    + " | ".join(f"{res[v]['rel'] / di['rel'] - 1:+.1e}" for v in names)
                    + " |"
                )
                print(direct_rows[-1], flush=True)
        small = np.ascontiguousarray(full[:80, :80, :80])
        for c in (1e-6, 1e-8, 1e-10, 1e-12):
            lc = {**fixed, weak: c}
            label = "NREL NMC + CBD 80^3 crop"
            if file == TFE:  # the NMC at the contrast, the binder 100x above it
                lc = {0: 1.0, 85: c, 170: 100 * c}
                label = "TauFactor electrode 80^3 crop (NMC at contrast, CBD 100x)"
            extreme_rows.append(extreme_row(label, small, lc, c))
            print(extreme_rows[-1], flush=True)
    noise = np.random.default_rng(0).integers(0, 3, (48, 48, 48)).astype(np.uint8)
    for c in (1e-6, 1e-8, 1e-10, 1e-12):
        extreme_rows.append(extreme_row("noise labels 48^3", noise, {0: 0.0, 1: 1.0, 2: c}, c))
        print(extreme_rows[-1], flush=True)
    whole = []
    if (data / NREL).exists():
        vol = tifffile.imread(data / NREL)
        row, _ = real_row("NREL NMC + CBD 251x301x301", vol, {0: 1.0, 1: 0.0, 2: 1e-4}, 1e-4)
        whole.append(row)
        print(whole[-1], flush=True)

    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        SECTION,
        "",
        f"Run {date} at git {git_head()} on {machine()}; command "
        f"`python benchmarks/weak_phase.py` ({time.perf_counter() - t0:.0f} s in all). "
        'One warm process, the default 3D multigrid (`method="mg"`, rtol 1e-9) and its '
        'variants: *default* (`_lean.SPLIT = "auto"`: grid coarse levels, split by cluster '
        "when two successive steps each keep more than half of the last step's decrease), "
        '*grid* (`SPLIT = "never"`), *split* (`SPLIT = "always"`) and *no clusters* '
        "(`WEAK_CONTRAST = 0`: neither the cluster correction nor split levels).",
        "",
        "### Series slabs: exact answer",
        "",
        "64^3: electrolyte (1) slabs 7 cells thick between 1-cell binder sheets "
        "(*contrast*) across the flow; exact relative conductivity = the series sum of cell "
        "resistances. *err* = relative error against it, *acc* = the accuracy the solver "
        "reports. Contrasts below 1e-7 were handed to the direct solver until the coarse "
        "levels stored their electrode couplings rather than float32 diagonals (2026-11-29: "
        "a stored diagonal rounds away the coupling out of an isolated slab; at 1e-8 the "
        "multigrid stopped 6.5e-7 off).",
        "",
        "| contrast | mg it | mg err | mg acc | grid it | grid err | no clusters it "
        "| no clusters err | direct err | direct acc |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *lines_slabs,
        "",
        "The same slabs with binder sheets of other thicknesses and placements against the "
        "multigrid's 2x2x2 blocks: iterations at contrasts 1e-2 and 1e-4. On grid levels, "
        "blocks that join two slabs across a sheet (two clusters in one coarse unknown, which "
        "cannot let them move apart) cost iterations, the more the finer the level where that "
        "happens; split levels never put two clusters in one unknown.",
        "",
        "| binder sheets every 8 cells | grid 1e-2 | grid 1e-4 | split 1e-2 | split 1e-4 "
        "| default 1e-2 | default 1e-4 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *lines_align,
        "",
        "### Real electrodes",
        "",
        "Pore 1, NMC 0 (NREL) or 1e-4 (TauFactor electrode), carbon-binder domain at "
        "*contrast*; crops are the first 160 cells of each axis. Iterations and seconds per "
        "variant; *diff* = the largest relative difference of the four answers.",
        "",
        "| volume | CBD | default it | default s | grid it | grid s | split it | split s "
        "| no clusters it | no clusters s | relative conductivity | diff |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *lines_real,
        *whole,
        "",
        "### Extreme contrasts",
        "",
        'The default multigrid (`method="mg"`; `auto` solves below '
        "`MG_MIN_CONTRAST` = 1e-10 directly) against the direct solver: 80^3 crops (the "
        "TauFactor electrode with its NMC at *contrast* and its binder at 100x that) and "
        "cell-level noise labels (0 / 1 / *contrast*, `default_rng(0)`). *err* = relative "
        "difference to the direct answer.",
        "",
        "| volume | contrast | mg it | mg err | mg acc | direct acc |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *extreme_rows,
        "",
    ]
    if direct_rows:
        lines += [
            "Against the direct solver (PARDISO; its own *acc* is its inlet/outlet mismatch):",
            "",
            "| volume | CBD | direct s | direct acc | default - direct | grid - direct "
            "| split - direct | no clusters - direct |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *direct_rows,
            "",
        ]
    publish(lines, SECTION, not args.no_write, before="## 2D direct solver settings")


if __name__ == "__main__":
    main()
