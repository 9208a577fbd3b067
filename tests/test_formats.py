"""MetaImage (.mhd / .mha) and AmiraMesh (.am) volumes: what ITK / 3D Slicer and Avizo write
(headers as SimpleITK 2.5 and Avizo write them), their voxel sizes, and hostile headers."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from ionflow import InputError, simulate
from ionflow.cli import main
from ionflow.generate import disks
from ionflow.io import read_array, read_image, read_pixel_size


@pytest.fixture(scope="module")
def volume():
    return disks((7, 9, 11), electrolyte_fraction=0.6, rng=2).astype(np.uint8) * 255


def _mhd_header(shape, kind="MET_UCHAR", spacing="0.5 0.5 2", data="LOCAL", compressed=None):
    """The header SimpleITK writes (x fastest: DimSize is x y z)."""
    lines = ["ObjectType = Image", f"NDims = {len(shape)}", "BinaryData = True"]
    lines += ["BinaryDataByteOrderMSB = False"]
    if compressed is not None:
        lines += ["CompressedData = True", f"CompressedDataSize = {compressed}"]
    else:
        lines += ["CompressedData = False"]
    lines += ["TransformMatrix = 1 0 0 0 1 0 0 0 1", "Offset = 0 0 0"]
    lines += [f"ElementSpacing = {spacing}", "DimSize = " + " ".join(map(str, shape[::-1]))]
    lines += [f"ElementType = {kind}", f"ElementDataFile = {data}"]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("form", ["mha", "mhd", "zlib"])
def test_metaimage_volumes(tmp_path, volume, form):
    raw = volume.tobytes()
    if form == "mha":
        path = tmp_path / "v.mha"
        path.write_bytes(_mhd_header(volume.shape) + raw)
    elif form == "mhd":
        path = tmp_path / "v.mhd"
        path.write_bytes(_mhd_header(volume.shape, data="v.raw"))
        (tmp_path / "v.raw").write_bytes(raw)
    else:
        packed = zlib.compress(raw)
        path = tmp_path / "v.mha"
        path.write_bytes(_mhd_header(volume.shape, compressed=len(packed)) + packed)
    assert_array_equal(read_array(path), volume)
    # ElementSpacing 0.5 0.5 2 (x y z) in ITK's millimetres: (dz, dy, dx) in m
    assert read_pixel_size(path) == pytest.approx((2e-3, 0.5e-3, 0.5e-3))
    res = simulate(read_image(path), pixel_size=read_pixel_size(path))
    assert res.relative_conductivity == pytest.approx(
        simulate(volume > 0, pixel_size=(2.0, 0.5, 0.5)).relative_conductivity, rel=1e-9
    )


def test_metaimage_2d_and_other_types(tmp_path):
    image = np.arange(24, dtype=np.int16).reshape(4, 6) - 5
    path = tmp_path / "s.mha"
    path.write_bytes(_mhd_header(image.shape, "MET_SHORT", "1 1") + image.tobytes())
    assert_array_equal(read_array(path), image)
    floats = np.linspace(0, 1, 60, dtype=np.float32).reshape(3, 4, 5)
    path = tmp_path / "f.mha"
    path.write_bytes(_mhd_header(floats.shape, "MET_FLOAT") + floats.tobytes())
    assert_array_equal(read_array(path), floats)


@pytest.mark.parametrize(
    "header, says",
    [
        (dict(data="../secret.raw"), "not a file beside the header"),
        (dict(data="/etc/passwd"), "not a file beside the header"),
        (dict(data="LIST"), "one file per slice"),
        (dict(kind="MET_STRING"), "unsupported MetaImage element type"),
        (dict(compressed=10), "compressed voxels are damaged"),
    ],
)
def test_hostile_metaimage_headers(tmp_path, volume, header, says):
    path = tmp_path / "h.mha"
    path.write_bytes(_mhd_header(volume.shape, **header) + b"\x00" * 16)
    with pytest.raises(InputError, match=says):
        read_array(path)


def test_metaimage_cut_short_or_huge(tmp_path, volume, capsys):
    path = tmp_path / "short.mha"
    path.write_bytes(_mhd_header(volume.shape) + volume.tobytes()[:-10])
    with pytest.raises(InputError, match="cut short"):
        read_array(path)
    huge = tmp_path / "huge.mha"
    huge.write_bytes(_mhd_header((100000, 100000, 100000)) + b"\x00")
    with pytest.raises(InputError, match="GiB"):
        read_array(huge)
    assert main(["simulate", str(path), str(huge), "--json", "--no-progress", "--jobs", "1"]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 2


def _am(shape, body, codec=None, unit='"µm"', box="0 5 0 4 0 12"):
    """A binary AmiraMesh lattice as Avizo writes it (x fastest: Lattice x y z)."""
    nx, ny, nz = shape[::-1]
    units = f"    Units {{\n        Coordinates {unit}\n    }}\n" if unit else ""
    data = "@1" if codec is None else f"@1({codec},{len(body)})"
    text = (
        "# AmiraMesh BINARY-LITTLE-ENDIAN 2.1\n\n\n"
        f"define Lattice {nx} {ny} {nz}\n\n"
        "Parameters {\n"
        f"{units}"
        f'    Content "{nx}x{ny}x{nz} byte, uniform coordinates",\n'
        f"    BoundingBox {box},\n"
        '    CoordType "uniform"\n'
        "}\n\n"
        f"Lattice {{ byte Data }} {data}\n\n"
        "# Data section follows\n@1\n"
    )
    return text.encode("utf-8") + body + b"\n"


def _rle(raw: bytes) -> bytes:
    """HxByteRLE: a count c < 128 repeats the next byte c times; c >= 128: c - 128 literals."""
    out, i = bytearray(), 0
    while i < len(raw):
        j = i
        while j < len(raw) and raw[j] == raw[i] and j - i < 127:
            j += 1
        if j - i > 2:
            out += bytes([j - i, raw[i]])
            i = j
        else:
            k = min(len(raw), i + 127)
            out += bytes([128 + k - i]) + raw[i:k]
            i = k
    return bytes(out)


@pytest.mark.parametrize("codec", [None, "HxByteRLE", "HxZip"])
def test_amiramesh_lattices(tmp_path, volume, codec):
    raw = volume.tobytes()
    body = {None: raw, "HxByteRLE": _rle(raw), "HxZip": zlib.compress(raw)}[codec]
    path = tmp_path / "v.am"
    path.write_bytes(_am(volume.shape, body, codec))
    assert_array_equal(read_array(path), volume)
    # BoundingBox spans the voxel centres: x 0..5 over 11, y 0..4 over 9, z 0..12 over 7, um
    assert read_pixel_size(path) == pytest.approx((2e-6, 0.5e-6, 0.5e-6))


def test_amiramesh_without_a_unit_and_refusals(tmp_path, volume, caplog):
    raw = volume.tobytes()
    path = tmp_path / "nounit.am"
    path.write_bytes(_am(volume.shape, raw, unit=None))
    assert read_pixel_size(path) is None  # box-shaped, in no unit: said, cubic assumed
    assert "cubic voxels are assumed" in caplog.text
    ascii_file = tmp_path / "ascii.am"
    ascii_file.write_bytes(_am(volume.shape, raw).replace(b"BINARY-LITTLE-ENDIAN", b"ASCII"))
    with pytest.raises(InputError, match="ASCII AmiraMesh"):
        read_array(ascii_file)
    short = tmp_path / "short.am"
    short.write_bytes(_am(volume.shape, raw[:-20]))
    with pytest.raises(InputError, match="cut short"):
        read_array(short)
    broken = tmp_path / "broken.am"
    broken.write_bytes(_am(volume.shape, _rle(raw)[:-30], "HxByteRLE"))
    with pytest.raises(InputError, match="damaged"):
        read_array(broken)
    not_am = tmp_path / "text.am"
    not_am.write_bytes(b"hello\n")
    with pytest.raises(InputError, match="not an AmiraMesh file"):
        read_array(not_am)


def test_cli_reads_them_in_a_folder(tmp_path, volume, capsys):
    (tmp_path / "v.am").write_bytes(_am(volume.shape, volume.tobytes()))
    (tmp_path / "v.mha").write_bytes(_mhd_header(volume.shape) + volume.tobytes())
    code = main(["simulate", str(tmp_path), "--json", "--no-progress", "--jobs", "1"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["shape"] for r in rows] == [[7, 9, 11]] * 2
    assert rows[0]["pixel_size"] == pytest.approx([2e-6, 0.5e-6, 0.5e-6])


def test_metaimage_header_size_and_data_file_checks(tmp_path, volume):
    """HeaderSize skips a preamble (-1: the voxels are the file's last bytes); the header
    itself, ASCII data and a file with more voxels than the header says are refused."""
    pre = b"\x07" * 100
    (tmp_path / "pre.raw").write_bytes(pre + volume.tobytes())
    for skip in ("100", "-1"):
        header = _mhd_header(volume.shape, data="pre.raw").replace(
            b"ElementType", f"HeaderSize = {skip}\nElementType".encode()
        )
        (tmp_path / "pre.mhd").write_bytes(header)
        assert_array_equal(read_array(tmp_path / "pre.mhd"), volume)
    (tmp_path / "self.mhd").write_bytes(_mhd_header((2, 2, 2), data="self.mhd"))
    with pytest.raises(InputError, match="the header itself"):
        read_array(tmp_path / "self.mhd")
    ascii_header = _mhd_header(volume.shape).replace(b"BinaryData = True", b"BinaryData = False")
    (tmp_path / "ascii.mha").write_bytes(ascii_header + b"0 255 " * 400)
    with pytest.raises(InputError, match="ASCII MetaImage"):
        read_array(tmp_path / "ascii.mha")
    (tmp_path / "more.mha").write_bytes(_mhd_header(volume.shape) + volume.tobytes() * 2)
    with pytest.raises(InputError, match="bytes more than its header"):
        read_array(tmp_path / "more.mha")
    (tmp_path / "nonl.mha").write_bytes(_mhd_header(volume.shape)[:-1] + b"\x01" * 5000)
    with pytest.raises(InputError, match="no newline after it") as err:
        read_array(tmp_path / "nonl.mha")
    assert len(str(err.value)) < 300


def test_a_compressed_tail_costs_nothing(tmp_path, volume):
    """The voxels are decompressed in chunks straight into their array: megabytes of junk
    after the stream are never read (the whole file was, before)."""
    packed = zlib.compress(volume.tobytes())
    path = tmp_path / "tail.mha"
    path.write_bytes(_mhd_header(volume.shape, compressed=len(packed)) + packed + bytes(10**7))
    assert_array_equal(read_array(path), volume)


def test_one_slice_volumes_read_as_2d_with_their_pixel(tmp_path, volume):
    plane = volume[:1]
    path = tmp_path / "one.mha"
    path.write_bytes(_mhd_header(plane.shape, spacing="0.5 0.25 2") + plane.tobytes())
    assert read_pixel_size(path) == pytest.approx((0.25e-3, 0.5e-3))  # (dy, dx), 2D
    assert simulate(read_image(path), pixel_size=read_pixel_size(path)).shape == (9, 11)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace(b"BoundingBox 0 5 0 4 0 12,\n    CoordType", b"CoordType").replace(
            b'"uniform"\n}', b'"uniform",\n    BoundingBox 0 5 0 4 0 12\n}'
        ),
        lambda t: t.replace(
            b"    BoundingBox",
            b"    Sub {\n        BoundingBox 0 1 0 1 0 1\n    }\n    BoundingBox",
        ),
        lambda t: t.replace(
            b"    BoundingBox", b"    SourceBoundingBox 0 1 0 1 0 1,\n    BoundingBox"
        ),
        lambda t: t.replace("µm".encode(), b"\xb5m"),
    ],
    ids=["last-without-comma", "nested-box-first", "prefixed-box-first", "latin-1-micro"],
)
def test_amiramesh_bounding_box_forms(tmp_path, volume, edit):
    path = tmp_path / "v.am"
    path.write_bytes(edit(_am(volume.shape, volume.tobytes())))
    assert read_pixel_size(path) == pytest.approx((2e-6, 0.5e-6, 0.5e-6))


def test_amiramesh_lattice_line_must_be_whole_numbers(tmp_path, volume):
    for bad in (b"define Lattice 11 9 7 2", b"define Lattice 11 9 7.5"):
        path = tmp_path / "bad.am"
        path.write_bytes(_am(volume.shape, volume.tobytes()).replace(b"define Lattice 11 9 7", bad))
        with pytest.raises(InputError, match="whole numbers"):
            read_array(path)


def test_review_forms(tmp_path, volume):
    """DREAM3D and others write `Lattice { ... } = @1`; a data file called list*.raw is not a
    LIST volume."""
    path = tmp_path / "eq.am"
    path.write_bytes(_am(volume.shape, volume.tobytes()).replace(b"} @1", b"} = @1", 1))
    assert_array_equal(read_array(path), volume)
    (tmp_path / "listing.raw").write_bytes(volume.tobytes())
    (tmp_path / "listing.mhd").write_bytes(_mhd_header(volume.shape, data="listing.raw"))
    assert_array_equal(read_array(tmp_path / "listing.mhd"), volume)
