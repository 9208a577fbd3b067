"""Write images, volumes and fields."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["write_image"]


def write_image(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a 2D image / 3D volume as PNG (2D only), TIFF (multi-page for 3D) or NPY.

    Boolean arrays are written as 0/255 in PNG and TIFF (deflate-compressed); floating-point
    arrays only to TIFF/NPY.

    Parameters
    ----------
    path : str or path-like
        Output file; its suffix (``.png``, ``.tif``/``.tiff``, ``.npy``) picks the format.
    array : ndarray
        2D image or 3D volume (z first).

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    arr = np.asarray(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        np.save(path, arr)
    elif suffix in (".tif", ".tiff"):
        import tifffile

        if arr.dtype == bool:  # binary microstructures compress ~7x, losslessly (deflate)
            tifffile.imwrite(path, arr.astype(np.uint8) * 255, compression="zlib")
        else:
            tifffile.imwrite(path, arr)
    elif suffix == ".png":
        if arr.ndim != 2:
            raise InputError(
                "PNG holds 2D images only; use .tif or .npy for volumes", source=str(path)
            )
        import imageio.v3 as iio

        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        elif arr.dtype != np.uint8:
            raise InputError(
                "PNG needs a binary or 8-bit image; use .tif or .npy", source=str(path)
            )
        iio.imwrite(path, arr)
    else:
        raise InputError(
            f"unknown image format {suffix!r} (use .png, .tif or .npy)", source=str(path)
        )
    return path
