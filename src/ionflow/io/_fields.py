"""Write potential and current-density fields for the programs people open them in.

* ``tif``: float32 ImageJ TIFFs (Fiji/ImageJ): ``<stem>_potential.tif``,
  ``<stem>_current_magnitude.tif`` and one file per component, named by the array axis it
  points along (``_current_z|y|x.tif`` for a volume (z, y, x), ``_current_y|x.tif`` for an
  image (y, x)). The voxel size is in the ImageJ metadata (``unit`` um, the XY resolution and
  the slice ``spacing``), so Fiji shows micrometres; without a pixel size the unit is pixel.
* ``vti``: VTK XML image data for ParaView (written by ``pyevtk``), one file
  ``<stem>_fields.vti`` with the cell arrays ``potential`` (scalar) and ``current_density``
  (a 3-vector, VTK's x = the array's last axis; ParaView shows its magnitude itself), and the
  spacing in micrometres (1 per cell without a pixel size).
* ``npy``: the float64 arrays as the solver returns them (``<stem>_potential.npy``,
  ``<stem>_current_density.npy`` of shape (ndim, *shape)), for Python.

Insulating and floating cells hold NaN in every format. Potential in V, current density in
A/m^2 (in the l = A = 1 convention's units without a pixel size).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["DEFAULT_FIELD_FORMATS", "FIELD_FORMATS", "check_field_formats", "write_fields"]

FIELD_FORMATS = ("tif", "vti", "npy", "png")
"""What ``--fields-format`` takes (png: the picture drawn by ``ionflow.plot.plot_fields``)."""

DEFAULT_FIELD_FORMATS = ("tif", "png")
"""Fiji-ready float32 TIFFs and a picture; ParaView's ``vti`` and Python's ``npy`` on request."""

_AXIS_LETTERS = {2: "yx", 3: "zyx"}


def check_field_formats(formats: str | Sequence[str] | None) -> tuple[str, ...]:
    """Check a choice of field formats.

    Parameters
    ----------
    formats : str, sequence of str, or None
        ``"tif,vti"`` or ``["tif", "vti"]``; any of :data:`FIELD_FORMATS`. None: the default.

    Returns
    -------
    tuple of str
        The formats, lower case, each once, in the order given.
    """
    if formats is None:
        return DEFAULT_FIELD_FORMATS
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out = tuple(dict.fromkeys(str(f).strip().lower().lstrip(".") for f in items if str(f).strip()))
    unknown = [f for f in out if f not in FIELD_FORMATS]
    if unknown or not out:
        raise InputError(
            f"unknown field format(s) {', '.join(unknown) or repr(formats)}; "
            f"use any of {', '.join(FIELD_FORMATS)}, comma-separated"
        )
    return out


def _replace_into(tmp: Path, final: Path) -> Path:
    os.replace(tmp, final)
    return final


def _micrometres(pixel_size: Sequence[float] | None, ndim: int) -> tuple[float, ...] | None:
    """Cell edges per array axis in um, or None (no physical size)."""
    if pixel_size is None:
        return None
    sizes = tuple(float(v) for v in np.broadcast_to(np.asarray(pixel_size, float), (ndim,)))
    return tuple(v * 1e6 for v in sizes)


def _write_tiff(
    path: Path, data: np.ndarray, um: tuple[float, ...] | None, info: str, unit: str
) -> Path:
    import tifffile

    arr = np.ascontiguousarray(data, dtype=np.float32)
    finite = arr[np.isfinite(arr)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    metadata: dict = {"axes": "ZYX" if arr.ndim == 3 else "YX", "min": lo, "max": hi}
    metadata["Info"] = f"{info}\nvalues: {unit}"
    resolution = None
    if um is not None:
        metadata["unit"] = "um"
        resolution = (1.0 / um[-1], 1.0 / um[-2])  # pixels per um along x, y
        if arr.ndim == 3:
            metadata["spacing"] = um[0]
    tmp = path.with_name(path.name + ".tmp")
    tifffile.imwrite(tmp, arr, imagej=True, resolution=resolution, metadata=metadata)
    return _replace_into(tmp, path)


def _write_vti(
    path: Path, potential: np.ndarray, current: np.ndarray, um: tuple[float, ...] | None
) -> Path:
    try:
        from pyevtk.hl import imageToVTK
    except ImportError as exc:  # pragma: no cover - a dependency; only a broken install
        raise InputError(
            "writing .vti needs the pyevtk package (pip install pyevtk)", source=str(path)
        ) from exc
    ndim = potential.ndim
    spacing = um if um is not None else (1.0,) * ndim
    # VTK orders (x, y, z) with x fastest: the array's axes reversed (a transpose is the
    # Fortran-ordered view pyevtk writes); a 2D image is one cell thick
    phi = np.asarray(potential, np.float32).T
    comps = [np.asarray(current[d], np.float32).T for d in reversed(range(ndim))]
    xyz_spacing = tuple(reversed(spacing))
    if ndim == 2:
        phi = phi[:, :, None]
        comps = [c[:, :, None] for c in comps] + [np.zeros_like(phi)]
        xyz_spacing = (*xyz_spacing, min(spacing))
    comps = [np.asfortranarray(c) for c in comps]
    tmp = path.with_name(path.stem + ".tmp")
    written = imageToVTK(
        str(tmp),
        origin=(0.0, 0.0, 0.0),
        spacing=tuple(float(s) for s in xyz_spacing),
        cellData={"potential": np.asfortranarray(phi), "current_density": tuple(comps)},
    )
    return _replace_into(Path(written), path)


def write_fields(
    directory: str | os.PathLike,
    stem: str,
    potential: np.ndarray,
    current_density: np.ndarray,
    *,
    pixel_size: float | Sequence[float] | None = None,
    formats: Sequence[str] = ("tif",),
    info: str = "",
) -> list[Path]:
    """Write one solution's fields in the given formats, each file by write-then-rename.

    Parameters
    ----------
    directory : path
        Output folder (must exist).
    stem : str
        File name start, e.g. ``"cathode"`` or ``"cathode_axis1"``.
    potential : ndarray, shape (n0, n1) or (n0, n1, n2)
        Potential per cell (V); NaN where no current flows.
    current_density : ndarray, shape (ndim, *shape)
        Current density per cell (A/m^2), component d along array axis d.
    pixel_size : float or sequence of float, optional
        Cell edge (m), one or one per axis; None: sizes in cells.
    formats : sequence of {"tif", "vti", "npy"}
        What to write (``"png"`` is ignored here: it is a picture, drawn elsewhere).
    info : str
        A line for the TIFFs' ImageJ ``Info`` (e.g. the source file and flow axis).

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(directory)
    ndim = potential.ndim
    if current_density.shape != (ndim, *potential.shape):
        raise ValueError(f"current density of shape {current_density.shape} for {potential.shape}")
    um = _micrometres(
        None if pixel_size is None else np.atleast_1d(np.asarray(pixel_size, float)).tolist(),
        ndim,
    )
    written: list[Path] = []
    formats = check_field_formats(formats)
    if "npy" in formats:
        for name, arr in (("potential", potential), ("current_density", current_density)):
            tmp = out / f"{stem}_{name}.npy.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
            written.append(_replace_into(tmp, out / f"{stem}_{name}.npy"))
    if "tif" in formats:
        letters = _AXIS_LETTERS[ndim]
        magnitude = np.sqrt(np.sum(np.square(current_density, dtype=np.float64), axis=0))
        unit = "A/m^2" if um is not None else "A/m^2 in the l = A = 1 convention"
        planes = [
            ("potential", potential, "potential (V)"),
            ("current_magnitude", magnitude, f"|current density| ({unit})"),
        ] + [
            (f"current_{letters[d]}", current_density[d], f"current density along {letters[d]} "
             f"(array axis {d}; {unit})")
            for d in range(ndim)
        ]  # fmt: skip
        for name, arr, what in planes:
            written.append(_write_tiff(out / f"{stem}_{name}.tif", arr, um, info, what))
    if "vti" in formats:
        written.append(_write_vti(out / f"{stem}_fields.vti", potential, current_density, um))
    return written
