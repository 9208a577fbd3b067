"""Cheap image statistics and feature distances for the out-of-distribution check (no torch)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "bottleneck",
    "bottleneck_envelope",
    "feature_distance",
    "interface_density",
    "morphology_stats",
    "ood_reasons",
]


def interface_density(images: np.ndarray) -> np.ndarray:
    """Fraction of face-neighbour pairs that cross a phase boundary, per image.

    Proportional to the specific surface area; it separates coarse from fine microstructures at
    the same electrolyte fraction.

    Parameters
    ----------
    images : ndarray of bool, shape (n, *shape)
        A batch of 2D images or 3D volumes.

    Returns
    -------
    ndarray of float, shape (n,)
        Interface density of each image, in [0, 1].
    """
    imgs = np.asarray(images, dtype=bool)
    total = np.zeros(len(imgs))
    pairs = 0
    for d in range(1, imgs.ndim):
        lo = (slice(None),) * d + (slice(None, -1),)
        hi = (slice(None),) * d + (slice(1, None),)
        cut = imgs[lo] != imgs[hi]
        total += np.count_nonzero(cut.reshape(len(imgs), -1), axis=1)
        pairs += cut[0].size
    return total / max(pairs, 1)


def bottleneck(images: np.ndarray) -> np.ndarray:
    """The narrowest passage along the flow (axis 1 of the batch), per image: the least share
    of a slice's cells whose face to the next slice has electrolyte on both sides.

    A thin solid wall pierced by a few holes scores near 0 even in a mostly electrolyte image;
    the networks cannot see such walls (a one-cell pinhole), so an image far narrower than the
    training images of its electrolyte fraction is out of distribution.

    Parameters
    ----------
    images : ndarray of bool, shape (n, *shape)
        A batch, flow along the first image axis.

    Returns
    -------
    ndarray of float, shape (n,)
        In [0, 1]; 0 when some slice pair shares no electrolyte face.
    """
    imgs = np.asarray(images, dtype=bool)
    n, m = imgs.shape[0], imgs.shape[1]
    if m < 2:
        return imgs.reshape(n, -1).mean(1)
    flat = imgs.reshape(n, m, -1)
    links = np.count_nonzero(flat[:, :-1] & flat[:, 1:], axis=2)
    return links.min(axis=1) / flat.shape[2]


BOTTLENECK_BIN = 0.05
"""Width of the electrolyte-fraction bins of the training images' narrowest passages."""


def bottleneck_envelope(images: np.ndarray) -> list[float | None]:
    """The narrowest passage (:func:`bottleneck`) of the training images that conduct, per
    electrolyte-fraction bin of :data:`BOTTLENECK_BIN`.

    Parameters
    ----------
    images : ndarray of bool, shape (n, *shape)
        The training images, flow along the first image axis.

    Returns
    -------
    list of float or None
        One entry per bin, fractions 0 to 1 (None: no conducting image in the bin).
    """
    imgs = np.asarray(images, dtype=bool)
    frac = imgs.reshape(len(imgs), -1).mean(1)
    b = bottleneck(imgs)
    bins = np.minimum((frac / BOTTLENECK_BIN).astype(int), int(round(1 / BOTTLENECK_BIN)) - 1)
    out: list[float | None] = []
    for k in range(int(round(1 / BOTTLENECK_BIN))):
        sel = (bins == k) & (b > 0)
        out.append(float(b[sel].min()) if sel.any() else None)
    return out


def morphology_stats(images: np.ndarray) -> dict:
    """Ranges of the statistics the OOD check compares against (stored in the model).

    Parameters
    ----------
    images : ndarray of bool, shape (n, *shape)
        The training images.

    Returns
    -------
    dict
        ``shape`` (of one image), ``fraction`` ([min, max] electrolyte fraction),
        ``interface_density`` (its 0.5 % and 99.5 % quantiles) and ``bottleneck`` (the
        narrowest passage per fraction bin, :func:`bottleneck_envelope`).
    """
    frac = images.reshape(len(images), -1).mean(1)
    iface = interface_density(images)
    q = lambda v: [float(np.quantile(v, 0.005)), float(np.quantile(v, 0.995))]  # noqa: E731
    return {
        "shape": list(images.shape[1:]),
        "fraction": [float(frac.min()), float(frac.max())],
        "interface_density": q(iface),
        "bottleneck": bottleneck_envelope(images),
    }


def ood_reasons(
    image: np.ndarray, stats: dict, *, fraction: float, iface: float, blocks: bool = False
) -> list[str]:
    """Why an image lies outside the training data (empty list: inside).

    Parameters
    ----------
    image : ndarray of bool
        The image to predict.
    stats : dict
        The model's training statistics (:func:`morphology_stats`).
    fraction : float
        The image's electrolyte fraction.
    iface : float
        The image's interface density (:func:`interface_density`).
    blocks : bool
        A larger image predicted block by block. That is trusted in 3D; in 2D it was measured
        13-60 % off on 128-400 px images (BENCHMARKS.md), because blocks near the percolation
        threshold cut the paths that go round them.

    Returns
    -------
    list of str
        One line per reason; empty when the image is like the training data.
    """
    reasons = []
    shape = list(stats["shape"])
    if list(image.shape) != shape and not blocks:
        reasons.append(f"size {list(image.shape)} differs from training {shape}")
    elif list(image.shape) != shape and image.ndim == 2:
        reasons.append(
            "2D image larger than the training size: block prediction is unreliable in 2D; "
            "use `ionflow simulate` (fast in 2D)"
        )
    lo, hi = stats["fraction"]
    if not lo - 0.02 <= fraction <= hi + 0.02:
        reasons.append(f"electrolyte fraction {fraction:.3f} outside training [{lo:.2f}, {hi:.2f}]")
    lo, hi = stats["interface_density"]
    span = hi - lo
    if not lo - 0.1 * span <= iface <= hi + 0.1 * span:
        reasons.append(f"interface density {iface:.3f} outside training [{lo:.3f}, {hi:.3f}]")
    envelope = stats.get("bottleneck")
    if envelope:
        k = min(int(fraction / BOTTLENECK_BIN), len(envelope) - 1)
        least = envelope[k]
        narrow = float(bottleneck(image[None])[0])
        if least is not None and 0 < narrow < 0.5 * least:
            reasons.append(
                f"a thin wall: only {narrow:.1%} of a slice conducts into the next, where the "
                f"training images of this electrolyte fraction had at least {least:.1%} (the "
                "network cannot see pinholes and slits)"
            )
    return reasons


def feature_distance(features: np.ndarray, stats: dict) -> np.ndarray:
    """Mahalanobis distance of feature rows to the training features.

    Parameters
    ----------
    features : ndarray, shape (n, F)
        The network's pooled features, one row per image.
    stats : dict
        ``mean`` (F,) and ``precision`` (F, F) of the training features, stored in the model by
        ``ionflow.model.calibrate_ood``.

    Returns
    -------
    ndarray, shape (n,)
        Distance of each row.
    """
    diff = np.asarray(features, float) - np.asarray(stats["mean"])
    return np.sqrt(np.maximum(((diff @ np.asarray(stats["precision"])) * diff).sum(1), 0))
