"""A/B of MKL PARDISO settings for the shared-pattern 2D solver (``solve/_pardiso_grid.py``).

Times the numeric factorisation + solve (phase 23) of one image per shape, with
``iparm[23]`` (MKL's two-level factorisation) off and on, alternating in one process so that
load on a shared machine hits both alike, and checks that the potentials agree.

    python benchmarks/pardiso_settings.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ionflow.generate import generate
from ionflow.solve import _pardiso_grid as P
from ionflow.solve import percolating_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternations per setting")
    args = parser.parse_args()
    lib = P._library()
    if lib is None:
        raise SystemExit("no MKL PARDISO here (pypardiso missing)")
    call = P._GridPardiso._call

    class Setting(P._GridPardiso):
        two_level = 0

        def _call(self, phase: int, b: np.ndarray | None = None) -> np.ndarray:
            if phase == 11:  # the analysis fixes the algorithm
                self.iparm[23] = self.two_level
            return call(self, phase, b)

    print("| shape | iparm[23]=0 ms | iparm[23]=1 ms | ratio | max |dx| |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for shape, reps in (((64, 64), 300), ((400, 400), 15)):
        img = generate("disks", shape, electrolyte_fraction=0.8, rng=0).astype(float)
        keep = percolating_mask(img > 0, 0)[0]
        times: dict[int, list[float]] = {0: [], 1: []}
        x: dict[int, np.ndarray] = {}
        for _ in range(args.repeats):
            for level in (0, 1):
                Setting.two_level = level
                with P._OneMklThread(lib):  # analysis and factorisation alike single-threaded
                    solver = Setting(lib, shape)
                    solver.solve(img, keep, 0, (1.0, 1.0))
                    t = time.perf_counter()
                    for _ in range(reps):
                        x[level] = solver.solve(img, keep, 0, (1.0, 1.0))
                    times[level].append((time.perf_counter() - t) / reps * 1e3)
                    solver.release()
        off, on = min(times[0]), min(times[1])
        diff = float(np.abs(x[0] - x[1]).max())
        print(f"| {shape[0]}x{shape[1]} | {off:.2f} | {on:.2f} | {off / on:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
