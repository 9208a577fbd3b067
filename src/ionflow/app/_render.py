"""The web page's pictures, drawn on the server as PNG bytes.

Figures are made with matplotlib's object API (``matplotlib.figure.Figure``), not pyplot: no
global state, so requests served on several threads cannot draw into each other's figures.
"""

from __future__ import annotations

import io
import threading

import numpy as np

from ._analysis import AnalysisResult
from ._upload import SegmentationPreview

__all__ = ["field_plane", "render_field", "render_segmentation"]

_LOCK = threading.Lock()  # matplotlib's font cache and text layout are shared state
_DPI = 100


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _slice(arr: np.ndarray, axis: int, index: int | None) -> tuple[np.ndarray, int]:
    """A 2D image as is; the ``index``-th slice across ``axis`` of a volume (default: middle)."""
    if arr.ndim == 2:
        return arr, 0
    n = arr.shape[axis]
    i = n // 2 if index is None else int(np.clip(index, 0, n - 1))
    return np.take(arr, i, axis=axis), i


def _size(shape: tuple[int, ...], width: float, *, images: int = 1, extra: float = 0.0):
    """Figure size (inches) for ``images`` pictures of ``shape`` side by side in ``width``,
    ``extra`` inches of it for other panels (colour bar, histogram); titles and labels add
    about 0.9 inch of height."""
    ny, nx = shape
    return width, min(12.0, max(2.6, (width - extra) / images * ny / max(nx, 1) + 0.9))


def render_segmentation(
    preview: SegmentationPreview, *, index: int | None = None, title: str = ""
) -> bytes:
    """Original | electrolyte (or, with more than two phases, every phase) tinted on the
    original, and for a grayscale image the histogram of gray levels with the threshold(s)
    marked. A volume shows slice ``index`` across axis 0."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    gray, k = _slice(np.asarray(preview.gray, float), 0, index)
    phase, _ = _slice(preview.electrolyte, 0, index)
    cuts = preview.thresholds
    histogram = bool(cuts)
    panels = 3 if histogram else 2
    with _LOCK:
        size = _size(gray.shape, 4.0 * panels, images=2, extra=4.0 * (panels - 2))
        fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(1, panels)
        axes[0].imshow(gray, cmap="gray", interpolation="nearest")
        axes[0].set_title("original" + (f" (slice z = {k})" if preview.gray.ndim == 3 else ""))
        axes[1].imshow(gray, cmap="gray", interpolation="nearest")
        colours = ["0.45", "tab:orange"]
        if preview.classes is not None:
            colours = _phase_colours(len(preview.phase_names), preview.conductive)
            classes, _ = _slice(preview.classes, 0, index)
            n = len(colours)
            axes[1].imshow(classes, cmap=ListedColormap(colours), alpha=0.5, vmin=-0.5,
                           vmax=n - 0.5, interpolation="nearest")  # fmt: skip
            parts = [
                f"{name}{' (conducts)' if j in preview.conductive else ''} {f:.3f}"
                for j, (name, f) in enumerate(zip(preview.phase_names, preview.phase_fractions))
            ]
            axes[1].set_title("phases, darkest first: " + ", ".join(parts), fontsize=8)
        else:
            tint = ListedColormap(["tab:orange"])
            axes[1].imshow(np.ma.masked_where(~phase, phase), cmap=tint, alpha=0.5, vmin=0, vmax=1)
            axes[1].set_title(f"electrolyte (orange): {preview.electrolyte_fraction:.3f}")
        for ax in axes[:2]:
            ax.set_xlabel("x (pixels)")
            ax.set_ylabel("y (pixels)")
        if histogram:
            ax = axes[2]
            values = np.asarray(preview.gray, float).ravel()
            if preview.classes is None:
                ax.hist(values, bins=128, color="0.4")
                ax.axvline(cuts[0], color="tab:orange", lw=2)
                ax.set_title(f"gray levels; threshold {cuts[0]:.4g}")
                ax.set_xlabel("gray level (above the line: electrolyte)")
            else:
                # bars coloured by class (the colours of the tinted picture), cuts as lines
                counts, edges = np.histogram(values, bins=128)
                centres = (edges[:-1] + edges[1:]) / 2
                which = np.digitize(centres, cuts, right=True)
                ax.bar(centres, counts, width=np.diff(edges), linewidth=0,
                       color=[colours[c] for c in which])  # fmt: skip
                for t in cuts:
                    ax.axvline(t, color="k", lw=1.5)
                ax.set_title("gray levels; thresholds " + ", ".join(f"{t:.4g}" for t in cuts))
                ax.set_xlabel("gray level (classes darkest first)")
            ax.set_yscale("log")
            ax.set_ylabel("pixels")
        if title:
            fig.suptitle(title, fontsize=10)
        return _png(fig)


def _phase_colours(n: int, conductive: tuple[int, ...]) -> list:
    """One colour per class: the conducting ones orange, the others blues and grays."""
    others = iter(["tab:blue", "0.55", "tab:purple", "tab:green", "tab:brown"])
    return ["tab:orange" if k in conductive else next(others) for k in range(n)]


def field_plane(ndim: int, axis: int) -> int | None:
    """For a volume, the axis across which the maps are sliced: the last axis that is not the
    flow axis (so the flow runs in the picture's plane); None for a 2D image."""
    if ndim == 2:
        return None
    return 2 if axis != 2 else 1


def _flow_words(ndim: int, axis: int, plane: int | None) -> str:
    rest = [d for d in range(ndim) if d != plane]
    return "flow top to bottom" if rest.index(axis) == 0 else "flow left to right"


def render_field(
    result: AnalysisResult,
    axis: int,
    kind: str,
    *,
    index: int | None = None,
    log_scale: bool = False,
) -> bytes:
    """A map of the potential (``kind="potential"``, V) or of the current-density magnitude
    (``"current"``, A/m^2) of the exact solve along ``axis``, with a colour bar. A volume
    shows slice ``index`` (default: middle) across :func:`field_plane`'s axis."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    answer = result.axis(axis)
    data = answer.potential if kind == "potential" else answer.current_magnitude
    if data is None:
        raise KeyError(f"no {kind} field for axis {axis}")
    plane = field_plane(data.ndim, axis)
    img, k = _slice(data, plane if plane is not None else 0, index)
    img = np.asarray(img, float)
    if kind == "current" and answer.potential is not None:  # no current: NaN potential
        img = np.where(np.isnan(_slice(answer.potential, plane or 0, index)[0]), np.nan, img)
    percolating = answer.exact is not None and answer.exact.percolating
    norm = None
    if kind == "current" and log_scale:
        positive = img[np.isfinite(img) & (img > 0)]
        if positive.size:
            norm = LogNorm(vmin=max(positive.min(), positive.max() * 1e-6), vmax=positive.max())
        img = np.where(img > 0, img, np.nan)
    label = "potential (V)" if kind == "potential" else "|current density| (A/m$^2$)"
    where = ""
    if plane is not None:
        where = f", slice {'zyx'[plane]} = {k}"
    with _LOCK:
        fig = Figure(figsize=_size(img.shape, 5.2, extra=1.2), layout="constrained")
        ax = fig.subplots()
        cmap = "viridis" if kind == "potential" else "inferno"
        shown = ax.imshow(np.ma.masked_invalid(img), cmap=cmap, norm=norm, interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.85, label=label)
        ax.set_title(
            f"{label}, axis {axis}: {_flow_words(data.ndim, axis, plane)}{where}", fontsize=9
        )
        ax.set_xlabel("pixels")
        ax.set_ylabel("pixels")
        ax.set_facecolor("0.85")  # cells that carry no current (NaN) are light gray
        if not percolating:
            ax.text(
                0.5,
                0.5,
                "no percolating path:\nno current flows",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=12,
                bbox=dict(facecolor="white", alpha=0.85),
            )
        return _png(fig)
