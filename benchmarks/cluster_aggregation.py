#!/usr/bin/env python3
"""Prototype for the next solver step: aggregates split by cluster at every coarse level.

    python benchmarks/cluster_aggregation.py [--data DIR] [--no-write]

Measures, with pyamg (plain aggregation on predefined aggregates, symmetric Gauss-Seidel,
W-cycle, CG to a residual of 1e-10), what ionflow's multigrid would gain if its coarse
levels could hold more than one unknown per 2x2x2 block. Aggregates at every level are the
2x2x2 blocks of the level below, either as they are (ionflow today), split by phase class
(cells conducting more than 0.1 of the best vs the rest), or split by cluster (each
face-connected cluster of the better conductors apart; the weak cells of a block together).
Cases: 64x32x32 electrolyte slabs between binder sheets at contrast 1e-4 (sheets 1 cell at
4, 2 cells at 5-6, 4 cells at 4-7 of every 8), and an 80^3 crop of the NREL electrode in
``--data`` at CBD 1e-2 and 1e-4. Writes the section "Cluster-aware aggregation (prototype)"
of ``BENCHMARKS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_head, machine  # noqa: E402
from _solver_report import publish  # noqa: E402

import ionflow  # noqa: E402
from ionflow.solve._assemble import assemble, percolating_cells  # noqa: E402
from ionflow.solve._clusters import label_face_connected  # noqa: E402
from ionflow.solve._stencil import DEFAULT  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Cluster-aware aggregation (prototype, benchmarks/cluster_aggregation.py)"


def iterations(sig: np.ndarray, split: str) -> int:
    import pyamg

    keep = percolating_cells(sig > 0, 0, ())
    system = assemble(sig, keep, 0, DEFAULT)
    A, b, n = system.A.tocsr(), system.b, system.A.shape[0]
    strong = keep & (sig > 0.1 * sig.max())
    if split == "cluster":
        cls = label_face_connected(strong)[0][keep].astype(np.int64)
    elif split == "phase":
        cls = strong[keep].astype(np.int64)
    else:
        cls = np.zeros(n, np.int64)
    coords, m, aggs = np.argwhere(keep), n, []
    while m > 500 and len(aggs) < 12:
        c2 = coords // 2
        key = ((c2[:, 0] * 4096 + c2[:, 1]) * 4096 + c2[:, 2]) * (int(cls.max()) + 1) + cls
        u, first, inv = np.unique(key, return_index=True, return_inverse=True)
        agg = sp.csr_matrix((np.ones(m), (np.arange(m), inv)), shape=(m, len(u)))
        aggs.append(("predefined", {"AggOp": agg}))
        coords, cls, m = c2[first], cls[first], len(u)
    gs = ("gauss_seidel", {"sweep": "symmetric"})
    ml = pyamg.smoothed_aggregation_solver(
        A, B=np.ones((n, 1)), aggregate=aggs, smooth=None, presmoother=gs, postsmoother=gs,
        max_levels=len(aggs) + 1, max_coarse=10, strength=None, improve_candidates=None,
    )  # fmt: skip
    res: list[float] = []
    ml.solve(b, tol=1e-10, accel="cg", residuals=res, maxiter=300, cycle="W")
    return len(res) - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "real"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cases = []
    for cells in ((4,), (5, 6), (4, 5, 6, 7)):
        lab = np.ones((64, 32, 32), np.uint8)
        for k in cells:
            lab[k::8] = 2
        cases.append((f"slabs, sheets at {cells}, 1e-4", np.where(lab == 2, 1e-4, 1.0)))
    nrel = Path(args.data) / "nrel_nmc_cbd_bridge.tif"
    if nrel.exists():
        import tifffile

        crop = tifffile.imread(nrel)[:80, :80, :80]
        for c in (1e-2, 1e-4):
            sig = np.select([crop == 0, crop == 2], [1.0, c], 0.0)
            cases.append((f"NREL 80^3 crop, CBD {c:g}", sig))
    rows = []
    for name, sig in cases:
        its = [iterations(sig, s) for s in ("none", "phase", "cluster")]
        levels = np.unique(sig)  # ionflow's own multigrid on the same system, for scale
        labels = np.searchsorted(levels, sig).astype(np.uint8)
        ours = ionflow.simulate(
            labels, label_conductivities=dict(enumerate(levels.tolist())), method="mg"
        ).iterations
        rows.append(f"| {name} | {its[0]} | {its[1]} | {its[2]} | {ours} |")
        print(rows[-1], flush=True)
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    publish(
        [
            SECTION,
            "",
            f"Run {date} at git {git_head()} on {machine()}; command "
            f"`python benchmarks/cluster_aggregation.py` ({time.perf_counter() - t0:.0f} s). "
            "Not ionflow's solver: pyamg on predefined aggregates (plain aggregation, symmetric "
            "Gauss-Seidel, W-cycle, CG to a residual of 1e-10), to measure what coarse levels "
            "with more than one unknown per 2x2x2 block would gain. *blocks*: the blocks of the "
            "level below as they are (ionflow's coarse levels, without its fine-level cluster "
            "correction); *split by phase*: each block split into its cells above and below "
            "0.1 of the best conductivity; *split by cluster*: each face-connected cluster of "
            "the better conductors apart; *ionflow mg*: ionflow's own multigrid (K-cycle, "
            "fine-level cluster correction) on the same system, for scale: pyamg's W-cycle "
            "counts are higher, only their ratios carry over. Iterations:",
            "",
            "| case | blocks | split by phase | split by cluster | ionflow mg |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
            "",
        ],
        SECTION,
        not args.no_write,
        after="## Weakly conducting phases",
    )


if __name__ == "__main__":
    main()
