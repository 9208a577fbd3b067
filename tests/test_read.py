"""Reading files as microscopy tools write them, and refusing what cannot be read or guessed.

Every file ionflow reads is hostile: a damaged or ambiguous file gets one line naming it and
the problem, never a traceback, a library's log lines, or a silently wrong answer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from numpy.testing import assert_array_equal
from PIL import Image

from ionflow import InputError, simulate
from ionflow.cli import main
from ionflow.generate import disks
from ionflow.io import read_array, read_image, read_pixel_size


@pytest.fixture(scope="module")
def truth():
    return disks((24, 24), electrolyte_fraction=0.7, rng=2)


@pytest.fixture(scope="module")
def volume():
    return disks((6, 20, 20), electrolyte_fraction=0.7, rng=3)


def _labels():
    """A three-phase label volume as TauFactor's example stores it: 0 pore, 85, 170."""
    vol = np.full((8, 10, 10), 85, np.uint8)
    vol[:, :4] = 0  # pore: a straight slab along axis 0, 40 % of the volume
    vol[:, 4:, :3] = 170
    return vol


# --- binary images, however they are stored ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encode"),
    [
        ("bool", lambda b: b),
        ("0-1 uint8", lambda b: b.astype(np.uint8)),
        ("0-255 uint8", lambda b: b.astype(np.uint8) * 255),
        ("0-65535 uint16", lambda b: b.astype(np.uint16) * 65535),
        ("0-1 int32", lambda b: b.astype(np.int32)),
        ("0-1 float32", lambda b: b.astype(np.float32)),
        ("0-0.5 float64", lambda b: b * 0.5),
    ],
)
@pytest.mark.parametrize("suffix", [".tif", ".npy"])
def test_binary_encodings_read_as_nonzero_conducts(tmp_path, truth, volume, name, encode, suffix):
    for image in (truth, volume):
        path = tmp_path / f"img{image.ndim}{suffix}"
        data = encode(image)
        np.save(path, data) if suffix == ".npy" else tifffile.imwrite(path, data)
        assert_array_equal(read_image(path), image, err_msg=name)


@pytest.mark.parametrize("mode", ["1", "L"])
def test_binary_png_and_bilevel_tiff(tmp_path, truth, mode):
    im = Image.fromarray(truth if mode == "1" else truth.astype(np.uint8) * 255).convert(mode)
    im.save(tmp_path / "a.png")
    im.save(tmp_path / "a.tif", compression="group4" if mode == "1" else "tiff_lzw")
    for name in ("a.png", "a.tif"):
        assert_array_equal(read_image(tmp_path / name), truth, err_msg=name)


# --- compression, bit depths, stacks -----------------------------------------------------------


@pytest.mark.parametrize("compression", [None, "zlib", "lzw", "zstd", "packbits", "lzma"])
def test_compressed_tiff_stacks(tmp_path, volume, compression):
    """LZW (Fiji/Bio-Formats, Dragonfly, Windows tools), deflate, zstd and PackBits stacks."""
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, volume.astype(np.uint8) * 255, compression=compression)
    assert_array_equal(read_image(path), volume)


def test_jpeg_tiff_is_read_and_thresholded(tmp_path, volume):
    path = tmp_path / "jpeg.tif"
    tifffile.imwrite(path, volume.astype(np.uint8) * 255, compression="jpeg")
    assert (read_image(path) == volume).mean() > 0.99  # lossy: gray levels at the edges


def test_pillow_multipage_lzw_stack(tmp_path, volume):
    pages = [Image.fromarray(s.astype(np.uint8) * 255) for s in volume]
    pages[0].save(
        tmp_path / "pil.tif", save_all=True, append_images=pages[1:], compression="tiff_lzw"
    )
    assert_array_equal(read_image(tmp_path / "pil.tif"), volume)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_grayscale_16bit_and_float_are_thresholded(tmp_path, truth, dtype):
    rng = np.random.default_rng(0)
    gray = np.where(truth, 30000.0, 12000.0) + rng.normal(0, 1500, truth.shape)
    if dtype == np.float32:
        gray = gray / 65535.0  # a float CT reconstruction, values in 0..1
    path = tmp_path / "gray.tif"
    tifffile.imwrite(path, gray.astype(dtype), compression="zlib")
    assert (read_image(path) == truth).mean() > 0.99  # Otsu between two well separated peaks


def test_imagej_stack_with_metadata(tmp_path, volume):
    """Fiji's Save As > Tiff of a z-stack: an ImageJ hyperstack ZYX with a calibration."""
    path = tmp_path / "fiji.tif"
    data = volume.astype(np.uint8) * 255
    tifffile.imwrite(
        path, data, imagej=True, resolution=(2.0, 2.0), metadata={"axes": "ZYX", "unit": "um"}
    )
    assert_array_equal(read_image(path), volume)
    assert read_pixel_size(path) == pytest.approx(0.5e-6)
    # the same stack as a hyperstack with one channel and one time point
    tifffile.imwrite(path, data[None, :, None], imagej=True, metadata={"axes": "TZCYX"})
    assert_array_equal(read_image(path), volume)


@pytest.mark.parametrize(
    ("shape", "axes", "what"),
    [
        ((6, 2, 20, 20), "ZCYX", "2 channels"),
        ((3, 20, 20), "CYX", "3 channels"),  # would have been read as a 3-slice volume
        ((2, 6, 1, 20, 20), "TZCYX", "2 time points"),  # one channel: axes TZYX
    ],
)
def test_hyperstack_with_channels_or_times_is_refused(tmp_path, shape, axes, what):
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, np.zeros(shape, np.uint8), imagej=True, metadata={"axes": axes})
    with pytest.raises(
        InputError, match=f"hyper.tif: holds {what}.*axes {axes.replace('TZC', 'TZ')}"
    ):
        read_image(path)


def test_a_stack_of_frames_alone_is_a_volume(tmp_path, volume, caplog):
    """Fiji easily calls a stack's slices frames (axes TYX, no Z): they are read as slices,
    with a warning; time points beside slices (TZYX) stay refused above."""
    path = tmp_path / "frames.tif"
    tifffile.imwrite(path, volume.astype(np.uint8) * 255, imagej=True, metadata={"axes": "TYX"})
    with caplog.at_level(logging.WARNING, logger="ionflow"):
        assert_array_equal(read_image(path), volume)
    assert any("frames.tif" in r.message and "time points" in r.message for r in caplog.records)


def test_inverting_lut_keeps_stored_values_and_says_so(tmp_path, truth, caplog):
    """ImageJ saves an image with an inverting LUT as PhotometricInterpretation white-is-zero."""
    path = tmp_path / "inverted.tif"
    tifffile.imwrite(path, truth.astype(np.uint8) * 255, photometric="miniswhite")
    with caplog.at_level(logging.WARNING, logger="ionflow"):
        assert_array_equal(read_image(path), truth)  # 255 (ImageJ's foreground) conducts
    assert any("inverted.tif" in r.message and "--invert" in r.message for r in caplog.records)


def test_pages_outside_the_first_series_are_named(tmp_path, truth, caplog):
    pages = [Image.fromarray(truth.astype(np.uint8) * 255), Image.fromarray(np.zeros((8, 8), "u1"))]
    pages[0].save(tmp_path / "mixed.tif", save_all=True, append_images=pages[1:])
    with caplog.at_level(logging.WARNING, logger="ionflow"):
        assert_array_equal(read_image(tmp_path / "mixed.tif"), truth)
    assert any("1 of 2 pages" in r.message for r in caplog.records)


# --- label images and ambiguous values: refuse, naming what was found -------------------------


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (_labels(), r"3 values: 0 \(40 %\), 85 \(42 %\), 170 \(18 %\)"),
        (_labels() // 85, r"3 values: 0 \(40 %\), 1 \(42 %\), 2 \(18 %\)"),
        (_labels().astype(np.float64), "3 values: 0 .*, 85 .*, 170 .*"),
        (1 + (_labels() > 0), r"2 values: 1 \(40 %\), 2 \(60 %\)"),  # no zero: not 0/1 binary
    ],
)
def test_label_images_are_refused_naming_the_labels(tmp_path, data, found):
    """Before: 85 and 170 (the solid) conducted and the answer was silently wrong."""
    for path in (tmp_path / "labels.tif", tmp_path / "labels.npy"):
        np.save(path, data) if path.suffix == ".npy" else tifffile.imwrite(path, data)
        with pytest.raises(InputError, match=f"looks like a label image \\({found}\\)") as exc:
            read_image(path)
        assert "--conductive-label" in str(exc.value) and str(path) in str(exc.value)
        assert "\n" not in str(exc.value)


def test_label_images_read_with_a_choice(tmp_path):
    path = tmp_path / "labels.tif"
    tifffile.imwrite(path, _labels(), compression="lzw")
    assert_array_equal(read_image(path, conductive_labels=[0]), _labels() == 0)
    assert_array_equal(read_image(path, labels=True), _labels())
    assert read_image(path, threshold=100).mean() == pytest.approx(0.18)  # as grayscale: 170
    # the pore slab runs straight along axis 0: sigma_eff / sigma is its fraction, 0.4
    res = simulate(read_image(path, conductive_labels=[0]))
    assert res.relative_conductivity == pytest.approx(0.4, rel=1e-9)


def test_cli_label_volume_one_line_in_simulate_and_predict(tmp_path, capsys):
    labels = tmp_path / "tomogram.tif"
    tifffile.imwrite(labels, _labels())
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.ones((8, 10, 10), np.uint8))
    for command in ("simulate", "predict"):
        code = main([command, str(labels), str(good), "--json", "--no-progress"])
        out, err = capsys.readouterr()
        assert code == 1, command
        assert err.count("\n") == 1 and "tomogram.tif: looks like a label image" in err
        assert [json.loads(line)["file"] for line in out.splitlines()] == [str(good)]
        assert main([command, str(labels), "--conductive-label", "0", "--json"]) == 0
        row = json.loads(capsys.readouterr().out)
        assert row["electrolyte_fraction"] == pytest.approx(0.4)


@pytest.mark.parametrize("values", [(-1, 0), (-1, 1), (-3,)])
def test_negative_values_in_a_binary_image_are_refused(tmp_path, truth, values):
    """Before: {-1, 0} took 0 (the larger) as electrolyte, against "nonzero conducts"."""
    data = np.where(truth, values[0], values[-1]).astype(np.int16)
    path = tmp_path / "signed.npy"
    np.save(path, data)
    with pytest.raises(InputError, match="signed.npy: has a negative value.*--conductive-label"):
        read_image(path)
    assert_array_equal(read_image(path, conductive_labels=[values[0]]), data == values[0])


def test_grayscale_is_not_taken_for_labels(tmp_path, truth):
    """Nine or more gray levels are a micrograph: thresholded, not refused."""
    gray = np.where(truth, 180, 60).astype(np.uint8) + (np.arange(24) % 9).astype(np.uint8)
    iio.imwrite(tmp_path / "gray.png", gray)
    assert_array_equal(read_image(tmp_path / "gray.png"), truth)


# --- damaged files: one line each, nothing else ------------------------------------------------


def _damaged(tmp_path, volume) -> dict[str, bytes]:
    stack = tmp_path / "src.tif"
    tifffile.imwrite(stack, volume.astype(np.uint8) * 255)
    tif = stack.read_bytes()
    tifffile.imwrite(stack, volume.astype(np.uint8) * 255, imagej=True)
    imagej = stack.read_bytes()
    tifffile.imwrite(stack, volume.astype(np.uint8) * 255, compression="zlib")
    deflate = bytearray(stack.read_bytes())
    with tifffile.TiffFile(stack) as f:
        start = f.pages.first.dataoffsets[0]
    deflate[start + 2 : start + 40] = bytes(38)  # zeros in the first compressed strip
    stack.unlink()
    iio.imwrite(tmp_path / "src.png", volume[0].astype(np.uint8) * 255)
    png = (tmp_path / "src.png").read_bytes()
    (tmp_path / "src.png").unlink()
    np.save(tmp_path / "src.npy", volume)
    npy = (tmp_path / "src.npy").read_bytes()
    (tmp_path / "src.npy").unlink()
    return {
        "bad_header.tif": b"II*\x00\xff\xff\xff\x7f" + bytes(64),  # first page beyond the end
        "cut_tags.tif": tif[:200],
        "cut_half.tif": tif[: len(tif) // 2],
        "cut_imagej.tif": imagej[: len(imagej) // 2],  # tifffile alone: one slice, no error
        "bad_deflate.tif": bytes(deflate),
        "empty.tif": b"",
        "text.tif": b"a text file, renamed\n",
        "cut.png": png[: len(png) // 2],
        "text.png": b"not a PNG at all",
        "cut.npy": npy[: len(npy) - 100],
        "bad_header.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': nonsense",
    }


def test_damaged_files_are_refused_with_a_reason(tmp_path, volume):
    for name, data in _damaged(tmp_path, volume).items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as exc:
            read_array(tmp_path / name)
        message = str(exc.value)
        assert message.startswith(f"{tmp_path / name}: ") and "\n" not in message, name
        assert "not a readable" in message or "empty" in message, message
        assert "no pixels" not in message
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="Python objects"):
        read_array(tmp_path / "objects.npy")
    (tmp_path / "folder.tif").mkdir()
    with pytest.raises(InputError, match="folder.tif: no image files .* in this folder"):
        read_image(tmp_path / "folder.tif")
    assert read_pixel_size(tmp_path / "bad_header.tif") is None


def test_tiff_reasons_are_the_libraries_in_words(tmp_path, volume):
    files = _damaged(tmp_path, volume)
    expect = {
        "bad_header.tif": "not a readable TIFF (invalid offset to first page 2147483647)",
        "text.tif": "not a readable TIFF (not a TIFF file",
        "cut_imagej.tif": "not a readable TIFF (ImageJ series metadata invalid",
    }
    for name, text in expect.items():
        (tmp_path / name).write_bytes(files[name])
        with pytest.raises(InputError, match=re.escape(f"{name}: {text}")):
            read_array(tmp_path / name)


def test_tifffile_log_passes_outside_reads(tmp_path, caplog):
    (tmp_path / "bad.tif").write_bytes(b"II*\x00\xff\xff\xff\x7f" + bytes(64))
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(InputError):
            read_array(tmp_path / "bad.tif")
        assert not [r for r in caplog.records if r.name == "tifffile"]  # held, then dropped
        logging.getLogger("tifffile").warning("a message of the user's own")
    assert [r.message for r in caplog.records if r.name == "tifffile"] == [
        "a message of the user's own"
    ]


def test_cli_prints_one_line_per_damaged_file_and_keeps_the_good(tmp_path, volume):
    """A whole process, as a user runs it: no tifffile log lines, no traceback."""
    names = []
    for name, data in _damaged(tmp_path, volume).items():
        (tmp_path / name).write_bytes(data)
        names.append(str(tmp_path / name))
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, volume.astype(np.uint8) * 255)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ionflow.cli", "simulate", *names, str(good)]
        + ["--json", "--jobs", "1", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    err = proc.stderr.splitlines()
    assert len(err) == len(names), proc.stderr
    for name in names:
        assert sum(line.startswith(f"ionflow: error: {name}: ") for line in err) == 1, name
    assert [json.loads(line)["file"] for line in proc.stdout.splitlines()] == [str(good)]


# --- colour, samples and hostile sizes: the file says what its last axis is -----------------


def _gray_u8(truth):
    return np.where(truth, 255, 0).astype(np.uint8)


def test_gray_with_alpha_is_the_gray_image(tmp_path, truth):
    """A PNG in mode LA and a TIFF with an alpha extra sample are 2D gray images (they were
    read as 2-slice volumes)."""
    gray = _gray_u8(truth)
    alpha = np.full(gray.shape, 255, np.uint8)
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(tmp_path / "la.png")
    tifffile.imwrite(
        tmp_path / "ga.tif", np.dstack([gray, alpha]), photometric="minisblack",
        extrasamples=["unassalpha"],
    )  # fmt: skip
    for name in ("la.png", "ga.tif"):
        assert_array_equal(read_image(tmp_path / name), truth)


def test_colour_is_what_the_file_says_not_what_the_shape_suggests(tmp_path, truth):
    gray = _gray_u8(truth)
    rgb = np.dstack([gray] * 3)
    Image.fromarray(rgb[:4, :4]).save(tmp_path / "tiny.png")  # RGB, 4x4: an image
    assert read_image(tmp_path / "tiny.png").shape == (4, 4)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb",
                     planarconfig="separate")  # fmt: skip
    assert_array_equal(read_image(tmp_path / "planar.tif"), truth)
    vol = np.where(disks((12, 16, 3), electrolyte_fraction=0.6, rng=1), 255, 0).astype(np.uint8)
    tifffile.imwrite(tmp_path / "zyx3.tif", vol, photometric="minisblack",
                     metadata={"axes": "ZYX"})  # fmt: skip
    np.save(tmp_path / "zyx3.npy", vol)
    for name in ("zyx3.tif", "zyx3.npy"):  # volumes 3 cells deep, not RGB images
        assert_array_equal(read_image(tmp_path / name), vol > 0)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert read_image(tmp_path / "cmyk.jpg").shape == truth.shape


def test_multi_sample_and_cmyk_tiffs_are_refused_in_one_line(tmp_path, truth):
    gray = _gray_u8(truth)
    tifffile.imwrite(tmp_path / "five.tif", np.dstack([gray] * 5), photometric="minisblack",
                     planarconfig="contig")  # fmt: skip
    Image.fromarray(np.dstack([gray] * 3)).convert("CMYK").save(tmp_path / "cmyk.tif")
    with pytest.raises(InputError, match=r"five\.tif: holds 5 samples per pixel"):
        read_image(tmp_path / "five.tif")
    with pytest.raises(InputError, match=r"cmyk\.tif: holds CMYK colour"):
        read_image(tmp_path / "cmyk.tif")


def test_time_types_and_squeezed_shapes_are_named_plainly(tmp_path):
    np.save(tmp_path / "td.npy", np.zeros((8, 8), "timedelta64[s]"))
    with pytest.raises(InputError, match=r"td\.npy: unsupported pixel type timedelta64"):
        read_image(tmp_path / "td.npy")
    with pytest.raises(InputError, match="non-numeric type"):
        simulate(np.zeros((8, 8), "timedelta64[s]"))
    np.save(tmp_path / "one.npy", np.ones((1, 1, 1), bool))
    with pytest.raises(InputError, match=r"got shape \(1, 1, 1\)"):
        read_image(tmp_path / "one.npy")


def test_a_huge_declared_image_is_refused_before_decoding(tmp_path, monkeypatch, truth):
    from ionflow import _freemem

    gray = _gray_u8(truth)
    tifffile.imwrite(tmp_path / "a.tif", gray, compression="zlib")
    Image.fromarray(gray).save(tmp_path / "a.png")
    np.save(tmp_path / "a.npy", gray)
    monkeypatch.setattr(_freemem, "available_memory", lambda: 100)  # bytes
    for name in ("a.tif", "a.png", "a.npy"):
        with pytest.raises(InputError, match=rf"a\.{name[2:]}: image 24x24 needs about"):
            read_image(tmp_path / name)


def test_pillow_size_warning_is_not_a_stray_line(tmp_path, monkeypatch, truth):
    import warnings

    Image.fromarray(_gray_u8(truth)).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # 576 pixels: Pillow would warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_array_equal(read_image(tmp_path / "a.png"), truth)


def test_unreadable_folder_and_dangling_link_get_one_line_each(tmp_path, monkeypatch, truth):
    from pathlib import Path

    from ionflow.io import expand_paths

    good = tmp_path / "ok"
    good.mkdir()
    Image.fromarray(_gray_u8(truth)).save(good / "a.png")
    os.symlink(tmp_path / "gone.png", good / "b.png")
    files = expand_paths([good])
    assert [Path(f).name for f in files] == ["a.png", "b.png"]
    with pytest.raises(InputError, match=r"b\.png: link target not found"):
        read_image(files[1])
    locked = tmp_path / "locked"
    locked.mkdir()
    real = Path.iterdir

    def iterdir(self):
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    assert expand_paths([locked, good / "a.png"]) == [str(locked), str(good / "a.png")]


# --- second fuzzing round ---------------------------------------------------------------


def test_a_palette_shows_gray_levels_or_holds_labels(tmp_path, truth):
    """A gray palette gives the gray levels it shows (white at index 0 conducts; the indices
    swapped the phases silently), a colour palette keeps its indices as labels (they were
    turned into luminances)."""
    cm = np.zeros((3, 256), np.uint16)
    cm[:, 0] = 65535  # index 0 white, 1 black
    tifffile.imwrite(tmp_path / "pal.tif", (~truth).astype(np.uint8), photometric="palette",
                     colormap=cm)  # fmt: skip
    assert_array_equal(read_image(tmp_path / "pal.tif"), truth)
    labels = np.indices((12, 12)).sum(0) % 3
    im = Image.fromarray(labels.astype(np.uint8), "P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    im.save(tmp_path / "lab.png")
    assert_array_equal(read_image(tmp_path / "lab.png", labels=True), labels)


def test_a_gif_animation_is_a_volume(tmp_path, volume):
    frames = [Image.fromarray(s.astype(np.uint8) * 255).convert("P") for s in volume]
    frames[0].save(tmp_path / "stack.gif", save_all=True, append_images=frames[1:])
    assert_array_equal(read_image(tmp_path / "stack.gif"), volume)


def test_extreme_voxel_anisotropy_is_refused_not_solved_wrongly():
    img = disks((8, 12, 10), electrolyte_fraction=0.7, rng=1)
    with pytest.raises(InputError, match="differ by more than 100x"):
        simulate(img, pixel_size=(1e-9, 1e-6, 1e-6))
    ok = simulate(img, pixel_size=(1e-7, 1e-6, 1e-6))  # 10x: real FIB-SEM voxels
    assert ok.relative_conductivity > 0


def test_segment_keeps_a_volume_three_cells_deep(tmp_path):
    vol = disks((16, 16, 3), electrolyte_fraction=0.7, rng=2)
    np.save(tmp_path / "vol3.npy", vol)
    assert main(["segment", str(tmp_path / "vol3.npy"), "--out", str(tmp_path / "out")]) == 0
    assert_array_equal(tifffile.imread(tmp_path / "out" / "vol3_binary.tif") > 0, vol)


def test_segment_checks_its_memory(tmp_path, monkeypatch, capsys, truth):
    from ionflow import _freemem
    from ionflow.cli import _solve

    Image.fromarray(truth.astype(np.uint8) * 255).save(tmp_path / "a.png")
    monkeypatch.setattr(_solve, "SEGMENT_BYTES_PER_CELL", 2**30)
    monkeypatch.setattr(_freemem, "available_memory", lambda: 2**31)
    assert main(["segment", str(tmp_path / "a.png"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a.png: image 24x24 needs about" in err[0]


def test_calibration_as_imagej_ome_and_thumbnails_write_it(tmp_path, volume, truth, caplog):
    """zunit is the slice spacing's unit; an unknown unit is said, not silently dropped; OME
    physical sizes are read; a thumbnail page does not make a 2D image a stack; a size out of
    range is ignored with a warning (metrics divided by it)."""
    data = volume.astype(np.uint8) * 255
    tifffile.imwrite(tmp_path / "z.tif", data, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "unit": "micron", "spacing": 500.0, "zunit": "nm"})  # fmt: skip
    assert read_pixel_size(tmp_path / "z.tif") == pytest.approx(5e-7)
    tifffile.imwrite(tmp_path / "f.tif", data, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "unit": "furlong"})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="ionflow"):
        assert read_pixel_size(tmp_path / "f.tif") is None
    assert any("'furlong' is not known" in r.message for r in caplog.records)
    tifffile.imwrite(tmp_path / "o.ome.tif", data, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                               "PhysicalSizeZ": 1.0})  # fmt: skip
    assert read_pixel_size(tmp_path / "o.ome.tif") == pytest.approx((1e-6, 5e-7, 5e-7))
    with tifffile.TiffWriter(tmp_path / "t.tif") as w:
        w.write(truth.astype(np.uint8) * 255, resolution=(1e4, 2e4), resolutionunit="CENTIMETER")
        w.write(np.zeros((8, 8), np.uint8))
    assert read_pixel_size(tmp_path / "t.tif") == pytest.approx((5e-7, 1e-6))
    tifffile.imwrite(tmp_path / "s.tif", data, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "unit": "um", "spacing": 1e300})  # fmt: skip
    assert read_pixel_size(tmp_path / "s.tif") is None


def test_a_jpeg_of_a_binary_image_is_thresholded_and_upright(tmp_path, truth):
    """JPEG noise gives a binary image a few gray levels: never a label image; the EXIF
    orientation a camera writes is applied, as viewers do."""
    Image.fromarray(truth.astype(np.uint8) * 255).save(tmp_path / "b.jpg", quality=95)
    assert (read_image(tmp_path / "b.jpg") == truth).mean() > 0.97
    tall = np.zeros((30, 20), np.uint8)
    tall[:, :5] = 255
    im = Image.fromarray(tall)
    exif = im.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: shown 20 high, 30 wide
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    assert read_image(tmp_path / "r.jpg").shape == (20, 30)


def test_shaped_tiff_claiming_more_images_than_pages_is_refused(tmp_path, volume):
    """tifffile reads a "shaped" series as one block from the first page's data: metadata that
    claims one image more than the pages made the page headers a slice of the volume."""
    stack = volume.astype(np.uint8) * 255
    n = stack.shape[0]
    path = tmp_path / "shaped.tif"
    tifffile.imwrite(path, stack)
    honest = json.dumps({"shape": list(stack.shape)}).encode()
    lie = json.dumps({"shape": [n + 1, *stack.shape[1:]]}).encode()
    assert len(honest) == len(lie)
    raw = path.read_bytes()
    assert raw.count(honest) == 1
    path.write_bytes(raw.replace(honest, lie))
    assert tifffile.TiffFile(path).series[0].shape[0] == n + 1  # what tifffile believes
    with pytest.raises(InputError, match=f"says {n + 1} images, the file holds {n}"):
        read_image(path)
    # one page written on purpose (tifffile's truncate=True, said in the metadata) still reads
    short = tmp_path / "truncated.tif"
    tifffile.imwrite(short, stack, truncate=True)
    assert len(tifffile.TiffFile(short).pages) == 1
    assert_array_equal(read_image(short), stack > 0)
