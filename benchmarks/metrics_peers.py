"""ionflow.metrics against TauFactor's ``taufactor.metrics`` and PoreSpy, in the same run.

Analytic shapes first (spheres of known area and radius, grid-aligned and tilted planes, a
straight and a circular triple line): each tool's error against the exact value. Then central
crops of the real volumes (``--real-dir``, default ``../shared/data/real`` beside the
repository): every tool's value side by side, and the wall time of each tool.

    .venv/bin/pip install taufactor porespy      # benchmarks only: not ionflow dependencies
    .venv/bin/python benchmarks/metrics_peers.py [--crop 128] [--markdown out.md]

Prints Markdown tables (the "Microstructure metrics" section of BENCHMARKS.md). Conventions
of the peers, as called here (all on CPU):

* TauFactor 1.2 ``specific_surface_area(img, method=...)``: area per *total* volume, like
  ionflow. ``"gradient"`` (its default: Gaussian-smoothed mask, integral of |grad|),
  ``"face_counting"`` (raw face count, no correction), ``"marching_cubes"`` (Gaussian-smoothed,
  Lewiner). ``triple_phase_boundary`` returns the fraction of interior voxel edges that are
  triple (converted here to edges per volume, ionflow's ``voxel_density``);
  ``extract_through_feature`` the face-connected spanning share of a phase.
* PoreSpy 3.2: ``tools.mesh_region`` (mask blurred by a radius-1 ball, padded with zeros:
  the image's faces become surface) + ``metrics.mesh_surface_area``; ``filters.local_thickness``
  (integer radii, ``"bf"``, returns radii: doubled here); ``metrics.two_point_correlation``
  (bins centred on whole voxels); ``metrics.percolating_porosity`` (divided by the phase
  fraction here).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

from ionflow import metrics as M  # noqa: E402
from ionflow.io import read_array  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REAL = ROOT.parent / "shared" / "data" / "real"
REAL = {
    "taufactor_electrode_256.tiff": ("TauFactor electrode", {0: "pore", 85: "NMC", 170: "CBD"}),
    "nrel_nmc_cbd_bridge.tif": ("NREL NMC", {0: "pore", 1: "NMC", 2: "CBD"}),
}


# --- shapes -------------------------------------------------------------------------------------


def ball(shape, radius, centre):
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum((g - c) ** 2 for g, c in zip(grids, centre)) <= radius**2


def one_sphere(radius):
    n = int(2 * radius + 8)
    return ball((n,) * 3, radius, (n - 1) / 2 + np.array([0.3, 0.17, -0.11]))


def spheres(n, radius, count, seed=0):
    """``count`` non-overlapping balls of one radius, random sub-voxel centres, inside."""
    rng = np.random.default_rng(seed)
    centres = []
    while len(centres) < count:
        c = rng.uniform(radius + 1, n - 2 - radius, size=3)
        if all(np.linalg.norm(c - o) > 2 * radius + 2 for o in centres):
            centres.append(c)
    img = np.zeros((n,) * 3, bool)
    for c in centres:
        img |= ball(img.shape, radius, c)
    return img


def slab(n):
    img = np.zeros((n,) * 3, bool)
    img[: n // 3] = True
    return img


def tilted_slab(n):
    """Half-space below the plane through the box centre normal to (1, 1, 1)."""
    z, y, x = np.ogrid[:n, :n, :n]
    return (z + y + x) < 1.5 * (n - 1) + 0.1


def triple_line(n):
    img = np.zeros((n,) * 3, np.uint8)
    img[:, :, n // 2 :] = 1
    img[n // 2 :] = 2
    return img


def triple_circle(n, radius):
    p = np.stack(np.mgrid[:n, :n, :n]).astype(float) - ((n - 1) / 2 + 0.21)
    normal = np.ones(3) / math.sqrt(3)
    height = np.tensordot(normal, p, 1)
    radial = np.sqrt(np.maximum((p**2).sum(0) - height**2, 0))
    return np.where(height > 0, 2, np.where(radial < radius, 0, 1)).astype(np.uint8)


# --- the tools ----------------------------------------------------------------------------------


def _quiet(fn, *args, **kwargs):
    """Call a peer function without its prints and CUDA warnings."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


class Peers:
    def __init__(self):
        import porespy
        import taufactor.metrics

        self.tf = taufactor.metrics
        self.ps = porespy
        porespy.settings.tqdm["disable"] = True
        self.tf_version = _version("taufactor")
        self.ps_version = _version("porespy")

    # areas: total area (voxel units) of ``label``'s boundary
    def tf_area(self, img, label, method):
        out = _quiet(self.tf.specific_surface_area, img, method=method, device="cpu")
        return out[str(int(label))] * img.size

    def ps_area(self, mask):
        mesh = _quiet(self.ps.tools.mesh_region, mask)
        return float(self.ps.metrics.mesh_surface_area(mesh))

    def tf_tpb_edges(self, img):
        """TauFactor's triple-edge fraction converted to a count of edges."""
        x, y, z = img.shape
        edges = z * (x - 1) * (y - 1) + x * (y - 1) * (z - 1) + y * (x - 1) * (z - 1)
        return float(_quiet(self.tf.triple_phase_boundary, img.astype(np.int64))) * edges

    def ps_thickness(self, mask):
        """PoreSpy's local thickness as diameters of the phase voxels."""
        return 2.0 * np.asarray(_quiet(self.ps.filters.local_thickness, mask))[mask]


def _version(name):
    from importlib.metadata import version

    return version(name)


def pct(value, exact):
    return f"{100 * (value / exact - 1):+.1f} %"


# --- analytic shapes ----------------------------------------------------------------------------


def surface_table(peers, quick):
    rows = []
    radii = (5, 10) if quick else (5, 10, 20)
    cases = [(f"sphere R = {r}", one_sphere(r), 4 * math.pi * r**2) for r in radii]
    n = 64 if quick else 96
    count = 8 if quick else 30
    many = spheres(n, 6, count)
    cases.append((f"{count} spheres R = 6, {n}^3", many, count * 4 * math.pi * 36))
    small = spheres(n, 2, 3 * count, seed=2)
    cases.append((f"{3 * count} spheres R = 2, {n}^3", small, 3 * count * 4 * math.pi * 4))
    m = 48 if quick else 64
    cases.append((f"slab normal to an axis, {m}^3", slab(m), float(m * m)))
    thin = np.zeros((m,) * 3, bool)
    thin[m // 2 : m // 2 + 2] = True
    cases.append((f"layer 2 voxels thick normal to an axis, {m}^3", thin, 2.0 * m * m))
    cases.append((f"plane normal to (1,1,1), {m}^3", tilted_slab(m), 3 * math.sqrt(3) / 4 * m * m))
    for name, img, exact in cases:
        row = [name, f"{exact:.0f}"]
        for method in M.SURFACE_METHODS:
            row.append(pct(M.specific_surface_areas(img, method=method)[1] * img.size, exact))
        lab = img.astype(np.uint8)
        for method in ("gradient", "face_counting", "marching_cubes"):
            row.append(pct(peers.tf_area(lab, 1, method), exact))
        row.append(pct(peers.ps_area(img), exact))
        rows.append(row)
    head = [
        "shape",
        "exact area (voxel faces)",
        "ionflow faces x 2/3 (default)",
        "ionflow crofton (13 directions)",
        "ionflow marching cubes",
        "TauFactor gradient (default)",
        "TauFactor face_counting",
        "TauFactor marching_cubes",
        "PoreSpy mesh_region",
    ]
    return head, rows


def tpb_table(peers, quick):
    n = 32 if quick else 48
    r = 10 if quick else 16
    cases = [
        (f"straight line along an axis, {n}^3", triple_line(n), float(n)),
        (
            f"circle R = {r} in the plane normal to (1,1,1), {n}^3",
            triple_circle(n, r),
            2 * math.pi * r,
        ),
    ]
    rows = []
    for name, img, exact in cases:
        t = M.triple_phase_boundary(img)
        raw = t.voxel_density * img.size
        rows.append(
            [
                name,
                f"{exact:.1f}",
                f"{t.density * img.size:.1f} ({pct(t.density * img.size, exact)})",
                f"{raw:.0f} ({pct(raw, exact)})",
                f"{peers.tf_tpb_edges(img):.0f} ({pct(peers.tf_tpb_edges(img), exact)})",
            ]
        )
    head = [
        "triple line",
        "exact length (voxels)",
        "ionflow (edges x 2/3)",
        "ionflow raw edges",
        "TauFactor (edge fraction x edges)",
    ]
    return head, rows


def size_table(peers, quick):
    n = 64 if quick else 96
    rows = []
    for radius, count in ((4, 12 if quick else 40), (8, 3 if quick else 10)):
        img = spheres(n, radius, count, seed=radius)
        ours, t_ours = timed(M.local_thickness, img)
        theirs, t_theirs = timed(peers.ps_thickness, img)
        ours = ours[img]
        rows.append(
            [
                f"{count} spheres R = {radius}, {n}^3",
                f"{2 * radius}",
                f"{np.median(ours):.2f} / {ours.mean():.2f}",
                f"{np.median(theirs):.2f} / {theirs.mean():.2f}",
                f"{t_ours:.2f} / {t_theirs:.2f}",
            ]
        )
    head = [
        "spheres",
        "exact diameter",
        "ionflow median / mean",
        "PoreSpy median / mean",
        "time ionflow / PoreSpy (s)",
    ]
    return head, rows


# --- real crops ---------------------------------------------------------------------------------


def real_tables(peers, real_dir, crop):
    phase_rows, global_rows, time_rows = [], [], []
    for fname, (title, names) in REAL.items():
        path = Path(real_dir) / fname
        if not path.exists():
            print(f"# {path} not found: skipped", file=sys.stderr)
            continue
        vol = read_array(path)
        s = tuple(slice((n - crop) // 2, (n - crop) // 2 + crop) for n in vol.shape)
        img = np.ascontiguousarray(vol[s])
        t_tf = t_ps = 0.0
        res, t_ours = timed(M.measure, img, conductive_label=0, macmullin=True, axes=(0,))
        mc, t = timed(M.specific_surface_areas, img, method="marching_cubes")
        t_ours += t
        cr, t = timed(M.specific_surface_areas, img, method="crofton")
        t_ours += t
        fr_tf, t = timed(_quiet, peers.tf.volume_fraction, img)
        t_tf += t
        for label, pname in names.items():
            p = res.phase(label)
            mask = img == label
            tf_grad, t1 = timed(peers.tf_area, img, label, "gradient")
            tf_face, t2 = timed(peers.tf_area, img, label, "face_counting")
            tf_mc, t3 = timed(peers.tf_area, img, label, "marching_cubes")
            through, t4 = timed(
                _quiet, peers.tf.extract_through_feature, img, label, "x", connectivity=1
            )
            t_tf += t1 + t2 + t3 + t4
            ps_area, t5 = timed(peers.ps_area, mask)
            ps_perc, t6 = timed(peers.ps.metrics.percolating_porosity, mask, axis=0)
            ps_lt, t7 = timed(peers.ps_thickness, mask)
            t_ps += t5 + t6 + t7
            vol_ = img.size
            phase_rows.append(
                [
                    f"{title}: {pname} ({label})",
                    f"{p.volume_fraction:.4f} / {fr_tf[str(label)]:.4f} / {mask.mean():.4f}",
                    f"{p.specific_surface_area:.4f}",
                    f"{cr[label]:.4f}",
                    f"{mc[label]:.4f}",
                    f"{tf_grad / vol_:.4f}",
                    f"{tf_face / vol_:.4f}",
                    f"{tf_mc / vol_:.4f}",
                    f"{ps_area / vol_:.4f}",
                    f"{p.percolation[0].percolating:.4f} / {float(through[1][0]):.4f} / "
                    f"{ps_perc / mask.mean():.4f}",
                    f"{p.size_distribution.d50:.2f} / {np.median(ps_lt):.2f}",
                ]
            )
        tpb = res.triple_phase_boundary
        tf_edges, t = timed(peers.tf_tpb_edges, img)
        t_tf += t
        pore = img == 0
        s2, t = timed(
            peers.ps.metrics.two_point_correlation, pore, bins=np.arange(0, crop // 2 + 1) - 0.5
        )
        t_ps += t
        ours_s2 = dict(zip(res.phase(0).two_point.distances, res.phase(0).two_point.probabilities))
        theirs_s2 = dict(zip(np.rint(s2.distance).astype(int), s2.probability_scaled))
        (mm,) = res.macmullin
        global_rows.append(
            [
                title,
                f"{tpb.density:.5f} / {tpb.voxel_density:.5f} / {tf_edges / img.size:.5f}",
                " ".join(f"{ours_s2[r]:.3f}/{theirs_s2[r]:.3f}" for r in (1, 5, 10, 20)),
                f"{mm.macmullin_number:.3f} (tau {mm.tortuosity:.3f})",
            ]
        )
        time_rows.append([title, f"{t_ours:.1f}", f"{t_tf:.1f}", f"{t_ps:.1f}"])
    heads = (
        [
            "crop: phase (label)",
            "fraction ionflow / TauFactor / PoreSpy",
            "SSA ionflow faces x 2/3",
            "SSA ionflow crofton",
            "SSA ionflow marching cubes",
            "SSA TauFactor gradient",
            "SSA TauFactor face_counting",
            "SSA TauFactor marching_cubes",
            "SSA PoreSpy mesh_region",
            "percolating share, axis 0: ionflow / TauFactor / PoreSpy",
            "d50 diameter ionflow / PoreSpy",
        ],
        [
            "crop",
            "TPB ionflow (x 2/3) / ionflow raw / TauFactor (1/voxel^2)",
            "pore S2 at r = 1, 5, 10, 20: ionflow/PoreSpy",
            "MacMullin N_M pore, axis 0 (ionflow.simulate)",
        ],
        [
            "crop",
            "ionflow measure (all metrics, N_M solve) + crofton + MC s",
            "TauFactor (fractions, 3 SSA methods, through-features, TPB) s",
            "PoreSpy (mesh SSA, percolation, local thickness, S2) s",
        ],
    )
    return heads, (phase_rows, global_rows, time_rows)


def markdown(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real-dir", default=str(DEFAULT_REAL))
    ap.add_argument("--crop", type=int, default=128, help="edge of the central real crops")
    ap.add_argument("--quick", action="store_true", help="smaller shapes and crops (a check)")
    ap.add_argument("--markdown", help="also write the tables to this file")
    args = ap.parse_args(argv)
    crop = 64 if args.quick else args.crop
    peers = Peers()
    out = [
        f"Machine: {machine()}; TauFactor {peers.tf_version}, PoreSpy {peers.ps_version} "
        "(CPU). Command: `.venv/bin/python benchmarks/metrics_peers.py"
        + (" --quick" if args.quick else "")
        + (f" --crop {args.crop}" if args.crop != 128 and not args.quick else "")
        + "`.",
        "",
        "Surface area against the exact value (error of the area of label 1's boundary):",
        "",
        markdown(*surface_table(peers, args.quick)),
        "",
        "Triple-phase boundary length against the exact value:",
        "",
        markdown(*tpb_table(peers, args.quick)),
        "",
        "Local thickness of spheres of known radius (diameters in voxels, over the spheres' "
        "voxels):",
        "",
        markdown(*size_table(peers, args.quick)),
    ]
    heads, tables = real_tables(peers, args.real_dir, crop)
    out += [
        "",
        f"Central {crop}^3 crops of the real volumes, per phase (SSA in 1/voxel, per total "
        "volume):",
        "",
        markdown(heads[0], tables[0]),
        "",
        markdown(heads[1], tables[1]),
        "",
        "Wall time, same run:",
        "",
        markdown(heads[2], tables[2]),
    ]
    text = "\n".join(out)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
