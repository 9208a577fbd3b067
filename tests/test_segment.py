"""Segmentation of grayscale micrographs, `ionflow segment`, and pixel sizes from TIFF tags."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose

from ionflow import InputError, simulate
from ionflow.cli import main
from ionflow.generate import disks
from ionflow.io import crop_image, read_image, read_pixel_size, remove_specks, segment

BAR = 8  # rows of the information bar under the synthetic micrograph


@pytest.fixture
def micrograph():
    """A noisy 8-bit 'SEM image' of disks (dark particles in bright electrolyte) + an info bar.

    Returns (image with the bar, truth without it).
    """
    rng = np.random.default_rng(7)
    truth = disks((64, 64), electrolyte_fraction=0.7, rng=1)
    gray = np.where(truth, 170.0, 80.0) + rng.normal(0.0, 25.0, truth.shape)
    bar = np.full((BAR, 64), 255.0)
    bar[2:6, 4:30] = 0.0  # scale bar text: black on white
    image = np.clip(np.vstack([gray, bar]), 0, 255).astype(np.uint8)
    return image, truth


def test_crop_and_median_recover_the_truth(micrograph):
    image, truth = micrograph
    binary, threshold = segment(image, crop=(0, BAR, 0, 0), denoise="median", return_threshold=True)
    assert binary.shape == truth.shape and binary.dtype == bool
    # measured 98.97 % with this seed (96 % without denoising); the gray levels are 80 / 170
    assert (binary == truth).mean() > 0.98
    assert 80 < threshold < 170


def test_nlmeans_denoising_recovers_the_truth(micrograph):
    image, truth = micrograph
    binary = segment(image, crop=(0, BAR, 0, 0), denoise="nlmeans")
    assert (binary == truth).mean() > 0.97  # measured 98.1 %


def test_crop_fractions_match_pixels(micrograph):
    image, _ = micrograph
    h, w = image.shape
    assert crop_image(image, (0, 0.11, 0, 0)).shape == (h - round(0.11 * h), w)  # 8 rows
    assert_allclose(crop_image(image, (0, 0.11, 0, 0)), crop_image(image, (0, BAR, 0, 0)))
    assert crop_image(image, (0.25, 0, 0.5, 0.0)).shape == (h - h // 4, w // 2)
    volume = np.zeros((3, 20, 10))
    assert crop_image(volume, (2, 0.1, 0, 0.5)).shape == (3, 16, 5)  # (y, x) of every slice
    with pytest.raises(InputError, match="removes the whole .* image"):
        crop_image(image, (0.5, 0.5, 0, 0))
    with pytest.raises(InputError, match="fraction below 1"):
        crop_image(image, (1.5, 0, 0, 0))


def test_specks_of_both_phases_are_removed():
    truth = np.zeros((32, 32), bool)
    truth[:, 8:24] = True  # a band of electrolyte
    noisy = truth.copy()
    noisy[[4, 10, 20], [2, 28, 4]] = True  # electrolyte specks in the particles
    noisy[5:7, 12:14] = False  # a 2x2 particle speck in the electrolyte
    noisy[25, 20] = False
    assert_allclose(remove_specks(noisy, 5), truth)
    assert_allclose(segment(noisy.astype(np.uint8) * 200, min_size=5), truth)
    assert_allclose(remove_specks(noisy, 0), noisy)  # 0 keeps everything


def test_read_image_applies_the_same_options(tmp_path, micrograph):
    image, truth = micrograph
    path = tmp_path / "sem.png"
    iio.imwrite(path, image)
    direct = segment(image, crop=(0, BAR, 0, 0), denoise="median", min_size=4)
    read = read_image(path, crop=(0, 0.11, 0, 0), denoise="median", min_size=4)
    assert_allclose(read, direct)
    inverted = read_image(path, crop=(0, BAR, 0, 0), denoise="median", min_size=4, invert=True)
    assert_allclose(inverted, ~direct)


def test_cli_segment_writes_binary_and_preview(tmp_path, micrograph, capsys):
    image, truth = micrograph
    iio.imwrite(tmp_path / "sem.png", image)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(tmp_path / "broken.png"),
            str(tmp_path / "sem.png"),
            "--crop", "0", "0.11", "0", "0",
            "--denoise", "median",
            "--out", str(out),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.count("\n") == 1 and "broken.png" in captured.err
    line = captured.out.strip()
    assert "electrolyte_fraction=" in line and "threshold=" in line
    binary = iio.imread(out / "sem_binary.png") > 0
    assert binary.shape == truth.shape and (binary == truth).mean() > 0.98
    fraction = float(line.split("electrolyte_fraction=")[1].split()[0])
    assert_allclose(fraction, binary.mean(), atol=1e-6)
    preview = iio.imread(out / "sem_segmentation.png")
    assert preview.ndim == 3 and preview.shape[1] > preview.shape[0]  # side by side, in colour


def test_cli_simulate_reads_with_segmentation_options(tmp_path, micrograph, capsys):
    image, truth = micrograph
    iio.imwrite(tmp_path / "sem.png", image)
    code = main(
        [
            "simulate", str(tmp_path / "sem.png"), "--json", "--jobs", "1",
            "--crop", "0", str(BAR), "0", "0", "--denoise", "median", "--min-size", "4",
        ]
    )  # fmt: skip
    row = json.loads(capsys.readouterr().out)
    assert code == 0
    expected = simulate(segment(image, crop=(0, BAR, 0, 0), denoise="median", min_size=4))
    assert_allclose(row["relative_conductivity"], expected.relative_conductivity, rtol=1e-10)


@pytest.mark.parametrize(
    ("resolution", "unit", "metres"),
    [(1e4, "CENTIMETER", 1e-6), (25400.0, "INCH", 1e-6), (2.0e3, "CENTIMETER", 5e-6)],
)
def test_tiff_resolution_round_trip(tmp_path, resolution, unit, metres):
    path = tmp_path / "tagged.tif"
    image = np.ones((4, 4), np.uint8)
    tifffile.imwrite(path, image, resolution=(resolution, resolution), resolutionunit=unit)
    assert_allclose(read_pixel_size(path), metres, rtol=1e-9)


def test_no_or_meaningless_tags_give_none(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", np.ones((4, 4), np.uint8))
    tifffile.imwrite(
        tmp_path / "dpi.tif", np.ones((4, 4), np.uint8), resolution=(72, 72), resolutionunit="INCH"
    )
    iio.imwrite(tmp_path / "plain.png", np.ones((4, 4), np.uint8))
    (tmp_path / "broken.tif").write_bytes(b"II*\x00junk")
    for name in ("plain.tif", "dpi.tif", "plain.png", "broken.tif", "missing.tif"):
        assert read_pixel_size(tmp_path / name) is None, name


def test_imagej_and_fei_metadata(tmp_path):
    volume = np.ones((4, 8, 8), np.uint8)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(
        path, volume, imagej=True, resolution=(2.0, 2.0), metadata={"spacing": 0.5, "unit": "um"}
    )
    assert_allclose(read_pixel_size(path), 0.5e-6, rtol=1e-9)  # 2 pixels per micron
    text = "[Scan]\nPixelWidth=1.5e-08\nPixelHeight=1.5e-08\n"
    path = tmp_path / "fei.tif"
    tifffile.imwrite(path, volume[0], extratags=[(34682, "s", 0, text, True)])
    assert_allclose(read_pixel_size(path), 1.5e-8, rtol=1e-12)


def test_simulate_uses_the_tiff_pixel_size(tmp_path, capsys):
    image = disks((32, 32), electrolyte_fraction=0.7, rng=3).astype(np.uint8) * 255
    tifffile.imwrite(tmp_path / "a_plain.tif", image)
    tifffile.imwrite(
        tmp_path / "b_tagged.tif", image, resolution=(1e4, 1e4), resolutionunit="CENTIMETER"
    )
    assert main(["simulate", str(tmp_path), "--json", "--jobs", "1"]) == 0
    plain, tagged = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert plain["pixel_size"] is None and plain["length"] == 1.0  # the l = A = 1 convention
    assert tagged["pixel_size"] == pytest.approx(1e-6)
    h = 1e-6
    assert_allclose(tagged["length"], 32 * h)
    assert_allclose(tagged["area"], 32 * h * 32 * h)  # a 2D image is a prism of depth l
    # sigma_eff is intensive: the same in both conventions; I = sigma_eff V A / l
    assert_allclose(tagged["conductivity"], plain["conductivity"], rtol=1e-12)
    assert_allclose(tagged["current"], plain["conductivity"] * 32 * h, rtol=1e-12)
    assert_allclose(tagged["resistance"], 1.0 / tagged["current"], rtol=1e-12)
    # --pixel-size overrides the tag
    assert main(["simulate", str(tmp_path / "b_tagged.tif"), "--json", "--pixel-size", "2e-6"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["pixel_size"] == 2e-6
    assert_allclose(row["length"], 64e-6, rtol=1e-12)


def test_cli_segment_rerun_skips_its_own_outputs(tmp_path, micrograph, capsys):
    image, _ = micrograph
    iio.imwrite(tmp_path / "sem.png", image)
    for _ in range(2):  # outputs next to the inputs, then segment the same folder again
        assert main(["segment", str(tmp_path), "--out", str(tmp_path)]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(str(tmp_path / "sem.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sem.png",
        "sem_binary.png",
        "sem_segmentation.png",
    ]


def test_denoising_an_image_too_small_for_its_filter_is_named():
    from ionflow import InputError
    from ionflow.io import segment

    for method in ("median", "nlmeans"):
        with pytest.raises(InputError, match=r"x\.png: image too small to denoise \(2x9\)"):
            segment(np.arange(18.0).reshape(2, 9), denoise=method, source="x.png")


def test_segment_refuses_a_label_image_unless_told_how(label_tiff, tmp_path, capsys):
    """Otsu cut a 0/85/170 label image into two phases by the labels' numbers, exit 0, while
    every other command refuses to guess; a --threshold still cuts it on purpose."""
    path, _ = label_tiff
    assert main(["segment", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "looks like a label image" in err and "--threshold" in err
    assert main(["segment", str(path), "--out", str(tmp_path / "out"), "--threshold", "100"]) == 0
