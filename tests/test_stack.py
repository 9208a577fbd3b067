"""A folder of 2D slices read as one volume (``--stack``; Fiji's Image Sequence, Avizo and
Dragonfly slice exports): natural order, matching slices, the first slice's pixel size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from numpy.testing import assert_array_equal

from ionflow import InputError, simulate
from ionflow.cli import main
from ionflow.generate import disks
from ionflow.io import read_image, read_pixel_size, slice_files, write_image


@pytest.fixture(scope="module")
def volume():
    # 12 slices: names z1 .. z12 sort wrongly as text (z10 before z2)
    return disks((12, 16, 14), electrolyte_fraction=0.7, rng=4)


def _slices(folder, volume, suffix=".png"):
    folder.mkdir()
    for k, plane in enumerate(volume, start=1):
        if suffix == ".tif":
            tifffile.imwrite(
                folder / f"z{k}.tif",
                plane.astype(np.uint8) * 255,
                imagej=True,
                resolution=(1 / 0.5, 1 / 0.5),
                metadata={"unit": "um"},
            )
        else:
            write_image(folder / f"z{k}{suffix}", plane)
    return folder


def test_a_folder_of_slices_is_the_volume_in_natural_order(tmp_path, volume):
    folder = _slices(tmp_path / "scan", volume)
    assert [f.name for f in slice_files(folder)][:3] == ["z1.png", "z2.png", "z3.png"]
    assert_array_equal(read_image(folder), volume)


def test_simulate_stack_equals_the_volume(tmp_path, volume, capsys):
    folder = _slices(tmp_path / "scan", volume)
    assert main(["simulate", str(folder), "--stack", "--json", "--no-progress"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["shape"] == [12, 16, 14]
    assert row["relative_conductivity"] == pytest.approx(
        simulate(volume).relative_conductivity, rel=1e-9
    )
    # without --stack the folder is a batch of 2D images, one row each
    assert main(["simulate", str(folder), "--json", "--no-progress", "--jobs", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 12


def test_other_commands_take_stacks(tmp_path, volume, capsys):
    folder = _slices(tmp_path / "scan", volume)
    for command in (["metrics", "--no-sizes", "--no-s2", "--json"], ["electrode", "--json"]):
        assert main([command[0], str(folder), "--stack", *command[1:]]) == 0
        row = json.loads(capsys.readouterr().out.splitlines()[0])
        assert row.get("shape", [12, 16, 14]) == [12, 16, 14]


def test_the_first_slice_gives_the_voxel_size(tmp_path, volume):
    folder = _slices(tmp_path / "scan", volume, ".tif")
    assert read_pixel_size(folder) == pytest.approx(0.5e-6)  # the depth taken equal


def test_slices_that_do_not_match_are_refused(tmp_path, volume, capsys):
    folder = _slices(tmp_path / "scan", volume)
    write_image(folder / "z13.png", np.ones((16, 15), bool))
    with pytest.raises(
        InputError, match="slice z13.png is 16x15 uint8, the first .z1.png. 16x14.*must match"
    ):
        read_image(folder)
    mixed = _slices(tmp_path / "mixed", volume)
    np.save(mixed / "z0.npy", volume[0])
    with pytest.raises(InputError, match="mixes file types"):
        read_image(mixed)
    (tmp_path / "empty").mkdir()
    assert main(["simulate", str(tmp_path / "empty"), "--stack", "--no-progress"]) == 1
    assert "no image files" in capsys.readouterr().err
    deep = tmp_path / "deep"
    deep.mkdir()
    tifffile.imwrite(deep / "a.tif", volume.astype(np.uint8))
    with pytest.raises(InputError, match="not one slice"):
        read_image(deep)


def test_missing_hidden_and_ambiguous_slices(tmp_path, volume, caplog):
    """A dangling link (an unfetched git-annex file) is a missing slice, not a shorter volume;
    hidden files (macOS ._z1.png) are no slices; z1 / Z01 have no order; a gap is said."""
    folder = _slices(tmp_path / "links", volume)
    (folder / "z5.png").unlink()
    (folder / "z5.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match="z5.png: link target not found"):
        read_image(folder)
    hidden = _slices(tmp_path / "hidden", volume)
    (hidden / "._z1.png").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble junk
    write_image(hidden / ".z0.png", volume[0])
    assert_array_equal(read_image(hidden), volume)
    twins = _slices(tmp_path / "twins", volume)
    write_image(twins / "z01.png", volume[0])
    with pytest.raises(InputError, match="sort as one"):
        read_image(twins)
    gap = _slices(tmp_path / "gap", volume)
    (gap / "z5.png").unlink()
    assert read_image(gap).shape[0] == 11
    assert "slice numbers skip (4 -> 6)" in caplog.text


def test_one_slice_stack_keeps_its_pixel(tmp_path, volume):
    folder = tmp_path / "one"
    folder.mkdir()
    tifffile.imwrite(
        folder / "z1.tif",
        volume[0].astype(np.uint8) * 255,
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.25),
        metadata={"unit": "um"},
    )
    size = read_pixel_size(folder)
    assert size == pytest.approx((0.25e-6, 0.5e-6))  # (dy, dx) of a 2D image
    assert simulate(read_image(folder), pixel_size=size).shape == (16, 14)


def test_names_that_sort_wrongly_or_alike(tmp_path, volume):
    """Depths with decimals sort by value (0.25 before 0.5 before 1.5); one slice saved twice
    with two suffixes is ambiguous; non-ASCII digits are text, not a crash."""
    folder = tmp_path / "depths"
    folder.mkdir()
    for k, depth in enumerate(("0.25", "0.5", "1.5", "10.25")):
        write_image(folder / f"z_{depth}um.png", volume[k])
    assert_array_equal(read_image(folder), volume[:4])
    twice = _slices(tmp_path / "twice", volume, ".tif")
    write_image(twice / "z1.tiff", volume[0])
    with pytest.raises(InputError, match="sort as one"):
        read_image(twice)
    odd = tmp_path / "odd"
    odd.mkdir()
    write_image(odd / "\u00b21.png", volume[0])
    write_image(odd / "\u00b22.png", volume[1])
    assert read_image(odd).shape == (2, 16, 14)
