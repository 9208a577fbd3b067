"""Read images and volumes from PNG / TIFF / NPY (and other formats imageio reads)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._segment import Crop, _to_gray, crop_image, remove_specks, segment

__all__ = ["IMAGE_SUFFIXES", "expand_paths", "read_array", "read_gray", "read_image", "to_phases"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".bmp", ".jpg", ".jpeg", ".gif")
_MAX_LABELS = 8  # at most this many distinct integer values -> a label image, kept as is


def expand_paths(paths: list[str | os.PathLike]) -> list[str]:
    """Files, directories (their image files, sorted) and glob patterns -> a list of files.

    A path that matches nothing is kept as is, so that reading it reports it as missing.
    """
    out: list[str] = []
    for p in paths:
        p = str(p)
        if os.path.isdir(p):
            out += sorted(
                str(f)
                for f in Path(p).iterdir()
                if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
            )
        elif not os.path.exists(p) and glob.has_magic(p):
            out += sorted(glob.glob(p, recursive=True)) or [p]
        else:
            out.append(p)
    return out


def _read_pillow(path: Path) -> np.ndarray:
    """PNG/BMP/JPEG/GIF via Pillow directly (imageio's plugin probing costs ~0.3 ms a file)."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in ("P", "PA"):
            im = im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
        elif im.mode == "I;16B":
            im = im.convert("I;16")
        return np.asarray(im)


def read_array(path: str | os.PathLike) -> np.ndarray:
    """Read the raw pixel array of a file (no segmentation), with errors for people."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise InputError("file not found", source=src)
    if path.is_dir():
        raise InputError("is a directory, not an image", source=src)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", source=src) from None
    if size == 0:
        raise InputError("file is empty", source=src)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(path)
        else:
            arr = _read_pillow(path)
    except PermissionError:
        raise InputError("permission denied", source=src) from None
    except Exception as exc:  # noqa: BLE001 - every decoder has its own error types
        kind = suffix.lstrip(".").upper() or "image"
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable {kind} file ({detail})", source=src) from None
    return np.asarray(arr)


def to_phases(
    arr: np.ndarray,
    *,
    threshold: float | None = None,
    invert: bool = False,
    labels: bool | None = None,
    conductive_labels: list[float] | None = None,
    denoise: str | None = None,
    min_size: int = 0,
    source: str | None = None,
) -> np.ndarray:
    """Turn raw pixels into phases.

    * ``conductive_labels`` given: binary, True where the pixel value is one of them.
    * two distinct values (a binary image): nonzero/bright = electrolyte (True).
    * few distinct integer values (a label image, at most 8) or ``labels=True``: kept as is.
    * otherwise (grayscale): :func:`~ionflow.io.segment`, i.e. optionally ``denoise``d, bright =
      electrolyte above ``threshold``, Otsu's threshold by default.
    ``invert`` swaps the phases of a binary or grayscale result; ``min_size`` then removes
    islands of either phase smaller than that many pixels.
    """
    src = source or "<array>"
    if arr.dtype == bool:
        out = arr
        if denoise is not None:
            out = segment(arr, denoise=denoise, source=src)
    else:
        if not (np.issubdtype(arr.dtype, np.number)):
            raise InputError(f"unsupported pixel type {arr.dtype}", source=src)
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise InputError("complex-valued pixels are not an image", source=src)
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise InputError("image contains NaN or infinite values", source=src)
        arr = _to_gray(arr)
        if conductive_labels is not None:
            if denoise is not None:
                raise InputError("--denoise does not apply to a label image", source=src)
            out = np.isin(arr, conductive_labels)
        elif threshold is not None or denoise is not None:
            out = segment(arr, threshold=threshold, denoise=denoise, source=src)
        else:
            values = np.unique(arr)
            if values.size <= 2 and labels is not True:
                out = arr > values.min() if values.size == 2 else arr != 0
            elif labels or (
                labels is None and values.size <= _MAX_LABELS and np.all(values == np.round(values))
            ):
                for flag, given in (("--invert", invert), ("--min-size", min_size > 1)):
                    if given:
                        raise InputError(f"{flag} does not apply to a label image", source=src)
                return arr
            else:
                out = segment(arr, source=src)
    if invert:
        out = ~out
    return remove_specks(out, min_size)


def read_image(
    path: str | os.PathLike,
    *,
    threshold: float | None = None,
    invert: bool = False,
    labels: bool | None = None,
    conductive_labels: list[float] | None = None,
    crop: Crop | None = None,
    denoise: str | None = None,
    min_size: int = 0,
) -> np.ndarray:
    """Read an image or volume and return its phases (bool, or labels for a label image).

    A multi-page TIFF or a 3D NPY array is a volume (z, y, x). ``crop`` = (top, bottom, left,
    right) is removed from a 2D image (e.g. an SEM information bar) or from every slice of a
    volume before segmentation, in pixels or as fractions below 1 of the height/width. See
    :func:`to_phases` for how pixels become phases (``denoise``, ``threshold``, ``min_size``).
    """
    src = str(path)
    arr = _read_squeezed(path)
    if crop is not None:
        arr = crop_image(_to_gray(arr), crop, source=src)
    out = to_phases(
        arr,
        threshold=threshold,
        invert=invert,
        labels=labels,
        conductive_labels=conductive_labels,
        denoise=denoise,
        min_size=min_size,
        source=src,
    )
    if out.ndim not in (2, 3):
        raise InputError(f"expected a 2D image or a 3D volume, got shape {arr.shape}", source=src)
    return out


def _read_squeezed(path: str | os.PathLike) -> np.ndarray:
    arr = read_array(path)
    arr = np.squeeze(arr) if arr.ndim > 2 and 1 in arr.shape[:-1] else arr
    if arr.size == 0:
        raise InputError("image has no pixels", source=str(path))
    return arr


def read_gray(path: str | os.PathLike, *, crop: Crop | None = None) -> np.ndarray:
    """Read an image or volume as gray levels (colour -> luminance), optionally cropped.

    The input of :func:`~ionflow.io.segment`; see :func:`~ionflow.io.crop_image` for ``crop``.
    """
    arr = _to_gray(_read_squeezed(path))
    if arr.ndim not in (2, 3):
        raise InputError(
            f"expected a 2D image or a 3D volume, got shape {arr.shape}", source=str(path)
        )
    return crop_image(arr, crop, source=str(path))
