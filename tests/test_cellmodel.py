"""Cell-model export (ionflow.cellmodel): definitions on known geometries, the file, PyBaMM."""

import json
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import ionflow
from ionflow import InputError
from ionflow.cellmodel import (
    FORMAT,
    apply_to_bpx,
    electrode_parameters,
    parameter_document,
    pybamm_updates,
    read_parameters,
    write_parameters,
)

H = 1e-6  # voxel edge (m)


def channels(n=16, width=4, period=8):
    """Straight electrolyte slabs along axis 0 (flow), ``width`` of every ``period`` cells."""
    img = np.zeros((n, n, n), bool)
    for start in range(0, n, period):
        img[:, :, start : start + width] = True
    return img


def test_straight_channels_are_exact():
    """Channels along the flow: B = eps, tau = 1, b = 1; the surface of flat grid-aligned
    interfaces reads 2/3 of its area (the isotropic face-count correction, documented)."""
    img = channels()
    p = electrode_parameters(img, pixel_size=H, axis=0)
    assert_allclose(p.porosity, 0.5)
    assert_allclose(p.transport_efficiency, 0.5, rtol=1e-8)
    assert_allclose(p.tortuosity_factor, 1.0, rtol=1e-8)
    assert_allclose(p.bruggeman_exponent, 1.0, rtol=1e-7)
    # interfaces inside the image: planes x = 4, 8, 12 (x = 0 and 16 are the image's faces)
    area = 3 * (16 * H) ** 2 * 2 / 3
    assert_allclose(p.surface_area, area / (16 * H) ** 3, rtol=1e-12)
    assert p.reactive_surface_area == p.surface_area
    assert_allclose(p.particle_radius, 3 * 0.5 / p.surface_area, rtol=1e-12)


def test_bruggeman_definition_and_provenance():
    img = ionflow.generate.disks((24, 24, 24), electrolyte_fraction=0.45, rng=4)
    p = electrode_parameters(img, pixel_size=H, electrode="negative", source="gen")
    assert_allclose(p.porosity**p.bruggeman_exponent, p.transport_efficiency, rtol=1e-10)
    assert_allclose(p.porosity ** (1 - p.bruggeman_exponent), p.tortuosity_factor, rtol=1e-10)
    assert p.tortuosity_factor > 1 and p.bruggeman_exponent > 1
    assert_allclose(p.active_material_fraction, 1 - p.porosity)
    assert p.provenance["source"] == "gen" and p.provenance["voxel size [m]"] == H
    assert p.domain == "Negative"


def test_sphere_radius_is_recovered():
    """One sphere of radius 8 voxels: R = 3 eps_am / a is its radius within a few %."""
    n, r = 32, 8.0
    z, y, x = np.indices((n, n, n)) - (n - 1) / 2
    img = (x**2 + y**2 + z**2) > r**2  # electrolyte around one active sphere
    p = electrode_parameters(img, pixel_size=H)
    assert_allclose(p.particle_radius, r * H, rtol=0.04)


def test_three_phase_labels():
    """Electrolyte 0, active 1, binder 2: binder coats part of the active surface."""
    lab = np.ones((24, 24, 24), np.uint8)
    lab[:, :, :8] = 0
    lab[:, :, 8:10] = 2  # a binder layer between electrolyte and active at x = 8..10
    lab[:12, :, 8:10] = 1  # ... over half the height only
    p = electrode_parameters(lab, pixel_size=H, electrolyte=0, active=1)
    assert_allclose(p.porosity, 8 / 24)
    assert_allclose(p.active_material_fraction, (24 * 24 * 14 + 12 * 24 * 2) / 24**3)
    assert p.reactive_surface_area < p.surface_area
    with pytest.raises(InputError, match="active"):
        electrode_parameters(lab, pixel_size=H, electrolyte=0)
    with pytest.raises(InputError, match="electrolyte=L, --electrolyte L"):
        electrode_parameters(lab, pixel_size=H)


def test_errors_are_for_people():
    img = channels()
    with pytest.raises(InputError, match="voxel size"):
        electrode_parameters(img, pixel_size=None)
    with pytest.raises(InputError, match="does not connect"):  # across the slabs
        electrode_parameters(img, pixel_size=H, axis=2)
    with pytest.raises(InputError, match="positive"):
        electrode_parameters(img, pixel_size=H, electrode="anode")


def test_file_round_trip_and_bpx(tmp_path):
    img = ionflow.generate.disks((20, 20, 20), electrolyte_fraction=0.5, rng=1)
    pos = electrode_parameters(img, pixel_size=H, thickness=70e-6)
    neg = electrode_parameters(~img, pixel_size=2 * H, electrode="negative")
    path = write_parameters(tmp_path / "cell.json", [pos, neg])
    doc = json.loads(path.read_text())
    assert doc["Header"]["Format"] == FORMAT
    section = doc["Parameterisation"]["Positive electrode"]
    assert section["Porosity"] == pos.porosity and section["Thickness [m]"] == 70e-6
    assert "Thickness [m]" not in doc["Parameterisation"]["Negative electrode"]
    user = doc["User-defined"]
    assert user["Negative electrode Bruggeman coefficient (electrolyte)"] == neg.bruggeman_exponent
    back = read_parameters(path)
    assert back == {"positive": pos, "negative": neg}
    # a hand edit of a BPX value counts
    section["Porosity"] = 0.3
    assert read_parameters(doc)["positive"].porosity == 0.3
    full = {"Header": {"BPX": "1.0.0"}, "Parameterisation": {"Positive electrode": {"OCP [V]": 1}}}
    merged = apply_to_bpx(full, pos)
    assert merged["Parameterisation"]["Positive electrode"]["OCP [V]"] == 1
    assert merged["Parameterisation"]["Positive electrode"]["Transport efficiency"] == (
        pos.transport_efficiency
    )
    assert "Transport efficiency" not in full["Parameterisation"]["Positive electrode"]
    with pytest.raises(InputError, match="not an ionflow"):
        read_parameters({"Header": {}})
    with pytest.raises(InputError, match="one parameter set per electrode"):
        parameter_document([pos, pos])


def test_pybamm_updates_need_no_pybamm():
    img = ionflow.generate.disks((20, 20, 20), electrolyte_fraction=0.5, rng=1)
    p = electrode_parameters(img, pixel_size=H)
    up = pybamm_updates(p)
    assert up["Positive electrode porosity"] == p.porosity
    assert up["Positive electrode Bruggeman coefficient (electrolyte)"] == p.bruggeman_exponent
    assert up["Positive particle radius [m]"] == p.particle_radius
    assert "Positive electrode thickness [m]" not in up
    assert "Positive electrode active material volume fraction" not in pybamm_updates(
        p, active_fraction=False
    )


def test_rev_interval_is_kept():
    img = ionflow.generate.disks((32, 32, 32), electrolyte_fraction=0.5, rng=2)
    p = electrode_parameters(img, pixel_size=H, rev={"edges": (8, 16), "samples": 4})
    lo, hi = p.interval
    assert lo < p.transport_efficiency < hi and p.confidence == 0.95


@pytest.mark.slow
def test_pybamm_discharge_feels_the_tortuosity(tmp_path):
    """Calendered (oblate, aligned) particles: across the platelets the electrolyte path is far
    more tortuous than along them, at the same porosity, surface and radius. In an SPMe
    discharge at 1C the tortuous electrode gives a lower voltage and less capacity; at C/10
    the two agree (transport barely matters)."""
    pytest.importorskip("pybamm")
    from ionflow.cellmodel import discharge, to_pybamm

    img = ionflow.generate.anisotropic((32, 32, 32), electrolyte_fraction=0.4,
                                       shape_kind="oblate", align=0, aspect=4, radius=4,
                                       sigma=0.1, jitter=0, rng=0)  # fmt: skip
    across = electrode_parameters(img, pixel_size=0.5e-6, axis=0)
    along = electrode_parameters(img, pixel_size=0.5e-6, axis=1)
    assert across.tortuosity_factor > 2 * along.tortuosity_factor
    assert across.particle_radius == along.particle_radius
    path = write_parameters(tmp_path / "across.json", across)
    values = {"across": to_pybamm(path), "along": to_pybamm(along)}
    assert values["across"]["Positive electrode porosity"] == across.porosity
    assert values["across"]["Positive electrode Bruggeman coefficient (electrolyte)"] == (
        across.bruggeman_exponent
    )
    fast = {k: discharge(v, c_rate=1.0) for k, v in values.items()}
    slow = {k: discharge(v, c_rate=0.1) for k, v in values.items()}
    cap = {k: r["capacity [A.h]"][-1] for k, r in fast.items()}
    assert cap["across"] < cap["along"]
    # voltage at the same discharged capacity, over the part both reach: the electrolyte's
    # extra resistance costs tens of mV (measured: 78 mV at 2 A.h, PyBaMM 26.10, Chen2020)
    q = np.linspace(0.1, 0.9, 9) * cap["across"]
    v = {k: np.interp(q, r["capacity [A.h]"], r["voltage [V]"]) for k, r in fast.items()}
    assert np.all(v["across"] < v["along"] - 0.02)
    slow_cap = [r["capacity [A.h]"][-1] for r in slow.values()]
    assert math.isclose(slow_cap[0], slow_cap[1], rel_tol=0.01)
