"""Representativeness (``ionflow.rev``): a real-data demo and a calibration check.

``real``: a cube cropped from each real label volume in ``--data`` (pore label 0 conducts,
every other label insulates, flow along axis 0) goes through ``representativeness``; the
whole volume is then solved too, to see whether the crop's interval for the material covers
it (the whole volume is itself a sample, so this is a sanity check, not a proof). Writes
``docs/rev_real.png`` (the first volume's REV curve).

``coverage``: is the 95 % interval right? A large generated image (the "material") is cut
into disjoint samples of edge N; each sample gets its own study. Reported: the true spread
of the samples' values (std over samples) against the predicted std(N), and how often the
intervals cover what they claim to (the whole sample's value for the subvolume estimate; the
mean over all samples, standing in for the material, for the material interval).

Prints Markdown tables with machine and command at the top. Usage::

    python benchmarks/rev.py real                 # about 3 min on 2 cores
    python benchmarks/rev.py coverage             # about 3 min
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time
from pathlib import Path

import numpy as np

import ionflow
from ionflow.rev import representativeness

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMES = {
    "taufactor_electrode_256.tiff": "TauFactor electrode",
    "nrel_nmc_cbd_bridge.tif": "NREL NMC + CBD",
}


def real(args: argparse.Namespace) -> None:
    import tifffile

    from ionflow.plot import plot_rev

    print(
        "| volume | crop | edges | sigma_eff/sigma per edge: mean (CV) | alpha | crop value | "
        "material 95 % interval | +- | whole volume | covered | time (s) |"
    )
    print("| --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: |")
    for i, path in enumerate(sorted(Path(args.data).glob("*.tif*"))):
        vol = tifffile.imread(path) == 0
        c = [(n - args.crop) // 2 for n in vol.shape]
        crop = vol[tuple(slice(a, a + args.crop) for a in c)]
        t0 = time.perf_counter()
        res = representativeness(
            crop, axis=0, edges=args.edges, samples=args.samples, rng=0, progress=True
        )
        took = time.perf_counter() - t0
        est = res["relative_conductivity"]
        whole = ionflow.simulate(vol, axis=0).relative_conductivity if args.whole else None
        lo, hi = est.material_interval
        per_edge = ", ".join(f"{m:.3f} ({cv:.2f})" for m, cv in zip(est.mean, est.cv))
        covered = "" if whole is None else ("yes" if lo <= whole <= hi else "no")
        print(
            f"| {NAMES.get(path.name, path.stem)} | {args.crop}^3 at {tuple(c)} | "
            f"{', '.join(map(str, est.edges))} | {per_edge} | {est.alpha:.2f} | "
            f"{est.sample_value:.4f} | [{lo:.4f}, {hi:.4f}] | "
            f"{100 * est.relative_half_width:.1f} % | "
            f"{'' if whole is None else f'{whole:.4f}'} | {covered} | {took:.0f} |",
            flush=True,
        )
        for line in res.summary():
            print(line, file=sys.stderr)
        if i == 0:
            plot_rev(ROOT / "docs" / "rev_real.png", res,
                     title=f"{NAMES.get(path.name, path.stem)}, {args.crop}^3 crop, flow axis 0")  # fmt: skip


CASES = {  # name: (generator, electrolyte fraction, sample edge N, samples per axis, ndim)
    "disks 2D, 0.8": ("disks", 0.8, 128, 6, 2),
    "disks 2D, 0.6": ("disks", 0.6, 128, 6, 2),
    "spheres 3D, 0.5": ("disks", 0.5, 64, 3, 3),
}


def coverage(args: argparse.Namespace) -> None:
    print(
        "| material | N | samples | default edges | true std(N) | predicted std(N), median | "
        "alpha, median | sample estimate covers the full solve | material interval covers "
        "the mean | time (s) |"
    )
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.cases or CASES:
        gen, frac, n, k, d = CASES[name]
        t0 = time.perf_counter()
        big = ionflow.generate.GENERATORS[gen]((n * k,) * d, electrolyte_fraction=frac, rng=7)
        rows = []
        for j, idx in enumerate(itertools.product(range(k), repeat=d)):
            sample = big[tuple(slice(i * n, (i + 1) * n) for i in idx)]
            res = representativeness(sample, samples=args.samples, rng=j, progress=False)
            e = res["relative_conductivity"]
            rows.append((e.sample_value, *e.sample_interval, *e.material_interval, e.sample_std,
                         e.alpha))  # fmt: skip
        a = np.array(rows)
        mean = a[:, 0].mean()
        cover_a = np.mean((a[:, 1] <= a[:, 0]) & (a[:, 0] <= a[:, 2]))
        cover_b = np.mean((a[:, 3] <= mean) & (mean <= a[:, 4]))
        print(
            f"| {name} | {n} | {len(a)} | {', '.join(map(str, res.edges))} | "
            f"{a[:, 0].std(ddof=1):.4f} | {np.median(a[:, 5]):.4f} | {np.median(a[:, 6]):.2f} | "
            f"{100 * cover_a:.0f} % | {100 * cover_b:.0f} % | {time.perf_counter() - t0:.0f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("real")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "real"))
    p.add_argument("--crop", type=int, default=128, help="edge of the central cube cropped")
    p.add_argument("--edges", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--no-whole", dest="whole", action="store_false", help="skip the full solve")
    p.set_defaults(func=real)
    p = sub.add_parser("coverage")
    p.add_argument("--cases", nargs="+", choices=list(CASES))
    p.add_argument("--samples", type=int, default=8)
    p.set_defaults(func=coverage)
    args = parser.parse_args()
    print(f"Machine: {machine()}  ")
    print(f"Command: `python benchmarks/rev.py {shlex.join(sys.argv[1:])}`\n")
    args.func(args)


if __name__ == "__main__":
    main()
