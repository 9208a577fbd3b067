"""A/B of MKL PARDISO settings for the shared-pattern 2D solver (``solve/_pardiso_grid.py``).

Times the numeric factorisation + solve (phase 23) of one image per shape, with
``iparm[23]`` (MKL's two-level factorisation) off (0), classic (1) and improved (10), on one
MKL thread and (400x400) two, alternating in one process so that load on a shared machine hits
all alike, and checks that the potentials agree.

    python benchmarks/pardiso_settings.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ionflow.generate import generate
from ionflow.solve import _pardiso_grid as P
from ionflow.solve import percolating_mask
from ionflow.solve._linear import MklThreads


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

    # (iparm[23], MKL threads): ionflow uses (1, 1) below THREADED_CELLS, (10, all) from there
    # (1, all once numba or torch is loaded: see _pardiso_grid._improved_is_safe)
    settings = {
        (64, 64): [(0, 1), (1, 1), (10, 1)],
        (400, 400): [(0, 1), (1, 1), (10, 1), (1, 2), (10, 2)],
    }
    print("| shape | iparm[23] | MKL threads | ms | vs iparm[23]=0, 1 thread | max abs dx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for shape, reps in (((64, 64), 300), ((400, 400), 15)):
        img = generate("disks", shape, electrolyte_fraction=0.8, rng=0).astype(float)
        keep = percolating_mask(img > 0, 0)[0]
        times: dict[tuple[int, int], list[float]] = {s: [] for s in settings[shape]}
        x: dict[tuple[int, int], np.ndarray] = {}
        for _ in range(args.repeats):
            for level, threads in settings[shape]:  # alternating: load hits all alike
                Setting.two_level = level
                with MklThreads(lib, threads):
                    solver = Setting(lib, shape, level == 10)
                    solver.solve(img, keep, 0, (1.0, 1.0))
                    t = time.perf_counter()
                    for _ in range(reps):
                        x[level, threads] = solver.solve(img, keep, 0, (1.0, 1.0))
                    times[level, threads].append((time.perf_counter() - t) / reps * 1e3)
                    solver.release()
        base = min(times[0, 1])
        for (level, threads), ts in times.items():
            diff = float(np.abs(x[level, threads] - x[0, 1]).max())
            print(
                f"| {shape[0]}x{shape[1]} | {level} | {threads} | {min(ts):.2f} | "
                f"{base / min(ts):.2f}x | {diff:.1e} |"
            )


if __name__ == "__main__":
    main()
