"""The report of ``benchmarks/solver.py``: machine and versions, the results table, the
"Solver" section of ``BENCHMARKS.md`` and the scaling plot.

Everything here works on the plain dicts the runner stores in ``context.json``, so
``--report-only`` can rewrite the outputs without running anything.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import peers

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Solver (benchmarks/solver.py)"


def machine() -> dict:
    """CPU, cores, memory, OS, Python, the tools' versions and the git commit."""
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
    for pkg in (pkg for tool in peers.TOOLS for pkg in peers.get(tool).VERSIONS):
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
    """The results table's body (columns :data:`HEAD`), one row per case."""
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
    """Solve time per image against cells per image, one line per tool and dimension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    for tool in peers.TOOLS:
        marker, color = peers.get(tool).MARKER
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


def write_section(
    path: Path, heading: str, text: str, *, after: str | None = None, before: str | None = None
) -> None:
    """Replace the section of ``path`` that starts with ``heading`` (up to the next ``## ``),
    leaving the rest as it was; a new one goes before the section ``before`` or after the
    section ``after`` when those exist, else at the end."""
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    body = text.rstrip() + "\n"
    if heading in doc:
        start = doc.index(heading)
        nxt = doc.find("\n## ", start + len(heading))
        doc = doc[:start] + body + (doc[nxt:] if nxt >= 0 else "")
    elif before is not None and before in doc:
        i = doc.index(before)
        doc = doc[:i] + body + "\n" + doc[i:]
    elif after is not None and after in doc:
        start = doc.index(after)
        nxt = doc.find("\n## ", start + len(after))
        if nxt < 0:
            doc = doc.rstrip() + "\n\n" + body
        else:
            doc = doc[: nxt + 1] + "\n" + body + doc[nxt:]
    else:
        doc = doc.rstrip() + "\n\n" + body
    path.write_text(doc)


def publish(
    lines: list[str], heading: str, write: bool, *, after: str | None = None,
    before: str | None = None,
) -> None:  # fmt: skip
    """Print a benchmark's section (``lines``, starting with ``heading``) and, with ``write``,
    put it in the repository's BENCHMARKS.md (:func:`write_section`)."""
    text = "\n".join(lines)
    print(text)
    if write:
        path = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
        write_section(path, heading, text, after=after, before=before)


def write_markdown(path: Path, section: str) -> None:
    """Replace the Solver section of ``path`` (or append it), leaving the rest as it was."""
    write_section(path, SECTION, section)


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
    """The Solver section of ``BENCHMARKS.md`` from a run's context."""
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
    ]
    lines += [f"* {peers.get(tool).CONVENTION}" for tool in peers.TOOLS]
    lines += [
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
                ["image"] + [peers.get(tool).LABEL for tool in peers.TOOLS],
                [[c["case"]] + [c[tool] for tool in peers.TOOLS] for c in checks],
            )
        )
    else:
        lines.append(f"(checks failed: {ctx['checks'].get('error', '?')[-300:]})")
    lines += ["", "### Notes", ""] + [f"* {n}" for n in notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------


def summary(rows: list[dict]) -> list[str]:
    """One line per peer: speed ratios and differences over the workloads both finished."""
    refs = {r["key"]: r for r in rows if r["reference"] and r["status"] == "ok"}
    out = []
    for tool in peers.PEERS:
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
