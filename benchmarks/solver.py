#!/usr/bin/env python3
"""Side-by-side solver benchmark: ionflow vs TauFactor 2 vs PoreSpy ``tortuosity_fd``.

Usage (from the repository root, in an environment that has ionflow, taufactor, porespy,
openpnm; see ``benchmarks/README.md``)::

    python benchmarks/solver.py --quick      # small sizes only, < 2 minutes
    python benchmarks/solver.py              # full mode: writes BENCHMARKS.md + the scaling plot
    python benchmarks/solver.py --real-dir DIR   # the real volumes from DIR

This file is the runner: options, one measured subprocess per case, results. Each tool is an
adapter in ``benchmarks/peers/`` (``ionflow.py``, ``taufactor.py``, ``porespy.py``: how it is
called and how its answer converts to ionflow's convention); the images are made in
``_solver_workloads.py``, a case runs in ``_solver_child.py``, a subprocess is measured in
``_measure.py``, and the tables, Markdown and plot are written by ``_solver_report.py``.

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
faces, half a voxel outside the first/last voxel centres; a uniform image gives exactly 1); each
adapter's docstring says how. The conversions are checked numerically at the start of every run
(uniform images, straight channels) and printed, as is each tool's behaviour on non-percolating
and blocked images.

Every case runs with OMP/MKL/OpenBLAS/numba/torch limited to ``--threads`` (default 1) per
process: on a shared 2-core machine torch's 2-thread SOR was erratic (10-80x slower at times).
ionflow's 3D multigrid keeps its own pool of min(2, cores) threads. ``--report-only`` rewrites
the markdown and the plot from the last run's ``context.json``.
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
from pathlib import Path

import peers
from _measure import measure
from _solver_child import child_main
from _solver_report import (
    HEAD,
    machine,
    plot,
    section_markdown,
    table,
    text_table,
    verify_table,
    write_markdown,
)
from _solver_workloads import REAL, REAL_DIR, plan, prepare_data

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
THREADS = 1  # per process; set from --threads


# --------------------------------------------------------------------------------------------
# parent side: one subprocess per case (measured by _measure.measure)
# --------------------------------------------------------------------------------------------


def run_child(spec: dict, work: Path, name: str, timeout: float, mem_limit: float) -> dict:
    """Run one case (``spec``) as ``solver.py --_child`` and merge its result file."""
    spec = dict(spec, result=str(work / f"{name}.result.json"))
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    Path(spec["result"]).unlink(missing_ok=True)
    m = measure(
        [sys.executable, str(Path(__file__).resolve()), "--_child", str(spec_path)],
        work / f"{name}.log",
        timeout,
        mem_limit,
        threads=THREADS,
        cwd=REPO,
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
    """``ionflow simulate DIR --json`` as a whole process, the ``n`` images' results read back."""
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
        threads=THREADS,
        cwd=REPO,
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


def run_workloads(
    workloads: list[dict], p: dict, work: Path, tools: list[str], mem_limit: float, log
) -> list[dict]:
    """Every case of every workload, one subprocess each; one row per case."""
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
            for tool in (t for t in peers.PEERS if t in tools):
                peer = peers.get(tool)
                m = run_child(
                    dict(kind="case", tool=tool, input=sub, axis=0, **peer.BATCH_SPEC),
                    work,
                    f"batch_{peer.TAG}",
                    p["peer_timeout"],
                    mem_limit,
                )
                record(w, tool, peer.BATCH_VARIANT, m, w["n_peers"])
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
        for tool in (t for t in peers.PEERS if t in tools):
            peer = peers.get(tool)
            m = run_child(
                dict(kind="case", tool=tool, input=inp, axis=axis),
                work,
                f"{w['key']}_{peer.TAG}",
                p["peer_timeout"],
                mem_limit,
            )
            record(w, tool, peer.API, m, 1)
    return rows


# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--_child SPEC``, one of its cases); 0 if all cases ran."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_child"]:
        return child_main(argv[1])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (< 2 minutes)")
    ap.add_argument(
        "--tools",
        default=",".join(peers.TOOLS),
        help=f"comma list of {', '.join(peers.TOOLS)} (default: all)",
    )
    ap.add_argument(
        "--real-dir",
        default=str(REAL_DIR),
        help=f"folder of the real volumes {', '.join(REAL.values())} (default: {REAL_DIR})",
    )
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
    unknown = [t for t in tools if t not in peers.TOOLS]
    if unknown:
        ap.error(f"unknown tool {unknown[0]!r} in --tools; choose from {', '.join(peers.TOOLS)}")
    absent = peers.missing(tools)
    if absent:
        rest = ",".join(t for t in tools if t not in absent)
        for line in absent.values():
            print(
                f"solver.py: {line}; see benchmarks/README.md"
                + (f", or leave it out with --tools {rest}" if rest else ""),
                file=sys.stderr,
            )
        return 2
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

    verify: dict = {"rows": []}
    checks: dict = {"rows": []}
    if set(tools) == set(peers.TOOLS):  # the tables compare all of them
        log("\n## conversions (uniform images, straight channels; exact = fraction)")
        verify = run_child({"kind": "verify"}, work, "verify", 600, mem_limit)
        log(text_table(*verify_table(verify)))
        log("\n## non-percolating / blocked images")
        checks = run_child({"kind": "checks"}, work, "checks", 600, mem_limit)
        for c in checks.get("rows", []):
            log(f"- {c['case']}" + "".join(f"\n    {t + ':':10s} {c[t]}" for t in peers.TOOLS))
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


if __name__ == "__main__":
    sys.exit(main())
