"""Field files for Fiji (float32 ImageJ TIFF) and ParaView (VTK image data), with voxel size."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose

from ionflow import InputError, simulate
from ionflow.cli import main
from ionflow.generate import blobs
from ionflow.io import check_field_formats, read_pixel_size, write_fields, write_image


@pytest.fixture(scope="module")
def solved():
    """A 3D result with anisotropic voxels (30 x 20 x 10 nm), flow along axis 1."""
    img = blobs((12, 10, 8), electrolyte_fraction=0.6, rng=0)
    return simulate(img, axis=1, fields=True, pixel_size=(3e-8, 2e-8, 1e-8))


def test_tiff_stacks_are_float32_with_the_voxel_size_for_fiji(solved, tmp_path):
    written = write_fields(
        tmp_path,
        "s",
        solved.potential,
        solved.current_density,
        pixel_size=solved.pixel_size,
        formats=("tif",),
        info="flow along axis 1",
    )
    assert [p.name for p in written] == [
        "s_potential.tif",
        "s_current_magnitude.tif",
        "s_current_z.tif",
        "s_current_y.tif",
        "s_current_x.tif",
    ]
    with tifffile.TiffFile(tmp_path / "s_potential.tif") as tif:
        meta = tif.imagej_metadata
        phi = tif.asarray()
    assert tif.is_imagej and phi.dtype == np.float32 and phi.shape == (12, 10, 8)
    assert meta["unit"] == "um" and meta["spacing"] == pytest.approx(0.03)
    assert "flow along axis 1" in meta["Info"] and "potential (V)" in meta["Info"]
    assert_allclose(phi, solved.potential.astype(np.float32), equal_nan=True)
    # ionflow reads the voxel size back (Fiji reads the same ImageJ fields)
    assert_allclose(read_pixel_size(tmp_path / "s_potential.tif"), (3e-8, 2e-8, 1e-8))
    j = solved.current_density
    for d, letter in enumerate("zyx"):
        assert_allclose(tifffile.imread(tmp_path / f"s_current_{letter}.tif"), j[d], rtol=1e-6)
    mag = tifffile.imread(tmp_path / "s_current_magnitude.tif")
    assert_allclose(mag, np.sqrt((j**2).sum(axis=0)), rtol=1e-6)


def test_tiff_without_a_pixel_size_is_in_pixels(tmp_path):
    res = simulate(blobs((16, 12), electrolyte_fraction=0.7, rng=1), fields=True)
    write_fields(tmp_path, "p", res.potential, res.current_density, formats=["tif"])
    with tifffile.TiffFile(tmp_path / "p_current_y.tif") as tif:
        assert tif.series[0].axes == "YX" and "unit" not in tif.imagej_metadata
    assert read_pixel_size(tmp_path / "p_current_y.tif") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "p_current_magnitude.tif",
        "p_current_x.tif",
        "p_current_y.tif",
        "p_potential.tif",
    ]


def _vti(path):
    """Header and the raw appended arrays of a .vti written with raw encoding (pyevtk)."""
    data = path.read_bytes()
    head, _, raw = data.partition(b'<AppendedData encoding="raw">')
    root = ET.fromstring(head + b"</VTKFile>")
    raw = raw[raw.index(b"_") + 1 :]
    arrays = {}
    for a in root.iter("DataArray"):
        offset = int(a.get("offset"))
        size = int(np.frombuffer(raw[offset : offset + 8], "<u8")[0])
        comps = int(a.get("NumberOfComponents", "1"))
        values = np.frombuffer(raw[offset + 8 : offset + 8 + size], "<f4")
        arrays[a.get("Name")] = values.reshape(-1, comps) if comps > 1 else values
    return root.find("ImageData"), arrays


def test_vti_for_paraview_has_the_spacing_and_the_fields(solved, tmp_path):
    (path,) = write_fields(
        tmp_path,
        "s",
        solved.potential,
        solved.current_density,
        pixel_size=solved.pixel_size,
        formats=("vti",),
    )
    assert path.name == "s_fields.vti"
    grid, arrays = _vti(path)
    # VTK's (x, y, z) is the array's (axis 2, axis 1, axis 0); spacing in micrometres
    assert grid.get("WholeExtent").split() == ["0", "8", "0", "10", "0", "12"]
    assert_allclose([float(v) for v in grid.get("Spacing").split()], [0.01, 0.02, 0.03])
    # cells in VTK order (x fastest) are the C order of the (z, y, x) array
    assert_allclose(arrays["potential"], solved.potential.ravel(), rtol=1e-6, equal_nan=True)
    j = solved.current_density
    for c, d in enumerate((2, 1, 0)):  # VTK x, y, z = array axes 2, 1, 0
        assert_allclose(arrays["current_density"][:, c], j[d].ravel(), rtol=1e-5, atol=1e-3)


def test_vti_reads_in_vtk(solved, tmp_path):
    """The file as ParaView reads it (VTK's own XML reader), where VTK is installed."""
    vtk = pytest.importorskip("vtk")
    from vtk.util.numpy_support import vtk_to_numpy

    (path,) = write_fields(
        tmp_path, "s", solved.potential, solved.current_density, formats=("vti",)
    )
    reader = vtk.vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    out = reader.GetOutput()
    assert out.GetDimensions() == (9, 11, 13) and out.GetSpacing() == (1.0, 1.0, 1.0)
    phi = vtk_to_numpy(out.GetCellData().GetArray("potential")).reshape(12, 10, 8)
    assert_allclose(phi, solved.potential, rtol=1e-6, equal_nan=True)


def test_2d_vti_is_one_cell_thick(tmp_path):
    res = simulate(blobs((10, 14), electrolyte_fraction=0.7, rng=2), fields=True, axis=1)
    (path,) = write_fields(tmp_path, "f", res.potential, res.current_density, formats=["vti"])
    grid, arrays = _vti(path)
    assert grid.get("WholeExtent").split() == ["0", "14", "0", "10", "0", "1"]
    assert_allclose(arrays["current_density"][:, 0], res.current_density[1].ravel(), rtol=1e-5)
    assert not arrays["current_density"][:, 2].any()


def test_formats_are_checked():
    assert check_field_formats(None) == ("tif", "png")
    assert check_field_formats("TIF, .vti,tif") == ("tif", "vti")
    with pytest.raises(InputError, match="unknown field format.*vtk"):
        check_field_formats("tif,vtk")


def test_cli_fields_format_and_size(tmp_path, capsys):
    img = blobs((16, 16, 16), electrolyte_fraction=0.6, rng=3)
    write_image(tmp_path / "vol.npy", img)
    out = tmp_path / "f"
    args = ["--fields", str(out), "--fields-format", "tif,vti,npy", "--pixel-size", "1e-7"]
    assert main(["simulate", str(tmp_path / "vol.npy"), *args, "--json"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "vol_current_density.npy",
        "vol_current_magnitude.tif",
        "vol_current_x.tif",
        "vol_current_y.tif",
        "vol_current_z.tif",
        "vol_fields.vti",
        "vol_potential.npy",
        "vol_potential.tif",
    ]
    for name in names:  # float32 for Fiji and ParaView, float64 kept in the .npy
        if name.endswith(".tif"):
            assert tifffile.imread(out / name).dtype == np.float32
    assert np.load(out / "vol_potential.npy").dtype == np.float64
    assert_allclose(read_pixel_size(out / "vol_current_x.tif"), (1e-7,) * 3)
    assert (
        main(
            ["simulate", str(tmp_path / "vol.npy"), "--fields", str(out), "--fields-format", "bmp"]
        )
        == 1
    )
    assert re.search(r"unknown field format\(s\) bmp", capsys.readouterr().err)
