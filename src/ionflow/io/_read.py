"""Read images and volumes from PNG / TIFF / NPY (and other formats imageio reads)."""

from __future__ import annotations

import glob
import logging
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import InputError
from ._formats import check_decoded, read_amiramesh, read_metaimage
from ._phases import log_labels, phase_census
from ._segment import Crop, _to_gray, crop_image, remove_specks, segment

__all__ = [
    "IMAGE_SUFFIXES",
    "expand_paths",
    "read_array",
    "read_gray",
    "read_image",
    "slice_files",
    "to_phases",
]

IMAGE_SUFFIXES = (
    ".png",
    ".tif",
    ".tiff",
    ".npy",
    ".bmp",
    ".jpg",
    ".jpeg",
    ".gif",
    ".mhd",
    ".mha",
    ".am",
)
_MAX_LABELS = 8  # 3 to this many distinct integer values: a label image

log = logging.getLogger(__name__)


def expand_paths(paths: list[str | os.PathLike]) -> list[str]:
    """Files, directories (their image files, sorted) and glob patterns -> a list of files.

    A path that matches nothing is kept as is, so that reading it reports it as missing.

    Parameters
    ----------
    paths : list of str or path-like
        Files, directories and glob patterns, in the order given.

    Returns
    -------
    list of str
        The files, directories expanded in place.
    """
    out: list[str] = []
    for p in paths:
        p = str(p)
        if os.path.isdir(p):
            try:
                entries = list(Path(p).iterdir())
            except OSError:  # unreadable: reading it reports why, in one line
                out.append(p)
                continue
            # files, and links whose target is gone (reading them says so); not subfolders
            out += sorted(
                str(f)
                for f in entries
                if f.suffix.lower() in IMAGE_SUFFIXES and (f.is_file() or not f.exists())
            )
        elif not os.path.exists(p) and glob.has_magic(p):
            out += sorted(glob.glob(p, recursive=True)) or [p]
        else:
            out.append(p)
    return out


_KINDS = {
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".png": "PNG",
    ".npy": "NPY file",
    ".bmp": "BMP",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".gif": "GIF",
    ".mhd": "MetaImage",
    ".mha": "MetaImage",
    ".am": "AmiraMesh file",
}
# Axes (tifffile's codes) that make a stack a volume: Z depth, I/Q a plain sequence of pages;
# Y, X the image, S the colour samples. Channels (C), time points (T) and the rest are not.
_VOLUME_AXES = set("ZIQYXS")
_AXIS_NAMES = {"C": "channels", "T": "time points"}
# tifffile reports a damaged file by logging and going on with what it could read (a stack
# cut short becomes one slice): these records mean the pages or the series are not all there.
_DAMAGE = (
    "offset to first page",
    "page offset",
    "offset to page",
    "tag list of page",
    "circular reference",
    "series metadata invalid",
    "corrupted",
)


class _Unreadable(Exception):
    """A TIFF without any image (tifffile says why in its log)."""


class _TiffLog(logging.Filter):
    """Holds tifffile's log records while this thread reads a file, instead of printing them.

    A filter on the ``tifffile`` logger, installed once; records of other threads, or outside
    :func:`_tiff_records`, pass as usual.
    """

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        sink = getattr(self.local, "records", None)
        if sink is None:
            return True
        sink.append(record)
        return False


_TIFF_LOG = _TiffLog()


@contextmanager
def _tiff_records() -> Iterator[list[logging.LogRecord]]:
    """Collect (and silence) what tifffile logs in this thread inside the ``with``."""
    logger = logging.getLogger("tifffile")
    if _TIFF_LOG not in logger.filters:
        logger.addFilter(_TIFF_LOG)
    outer = getattr(_TiffLog.local, "records", None)
    records: list[logging.LogRecord] = []
    _TiffLog.local.records = records
    try:
        yield records
    finally:
        _TiffLog.local.records = outer


def _tiff_message(record: logging.LogRecord) -> str:
    """A tifffile log message without its ``<tifffile.TiffPages @8>`` prefix."""
    return re.sub(r"^(<[^>]*>\s*)+", "", record.getMessage()).strip()


def _read_tiff(path: Path, src: str) -> tuple[np.ndarray, bool]:
    """The first image series of a TIFF, refusing what tifffile could only read in part, and
    whether its last axis is RGB(A) colour (from the file's photometric interpretation)."""
    import tifffile

    with _tiff_records() as records:
        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0] if tif.series else None  # reads every page's tags
                if series is None or not len(tif.pages):
                    raise _Unreadable("no image in the file")
                check_decoded(
                    math.prod(series.shape) * np.dtype(series.dtype).itemsize, series.shape, src
                )
                _check_shaped(tif, series, src)
                arr = tif.asarray()
                axes = series.axes
                in_series = len(series.pages)
                # pages left out of the first series: a generic series has indexed every page
                # already; a shaped (tifffile) or ImageJ file is one block unless it has more
                n_pages = (
                    len(tif.pages) if getattr(series, "kind", "generic") == "generic" else in_series
                )
                n_pages += sum(len(s.pages) for s in tif.series[1:])
                keyframe = series.keyframe
                photometric = int(keyframe.photometric)
                colormap = keyframe.colormap if photometric == _PALETTE else None
                min_is_white = photometric == 0 and keyframe.bitspersample > 1
                images = (tif.imagej_metadata or {}).get("images") if tif.is_imagej else None
        except InputError:  # the decoded-size check: said as it is
            raise
        except _Unreadable as exc:
            reason = next((_tiff_message(r) for r in records), str(exc))
            raise InputError(f"not a readable TIFF ({reason})", source=src) from None
        except Exception as exc:  # noqa: BLE001 - tifffile and its codecs raise many types
            text = str(exc)
            codec = re.search(r"(\w+)\.(\w+): \d+> requires the 'imagecodecs'", text)
            if codec:  # only where imagecodecs could not be installed: it is a dependency
                text = f"{codec[2]} {codec[1].lower()} needs the imagecodecs package"
            reason = (text.splitlines() or [type(exc).__name__])[0][:160]
            raise InputError(f"not a readable TIFF ({reason})", source=src) from None
    damage = [
        _tiff_message(r)
        for r in records
        if r.levelno >= logging.WARNING and any(d in r.getMessage() for d in _DAMAGE)
    ]
    if damage:
        raise InputError(f"not a readable TIFF ({damage[0][:160]})", source=src)
    for r in records:
        log.debug("%s: tifffile: %s", src, _tiff_message(r))
    plane = int(np.prod(keyframe.shape)) if keyframe.shape else 1
    if isinstance(images, int) and plane and arr.size // plane < images:
        raise InputError(
            f"not a readable TIFF (ImageJ metadata says {images} images, "
            f"the file holds {arr.size // plane}: cut short?)",
            source=src,
        )
    shape = dict(zip(axes, arr.shape)) if len(axes) == arr.ndim else {}
    if colormap is not None and arr.dtype.kind == "u":
        arr = _through_palette(arr, np.asarray(colormap).T, src)
    arr, colour = _samples(arr, axes, shape, photometric, src)
    extra = {a: n for a, n in shape.items() if a not in _VOLUME_AXES and n > 1}
    if set(extra) == {"T"} and shape.get("Z", 1) == 1:
        # a stack whose slices are called frames (ImageJ's Properties easily say so): the
        # slices of a volume, since nothing else could be
        log.warning(
            "%s: reads its %d time points as the slices of a volume (the file calls them "
            "frames; Image > Properties in Fiji can say slices)",
            src,
            extra["T"],
        )
        extra = {}
    if extra:
        what = ", ".join(f"{n} {_AXIS_NAMES.get(a, 'along ' + a)}" for a, n in extra.items())
        raise InputError(
            f"holds {what} (axes {axes}, shape {arr.shape}); save one segmented channel "
            "as a 2D image or a z-stack",
            source=src,
        )
    if in_series < n_pages:
        log.warning(
            "%s: reading the first image series (%s, %d of %d pages); the other pages (a "
            "thumbnail, another series) are ignored",
            src,
            "x".join(map(str, arr.shape)),
            in_series,
            n_pages,
        )
    if min_is_white:
        log.warning(
            "%s: stored with an inverting LUT (white is zero): ionflow uses the stored values, "
            "so high values (shown dark) are electrolyte; --invert swaps the phases",
            src,
        )
    return arr, colour


def _check_shaped(tif: Any, series: Any, src: str) -> None:
    """Refuse a tifffile-written ("shaped") series that claims more images than the file has
    pages: tifffile reads such a series as one contiguous block from the first page's data, so
    the missing images would be whatever bytes follow (the page headers), not an error. A file
    written with ``truncate=True`` (one page, said in its metadata) is fine."""
    if getattr(series, "kind", "") != "shaped":
        return
    meta = tif.shaped_metadata[0] if tif.shaped_metadata else {}
    if isinstance(meta, dict) and meta.get("truncated"):
        return
    plane = math.prod(series.keyframe.shape) or 1
    images = math.prod(series.shape) // plane
    if len(tif.pages) < images:
        raise InputError(
            f"not a readable TIFF (its shape metadata says {images} images, the file holds "
            f"{len(tif.pages)}: cut short, or the metadata is wrong)",
            source=src,
        )


# TIFF photometric interpretations (tifffile.PHOTOMETRIC)
_MINISWHITE, _MINISBLACK, _RGB, _PALETTE, _SEPARATED, _YCBCR = 0, 1, 2, 3, 5, 6


def _through_palette(index: np.ndarray, palette: np.ndarray, src: str) -> np.ndarray:
    """An indexed image's values: the palette's gray levels where every colour used is a gray
    (what the image shows: a palette can put white at index 0), else the indices themselves
    (a label image with a colour lookup table; its labels are the indices)."""
    if palette.ndim != 2 or palette.shape[1] < 3 or index.size == 0:
        return index
    used = np.unique(index)
    if used[-1] >= palette.shape[0]:
        return index
    rgb = palette[used, :3]
    if np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2]):
        return palette[:, 0][index]
    log.info("%s: a colour palette; its indices are read as labels", src)
    return index


def _samples(
    arr: np.ndarray, axes: str, shape: dict[str, int], photometric: int, src: str
) -> tuple[np.ndarray, bool]:
    """A TIFF's samples per pixel (axis ``S``) by its photometric interpretation: RGB(A) stays,
    as the last axis (colour); gray + alpha keeps the gray; CMYK and other multi-sample
    images are refused. Returns the array and whether it is colour."""
    n = shape.get("S", 1)
    if n == 1:
        return arr, False
    s = axes.index("S")
    if photometric in (_RGB, _YCBCR) and n in (3, 4):
        return np.moveaxis(arr, s, -1), True
    if photometric in (_MINISBLACK, _MINISWHITE) and n == 2:
        del shape["S"]
        return np.take(arr, 0, axis=s), False  # the gray, without its alpha (extra sample)
    what = "CMYK colour" if photometric == _SEPARATED else f"{n} samples per pixel"
    raise InputError(
        f"holds {what} (axes {axes}, shape {arr.shape}); save one segmented channel as a "
        "grayscale 2D image or z-stack",
        source=src,
    )


def _read_npy(path: Path, src: str) -> np.ndarray:
    """A ``.npy`` array without unpickling, its header checked against the file size first."""
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        except Exception as exc:  # noqa: BLE001 - any header problem
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            raise InputError(f"not a readable NPY file ({reason})", source=src) from None
        if dtype.hasobject:
            raise InputError(
                "not a readable NPY file (it holds Python objects, which ionflow does not "
                "unpickle)",
                source=src,
            )
        expected = math.prod(shape) * dtype.itemsize  # Python ints: a hostile shape can't wrap
        left = path.stat().st_size - fh.tell()
        if left < expected:
            raise InputError(
                f"not a readable NPY file (cut short: shape {shape} needs {expected} bytes, "
                f"the file holds {left})",
                source=src,
            )
    check_decoded(expected, shape, src)
    return np.load(path, allow_pickle=False)


_PILLOW_GRAY = ("1", "L", "I", "I;16", "I;16L", "F")


def _read_pillow(path: Path, src: str) -> tuple[np.ndarray, bool]:
    """PNG/BMP/JPEG/GIF via Pillow directly (imageio's plugin probing costs ~0.3 ms a file),
    and whether the result is RGB(A) colour (from the file's mode): gray + alpha keeps the
    gray, a palette its gray levels (or its indices, :func:`_through_palette`), other colour
    modes become RGB(A). An animation (a GIF stack, as Fiji saves one) is a volume, one
    frame a slice."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        # Pillow warns between 89 and 179 megapixels and refuses above: the refusal is the
        # error line, the memory check below the guard; the warning would be a stray line
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as opened:
            bands = len(opened.getbands())
            depth = (
                4 if opened.mode in ("I", "F", "RGBA", "CMYK") else 2 if "16" in opened.mode else 1
            )
            frames = int(getattr(opened, "n_frames", 1) or 1)
            shape = (frames, *opened.size[::-1]) if frames > 1 else opened.size[::-1]
            check_decoded(opened.width * opened.height * bands * depth * frames, shape, src)
            if frames == 1:
                opened.load()
                from PIL import ImageOps

                # as viewers show it (a camera's or phone's JPEG stores its rotation in EXIF)
                return _pillow_frame(ImageOps.exif_transpose(opened) or opened, src)
            slices = []
            for k in range(frames):  # as RGB: Pillow gives a GIF's later frames in RGB(A)
                opened.seek(k)
                slices.append(np.asarray(opened.convert("RGB")))
    if len({a.shape for a in slices}) > 1:
        raise InputError("its frames differ in size; save the stack as a TIFF", source=src)
    stack = np.stack(slices)
    if np.all(stack[..., 0] == stack[..., 1]) and np.all(stack[..., 1] == stack[..., 2]):
        return stack[..., 0], False  # a gray stack
    return stack, True


def _pillow_frame(im, src: str) -> tuple[np.ndarray, bool]:
    """The current frame of an open Pillow image, and whether it is RGB(A) colour."""
    if im.mode in ("P", "PA"):
        index = np.asarray(im)
        index = index[..., 0] if index.ndim == 3 else index  # PA: without its alpha
        palette = np.asarray(im.getpalette() or [], np.uint8).reshape(-1, 3)
        return _through_palette(index, palette, src), False
    if im.mode == "I;16B":
        im = im.convert("I;16")
    elif im.mode in ("LA", "La"):
        return np.asarray(im)[..., 0], False
    elif im.mode not in _PILLOW_GRAY + ("RGB", "RGBA", "RGBa", "RGBX"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    arr = np.asarray(im)
    return arr, arr.ndim == 3 and im.mode not in _PILLOW_GRAY


def read_array(path: str | os.PathLike) -> np.ndarray:
    """Read the raw pixel array of a file (no segmentation), with errors for people.

    TIFF: the first image series (a multi-page file or an ImageJ stack is a volume), values as
    stored; a file that tifffile reads only in part (a damaged page chain, a stack cut short)
    is refused, and so is a hyperstack with channels or time points. NPY: never unpickled.
    Other formats via Pillow. Every problem raises :class:`~ionflow.InputError` naming the file.

    Parameters
    ----------
    path : str or path-like
        PNG/BMP/JPEG/GIF, TIFF, NPY, MetaImage (.mhd, .mha) or AmiraMesh (.am) file, or a
        folder of 2D slices (one volume, :func:`slice_files`).

    Returns
    -------
    ndarray
        The pixel values as stored: 2D, 3D (a volume, z first) or colour (trailing 3 or 4).
    """
    return _read_pixels(path)[0]


def _read_pixels(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """:func:`read_array`, and whether the last axis is RGB(A) colour (as the file says)."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        missing = "link target not found" if path.is_symlink() else "file not found"
        raise InputError(missing, source=src)
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise InputError("folder cannot be read (permission denied)", source=src)
        return _read_slices(path, src)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", source=src) from None
    if size == 0:
        raise InputError("file is empty", source=src)
    suffix = path.suffix.lower()
    kind = _KINDS.get(suffix, "image file")
    try:
        if suffix == ".npy":
            arr, colour = _read_npy(path, src), False  # an array is never colour
        elif suffix in (".tif", ".tiff"):
            arr, colour = _read_tiff(path, src)
        elif suffix in (".mhd", ".mha"):
            arr, colour = read_metaimage(path, src), False
        elif suffix == ".am":
            arr, colour = read_amiramesh(path, src), False
        else:
            arr, colour = _read_pillow(path, src)
    except InputError:
        raise
    except PermissionError:
        raise InputError("permission denied", source=src) from None
    except Exception as exc:  # noqa: BLE001 - every decoder has its own error types
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable {kind} ({detail})", source=src) from None
    return np.asarray(arr), colour


def slice_files(folder: str | os.PathLike) -> list[Path]:
    """The 2D image files of a folder of slices, in natural order (``z2`` before ``z10``).

    Parameters
    ----------
    folder : str or path-like
        A folder holding one image file per slice (Fiji's *Image Sequence*, Avizo's and
        Dragonfly's slice exports).

    Returns
    -------
    list of Path
        The slices, first to last.

    Raises
    ------
    InputError
        No image file in the folder, or files of several types.
    """
    src = str(folder)
    try:
        # image files, and links whose target is gone (reading them says so: a slice must not
        # go missing silently); not hidden files (macOS's ._z001.png, editors' backups)
        entries = [
            f
            for f in Path(folder).iterdir()
            if f.suffix.lower() in IMAGE_SUFFIXES
            and not f.name.startswith(".")
            and (f.is_file() or (f.is_symlink() and not f.exists()))
        ]
    except OSError as exc:
        raise InputError(f"folder cannot be read ({exc.strerror})", source=src) from None
    if not entries:
        raise InputError(f"no image files ({' '.join(IMAGE_SUFFIXES)}) in this folder", source=src)
    kinds = sorted({f.suffix.lower() for f in entries})
    if len({".tiff" if k == ".tif" else k for k in kinds}) > 1:
        raise InputError(
            f"mixes file types ({', '.join(kinds)}): the slices of a volume are of one kind",
            source=src,
        )

    def natural(f: Path) -> tuple:
        # numbers by value (z2 before z10; a depth like 0.25 before 0.5), ASCII digits only
        parts = re.split(r"(\d+(?:\.\d+)?)", f.stem, flags=re.ASCII)
        return tuple(
            (1, float(t), "") if t[:1].isdigit() and t.isascii() else (0, 0.0, t.lower())
            for t in parts
        )

    ordered = sorted(entries, key=natural)
    for a, b in zip(ordered, ordered[1:]):
        if natural(a) == natural(b):  # z1 / Z01 / z1.tif + z1.tiff: the listing would decide
            raise InputError(
                f"slices {a.name} and {b.name} sort as one (case, zero padding or suffix): "
                "their order is ambiguous; rename or remove one",
                source=src,
            )
    return ordered


def _warn_gaps(files: list[Path], src: str) -> None:
    """Say when the slices' last numbers, increasing, skip one (a slice missing?)."""
    numbers = [re.findall(r"\d+", f.stem, flags=re.ASCII) for f in files]
    if len(files) > 2 and all(numbers):
        last = [int(n[-1]) for n in numbers]
        gaps = [(p, q) for p, q in zip(last, last[1:]) if q != p + 1]
        if gaps and all(q > p for p, q in zip(last, last[1:])):
            log.warning(
                "%s: the slice numbers skip (%s): a slice missing?",
                src,
                ", ".join(f"{p} -> {q}" for p, q in gaps[:3]) + (", ..." if len(gaps) > 3 else ""),
            )


def _read_slices(folder: Path, src: str) -> tuple[np.ndarray, bool]:
    """A volume from a folder of 2D slices (:func:`slice_files`), z first; whether colour."""
    files = slice_files(folder)
    _warn_gaps(files, src)  # here, not in slice_files: the voxel-size lookup lists them too
    first, colour = _read_pixels(files[0])
    if first.ndim - int(colour) != 2:
        raise InputError(
            f"{files[0].name} holds {'x'.join(map(str, first.shape))} values, not one slice: "
            "a folder of slices needs 2D images",
            source=src,
        )
    shape = (len(files), *first.shape)
    check_decoded(len(files) * first.nbytes, shape, src)
    out = np.empty(shape, first.dtype)
    out[0] = first
    for k, f in enumerate(files[1:], start=1):
        arr, c = _read_pixels(f)
        if arr.shape != first.shape or arr.dtype != first.dtype or c != colour:
            raise InputError(
                f"slice {f.name} is {'x'.join(map(str, arr.shape))} {arr.dtype}, the first "
                f"({files[0].name}) {'x'.join(map(str, first.shape))} {first.dtype}: the "
                "slices of a volume must match",
                source=src,
            )
        out[k] = arr
    log.info("%s: a volume of %d slices, %s .. %s", src, len(files), files[0].name, files[-1].name)
    return out, colour


def to_phases(
    arr: np.ndarray,
    *,
    threshold: float | Sequence[float] | None = None,
    invert: bool = False,
    labels: bool | None = None,
    conductive_labels: list[float] | None = None,
    denoise: str | None = None,
    min_size: int = 0,
    phases: int | None = None,
    conductive_phases: Sequence[int] | None = None,
    phase_names: Sequence[str] | None = None,
    source: str | None = None,
    colour: bool | None = None,
) -> np.ndarray:
    """Turn raw pixels into phases.

    * ``phases`` > 2, several thresholds, or ``conductive_phases``: gray-level classes,
      darkest first (:func:`~ionflow.io.segment`): bool where a class in
      ``conductive_phases`` is (whatever its gray level), or with ``labels=True`` the classes
      as a label image (uint8, 0 = darkest) for per-phase conductivities; neither is refused,
      naming the classes and their fractions.
    * ``conductive_labels`` given: binary, True where the pixel value is one of them.
    * ``threshold`` or ``denoise`` given: :func:`~ionflow.io.segment` (bright = electrolyte).
    * ``labels=True``: a label image, returned as is (for per-label conductivities).
    * bool, or at most two distinct values one of which is 0 (0/1, 0/255, 0.0/1.0): a binary
      image, nonzero = electrolyte. Two values of a non-integer (float) image: the brighter.
    * a negative value among at most two: refused (nonzero or brighter? say which conducts).
    * 3 to 8 distinct integer values, or two that are both nonzero (``labels=None``): refused
      as a label image, naming the labels, since which label conducts cannot be guessed; a
      micrograph has more gray levels than that.
    * otherwise (grayscale, or ``labels=False``): Otsu's threshold, bright = electrolyte.

    ``invert`` swaps the phases of a binary or grayscale result; ``min_size`` then removes
    islands of either phase smaller than that many pixels.

    Parameters
    ----------
    arr : ndarray
        Raw pixel values (see :func:`read_array`).
    threshold : float or sequence of float, optional
        Gray level above which a pixel is electrolyte (skips Otsu); several increasing values
        are the cuts between phases.
    invert : bool
        Swap the phases of a binary or grayscale result.
    labels : bool, optional
        ``True``: a label image, returned as is; ``False``: never a label image; ``None``:
        decided from the values, and a label image is refused, naming its labels (give
        ``conductive_labels`` or ``labels=True``).
    conductive_labels : list of float, optional
        Pixel values that conduct; the result is True where the value is one of them.
    denoise : str, optional
        Filter before thresholding (see :func:`~ionflow.io.segment`), e.g. ``"median"``.
    min_size : int
        Islands of either phase smaller than this many pixels are removed (0: none).
    phases : int, optional
        Gray-level classes to cut a grayscale image into (2 to 5; default 2).
    conductive_phases : sequence of int, optional
        Classes (0 = darkest) that conduct.
    phase_names : sequence of str, optional
        Names of the classes, darkest first, for messages.
    source : str, optional
        File name for error messages.
    colour : bool, optional
        Whether a trailing axis of 3 or 4 holds RGB(A), converted to luminance; default:
        guessed (a trailing 3 or 4 after two axes longer than 4). The file readers know and
        pass False after converting.

    Returns
    -------
    ndarray
        bool (True = electrolyte), or the values as stored with ``labels=True`` (the classes,
        with ``phases`` > 2 and no ``conductive_phases``).
    """
    src = source or "<array>"
    several = threshold is not None and np.size(threshold) > 1
    if (phases or 2) > 2 or conductive_phases is not None or several:
        return _to_classes(
            arr, threshold, invert, labels, conductive_labels, denoise, min_size, phases,
            conductive_phases, phase_names, src, colour,
        )  # fmt: skip
    if arr.dtype == bool:
        out = arr
        if denoise is not None:
            out = cast(np.ndarray, segment(arr, denoise=denoise, source=src, colour=False))
    else:
        _check_pixels(arr, src)
        gray = _to_gray(arr, colour)
        if (labels or conductive_labels is not None) and gray.dtype != arr.dtype:
            raise InputError(_COLOUR_LABELS, source=src)
        arr = gray
        if conductive_labels is not None:
            if denoise is not None:
                raise InputError("--denoise does not apply to a label image", source=src)
            out = np.isin(arr, conductive_labels)
            log_labels(arr, conductive_labels, source=src)
        elif threshold is not None or denoise is not None:
            # invert and min_size inside: the check for a particle-like electrolyte sees them
            return segment(  # type: ignore[return-value]  # one array, no threshold
                arr,
                threshold=threshold,
                denoise=denoise,
                invert=invert,
                min_size=min_size,
                source=src,
                colour=False,
            )
        elif labels:
            for flag, given in (("--invert", invert), ("--min-size", min_size > 1)):
                if given:
                    raise InputError(f"{flag} does not apply to a label image", source=src)
            return arr
        else:
            values = np.unique(arr)
            if values.size <= 2 and values[0] < 0:
                raise InputError(
                    f"has a negative value ({_census(arr)}): a binary image is 0 = insulating, "
                    "nonzero = electrolyte; say which value conducts with --conductive-label V",
                    source=src,
                )
            label_like = looks_like_labels(values)
            if labels is None and label_like:
                raise InputError(
                    f"looks like a label image ({_census(arr)}): say which label conducts with "
                    "--conductive-label L (simulate and tensor also take --label-conductivity L=S for "
                    "each label), or give --threshold T if it is a grayscale image",
                    source=src,
                )
            if values.size <= 2:
                out = arr > values[0] if values.size == 2 else arr != 0
            else:
                return segment(arr, invert=invert, min_size=min_size, source=src, colour=False)  # type: ignore[return-value]
    if invert:
        out = ~out
    return remove_specks(out, min_size)


def _to_classes(
    arr: np.ndarray,
    threshold: float | Sequence[float] | None,
    invert: bool,
    labels: bool | None,
    conductive_labels: list[float] | None,
    denoise: str | None,
    min_size: int,
    phases: int | None,
    conductive_phases: Sequence[int] | None,
    names: Sequence[str] | None,
    src: str,
    colour: bool | None,
) -> np.ndarray:
    """:func:`to_phases` for phases cut by gray level (see there)."""
    if conductive_labels is not None:
        raise InputError(
            "--conductive-label names values of a label image; for phases cut by gray level "
            "use --conductive-phase",
            source=src,
        )
    _check_pixels(arr, src)
    gray = _to_gray(arr.astype(np.uint8) if arr.dtype == bool else arr, colour)
    keep_classes = conductive_phases is None
    if keep_classes and not labels:
        classes, cuts = segment(
            gray, threshold=threshold, phases=phases, denoise=denoise, return_threshold=True,
            source=src, colour=False,
        )  # fmt: skip
        n = np.size(cuts) + 1
        raise InputError(
            f"cut into {n} phases by gray level, darkest first: "
            f"{phase_census(classes, np.atleast_1d(cuts).tolist(), names)}; say which conducts "
            "with --conductive-phase NAME, or give each a conductivity with "
            "--phase-conductivity NAME=S",
            source=src,
        )
    return cast(np.ndarray, segment(
        gray, threshold=threshold, phases=phases, conductive_phases=conductive_phases,
        phase_names=names, denoise=denoise, invert=invert, min_size=min_size, source=src,
        colour=False,
    ))  # fmt: skip


def _check_pixels(arr: np.ndarray, src: str) -> None:
    """Refuse pixel types that are no image (before any thresholding)."""
    if arr.dtype == bool:
        return
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError("complex-valued pixels are not an image", source=src)
    if arr.dtype.kind not in "iuf":  # not timedelta64 either, though numpy calls it a number
        raise InputError(f"unsupported pixel type {arr.dtype}", source=src)
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InputError("image contains NaN or infinite values", source=src)
    big = 2**53  # float64 holds every integer up to here; labels are compared as floats
    if arr.dtype.kind in "iu" and arr.dtype.itemsize > 4 and arr.size:
        if int(arr.max()) > big or int(arr.min()) < -big:
            values = np.unique(arr)
            as_float = values.astype(np.float64)
            same = np.flatnonzero(as_float[1:] == as_float[:-1])
            if same.size:
                a, b = values[same[0]], values[same[0] + 1]
                raise InputError(
                    f"label values {a} and {b} differ beyond 2^53, where floating point "
                    "cannot tell them apart: renumber the labels",
                    source=src,
                )


def looks_like_labels(values: np.ndarray) -> bool:
    """Whether an image's distinct values (sorted) look like labels: 3 to ``_MAX_LABELS``
    whole numbers, or two of which neither is 0 (the readers and the web app ask it)."""
    integral = bool(np.all(values == np.round(values)))
    return integral and (2 < values.size <= _MAX_LABELS or (values.size == 2 and values[0] != 0))


def check_not_labels(arr: np.ndarray, source: str) -> None:
    """Refuse a label image where a grayscale one is expected (``segment``): Otsu would cut
    its labels into two phases by their numbers, silently.

    Parameters
    ----------
    arr : ndarray
        Gray levels.
    source : str
        Name of the input, for the message.

    Raises
    ------
    InputError
        The image has 3 to 8 whole-number values.
    """
    values = np.unique(arr)
    # two levels split the same way at any threshold between them: only 3+ are ambiguous
    if 3 <= values.size <= _MAX_LABELS and looks_like_labels(values):
        raise InputError(
            f"looks like a label image ({_census(arr)}), not a grayscale micrograph: give "
            "--threshold T (or --phases N) to cut it by value anyway; the other commands take "
            "it as it is with --conductive-label L",
            source=source,
        )


def _census(arr: np.ndarray) -> str:
    """``"3 values: 0 (45 %), 85 (40 %), 170 (15 %)"``, for messages about labels."""
    values, counts = np.unique(arr, return_counts=True)
    shown = [
        f"{int(v) if v == int(v) else float(v):g} ({100 * c / arr.size:.0f} %)"
        for v, c in zip(values[:_MAX_LABELS].tolist(), counts[:_MAX_LABELS].tolist())
    ]
    return f"{values.size} values: " + ", ".join(shown)


def read_image(
    path: str | os.PathLike,
    *,
    threshold: float | Sequence[float] | None = None,
    invert: bool = False,
    labels: bool | None = None,
    conductive_labels: list[float] | None = None,
    crop: Crop | None = None,
    denoise: str | None = None,
    min_size: int = 0,
    phases: int | None = None,
    conductive_phases: Sequence[int] | None = None,
    phase_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Read an image or volume and return its phases (bool; labels as stored with ``labels``).

    A multi-page TIFF or a 3D NPY array is a volume (z, y, x). ``crop`` = (top, bottom, left,
    right) is removed from a 2D image (e.g. an SEM information bar) or from every slice of a
    volume before segmentation, in pixels or as fractions below 1 of the height/width. See
    :func:`to_phases` for how pixels become phases (``denoise``, ``threshold``, ``min_size``).

    Parameters
    ----------
    path : str or path-like
        PNG/BMP/JPEG/GIF, TIFF, NPY, MetaImage (.mhd, .mha) or AmiraMesh (.am) file, or a
        folder of 2D slices (one volume, :func:`slice_files`).
    threshold : float, optional
        Gray level above which a pixel is electrolyte (skips Otsu).
    invert : bool
        Swap the phases of a binary or grayscale result.
    labels : bool, optional
        ``True``: a label image, returned as is; ``False``: never a label image; ``None``:
        decided from the values, and a label image is refused, naming its labels (give
        ``conductive_labels`` or ``labels=True``).
    conductive_labels : list of float, optional
        Pixel values that conduct; the result is True where the value is one of them.
    denoise : str, optional
        Filter before thresholding (see :func:`~ionflow.io.segment`), e.g. ``"median"``.
    crop : 4 numbers, optional
        Margins (top, bottom, left, right) removed first, see :func:`~ionflow.io.crop_image`.
    min_size : int
        Islands of either phase smaller than this many pixels are removed (0: none).
    phases, conductive_phases, phase_names
        Gray-level classes, darkest first, and the ones that conduct (see :func:`to_phases`).

    Returns
    -------
    ndarray
        bool (True = electrolyte), or the values as stored with ``labels=True``.
    """
    src = str(path)
    if labels is None and Path(path).suffix.lower() in (".jpg", ".jpeg"):
        labels = False  # lossy: a binary image comes back with a few gray levels, never labels
    # gray: colour files are converted as they are read (and refused as labels)
    arr = _read_squeezed(path, labels=bool(labels) or conductive_labels is not None)
    if crop is not None:
        arr = crop_image(arr, crop, source=src, colour=False)
    out = to_phases(
        arr,
        threshold=threshold,
        invert=invert,
        labels=labels,
        conductive_labels=conductive_labels,
        denoise=denoise,
        min_size=min_size,
        phases=phases,
        conductive_phases=conductive_phases,
        phase_names=phase_names,
        source=src,
        colour=False,
    )
    if out.ndim not in (2, 3):
        raise InputError(f"expected a 2D image or a 3D volume, got shape {arr.shape}", source=src)
    return out


_COLOUR_LABELS = (
    "a colour image cannot be read as labels (label values are gray levels; two colours can "
    "share a luminance): save the label image in gray, or cut it by brightness with --threshold"
)


def _read_squeezed(path: str | os.PathLike, labels: bool = False) -> np.ndarray:
    """The file's pixels as gray levels (colour -> luminance), single-slice axes dropped;
    ``labels``: refuse true colour (not R = G = B), whose luminances are no labels."""
    raw, colour = _read_pixels(path)
    arr = _to_gray(raw, colour)
    if labels and arr.dtype != raw.dtype:
        raise InputError(_COLOUR_LABELS, source=str(path))
    arr = np.squeeze(arr) if arr.ndim > 2 and 1 in arr.shape[:-1] else arr
    if arr.size == 0:
        raise InputError("image has no pixels", source=str(path))
    if arr.ndim not in (2, 3):
        raise InputError(
            f"expected a 2D image or a 3D volume, got shape {raw.shape}", source=str(path)
        )
    return arr


def read_gray(path: str | os.PathLike, *, crop: Crop | None = None) -> np.ndarray:
    """Read an image or volume as gray levels (colour -> luminance), optionally cropped.

    The input of :func:`~ionflow.io.segment`.

    Parameters
    ----------
    path : str or path-like
        PNG/BMP/JPEG/GIF, TIFF, NPY, MetaImage (.mhd, .mha) or AmiraMesh (.am) file, or a
        folder of 2D slices (one volume, :func:`slice_files`).
    crop : 4 numbers, optional
        Margins (top, bottom, left, right) removed, see :func:`~ionflow.io.crop_image`.

    Returns
    -------
    ndarray
        Gray levels, 2D or 3D, in the file's value range.
    """
    return crop_image(_read_squeezed(path), crop, source=str(path), colour=False)
