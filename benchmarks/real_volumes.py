"""How well does a 2D cross-section stand in for a real 3D cathode?

For each real label volume in ``--data`` (default ``/work/shared/data/real``; pore label 0 =
solid electrolyte, conductive; every other label insulating), and each flow axis:

(a) the full-volume 3D relative conductivity sigma_eff / sigma and tortuosity factor
    (``ionflow.simulate(vol == 0, axis=a)``), with solve time, method, iterations and accuracy;
(b) every ``--every``-th 2D slice that contains the flow direction (for flow along axis 0: the
    slices ``vol[:, y, :]`` and ``vol[:, :, x]``), each solved along the flow: mean, std, min and
    max of their relative conductivity against the 3D value, and the fraction of slices with no
    percolating path;
(c) ``docs/real_volumes.png`` (histograms of the 2D values, 3D value as a vertical line) and
    ``docs/real_slice_fields.png`` (one slice with its potential and current maps).

Prints a Markdown table (machine and command at the top). Runs one solve at a time; set
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` to limit threads. Usage::

    python benchmarks/real_volumes.py                     # all, about 5-10 min on 2 cores
    python benchmarks/real_volumes.py --every 32 --axes 0 --no-3d   # a quick look
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

import ionflow
from ionflow.plot import plot_fields

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMES = {
    "taufactor_electrode_256.tiff": "TauFactor electrode",
    "nrel_nmc_cbd_bridge.tif": "NREL NMC + CBD",
}


def slices(conductive: np.ndarray, axis: int, every: int):
    """Yield (perpendicular axis, index, 2D slice, flow axis within the slice)."""
    for across in range(3):
        if across == axis:
            continue
        flow2d = axis if axis < across else axis - 1
        for k in range(0, conductive.shape[across], every):
            yield across, k, np.take(conductive, k, axis=across), flow2d


def study(path: Path, *, axes: list[int], every: int, solve3d: bool) -> list[dict]:
    import tifffile

    vol = tifffile.imread(path)
    conductive = vol == 0
    name = NAMES.get(path.name, path.stem)
    print(
        f"# {name}: shape {vol.shape}, electrolyte fraction {conductive.mean():.4f}",
        file=sys.stderr,
        flush=True,
    )
    rows = []
    for axis in axes:
        row: dict = {"volume": name, "axis": axis, "fraction": float(conductive.mean())}
        if solve3d:
            t0 = time.perf_counter()
            res = ionflow.simulate(conductive, axis=axis)
            row.update(
                rel3d=res.relative_conductivity,
                tau3d=res.tortuosity,
                time3d=time.perf_counter() - t0,
                method=res.method,
                iterations=res.iterations,
                accuracy=res.accuracy,
                imbalance=res.flux_imbalance,
            )
            print(
                f"  axis {axis}: 3D sigma_eff/sigma {res.relative_conductivity:.5f} "
                f"tau {res.tortuosity:.3f} in {row['time3d']:.1f} s ({res.method}, "
                f"{res.iterations} it)",
                file=sys.stderr,
                flush=True,
            )
        values, where = [], []
        t0 = time.perf_counter()
        for across, k, image, flow2d in slices(conductive, axis, every):
            where.append((across, k))
            if not image.any():
                values.append(0.0)
                continue
            values.append(ionflow.simulate(image, axis=flow2d).relative_conductivity)
        v = np.array(values)
        row.update(
            n2d=v.size,
            time2d=(time.perf_counter() - t0) / max(v.size, 1),
            mean2d=float(v.mean()),
            std2d=float(v.std()),
            min2d=float(v.min()),
            max2d=float(v.max()),
            blocked2d=float((v == 0).mean()),
            values2d=v,
            slices2d=where,
        )
        print(
            f"  axis {axis}: {v.size} slices, 2D mean {v.mean():.5f} std {v.std():.5f}, "
            f"{(v == 0).mean():.1%} blocked",
            file=sys.stderr,
            flush=True,
        )
        rows.append(row)
    return rows


def table(rows: list[dict], command: str) -> str:
    out = [
        f"Machine: {machine()}  ",
        f"Command: `{command}`",
        "",
        "| volume | flow axis | electrolyte fraction | 3D sigma_eff/sigma | 3D tortuosity "
        "| 3D solve (s) | method, iterations | accuracy | 2D slices | 2D mean +- std "
        "| 2D min .. max | 2D mean / 3D | 2D not percolating |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        has3d = "rel3d" in r
        ratio = r["mean2d"] / r["rel3d"] if has3d and r["rel3d"] > 0 else float("nan")
        out.append(
            f"| {r['volume']} | {r['axis']} | {r['fraction']:.3f} | "
            + (
                f"{r['rel3d']:.4f} | {r['tau3d']:.2f} | {r['time3d']:.1f} | "
                f"{r['method']}, {r['iterations']} | {r['accuracy']:.1e} | "
                if has3d
                else "- | - | - | - | - | "
            )
            + f"{r['n2d']} | {r['mean2d']:.4f} +- {r['std2d']:.4f} | "
            f"{r['min2d']:.4f} .. {r['max2d']:.4f} | {ratio:.2f} | {r['blocked2d']:.0%} |"
        )
    return "\n".join(out)


def plot_histograms(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    volumes = list(dict.fromkeys(r["volume"] for r in rows))
    axes_list = sorted({r["axis"] for r in rows})
    fig, axs = plt.subplots(
        len(volumes),
        len(axes_list),
        figsize=(3.6 * len(axes_list), 2.8 * len(volumes)),
        squeeze=False,
        constrained_layout=True,
    )
    for r in rows:
        ax = axs[volumes.index(r["volume"])][axes_list.index(r["axis"])]
        v = r["values2d"]
        ax.hist(v, bins=20, color="tab:blue", alpha=0.8, label=f"2D slices (n={v.size})")
        if "rel3d" in r:
            ax.axvline(r["rel3d"], color="tab:red", lw=2, label=f"3D: {r['rel3d']:.3f}")
        ax.axvline(r["mean2d"], color="k", ls="--", lw=1, label=f"2D mean: {r['mean2d']:.3f}")
        ax.set_title(f"{r['volume']}, flow axis {r['axis']}", fontsize=9)
        ax.set_xlabel("sigma_eff / sigma")
        ax.legend(fontsize=7)
    fig.suptitle(
        "Real electrodes: 2D cross-sections against the full 3D volume (pore = electrolyte)"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_typical_slice(path: Path, row: dict, out: Path) -> None:
    """The percolating slice whose 2D value is nearest the median of the percolating ones."""
    import tifffile

    v = row["values2d"]
    if not (v > 0).any():
        return
    target = np.median(v[v > 0])
    i = int(np.argmin(np.where(v > 0, np.abs(v - target), np.inf)))
    across, k = row["slices2d"][i]
    image = np.take(tifffile.imread(path) == 0, k, axis=across)
    axis = row["axis"]
    flow2d = axis if axis < across else axis - 1
    res = ionflow.simulate(image, axis=flow2d, fields=True)
    plot_fields(
        out,
        image,
        res.potential,
        res.current_density,
        axis=flow2d,
        title=f"{row['volume']}: slice {'zyx'[across]} = {k}, flow along {'zyx'[axis]}; "
        f"2D sigma_eff/sigma = {res.relative_conductivity:.4f}"
        + (f" (3D: {row['rel3d']:.4f})" if "rel3d" in row else ""),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "real"))
    p.add_argument("--every", type=int, default=4, help="solve every k-th 2D slice")
    p.add_argument("--axes", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--no-3d", action="store_true", help="skip the 3D solves")
    p.add_argument("--out", default=str(ROOT / "docs"), help="folder of the two figures")
    p.add_argument("--no-plots", action="store_true")
    args = p.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        data = Path("/work/shared/data/real")
    files = [data / n for n in NAMES if (data / n).exists()]
    command = "python benchmarks/real_volumes.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    rows = []
    for f in files:
        rows += study(f, axes=args.axes, every=args.every, solve3d=not args.no_3d)
    if not args.no_plots:
        out = Path(args.out)
        plot_histograms(rows, out / "real_volumes.png")
        plot_typical_slice(files[0], rows[0], out / "real_slice_fields.png")
    print(table(rows, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
