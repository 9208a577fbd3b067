"""More than two phases: gray-level classes, their names, and checks that say what was taken.

A composite-cathode micrograph shows three phases (pore/electrolyte, carbon-binder, active
material); one Otsu threshold lumps the binder with one of the others. Here a grayscale image
is cut into N classes by N - 1 thresholds (multi-level Otsu by default), numbered by gray level,
**darkest first** (class 0 is the darkest). A class conducts when it is chosen by index or by
name; the rest insulate, or each class gets its own conductivity through the label machinery
of :func:`ionflow.simulate` (``label_conductivities``, class index -> S/m).

A pixel belongs to class k when exactly k thresholds lie strictly below its value, the same
rule as the two-phase ``gray > threshold``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InputError

__all__ = [
    "MAX_PHASES",
    "classify",
    "electrolyte_warning",
    "label_census",
    "log_labels",
    "phase_census",
    "phase_thresholds",
    "remove_label_specks",
    "shorten",
    "too_many_thresholds",
]

MAX_PHASES = 5
"""Most gray-level classes (multi-level Otsu grows as bins^(classes - 1))."""


def too_many_thresholds(count: int) -> str:
    """The message for more thresholds than :data:`MAX_PHASES` phases can use."""
    return (
        f"--threshold has {count} values, which cut {count + 1} phases; give at most "
        f"{MAX_PHASES - 1} (2 to {MAX_PHASES} phases)"
    )


PHASE_LOG = logging.getLogger("ionflow.phases")
"""Which labels/phases were found and which conduct: one line per input. ``ionflow`` shows
these at the default verbosity; a library user sees them with logging at INFO."""

log = logging.getLogger(__name__)


def phase_thresholds(
    gray: np.ndarray, phases: int, *, source: str | None = None
) -> tuple[float, ...]:
    """The ``phases - 1`` gray levels that cut an image into ``phases`` classes.

    Parameters
    ----------
    gray : ndarray
        Gray levels, 2D or 3D.
    phases : int
        Number of classes, 2 to :data:`MAX_PHASES`.
    source : str, optional
        File name for error messages.

    Returns
    -------
    tuple of float
        Increasing thresholds: Otsu's (2 classes) or multi-level Otsu's (scikit-image's
        ``threshold_multiotsu``, 256 bins). An image with exactly ``phases`` gray levels is cut
        at its levels (each level a class, as a two-valued image is split between its values).
    """
    if not 2 <= phases <= MAX_PHASES:
        raise InputError(f"--phases must be 2 to {MAX_PHASES}, got {phases}", source=source)
    values = np.unique(gray)
    if values.size < phases:
        raise InputError(
            f"has {values.size} gray level(s), fewer than the {phases} phases asked for",
            source=source,
        )
    if values.size == phases:
        return tuple(float(v) for v in values[:-1])
    if phases == 2:
        from skimage.filters import threshold_otsu

        return (float(threshold_otsu(gray)),)
    from skimage.filters import threshold_multiotsu

    try:
        cuts = threshold_multiotsu(gray, classes=phases)
    except ValueError as exc:  # too few distinct levels in the histogram for that many classes
        raise InputError(f"cannot cut into {phases} phases ({exc})", source=source) from None
    return tuple(float(t) for t in cuts)


def classify(gray: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Class of every pixel (uint8): the number of thresholds strictly below its gray level.

    Parameters
    ----------
    gray : ndarray
        Gray levels.
    thresholds : sequence of float
        Increasing cuts.

    Returns
    -------
    ndarray of uint8, the shape of ``gray``
        0 for the darkest class, ``len(thresholds)`` for the brightest.
    """
    return np.digitize(gray, np.asarray(thresholds, dtype=np.float64), right=True).astype(np.uint8)


def remove_label_specks(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Give islands of any class below ``min_size`` pixels the class of the nearest pixel
    outside every such island (face connectivity, as the current flows).

    Parameters
    ----------
    labels : ndarray of int
        2D or 3D classes.
    min_size : int
        Islands smaller than this many pixels are filled; 1 or less changes nothing.

    Returns
    -------
    ndarray
        The cleaned classes, same shape and type.
    """
    if min_size <= 1:
        return labels
    from scipy import ndimage

    small = np.zeros(labels.shape, bool)
    face = ndimage.generate_binary_structure(labels.ndim, 1)
    for value in np.unique(labels):
        pieces, n = ndimage.label(labels == value, face)
        sizes = np.bincount(pieces.ravel())
        sizes[0] = min_size  # the background of this class: not an island
        small |= (sizes < min_size)[pieces]
    if not small.any() or small.all():
        return labels
    idx = ndimage.distance_transform_edt(small, return_distances=False, return_indices=True)
    return labels[tuple(idx)]


def phase_census(
    classes: np.ndarray, thresholds: Sequence[float], names: Sequence[str] | None = None
) -> str:
    """``"pore (gray <= 76, 45 %), binder (76 < gray <= 156, 17 %), active (gray > 156,
    38 %)"``, darkest first."""
    n = len(thresholds) + 1
    names = list(names) if names else [str(k) for k in range(n)]
    counts = np.bincount(classes.ravel(), minlength=n)
    parts = []
    for k in range(n):
        low = f"{thresholds[k - 1]:.4g} < " if k > 0 else ""
        high = f" <= {thresholds[k]:.4g}" if k < n - 1 else ""
        parts.append(f"{names[k]} ({low}gray{high}, {100 * counts[k] / classes.size:.0f} %)")
    return ", ".join(parts)


def _percolates(mask: np.ndarray) -> bool:
    """Does one face-connected cluster of ``mask`` touch two opposite faces, along any axis?"""
    from scipy import ndimage

    pieces, n = ndimage.label(mask, ndimage.generate_binary_structure(mask.ndim, 1))
    if n == 0:
        return False
    for axis in range(mask.ndim):
        first = np.unique(np.take(pieces, 0, axis=axis))
        last = np.unique(np.take(pieces, -1, axis=axis))
        if np.intersect1d(first[first > 0], last[last > 0]).size:
            return True
    return False


def electrolyte_warning(
    electrolyte: np.ndarray, others: Sequence[tuple[str, np.ndarray]]
) -> str | None:
    """Why the phase taken as electrolyte looks like particles, or None when it does not.

    It looks like particles when it connects no pair of opposite faces while another phase
    does, *and* it is split into at least 8 pieces (of 4 pixels or more) none of which holds
    half of it, *and* (in 2D) those pieces are convex (median solidity >= 0.8: particle
    sections; the pore space between particles is concave). Electrolyte at a low fraction
    that is cut off by particles is concave and does not match.

    Parameters
    ----------
    electrolyte : ndarray of bool
        The phase that conducts.
    others : sequence of (name, ndarray of bool)
        The other phases, each named for the message.

    Returns
    -------
    str or None
        One sentence, or None.
    """
    from scipy import ndimage

    e = np.asarray(electrolyte, bool)
    if not e.any() or _percolates(e):
        return None
    spanning = [name for name, mask in others if mask.any() and _percolates(mask)]
    if not spanning:
        return None
    pieces, n = ndimage.label(e, ndimage.generate_binary_structure(e.ndim, 1))
    sizes = np.bincount(pieces.ravel())[1:]
    big = np.flatnonzero(sizes >= 4) + 1
    if big.size < 8 or sizes.max() >= 0.5 * sizes.sum():
        return None
    shape = f"{big.size} separate pieces"
    if e.ndim == 2:
        from skimage.measure import regionprops

        solidity = float(np.median([r.solidity for r in regionprops(pieces) if r.label in big]))
        if solidity < 0.8:
            return None
        shape = f"{big.size} separate convex pieces (median solidity {solidity:.2f})"
    return (
        f"the phase taken as electrolyte looks like particles: {shape}, none joins opposite "
        f"faces while {' and '.join(spanning)} does"
    )


def _value(v: float) -> str:
    return f"{int(v)}" if float(v) == int(v) else f"{float(v):g}"


def label_census(
    image: np.ndarray,
    conducting: Mapping[float, float] | Sequence[float],
    names: Sequence[str] | None = None,
) -> str:
    """``"labels 0 (45 %), 85 (40 %), 170 (15 %); conducting: 0 (1 S/m)"``.

    With ``names``: ``"phases pore (45 %), binder (17 %), active (38 %); conducting: pore
    (1 S/m), binder (0.1 S/m)"``.

    Parameters
    ----------
    image : ndarray
        A label image.
    conducting : mapping label -> S/m, or sequence of labels
        Conductivities per label (0: insulating), or the labels that conduct.
    names : sequence of str, optional
        Names of the labels 0, 1, ... (phases cut by gray level).
    """
    values, counts = np.unique(image, return_counts=True)

    def named(v: float) -> str:
        i = int(v)
        return names[i] if names and float(v) == i and 0 <= i < len(names) else _value(v)

    found = shorten(
        [f"{named(v)} ({100 * c / image.size:.0f} %)" for v, c in zip(values.tolist(), counts)]
    )
    if isinstance(conducting, Mapping):
        sigma = {float(k): float(s) for k, s in conducting.items()}
        on = [f"{named(v)} ({sigma[v]:g} S/m)" for v in values.tolist() if sigma.get(v, 0) > 0]
    else:
        chosen = {float(v) for v in conducting}
        on = [named(v) for v in values.tolist() if v in chosen]
    kind = "phases" if names else "labels"
    return f"{kind} {found}; conducting: {shorten(on) if on else 'none'}"


SHOWN = 8
"""Items of a list that a message spells out; the rest are counted (a float image read as
labels has thousands)."""


def shorten(items: Sequence[str], shown: int = SHOWN) -> str:
    """``"a, b, c"``, or the first ``shown`` items then ``"... (N in all)"``.

    Parameters
    ----------
    items : sequence of str
        The items, already formatted.
    shown : int
        How many to spell out when there are more than ``shown + 1``.
    """
    if len(items) <= shown + 1:  # "... (N in all)" for one more item would be no shorter
        return ", ".join(items)
    return ", ".join(items[:shown]) + f", ... ({len(items)} in all)"


def log_labels(
    image: np.ndarray,
    conducting: Mapping[float, float] | Sequence[float],
    *,
    names: Sequence[str] | None = None,
    source: str | None = None,
) -> None:
    """Log :func:`label_census` at INFO on the ``ionflow.phases`` logger."""
    PHASE_LOG.info("%s: %s", source or "<array>", label_census(image, conducting, names))
