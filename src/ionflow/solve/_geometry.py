"""Input checks and the domain geometry (light: numpy only)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["geometry", "validate_image"]


def validate_image(image: np.ndarray, *, source: str | None = None) -> np.ndarray:
    """Check that ``image`` is a usable 2D/3D array; returns it as a NumPy array."""
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"image has a non-numeric type ({arr.dtype})", source=source)
    if arr.ndim not in (2, 3):
        raise InputError(
            f"expected a 2D image or a 3D volume, got an array of shape {arr.shape}", source=source
        )
    if arr.size == 0 or min(arr.shape) == 0:
        raise InputError(f"image is empty (shape {arr.shape})", source=source)
    if np.issubdtype(arr.dtype, np.floating) and not _all_finite(arr):
        raise InputError("image contains NaN or infinite values", source=source)
    return arr


def geometry(
    shape: tuple[int, ...], axis: int, pixel_size: float | None
) -> tuple[float, float, float]:
    """Cell size h, length l along the flow, and cross-section A, in metres.

    Default (``pixel_size=None``): the paper's convention l = 1, so h = 1 / n_axis and a square
    image or cubic volume has A = 1. A 2D image is a prism whose depth equals l (so A = width x l).
    """
    n_axis = shape[axis]
    h = 1.0 / n_axis if pixel_size is None else float(pixel_size)
    length = n_axis * h
    perp = [n for d, n in enumerate(shape) if d != axis]
    if len(shape) == 2:
        area = perp[0] * h * length
    else:
        area = perp[0] * perp[1] * h * h
    return h, length, area


def _all_finite(arr: np.ndarray, chunk: int = 1 << 24) -> bool:
    """``np.isfinite(arr).all()`` in slabs, without a mask the size of the image."""
    flat = arr.reshape(-1) if arr.flags.c_contiguous else None
    if flat is None:
        return all(bool(np.isfinite(plane).all()) for plane in arr)
    return all(bool(np.isfinite(flat[i : i + chunk]).all()) for i in range(0, flat.size, chunk))
