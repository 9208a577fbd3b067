"""Shared plotting helpers: pyplot on demand, saving, scale bars, flow arrows, colours."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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


_AXIS_LETTERS = {2: "yx", 3: "zyx"}


def _nice_length(span: float) -> float:
    """A round length (1, 2 or 5 x 10^k) near a fifth of ``span``."""
    target = span / 5
    k = np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * 10**k <= target:
            return float(m * 10**k)
    return float(10**k)


def _scale_bar(ax: Axes, width_um: float) -> None:
    """A white scale bar in the lower right corner of an image shown in micrometres."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length = _nice_length(width_um)
    bar = AnchoredSizeBar(
        ax.transData, length, f"{length:g} µm", "lower right", pad=0.3, color="white",
        frameon=True, size_vertical=max(width_um / 150, 1e-12), fontproperties={"size": 8},
    )  # fmt: skip
    bar.patch.set(facecolor="black", alpha=0.55, edgecolor="none")
    ax.add_artist(bar)


def _flow_arrow(ax: Axes, along_rows: bool, axis: int) -> None:
    """An arrow in the margin of an image panel: where the current goes (phi = V -> 0)."""
    text = f"flow, axis {axis}\n(V → 0)"
    style = {"arrowstyle": "-|>", "color": "tab:red", "lw": 1.6}
    if along_rows:  # top to bottom, left of the image
        ax.annotate("", xy=(-0.2, 0.15), xytext=(-0.2, 0.85), xycoords="axes fraction",
                    arrowprops=style, annotation_clip=False)  # fmt: skip
        ax.text(-0.26, 0.5, text, transform=ax.transAxes, rotation=90, ha="right", va="center",
                fontsize=8, color="tab:red")  # fmt: skip
    else:  # left to right, above the image
        ax.annotate("", xy=(0.85, 1.03), xytext=(0.15, 1.03), xycoords="axes fraction",
                    arrowprops=style, annotation_clip=False)  # fmt: skip
        ax.text(0.5, 1.05, text.replace("\n", " "), transform=ax.transAxes, ha="center",
                va="bottom", fontsize=8, color="tab:red")  # fmt: skip


def _phase_colours(values: list[float], legend: dict[float, str]) -> list:
    """Black/white for two phases, a qualitative palette for more."""
    if len(values) <= 2 and all(v in (0.0, 1.0) for v in values):
        return ["black" if v == 0 else "white" for v in values]
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    return [palette(i % 10) for i in range(len(values))]
