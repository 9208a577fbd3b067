#!/usr/bin/env python3
"""Solver at scale: ionflow against TauFactor 2 and PoreSpy from 100^3 to 256^3, the TauFactor 2
standard 500^3 volume, and a 1000^3 volume (GitHub issue 12).

Usage (from the repository root, in the environment of ``benchmarks/README.md``: ionflow,
taufactor + torch, porespy + openpnm)::

    python benchmarks/solver_scale.py --quick     # 40^3 / 64^3, 100^3 crop of TF-500 (tiled: 200^3); no writes
    python benchmarks/solver_scale.py             # everything; writes BENCHMARKS.md + the plot
    python benchmarks/solver_scale.py --report-only   # rewrite both from the last run

Parts, run in this order (``--parts`` picks some): ``scale`` (seeded sphere volumes made with
``ionflow.generate.disks``, ``--sizes`` x the first of ``--fractions``), ``tf500`` (the TauFactor 2
paper's ``TF-500x500x500-1x2x6-v3.tiff.zip``, phase 255 conducting, every axis), ``big`` (that
volume tiled 2 x 2 x 2 with mirrored copies = 1000^3, built inside the measured process), and
``scale`` again for the other fractions.

Every case is one fresh subprocess, measured by ``_measure.measure`` (wall, CPU, peak RSS) and
solved through the adapters in ``peers/`` (as ``solver.py`` does). Threads: ionflow runs with its
defaults (numba's OpenMP layer on both cores; ``--passive`` adds an ionflow variant with
``OMP_WAIT_POLICY=PASSIVE``); TauFactor with torch's default (2 threads = the cores here) and with
1 thread; PoreSpy with the defaults (its AMG is single-threaded). Each ionflow process solves a
40^3 volume first (numba's cached kernels are loaded / compiled outside the timing); a solve under
5 s is repeated and the best of 3 kept. A peer that times out (``--peer-timeout``) or runs out of
memory at one size is not run at larger sizes of that fraction.

Raw results go to ``--workdir`` (``results.json``, per-case logs); the report is the section
"Solver at scale" of ``BENCHMARKS.md`` and ``benchmarks/solver_scale.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import shlex
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
from _measure import measure, own_hwm  # noqa: E402
from _solver_report import machine, write_section  # noqa: E402

SECTION = "## Solver at scale (benchmarks/solver_scale.py)"
TF_ZIP = Path("/work/shared/data/benchmark/TF-500x500x500-1x2x6-v3.tiff.zip")
# the TauFactor 2 paper's over-converged tortuosity factors, by axis of the volume as read here
PAPER_TAU = {0: 4.24309, 1: 1.15127, 2: 1.39053}
PAPER_GPU_S = 26.0  # TauFactor 2 on an NVIDIA A6000, mean per direction
PAPER_CPU_S = 447.0  # TauFactor 2 on a 32-core Threadripper 3970X

# (tool, variant label, threads for _measure, extra environment)
VARIANTS = {
    "ion": ("ionflow", "simulate() (default: 2 numba threads)", 2, {}),
    "ion_passive": (
        "ionflow",
        "simulate(), OMP_WAIT_POLICY=PASSIVE",
        2,
        {"OMP_WAIT_POLICY": "PASSIVE"},
    ),
    "ion_loose": ("ionflow", "simulate(rtol=1e-6, balance_tol=1e-4)", 2, {}),
    "tf2": ("taufactor", "Solver, torch default (2 threads)", 2, {}),
    "tf1": ("taufactor", "Solver, 1 thread", 1, {}),
    "ps": ("porespy", "tortuosity_fd (defaults)", 2, {}),
}
# keyword arguments of ``simulate`` per variant (default: none). ``ion_loose`` asks for about
# TauFactor's accuracy here (its relative conductivity is within ~1e-4 of the exact answer;
# this stays ~100x closer, see the diff column).
SIMULATE_KWARGS = {"ion_loose": {"rtol": 1e-6, "balance_tol": 1e-4}}


# --------------------------------------------------------------------------------------------
# child side
# --------------------------------------------------------------------------------------------


def _status_kb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return math.nan


def _warm_ionflow() -> float:
    """Solve a 40^3 volume so that numba's kernels are loaded (or compiled) before timing."""
    import ionflow

    t0 = time.perf_counter()
    img = ionflow.generate.disks((40, 40, 40), electrolyte_fraction=0.7, rng=1)
    ionflow.simulate(img, axis=0)
    return time.perf_counter() - t0


def _mirrored(v, tiles: int):
    """``v`` tiled ``tiles`` x per axis with mirrored copies (v, v[::-1], ...), as bool."""
    import numpy as np

    for ax in range(v.ndim):
        if tiles > 1:
            parts = [v if k % 2 == 0 else np.flip(v, ax) for k in range(tiles)]
            v = np.concatenate(parts, axis=ax)
    return v


def _child_std(spec: dict) -> dict:
    """The standard volume (optionally mirrored): input RSS, solve peak, tau, iterations."""
    import numpy as np
    import tifffile

    warm = _warm_ionflow()
    import ionflow

    rss0 = _status_kb("VmRSS") / 1024
    t0 = time.perf_counter()
    vol = tifffile.imread(spec["tiff"]) > 0
    if spec.get("crop"):  # --quick only
        c = int(spec["crop"])
        vol = vol[:c, :c, :c]
    vol = np.ascontiguousarray(_mirrored(vol, spec.get("tiles", 1)))
    load_s = time.perf_counter() - t0
    hwm_load = own_hwm() / 2**20
    rss_input = _status_kb("VmRSS") / 1024
    with contextlib.suppress(OSError):  # reset VmHWM: the peak of the solve alone, input held
        Path("/proc/self/clear_refs").write_text("5")
    t0 = time.perf_counter()
    c0 = time.process_time()
    r = ionflow.simulate(vol, axis=spec["axis"])
    solve_s = time.perf_counter() - t0
    solve_cpu = time.process_time() - c0
    hwm_solve = own_hwm() / 2**20
    return dict(
        warm_s=warm,
        load_s=load_s,
        solve_s=solve_s,
        solve_cpu_s=solve_cpu,
        shape=list(vol.shape),
        input_mb=vol.nbytes / 2**20,
        fraction=float(vol.mean()),
        rss_before_input_mb=rss0,
        rss_input_mb=rss_input,
        hwm_load_mb=hwm_load,
        hwm_solve_mb=hwm_solve,
        tau=float(r.tortuosity),
        rel=float(r.relative_conductivity),
        iterations=int(r.iterations),
        accuracy=float(r.accuracy),
        method=str(r.method),
        percolating=bool(r.percolating),
    )


def child_main(spec_path: str) -> int:
    """One case in this process; writes the result file the parent reads back."""
    import traceback

    from _solver_child import _load_input, _timed

    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["result"])
    try:
        if spec["kind"] == "std":
            res = _child_std(spec)
        else:
            warm = _warm_ionflow() if spec["tool"] == "ionflow" else 0.0
            images = _load_input(spec["input"])
            res = _timed(peers.get(spec["tool"]).runner(images, spec.get("axis", 0), spec))
            res["warm_s"] = warm
        res["hwm_mb"] = own_hwm() / 2**20
        out.write_text(json.dumps(res))
        return 0
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        out.write_text(json.dumps({"error": traceback.format_exc(limit=3)[-600:]}))
        return 1


# --------------------------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _env(extra: dict):
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_case(spec, work, name, timeout, mem_limit, threads, env) -> dict:
    spec = dict(spec, result=str(work / f"{name}.result.json"))
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    Path(spec["result"]).unlink(missing_ok=True)
    with _env(env):
        m = measure(
            [sys.executable, str(Path(__file__).resolve()), "--_child", str(spec_path)],
            work / f"{name}.log",
            timeout,
            mem_limit,
            threads=threads,
            cwd=REPO,
        )
    res = json.loads(Path(spec["result"]).read_text()) if Path(spec["result"]).exists() else {}
    if "error" in res and m["status"] == "ok":
        m["status"] = "failed"
    m["peak_mb"] = max(m["peak_mb"], res.get("hwm_mb", 0.0))
    m.update(res)
    return m


def _volume(work: Path, n: int, fraction: float) -> Path:
    import numpy as np

    import ionflow

    path = work / "data" / f"spheres_{n}_{fraction:g}.npy"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, ionflow.generate.disks((n, n, n), electrolyte_fraction=fraction, rng=11))
    return path


def _tiff(work: Path, zip_path: Path) -> Path:
    out = work / "data"
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as z:
        name = next(n for n in z.namelist() if n.endswith(".tiff") and "__MACOSX" not in n)
        target = out / Path(name).name
        if not target.exists():
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
    return target


def run_variant(key, spec, work, name, timeout, mem_limit, save, **fields) -> dict:
    """``run_case`` for one of ``VARIANTS``, saved as a row: ``fields``, the variant, the
    measurements."""
    tool, label, threads, env = VARIANTS[key]
    if key in SIMULATE_KWARGS:
        spec = dict(spec, simulate=SIMULATE_KWARGS[key])
    m = run_case(spec, work, name, timeout, mem_limit, threads, env)
    row = dict(**fields, key=key, tool=tool, variant=label, threads=threads, env=env, **m)
    save(row)
    return row


def run_scale(args, work, fraction, variants, save, log) -> None:
    skip: set[str] = set()
    for n in args.sizes:
        path = _volume(work, n, fraction)
        log(f"  {n}^3, fraction {fraction:g}  ({path.name})")
        for key in variants:
            tool, label = VARIANTS[key][:2]
            if key in skip:
                log(f"    {label:42s} skipped (stopped at a smaller size)")
                continue
            timeout = args.ion_timeout if tool == "ionflow" else args.peer_timeout
            row = run_variant(
                key,
                dict(kind="case", tool=tool, input={"npy": str(path)}, axis=0),
                work,
                f"scale_{fraction:g}_{n}_{key}",
                timeout,
                args.mem_limit_gb * 2**30,
                save,
                part="scale",
                fraction=fraction,
                n=n,
                cells=n**3,
            )
            rel = (row.get("rel") or [math.nan])[0]
            log(
                f"    {label:42s} {row['status']:10s} solve {row.get('solve_s', math.nan):8.2f} s"
                f"  process {row['process_s']:7.1f} s  cpu {row['cpu_s']:7.1f} s"
                f"  peak {row['peak_mb']:7.0f} MB  rel {rel:.6f}  load"
                f" {row['load'][0]:.1f}->{row['load'][1]:.1f}  {row.get('info', '')}"
            )
            if row["status"] != "ok" and tool != "ionflow":
                skip.add(key)


def run_std(args, work, tiff, tiles, axes, save, log, variants=("ion",), crop=None) -> None:
    for axis in axes:
        for key in variants:
            label = VARIANTS[key][1]
            row = run_variant(
                key,
                dict(kind="std", tiff=str(tiff), axis=axis, tiles=tiles, crop=crop),
                work,
                f"std{tiles}_ax{axis}_{key}",
                args.big_timeout if tiles > 1 else args.ion_timeout,
                args.big_mem_limit_gb * 2**30,
                save,
                part="big" if tiles > 1 else "tf500",
                axis=axis,
                tiles=tiles,
            )
            log(
                f"  axis {axis} {label:40s} {row['status']:10s}"
                f" solve {row.get('solve_s', math.nan):8.2f} s  process {row['process_s']:7.1f} s"
                f"  cpu {row['cpu_s']:7.1f} s  peak {row['peak_mb']:7.0f} MB"
                f"  (input {row.get('rss_input_mb', math.nan):.0f} MB, solve hwm"
                f" {row.get('hwm_solve_mb', math.nan):.0f} MB)  tau {row.get('tau', math.nan):.5f}"
                f"  it {row.get('iterations', '-')}  acc {row.get('accuracy', math.nan):.1e}"
                f"  load {row['load'][0]:.1f}->{row['load'][1]:.1f}"
            )


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _f(x, spec=".3g") -> str:
    try:
        return "-" if x is None or not math.isfinite(float(x)) else format(float(x), spec)
    except (TypeError, ValueError):
        return "-"


def _ok(r) -> bool:
    return r["status"] == "ok"


def _rel(r) -> float:
    return (r.get("rel") or [math.nan])[0] if _ok(r) else math.nan


def _md(head, body) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(map(str, b)) + " |" for b in body])


def scale_tables(rows: list[dict]) -> list[str]:
    out = []
    scale = [r for r in rows if r["part"] == "scale"]
    for fr in sorted({r["fraction"] for r in scale}, reverse=True):
        sub = [r for r in scale if r["fraction"] == fr]
        body = []
        for n in sorted({r["n"] for r in sub}):
            ref = next((r for r in sub if r["n"] == n and r["key"] == "ion" and _ok(r)), None)
            for r in (r for r in sub if r["n"] == n):
                info = r.get("info") or {}
                notes = []
                if "iterations" in info:
                    notes.append(f"{info['iterations']} it")
                if "accuracy" in info:
                    notes.append(f"acc {info['accuracy']:.1e}")
                if "converged" in info:
                    notes.append(f"converged={info['converged']}")
                if len(r.get("times") or []) > 1:
                    notes.append("best of 3")
                if not _ok(r):
                    notes.append(r["status"])
                rel = _rel(r)
                is_ref = r is ref
                diff = (
                    "(reference)"
                    if is_ref
                    else (f"{(rel - _rel(ref)) / _rel(ref) * 100:+.3f}%" if ref and _ok(r) else "-")
                )
                ratio = (
                    "1"
                    if is_ref
                    else (f"{r['solve_s'] / ref['solve_s']:.2f}" if ref and _ok(r) else "-")
                )
                body.append(
                    [
                        f"{n}^3",
                        f"{n**3 / 1e6:.2f}M",
                        f"{r['tool']}: {r['variant']}",
                        _f(r.get("solve_s") if _ok(r) else None, ".2f"),
                        _f(r["process_s"], ".1f"),
                        _f(r["cpu_s"], ".1f"),
                        _f(r["peak_mb"], ".0f"),
                        _f(rel, ".6f"),
                        diff,
                        ratio,
                        f"{r['load'][0]:.1f}-{r['load'][1]:.1f}",
                        "; ".join(notes),
                    ]
                )
        out.append(
            f"\n#### Spheres (`ionflow.generate.disks`, seed 11), electrolyte fraction {fr:g}, "
            "flow along axis 0\n"
        )
        out.append(
            _md(
                [
                    "size",
                    "voxels",
                    "tool: variant",
                    "solve s",
                    "process s",
                    "cpu s",
                    "peak MB",
                    "rel. conductivity",
                    "diff vs ionflow",
                    "time / ionflow",
                    "load",
                    "notes",
                ],
                body,
            )
        )
        # ratio summary
        keys = [k for k in VARIANTS if any(r["key"] == k for r in sub)]
        body = []
        for n in sorted({r["n"] for r in sub}):
            by = {r["key"]: r for r in sub if r["n"] == n}
            ref = by.get("ion")
            row = [f"{n}^3"]
            for k in keys:
                r = by.get(k)
                row.append(
                    _f(r["solve_s"], ".2f") if r and _ok(r) else ("-" if r is None else r["status"])
                )
            for k in keys:
                if k == "ion":
                    continue
                r = by.get(k)
                row.append(
                    f"{r['solve_s'] / ref['solve_s']:.1f}x"
                    if r and ref and _ok(r) and _ok(ref)
                    else "-"
                )
            body.append(row)
        head = (
            ["size"]
            + [f"{_name(k)} s" for k in keys]
            + [f"{_name(k)} / ionflow" for k in keys if k != "ion"]
        )
        out.append(f"\nSolve time per tool and the ratio to ionflow's default (fraction {fr:g}):\n")
        out.append(_md(head, body))
    return out


def _name(key: str) -> str:
    return f"{VARIANTS[key][0]} {_short(key)}".strip()


def _short(key: str) -> str:
    short = {"ion": "default", "ion_passive": "passive", "ion_loose": "rtol 1e-6"}
    return dict(short, tf2="2 thr", tf1="1 thr", ps="")[key].strip()


def std_table(rows: list[dict], part: str) -> str:
    body = []
    for r in (r for r in rows if r["part"] == part):
        ax = r["axis"]
        ok = _ok(r)
        tau = r.get("tau", math.nan) if ok else math.nan
        paper = PAPER_TAU[ax]
        body.append(
            [
                str(ax),
                "x".join(map(str, r.get("shape", []))) or "-",
                r["variant"],
                _f(r.get("solve_s") if ok else None, ".1f"),
                _f(r["process_s"], ".1f"),
                _f(r["cpu_s"], ".1f"),
                _f(r["peak_mb"], ".0f"),
                _f(r.get("rss_input_mb"), ".0f"),
                _f(r.get("hwm_solve_mb"), ".0f"),
                _f((r.get("hwm_solve_mb", math.nan) - r.get("rss_input_mb", math.nan)), ".0f"),
                _f(tau, ".5f"),
                f"{paper:.5f}",
                f"{(tau - paper) / paper * 100:+.3f}%" if ok else "-",
                str(r.get("iterations", "-")),
                _f(r.get("accuracy"), ".1e"),
                f"{r['solve_s'] / PAPER_GPU_S:.2f}" if ok and part == "tf500" else "-",
                f"{r['load'][0]:.1f}-{r['load'][1]:.1f}",
                "" if ok else r["status"],
            ]
        )
    return _md(
        [
            "axis",
            "shape",
            "variant",
            "solve s",
            "process s",
            "cpu s",
            "peak MB (process)",
            "RSS with input MB",
            "peak during solve MB",
            "solve peak over input MB",
            "tau",
            "paper tau",
            "diff vs paper",
            "iterations",
            "accuracy",
            "solve / 26 s (A6000)",
            "load",
            "status",
        ],
        body,
    )


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(12, 6))
    styles = {
        "ion": ("o", "C0"),
        "ion_passive": ("o", "C9"),
        "ion_loose": ("v", "C4"),
        "tf2": ("s", "C1"),
        "tf1": ("D", "C3"),
        "ps": ("^", "C2"),
    }
    scale = [r for r in rows if r["part"] == "scale" and _ok(r)]
    for fr in sorted({r["fraction"] for r in scale}, reverse=True):
        ls = "-" if fr >= 0.5 else "--"
        for k in VARIANTS:
            pts = sorted(
                (r["cells"], r["solve_s"], r["peak_mb"])
                for r in scale
                if r["fraction"] == fr and r["key"] == k
            )
            if not pts:
                continue
            mk, col = styles[k]
            lab = f"{VARIANTS[k][0]} {VARIANTS[k][1]}, fraction {fr:g}"
            x = [p[0] for p in pts]
            axs[0].plot(x, [p[1] for p in pts], ls=ls, marker=mk, color=col, label=lab)
            axs[1].plot(x, [p[2] for p in pts], ls=ls, marker=mk, color=col, label=lab)
    for part, mk, lab in (("tf500", "*", "TF-500 (0.3)"), ("big", "P", "1000^3 mirrored (0.3)")):
        for k in ("ion", "ion_passive"):
            pts = [r for r in rows if r["part"] == part and r["key"] == k and _ok(r)]
            if pts:
                c = [r["shape"][0] * r["shape"][1] * r["shape"][2] for r in pts]
                axs[0].plot(
                    c,
                    [r["solve_s"] for r in pts],
                    ls="none",
                    marker=mk,
                    ms=11,
                    color=styles[k][1],
                    label=f"ionflow {_short(k)}, {lab}, each axis",
                )
                axs[1].plot(
                    c,
                    [r["peak_mb"] for r in pts],
                    ls="none",
                    marker=mk,
                    ms=11,
                    color=styles[k][1],
                    label=f"ionflow {_short(k)}, {lab}, each axis",
                )
    axs[0].set_ylabel("solve wall time (s)")
    axs[1].set_ylabel("peak resident memory of the process (MB)")
    for ax in axs:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("voxels")
        ax.grid(True, which="both", alpha=0.3)
    axs[0].set_title("solve time (2-core shared VM; solid: fraction 0.7, dashed: 0.3)", fontsize=10)
    axs[1].set_title("peak memory")
    handles, labels = axs[1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def section(ctx: dict) -> str:
    rows = ctx["rows"]
    mach = ctx["machine"]
    v = mach["versions"]
    out = [SECTION, ""]
    out.append(
        f"Run {ctx['date']} (started; {ctx['total_min']:.1f} min in all) with `{ctx['command']}` "
        "from the repository root, in the venv of `benchmarks/README.md` (ionflow editable, "
        "taufactor, porespy, openpnm). Issue 12: scaling to 256^3, the TauFactor 2 standard "
        "volume, and 1000^3.\n"
    )
    out.append(
        f"Machine: {mach['cpu']} (`lscpu`: {mach.get('lscpu', '?')}), {mach['cores']} cores, "
        f"{mach['memory']} RAM, {mach['os']}, Python {mach['python']}; a virtual machine shared "
        "with another agent's work (the *load* column is the 1-minute load average at the start "
        f"and end of each case, on 2 cores). git {mach['git']}; ionflow {v.get('ionflow')}, "
        f"numpy {v.get('numpy')}, numba {ctx.get('numba', '?')}, taufactor {v.get('taufactor')} "
        f"(torch {v.get('torch')}, CPU), porespy {v.get('porespy')} (openpnm {v.get('openpnm')}).\n"
    )
    out.append(
        "Each case is a fresh subprocess measured like `solver.py`'s (`_measure.py`, adapters "
        "in `peers/`): *solve s* is the wall time of the solve call (best of 3 if under 5 s), "
        "*process s* the whole subprocess, *cpu s* its user + system CPU, *peak MB* its peak "
        "resident memory (VmHWM, or the sampled RSS sum if larger). Every ionflow process first "
        "solves a 40^3 volume (loads numba's cached kernels; counted in *process s*, not in "
        "*solve s*). Threads: ionflow with its default (numba's OpenMP layer, 2 threads; "
        "`OMP_WAIT_POLICY=PASSIVE` is its default since 2026-11-29, the *passive* variant "
        "sets it explicitly). *ionflow rtol 1e-6* is `simulate(rtol=1e-6, balance_tol=1e-4)`: "
        "a screening accuracy near TauFactor's own (its relative conductivity is within about "
        "1e-4 of the exact one; compare the *diff* column). "
        "TauFactor with torch's default (2 threads here) and with 1; PoreSpy with its defaults "
        "(single-threaded AMG). *diff vs ionflow* compares relative conductivities in ionflow's "
        "convention (see the Solver section); PoreSpy's is lower by its O(1/n) end-layer "
        f"difference. Peers have a {ctx['peer_timeout']:.0f} s limit; a peer that fails at one "
        "size is not run at larger ones.\n"
    )
    if ctx.get("notes"):
        out += [f"* {n}" for n in ctx["notes"]] + [""]
    out.append("### Scaling, 3D spheres\n")
    out += scale_tables(rows)
    out.append("\n![solve time and peak memory against voxels](benchmarks/solver_scale.png)\n")
    tf = [r for r in rows if r["part"] == "tf500"]
    if tf:
        out.append("### The TauFactor 2 standard volume, 500^3 (`TF-500x500x500-1x2x6-v3.tiff`)\n")
        out.append(
            "`simulate(vol > 0, axis=a)` (phase 255 conducts, 30 %), one measured process per "
            "axis. *RSS with input*: resident memory once the boolean volume is in memory (after "
            "imports and the warm-up); *peak during solve*: the process's high-water mark "
            "during `simulate`, reset (`/proc/self/clear_refs`) after loading, input included; "
            "*solve peak over input*: the difference, i.e. what the solve itself added. *paper "
            "tau*: the TauFactor 2 paper's over-converged values (JOSS 2023, "
            "doi 10.21105/joss.05358); its timing is 26 s per direction for TauFactor 2 on an "
            "NVIDIA A6000 GPU and 447 s on a 32-core Threadripper 3970X CPU. "
            + _tf_estimate(rows)
            + "\n"
        )
        out.append(std_table(rows, "tf500"))
    big = [r for r in rows if r["part"] == "big"]
    if big:
        out.append("\n### 1000^3: the standard volume tiled 2 x 2 x 2 with mirrored copies\n")
        out.append(
            "`np.concatenate([v, v[::-1]], axis)` along each axis (built inside the measured "
            "process from the TIFF; 1000^3, still 30 % conducting and percolating). By symmetry the "
            "exact answer is the 500^3 one: across a transverse mirror plane no current flows, "
            "and the mirror plane across the flow sits at exactly half the applied potential, "
            "so the tiled volume is two 500^3 copies in series and two in parallel, twice over; "
            "*diff vs paper* is against the paper's 500^3 value and the notes compare with "
            "ionflow's own 500^3 tau. *peak MB (process)* includes building the input (the 1 GB boolean "
            "volume and its concatenation temporaries); *peak during solve* is the high-water "
            "mark reset after building, with the 1 GB input held; *solve peak over input* the "
            "solve alone.\n"
        )
        out.append(std_table(rows, "big"))
    out.append("\n### Notes\n")
    out.append("* " + "\n* ".join(ctx.get("findings") or ["(none)"]))
    out.append(
        "\nRaw results and per-case logs: the work directory "
        f"(`{ctx['workdir']}`); `--report-only` rewrites this section and the plot from it."
    )
    return "\n".join(out) + "\n"


def _tf_estimate(rows: list[dict]) -> str:
    """Why TauFactor was not run on 500^3, with an estimate from its largest solve here."""
    tf = sorted(
        (
            r
            for r in rows
            if r["part"] == "scale"
            and r["key"] in ("tf1", "tf2")
            and _ok(r)
            and abs(r["fraction"] - 0.3) < 1e-9
        ),
        key=lambda r: r["n"],
    )
    text = "TauFactor was not run on this volume (hours per direction on this CPU)."
    if tf:
        r = tf[-1]
        est = r["solve_s"] * (500 / r["n"]) ** 4 / 60
        text = (
            "TauFactor was not run on this volume: scaling its largest fraction-0.3 solve here "
            f"({r['n']}^3, {r['variant']}, {r['solve_s']:.0f} s, {r['info']['iterations']} "
            "iterations) by the voxels and by the side (its iteration count grows with the "
            f"side) gives about {est:.0f} min per direction on this machine."
        )
    return text


def findings(rows: list[dict]) -> list[str]:
    """Sentences computed from the rows (ratios, exponents)."""
    out = []
    scale = [r for r in rows if r["part"] == "scale" and _ok(r)]
    for fr in sorted({r["fraction"] for r in scale}, reverse=True):
        for k in VARIANTS:
            pts = sorted(
                (r["cells"], r["solve_s"], r["peak_mb"])
                for r in scale
                if r["fraction"] == fr and r["key"] == k
            )
            if len(pts) >= 2 and pts[-1][0] > pts[0][0]:
                lx = math.log(pts[-1][0] / pts[0][0])
                out.append(
                    f"fraction {fr:g}, {VARIANTS[k][0]} {VARIANTS[k][1]}: solve time grows as "
                    f"voxels^{math.log(pts[-1][1] / pts[0][1]) / lx:.2f}, whole-process peak memory as "
                    f"voxels^{math.log(pts[-1][2] / pts[0][2]) / lx:.2f} "
                    f"({pts[0][0] ** (1 / 3):.0f}^3 to {pts[-1][0] ** (1 / 3):.0f}^3)"
                )
    std = {
        (r["part"], r["axis"]): r
        for r in rows
        if r["part"] in ("tf500", "big") and r["key"] == "ion" and _ok(r)
    }
    for (part, ax), r in sorted(std.items()):
        small = std.get(("tf500", ax))
        if part == "big" and small:
            out.append(
                f"1000^3 against 500^3, axis {ax} (ionflow default): tau {r['tau']:.6f} vs "
                f"{small['tau']:.6f} ({(r['tau'] - small['tau']) / small['tau'] * 100:+.4f} %; "
                f"exact answer: equal), solve time x{r['solve_s'] / small['solve_s']:.1f} and "
                f"solve peak over input x{(r['hwm_solve_mb'] - r['rss_input_mb']) / max(small['hwm_solve_mb'] - small['rss_input_mb'], 1):.1f} "
                f"for 8x the voxels; iterations {small['iterations']} -> {r['iterations']}"
            )
    return out


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_child"]:
        return child_main(argv[1])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="40^3 and 64^3, a 100^3 crop; no writes")
    ap.add_argument("--parts", default="scale,tf500,big", help="comma list of scale,tf500,big")
    ap.add_argument("--sizes", default="100,128,160,200,256")
    ap.add_argument("--fractions", default="0.7,0.3", help="the first runs before tf500/big")
    ap.add_argument(
        "--variants",
        default="ion,ion_loose,tf2,tf1,ps",
        help=f"scaling variants, from {','.join(VARIANTS)}",
    )
    ap.add_argument(
        "--passive",
        action="store_true",
        help="also run ionflow with OMP_WAIT_POLICY=PASSIVE (scale and tf500)",
    )
    ap.add_argument("--tf-zip", default=str(TF_ZIP))
    ap.add_argument("--big-axes", default="0", help="axes of the 1000^3 volume (default 0)")
    ap.add_argument("--big-timeout", type=float, default=1800.0, help="s per 1000^3 case")
    ap.add_argument("--peer-timeout", type=float, default=300.0)
    ap.add_argument(
        "--ion-timeout", type=float, default=600.0, help="s per ionflow case (x8 for 1000^3)"
    )
    ap.add_argument("--mem-limit-gb", type=float, default=16.0)
    ap.add_argument("--big-mem-limit-gb", type=float, default=21.0)
    ap.add_argument(
        "--workdir", default=os.path.join(tempfile.gettempdir(), "ionflow-solver-scale")
    )
    ap.add_argument("--markdown", default=None, help="default: BENCHMARKS.md (not with --quick)")
    ap.add_argument("--plot", default=None, help="default: benchmarks/solver_scale.png")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--note", action="append", default=[], help="extra bullet for the markdown")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument(
        "--append",
        action="store_true",
        help="keep the rows of the last run in the work dir and add this run's",
    )
    args = ap.parse_args(argv)
    work = Path(args.workdir) / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    ctx_path = work / "context.json"
    if args.report_only:
        ctx = json.loads(ctx_path.read_text())
        ctx["notes"] = list(ctx.get("notes", [])) + list(args.note)
        ctx["findings"] = findings(ctx["rows"]) + ctx.get("extra_findings", [])
        write_outputs(ctx, args)
        return 0
    absent = peers.missing(list(peers.TOOLS))
    if absent:
        for line in absent.values():
            print(f"solver_scale.py: {line}", file=sys.stderr)
        return 2
    args.sizes = [int(s) for s in args.sizes.split(",")]
    fractions = [float(f) for f in args.fractions.split(",")]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.passive and "ion_passive" not in variants:
        variants.insert(1, "ion_passive")
    parts = [p.strip() for p in args.parts.split(",")]
    if args.quick:
        args.sizes, fractions = [40, 64], fractions[:1]
        args.peer_timeout = 60.0
    import numba

    t_start = time.perf_counter()
    command = "python benchmarks/solver_scale.py" + (" " + shlex.join(argv) if argv else "")
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mach = machine()
    with contextlib.suppress(Exception):
        import subprocess

        ls = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        d = dict(line.split(":", 1) for line in ls.splitlines() if ":" in line)
        mach["lscpu"] = (
            f"{d.get('Model name', '?').strip()}, family {d.get('CPU family', '?').strip()}"
            f" model {d.get('Model', '?').strip()}, {d.get('CPU(s)', '?').strip()} CPUs, "
            f"{d.get('Hypervisor vendor', '').strip()} guest"
        )
    rows: list[dict] = []
    notes: list[str] = []
    earlier_min = 0.0  # minutes of the runs this one appends to
    if args.append and ctx_path.exists():
        old = json.loads(ctx_path.read_text())
        rows += old["rows"]
        notes += old.get("notes", [])
        earlier_min = float(old.get("total_min", 0.0))
        command = old["command"] + "` then `" + command
        date = old["date"] + " and " + date
    ctx = dict(
        date=date,
        command=command,
        machine=mach,
        numba=numba.__version__,
        rows=rows,
        peer_timeout=args.peer_timeout,
        workdir=str(work),
        notes=notes + list(args.note),
        total_min=earlier_min,
    )

    def save(row):
        rows.append(row)
        ctx["total_min"] = earlier_min + (time.perf_counter() - t_start) / 60
        ctx_path.write_text(json.dumps(ctx, default=str, indent=1))

    def log(s=""):
        print(s, flush=True)

    log(f"# solver_scale.py {date}; {command}")
    log(f"# {mach.get('lscpu')}, {mach['memory']}, git {mach['git']}; work dir {work}")
    # make sure numba's cache exists before anything is timed (compiles once, ~30-60 s)
    t0 = time.perf_counter()
    warm = run_case(
        dict(kind="case", tool="ionflow", input={"npy": str(_volume(work, 24, 0.7))}, axis=0),
        work,
        "warmup",
        900,
        args.mem_limit_gb * 2**30,
        2,
        {},
    )
    log(
        f"# warm-up process {warm['status']} in {time.perf_counter() - t0:.1f} s "
        f"(40^3 solve inside: {warm.get('warm_s', math.nan):.1f} s)"
    )
    tiff = None
    if {"tf500", "big"} & set(parts):
        tiff = _tiff(work, Path(args.tf_zip))
    std_variants = ("ion", "ion_passive") if args.passive else ("ion",)
    if "scale" in parts:
        log(f"\n## scale, fraction {fractions[0]:g}")
        run_scale(args, work, fractions[0], variants, save, log)
    crop = 100 if args.quick else None
    if "tf500" in parts:
        log("\n## TF-500 standard volume" + (f" (quick: cropped to {crop}^3)" if crop else ""))
        run_std(args, work, tiff, 1, (0, 1, 2), save, log, std_variants, crop)
    if "big" in parts:
        log("\n## 1000^3 mirrored" + (f" (quick: {crop}^3 crop tiled)" if crop else ""))
        axes = [int(a) for a in args.big_axes.split(",")]
        run_std(args, work, tiff, 2, axes, save, log, ("ion",), crop)
    if "scale" in parts:
        for fr in fractions[1:]:
            log(f"\n## scale, fraction {fr:g}")
            run_scale(args, work, fr, variants, save, log)
    ctx["total_min"] = earlier_min + (time.perf_counter() - t_start) / 60
    ctx["findings"] = findings(rows)
    ctx_path.write_text(json.dumps(ctx, default=str, indent=1))
    for f in ctx["findings"]:
        log("# " + f)
    log(f"# total {ctx['total_min']:.1f} min")
    if not args.quick:
        write_outputs(ctx, args, log)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def write_outputs(ctx, args, log=print) -> None:
    if args.no_write:
        return
    md = args.markdown or (None if args.quick else str(REPO / "BENCHMARKS.md"))
    png = args.plot or (None if args.quick else str(HERE / "solver_scale.png"))
    if png:
        plot(ctx["rows"], Path(png))
        log(f"# plot: {png}")
    if md:
        write_section(Path(md), SECTION, section(ctx), after="## Solver (benchmarks/solver.py)")
        log(f"# markdown: {md}")


if __name__ == "__main__":
    sys.exit(main())
