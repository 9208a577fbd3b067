"""The workloads of ``benchmarks/solver.py``: sizes per mode and the seeded images.

Images are generated with ``ionflow.generate`` (seeded) and cached in the work directory; the
real volumes are read from ``--real-dir``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REAL_DIR = Path("/work/shared/data/real")  # default of --real-dir
REAL = {  # real label volumes (pore label 0 conductive), file names in --real-dir
    "taufactor_electrode_256": "taufactor_electrode_256.tiff",
    "nrel_nmc_cbd_bridge": "nrel_nmc_cbd_bridge.tif",
}


def plan(args: argparse.Namespace) -> dict:
    """Sizes per mode, the time limits and where the real volumes are."""
    real_dir = Path(args.real_dir)
    if args.quick:
        return dict(
            real_dir=real_dir,
            batch=200,
            batch_peers=20,
            single2d=200,
            vol=[40],
            real=None,
            real_crop=64,
            peer_timeout=60.0,
            timeout=120.0,
        )
    return dict(
        real_dir=real_dir,
        batch=2000,
        batch_peers=200,
        single2d=400,
        vol=[100, 200],
        real=list(REAL),
        real_crop=None,
        peer_timeout=args.peer_timeout,
        timeout=args.timeout,
    )


def prepare_data(p: dict, work: Path, tools: list[str]) -> list[dict]:
    """Generate the images (seeded, cached in ``work``) and list the workloads."""
    import ionflow
    from ionflow.io import write_image

    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    workloads = []

    # (a) a batch of 64x64 disks images, fraction uniform in [0.6, 1.0]
    n = p["batch"]
    stack_path = data / f"batch64_{n}.npy"
    png_dir = data / f"batch64_{n}_png"
    if not stack_path.exists() or not png_dir.exists():
        fr = np.random.default_rng(2024).uniform(0.6, 1.0, size=n)
        imgs = np.stack(
            [
                ionflow.generate.disks((64, 64), electrolyte_fraction=float(f), rng=1000 + i)
                for i, f in enumerate(fr)
            ]
        )
        png_dir.mkdir(exist_ok=True)
        for i, img in enumerate(imgs):
            write_image(png_dir / f"img_{i:05d}.png", img)
        np.save(stack_path, imgs)
    imgs = np.load(stack_path)
    sub_path = data / f"batch64_{n}_first{p['batch_peers']}.npy"
    np.save(sub_path, imgs[: p["batch_peers"]])
    workloads.append(
        dict(
            key="batch64",
            label=f"(a) 64x64 disks, fraction 0.6-1.0, {n} images",
            cells=64 * 64,
            n=n,
            n_peers=p["batch_peers"],
            stack=str(stack_path),
            sub=str(sub_path),
            png_dir=str(png_dir),
            axis=0,
            fraction=float(imgs.mean()),
            ndim=2,
        )
    )

    # (b) one large 2D image
    s = p["single2d"]
    path = data / f"disks2d_{s}.npy"
    if not path.exists():
        np.save(path, ionflow.generate.disks((s, s), electrolyte_fraction=0.7, rng=7))
    workloads.append(
        dict(
            key=f"2d{s}",
            label=f"(b) {s}x{s} disks, fraction 0.7",
            cells=s * s,
            npy=str(path),
            axis=0,
            fraction=0.7,
            ndim=2,
        )
    )

    # (c), (d) spheres
    for k, v in enumerate(p["vol"]):
        path = data / f"spheres_{v}.npy"
        if not path.exists():
            np.save(path, ionflow.generate.disks((v, v, v), electrolyte_fraction=0.7, rng=11))
        tag = "(c)" if k == 0 else "(d)"
        workloads.append(
            dict(
                key=f"3d{v}",
                label=f"{tag} {v}^3 spheres, fraction 0.7",
                cells=v**3,
                npy=str(path),
                axis=0,
                fraction=0.7,
                ndim=3,
            )
        )

    # (e) real volumes, pore label 0 conductive
    if p["real"]:
        import tifffile

        for name in p["real"]:
            path = p["real_dir"] / REAL[name]
            if not path.exists():
                print(f"# missing {path}; skipped")
                continue
            with tifffile.TiffFile(path) as tf:
                shape = tf.series[0].shape
            for axis in (0, 1, 2):
                workloads.append(
                    dict(
                        key=f"{name}_ax{axis}",
                        label=f"(e) {name} {'x'.join(map(str, shape))}, label 0, axis {axis}",
                        cells=int(np.prod(shape)),
                        tiff=str(path),
                        axis=axis,
                        peers=axis in p["real_peer_axes"],
                        ndim=3,
                    )
                )
    elif p["real_crop"]:
        c = p["real_crop"]
        path = p["real_dir"] / REAL["taufactor_electrode_256"]
        if path.exists():
            workloads.append(
                dict(
                    key=f"real_crop{c}",
                    label=f"(e) taufactor_electrode_256 cropped to {c}^3, label 0, axis 0",
                    cells=c**3,
                    tiff=str(path),
                    crop=c,
                    axis=0,
                    ndim=3,
                )
            )
    return workloads
