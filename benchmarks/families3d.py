#!/usr/bin/env python3
"""The 3D solver across microstructure families: grid or split coarse levels, and TauFactor 2.

    python benchmarks/families3d.py [--data DIR] [--size 128] [--seeds 3 11] [--large 256]
                                    [--no-taufactor] [--no-write]

Every generator of ``ionflow.generate`` at electrolyte fractions 0.35 and 0.5 (non-overlapping
particles: 0.8; seeds ``--seeds``), the conducting phase of the two real electrodes and of the TauFactor 2 standard
volume in ``--data`` (first ``--size`` cells of each axis), all ``--size``^3, flow along axis 0;
and the generated cases that needed the most grid iterations again at ``--large``^3.
ionflow solves each volume (in this process, after a warm-up; best of 2) with its coarse levels
``SPLIT="never"`` (2x2x2 grid blocks, the dense finest level where it applies), ``"auto"``
(the default: grid levels, switching to blocks split into their connected pieces when the
first iterations contract slowly) and ``"always"`` (split from the start). TauFactor 2
(``Solver``, CPU, torch's default threads) solves the ``--size`` volumes in the same process.
Writes the section "Solver across microstructure families" of ``BENCHMARKS.md`` unless
``--no-write``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_head, machine  # noqa: E402
from _solver_report import publish  # noqa: E402

import ionflow  # noqa: E402
from ionflow.solve import _lean  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Solver across microstructure families (benchmarks/families3d.py)"
MODES = ("never", "auto", "always")


FRACTIONS = {"nonoverlapping": (0.8,)}  # its particles jam (or take minutes) below ~0.7
"""Electrolyte fractions per generator (default 0.35 and 0.5)."""


def generated(size: int, seeds: list[int]) -> Iterator[tuple[str, np.ndarray]]:
    for kind in ionflow.generate.GENERATORS:
        if kind == "fitted":  # needs statistics fitted to an image
            continue
        for fraction in FRACTIONS.get(kind, (0.35, 0.5)):
            for seed in seeds:
                try:
                    vol = ionflow.generate.generate(
                        kind, (size,) * 3, electrolyte_fraction=fraction, rng=seed
                    )
                except ionflow.InputError as exc:  # non-overlapping particles jam
                    print(f"{kind} {fraction:g}: {exc}", flush=True)
                    continue
                yield f"{kind} {fraction:g}, seed {seed}", vol.astype(bool)


def real(data: Path, size: int) -> list[tuple[str, np.ndarray]]:
    import tifffile

    cases = []
    crop = (slice(0, size),) * 3
    for name, pore in (("taufactor_electrode_256.tiff", 0), ("nrel_nmc_cbd_bridge.tif", 0)):
        path = data / "real" / name
        if path.exists():
            cases.append((f"{name} (pore)", tifffile.imread(path)[crop] == pore))
    tf = data / "benchmark" / "TF-500x500x500-1x2x6-v3.tiff.zip"
    if tf.exists():
        with zipfile.ZipFile(tf) as z:
            member = next(m for m in z.namelist() if m.endswith((".tif", ".tiff")))
            vol = tifffile.imread(io.BytesIO(z.read(member)))
        cases.append(("TF-500 standard volume (phase 255)", vol[crop] > 0))
    return cases


def solve_ionflow(vol: np.ndarray, mode: str) -> dict:
    old = _lean.SPLIT
    _lean.SPLIT = mode
    try:
        best, res = np.inf, None
        for _ in range(2):
            t = time.perf_counter()
            res = ionflow.simulate(vol)
            best = min(best, time.perf_counter() - t)
    finally:
        _lean.SPLIT = old
    assert res is not None
    return {"s": best, "it": res.iterations, "rel": res.relative_conductivity}


def solve_taufactor(vol: np.ndarray) -> dict | None:
    try:
        import taufactor
    except ImportError:
        return None
    t = time.perf_counter()
    s = taufactor.Solver(vol[None].astype(np.uint8), device="cpu")
    with contextlib.redirect_stdout(io.StringIO()):
        s.solve(verbose=False)
    return {
        "s": time.perf_counter() - t,
        "it": int(s.iter),
        "rel": float(np.asarray(s.D_eff).ravel()[0]),
        "converged": bool(s.converged),
    }


def row(name: str, vol: np.ndarray, peer: bool) -> tuple[str, dict]:
    r = {m: solve_ionflow(vol, m) for m in MODES}
    rels = [r[m]["rel"] for m in MODES]
    spread = (max(rels) - min(rels)) / max(abs(max(rels)), 1e-300)
    # TauFactor runs to its iteration limit without a percolating path (BENCHMARKS.md)
    tf = solve_taufactor(vol) if peer and r["auto"]["rel"] > 0 else None
    cells = [
        name,
        f"{vol.mean():.2f}",
        f"{r['auto']['rel']:.6f}",
        *(f"{r[m]['it']} / {r[m]['s']:.2f}" for m in MODES),
        f"{spread:.0e}",
    ]
    if tf is None:
        cells += ["not run", ""]
    else:
        diff = tf["rel"] / r["auto"]["rel"] - 1 if r["auto"]["rel"] > 0 else float("nan")
        conv = "" if tf["converged"] else ", not converged"
        cells += [
            f"{tf['it']} / {tf['s']:.2f}{conv} ({diff:+.2%})",
            f"{tf['s'] / r['auto']['s']:.1f}x",
        ]
    return "| " + " | ".join(cells) + " |", r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 11])
    ap.add_argument("--large", type=int, default=256)
    ap.add_argument("--no-taufactor", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    start, commit = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), git_head()
    ionflow.simulate(ionflow.generate.disks((40,) * 3, electrolyte_fraction=0.7, rng=1))
    for mode in ("always",):  # the split levels' kernels too
        solve_ionflow(ionflow.generate.disks((40,) * 3, electrolyte_fraction=0.5, rng=1), mode)
    rows, grid_its = [], []
    cases = itertools.chain(generated(args.size, args.seeds), real(Path(args.data), args.size))
    for name, vol in cases:
        line, r = row(name, vol, not args.no_taufactor)
        rows.append(line)
        print(line, flush=True)
        if "," in name:  # generated: kept for the large size
            grid_its.append((r["never"]["it"], name))
    large = []
    if args.large:
        worst = sorted(grid_its, reverse=True)[:3]
        for _, name in worst:
            kind, rest = name.split(" ", 1)
            fraction, seed = float(rest.split(",")[0]), int(rest.rsplit(" ", 1)[1])
            vol = ionflow.generate.generate(
                kind, (args.large,) * 3, electrolyte_fraction=fraction, rng=seed
            ).astype(bool)
            line, _ = row(name, vol, False)
            large.append(line)
            print(line, flush=True)
    head = [
        "| case | fraction | relative conductivity | never: it / s | auto (default): it / s "
        "| always: it / s | spread | TauFactor 2: it / s (diff) | TauFactor / auto |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    publish(
        [
            SECTION,
            "",
            f"Run {start} at git {commit} (as it started) on {machine()}; command "
            f"`python benchmarks/families3d.py` ({time.perf_counter() - t0:.0f} s in all; "
            f"threads: {threads}). Each volume is solved along axis 0 in one process after a "
            "warm-up (best of 2; the machine is shared, so compare times within a row). "
            '*never*: the coarse levels are 2x2x2 grid blocks (`_lean.SPLIT = "never"`; '
            "binary volumes of up to 400^3 cells also get the dense finest level); *auto* (the "
            "default): the grid levels, switching to blocks split into their face-connected "
            "pieces (`LeanMultigrid.connect_setup`) when two successive iterations each "
            "contract the energy current's step by less than half; *always*: split from the "
            "start. *it*: flexible-CG iterations to ionflow's default accuracy (1e-9 on the "
            "current); *spread*: the largest relative difference of the three answers. "
            "TauFactor 2: `Solver` on the CPU with torch's default threads, in the same "
            "process; *diff*: its relative conductivity against ionflow's.",
            "",
            f"### {args.size}^3",
            "",
            *head,
            *rows,
            "",
            *(
                [
                    f"### The three generated cases with the most grid iterations, "
                    f"{args.large}^3 (ionflow only)",
                    "",
                    *head,
                    *large,
                    "",
                ]
                if large
                else []
            ),
        ],
        SECTION,
        not args.no_write,
        before="## 2D batch and single image",
    )


if __name__ == "__main__":
    main()
