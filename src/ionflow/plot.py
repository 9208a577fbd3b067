"""Every picture ionflow draws. Imported only by the commands that draw (matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_fields"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
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
