"""Write images, volumes and fields."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["output_folder", "write_image"]


def output_folder(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` (and its parents) unless it is there, before any work.

    Commands that write files call this first, so that a folder that cannot be made (no
    permission, a read-only file system, a file in the way) is refused in one line before
    the solves whose results it would hold.

    Parameters
    ----------
    path : str or path-like
        The folder.

    Returns
    -------
    Path
        ``path``, which now exists.

    Raises
    ------
    InputError
        ``cannot create output folder PATH: REASON``.
    """
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        raise InputError(f"cannot create output folder {path}: a file of that name is in the way")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"cannot create output folder {path}: {reason}") from None
    return path


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
    output_folder(path.parent)
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
