"""Every picture ionflow draws. Imported only by the commands that draw (matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .rev import RevResult
    from .solve import DepthProfile

__all__ = ["plot_depth_profile", "plot_fields", "plot_nyquist", "plot_rev"]


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write a figure as PNG (creating its folder) and free it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    _pyplot().close(fig)
    return out


def _mid(a: np.ndarray, axis_perp: int = 2) -> np.ndarray:
    return a if a.ndim == 2 else np.take(a, a.shape[axis_perp] // 2, axis=axis_perp)


def plot_fields(
    path: str | os.PathLike,
    image: np.ndarray,
    potential: np.ndarray,
    current_density: np.ndarray,
    *,
    axis: int = 0,
    title: str = "",
) -> Path:
    """Microstructure | potential | current-density magnitude, side by side, with colour bars.

    For a volume, the middle slice across the last axis not equal to the flow axis is shown.
    """
    plt = _pyplot()
    magnitude = np.sqrt((current_density**2).sum(axis=0))
    perp = 2 if axis != 2 else 1
    panels = [
        (_mid(np.asarray(image, float), perp), "microstructure", "gray", None),
        (_mid(potential, perp), "potential (V)", "viridis", "V"),
        (_mid(magnitude, perp), "|current density| (A/m$^2$)", "inferno", "A/m^2"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), constrained_layout=True)
    for ax, (data, label, cmap, unit) in zip(axes, panels):
        im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, interpolation="nearest")
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
        if unit:
            fig.colorbar(im, ax=ax, shrink=0.8, label=unit)
    if axis in (0, 1):
        axes[0].set_ylabel("flow: top -> bottom" if axis == 0 else "")
    fig.suptitle(title)
    return _save(fig, path)


def plot_parity(
    path: str | os.PathLike,
    true: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    *,
    title: str = "",
) -> Path:
    """Predicted against solver sigma_eff/sigma, coloured by electrolyte-fraction class."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), constrained_layout=True)
    for g in np.unique(groups):
        m = groups == g
        ax.scatter(true[m], pred[m], s=8, label=f"{g:g}", alpha=0.7)
    lim = [0, max(float(np.max(true)), float(np.max(pred)), 1e-9) * 1.05]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("solver sigma_eff / sigma")
    ax.set_ylabel("surrogate sigma_eff / sigma")
    ax.legend(title="fraction", fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_labels_by_class(
    path: str | os.PathLike, values: np.ndarray, groups: np.ndarray, *, title: str = ""
) -> Path:
    """The paper's Fig. 3: label of every image, in dataset order, coloured by fraction class."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
    idx = np.arange(len(values))
    classes = np.unique(groups)
    if len(classes) <= 10:  # the paper's classes: one colour each
        for g in classes:
            m = groups == g
            ax.scatter(idx[m], values[m], s=4, label=f"{g:g}")
        ax.legend(title="fraction", fontsize=8, markerscale=3)
    else:  # continuous fractions: one colour scale (a cycled palette would repeat colours)
        points = ax.scatter(idx, values, s=4, c=groups, cmap="viridis")
        fig.colorbar(points, ax=ax, label="electrolyte fraction")
    ax.set_xlabel("image")
    ax.set_ylabel("current (A) at V = 1, l = A = 1")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_segmentation(
    path: str | os.PathLike, gray: np.ndarray, binary: np.ndarray, *, title: str = ""
) -> Path:
    """Original | original with the electrolyte tinted | binary, side by side.

    ``gray`` and ``binary`` have the same shape; for a volume (z, y, x) the middle z slice is
    shown.
    """
    from matplotlib.colors import ListedColormap

    plt = _pyplot()
    gray = np.asarray(gray, float)
    binary = np.asarray(binary, bool)
    if gray.ndim == 3:
        gray, binary = gray[gray.shape[0] // 2], binary[binary.shape[0] // 2]
    ny, nx = gray.shape
    width = 12.0
    fig, axes = plt.subplots(
        1, 3, figsize=(width, max(2.5, width / 3 * ny / nx + 0.6)), constrained_layout=True
    )
    axes[0].imshow(gray, cmap="gray", interpolation="nearest")
    axes[0].set_title("original")
    axes[1].imshow(gray, cmap="gray", interpolation="nearest")
    tint = ListedColormap(["tab:orange"])
    axes[1].imshow(np.ma.masked_where(~binary, binary), cmap=tint, alpha=0.45, vmin=0, vmax=1)
    axes[1].set_title("electrolyte (orange) on the original")
    axes[2].imshow(binary, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[2].set_title(f"binary: electrolyte fraction {binary.mean():.3f}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return _save(fig, path)


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
    unit = "" if result.pixel_size is None else f" (1 cell = {result.pixel_size * 1e6:.3g} um)"
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
