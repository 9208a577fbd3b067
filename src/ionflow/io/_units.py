"""Physical pixel size from TIFF metadata (resolution tags, ImageJ, FEI/Thermo SEM)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

__all__ = ["pixel_sizes", "read_pixel_size"]

log = logging.getLogger(__name__)

# TIFF ResolutionUnit: 2 inch, 3 centimetre (baseline TIFF); 4 mm and 5 um (tifffile's extension)
_RESUNIT_M = {2: 0.0254, 3: 1e-2, 4: 1e-3, 5: 1e-6}
_UNIT_M = {
    "m": 1.0, "meter": 1.0, "metre": 1.0,
    "cm": 1e-2, "centimeter": 1e-2, "centimetre": 1e-2,
    "mm": 1e-3, "millimeter": 1e-3, "millimetre": 1e-3,
    "um": 1e-6, "\u00b5m": 1e-6, "\u03bcm": 1e-6, "\\u00b5m": 1e-6, "micron": 1e-6,
    "micrometer": 1e-6, "micrometre": 1e-6,
    "nm": 1e-9, "nanometer": 1e-9, "nanometre": 1e-9,
    "inch": 0.0254, "in": 0.0254,
}  # fmt: skip
# Screen/print defaults that image editors write to every file: not a measurement (a 72 dpi
# "pixel" would be 0.35 mm), so they are ignored, as ImageJ does.
_DISPLAY_DPI = (72.0, 96.0, 300.0)


def _rational(value: tuple[int, ...] | float) -> float:
    """A TIFF RATIONAL tag value, ``(numerator, denominator)``, or a plain number."""
    if isinstance(value, tuple):
        num, den = value[:2]
        return num / den if den else math.nan
    return float(value)


PixelSize = float | tuple[float, ...]


def _sizes(x: float, y: float | None, z: float | None, stack: bool, src: str) -> PixelSize:
    """One edge when the pixels are square (voxels cubic) within 1 %, else one per axis in
    array order: ``(dy, dx)`` for an image, ``(dz, dy, dx)`` for a stack."""
    y = y if y and math.isfinite(y) and y > 0 else x
    edges = (z if z and math.isfinite(z) and z > 0 else x, y, x) if stack else (y, x)
    if all(abs(e - x) <= 0.01 * x for e in edges):
        return x
    log.info("%s: anisotropic %s %s m (array order)", src, "voxels" if stack else "pixels", edges)
    return tuple(float(e) for e in edges)


def read_pixel_size(path: str | os.PathLike) -> PixelSize | None:
    """The edge of one pixel/voxel in metres, from a TIFF file's metadata, or None.

    Looked up in this order:

    1. FEI/Thermo Fisher SEM metadata, ``[Scan] PixelWidth`` (metres);
    2. ImageJ metadata: ``unit`` (``micron``, ``nm``, ...) with the XResolution tag (pixels per
       unit); ``spacing`` is the voxel depth of a stack;
    3. XResolution with ResolutionUnit inch or centimetre (pixels per unit).

    The common display defaults (72, 96 or 300 dots per inch) and ResolutionUnit "none" are no
    measurement and give None, as do files that are not TIFF or cannot be read (reading the
    pixels reports those). When the pixel height or the voxel depth (a stack's slice spacing)
    differs from the width by more than 1 %, one edge per axis is returned in array order,
    ``(dy, dx)`` or ``(dz, dy, dx)``: the solver then uses box-shaped cells (FIB-SEM stacks).

    Parameters
    ----------
    path : str or path-like
        Image file; only TIFF files carry a size.

    Returns
    -------
    float, tuple of float, or None
        Pixel edge in m (one per axis when they differ), or None when the file states none.
    """
    path = Path(path)
    src = str(path)
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return None
    from ._read import _tiff_records

    try:
        import tifffile

        with _tiff_records(), tifffile.TiffFile(path) as tif:  # reading the pixels says why
            page = tif.pages.first
            tags = page.tags
            xres = _rational(tags["XResolution"].value) if "XResolution" in tags else None
            yres = _rational(tags["YResolution"].value) if "YResolution" in tags else None
            unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
            fei = tif.fei_metadata if tif.is_fei else None
            ij = tif.imagej_metadata if tif.is_imagej else None
            stack = len(tif.pages) > 1 or bool(ij and int(ij.get("slices", 1) or 1) > 1)
    except Exception as exc:  # noqa: BLE001 - unreadable here means "no metadata"
        log.debug("%s: no pixel size (%s)", src, exc)
        return None

    x: float | None  # the pixel width (m), from the first metadata that states it
    scan = (fei or {}).get("Scan", {})
    if isinstance(scan.get("PixelWidth"), (int, float)) and scan["PixelWidth"] > 0:
        x = float(scan["PixelWidth"])
        height = scan.get("PixelHeight")
        y = float(height) if isinstance(height, (int, float)) else None
        return _sizes(x, y, None, stack, src)

    def per_unit(res: float | None, metres: float) -> float | None:
        return metres / res if res and math.isfinite(res) and res > 0 else None

    if ij and isinstance(ij.get("unit"), str):
        metres = _UNIT_M.get(ij["unit"].strip().lower())
        x = per_unit(xres, metres) if metres else None
        if metres and x is not None:  # (x implies metres; said again for the type checker)
            spacing = ij.get("spacing")
            z = float(spacing) * metres if isinstance(spacing, (int, float)) else None
            return _sizes(x, per_unit(yres, metres), z, stack, src)
    if unit in (2, 3, 4, 5) and xres:
        if unit == 2 and any(abs(xres - d) < 1e-6 for d in _DISPLAY_DPI):
            log.info("%s: ignoring the display resolution %g dpi", src, xres)
            return None
        x = per_unit(xres, _RESUNIT_M[unit])
        if x is None:
            return None
        return _sizes(x, per_unit(yres, _RESUNIT_M[unit]), None, stack, src)
    return None


def pixel_sizes(files: list[str], given: PixelSize | None = None) -> dict[str, PixelSize | None]:
    """Pixel size of every file: ``given`` for all, else each file's own.

    Each TIFF's own comes from :func:`read_pixel_size` (None: the l = 1 convention). What the
    metadata supplied is logged.

    Parameters
    ----------
    files : list of str
        Image files.
    given : float or tuple of float, optional
        Pixel edge (m) for every file (or one per axis), overriding the metadata.

    Returns
    -------
    dict
        ``{file: pixel edge(s) in m or None}``.
    """
    if given is not None:
        return dict.fromkeys(files, given)
    sizes = {f: read_pixel_size(f) for f in files}
    for f, size in sizes.items():
        if size is not None:
            log.info("%s: pixel size %s m from the TIFF metadata", f, size)
    return sizes
