"""The segmentation preview with its histogram and thresholds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass
from ._common import _pyplot, _save


def plot_segmentation(
    path: str | os.PathLike,
    gray: np.ndarray,
    binary: np.ndarray,
    *,
    title: str = "",
    thresholds: float | tuple[float, ...] | None = None,
    phase_names: tuple[str, ...] | None = None,
    conductive: tuple[int, ...] | None = None,
) -> Path:
    """Original | original with the phases tinted | result | histogram with the thresholds.

    Parameters
    ----------
    path : path-like
        PNG to write.
    gray : ndarray
        Gray levels, 2D or a volume (z, y, x): its middle z slice is shown.
    binary : ndarray
        The segmentation, the shape of ``gray``: bool (True = electrolyte), or gray-level
        classes (uint8, 0 = darkest).
    title : str
        Figure title.
    thresholds : float or tuple of float, optional
        The cuts used, marked on a histogram of the gray levels (no histogram without them).
    phase_names : tuple of str, optional
        Names of the classes, darkest first.
    conductive : tuple of int, optional
        Classes that conduct (marked in the histogram and the legend).

    Returns
    -------
    Path
        The file written.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    plt = _pyplot()
    gray = np.asarray(gray, float)
    seg = np.asarray(binary)
    full_gray = gray
    if gray.ndim == 3:
        gray, seg = gray[gray.shape[0] // 2], seg[seg.shape[0] // 2]
    cuts = None if thresholds is None else tuple(np.atleast_1d(thresholds).tolist())
    ny, nx = gray.shape
    panels = 3 if cuts is None else 4
    width = 4.0 * panels
    fig, axes = plt.subplots(
        1, panels, figsize=(width, max(2.8, width / panels * ny / nx + 0.9)),
        constrained_layout=True,
    )  # fmt: skip
    axes[0].imshow(gray, cmap="gray", interpolation="nearest")
    axes[0].set_title("original")
    axes[1].imshow(gray, cmap="gray", interpolation="nearest")
    if seg.dtype == bool:
        tint = ListedColormap(["tab:orange"])
        axes[1].imshow(np.ma.masked_where(~seg, seg), cmap=tint, alpha=0.45, vmin=0, vmax=1)
        axes[1].set_title("electrolyte (orange) on the original")
        axes[2].imshow(seg, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[2].set_title(f"binary: electrolyte fraction {seg.mean():.3f}")
        colours: list = ["0.25", "tab:orange"]  # colour names or RGBA tuples
        names = ["other", "electrolyte"]
    else:
        n = int(seg.max()) + 1 if cuts is None else len(cuts) + 1
        import matplotlib

        colours = [matplotlib.colormaps["tab10"](i % 10) for i in range(n)]
        names = list(phase_names) if phase_names else [f"phase {k}" for k in range(n)]
        cmap = ListedColormap(colours)
        axes[1].imshow(seg, cmap=cmap, alpha=0.45, vmin=-0.5, vmax=n - 0.5, interpolation="nearest")
        axes[1].set_title("phases on the original")
        axes[2].imshow(seg, cmap=cmap, vmin=-0.5, vmax=n - 0.5, interpolation="nearest")
        fractions = np.bincount(seg.ravel(), minlength=n) / seg.size
        handles = [
            Patch(
                color=c,
                label=f"{name} {f:.3f}" + (" (conducts)" if conductive and k in conductive else ""),
            )
            for k, (c, name, f) in enumerate(zip(colours, names, fractions))
        ]
        axes[2].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02),
                       fontsize=7, frameon=False, ncol=min(n, 3))  # fmt: skip
        axes[2].set_title("phases, darkest first (slice fractions)")
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])
    if cuts is not None:
        if len(cuts) > 1:  # the classes, whether the result is bool (some conduct) or not
            import matplotlib

            colours = [matplotlib.colormaps["tab10"](i % 10) for i in range(len(cuts) + 1)]
            names = (
                list(phase_names) if phase_names else [f"phase {k}" for k in range(len(cuts) + 1)]
            )
        elif seg.dtype == bool and seg.any():  # two phases: the electrolyte's side in orange
            bright = float(gray[seg].mean()) > cuts[0]
            colours = ["0.45", "tab:orange"] if bright else ["tab:orange", "0.45"]
        _histogram(axes[3], full_gray, cuts, colours, names, len(cuts) == 1, conductive)
    fig.suptitle(title)
    return _save(fig, path)


def _histogram(ax, gray, cuts, colours, names, binary: bool, conductive) -> None:
    """Gray-level histogram, the bars coloured by class, the thresholds marked."""
    values = np.asarray(gray, float).ravel()
    lo, hi = float(values.min()), float(values.max())
    integral = np.all(values == np.round(values)) and hi - lo <= 4096
    bins = np.arange(lo - 0.5, hi + 1.5) if integral and hi > lo else 128
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    classes = np.digitize(centres, cuts, right=True)
    ax.bar(centres, counts, width=np.diff(edges), color=[colours[c] for c in classes],
           linewidth=0)  # fmt: skip
    top = counts.max() if counts.size else 1
    for t in cuts:
        ax.axvline(t, color="tab:red", lw=1.2, ls="--")
        ax.text(t, top * 1.02, f" {t:.4g}", color="tab:red", ha="left", va="bottom", fontsize=8)
    if not binary:
        for k, name in enumerate(names):
            span = classes == k
            if span.any():
                x = float(np.average(centres[span], weights=counts[span] + 1e-12))
                label = name + ("*" if conductive and k in conductive else "")
                ax.text(x, top * 0.9, label, ha="center", fontsize=8, color="black")
    ax.set_ylim(0, top * 1.12)
    ax.set_xlabel("gray level")
    ax.set_ylabel("pixels")
    word = "threshold" if len(cuts) == 1 else "thresholds"
    note = "; * conducts" if conductive else "; orange: electrolyte" if binary else ""
    ax.set_title(f"gray levels, {word} dashed{note}", fontsize=9)
