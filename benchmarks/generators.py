"""Time every generator at 64^3 and 64^2; print a markdown table.

Each cell is the median (and the slowest) of ``--seeds`` images at each electrolyte fraction
0.35, 0.6 and 0.9, after one warm-up image (caches of box offsets are filled then). Generators
with default options draw their own shape parameters, so the spread covers small and large
particles alike.

    python benchmarks/generators.py              # ~1 min on 2 cores
    python benchmarks/generators.py --seeds 3 --only lognormal grf
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ionflow import InputError
from ionflow.generate import GENERATORS, generate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

FRACTIONS = (0.35, 0.6, 0.9)
SLOW = {"disks", "ellipses", "nonoverlapping"}  # one particle at a time: fewer seeds in 3D


def time_one(kind: str, shape: tuple[int, ...], seeds: int) -> tuple[float, float]:
    """Median and largest wall time (ms) over seeds x FRACTIONS."""
    generate(kind, shape, electrolyte_fraction=0.9, rng=10_000)  # warm-up
    times = []
    for seed in range(seeds):
        for fraction in FRACTIONS:
            t0 = time.perf_counter()
            try:
                generate(kind, shape, electrolyte_fraction=fraction, rng=seed)
            except InputError:  # non-overlapping particles jam at low fractions in 3D
                continue
            times.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(times)), float(np.max(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--only", nargs="*", default=None, help="generator names")
    args = parser.parse_args(argv)
    kinds = args.only or list(GENERATORS)
    print(f"Machine: {machine()}\n")
    print(f"Median (max) ms per image over {args.seeds} seeds x fractions {FRACTIONS}.\n")
    print("| generator | 64^3 median (max) ms | 64^2 median (max) ms |")
    print("| --- | ---: | ---: |")
    for kind in kinds:
        seeds3 = max(1, args.seeds // 4) if kind in SLOW else args.seeds
        m3, x3 = time_one(kind, (64, 64, 64), seeds3)
        m2, x2 = time_one(kind, (64, 64), args.seeds)
        print(f"| {kind} | {m3:.1f} ({x3:.0f}) | {m2:.2f} ({x2:.1f}) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
