"""Same-run parity of ionflow's newer physics with TauFactor 2.

What is compared (ionflow in this process; every TauFactor solve in one worker process with a
time limit, CPU, torch's default threads):

* ``simulate(boundary="periodic")`` against ``PeriodicSolver``;
* ``simulate(pixel_size=...)`` (one edge per axis, array order) against
  ``AnisotropicSolver(spacing=(dx, dy, dz))``, where TauFactor's ``dx`` is the edge along *its*
  first axis, the flow axis: for ionflow's ``axis=k`` and ``pixel_size=p`` the spacing is ``p[k]``
  followed by the other two edges in array order (``np.moveaxis`` order);
* ``electrode_tortuosity`` (tau_e, insulating and periodic lateral faces) against the
  ``ElectrodeSolver`` of TauFactor 1.2.1 and the ``ElectrodeSolver`` /
  ``PeriodicElectrodeSolver`` of TauFactor's development head (1.2.1 has neither a periodic
  electrode solver nor an impedance solver). Each TauFactor definition is also re-solved here
  exactly (float64, AMG-CG to 1e-12) so that a difference splits into "their stopping rule"
  and "a different definition";
* ``impedance`` against the head's ``ImpedanceSolver(mode="nyquist")`` at TauFactor's own
  frequencies (same reduced units: TauFactor's Z is per cross-section cell, Z_tf = Ny Nz Z_ionflow),
  with a Nyquist plot that also shows ``ideal_impedance``;
* ``conductivity_tensor`` (diagonal) against ``PeriodicSolver`` along each axis;
* ``simulate(label_conductivities=...)`` against ``MultiPhaseSolver`` (1.2.1 and head) on series
  layers (analytic) and a random three-phase volume.

The worker and the exactly re-solved TauFactor definitions live in ``_parity_taufactor.py``.
Run from the repository root (3 to 8 minutes on 2 busy cores; ``--quick``: small sizes, a
check of the script)::

    python benchmarks/parity.py --markdown /tmp/parity.md --plot benchmarks/parity_nyquist.png

``--taufactor-head`` names a TauFactor source tree or git repository for the unreleased solvers
(default: the mirror used when this was written; ``none`` skips them). taufactor and torch are
not ionflow dependencies: ``pip install taufactor``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import ionflow
from ionflow.generate import generate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _parity_taufactor as tfp  # noqa: E402

HEAD_DEFAULT = "/work/.mirror/tldr-group+taufactor/repo"
REAL_DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/real/taufactor_electrode_256.tiff"

# Precision and stopping rules, read from the sources (TauFactor 1.2.1 as installed, head).
STOPPING = """\
| solver | precision | stopping rule (defaults) |
|---|---|---|
| ionflow `simulate` (3D), `conductivity_tensor` | float64 | multigrid-preconditioned CG until the current is accurate to `rtol=1e-9` and inlet and outlet currents agree to `balance_tol=1e-8` |
| ionflow `electrode_tortuosity` | float64 | one real SPD solve (the omega -> 0 limit): SuperLU up to 200 000 unknowns, else AMG-CG to 1e-12 |
| ionflow `impedance` | complex128 | one sparse LU (SuperLU) per frequency: exact to round-off |
| TauFactor `Solver`, `PeriodicSolver`, `AnisotropicSolver` (1.2.1) | float32 | SOR; every 100 iterations: (max - min) / max of the layer fluxes < 1e-2 and tau changed < 2e-3; `iter_limit=10000` |
| TauFactor `MultiPhaseSolver` (1.2.1 and head) | float32 | the same rule |
| TauFactor `ElectrodeSolver` (1.2.1) | complex128 | SOR at omega = 1e-6 until the std of tau_e over 100 iterations < 1e-5 (after >= 1000), then omega / 10 and again until two stages agree to 1e-3; `iter_limit` per stage, and "Iteration limit reached" also ends it |
| TauFactor head `ElectrodeSolver`, `PeriodicElectrodeSolver` | float32 | SOR of a steady reaction problem; every 100 iterations: slice means changed < 1e-2 and tau_e changed < 2e-3 |
| TauFactor head `ImpedanceSolver` | complex128 | SOR per frequency (26 from high to low in `nyquist` mode): slice means of abs(phi) changed < 1e-3 of their range and Re Z / Re Z_line changed < 2e-3; `iter_limit=10000` per frequency; a NaN field restarts from the analytic profile |
"""


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------


def straight_pores(n: int) -> np.ndarray:
    """2 x 2 pores every 4 voxels along axis 0, none touching a lateral face (fraction 1/4)."""
    y = np.arange(n) % 4
    line = (y == 1) | (y == 2)
    return np.broadcast_to(line[None, :, None] & line[None, None, :], (n, n, n)).copy()


def real_crop(path: Path, n: int) -> tuple[np.ndarray, str]:
    """Central crop; labels 1 = pore (electrolyte), 0 = NMC (reactive), 2 = binder (inert).

    The README of the real volumes: pore (0) is the conductive phase, the others (near)
    insulating; for tau_e the NMC (85) reacts and the carbon-binder (170) is inert.
    """
    import tifffile

    raw = tifffile.imread(path)
    c = [(s - n) // 2 for s in raw.shape]
    crop = raw[c[0] : c[0] + n, c[1] : c[1] + n, c[2] : c[2] + n]
    lab = np.full(crop.shape, 2, np.uint8)
    lab[crop == 0] = 1
    lab[crop == 85] = 0
    return lab, f"real {n}^3"


def three_phase(n: int, seed: int) -> np.ndarray:
    """0 = electrolyte (disks, fraction 0.5); the rest split in 1 and 2 by a second disks image."""
    pore = generate("disks", (n, n, n), electrolyte_fraction=0.5, rng=seed)
    split = generate("disks", (n, n, n), electrolyte_fraction=0.5, rng=seed + 1)
    return np.where(pore, 0, np.where(split, 1, 2)).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# bookkeeping
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    check: str
    case: str
    ionflow: float | str
    peer: str
    value: float | str
    t_ion: float | None
    t_peer: float | None
    notes: str = ""

    def diff(self) -> str:
        if isinstance(self.value, str) or isinstance(self.ionflow, str) or not self.ionflow:
            return "-"
        return f"{(self.value - self.ionflow) / abs(self.ionflow) * 100:+.3f} %"


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.6g}"


def _secs(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _peer(out: dict) -> tuple[float | str, float | None, str]:
    if "error" in out:
        return out["error"], None, out.get("printed", "")[:120]
    note = f"{out['iter']} it" + ("" if out["converged"] else ", not converged")
    return out["value"], out.get("seconds"), note


def _tf_input(img: np.ndarray, axis: int) -> np.ndarray:
    """TauFactor flows along its first spatial axis and wants (batch, x, y, z) uint8."""
    return np.ascontiguousarray(np.moveaxis(img, axis, 0)[None]).astype(np.uint8)


@dataclass
class Run:
    args: argparse.Namespace
    worker: tfp.Worker
    head: bool
    rows: list[Row] = field(default_factory=list)
    decomp: dict[str, dict[str, str]] = field(default_factory=dict)
    cases: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def add(self, *a, **k) -> None:
        row = Row(*a, **k)
        self.rows.append(row)
        print(
            f"  {row.check} | {row.case} | {_fmt(row.ionflow)} | {row.peer} {_fmt(row.value)} "
            f"| {row.diff()} | {_secs(row.t_ion)} s / {_secs(row.t_peer)} s | {row.notes}",
            file=sys.stderr,
            flush=True,
        )

    def tf(self, name: str, *args, timeout: float | None = None, **kwargs) -> dict:
        return self.worker.run(name, *args, timeout=timeout or self.args.timeout, **kwargs)

    def put(self, row: str, case: str, value: float | str, seconds: float | None = None) -> None:
        if case not in self.cases:
            self.cases.append(case)
        text = _fmt(value) if isinstance(value, str) else f"{value:.5f}"
        self.decomp.setdefault(row, {})[case] = text + (
            f" ({seconds:.1f} s)" if seconds is not None else ""
        )


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------


def check_periodic(run: Run, n: int, real: tuple[np.ndarray, str] | None) -> None:
    cases = [(generate("disks", (n,) * 3, electrolyte_fraction=0.5, rng=1), f"disks {n}^3")]
    if real is not None:
        cases.append((real[0] == 1, real[1] + " (pore)"))
    for img, name in cases:
        r, t = _timed(lambda img=img: ionflow.simulate(img, axis=0, boundary="periodic"))
        ins = ionflow.simulate(img, axis=0).relative_conductivity
        v, tp, note = _peer(run.tf("job_through", "1.2.1", "PeriodicSolver", _tf_input(img, 0), {}))
        run.add(
            "periodic", name, r.relative_conductivity, "PeriodicSolver", v, t, tp,
            f"{note}; ionflow insulating: {ins:.5f}",
        )  # fmt: skip


def check_anisotropic(run: Run, n: int) -> None:
    img = generate("disks", (n,) * 3, electrolyte_fraction=0.5, rng=2)
    # (axis, pixel_size in array order, TauFactor iter_limit): the last has the flow-axis edge
    # twice the lateral ones, where TauFactor's reported D_eff breaks (see _field_deff)
    for axis, size, limit in (
        (0, (1.0, 1.0, 2.0), 10000),
        (2, (2.0, 1.0, 1.0), 10000),
        (0, (2.0, 1.0, 1.0), 1500),
    ):
        spacing = (size[axis],) + tuple(s for k, s in enumerate(size) if k != axis)
        r, t = _timed(lambda a=axis, p=size: ionflow.simulate(img, axis=a, pixel_size=p))
        out = run.tf(
            "job_through", "1.2.1", "AnisotropicSolver", _tf_input(img, axis),
            {"spacing": spacing}, iter_limit=limit,
        )  # fmt: skip
        v, tp, note = _peer(out)
        if "field_value" in out:
            fv = out["field_value"]
            rel = (fv - r.relative_conductivity) / r.relative_conductivity * 100
            note += f"; D_eff from its field: {fv:.6f} ({rel:+.4f} %)"
        run.add(
            "anisotropic", f"disks {n}^3, axis {axis}, pixel_size {size}",
            r.relative_conductivity, f"AnisotropicSolver spacing={spacing}", v, t, tp, note,
        )  # fmt: skip


def check_electrode(run: Run, cases: list[tuple[np.ndarray, str, bool]]) -> None:
    """``cases``: (labels: 1 electrolyte, 0 active, 2 inert; name; also TauFactor 1.2.1's SOR)."""
    for lab, name, with_121 in cases:
        pore, solid = lab == 1, lab == 0
        for boundary in ("insulating", "periodic"):
            periodic = boundary == "periodic"
            tag = "" if not periodic else ", periodic"
            e, t = _timed(
                lambda b=boundary, lab=lab: ionflow.electrode_tortuosity(
                    lab, axis=0, conductive_label=1, reactive_label=0, boundary=b
                )
            )
            run.put(f"ionflow `electrode_tortuosity`{tag}", name, e.tau_e, t)
            again = tfp.low_frequency_tau_e(pore, solid, periodic=periodic)
            run.put(f"the same definition, re-solved here{tag}", name, again)
            if not periodic and not (lab == 2).any():
                walls = tfp.low_frequency_tau_e(pore, ~pore, walls_react=True)
                run.put("1.2.1 definition, exact: (a) image faces react too", name, walls)
                one = tfp.low_frequency_tau_e(pore, ~pore, walls_react=True, inlet_g=1.0)
                run.put("(b) = (a) + separator one voxel out", name, one)
                exact121 = tfp.tf121_definition(pore)
                run.put(
                    "(c) = (b) + face resistance 1/2, divide by Nx + 2: 1.2.1's", name, exact121
                )
                if with_121:
                    out = run.tf(
                        "job_electrode_121", pore.astype(np.uint8), iter_limit=run.args.iter_121,
                        timeout=run.args.timeout_121,
                    )  # fmt: skip
                    v, tp, note = _peer(out)
                    if "error" not in out:
                        stages = out["printed"].count("Semi-converged")
                        hit = "Iteration limit" in out["printed"]
                        note = f"{stages + 1} omega stages" + (
                            ", hit its iteration limit" if hit else ""
                        )
                    note += f"; its definition solved exactly: {exact121:.5f}"
                    run.add(
                        "tau_e",
                        f"{name}, insulating",
                        e.tau_e,
                        "1.2.1 ElectrodeSolver",
                        v,
                        t,
                        tp,
                        note,
                    )
                    run.put("TauFactor 1.2.1 `ElectrodeSolver` (SOR)", name, v, tp)
            if not run.head:
                continue
            cls = "PeriodicElectrodeSolver" if periodic else "ElectrodeSolver"
            out = run.tf("job_electrode_head", periodic, lab[None])
            v, tp, note = _peer(out)
            exact = tfp.head_definition(lab, periodic)
            note += f"; its definition solved exactly: {exact:.5f}"
            if not isinstance(v, str):
                note += f" (their stopping rule: {(v - exact) / exact * 100:+.2f} %)"
            run.add("tau_e", f"{name}, {boundary}", e.tau_e, f"head {cls}", v, t, tp, note)
            run.put(f"head `{cls}` definition, exact", name, exact)
            run.put(f"TauFactor head `{cls}` (float32 SOR)", name, v, tp)


def check_impedance(run: Run, n: int) -> None:
    img = generate("disks", (n,) * 3, electrolyte_fraction=0.5, rng=1)
    name = f"disks {n}^3"
    out = run.tf("job_impedance_head", img.astype(np.uint8)[None])
    if "error" in out:
        run.add(
            "impedance", name, "-", "head ImpedanceSolver", out["error"], None, None,
            out.get("printed", "")[:120],
        )  # fmt: skip
        return
    freq, z_tf, conv = out["frequency"], out["impedance"], out["converged_freq"]
    z, t = _timed(lambda: ionflow.impedance(img, freq, axis=0))
    lower = freq.min() * 2.0 ** -np.arange(1, 7)  # the plot's low-frequency end
    z_lower = ionflow.impedance(img, lower, axis=0)
    e = ionflow.electrode_tortuosity(img, axis=0)
    cells = n * n  # TauFactor's Z is per cross-section cell
    rel = np.abs(z_tf - z * cells) / np.abs(z * cells)
    zero = np.abs(z_tf) < 1e-6 * np.abs(z * cells)  # a diverged field: Z = 1 / huge current
    used = conv & ~zero
    good = used & (rel < 1e-3)
    note = (
        f"{out['iter']} it; of {freq.size} frequencies ({freq.min():.3g} to {freq.max():.3g}): "
        f"{int(good.sum())} agree to < 1e-3; Z ~ 0 (< 1e-6 of ionflow's) at {int(zero.sum())}"
        + (f" (from {freq[zero].min():.3g} up)" if zero.any() else "")
        + f"; not converged at {int((~conv & ~zero).sum())}"
        + f"; converged but off at {int((used & ~good).sum())}"
    )
    run.add(
        "impedance", f"{name}: max abs(Z_tf - Ny Nz Z) / abs(Z) where TauFactor agrees",
        "(reference)", "head ImpedanceSolver nyquist",
        float(rel[good].max()) if good.any() else "-", t, out["seconds"], note,
    )  # fmt: skip
    lo = np.argmin(freq)
    dn = np.abs(z_tf / z_tf[lo].real - z / z[lo].real)[good]
    run.add(
        "impedance", f"{name}: Nyquist curves over Re Z(lowest frequency), max distance",
        "(reference)", "head ImpedanceSolver nyquist", float(dn.max()) if dn.size else "-",
        None, None,
        f"ionflow Re Z(0) exact {e.resistance_low_frequency * cells:.5f}, Re Z at "
        f"{freq[lo]:.3g}: {z[lo].real * cells:.5f} (TauFactor {z_tf[lo].real:.5f})",
    )  # fmt: skip
    # TauFactor's ImpedanceSolver(mode="tau_e") number: Re Z(f0 / 4) / Re Z_line(f0 / 4)
    k = int(np.argmin(np.abs(freq - out["freq_0"] / 4)))
    line = out["z_mean"][k].real
    run.put("head `ImpedanceSolver` definition (3D Z at f0/4), from ionflow's Z", name,
            z[k].real * cells / line)  # fmt: skip
    run.put(
        "TauFactor head `ImpedanceSolver` (its Z at f0/4)",
        name,
        z_tf[k].real / line if used[k] else "not converged",
    )
    # the straight pore is the discrete transmission line
    sp_img = straight_pores(n)
    pores = int(sp_img[0].sum())
    zs = ionflow.impedance(sp_img, freq, axis=0)
    ideal = ionflow.solve.ideal_impedance(freq, n, resistance=1.0 / pores, capacitance=2.0 * pores)
    run.add(
        "impedance", f"straight pores {n}^3 against ideal_impedance (analytic)", "(exact)",
        "ionflow itself", float(np.max(np.abs(zs - ideal) / np.abs(ideal))), None, None,
        "max relative abs(Z - Z_line) over the same frequencies",
    )  # fmt: skip
    run.extra["nyquist"] = {
        "freq": np.r_[freq, lower], "z": np.r_[z, z_lower], "z_tf": np.r_[z_tf, 0 * lower],
        "good": np.r_[good, np.zeros(lower.size, bool)], "n": n, "e": e,
        "tf": np.r_[np.ones(freq.size, bool), np.zeros(lower.size, bool)],
    }  # fmt: skip


def plot_nyquist(data: dict, path: Path) -> None:
    """Both Nyquist curves over their own low-frequency Re Z, the ideal line likewise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freq, z, z_tf, good, ours, n, e = (
        data[k] for k in ("freq", "z", "z_tf", "good", "tf", "n", "e")
    )
    cross = n * n
    line = dict(resistance=1.0 / (e.electrolyte_fraction * cross),
                capacitance=e.interface_density * cross)  # fmt: skip
    ideal = ionflow.solve.ideal_impedance(np.geomspace(freq.min() / 4, freq.max() * 4, 400), n,
                                          **line)  # fmt: skip
    ideal /= ionflow.solve.ideal_impedance([freq.min() * 1e-6], n, **line)[0].real
    order = np.argsort(freq)[::-1]
    zi = z / e.resistance_low_frequency
    lowest = np.flatnonzero(good)[np.argmin(freq[good])] if good.any() else 0
    zt = z_tf / z_tf[lowest].real
    missing = ours & ~good
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), dpi=120)
    top = max(float(np.max(-zi.imag[ours])), float(np.max(-zt.imag[good], initial=0))) * 1.05
    for ax, (xmax, ymax) in zip(axes, ((1.3, top), (1.1, 1.6))):
        ax.plot(zi.real[order], -zi.imag[order], "-", color="C0", lw=1.2,
                label="ionflow.impedance (float64)")  # fmt: skip
        ax.plot(zi.real[ours & good], -zi.imag[ours & good], "o", ms=4, color="C0")
        ax.plot(zi.real[missing], -zi.imag[missing], "o", ms=5, mfc="none", color="C3",
                label="ionflow, where TauFactor gave no usable Z")  # fmt: skip
        ax.plot(zt.real[good], -zt.imag[good], "x", ms=9, color="C1",
                label="TauFactor head ImpedanceSolver (nyquist)")  # fmt: skip
        ax.plot(ideal.real, -ideal.imag, "k--", lw=1, label="ideal_impedance (homogeneous line)")
        ax.set_xlim(0, xmax)
        ax.set_ylim(0, ymax)
        ax.set_xlabel("Re Z / Re Z(low frequency)")
        ax.set_ylabel("-Im Z / Re Z(low frequency)")
        ax.grid(alpha=0.3)
    axes[0].set_title("all frequencies", fontsize=9)
    axes[1].set_title("high-frequency end", fontsize=9)
    axes[1].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"disks {n}^3, electrolyte fraction {e.electrolyte_fraction:.2f}, ionflow tau_e "
        f"{e.tau_e:.3f}; TauFactor: {int(missing.sum())} of its {int(ours.sum())} "
        "frequencies without a usable Z (~0, not converged or wrong)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def check_tensor(run: Run, n: int) -> None:
    img = generate("anisotropic", (n,) * 3, electrolyte_fraction=0.5, rng=3)
    tr, t = _timed(lambda: ionflow.conductivity_tensor(img))
    for axis in range(3):
        v, tp, note = _peer(
            run.tf("job_through", "1.2.1", "PeriodicSolver", _tf_input(img, axis), {})
        )
        off = ", ".join(f"{tr.relative[k, axis]:+.1e}" for k in range(3) if k != axis)
        run.add(
            "tensor", f"anisotropic {n}^3, K[{axis},{axis}]", float(tr.relative[axis, axis]),
            "PeriodicSolver", v, t / 3, tp,
            f"{note}; ionflow's off-diagonal entries of column {axis}: {off}",
        )  # fmt: skip
    run.extra["tensor"] = (tr.principal_values, tr.asymmetry)


def check_multiphase(run: Run, n: int) -> None:
    s = {0: 1.0, 1: 0.1, 2: 0.01}
    third = n // 3
    layers = np.zeros((3 * third, 16, 16), np.uint8)
    layers[third : 2 * third] = 1
    layers[2 * third :] = 2
    m = layers.shape[0]
    per = np.array([s[int(v)] for v in layers[:, 0, 0]])
    exact = m / np.sum(1 / per)
    ghost = (m + 1) / (np.sum(1 / per) + 0.5 / per[0] + 0.5 / per[-1])
    cases = (
        (layers, f"series layers {m}x16x16 (sigma 1, 0.1, 0.01 along the flow)", True),
        (three_phase(n, 5), f"random 3 phases {n}^3 (sigma 1, 0.1, 0.01)", False),
    )
    for lab, name, analytic in cases:
        r, t = _timed(lambda lab=lab: ionflow.simulate(lab, axis=0, label_conductivities=s))
        extra = ""
        if analytic:
            extra = (
                f"; analytic {exact:.6f} (ionflow {(r.conductivity - exact) / exact:+.0e}); "
                f"Dirichlet ghost one voxel out, exact: {ghost:.6f} "
                f"({(ghost - exact) / exact * 100:+.3f} %)"
            )
        # 1.2.1 refuses label 0 as a conductor: labels shifted by one
        out = run.tf("job_multiphase", "1.2.1", (lab + 1)[None], {k + 1: v for k, v in s.items()})
        v, tp, note = _peer(out)
        g = ionflow.simulate(lab, axis=0, label_conductivities=s, electrode="ghost").conductivity
        extra += f"; ionflow --electrode ghost {g:.6f} ({(v - g) / g * 100:+.3f} % from it)"
        run.add("multi-phase", name, r.conductivity, "1.2.1 MultiPhaseSolver", v, t, tp,
                note + extra)  # fmt: skip
        if run.head:
            v, tp, note = _peer(run.tf("job_multiphase", "head", lab[None], dict(s)))
            run.add("multi-phase", name, r.conductivity, "head MultiPhaseSolver", v, t, tp, note)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def versions() -> str:
    from importlib.metadata import version

    out = [f"Python {platform.python_version()}"]
    for d in ("ionflow", "numpy", "scipy", "pyamg", "taufactor", "torch"):
        try:
            out.append(f"{d} {version(d)}")
        except Exception:  # noqa: BLE001
            out.append(f"{d} (not installed)")
    return ", ".join(out)


def markdown(run: Run) -> str:
    lines = [
        "| check | case | ionflow | TauFactor solver | TauFactor | difference | ionflow s "
        "| TauFactor s | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run.rows:
        lines.append(
            f"| {r.check} | {r.case} | {_fmt(r.ionflow)} | {r.peer} | {_fmt(r.value)} | "
            f"{r.diff()} | {_secs(r.t_ion)} | {_secs(r.t_peer)} | {r.notes} |"
        )
    if "tensor" in run.extra:
        pv, asym = run.extra["tensor"]
        lines += [
            "",
            f"ionflow's tensor of the anisotropic volume: principal values "
            f"{', '.join(f'{v:.5f}' for v in pv)}; asymmetry {asym:.1e}.",
        ]
    if run.decomp:
        lines += [
            "",
            "tau_e by definition (seconds in brackets; `-`: not run, or needs a binary image):",
            "",
            "| tau_e | " + " | ".join(run.cases) + " |",
            "|---|" + "---|" * len(run.cases),
        ]
        for row, vals in run.decomp.items():
            lines.append(f"| {row} | " + " | ".join(vals.get(c, "-") for c in run.cases) + " |")
    lines += ["", "Precision and stopping rules:", "", STOPPING]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a check of the script")
    p.add_argument(
        "--taufactor-head",
        default=HEAD_DEFAULT,
        help="TauFactor source tree or git repository for the unreleased solvers "
        "(ElectrodeSolver, PeriodicElectrodeSolver, ImpedanceSolver), or 'none'",
    )
    p.add_argument(
        "--real",
        type=Path,
        default=REAL_DEFAULT,
        help="taufactor_electrode_256.tiff (labels 0 pore, 85 NMC, 170 carbon-binder)",
    )
    p.add_argument("--timeout", type=float, default=240.0, help="per TauFactor solve, s")
    p.add_argument("--timeout-121", type=float, default=120.0, help="per 1.2.1 electrode solve")
    p.add_argument("--iter-121", type=int, default=20000, help="1.2.1 electrode iter_limit")
    p.add_argument("--markdown", type=Path, help="also write the Markdown here")
    p.add_argument("--plot", type=Path, default=Path("benchmarks/parity_nyquist.png"))
    args = p.parse_args(argv)
    try:
        import taufactor  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        print(
            f"parity.py needs taufactor and torch ({exc}): pip install taufactor", file=sys.stderr
        )
        return 2
    head_parent, head_desc = tfp.head_source(args.taufactor_head)
    print(f"TauFactor head: {head_desc}", file=sys.stderr)
    q = args.quick
    n3, n_small, n_real = (24, 12, 32) if q else (48, 24, 96)
    real = real_crop(args.real, n_real) if args.real.exists() else None
    if real is None:
        print(f"{args.real} not found: the real-volume rows are left out", file=sys.stderr)
    run = Run(args, tfp.Worker(head_parent), head_parent is not None)
    t0 = time.perf_counter()
    try:
        check_periodic(run, 32 if q else 64, real)
        check_anisotropic(run, n3)
        cases = [
            (straight_pores(n_small).astype(np.uint8), f"straight pores {n_small}^3", True),
            (generate("disks", (n_small,) * 3, electrolyte_fraction=0.5, rng=1).astype(np.uint8),
             f"disks {n_small}^3", True),
            (generate("disks", (n3,) * 3, electrolyte_fraction=0.5, rng=1).astype(np.uint8),
             f"disks {n3}^3", True),
        ]  # fmt: skip
        if real is not None:
            cases.append((real[0], real[1], False))
        check_electrode(run, cases)
        if run.head:
            check_impedance(run, n_small)
        check_tensor(run, n3)
        check_multiphase(run, n3)
    finally:
        run.worker.close()
        if head_parent:
            shutil.rmtree(head_parent, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    if "nyquist" in run.extra and args.plot:
        plot_nyquist(run.extra["nyquist"], args.plot)
    text = (
        f"Versions: {versions()}. TauFactor head: {head_desc}. TauFactor on CPU, torch's default "
        f"threads ({os.cpu_count()} cores). Total {elapsed / 60:.1f} min.\n\n" + markdown(run)
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
