"""Worked example: real electrode volumes -> parameter file -> PyBaMM discharge.

For each real label volume in ``--data`` (pore label 0 = electrolyte; active material and
carbon-binder labels below), ``ionflow.cellmodel.electrode_parameters`` measures porosity,
transport efficiency, tortuosity factor, Bruggeman exponent, surface area and particle radius
through the thickness (axis 0); the parameters go to ``--out``/<name>.json (BPX names, SI
units). Each file then replaces the positive electrode of PyBaMM's Chen2020 cell (NMC811 /
graphite-SiOx, LG M50) and a DFN discharge runs at several C-rates, next to Chen2020's own
positive electrode (porosity 0.335, Bruggeman 1.5): once with everything measured (the active
fraction too, which sets the capacity) and once keeping Chen2020's active fraction, so that
only transport and particle radius differ. Writes ``docs/cellmodel_discharge.png``.

The volumes carry no voxel size: ``--voxel-size`` (default 0.4 um, an assumption, printed in
the table) sets the surface area (1 / h) and the radius (h); porosity, transport efficiency,
tortuosity and Bruggeman exponent do not depend on it. Needs ``pip install
'ionflow[cellmodel]'``. Usage::

    python benchmarks/cellmodel.py                  # whole volumes, about 3 min on 2 cores
    python benchmarks/cellmodel.py --crop 128       # a central crop, faster
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from ionflow.cellmodel import (
    discharge,
    electrode_parameters,
    read_parameters,
    to_pybamm,
    write_parameters,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VOLUMES = {  # file: (name, active-material label)
    "taufactor_electrode_256.tiff": ("TauFactor electrode", 85),
    "nrel_nmc_cbd_bridge.tif": ("NREL NMC + CBD", 1),
}


def main() -> None:
    import tifffile

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "real"))
    parser.add_argument("--voxel-size", type=float, default=0.4e-6, help="m (assumed)")
    parser.add_argument("--crop", type=int, help="central cube of this edge (default: whole)")
    parser.add_argument("--c-rates", type=float, nargs="+", default=[0.1, 1.0, 2.0])
    parser.add_argument("--model", default="DFN", choices=["SPMe", "DFN"])
    parser.add_argument("--out", default=str(ROOT / "runs" / "cellmodel"))
    args = parser.parse_args()
    print(f"Machine: {machine()}  ")
    print(f"Command: `python benchmarks/cellmodel.py {shlex.join(sys.argv[1:])}`\n")

    files = {}
    print("| electrode | voxels | porosity | active fraction | transport efficiency | tortuosity "
          "| Bruggeman b | a (1/m) | reactive a (1/m) | radius (um) | time (s) |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fname, (name, active) in VOLUMES.items():
        path = Path(args.data) / fname
        vol = tifffile.imread(path)
        if args.crop:
            c = [(n - args.crop) // 2 for n in vol.shape]
            vol = vol[tuple(slice(a, a + args.crop) for a in c)]
        t0 = time.perf_counter()
        p = electrode_parameters(vol, pixel_size=args.voxel_size, electrolyte=0, active=active,
                                 axis=0, source=fname)  # fmt: skip
        out = write_parameters(Path(args.out) / f"{path.stem}.json", p, title=name)
        files[name] = out
        print(
            f"| {name} | {'x'.join(map(str, vol.shape))} at {args.voxel_size * 1e6:g} um "
            f"(assumed) | {p.porosity:.3f} | {p.active_material_fraction:.3f} | "
            f"{p.transport_efficiency:.4f} | {p.tortuosity_factor:.3f} | "
            f"{p.bruggeman_exponent:.3f} | {p.surface_area:.3g} | "
            f"{p.reactive_surface_area:.3g} | {p.particle_radius * 1e6:.2f} | "
            f"{time.perf_counter() - t0:.0f} |",
            flush=True,
        )

    print(f"\n{args.model} discharge, Chen2020 cell with the positive electrode replaced "
          "(capacity to 2.5 V, mean voltage):\n")  # fmt: skip
    head = " | ".join(f"{c:g}C: A.h, V" for c in args.c_rates)
    print(f"| positive electrode | {head} |")
    print("| --- |" + " ---: |" * len(args.c_rates))
    curves = {}
    cases = {"Chen2020 (porosity 0.335, b = 1.5)": ([], True)}
    for name, f in files.items():
        params = read_parameters(f)["positive"]
        cases[name] = (params, True)
        # Chen2020's active fraction (0.665) kept: the same capacity, only transport and radius
        cases[f"{name}, Chen2020 active fraction"] = (params, False)
    for name, (params, active) in cases.items():
        values = to_pybamm(params, active_fraction=active)
        cells = []
        for c in args.c_rates:
            r = discharge(values, c_rate=c, model=args.model)
            curves[name, c] = r
            cells.append(f"{r['capacity [A.h]'][-1]:.3f}, {np.mean(r['voltage [V]']):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    plot(curves, args.c_rates, args.model)


def plot(curves, c_rates, model) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.8), constrained_layout=True)
    names = list(dict.fromkeys(n for n, _ in curves))
    styles = ["-", "--", ":", "-."]
    for i, name in enumerate(names):
        for j, c in enumerate(c_rates):
            r = curves[name, c]
            ax.plot(r["capacity [A.h]"], r["voltage [V]"], styles[j % 4], color=f"C{i}",
                    label=f"{name}, {c:g}C")  # fmt: skip
    ax.set_xlabel("discharged capacity (A.h)")
    ax.set_ylabel("voltage (V)")
    ax.set_title(f"PyBaMM {model}, Chen2020 cell, positive electrode from the images")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    out = ROOT / "docs" / "cellmodel_discharge.png"
    fig.savefig(out, dpi=110)
    print(f"\n![discharge curves]({out.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
