"""Every picture ionflow draws. Imported only by the commands that draw (matplotlib)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
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
    path: str | os.PathLike,
    values: np.ndarray,
    groups: np.ndarray,
    *,
    title: str = "",
    splits: tuple[tuple[str, int], ...] | None = None,
) -> Path:
    """The paper's Fig. 3: label of every image, in dataset order, coloured by fraction class.

    ``splits`` (name, count) in dataset order (a dataset's ``config.splits``) marks where
    train, val and test begin, shading every other split and naming each.
    """
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
    if splits:
        start = 0
        for i, (name, count) in enumerate(splits):
            if count <= 0:
                continue
            if i % 2:
                ax.axvspan(start - 0.5, start + count - 0.5, color="0.9", zorder=0)
            if start:
                ax.axvline(start - 0.5, color="0.3", lw=0.8, ls="--")
            ax.text(start + count / 2, 1.0, f"{name} ({count})", transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8)  # fmt: skip
            start += count
    ax.set_xlabel("image")
    ax.set_ylabel("current (A) at V = 1, l = A = 1")
    ax.set_title(title, fontsize=9, pad=16 if splits else 6)
    return _save(fig, path)


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
