"""Input checks shared by the metrics: labels, voxel spacing, neighbour-pair slices."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError

__all__ = [
    "MAX_LABELS",
    "check_labels",
    "corner_offsets",
    "label_value",
    "pair_slices",
    "phase_labels",
    "spacing",
]

MAX_LABELS = 32
"""More distinct values than this is a grayscale image, not a segmentation."""


def label_value(value) -> int | float:
    """A label as a plain Python number: ``int`` when integral (bool -> 0/1), else ``float``."""
    value = float(value)
    return int(value) if value == int(value) else value


def check_labels(image: np.ndarray, *, source: str | None = None) -> np.ndarray:
    """``image`` as a 2D/3D label array (bool becomes uint8 0/1); refuses grayscale."""
    arr = np.asarray(image)
    if arr.dtype.kind not in "biufc":  # not objects, strings, datetime64 or timedelta64
        raise InputError(f"image has a non-numeric type ({arr.dtype})", source=source)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError("complex-valued pixels are not a label image", source=source)
    if arr.ndim not in (2, 3):
        raise InputError(
            f"expected a 2D image or a 3D volume, got an array of shape {arr.shape}", source=source
        )
    if arr.size == 0:
        raise InputError(f"image is empty (shape {arr.shape})", source=source)
    if arr.dtype == bool:
        return arr.view(np.uint8)
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InputError("image contains NaN or infinite values", source=source)
    return arr


def phase_labels(arr: np.ndarray, *, source: str | None = None) -> np.ndarray:
    """The distinct labels of ``arr``, sorted; more than :data:`MAX_LABELS` is refused."""
    values = np.unique(arr)
    if values.size > MAX_LABELS:
        raise InputError(
            f"has {values.size} distinct values: metrics need a segmented (label) image with at "
            f"most {MAX_LABELS} phases; segment a grayscale image first (ionflow segment)",
            source=source,
        )
    return values


def spacing(
    voxel_size: float | Sequence[float] | None, ndim: int, *, source: str | None = None
) -> tuple[float, ...]:
    """Edge of a voxel along every axis, array order; ``None`` -> 1 (lengths in voxels)."""
    if voxel_size is None:
        return (1.0,) * ndim
    sizes = list(np.atleast_1d(np.asarray(voxel_size, dtype=float)).ravel())
    if len(sizes) == 1:
        sizes = sizes * ndim
    if len(sizes) != ndim:
        raise InputError(
            f"{len(sizes)} voxel sizes given for a {ndim}D image (give one, or one per axis "
            "in array order)",
            source=source,
        )
    if not all(math.isfinite(h) and h > 0 for h in sizes):
        raise InputError(
            f"voxel size must be positive and finite, got {voxel_size!r}", source=source
        )
    return tuple(float(h) for h in sizes)


def pair_slices(offset: Sequence[int]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices ``(a, b)`` such that ``arr[a]`` and ``arr[b]`` are the voxel pairs
    (x, x + offset) that both lie inside the array (no wrap-around)."""
    a, b = [], []
    for k in offset:
        if k > 0:
            a.append(slice(0, -k))
            b.append(slice(k, None))
        elif k < 0:
            a.append(slice(-k, None))
            b.append(slice(0, k))
        else:
            a.append(slice(None))
            b.append(slice(None))
    return tuple(a), tuple(b)


def corner_offsets(ndim: int) -> list[tuple[int, ...]]:
    """The 2**ndim corners of a unit cell: (0, 0), (0, 1), ... (used by edge/vertex windows)."""
    return list(itertools.product((0, 1), repeat=ndim))
