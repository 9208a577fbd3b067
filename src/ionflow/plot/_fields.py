"""Potential and current-density maps."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass
from ._common import _AXIS_LETTERS, _flow_arrow, _phase_colours, _pyplot, _save, _scale_bar


def plot_fields(
    path: str | os.PathLike,
    image: np.ndarray,
    potential: np.ndarray,
    current_density: np.ndarray,
    *,
    axis: int = 0,
    title: str = "",
    pixel_size: float | tuple[float, ...] | None = None,
    percolating: bool | None = None,
    legend: list[tuple[float, str]] | None = None,
    log_current: bool = False,
    index: int | None = None,
) -> Path:
    """Microstructure | potential | current-density magnitude, side by side, with colour bars.

    The axes are in pixels, or in micrometres with a scale bar when the pixel size is known;
    a red arrow shows the flow (from phi = V to phi = 0); a legend under the microstructure
    says which phase conducts. A volume shows the slice ``index`` (default: the middle one)
    across the last axis that is not the flow axis, named in the panel title. Nothing
    percolating: "no percolating path" is written over the empty maps.

    Parameters
    ----------
    path : path-like
        PNG to write.
    image : ndarray
        The image as solved (bool, or a label image), 2D or 3D.
    potential : ndarray
        Potential (V), the image's shape; NaN where no current flows.
    current_density : ndarray, shape (ndim, *shape)
        Current density, component d along array axis d.
    axis : int
        The flow axis.
    title : str
        Figure title.
    pixel_size : float or tuple of float, optional
        Cell edge (m), one or one per axis; None: axes in pixels.
    percolating : bool, optional
        False writes "no percolating path" on the maps (None: decided from the potential).
    legend : list of (value, text), optional
        What each value of ``image`` is (``ionflow.solve._files.field_legend``); default:
        nonzero = electrolyte (conducts), zero = solid.
    log_current : bool
        A logarithmic colour scale for the current density (one hotspot no longer makes the
        rest black).
    index : int, optional
        The slice of a volume to show.

    Returns
    -------
    Path
        The file written.
    """
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.patches import Patch

    plt = _pyplot()
    potential = np.asarray(potential, float)
    ndim = potential.ndim
    letters = _AXIS_LETTERS[ndim]
    magnitude = np.sqrt((np.asarray(current_density, float) ** 2).sum(axis=0))
    where = ""
    if ndim == 3:
        perp = 2 if axis != 2 else 1
        n = potential.shape[perp]
        index = n // 2 if index is None else int(index)
        if not 0 <= index < n:
            raise ValueError(f"slice {index} outside 0..{n - 1}")
        shown = [d for d in range(3) if d != perp]
        where = f"slice {letters[perp]} = {index} of {n} ({letters[shown[0]]}-{letters[shown[1]]} plane)"

        def cut(a: np.ndarray) -> np.ndarray:
            return np.take(a, index, axis=perp)
    else:
        shown = [0, 1]

        def cut(a: np.ndarray) -> np.ndarray:
            return a

    img = cut(np.asarray(image))
    phi, mag = cut(potential), cut(magnitude)
    um = None
    if pixel_size is not None:
        um = np.broadcast_to(np.asarray(pixel_size, float) * 1e6, (ndim,))
    rows, cols = img.shape
    extent = None
    if um is not None:
        extent = (0, cols * um[shown[1]], rows * um[shown[0]], 0)
    unit = "µm" if um is not None else "px"
    if percolating is None:
        percolating = bool(np.nanmax(np.abs(magnitude), initial=0.0) > 0)

    values = sorted({float(v) for v in np.unique(img)} | {float(v) for v, _ in legend or ()})
    if img.dtype == bool or set(values) <= {0.0, 1.0}:
        values = [0.0, 1.0]
    texts = dict(legend) if legend else {0.0: "solid: insulating", 1.0: "electrolyte: conducts"}
    colours = _phase_colours(values, texts)
    codes = np.searchsorted(values, np.asarray(img, float))

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), constrained_layout=True)
    kw = {"interpolation": "nearest", "extent": extent}
    axes[0].imshow(codes, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(values) - 0.5, **kw)
    along_rows = axis == shown[0]
    axes[0].set_title(
        "microstructure" + (f"\n{where}" if where else ""), fontsize=10, pad=6 if along_rows else 26
    )
    handles = [
        Patch(facecolor=c, edgecolor="0.3", label=texts.get(v, f"label {v:g}"))
        for v, c in zip(values, colours)
    ]
    axes[0].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                   fontsize=7, frameon=False, ncol=1 if len(handles) <= 3 else 2)  # fmt: skip
    im = axes[1].imshow(np.ma.masked_invalid(phi), cmap="viridis", **kw)
    fig.colorbar(im, ax=axes[1], shrink=0.8, label="potential (V)")
    axes[1].set_title("potential", fontsize=10)
    cunit = "A/m$^2$" if um is not None else "A/m$^2$, l = A = 1"
    shown_mag = np.ma.masked_invalid(np.where(mag > 0, mag, np.nan) if log_current else mag)
    if not percolating:
        shown_mag = np.ma.masked_all(mag.shape)  # no current anywhere: an empty map, said so
    norm = None
    if log_current and shown_mag.count():
        hi = float(shown_mag.max())
        lo = max(float(np.percentile(shown_mag.compressed(), 1)), hi * 1e-8)
        norm = LogNorm(vmin=min(lo, hi), vmax=hi)
    im = axes[2].imshow(shown_mag, cmap="inferno", norm=norm, **kw)
    fig.colorbar(im, ax=axes[2], shrink=0.8, label=f"|j| ({cunit}" + (", log)" if norm else ")"))
    axes[2].set_title("|current density|" + (" (log scale)" if norm else ""), fontsize=10)
    for ax in axes:
        ax.set_xlabel(f"{letters[shown[1]]} ({unit})", fontsize=8)
        ax.set_ylabel(f"{letters[shown[0]]} ({unit})", fontsize=8)
        ax.tick_params(labelsize=7)
    _flow_arrow(axes[0], along_rows=along_rows, axis=axis)
    if um is not None:
        _scale_bar(axes[0], cols * um[shown[1]])
    if not percolating:
        for ax in axes[1:]:
            ax.text(0.5, 0.5, "no percolating path", transform=ax.transAxes, ha="center",
                    va="center", fontsize=12, color="tab:red",
                    bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "tab:red"})  # fmt: skip
    fig.suptitle(title)
    return _save(fig, path)
