"""The real electrodes beyond sigma_eff: tau_e, the homogenised tensor, metrics, REV interval.

For the two real label volumes in ``shared/data/real/`` (pore label 0 = the solid electrolyte;
the active material reacts: 85 in TauFactor's electrode, 1 in NREL's; carbon-binder is inert and
insulating), in one run on this machine:

* ``electrode_tortuosity`` along axis 0 (separator at z = 0, collector at the last slice);
* the homogenised tensor of the pore phase (``homogenised_tensor``: every axis periodic), its
  principal values;
* ``metrics.measure``: the pore's specific surface area (face count x 2/3, 1/voxel), the
  pore/active interface, the pore's percolating share along axis 0;
* ``representativeness`` along axis 0: the material's 95 % interval of sigma_eff / sigma.

Prints the Markdown table of the README's "Real electrodes" section (second table).

    OMP_NUM_THREADS=1 python benchmarks/real_transport.py [--data DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import tifffile

import ionflow
from ionflow.metrics import measure
from ionflow.rev import representativeness

ROOT = Path(__file__).resolve().parents[1]
VOLUMES = (
    ("TauFactor electrode", "taufactor_electrode_256.tiff", 85),
    ("NREL NMC + CBD", "nrel_nmc_cbd_bridge.tif", 1),
)


def study(name: str, path: Path, active: int) -> dict:
    vol = tifffile.imread(path)
    pore = vol == 0
    row: dict = {"volume": name, "shape": "x".join(map(str, vol.shape))}
    t = time.perf_counter()
    el = ionflow.electrode_tortuosity(vol, axis=0, conductive_label=0, reactive_label=active)
    row["tau_e"], row["t_tau_e"] = el.tau_e, time.perf_counter() - t
    t = time.perf_counter()
    tensor = ionflow.homogenised_tensor(pore)
    row["principal"] = tensor.principal_values
    row["t_tensor"] = time.perf_counter() - t
    t = time.perf_counter()
    m = measure(vol, axes=(0,), size_distributions=False, two_point=False)
    row["surface"] = m.phase(0).specific_surface_area
    row["interface"] = m.interface(0, active)
    row["percolating"] = m.phase(0).percolation[0].percolating
    row["t_metrics"] = time.perf_counter() - t
    t = time.perf_counter()
    rev = representativeness(pore, axis=0, samples=8, rng=0, progress=False)
    est = rev["relative_conductivity"]
    row["rev"] = tuple(est.material_interval)
    row["whole"] = rev.full.relative_conductivity if rev.full is not None else float("nan")
    row["t_rev"] = time.perf_counter() - t
    print(row, flush=True)
    return row


def table(rows: list[dict]) -> str:
    head = (
        "| volume | shape | tau_e (axis 0) | homogenised tensor: principal sigma_eff/sigma | "
        "pore surface (1/voxel) | pore/active interface (1/voxel) | pore percolating (axis 0) | "
        "3D sigma_eff/sigma (axis 0) | REV 95 % interval of the material | time tau_e / tensor / "
        "metrics / REV (s) |\n| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |"
    )
    lines = [head]
    for r in rows:
        pv = ", ".join(f"{v:.4f}" for v in r["principal"])
        lines.append(
            f"| {r['volume']} | {r['shape']} | {r['tau_e']:.3f} | {pv} | {r['surface']:.4f} | "
            f"{r['interface']:.4f} | {r['percolating']:.3f} | {r['whole']:.4f} | "
            f"[{r['rev'][0]:.4f}, {r['rev'][1]:.4f}] | {r['t_tau_e']:.0f} / {r['t_tensor']:.0f} / "
            f"{r['t_metrics']:.0f} / {r['t_rev']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "real"))
    args = p.parse_args()
    rows = [study(name, Path(args.data) / f, active) for name, f, active in VOLUMES]
    print(table(rows))


if __name__ == "__main__":
    main()
