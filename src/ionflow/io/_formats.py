"""Volume formats of 3D imaging software: MetaImage (``.mhd`` / ``.mha``; ITK, 3D Slicer,
Avizo and Dragonfly export it) and AmiraMesh (``.am``, Avizo's and Amira's own).

Both are a text header and raw voxels. Every file is treated as hostile: the header is read
to a bounded length, the element type must be a plain number type, the dimensions must match
the bytes present (checked before any allocation, and against the free memory), a detached
MetaImage data file must sit beside its header, and nothing is ever unpickled. Compressed
data: MetaImage's zlib (``CompressedData = True``) and AmiraMesh's ``HxByteRLE`` and
``HxZip``; ASCII AmiraMesh and multi-file MetaImage (``LIST``) are refused in one line.

Voxel sizes: MetaImage's ``ElementSpacing`` has no unit in the file (ITK's convention is
millimetres, which is what ionflow assumes, and says); AmiraMesh's ``BoundingBox`` spans the
voxel centres, in the unit of its ``Units { Coordinates "..." }`` when the file says one, else
no size is read (cubic voxels, with a warning when the box says they are not).
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__: list[str] = []

log = logging.getLogger(__name__)

HEADER_LIMIT = 1 << 20
"""Bytes of text a header may take before its data (a longer one is not a header)."""

_MET_TYPES = {
    "MET_UCHAR": "u1",
    "MET_CHAR": "i1",
    "MET_USHORT": "u2",
    "MET_SHORT": "i2",
    "MET_UINT": "u4",
    "MET_INT": "i4",
    "MET_ULONG_LONG": "u8",
    "MET_LONG_LONG": "i8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
_AM_TYPES = {
    "byte": "u1",
    "ubyte": "u1",
    "sbyte": "i1",
    "short": "i2",
    "ushort": "u2",
    "int": "i4",
    "uint": "u4",
    "float": "f4",
    "double": "f8",
}
_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "microns": 1e-6, "micron": 1e-6}
_UNITS.update({"nm": 1e-9, "cm": 1e-2})


def _check_size(shape: tuple[int, ...], itemsize: int, src: str) -> int:
    from .._freemem import available_memory, memory_message

    if not shape or any(n < 1 for n in shape) or len(shape) > 4:
        raise InputError(f"bad dimensions {list(shape)} in the header", source=src)
    nbytes = math.prod(shape) * itemsize
    free = available_memory()
    if free is not None and nbytes > 0.8 * free:
        raise InputError(memory_message(shape, nbytes, free, "decode"), source=src)
    return nbytes


def _header_text(raw: bytes, src: str, what: str) -> str:
    try:
        return raw.decode("latin-1")
    except Exception:  # noqa: BLE001 - latin-1 decodes anything; kept for clarity
        raise InputError(f"not a readable {what} file (header)", source=src) from None


def _from_raw(data: bytes, dtype: np.dtype, shape: tuple[int, ...], src: str) -> np.ndarray:
    nbytes = math.prod(shape) * dtype.itemsize
    if len(data) < nbytes:
        raise InputError(
            f"holds {len(data)} bytes of voxels, its header says {nbytes} "
            f"({'x'.join(map(str, shape))} {dtype.name}): cut short?",
            source=src,
        )
    return np.frombuffer(data[:nbytes], dtype=dtype).reshape(shape).copy()


def _inflate(data: bytes, limit: int, src: str) -> bytes:
    """zlib data, decompressed to at most ``limit`` bytes (a zip bomb stops there)."""
    try:
        d = zlib.decompressobj()
        out = d.decompress(data, limit)
    except zlib.error as exc:
        raise InputError(f"compressed voxels are damaged ({exc})", source=src) from None
    return out


# --- MetaImage -------------------------------------------------------------------------------


def read_metaimage(
    path: Path, src: str, voxels: bool = True
) -> tuple[np.ndarray | None, tuple[float, ...] | None]:
    """The voxels of a MetaImage file (z first; None unless ``voxels``) and its spacing in m
    (None when absent)."""
    with open(path, "rb") as fh:
        head = fh.read(HEADER_LIMIT)
    fields: dict[str, str] = {}
    offset = 0
    for line in head.split(b"\n"):
        offset += len(line) + 1
        text = _header_text(line, src, "MetaImage").strip()
        if not text:
            continue
        key, sep, value = text.partition("=")
        if not sep:
            raise InputError(f"not a MetaImage header (line {text[:40]!r})", source=src)
        key, value = key.strip(), value.strip()
        fields[key] = value
        if key == "ElementDataFile":
            break
    else:
        raise InputError("not a MetaImage header (no ElementDataFile line)", source=src)
    try:
        ndims = int(fields.get("NDims", "0"))
        dims = tuple(int(v) for v in fields["DimSize"].split())
    except (KeyError, ValueError):
        raise InputError("not a MetaImage header (NDims / DimSize)", source=src) from None
    if len(dims) != ndims or ndims not in (2, 3):
        raise InputError(f"a MetaImage of {ndims} dimensions {list(dims)}: 2D or 3D", source=src)
    channels = int(fields.get("ElementNumberOfChannels", "1") or 1)
    if channels != 1:
        raise InputError(f"a MetaImage of {channels} channels: save one channel", source=src)
    kind = _MET_TYPES.get(fields.get("ElementType", ""))
    if kind is None:
        raise InputError(
            f"unsupported MetaImage element type {fields.get('ElementType')!r}", source=src
        )
    order = (
        ">"
        if fields.get("BinaryDataByteOrderMSB", fields.get("ElementByteOrderMSB", "False")).lower()
        == "true"
        else "<"
    )
    dtype = np.dtype(order + kind)
    shape = tuple(reversed(dims))  # x fastest in the file: z, y, x here
    spacing = None
    given = fields.get("ElementSpacing") or fields.get("ElementSize") or ""
    if given:
        try:
            edges = [float(v) for v in given.split()]
        except ValueError:
            edges = []
        if len(edges) == ndims and all(math.isfinite(e) and e > 0 for e in edges):
            # ITK's unit is the millimetre; the file does not say
            spacing = tuple(e * 1e-3 for e in reversed(edges))
            log.info("%s: ElementSpacing %s read as millimetres (ITK's convention)", src, given)
    if not voxels:
        return None, spacing
    nbytes = _check_size(shape, dtype.itemsize, src)
    name = fields["ElementDataFile"]
    if name == "LOCAL":
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(
                nbytes + 1 if fields.get("CompressedData", "").lower() != "true" else None
            )
    elif name.upper().startswith("LIST") or "%" in name:
        raise InputError(
            "a MetaImage of one file per slice (LIST): save it as one file", source=src
        )
    else:
        data_path = path.parent / name
        if Path(name).is_absolute() or ".." in Path(name).parts or not data_path.is_file():
            raise InputError(f"its data file {name!r} is not a file beside the header", source=src)
        data = data_path.read_bytes()
    if fields.get("CompressedData", "").lower() == "true":
        data = _inflate(data, nbytes, src)
    arr = _from_raw(data, dtype, shape, src)
    return arr, spacing


# --- AmiraMesh -------------------------------------------------------------------------------

_AM_DATA = re.compile(r"Lattice\s*\{\s*(\w+)(?:\[(\d+)\])?\s+\w+\s*\}\s*@(\d+)(?:\((\w+),(\d+)\))?")


def read_amiramesh(
    path: Path, src: str, voxels: bool = True
) -> tuple[np.ndarray | None, tuple[float, ...] | None]:
    """The first lattice of an AmiraMesh file (z first; None unless ``voxels``) and its voxel
    size in m, when the file says its unit."""
    with open(path, "rb") as fh:
        head = fh.read(HEADER_LIMIT)
    first = head.split(b"\n", 1)[0]
    if not first.startswith(b"# AmiraMesh") and not first.startswith(b"# Avizo"):
        raise InputError("not an AmiraMesh file (no '# AmiraMesh' first line)", source=src)
    if b"BINARY" not in first:
        raise InputError("an ASCII AmiraMesh file: save it as binary in Avizo", source=src)
    order = ">" if b"BINARY-LITTLE-ENDIAN" not in first else "<"
    text = _header_text(head, src, "AmiraMesh")
    size = re.search(r"define\s+Lattice\s+(\d+)\s+(\d+)(?:\s+(\d+))?", text)
    match = _AM_DATA.search(text)
    if not size or not match:
        raise InputError(
            "not an AmiraMesh lattice (no 'define Lattice' / 'Lattice {...}')", source=src
        )
    dims = tuple(int(v) for v in size.groups() if v is not None)
    kind, count, block, codec, packed = match.groups()
    if count not in (None, "1"):
        raise InputError(
            f"an AmiraMesh lattice of {count} values per voxel: one needed", source=src
        )
    if kind not in _AM_TYPES:
        raise InputError(f"unsupported AmiraMesh element type {kind!r}", source=src)
    dtype = np.dtype(order + _AM_TYPES[kind])
    shape = tuple(reversed(dims))
    if not voxels:
        return None, _amira_spacing(text, dims, src)
    nbytes = _check_size(shape, dtype.itemsize, src)
    marker = re.search(rf"\n@{block}[ \t\r]*\n", text[match.end() :])
    if marker is None:
        raise InputError(f"its data section @{block} is missing", source=src)
    start = match.end() + marker.end()
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(nbytes + 1 if codec is None else int(packed) + 1)
    if codec == "HxByteRLE":
        data = _unrle(data[: int(packed)], nbytes, src)
    elif codec == "HxZip":
        data = _inflate(data[: int(packed)], nbytes, src)
    elif codec is not None:
        raise InputError(f"unsupported AmiraMesh compression {codec}", source=src)
    arr = _from_raw(data, dtype, shape, src)
    return arr, _amira_spacing(text, dims, src)


def _unrle(data: bytes, limit: int, src: str) -> bytes:
    """Amira's HxByteRLE: a count byte c; c < 128: the next byte c times, else c - 128 literal
    bytes. Stops at ``limit`` bytes."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n and len(out) < limit:
        c = data[i]
        i += 1
        if c < 128:
            if i >= n:
                break
            out += bytes([data[i]]) * c
            i += 1
        else:
            out += data[i : i + c - 128]
            i += c - 128
    if len(out) < limit:
        raise InputError("run-length voxels end early: the file is damaged", source=src)
    return bytes(out[:limit])


def _amira_spacing(text: str, dims: tuple[int, ...], src: str) -> tuple[float, ...] | None:
    box = re.search(r"BoundingBox\s+([-+0-9.eE\s]+?),", text)
    if box is None:
        return None
    try:
        v = [float(t) for t in box.group(1).split()]
    except ValueError:
        return None
    if len(v) != 6:
        return None
    spans: list[float | None] = [
        (v[2 * k + 1] - v[2 * k]) / (n - 1) if n > 1 else None for k, n in enumerate(dims[:3])
    ]
    known = [e for e in spans if e is not None]
    if not known or not all(math.isfinite(e) and e > 0 for e in known):
        return None
    edges = [e if e is not None else known[0] for e in spans]
    unit = re.search(r'Coordinates\s+"([^"]+)"', text)
    name = unit.group(1).encode("latin-1").decode("utf-8", "replace").strip() if unit else ""
    scale = _UNITS.get(name.lower().replace("\u03bc", "\u00b5"))  # Greek mu or micro sign
    if scale is None:
        if max(edges) > min(edges) * 1.01:
            log.warning(
                "%s: voxel edges %s (x, y, z) in no stated unit: cubic voxels are assumed; "
                "give --voxel-size DZ DY DX in m for box-shaped ones",
                src,
                ", ".join(f"{e:g}" for e in edges),
            )
        return None
    return tuple(e * scale for e in reversed(edges))
