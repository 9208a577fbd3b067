"""Volume formats of 3D imaging software: MetaImage (``.mhd`` / ``.mha``; ITK, 3D Slicer,
Avizo and Dragonfly export it) and AmiraMesh (``.am``, Avizo's and Amira's own).

Both are a text header and raw voxels. Every file is treated as hostile: the header is read
to a bounded length, the element type must be a plain number type, the dimensions must match
the bytes present (checked before any allocation, and against the free memory), the voxels are
read straight into one array (compressed ones decompressed in chunks into it, so a zip bomb
or a huge tail costs nothing), a detached MetaImage data file must sit beside its header and
not be the header, and nothing is ever unpickled. Compressed data: MetaImage's zlib
(``CompressedData = True``) and AmiraMesh's ``HxByteRLE`` and ``HxZip``; ASCII files and
multi-file MetaImage (``LIST``) are refused in one line.

Voxel sizes (:func:`formats_voxel`, for :func:`~ionflow.io.read_pixel_size`): MetaImage's
``ElementSpacing`` has no unit in the file (ITK's convention is millimetres, which is what
ionflow assumes, and says); AmiraMesh's top-level ``BoundingBox`` spans the voxel centres, in
the unit of its ``Units { Coordinates "..." }`` when the file says one, else no size is read
(cubic voxels, with a warning when the box says they are not).
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import InputError

__all__: list[str] = []

log = logging.getLogger(__name__)

HEADER_LIMIT = 1 << 20
"""Bytes of text a header may take before its data (a longer one is not a header)."""
_CHUNK = 1 << 22  # compressed bytes read at a time

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
_UNITS.update({"nm": 1e-9, "cm": 1e-2, "micrometer": 1e-6, "micrometre": 1e-6})
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"


def _short(text: str, n: int = 60) -> str:
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= n else text[: n - 3] + "..."


def check_decoded(nbytes: int, shape: Sequence[int], src: str) -> None:
    """Refuse, before decoding, an image whose pixels would not fit in the memory free now
    (a small compressed file can declare a huge image); every reader of ``io`` calls it."""
    from .._freemem import available_memory, memory_message

    free = available_memory()
    if free is not None and nbytes > 0.8 * free:
        raise InputError(memory_message(shape, nbytes, free, "decode"), source=src)


def _check_size(shape: tuple[int, ...], itemsize: int, src: str) -> int:
    """Bytes of the voxels (:func:`check_decoded` first)."""
    nbytes = math.prod(shape) * itemsize
    check_decoded(nbytes, shape, src)
    return nbytes


def _squeezed_edges(edges: tuple[float, ...], shape: tuple[int, ...]) -> tuple[float, ...]:
    """The edges of the axes the reader keeps: a volume one cell deep along some axis is read
    as 2D (``_read_squeezed`` drops its single-cell axes), so their edges go too."""
    if len(shape) > 2 and 1 in shape[:-1]:
        kept = tuple(e for e, n in zip(edges, shape) if n > 1)
        return kept if kept else edges[-1:]
    return edges


def _read_raw(
    fh: BinaryIO, offset: int, dtype: np.dtype, shape: tuple[int, ...], src: str
) -> np.ndarray:
    """``shape`` voxels of ``dtype`` from ``offset`` of an open file, into one array."""
    nbytes = math.prod(shape) * dtype.itemsize
    fh.seek(offset)
    out = np.empty(nbytes, np.uint8)
    got = fh.readinto(out.data)  # type: ignore[attr-defined]
    if got is None or got < nbytes:
        raise InputError(
            f"holds {got or 0} bytes of voxels, its header says {nbytes} "
            f"({'x'.join(map(str, shape))} {dtype.name}): cut short?",
            source=src,
        )
    return out.view(dtype).reshape(shape)


def _inflate(
    fh: BinaryIO, offset: int, packed: int | None, dtype: np.dtype, shape: tuple[int, ...], src: str
) -> np.ndarray:
    """zlib voxels from ``offset`` (at most ``packed`` compressed bytes), decompressed in
    chunks straight into one array: a zip bomb or a huge tail stops at the voxels' size."""
    nbytes = math.prod(shape) * dtype.itemsize
    out = np.empty(nbytes, np.uint8)
    filled = 0
    d = zlib.decompressobj()
    fh.seek(offset)
    left = packed if packed is not None else math.inf
    try:
        while filled < nbytes:
            if d.unconsumed_tail:
                data = d.unconsumed_tail
            else:
                if left <= 0:
                    break
                data = fh.read(int(min(_CHUNK, left)))
                if not data:
                    break
                left -= len(data)
            piece = d.decompress(data, nbytes - filled)
            out[filled : filled + len(piece)] = np.frombuffer(piece, np.uint8)
            filled += len(piece)
            if d.eof:
                break
    except zlib.error as exc:
        raise InputError(f"compressed voxels are damaged ({exc})", source=src) from None
    if filled < nbytes:
        raise InputError(
            f"compressed voxels end after {filled} of {nbytes} bytes: damaged or cut short",
            source=src,
        )
    return out.view(dtype).reshape(shape)


# --- MetaImage -------------------------------------------------------------------------------


def _metaimage_header(path: Path, src: str) -> tuple[dict[str, str], int]:
    """The header's fields and the offset just after its ``ElementDataFile`` line."""
    with open(path, "rb") as fh:
        head = fh.read(HEADER_LIMIT)
    fields: dict[str, str] = {}
    offset = 3 if head.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 byte-order mark
    while True:
        end = head.find(b"\n", offset)
        if end < 0:
            raise InputError(
                "not a MetaImage header (no ElementDataFile line, or no newline after it)",
                source=src,
            )
        text = head[offset:end].decode("latin-1").strip()
        offset = end + 1
        if not text:
            continue
        key, sep, value = text.partition("=")
        if not sep:
            raise InputError(f"not a MetaImage header (line {_short(text, 40)!r})", source=src)
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            return fields, offset


def _metaimage_layout(
    fields: dict[str, str], src: str
) -> tuple[np.dtype, tuple[int, ...], tuple[float, ...] | None]:
    """The voxel type, the shape (z first) and the spacing (m, z first) of a header."""
    try:
        dims = tuple(int(v) for v in fields["DimSize"].split())
        ndims = int(fields.get("NDims", len(dims)))
    except (KeyError, ValueError):
        raise InputError("not a MetaImage header (NDims / DimSize)", source=src) from None
    if len(dims) != ndims or ndims not in (2, 3) or min(dims) < 1:
        raise InputError(
            f"a MetaImage of dimensions {list(dims)} (NDims {ndims}): 2D or 3D, each >= 1",
            source=src,
        )
    if fields.get("BinaryData", "True").lower() != "true":
        raise InputError("an ASCII MetaImage (BinaryData = False): save it as binary", source=src)
    channels = fields.get("ElementNumberOfChannels", "1").strip() or "1"
    if channels != "1":
        raise InputError(
            f"a MetaImage of {_short(channels, 12)} channels: save one channel", source=src
        )
    kind = _MET_TYPES.get(fields.get("ElementType", ""))
    if kind is None:
        raise InputError(
            f"unsupported MetaImage element type {_short(fields.get('ElementType', ''), 30)!r}",
            source=src,
        )
    msb = fields.get("BinaryDataByteOrderMSB", fields.get("ElementByteOrderMSB", "False"))
    dtype = np.dtype((">" if msb.lower() == "true" else "<") + kind)
    shape = tuple(reversed(dims))  # x fastest in the file: z, y, x here
    spacing = None
    given = fields.get("ElementSpacing") or fields.get("ElementSize") or ""
    if given:
        try:
            edges = [float(v) for v in given.split()]
        except ValueError:
            edges = []
        if len(edges) == ndims and all(math.isfinite(e) and e > 0 for e in edges):
            spacing = tuple(e * 1e-3 for e in reversed(edges))  # ITK's millimetres
        else:
            log.warning(
                "%s: ElementSpacing %r is not %d positive numbers: ignored",
                src,
                _short(given, 40),
                ndims,
            )
    return dtype, shape, spacing


def read_metaimage(path: Path, src: str) -> np.ndarray:
    """The voxels of a MetaImage file, z first."""
    fields, local = _metaimage_header(path, src)
    dtype, shape, _ = _metaimage_layout(fields, src)
    nbytes = _check_size(shape, dtype.itemsize, src)
    name = fields["ElementDataFile"]
    if name == "LOCAL":
        data_path = path
        start = local
    elif name.split()[0].upper() == "LIST" or re.search(r"%\d*d", name):
        raise InputError(
            "a MetaImage of one file per slice (LIST): save it as one file", source=src
        )
    else:
        data_path = path.parent / name
        inside = not Path(name).is_absolute() and ".." not in Path(name).parts
        if not inside or not data_path.is_file():
            raise InputError(
                f"its data file {_short(name)!r} is not a file beside the header", source=src
            )
        if data_path.resolve() == path.resolve():
            raise InputError("its data file is the header itself", source=src)
        start = 0
    try:
        skip = int(fields.get("HeaderSize", "0"))
    except ValueError:
        raise InputError(
            f"HeaderSize {_short(fields['HeaderSize'], 20)!r} is not a number", source=src
        ) from None
    compressed = fields.get("CompressedData", "False").lower() == "true"
    size = data_path.stat().st_size
    with open(data_path, "rb") as fh:
        if compressed:
            if skip < 0:
                raise InputError("HeaderSize -1 with compressed data cannot be read", source=src)
            try:
                packed = (
                    int(fields["CompressedDataSize"]) if "CompressedDataSize" in fields else None
                )
            except ValueError:
                packed = None
            return _inflate(fh, start + skip, packed, dtype, shape, src)
        if skip == -1:  # the voxels are the file's last bytes
            start = size - nbytes
        elif skip >= 0:
            start += skip
        else:
            raise InputError(f"HeaderSize {skip}: it must be -1 or >= 0", source=src)
        if start < 0 or size - start < nbytes:
            raise InputError(
                f"holds {max(size - max(start, 0), 0)} bytes of voxels, its header says "
                f"{nbytes} ({'x'.join(map(str, shape))} {dtype.name}): cut short?",
                source=src,
            )
        extra = size - start - nbytes
        plane = nbytes // shape[0]
        if extra >= plane:
            raise InputError(
                f"holds {extra} bytes more than its header's {'x'.join(map(str, shape))} "
                f"{dtype.name} voxels: is DimSize (or HeaderSize) right?",
                source=src,
            )
        return _read_raw(fh, start, dtype, shape, src)


# --- AmiraMesh -------------------------------------------------------------------------------

_AM_DATA = re.compile(
    r"Lattice\s*\{\s*(\w+)(?:\[(\d+)\])?\s+\w+\s*\}\s*=?\s*@(\d+)"
    r"(?:\(\s*(\w+)\s*,\s*(\d+)\s*\))?"
)


def _amiramesh_header(path: Path, src: str) -> tuple[str, str, tuple[int, ...]]:
    """(first line, header text, lattice dims x y z) of an AmiraMesh file."""
    with open(path, "rb") as fh:
        head = fh.read(HEADER_LIMIT)
    first = head.split(b"\n", 1)[0].decode("latin-1").strip()
    if not first.startswith(("# AmiraMesh", "# Avizo")):
        raise InputError("not an AmiraMesh file (no '# AmiraMesh' first line)", source=src)
    if "BINARY" not in first:
        raise InputError("an ASCII AmiraMesh file: save it as binary in Avizo", source=src)
    text = head.decode("latin-1")
    size = re.search(r"define\s+Lattice\s+([^\n]*)", text)
    if size is None:
        raise InputError("not an AmiraMesh lattice (no 'define Lattice')", source=src)
    tokens = size.group(1).split()
    if not 2 <= len(tokens) <= 3 or not all(t.isdigit() and int(t) > 0 for t in tokens):
        raise InputError(
            f"'define Lattice {_short(size.group(1), 40)}': 2 or 3 whole numbers > 0 needed",
            source=src,
        )
    return first, text, tuple(int(t) for t in tokens)


def read_amiramesh(path: Path, src: str) -> np.ndarray:
    """The first lattice of an AmiraMesh file, z first."""
    first, text, dims = _amiramesh_header(path, src)
    match = _AM_DATA.search(text)
    if match is None:
        raise InputError("not an AmiraMesh lattice (no 'Lattice { ... } @1')", source=src)
    kind, count, block, codec, packed = match.groups()
    if count not in (None, "1"):
        raise InputError(
            f"an AmiraMesh lattice of {count} values per voxel: one needed", source=src
        )
    if kind not in _AM_TYPES:
        raise InputError(f"unsupported AmiraMesh element type {kind!r}", source=src)
    order = "<" if "LITTLE-ENDIAN" in first else ">"
    dtype = np.dtype(order + _AM_TYPES[kind])
    shape = tuple(reversed(dims))
    _check_size(shape, dtype.itemsize, src)
    marker = re.search(rf"\n@{block}[ \t\r]*\n", text[match.end() :])
    if marker is None:
        raise InputError(f"its data section @{block} is missing", source=src)
    start = match.end() + marker.end()
    with open(path, "rb") as fh:
        if codec is None:
            have = path.stat().st_size - start
            need = math.prod(shape) * dtype.itemsize
            if have < need:  # before allocating
                raise InputError(
                    f"holds {max(have, 0)} bytes of voxels, its header says {need} "
                    f"({'x'.join(map(str, shape))} {dtype.name}): cut short?",
                    source=src,
                )
            return _read_raw(fh, start, dtype, shape, src)
        if codec == "HxZip":
            return _inflate(fh, start, int(packed), dtype, shape, src)
        if codec != "HxByteRLE":
            raise InputError(f"unsupported AmiraMesh compression {codec}", source=src)
        fh.seek(start)
        size = int(packed)
        data = np.frombuffer(fh.read(min(size, path.stat().st_size)), np.uint8)
    out = np.empty(math.prod(shape) * dtype.itemsize, np.uint8)
    if _unrle(data, out) < out.size:
        raise InputError("run-length voxels end early: the file is damaged", source=src)
    return out.view(dtype).reshape(shape)


def _unrle(data: np.ndarray, out: np.ndarray) -> int:
    """Amira's HxByteRLE into ``out``: a count byte c; c < 128: the next byte c times, else
    c - 128 literal bytes. Returns the bytes written (compiled: a GB takes seconds)."""
    from ._rle import unrle

    return int(unrle(data, out))


def _amira_spacing(text: str, dims: tuple[int, ...], src: str) -> tuple[float, ...] | None:
    """The voxel (m, z first) from the top-level ``BoundingBox`` of ``Parameters`` (the
    voxel centres' span; its last value may close the block without a comma) and the unit."""
    box = None
    for m in re.finditer(rf"(?<![A-Za-z_])BoundingBox((?:\s+(?:{_NUMBER})){{6}})", text, re.I):
        depth = text.count("{", 0, m.start()) - text.count("}", 0, m.start())
        if depth == 1:  # Parameters { BoundingBox ... }, not a nested one
            box = m
            break
    if box is None:
        return None
    v = [float(t) for t in box.group(1).split()]
    spans: list[float | None] = [
        (v[2 * k + 1] - v[2 * k]) / (n - 1) if n > 1 else None for k, n in enumerate(dims)
    ]
    known = [e for e in spans if e is not None]
    if not known or not all(math.isfinite(e) and e > 0 for e in known):
        log.warning(
            "%s: BoundingBox %s gives no positive voxel size: ignored",
            src,
            _short(box.group(1).strip(), 60),
        )
        return None
    edges = [e if e is not None else known[0] for e in spans]
    unit = re.search(r'Coordinates\s+"([^"]{1,20})"', text)
    name = ""
    if unit:
        raw = unit.group(1).encode("latin-1")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = unit.group(1)  # a single-byte micro sign, say
    scale = _UNITS.get(name.strip().lower().replace("\u03bc", "\u00b5"))
    if scale is None:
        if max(edges) > min(edges) * 1.01:
            log.warning(
                "%s: voxel edges %s (x, y, z) in %s: cubic voxels are assumed; give "
                "--voxel-size DZ DY DX in m for box-shaped ones",
                src,
                ", ".join(f"{e:g}" for e in edges),
                f"unit {name!r}, which ionflow does not know" if name else "no stated unit",
            )
        return None
    return tuple(e * scale for e in reversed(edges))


def formats_voxel(path: Path) -> tuple[float, ...] | None:
    """The voxel edges (m, in the reader's array order) a MetaImage or AmiraMesh file states,
    or None; a file that cannot be read says why when its voxels are read."""
    src = str(path)
    try:
        if path.suffix.lower() == ".am":
            _, text, dims = _amiramesh_header(path, src)
            edges = _amira_spacing(text, dims, src)
            shape = tuple(reversed(dims))
        else:
            fields, _ = _metaimage_header(path, src)
            _, shape, edges = _metaimage_layout(fields, src)
            if edges is not None:
                log.warning(
                    "%s: ElementSpacing %s read as millimetres (ITK's convention; the file "
                    "states no unit): give --voxel-size in m if it is another (relative "
                    "conductivity and tortuosity do not depend on it)",
                    src,
                    fields.get("ElementSpacing") or fields.get("ElementSize"),
                )
    except InputError as exc:
        log.debug("%s: no voxel size (%s)", src, exc)
        return None
    return None if edges is None else _squeezed_edges(edges, shape)
