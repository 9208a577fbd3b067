#!/usr/bin/env python3
"""Side-by-side solver benchmark: ionflow vs TauFactor 2 vs PoreSpy ``tortuosity_fd``.

Usage (from the repository root, in an environment that has ionflow, taufactor, porespy,
openpnm; see ``benchmarks/README.md``)::

    python benchmarks/solver.py --quick      # small sizes only, < 2 minutes
    python benchmarks/solver.py              # full mode: writes BENCHMARKS.md + the scaling plot

Every case runs in a fresh subprocess, one at a time. For each case we record

* ``solve s``: wall time of the solve call(s) inside the subprocess (no start-up, imports or
  image loading), and per image for batches; solves under 5 s are run 3 times in the same
  process and the best time is kept (damps the noise of a shared machine);
* ``process s``: wall time of the whole subprocess (interpreter start-up, imports, loading);
* ``cpu s``: user + system CPU time of the subprocess and its children (less sensitive than wall
  time to other work sharing the machine);
* ``peak MB``: peak resident memory: the larger of the biggest process's own high-water mark
  (VmHWM, read by the child at its end and sampled for every process of the case every 0.1 s)
  and the sampled sum of resident memory over all the case's processes (matters for the
  multi-process ionflow runs). ``wait4``'s ru_maxrss is not used: it inherits the resident size
  of the driver process that forked the child.

Relative conductivities are converted to ionflow's convention (Dirichlet on the image's own
faces, half a voxel outside the first/last voxel centres; a uniform image gives exactly 1):

* ionflow:   ``simulate(img, axis).relative_conductivity`` (= sigma_eff / sigma).
* TauFactor: ``Solver(img).D_eff`` with ``D_0 = 1`` (= D_rel = eps / tau); same boundary
  convention (ghost layer at 2 x the face value with a doubled weight = a Dirichlet face half a
  voxel out), so no conversion.
* PoreSpy:   ``1 / formation_factor`` (= effective_porosity / tortuosity = Deff). Its Dirichlet
  values sit on the first/last voxel centres and it already scales by the n - 1 cells between
  them (``Deff = rate (L - 1) / A / dC``), so a uniform image and straight channels give exactly
  1 and the channel fraction, as in ionflow; on other images the half-voxel end layers differ,
  an O(1/n) discretisation difference that is reported, not corrected.

The conversions are checked numerically at the start of every run (uniform images, straight
channels) and printed, as is each tool's behaviour on non-percolating and blocked images.

Every case runs with OMP/MKL/OpenBLAS/numba/torch limited to ``--threads`` (default 1) per
process: on a shared 2-core machine torch's 2-thread SOR was erratic (10-80x slower at times).
ionflow's 3D multigrid keeps its own pool of min(2, cores) threads. ``--report-only`` rewrites
the markdown and the plot from the last run's ``context.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import io
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REAL_DIR = Path("/work/shared/data/real")
REAL = {
    "taufactor_electrode_256": REAL_DIR / "taufactor_electrode_256.tiff",
    "nrel_nmc_cbd_bridge": REAL_DIR / "nrel_nmc_cbd_bridge.tif",
}
SECTION = "## Solver (benchmarks/solver.py)"
TOOLS = ("ionflow", "taufactor", "porespy")


# --------------------------------------------------------------------------------------------
# child side: one case per process
# --------------------------------------------------------------------------------------------


def _load_input(spec: dict) -> list[np.ndarray]:
    """The images of a case: a list of boolean arrays (True = conductive)."""
    if "npy" in spec:
        arr = np.load(spec["npy"])
        return list(arr) if spec.get("stack") else [arr]
    import tifffile

    vol = tifffile.imread(spec["tiff"])
    if spec.get("crop"):
        c = int(spec["crop"])
        vol = vol[:c, :c, :c]
    return [np.ascontiguousarray(vol == spec.get("label", 0))]


def _preload(*modules: str) -> None:
    """Import what a tool imports lazily on its first call, so solve times exclude imports."""
    import importlib

    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def _run_ionflow(images: list[np.ndarray], axis: int, spec: dict):
    import ionflow

    _preload("pypardiso", "pyamg")
    jobs = spec.get("jobs", 1)

    def solve():
        if jobs > 1:
            outs = list(ionflow.simulate_many(images, jobs=jobs, axis=axis))
            bad = [o.error for o in outs if o.error]
            if bad:
                raise RuntimeError(bad[0])
            return [o.result.relative_conductivity for o in outs], {}
        res = [ionflow.simulate(img, axis=axis) for img in images]
        rel = [r.relative_conductivity for r in res]
        if len(res) == 1:
            r = res[0]
            return rel, {"iterations": r.iterations, "accuracy": r.accuracy, "method": r.method}
        return rel, {"method": ",".join(sorted({r.method for r in res}))}

    return solve


def _taufactor_input(images: list[np.ndarray], axis: int, batch: bool) -> list[np.ndarray]:
    """TauFactor flows along its first spatial axis; 2D images need a trailing z of 1."""
    moved = [np.moveaxis(img, axis, 0) for img in images]
    moved = [m[..., None] if m.ndim == 2 else m for m in moved]
    if batch:
        return [np.ascontiguousarray(np.stack(moved)).astype(np.uint8)]
    return [np.ascontiguousarray(m[None]).astype(np.uint8) for m in moved]


def _run_taufactor(images: list[np.ndarray], axis: int, spec: dict):
    import taufactor
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count() or 1)
    batches = _taufactor_input(images, axis, spec.get("batch", False))

    def solve():
        rel, iters, conv = [], [], []
        for b in batches:
            s = taufactor.Solver(b, device="cpu")
            s.solve(verbose=False)
            rel += [float(v) for v in np.asarray(s.D_eff).ravel()]
            iters.append(int(s.iter))
            conv.append(bool(s.converged))
        return rel, {
            "iterations": max(iters),
            "converged": all(conv),
            "threads": torch.get_num_threads(),
        }

    return solve


def _run_porespy(images: list[np.ndarray], axis: int, spec: dict):
    import logging

    import porespy

    _preload("openpnm", "pyamg", "porespy.beta")
    logging.getLogger("porespy").setLevel(logging.ERROR)

    def solve():
        rel, conv = [], []
        for img in images:
            r = porespy.simulations.tortuosity_fd(img, axis=axis)
            rel.append(1.0 / float(r.formation_factor))
            conv.append(bool(r.converged))
        return rel, {"converged": all(conv)}

    return solve


REPEAT_BELOW = 5.0  # s: a solve faster than this is repeated (best of 3) to damp noise


def _timed(solve) -> dict:
    times = []
    while True:
        t0 = time.perf_counter()
        rel, info = solve()
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 or times[0] >= REPEAT_BELOW:
            break
    return {"rel": rel, "solve_s": min(times), "times": times, "info": info}


def _verify() -> dict:
    """Each tool on images with a known answer, converted to ionflow's convention."""
    import logging

    import porespy
    import taufactor

    import ionflow

    logging.getLogger("porespy").setLevel(logging.ERROR)
    cases = []
    ch2 = np.zeros((48, 30), bool)
    ch2[:, ::3] = True
    ch3 = np.zeros((24, 21, 20), bool)
    ch3[:, ::3, ::2] = True
    for name, img in [
        ("uniform 48x32", np.ones((48, 32), bool)),
        ("uniform 24^3", np.ones((24, 24, 24), bool)),
        ("straight channels 48x30 (every 3rd column)", ch2),
        ("straight channels 24x21x20 (every 3rd x 2nd line)", ch3),
    ]:
        row = {"case": name, "exact": float(img.mean())}
        row["ionflow"] = ionflow.simulate(img, axis=0).relative_conductivity
        a = img[None, ..., None] if img.ndim == 2 else img[None]
        s = taufactor.Solver(a.astype(np.uint8), device="cpu")
        s.solve(verbose=False)
        row["taufactor D_eff"] = float(s.D_eff[0])
        row["taufactor eps/tau"] = float(s.VF[0] / s.tau[0])
        r = porespy.simulations.tortuosity_fd(img, axis=0)
        row["porespy 1/F"] = 1.0 / float(r.formation_factor)
        row["porespy eps_eff/tau"] = float(r.effective_porosity / r.tortuosity)
        r = porespy.simulations.tortuosity_fd(img, axis=0, tol=1e-12)
        row["porespy 1/F (tol=1e-12)"] = 1.0 / float(r.formation_factor)
        cases.append(row)
    return {"rows": cases}


def _checks() -> dict:
    """Behaviour on non-percolating and fully blocked images."""
    import logging

    import porespy
    import taufactor

    import ionflow

    logging.getLogger("porespy").setLevel(logging.ERROR)
    n = 64
    diag = np.ones((n, n), bool)  # an 8-connected diagonal wall: blocks face-connected paths
    for j in range(n):
        diag[16 + j // 2, j] = False
    plane = np.ones((n, n), bool)
    plane[n // 2, :] = False
    disks = None
    for seed in range(50):
        img = ionflow.generate.disks((n, n), electrolyte_fraction=0.35, rng=seed)
        if not ionflow.simulate(img).percolating:
            disks = img
            break
    cases = [("diagonal insulating wall (64x64)", diag), ("flat insulating row (64x64)", plane)]
    if disks is not None:
        cases.append((f"disks, fraction 0.35, seed {seed}, not percolating (64x64)", disks))
    wall3 = np.ones((48, 48, 48), bool)
    wall3[24] = False
    cases.append(("flat insulating plane (48^3)", wall3))
    cases.append(("fully blocked (all insulating, 64x64)", np.zeros((n, n), bool)))
    out = []
    for name, img in cases:
        row = {"case": name}
        try:
            r = ionflow.simulate(img)
            row["ionflow"] = f"relative {r.relative_conductivity:g}, percolating={r.percolating}"
        except Exception as exc:  # noqa: BLE001
            row["ionflow"] = f"raises {type(exc).__name__}: {exc}"
        buf = io.StringIO()
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(buf):
                a = img[None, ..., None] if img.ndim == 2 else img[None]
                s = taufactor.Solver(a.astype(np.uint8), device="cpu")
                s.solve(verbose=False)
            said = " | ".join(x.strip() for x in buf.getvalue().splitlines() if x.strip())
            row["taufactor"] = (
                f"returns after {s.iter} iterations ({time.perf_counter() - t0:.1f} s), "
                f"converged={s.converged}, D_eff={float(np.ravel(s.D_eff)[0]):g}, "
                f"tau={float(np.ravel(s.tau)[0]):g}" + (f"; prints: {said[:160]}" if said else "")
            )
        except Exception as exc:  # noqa: BLE001
            row["taufactor"] = f"raises {type(exc).__name__}: {str(exc)[:120]}"
        t0 = time.perf_counter()
        try:
            r = porespy.simulations.tortuosity_fd(img, axis=0)
            row["porespy"] = (
                f"returns tortuosity={r.tortuosity:g}, formation_factor={r.formation_factor:g}"
            )
        except Exception as exc:  # noqa: BLE001
            row["porespy"] = f"raises {type(exc).__name__}: {str(exc)[:120]}"
        out.append(row)
    return {"rows": out}


def child_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result_path = Path(spec["result"])
    try:
        if spec["kind"] == "verify":
            res = _verify()
        elif spec["kind"] == "checks":
            res = _checks()
        else:
            t0 = time.perf_counter()
            images = _load_input(spec["input"])
            load_s = time.perf_counter() - t0
            runner = {
                "ionflow": _run_ionflow,
                "taufactor": _run_taufactor,
                "porespy": _run_porespy,
            }[spec["tool"]]
            res = _timed(runner(images, spec.get("axis", 0), spec))
            res["load_s"] = load_s
        res["hwm_mb"] = _own_hwm() / 2**20
        result_path.write_text(json.dumps(res))
        return 0
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        result_path.write_text(json.dumps({"error": traceback.format_exc(limit=3)[-600:]}))
        return 1


# --------------------------------------------------------------------------------------------
# parent side: measuring a subprocess
# --------------------------------------------------------------------------------------------


def _session_memory(sid: int) -> tuple[int, int]:
    """Summed VmRSS and largest VmHWM (bytes) of the processes in session ``sid``.

    VmHWM (the high-water mark of a process's own address space) starts afresh at ``exec``,
    unlike ``ru_maxrss``, which would inherit the RSS of this (large) driver process that forked
    the child.
    """
    total = hwm = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[3]) != sid:  # fields: state ppid pgrp session ...
                continue
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1]) * 1024
                    elif line.startswith(b"VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]) * 1024)
        except (OSError, ValueError, IndexError):
            continue
    return total, hwm


def _own_hwm() -> float:
    """This process's VmHWM in bytes."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024.0
    return 0.0


def _mem_available() -> float:
    """MemAvailable of the machine in bytes (inf if unknown)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024.0
    return math.inf


MIN_FREE = 1.5 * 2**30  # kill a case that leaves the (shared) machine less than this


THREADS = 1  # per process; set from --threads
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def measure(cmd: list[str], log_path: Path, timeout: float, mem_limit: float) -> dict:
    """Run ``cmd`` in its own session; wall time, CPU time, peak RSS, and limits."""
    load0 = os.getloadavg()[0]
    env = dict(os.environ, **{v: str(THREADS) for v in THREAD_VARS})
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO, env=env
        )
        peak_sum = peak_hwm = 0
        status = "ok"
        rusage = None
        rc = None
        while True:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                rc, rusage = os.waitstatus_to_exitcode(st), ru
                break
            rss, hwm = _session_memory(proc.pid)
            peak_sum, peak_hwm = max(peak_sum, rss), max(peak_hwm, hwm)
            elapsed = time.perf_counter() - t0
            over = (
                f"timeout (> {timeout:.0f} s)"
                if elapsed > timeout
                else f"memory (> {mem_limit / 2**30:.0f} GB)"
                if peak_sum > mem_limit
                else "memory (machine low)"
                if _mem_available() < MIN_FREE
                else None
            )
            if over:
                status = over
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _, st, ru = os.wait4(proc.pid, 0)
                rc, rusage = os.waitstatus_to_exitcode(st), ru
                break
            time.sleep(0.1)
        wall = time.perf_counter() - t0
    proc.returncode = rc
    if status == "ok" and rc != 0:
        status = f"failed (exit {rc})"
    return {
        "status": status,
        "process_s": wall,
        "cpu_s": rusage.ru_utime + rusage.ru_stime,
        "peak_mb": max(peak_hwm, peak_sum) / 2**20,
        "ru_maxrss_mb": rusage.ru_maxrss / 2**10,
        "load": (load0, os.getloadavg()[0]),
    }


def run_child(spec: dict, work: Path, name: str, timeout: float, mem_limit: float) -> dict:
    spec = dict(spec, result=str(work / f"{name}.result.json"))
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    Path(spec["result"]).unlink(missing_ok=True)
    m = measure(
        [sys.executable, str(Path(__file__).resolve()), "--_child", str(spec_path)],
        work / f"{name}.log",
        timeout,
        mem_limit,
    )
    res = {}
    if Path(spec["result"]).exists():
        res = json.loads(Path(spec["result"]).read_text())
    if "error" in res and m["status"] == "ok":
        m["status"] = "failed"
    m["peak_mb"] = max(m["peak_mb"], res.pop("hwm_mb", 0.0))
    m.update(res)
    return m


def run_cli(files_dir: Path, n: int, work: Path, timeout: float, mem_limit: float) -> dict:
    exe = Path(sys.executable).with_name("ionflow")
    cmd = (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "import sys; from ionflow.cli import main; sys.exit(main())"]
    )
    out_path = work / "cli_out.jsonl"
    cmd = cmd + ["simulate", str(files_dir), "--json", "--no-progress"]
    m = measure(
        ["sh", "-c", shlex.join(cmd) + " > " + shlex.quote(str(out_path))],
        work / "cli.log",
        timeout,
        mem_limit,
    )
    rel = {}
    if out_path.exists():
        for line in out_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError, KeyError):
                row = json.loads(line)
                rel[int(Path(row["file"]).stem.split("_")[-1])] = row["relative_conductivity"]
    m["rel"] = [rel.get(i, math.nan) for i in range(n)]
    m["solve_s"] = m["process_s"]  # the whole process is the measurement here
    if m["status"] == "ok" and len(rel) != n:
        m["status"] = f"only {len(rel)} of {n} results"
    return m


# --------------------------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------------------------


def plan(args: argparse.Namespace) -> dict:
    """Sizes per mode."""
    if args.quick:
        return dict(
            batch=200,
            batch_peers=20,
            single2d=200,
            vol=[40],
            real=None,
            real_crop=64,
            peer_timeout=60.0,
            timeout=120.0,
        )
    return dict(
        batch=2000,
        batch_peers=200,
        single2d=400,
        vol=[100, 200],
        real=list(REAL),
        real_crop=None,
        peer_timeout=args.peer_timeout,
        timeout=args.timeout,
    )


def prepare_data(p: dict, work: Path, tools: list[str]) -> list[dict]:
    """Generate the images (seeded, cached in ``work``) and list the workloads."""
    import ionflow
    from ionflow.io import write_image

    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    workloads = []

    # (a) a batch of 64x64 disks images, fraction uniform in [0.6, 1.0]
    n = p["batch"]
    stack_path = data / f"batch64_{n}.npy"
    png_dir = data / f"batch64_{n}_png"
    if not stack_path.exists() or not png_dir.exists():
        fr = np.random.default_rng(2024).uniform(0.6, 1.0, size=n)
        imgs = np.stack(
            [
                ionflow.generate.disks((64, 64), electrolyte_fraction=float(f), rng=1000 + i)
                for i, f in enumerate(fr)
            ]
        )
        png_dir.mkdir(exist_ok=True)
        for i, img in enumerate(imgs):
            write_image(png_dir / f"img_{i:05d}.png", img)
        np.save(stack_path, imgs)
    imgs = np.load(stack_path)
    sub_path = data / f"batch64_{n}_first{p['batch_peers']}.npy"
    np.save(sub_path, imgs[: p["batch_peers"]])
    workloads.append(
        dict(
            key="batch64",
            label=f"(a) 64x64 disks, fraction 0.6-1.0, {n} images",
            cells=64 * 64,
            n=n,
            n_peers=p["batch_peers"],
            stack=str(stack_path),
            sub=str(sub_path),
            png_dir=str(png_dir),
            axis=0,
            fraction=float(imgs.mean()),
            ndim=2,
        )
    )

    # (b) one large 2D image
    s = p["single2d"]
    path = data / f"disks2d_{s}.npy"
    if not path.exists():
        np.save(path, ionflow.generate.disks((s, s), electrolyte_fraction=0.7, rng=7))
    workloads.append(
        dict(
            key=f"2d{s}",
            label=f"(b) {s}x{s} disks, fraction 0.7",
            cells=s * s,
            npy=str(path),
            axis=0,
            fraction=0.7,
            ndim=2,
        )
    )

    # (c), (d) spheres
    for k, v in enumerate(p["vol"]):
        path = data / f"spheres_{v}.npy"
        if not path.exists():
            np.save(path, ionflow.generate.disks((v, v, v), electrolyte_fraction=0.7, rng=11))
        tag = "(c)" if k == 0 else "(d)"
        workloads.append(
            dict(
                key=f"3d{v}",
                label=f"{tag} {v}^3 spheres, fraction 0.7",
                cells=v**3,
                npy=str(path),
                axis=0,
                fraction=0.7,
                ndim=3,
            )
        )

    # (e) real volumes, pore label 0 conductive
    if p["real"]:
        import tifffile

        for name in p["real"]:
            path = REAL[name]
            if not path.exists():
                print(f"# missing {path}; skipped")
                continue
            with tifffile.TiffFile(path) as tf:
                shape = tf.series[0].shape
            for axis in (0, 1, 2):
                workloads.append(
                    dict(
                        key=f"{name}_ax{axis}",
                        label=f"(e) {name} {'x'.join(map(str, shape))}, label 0, axis {axis}",
                        cells=int(np.prod(shape)),
                        tiff=str(path),
                        axis=axis,
                        peers=axis in p["real_peer_axes"],
                        ndim=3,
                    )
                )
    elif p["real_crop"]:
        c = p["real_crop"]
        path = REAL["taufactor_electrode_256"]
        if path.exists():
            workloads.append(
                dict(
                    key=f"real_crop{c}",
                    label=f"(e) taufactor_electrode_256 cropped to {c}^3, label 0, axis 0",
                    cells=c**3,
                    tiff=str(path),
                    crop=c,
                    axis=0,
                    ndim=3,
                )
            )
    return workloads


def run_workloads(
    workloads: list[dict], p: dict, work: Path, tools: list[str], mem_limit: float, log
) -> list[dict]:
    rows = []

    def record(w, tool, variant, m, n_images, reference=False):
        row = dict(
            workload=w["label"],
            key=w["key"],
            tool=tool,
            variant=variant,
            n=n_images,
            cells=w["cells"],
            ndim=w["ndim"],
            reference=reference,
            **m,
        )
        rows.append(row)
        per = row.get("solve_s", math.nan) / max(n_images, 1)
        info = row.get("info", {})
        log(
            f"  {tool:9s} {variant:34s} {row['status']:10s} solve {row.get('solve_s', math.nan):8.2f} s"
            f" ({per:.4g} s/img)  process {row['process_s']:7.1f} s  cpu {row['cpu_s']:7.1f} s"
            f"  peak {row['peak_mb']:7.0f} MB  load {row['load'][0]:.1f}->{row['load'][1]:.1f}"
            + (f"  {info}" if info else "")
            + (f"  times {[round(t, 3) for t in row['times']]}" if row.get("times") else "")
        )
        return row

    for w in workloads:
        log(f"{w['label']}")
        axis = w["axis"]
        if w["key"] == "batch64":
            full = {"npy": w["stack"], "stack": True}
            sub = {"npy": w["sub"], "stack": True}
            if "ionflow" in tools:
                m = run_child(
                    dict(kind="case", tool="ionflow", input=sub, axis=0, jobs=1),
                    work,
                    "batch_ion_loop",
                    p["timeout"],
                    mem_limit,
                )
                record(w, "ionflow", "simulate() loop, 1 process", m, w["n_peers"], reference=True)
                m = run_child(
                    dict(kind="case", tool="ionflow", input=full, axis=0, jobs=2),
                    work,
                    "batch_ion_many",
                    p["timeout"],
                    mem_limit,
                )
                record(w, "ionflow", "simulate_many(jobs=2), 2 processes", m, w["n"])
                m = run_cli(Path(w["png_dir"]), w["n"], work, p["timeout"], mem_limit)
                record(w, "ionflow", "CLI `simulate DIR --json` (whole process)", m, w["n"])
            if "taufactor" in tools:
                m = run_child(
                    dict(kind="case", tool="taufactor", input=sub, axis=0, batch=True),
                    work,
                    "batch_tf",
                    p["peer_timeout"],
                    mem_limit,
                )
                record(w, "taufactor", "Solver, one batch of all images", m, w["n_peers"])
            if "porespy" in tools:
                m = run_child(
                    dict(kind="case", tool="porespy", input=sub, axis=0),
                    work,
                    "batch_ps",
                    p["peer_timeout"],
                    mem_limit,
                )
                record(w, "porespy", "tortuosity_fd loop", m, w["n_peers"])
            continue
        inp = (
            {"npy": w["npy"]}
            if "npy" in w
            else {"tiff": w["tiff"], "label": 0, "crop": w.get("crop")}
        )
        if "ionflow" in tools:
            m = run_child(
                dict(kind="case", tool="ionflow", input=inp, axis=axis),
                work,
                f"{w['key']}_ion",
                p["timeout"],
                mem_limit,
            )
            record(w, "ionflow", "simulate()", m, 1, reference=True)
        if not w.get("peers", True):
            continue
        for tool, api, tag in (("taufactor", "Solver", "tf"), ("porespy", "tortuosity_fd", "ps")):
            if tool in tools:
                m = run_child(
                    dict(kind="case", tool=tool, input=inp, axis=axis),
                    work,
                    f"{w['key']}_{tag}",
                    p["peer_timeout"],
                    mem_limit,
                )
                record(w, tool, api, m, 1)
    return rows


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def machine() -> dict:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    from importlib import metadata

    versions = {}
    for pkg in (
        "ionflow",
        "numpy",
        "scipy",
        "pyamg",
        "pypardiso",
        "taufactor",
        "torch",
        "porespy",
        "openpnm",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    git = "?"
    with contextlib.suppress(Exception):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        git = head + (" + uncommitted changes in src/" if dirty else "")
    return dict(
        cpu=model,
        cores=os.cpu_count(),
        memory=mem,
        python=platform.python_version(),
        os=f"{platform.system()} {platform.release()}",
        versions=versions,
        git=git,
    )


def _fmt(x: float, spec: str = ".3g") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _rel_summary(vals: list[float]) -> str:
    v = np.asarray(vals, float)
    if v.size == 1:
        return f"{v[0]:.6f}"
    return f"mean {np.nanmean(v):.5f}"


def _diff(peer: list[float], ref: list[float]) -> str:
    m = min(len(peer), len(ref))
    a = np.asarray(peer, float)[:m]
    b = np.asarray(ref, float)[:m]
    if m == 0:
        return "-"
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(b != 0, (a - b) / b, a - b)
    if a.size == 1:
        return f"{100 * d[0]:+.3f}%"
    ad = np.abs(d)
    return f"max {100 * np.nanmax(ad):.3f}%, mean {100 * np.nanmean(d):+.3f}%"


def table(rows: list[dict]) -> list[list[str]]:
    refs = {r["key"]: r for r in rows if r["reference"] and r["status"] == "ok"}
    out = []
    for r in rows:
        ok = r["status"] == "ok"
        n = r["n"]
        per = r.get("solve_s", math.nan) / max(n, 1) if ok else math.nan
        ref = refs.get(r["key"])
        diff = ratio = "-"
        if ok and ref is not None and r is not ref:
            diff = _diff(r["rel"], ref["rel"])
            ratio = f"{per / (ref['solve_s'] / max(ref['n'], 1)):.2f}"
        elif r is ref:
            diff, ratio = "(reference)", "1"
        info = dict(r.get("info", {}))
        notes = []
        if "iterations" in info and info.get("method") != "pardiso":
            notes.append(f"{info['iterations']} it")
        if info.get("accuracy"):
            notes.append(f"acc {info['accuracy']:.1e}")
        if "method" in info:
            notes.append(str(info["method"]))
        if "converged" in info:
            notes.append(f"converged={info['converged']}")
        if len(r.get("times", [])) > 1:
            notes.append(f"best of {len(r['times'])}")
        if not ok:
            notes.append(r["status"])
        timing = _fmt(r.get("solve_s") if ok else None, ".2f")
        if n > 1 and ok:
            timing += f" ({per * 1000:.2f} ms/img)"
        out.append(
            [
                r["workload"],
                f"{r['tool']}: {r['variant']}",
                str(n),
                timing,
                _fmt(r["process_s"], ".1f"),
                _fmt(r["cpu_s"], ".1f"),
                _fmt(r["peak_mb"], ".0f"),
                _rel_summary(r["rel"]) if ok and r.get("rel") else "-",
                diff,
                ratio,
                "; ".join(notes),
            ]
        )
    return out


HEAD = [
    "workload",
    "tool",
    "images",
    "solve s",
    "process s",
    "cpu s",
    "peak MB",
    "rel. conductivity",
    "diff vs ionflow",
    "time peer/ionflow",
    "notes",
]


def markdown_table(head: list[str], body: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in body]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in esc]
    return "\n".join(lines)


def text_table(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = "  ".join("{:<" + str(w) + "}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*row) for row in body]
    return "\n".join(lines)


def verify_table(res: dict) -> tuple[list[str], list[list[str]]]:
    rows = res.get("rows", [])
    if not rows:
        return ["error"], [[res.get("error", res.get("status", "?"))[-300:]]]
    head = list(rows[0])
    body = [[r["case"]] + [f"{r[k]:.8f}" for k in head[1:]] for r in rows]
    return head, body


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    style = {"ionflow": ("o", "C0"), "taufactor": ("s", "C1"), "porespy": ("^", "C2")}
    for tool, (marker, color) in style.items():
        for ndim, line in ((2, "--"), (3, "-")):
            pts = sorted(
                (r["cells"], r["solve_s"] / max(r["n"], 1))
                for r in rows
                if r["tool"] == tool
                and r["status"] == "ok"
                and r.get("ndim") == ndim
                and "CLI" not in r["variant"]
                and "2 processes" not in r["variant"]
            )
            if not pts:
                continue
            x, y = zip(*pts)
            ax.scatter(
                x,
                y,
                marker=marker,
                color=color,
                zorder=3,
                facecolors="none" if ndim == 2 else color,
                label=f"{tool} ({ndim}D)",
            )
            xs = sorted(set(x))  # line through the mean per size (real volumes: 3 axes)
            ax.plot(
                xs,
                [np.mean([v for u, v in pts if u == k]) for k in xs],
                color=color,
                linestyle=line,
            )
        for r in rows:  # a peer stopped by the time limit: a hollow marker at the limit
            if r["tool"] == tool and r["status"].startswith("timeout"):
                ax.scatter(
                    [r["cells"]],
                    [r["process_s"]],
                    marker=marker,
                    s=70,
                    facecolors="none",
                    edgecolors=color,
                    linewidths=1.5,
                    zorder=3,
                )
                ax.text(
                    r["cells"] / 1.15,
                    r["process_s"],
                    f"{tool} > {r['process_s']:.0f} s\n(time limit)",
                    ha="right",
                    va="center",
                    fontsize=8,
                    color=color,
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cells per image")
    ax.set_ylabel("solve time per image (s)")
    ax.set_title("Steady-conduction solve time per image (CPU, 2-core VM); lower is better")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_markdown(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION in text:
        start = text.index(SECTION)
        nxt = text.find("\n## ", start + len(SECTION))
        end = len(text) if nxt < 0 else nxt + 1
        text = text[:start] + section.rstrip() + "\n" + ("\n" + text[end:] if nxt >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    path.write_text(text)


def _stall_estimate(rows: list[dict]) -> str:
    """What 10000 TauFactor iterations cost on the largest volume it solved here."""
    done = [
        r
        for r in rows
        if r["tool"] == "taufactor" and r["status"] == "ok" and r["n"] == 1 and r["ndim"] == 3
    ]
    if not done:
        return ""
    r = max(done, key=lambda r: r["cells"])
    per = r["solve_s"] / max(r["info"].get("iterations", 1), 1)
    return (
        f"; on a large volume that takes long (at the {per:.2f} s per iteration of the "
        f"{r['cells'] / 1e6:.1f}M-voxel case above, about {10000 * per / 60:.0f} min)"
    )


def section_markdown(ctx: dict) -> str:
    m = ctx["machine"]
    v = m["versions"]
    rows = ctx["rows"]
    vh, vb = verify_table(ctx["verify"])
    checks = ctx["checks"].get("rows", [])
    loads = [x for r in rows for x in r.get("load", ())] or [math.nan]
    notes = [
        "Timings are wall-clock on a shared 2-core virtual machine; other jobs ran at the same "
        f"time (1-minute load average {min(loads):.1f} to {max(loads):.1f} at the starts and "
        "ends of the cases), so treat ratios within ~1.5x as noise and look at *cpu s* as well "
        "(the CPU time the case actually got, start-up included).",
        f"Threads: OMP/MKL/OpenBLAS/numba/torch are limited to {ctx['threads']} per process. "
        "With torch's default of 2 threads, TauFactor's time for the same 200x200 solve ranged "
        "from 0.15 s to 12 s between identical runs on this shared VM (its threads waiting for "
        "each other when the other core is busy), against a steady 0.19-0.35 s with 1 thread. "
        "PoreSpy's AMG is single-threaded SciPy code. ionflow's 3D multigrid runs its sparse "
        "kernels on its own pool of min(2, cores) threads, which these variables do not limit; "
        "under this load it averaged about one core (compare *cpu s* with *process s*). "
        "`simulate_many(jobs=2)` and the CLI use 2 processes. Use `--threads 2` on an idle "
        "machine.",
        f"The batch peers were timed on the first {ctx['batch_peers']} images of the batch, "
        "like the ionflow reference loop; their time is compared per image. The "
        "*rel. conductivity* of a batch row is the mean over that row's images (the 2000-image "
        "rows have a higher mean fraction than the first 200).",
        "Raw per-case results, logs and the images: the work directory (default "
        "`/tmp/ionflow-solver-bench/full`); `--report-only` rewrites this section from it.",
    ] + list(ctx.get("extra_notes", []))
    lines = [
        SECTION,
        "",
        f"Run on {ctx['date']} with `{ctx['command']}` from the repository root, in a venv with "
        "ionflow (editable), taufactor, porespy and openpnm (see `benchmarks/README.md`); "
        f"total {ctx['total_min']:.1f} min.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}, "
        f"Python {m['python']}; shared with other work. ionflow "
        f"{v['ionflow']} (git {m['git']}), numpy {v['numpy']}, scipy {v['scipy']}, pyamg "
        f"{v['pyamg']}, pypardiso {v['pypardiso']}, taufactor {v['taufactor']} (torch "
        f"{v['torch']}, CPU), porespy {v['porespy']} (openpnm {v['openpnm']}).",
        "",
        "Every case runs alone in a fresh subprocess. *solve s*: wall time of the solve call(s) "
        "only (batches: total and per image; a solve under 5 s is repeated in the same process "
        "and the best of 3 kept); *process s*: the whole subprocess (start-up, imports, loading, "
        "all repeats); *cpu s*: user + system CPU of the subprocess and its children; "
        "*peak MB*: peak resident memory (the largest process's own high-water mark VmHWM, or "
        "the sum over the case's processes, sampled every 0.1 s, if larger). *diff vs "
        "ionflow*: (peer - ionflow) / ionflow of the relative conductivity, converted to "
        "ionflow's convention (batches: max |diff| and mean diff over the images both solved). "
        "*time peer/ionflow*: solve time per image, peer over the ionflow reference row of the "
        "same workload (batches: the single-process `simulate()` loop on the same images; the "
        "`simulate_many` and CLI rows show what 2 processes and the whole CLI cost). ionflow's "
        "notes give its iterations, achieved accuracy and method. Peers have a "
        f"{ctx['peer_timeout']:.0f} s time limit and every case a {ctx['mem_gb']:.0f} GB "
        "memory limit.",
        "",
        markdown_table(HEAD, table(rows)),
        "",
        "![solve time against cells](benchmarks/solver_scaling.png)",
        "",
        "Summary (computed from the table):",
        "",
    ]
    lines += [f"* {x}" for x in summary(rows)]
    lines += [
        "",
        "### Conventions and conversions (verified at the start of every run)",
        "",
        "* ionflow: Dirichlet faces are the image's own faces (half a voxel outside the first / "
        "last voxel centres); `relative_conductivity` = sigma_eff / sigma; tortuosity = "
        "fraction / relative.",
        "* TauFactor 2 `Solver`: the same convention (the padded ghost layer holds twice the "
        "face value and counts twice in the neighbour sum, i.e. a Dirichlet face half a voxel "
        "out). `D_eff` (with `D_0 = 1`; = `D_rel` = `VF / tau`) is compared directly with "
        "`relative_conductivity`, and its `tau` is ionflow's tortuosity. TauFactor flows along "
        "its first spatial axis: other axes are moved there with `np.moveaxis`; 2D images are "
        "passed as `(batch, x, y, 1)`. It solves in float32 and stops when the flux of every "
        "layer agrees to 1 % and tau changed by < 2e-3 over 100 iterations, hence differences "
        "of up to ~0.2 %. (`MultiPhaseSolver`, not benchmarked, puts its ghost cell one voxel "
        "out instead.)",
        "* PoreSpy `tortuosity_fd`: Dirichlet values on the first / last voxel centres, and "
        "`Deff = rate (L - 1) / A / dC` already uses the n - 1 cells between them; we use "
        "`1 / formation_factor` = `Deff` = `effective_porosity / tortuosity` (its tortuosity "
        "divides the *percolating* porosity, ionflow's the total fraction: in ionflow's "
        "convention tortuosity = fraction x formation_factor). Uniform images and straight "
        "channels then agree exactly; on other images the two half-voxel end layers are "
        "treated differently, an O(1/n) discretisation difference (PoreSpy lower by a few "
        "tenths of a percent, shrinking with n) that is reported, not corrected. Its default "
        "stopping (`ftol=1e-3` on the inlet / outlet flux mismatch) leaves ~1e-4 error; "
        "`tol=1e-12` shows the exact value.",
        "",
        markdown_table(vh, vb),
        "",
        "### Non-percolating and blocked images",
        "",
        "TauFactor stalls on non-percolating images: its early exit needs a layer flux of "
        "exactly zero at successive checks, which float32 round-off rarely gives, so it runs to "
        "its `iter_limit` (10000), prints `Warning: not converged` and returns a meaningless "
        "tiny (even negative) D_eff" + _stall_estimate(rows) + ". A fully blocked image is "
        "detected at once (D_eff 0, tau inf). PoreSpy raises a plain "
        "`Exception` for every image without a percolating path, blocked or not. ionflow "
        "returns 0 (tortuosity infinite) for a non-percolating image and raises `InputError` "
        "only when there is no conductive voxel at all.",
        "",
    ]
    if checks:
        lines.append(
            markdown_table(
                ["image", "ionflow", "TauFactor Solver", "PoreSpy tortuosity_fd"],
                [[c["case"], c["ionflow"], c["taufactor"], c["porespy"]] for c in checks],
            )
        )
    else:
        lines.append(f"(checks failed: {ctx['checks'].get('error', '?')[-300:]})")
    lines += ["", "### Notes", ""] + [f"* {n}" for n in notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_child"]:
        return child_main(argv[1])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (< 2 minutes)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma list (default: all)")
    ap.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "ionflow-solver-bench"),
        help="generated images (cached), per-case logs and raw results",
    )
    ap.add_argument("--timeout", type=float, default=1200.0, help="s per ionflow case (full)")
    ap.add_argument("--peer-timeout", type=float, default=300.0, help="s per peer case (full)")
    ap.add_argument("--mem-limit-gb", type=float, default=12.0, help="kill a case above this")
    ap.add_argument(
        "--real-peer-axes",
        default="0",
        help="axes of the real volumes that the peers also solve (default 0)",
    )
    ap.add_argument(
        "--markdown",
        default=None,
        help="write the Solver section here (default: BENCHMARKS.md in full mode, "
        "nothing in quick mode)",
    )
    ap.add_argument(
        "--plot",
        default=None,
        help="scaling plot (default: benchmarks/solver_scaling.png in full mode)",
    )
    ap.add_argument("--no-write", action="store_true", help="write neither file")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per process for every tool (OMP/MKL/torch; default 1)",
    )
    ap.add_argument("--note", action="append", default=[], help="extra note for the markdown")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the markdown and plot from the last run's context.json in the work dir",
    )
    args = ap.parse_args(argv)
    if args.report_only:
        ctx_path = Path(args.workdir) / ("quick" if args.quick else "full") / "context.json"
        ctx = json.loads(ctx_path.read_text())
        ctx["extra_notes"] = list(ctx.get("extra_notes", [])) + list(args.note)
        write_outputs(ctx, args)
        return 0

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    global THREADS
    THREADS = args.threads
    t_start = time.perf_counter()
    work = Path(args.workdir) / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    command = (
        "python benchmarks/solver.py " + shlex.join(argv) if argv else "python benchmarks/solver.py"
    )
    date = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    mach = machine()
    out_lines: list[str] = []

    def log(s: str = "") -> None:
        print(s, flush=True)
        out_lines.append(s)

    log(f"# ionflow solver benchmark, {date}")
    log(f"# command: {command}")
    log(
        f"# machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory']} RAM, {mach['os']}, "
        f"Python {mach['python']}"
    )
    log(
        f"# versions: {', '.join(f'{k} {v}' for k, v in mach['versions'].items())}; "
        f"git {mach['git']}"
    )
    log(f"# interpreter: {sys.executable}; work dir: {work}")
    mem_limit = args.mem_limit_gb * 2**30
    p = plan(args)
    p["real_peer_axes"] = tuple(int(a) for a in args.real_peer_axes.split(",") if a.strip())

    peers = [t for t in tools if t != "ionflow"]
    verify: dict = {"rows": []}
    checks: dict = {"rows": []}
    if set(peers) == {"taufactor", "porespy"} and "ionflow" in tools:
        log("\n## conversions (uniform images, straight channels; exact = fraction)")
        verify = run_child({"kind": "verify"}, work, "verify", 600, mem_limit)
        log(text_table(*verify_table(verify)))
        log("\n## non-percolating / blocked images")
        checks = run_child({"kind": "checks"}, work, "checks", 600, mem_limit)
        for c in checks.get("rows", []):
            log(
                f"- {c['case']}\n    ionflow:   {c['ionflow']}\n    taufactor: {c['taufactor']}"
                f"\n    porespy:   {c['porespy']}"
            )
        if not checks.get("rows"):
            log(f"checks failed: {checks.get('error', checks.get('status'))}")

    log("\n## preparing images")
    t0 = time.perf_counter()
    workloads = prepare_data(p, work, tools)
    log(f"   {len(workloads)} workloads ready in {time.perf_counter() - t0:.1f} s")
    log("\n## cases")
    rows = run_workloads(workloads, p, work, tools, mem_limit, log)
    total_min = (time.perf_counter() - t_start) / 60
    log("\n## results")
    log(text_table(HEAD, table(rows)))
    log(f"\n# total time {total_min:.1f} min")
    (work / "rows.json").write_text(json.dumps(rows, default=str, indent=1))

    ctx = dict(
        date=date,
        command=command,
        machine=mach,
        rows=rows,
        verify=verify,
        checks=checks,
        total_min=total_min,
        peer_timeout=p["peer_timeout"],
        mem_gb=args.mem_limit_gb,
        threads=args.threads,
        batch_peers=p["batch_peers"],
        extra_notes=list(args.note),
    )
    (work / "context.json").write_text(json.dumps(ctx, default=str, indent=1))
    write_outputs(ctx, args, log)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def write_outputs(ctx: dict, args: argparse.Namespace, log=print) -> None:
    """The scaling plot and the Solver section of BENCHMARKS.md (full mode by default)."""
    if args.no_write:
        return
    md = args.markdown or (None if args.quick else str(REPO / "BENCHMARKS.md"))
    png = args.plot or (None if args.quick else str(HERE / "solver_scaling.png"))
    if png:
        plot(ctx["rows"], Path(png))
        log(f"# plot: {png}")
    if md:
        write_markdown(Path(md), section_markdown(ctx))
        log(f"# markdown: {md}")


def summary(rows: list[dict]) -> list[str]:
    """One line per peer: speed ratios and differences over the workloads both finished."""
    refs = {r["key"]: r for r in rows if r["reference"] and r["status"] == "ok"}
    out = []
    for tool in ("taufactor", "porespy"):
        ratios, cpu, diffs, failed = [], [], [], []
        for r in rows:
            if r["tool"] != tool:
                continue
            if r["status"] != "ok":
                failed.append(f"{r['workload']}: {r['status']}")
                continue
            ref = refs.get(r["key"])
            if ref is None:
                continue
            ratios.append((r["solve_s"] / r["n"]) / (ref["solve_s"] / ref["n"]))
            if r["n"] == 1 and r["solve_s"] > 5:
                cpu.append(r["cpu_s"] / ref["cpu_s"])
            m = min(len(r["rel"]), len(ref["rel"]))
            a, b = np.asarray(r["rel"][:m], float), np.asarray(ref["rel"][:m], float)
            ok = b != 0
            diffs.extend((np.abs(a[ok] - b[ok]) / b[ok]).tolist())
        if not ratios:
            continue
        line = (
            f"{tool}: solve time {min(ratios):.1f}x to {max(ratios):.1f}x ionflow's "
            f"(median {np.median(ratios):.1f}x) over {len(ratios)} workloads"
        )
        if cpu:
            line += (
                f"; CPU time of the whole process on the solves over 5 s: {min(cpu):.1f}x to "
                f"{max(cpu):.1f}x"
            )
        line += f"; relative conductivity within {100 * max(diffs):.3f} % of ionflow's"
        if failed:
            line += "; did not finish: " + "; ".join(failed)
        out.append(line + ".")
    return out


if __name__ == "__main__":
    sys.exit(main())
