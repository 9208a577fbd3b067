"""Input checks and the domain geometry (light: numpy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._scale import SCALE_LIMIT, in_scale
from ..errors import InputError

__all__ = ["MAX_ANISOTROPY", "cell_spacing", "check_pixel_size", "geometry", "validate_image"]

MAX_ANISOTROPY = 100.0
"""Largest ratio of two voxel edges: beyond it the face conductances (area / distance) span
more than 1e4, and the solves lose accuracy without noticing (1e4:1 left the inlet and outlet
currents 5 % apart; 1e9:1 gave a relative conductivity of 32050). Real anisotropic voxels (FIB-SEM
slices, tomography binned along one axis) are within 1:10."""


def validate_image(image: np.ndarray, *, source: str | None = None) -> np.ndarray:
    """Check that ``image`` is a usable 2D/3D array, and return it as a NumPy array.

    Parameters
    ----------
    image : array-like
        Numeric or boolean 2D image or 3D volume.
    source : str, optional
        File name for error messages.

    Returns
    -------
    ndarray
        ``np.asarray(image)``; an empty, non-numeric, non-2D/3D or non-finite image raises
        :class:`~ionflow.InputError`.
    """
    arr = np.asarray(image)
    if arr.dtype.kind not in "biufc":  # not objects, strings, datetime64 or timedelta64
        raise InputError(f"image has a non-numeric type ({arr.dtype})", source=source)
    if np.iscomplexobj(arr):
        raise InputError(f"image has complex values ({arr.dtype}); give real ones", source=source)
    if arr.ndim not in (2, 3):
        raise InputError(
            f"expected a 2D image or a 3D volume, got an array of shape {arr.shape}", source=source
        )
    if arr.size == 0 or min(arr.shape) == 0:
        raise InputError(f"image is empty (shape {arr.shape})", source=source)
    if np.issubdtype(arr.dtype, np.floating) and not _all_finite(arr):
        raise InputError("image contains NaN or infinite values", source=source)
    return arr


def check_pixel_size(pixel_size: float | None, *, source: str | None = None) -> float | None:
    """``pixel_size`` as a float (m), or None; anything but a positive, finite number raises.

    Zero would divide by zero, a negative size gives a negative resistance and an infinite one
    an ``Infinity`` in the JSON rows: none is a pixel.

    Parameters
    ----------
    pixel_size : float or None
        Pixel edge in m, as given.
    source : str, optional
        File name for error messages.

    Returns
    -------
    float or None
        The size as a float, or None when none was given.
    """
    if pixel_size is None:
        return None
    try:
        h = float(pixel_size)
    except (TypeError, ValueError):
        raise InputError(
            f"pixel size must be a number of metres, got {pixel_size!r}", source=source
        ) from None
    if not (math.isfinite(h) and h > 0):
        raise InputError(
            f"pixel size must be a positive, finite number of metres, got {pixel_size}",
            source=source,
        )
    if not in_scale(h):
        raise InputError(
            f"pixel size {h:g} m is out of range: give a value between {1 / SCALE_LIMIT:g} "
            f"and {SCALE_LIMIT:g} m",
            source=source,
        )
    return h


def cell_spacing(
    shape: tuple[int, ...],
    axis: int,
    pixel_size: float | Sequence[float] | None,
    *,
    source: str | None = None,
) -> tuple[float, ...]:
    """Edge of one cell along every axis, in metres.

    ``pixel_size`` is one number (cubic cells), one number per axis (anisotropic voxels, e.g.
    FIB-SEM slices thicker than the pixel: ``(dz, dy, dx)`` in array order) or ``None``: the
    paper's convention l = 1, cubic cells of edge ``1 / n_axis``.
    """
    if pixel_size is None:
        return (1.0 / shape[axis],) * len(shape)
    if isinstance(pixel_size, (Sequence, np.ndarray)):
        sizes = list(pixel_size)
        if len(sizes) == 1:
            sizes = sizes * len(shape)
        if len(sizes) != len(shape):
            raise InputError(
                f"{len(sizes)} voxel sizes given for a {len(shape)}D image "
                f"(give one, or one per axis in array order)",
                source=source,
            )
        edges = tuple(float(check_pixel_size(v, source=source)) for v in sizes)  # type: ignore[arg-type]
        if max(edges) > MAX_ANISOTROPY * min(edges):
            raise InputError(
                f"voxel sizes {', '.join(f'{e:g}' for e in edges)} m differ by more than "
                f"{MAX_ANISOTROPY:g}x: the face conductances then span too many orders of "
                "magnitude for an accurate solve; check the sizes (units?)",
                source=source,
            )
        return edges
    return (float(check_pixel_size(pixel_size, source=source)),) * len(shape)  # type: ignore[arg-type]


def geometry(
    shape: tuple[int, ...],
    axis: int,
    pixel_size: float | Sequence[float] | None,
) -> tuple[float, float, float]:
    """Cell size h along the flow, length l along the flow, and cross-section A, in metres.

    Default (``pixel_size=None``): the paper's convention l = 1, so h = 1 / n_axis and a square
    image or cubic volume has A = 1. A 2D image is a prism whose depth equals l (so A = width x l).
    ``pixel_size`` may give one edge per axis (see :func:`cell_spacing`).

    Parameters
    ----------
    shape : tuple of int
        Image shape (cells).
    axis : int
        Flow axis.
    pixel_size : float, sequence of float or None
        Cell edge in m (one for all axes, or one per axis); None for the l = 1 convention.

    Returns
    -------
    h, length, area : float
        Cell size along the flow (m), sample length along the flow (m), cross-section (m^2).
    """
    spacing = cell_spacing(shape, axis, pixel_size)
    h = spacing[axis]
    length = shape[axis] * h
    perp = [n * e for d, (n, e) in enumerate(zip(shape, spacing)) if d != axis]
    area = perp[0] * length if len(shape) == 2 else perp[0] * perp[1]
    return h, length, area


def _all_finite(arr: np.ndarray, chunk: int = 1 << 24) -> bool:
    """``np.isfinite(arr).all()`` in slabs, without a mask the size of the image."""
    flat = arr.reshape(-1) if arr.flags.c_contiguous else None
    if flat is None:
        return all(bool(np.isfinite(plane).all()) for plane in arr)
    return all(bool(np.isfinite(flat[i : i + chunk]).all()) for i in range(0, flat.size, chunk))
