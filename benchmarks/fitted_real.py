"""Does a volume generated from a real electrode's statistics conduct like the electrode?

    python benchmarks/fitted_real.py [--size 128] [--samples 3] [--data DIR]

For each real volume (pore = electrolyte) and the TauFactor 500^3 benchmark (phase 255), a
central ``size``^3 crop is measured with ``ionflow.generate.fit_statistics`` (fraction, mean
chord lengths per axis, size spread); ``samples`` volumes are drawn with
``ionflow.generate.fitted`` from those statistics; all are solved exactly along every axis.
Prints a Markdown table: mean chord lengths and relative conductivity, real against fitted.
The real voxels are only measured and solved here, never used for training.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import surrogate_families  # noqa: E402
from _common import machine  # noqa: E402


def main() -> int:
    from ionflow import simulate
    from ionflow.generate import fit_statistics, fitted, mean_chord_lengths

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument(
        "--data",
        type=Path,
        default=surrogate_families.SHARED,
        help="folder with real/ and benchmark/ (default: ../shared/data beside the repository)",
    )
    args = ap.parse_args()
    surrogate_families.SHARED = args.data  # _volumes() reads the volumes from there
    n = args.size
    print(
        f"Machine: {machine()}. Command: `python benchmarks/fitted_real.py --size {n} "
        f"--samples {args.samples}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n"
    )
    print(
        "| volume | kind | electrolyte fraction | mean electrolyte chord per axis (voxels) "
        "| sigma_eff/sigma per axis |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, vol in surrogate_families._volumes().items():
        c = [(s - n) // 2 for s in vol.shape]
        crop = np.ascontiguousarray(vol[c[0] : c[0] + n, c[1] : c[1] + n, c[2] : c[2] + n])
        stats = fit_statistics(crop)
        cases = [("real crop", crop)] + [
            (f"fitted #{k}", fitted((n, n, n), stats=stats, rng=k)) for k in range(args.samples)
        ]
        for kind, v in cases:
            chords = mean_chord_lengths(v)
            rel = [simulate(v, axis=a).relative_conductivity for a in range(3)]
            print(
                f"| {name} | {kind} | {v.mean():.3f} | "
                f"{' / '.join(f'{x:.1f}' for x in chords)} | "
                f"{' / '.join(f'{x:.4f}' for x in rel)} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
