"""The result type and the progress reports of the multigrid solvers (``_lean.py`` on the CPU,
``_torch_mg.py`` on a GPU).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MultigridSolution"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MultigridSolution:
    """Outcome of a multigrid solve (reduced units: sigma_ref = V = cell size = 1)."""

    x: np.ndarray | None  # potential on the kept cells in ``phi[keep]`` order, if asked for
    current: float  # the energy (variational) current: second order in the residual
    inlet: float  # the boundary currents (first order): the conservation check
    outlet: float
    iterations: int
    accuracy: float


def percent_bar(desc: str) -> Any:
    """A tqdm bar on stderr from 0 to 100 % of the way to convergence (the caller sets ``n``
    and the postfix), cleared when closed: long solves' and the impedance's."""
    from tqdm.auto import tqdm

    return tqdm(
        total=100,
        desc=desc,
        unit="%",
        leave=False,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
    )


class _Progress:
    """Iteration reports of a long solve: a log line per iteration (INFO) and a tqdm bar.

    The FCG error estimate falls roughly geometrically, so the bar shows
    ``log(first / now) / log(first / rtol)`` and the ETA extrapolates the recent rate.
    """

    MIN_UNKNOWNS = 1_000_000

    def __init__(self, unknowns: int, rtol: float, *, bar: bool) -> None:
        large = unknowns >= self.MIN_UNKNOWNS
        self.log = large and log.isEnabledFor(logging.INFO)
        self.want_bar = large and bar
        self.active = self.log or self.want_bar
        self.rtol = rtol
        self.unknowns = unknowns
        self.first: float | None = None
        self.bar = None
        self.start = 0.0
        self.last_current: float | None = None

    def __enter__(self) -> _Progress:
        self.start = time.perf_counter()
        if self.want_bar:
            self.bar = percent_bar(f"solve ({self.unknowns / 1e6:.1f} M unknowns)")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, it: int, estimate: float, current: float) -> None:
        if not np.isfinite(estimate) or estimate <= 0:
            return
        if self.first is None:
            self.first = max(estimate, self.rtol * 10)
        span = math.log(self.first / self.rtol)
        done = min(max(math.log(self.first / estimate) / span, 0.0), 1.0) if span > 0 else 1.0
        elapsed = time.perf_counter() - self.start
        eta = elapsed * (1.0 - done) / done if done > 0 else math.inf
        change = abs(current - self.last_current) / abs(current) if self.last_current else math.inf
        self.last_current = current
        if self.log:
            log.info(
                "iteration %d: current %.9g (change %.1e), accuracy %.1e, ETA %.0f s",
                it,
                current,
                change,
                estimate,
                eta,
            )
        if self.bar is not None:
            self.bar.n = round(100 * done)
            self.bar.set_postfix_str(f"it {it}, accuracy {estimate:.1e}, ETA {eta:.0f} s")
