"""REV curves, Nyquist plots and depth profiles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..rev import RevResult
    from ..solve import DepthProfile
from ._common import _pyplot, _save


def plot_rev(
    path: str | os.PathLike,
    result: RevResult,
    *,
    quantity: str = "relative_conductivity",
    title: str = "",
) -> Path:
    """REV curve of an ``ionflow.rev.RevResult``: value and spread against subvolume edge.

    Left: every subvolume's value (dots), the mean +- std per edge, and at the sample's edge N
    the full solve with the material interval and the subvolume estimate with its interval.
    Right: std against edge (log-log) with the fitted power law extended to N.
    """
    plt = _pyplot()
    est = result.estimates[quantity]
    edges = np.array(est.edges, float)
    n_edge = est.sample_edge
    pc = f"{100 * est.confidence:.0f} %"
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for level in result.levels:
        v = level.values(quantity)
        finite = np.isfinite(v)
        ax.scatter(np.full(finite.sum(), level.edge), v[finite], s=9, color="0.6", zorder=1)
    ax.errorbar(edges, est.mean, yerr=est.std, fmt="o-", color="tab:blue", capsize=4,
                label="subvolumes: mean +- std", zorder=3)  # fmt: skip
    lo, hi = est.material_interval
    centre = est.material_estimate
    ax.errorbar([n_edge], [centre], yerr=[[centre - lo], [hi - centre]], fmt="s", capsize=5,
                color="tab:red", label=f"sample value, material {pc} interval", zorder=4)  # fmt: skip
    slo, shi = est.sample_interval
    if np.isfinite(est.sample_estimate):
        ax.errorbar([n_edge * 0.93], [est.sample_estimate],
                    yerr=[[est.sample_estimate - slo], [shi - est.sample_estimate]], fmt="D",
                    capsize=4, color="tab:green", label=f"estimate from subvolumes ({pc})",
                    zorder=4)  # fmt: skip
    grid = np.geomspace(edges.min(), n_edge, 50)
    ax.fill_between(grid, centre - est.std_at(grid), centre + est.std_at(grid), color="tab:red",
                    alpha=0.12, label="fitted std around the sample value")  # fmt: skip
    ax.set_xscale("log")
    size = result.pixel_size
    if isinstance(size, tuple):
        size = size[result.axis]  # the edge along the flow
    unit = "" if size is None else f" (1 cell = {size * 1e6:.3g} um)"
    ax.set_xlabel(f"subvolume edge, cells{unit}")
    ax.set_ylabel(quantity.replace("_", " "))
    ax.legend(fontsize=8)
    ok = np.isfinite(est.std) & (np.array(est.std) > 0)
    ax2.loglog(edges[ok], np.array(est.std)[ok], "o", color="tab:blue", label="std of subvolumes")
    if est.prefactor > 0:
        kind = "fitted" if est.alpha_fitted else "fixed"
        ax2.loglog(grid, est.std_at(grid), "-", color="tab:red",
                   label=f"std = {est.prefactor:.3g} L^-{est.alpha:.2f} ({kind})")  # fmt: skip
        ax2.loglog([n_edge], [est.sample_std], "s", color="tab:red", label="at the sample size")
    ax2.set_xlabel("subvolume edge, cells")
    ax2.set_ylabel(f"std of {quantity.replace('_', ' ')}")
    ax2.legend(fontsize=8)
    ticks = [*edges.tolist(), n_edge]
    for a in (ax, ax2):  # label the edges tried and N, not the log decades
        a.set_xticks(ticks, [f"{t:.0f}" for t in ticks])
        a.xaxis.set_minor_locator(plt.NullLocator())
    fig.suptitle(title or f"REV: {quantity.replace('_', ' ')} (flow axis {result.axis})")
    return _save(fig, path)


def plot_nyquist(
    path: str | os.PathLike,
    impedance: np.ndarray,
    *,
    ideal: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Nyquist plot (-Im Z against Re Z) of an electrode, with its homogeneous reference.

    Parameters
    ----------
    path : path-like
        PNG to write.
    impedance : ndarray of complex
        Z per frequency (reduced units), high to low frequency or the reverse.
    ideal : ndarray of complex, optional
        The homogeneous transmission line at the same frequencies.
    title : str
        Figure title.

    Returns
    -------
    Path
        The file written.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.4))
    z = np.asarray(impedance)
    zi = None if ideal is None else np.asarray(ideal)
    # in units of the homogeneous electrode's R_ion / 3 (its low-frequency real part)
    scale = float(np.max(zi.real)) if zi is not None else float(np.max(z.real))
    scale = scale if scale > 0 else 1.0
    ax.plot(z.real / scale, -z.imag / scale, "o-", ms=3, color="C3", label="microstructure")
    if zi is not None:
        ax.plot(zi.real / scale, -zi.imag / scale, "--", color="k", label="homogeneous electrode")
    right = max(1.6, 1.1 * float(np.max(z.real)) / scale)
    ax.set_xlim(0, right)
    ax.set_ylim(0, 2.0 * right)
    ax.set_xlabel("Re Z / (R_ion,homogeneous / 3)")
    ax.set_ylabel("-Im Z / (R_ion,homogeneous / 3)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title(title or "Nyquist plot")
    fig.tight_layout()
    return _save(fig, path)


def plot_depth_profile(path: str | os.PathLike, profile: DepthProfile, *, title: str = "") -> Path:
    """eps(x), tau(x) and a(x) along the thickness (a :class:`ionflow.solve.DepthProfile`).

    Parameters
    ----------
    path : path-like
        PNG to write.
    profile : DepthProfile
        From :func:`ionflow.depth_profile`.
    title : str
        Figure title.

    Returns
    -------
    Path
        The file written.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    x = profile.position
    xf = profile.face_position
    ax.plot(x, profile.fraction, color="0.4", ls="--", label="electrolyte fraction eps(x)")
    tau = np.where(np.isfinite(profile.tortuosity), profile.tortuosity, np.nan)
    ax.plot(xf, tau, color="C3", label="tortuosity factor tau(x)")
    ax.set_xlabel("depth along the flow (m)" if profile.result.pixel_size else "depth (l = 1)")
    ax.set_ylabel("eps, tau")
    ax2 = ax.twinx()
    ax2.plot(x, profile.interface_density, color="C0", alpha=0.7, label="interface density a(x)")
    ax2.set_ylabel("a(x) (1/m)" if profile.result.pixel_size else "a(x) (1/l)")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title or "Depth profile")
    fig.tight_layout()
    return _save(fig, path)
