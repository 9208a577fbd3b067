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
    "microns": 1e-6, "micrometers": 1e-6, "micrometres": 1e-6, "nanometers": 1e-9,
    "pm": 1e-12, "\u00e5": 1e-10, "\u212b": 1e-10, "angstrom": 1e-10,
}  # fmt: skip
# what ImageJ writes for an uncalibrated image: no size, and nothing to say about it
_NO_UNIT = ("", "pixel", "pixels", "px")
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


def _unit(name: object, src: str) -> float | None:
    """Metres per ImageJ unit, or None (uncalibrated, or a unit not known: said once)."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    if key in _NO_UNIT:
        return None
    metres = _UNIT_M.get(key)
    if metres is None:
        log.warning("%s: unit %r is not known; no pixel size taken from the file", src, name)
    return metres


def _ome_sizes(xml: str, stack: bool, src: str) -> PixelSize | None:
    """``PhysicalSizeX/Y/Z`` of the first OME ``Pixels`` element (default unit um)."""
    import re

    pixels = re.search(r"<(?:\w+:)?Pixels\b[^>]*>", xml)
    if pixels is None:
        return None
    edges: dict[str, float | None] = {}
    for axis in "XYZ":
        size = re.search(rf'PhysicalSize{axis}="([^"]+)"', pixels[0])
        unit = re.search(rf'PhysicalSize{axis}Unit="([^"]+)"', pixels[0])
        try:
            value = float(size[1]) if size else None
        except ValueError:
            value = None
        metres = _unit(unit[1], src) if unit else 1e-6
        edges[axis] = value * metres if value is not None and metres else None
    x = edges["X"]
    if x is None or not (math.isfinite(x) and x > 0):
        return None
    return _sizes(x, edges["Y"], edges["Z"], stack, src)


def _checked(size: PixelSize | None, src: str) -> PixelSize | None:
    """``size``, or None with a warning when an edge is outside 1e-30 .. 1e30 m."""
    from .._scale import SCALE_LIMIT, in_scale

    if size is None:
        return None
    edges = size if isinstance(size, tuple) else (size,)
    if all(in_scale(e) and e > 0 for e in edges):
        return size
    log.warning(
        "%s: pixel size %s m in the file is out of range (%g .. %g m); ignored",
        src, size, 1 / SCALE_LIMIT, SCALE_LIMIT,
    )  # fmt: skip
    return None


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
    if path.is_dir():  # a folder of slices: its first slice's edges, the depth assumed
        return _stack_size(path)
    if path.suffix.lower() in (".mhd", ".mha", ".am") and path.is_file():
        from ._formats import formats_voxel

        edges = formats_voxel(path)
        if edges is None:
            return None
        if max(edges) > min(edges) * 1.01:
            return _checked(edges, src)
        return _checked(edges[0], src)
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
            ome = tif.ome_metadata if tif.is_ome else None
            # a stack: the first series has an axis beyond the image's (a thumbnail or other
            # series in more pages does not make one)
            series = tif.series[0] if tif.series else None
            stack = series is not None and any(
                a not in "YXS" and n > 1 for a, n in zip(series.axes, series.shape)
            )
    except Exception as exc:  # noqa: BLE001 - unreadable here means "no metadata"
        log.debug("%s: no pixel size (%s)", src, exc)
        return None
    return _checked(_from_tags(xres, yres, unit, fei, ij, ome, stack, src), src)


def _stack_size(folder: Path) -> PixelSize | None:
    """The voxel of a folder of slices: the first slice's pixel (a single image says nothing
    of the slice spacing, so the depth is taken equal to the width, and said so)."""
    from ._read import slice_files

    try:
        files = slice_files(folder)
    except Exception:  # noqa: BLE001 - reading the slices says why
        return None
    first = files[0]
    size = read_pixel_size(first)
    if size is None or len(files) == 1:  # one slice: read as a 2D image, its own pixel
        return size
    dy, dx = (size, size) if isinstance(size, float) else (size[-2], size[-1])
    log.info(
        "%s: voxel depth taken equal to the pixel width of %s (%g m); give --voxel-size DZ DY "
        "DX if the slices are further apart",
        folder,
        first.name,
        dx,
    )
    return dx if dy == dx else (dx, dy, dx)


def _from_tags(
    xres: float | None,
    yres: float | None,
    unit: int,
    fei: dict | None,
    ij: dict | None,
    ome: str | None,
    stack: bool,
    src: str,
) -> PixelSize | None:
    """:func:`read_pixel_size` from the tags and metadata read."""

    x: float | None  # the pixel width (m), from the first metadata that states it
    scan = (fei or {}).get("Scan", {})
    if isinstance(scan.get("PixelWidth"), (int, float)) and scan["PixelWidth"] > 0:
        x = float(scan["PixelWidth"])
        height = scan.get("PixelHeight")
        y = float(height) if isinstance(height, (int, float)) else None
        return _sizes(x, y, None, stack, src)

    def per_unit(res: float | None, metres: float) -> float | None:
        return metres / res if res and math.isfinite(res) and res > 0 else None

    if ome:
        sizes = _ome_sizes(ome, stack, src)
        if sizes is not None:
            return sizes
    if ij and isinstance(ij.get("unit"), str):
        metres = _unit(ij["unit"], src)
        x = per_unit(xres, metres) if metres else None
        if metres and x is not None:  # (x implies metres; said again for the type checker)
            y_metres = _unit(ij["yunit"], src) if "yunit" in ij else metres
            z_metres = _unit(ij["zunit"], src) if "zunit" in ij else metres
            spacing = ij.get("spacing")
            z = None
            if spacing is not None and stack:
                value = spacing if isinstance(spacing, (int, float)) else math.nan
                if math.isfinite(value) and value > 0 and z_metres:
                    z = float(value) * z_metres
                else:
                    log.warning(
                        "%s: slice spacing %r is not a positive length; taking cubic voxels",
                        src,
                        spacing,
                    )
            y = per_unit(yres, y_metres) if y_metres else None
            return _sizes(x, y, z, stack, src)
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
