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
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
