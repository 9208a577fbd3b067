"""Surrogate accuracy and speed, side by side (writes a Markdown table to stdout).

    python benchmarks/surrogate.py                     # all models found in runs/
    python benchmarks/surrogate.py --speed-only

Needs the datasets and models made by ``bash benchmarks/train_models.sh``,
``bash benchmarks/train_3d.sh`` and ``bash benchmarks/train_wide.sh``. Accuracy: every 2D
model on the paper-protocol test set (runs/paper.h5), with the power-law and Bruggeman
baselines; the default model (the bundled ``ionnet-wide``) also on a generator left out of
training (blobs), on 64x64 crops of 2D slices of the real volumes in ../shared/data/real
(pore = electrolyte), and per fraction band over 0.3-1.0 against the 0.55-1.0 model. Speed:
whole `ionflow predict` / `ionflow simulate` processes on 2500 images of 64x64, start-up
included, and in-process prediction against the solver at 64x64 and 400x400. 3D (each model
in ``--model3d``): held-out generated volumes per band, real subvolumes and whole real volumes,
speed and accuracy against the solver at 64^3, 128^3 and 256^3, and the cost of candidate
networks (ours and MONAI's).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
REAL = ROOT.parent / "shared" / "data" / "real"
EXE = str(Path(sys.executable).with_name("ionflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402


def accuracy(models: list[Path]) -> None:
    from ionflow.model import evaluate, load_bundle

    print(
        "\n### Accuracy on the paper-protocol test set (runs/paper.h5, 175 images, 64x64 disks)\n"
    )
    print(
        "| model | train images | MAPE % | MAE | R^2 | median % | p95 % | lowest decile % | per class (0.6/0.7/0.8/0.9/1.0) % |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    baselines = None
    for m in models:
        b = load_bundle(m)
        res = evaluate(m, RUNS / "paper.h5", plot=RUNS / f"parity-{m.stem}.png")
        row = res["table"]["surrogate"]
        _row(
            f"`{m.name}` ({len(b.members)} net{'s' if len(b.members) > 1 else ''})",
            b.data["n_train"],
            row,
        )
        baselines = {k: v for k, v in res["table"].items() if k != "surrogate"}
    for name, row in (baselines or {}).items():
        _row(name, "-", row)


def _row(name, n, row) -> None:
    pc = "/".join(f"{v:.2f}" for v in row["per_class_mape"].values())
    print(
        f"| {name} | {n} | {row['mape']:.2f} | {row['mae']:.4f} | {row['r2']:.4f} | "
        f"{row['median_ape']:.2f} | {row['p95_ape']:.2f} | {row['lowest_decile_mape']:.2f} | {pc} |"
    )


def generalisation(model: Path) -> None:
    from ionflow.model import Predictor, evaluate

    print(f"\n### Generalisation of `{model.name}`\n")
    print("| test set | images | MAPE % | median % | p95 % | flagged out-of-distribution |")
    print("| --- | --- | --- | --- | --- | --- |")
    predictor = Predictor(model)
    for name, path in [
        ("held-out generator: blobs (never in training)", RUNS / "blobs.h5"),
        ("training distribution: big.h5 test", RUNS / "big.h5"),
    ]:
        if path.exists():
            res = evaluate(predictor, path)
            r = res["table"]["surrogate"]
            from ionflow.dataset import load_split

            imgs = load_split(path, "test").images.astype(bool)
            ood = np.mean([row.ood for row in predictor.predict(list(imgs))])
            print(
                f"| {name} | {r['n']} | {r['mape']:.2f} | {r['median_ape']:.2f} | {r['p95_ape']:.2f} | {ood:.0%} |"
            )
    real_slices(predictor)


def wide(model: Path, narrow: Path) -> None:
    """The 2D model for the whole fraction range 0.3-1.0, per band, against the 0.55-1.0 model."""
    from ionflow.model import Predictor, evaluate

    print(f"\n### 2D over the whole electrolyte-fraction range: `{model.name}`\n")
    print("| model | test set | n | MAPE % | median % | p95 % | MAPE % per fraction band |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for m in (model, narrow):
        for name in ("wide.h5", "paper.h5"):
            if (RUNS / name).exists():
                r = evaluate(Predictor(m), RUNS / name)["table"]["surrogate"]
                bands = ", ".join(f"{k}: {v:.1f}" for k, v in r["per_class_mape"].items())
                print(
                    f"| `{m.name}` | runs/{name} | {r['n']} | {r['mape']:.2f} | {r['median_ape']:.2f} | "
                    f"{r['p95_ape']:.2f} | {bands} |"
                )
    print(
        "\n| real slices (pore = electrolyte) | images | MAPE % | median % | p95 % | flagged out-of-distribution |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    real_slices(Predictor(model))


def _score_crops(predictor, crops: list[np.ndarray]) -> tuple[np.ndarray, int, float]:
    """Solver against surrogate on crops: absolute % errors (percolating crops), the number of
    blocked crops, and the fraction flagged out-of-distribution."""
    from ionflow import simulate

    true = np.array([simulate(c).relative_conductivity for c in crops])
    rows = predictor.predict(crops)
    pred = np.array([r.relative_conductivity for r in rows])
    m = true > 0
    ape = np.abs(pred[m] - true[m]) / true[m] * 100
    return ape, int((~m).sum()), float(np.mean([r.ood for r in rows]))


def _random_crops(
    vol: np.ndarray, rng, n: int, window: tuple[int, ...], highs: tuple[int, ...]
) -> list:
    """``n`` crops of ``window`` (1 along an axis: that axis is dropped) containing electrolyte;
    origins drawn from [0, high) per axis."""
    crops = []
    while len(crops) < n:
        origin = [rng.integers(0, h) for h in highs]
        c = vol[tuple(o if w == 1 else slice(o, o + w) for o, w in zip(origin, window))]
        if c.any():
            crops.append(c)
    return crops


def real_slices(predictor, n_per_volume: int = 60, size: int = 64) -> None:
    import tifffile

    rng = np.random.default_rng(0)
    for f in sorted(REAL.glob("*.tif*")):
        vol = tifffile.imread(f) == 0  # pore = solid electrolyte
        highs = (vol.shape[0], vol.shape[1] - size, vol.shape[2] - size)
        crops = _random_crops(vol, rng, n_per_volume, (1, size, size), highs)
        ape, blocked, ood = _score_crops(predictor, crops)
        print(
            f"| real {f.name}: 64x64 crops of z-slices, fraction {np.mean([c.mean() for c in crops]):.2f} "
            f"({blocked} blocked) | {len(crops)} | {ape.mean():.1f} | {np.median(ape):.1f} | "
            f"{np.quantile(ape, 0.95):.1f} | {ood:.0%} |"
        )


def speed(model: Path, n: int = 2500) -> None:
    from ionflow import simulate
    from ionflow.generate import disks
    from ionflow.io import write_image
    from ionflow.model import Predictor

    print(
        f"\n### Speed ({n} images of 64x64, paper protocol fractions; whole processes include start-up)\n"
    )
    print("| task | seconds | per image ms |")
    print("| --- | --- | --- |")
    rng = np.random.default_rng(0)
    fr = np.repeat([0.6, 0.7, 0.8, 0.9, 1.0], n // 5)
    imgs = [disks((64, 64), electrolyte_fraction=f, rng=rng) for f in fr]
    with tempfile.TemporaryDirectory() as d:
        for i, im in enumerate(imgs):
            write_image(Path(d) / f"img_{i:05d}.png", im)
        for label, cmd in [
            (
                "`ionflow predict DIR --json` (surrogate, one pass: the default)",
                [EXE, "predict", d, "--json", "--model", str(model)],
            ),
            (
                "`ionflow predict DIR --json --tta` (surrogate, 4-flip average)",
                [EXE, "predict", d, "--json", "--tta", "--model", str(model)],
            ),
            (
                "`ionflow simulate DIR --json` (exact solver, 2 processes)",
                [EXE, "simulate", d, "--json", "--no-progress"],
            ),
        ]:
            t = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True)
            dt = time.perf_counter() - t
            ok = sum(1 for x in p.stdout.splitlines() if x.startswith("{"))
            print(
                f"| {label} | {dt:.2f} | {dt / n * 1e3:.2f} |"
                + ("" if ok == n else f" (only {ok} results)")
            )
    predictor = Predictor(model, tta=False)
    stack = np.stack(imgs)
    predictor.predict_relative(stack[:64])
    t = time.perf_counter()
    predictor.predict_relative(stack)
    t_pred = time.perf_counter() - t
    t = time.perf_counter()
    for im in imgs[:500]:
        if im.any():
            simulate(im)
    t_sol = (time.perf_counter() - t) / 500 * n
    print(f"| in-process: surrogate, 64x64 | {t_pred:.2f} | {t_pred / n * 1e3:.2f} |")
    print(
        f"| in-process: solver one by one, 64x64 (500 timed, scaled) | {t_sol:.2f} | {t_sol / n * 1e3:.2f} |"
    )
    print(f"| speed-up surrogate / solver, 64x64 | {t_sol / t_pred:.1f}x | |")
    big = [disks((400, 400), electrolyte_fraction=0.7, rng=i) for i in range(5)]
    t = time.perf_counter()
    predictor.predict_relative(np.stack(big))
    tp = (time.perf_counter() - t) / 5
    t = time.perf_counter()
    for im in big:
        simulate(im)
    ts = (time.perf_counter() - t) / 5
    print(
        f"| 400x400 (out of the training size; speed only): surrogate / solver per image | {tp:.3f} / {ts:.3f} | speed-up {ts / tp:.1f}x |"
    )


def architectures3d(sizes=(64, 128, 256)) -> None:
    """Forward time of candidate 3D networks (untrained weights; the cost does not depend on them)."""
    import torch

    from ionflow.model import ModelConfig, create_model

    torch.set_num_threads(os.cpu_count() or 1)
    cands = [
        (
            "IonNet3D, conv stem (old default)",
            ModelConfig(arch="ionnet3d", channels=(16, 32, 64, 128)),
        ),
        (
            "IonNet3D, patch stem (new default)",
            ModelConfig(
                arch="ionnet3d", stem="patch", stem_channels=(16, 24, 32), channels=(32, 64, 128)
            ),
        ),
    ]
    try:
        import monai  # noqa: F401

        cands += [
            (f"MONAI {n}", ModelConfig(arch=f"monai:{n}"))
            for n in ("resnet10", "densenet121", "efficientnet-b0")
        ]
    except ImportError:
        pass
    print("\n#### 3D network cost (forward pass, one volume, seconds; untrained weights)\n")
    print("| network | parameters | " + " | ".join(f"{n}^3" for n in sizes) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in sizes) + " |")
    for name, cfg in cands:
        net = create_model(cfg, dim=3).eval()
        npar = sum(p.numel() for p in net.parameters())
        cells = []
        for n in sizes:
            x = torch.ones(1, 1, n, n, n)
            with torch.inference_mode():
                net(x)
                best = float("inf")
                for _ in range(2):
                    t = time.perf_counter()
                    net(x)
                    best = min(best, time.perf_counter() - t)
            cells.append(f"{best:.3f}")
            if best > 1.5:  # the next size costs >= 8x: skipped
                cells += ["-"] * (len(sizes) - len(cells))
                break
        print(f"| {name} | {npar / 1e6:.2f} M | " + " | ".join(cells) + " |")


def _variants(model: Path) -> dict:
    """One-pass predictors: blocks along all axes, along the flow only, and the whole image."""
    from ionflow.model import Predictor

    return {
        "all": Predictor(model, tta=False),
        "flow": Predictor(model, tta=False, block_axes="flow"),
        "whole": Predictor(model, tta=False, blocks=False),
    }


def _score_variants(
    variants: dict, image: np.ndarray, true: float, tp: dict, errs: dict, oods: list
) -> None:
    """Time every variant on one image and record its error and (for *all*) its OOD flag."""
    for k, p in variants.items():
        t = time.perf_counter()
        row = p.predict([image])[0]
        tp[k].append(time.perf_counter() - t)
        errs[k].append(abs(row.relative_conductivity - true) / true * 100)
        if k == "all":
            oods.append(row.ood)


def _cells(values: dict, fmt: str) -> str:
    return " / ".join(fmt.format(np.mean(v), np.max(v)) for v in values.values())


def large2d(model: Path, sizes=(128, 256, 400), n: int = 6) -> None:
    """2D images larger than the training size: by blocks and whole, against the solver."""
    from ionflow import simulate
    from ionflow.generate import generate

    print(f"\n### 2D images larger than the training size (`{model.name}`, one pass)\n")
    print(
        "| size | images | solver s | surrogate s: blocks all / flow / whole | "
        "error % mean (max): all / flow / whole | flagged out-of-distribution (all) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    variants = _variants(model)
    for size in sizes:
        ts, tp, errs, oods = [], {k: [] for k in variants}, {k: [] for k in variants}, []
        for i in range(n):
            kind, frac = [
                ("disks", 0.5),
                ("disks", 0.7),
                ("ellipses", 0.6),
                ("blobs", 0.5),
                ("disks", 0.4),
                ("blobs", 0.8),
            ][i % 6]
            im = generate(kind, (size, size), electrolyte_fraction=frac, rng=100 * size + i)
            t = time.perf_counter()
            true = simulate(im).relative_conductivity
            ts.append(time.perf_counter() - t)
            if true > 0:
                _score_variants(variants, im, true, tp, errs, oods)
        print(
            f"| {size}x{size} | {len(errs['all'])} | {np.mean(ts):.3f} | {_cells(tp, '{0:.3f}')} | "
            f"{_cells(errs, '{0:.1f} ({1:.1f})')} | {np.mean(oods):.0%} |"
        )


def surrogate3d(model: Path, sizes: tuple[int, ...] = (64, 128, 256)) -> None:
    """3D surrogate: held-out generated volumes per fraction band, real subvolumes, and speed
    and accuracy against the solver at growing sizes (one run, same process)."""
    import tifffile

    from ionflow import simulate
    from ionflow.generate import generate
    from ionflow.model import Predictor, evaluate, load_bundle

    predictor = Predictor(model)
    train_shape = load_bundle(model).data["stats"]["shape"]
    print(
        f"\n### 3D surrogate `{model.name}` (trained on {'x'.join(map(str, train_shape))} volumes)\n"
    )
    print(
        "| held-out generated volumes (test split) | n | MAPE % | median % | p95 % | MAPE % per electrolyte-fraction band |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("vol64.h5", "vol32.h5"):
        if (RUNS / name).exists():
            r = evaluate(predictor, RUNS / name)["table"]["surrogate"]
            bands = ", ".join(f"{k}: {v:.1f}" for k, v in r["per_class_mape"].items())
            print(
                f"| runs/{name} | {r['n']} | {r['mape']:.2f} | {r['median_ape']:.2f} | "
                f"{r['p95_ape']:.2f} | {bands} |"
            )
    print(
        "\n| real subvolumes (pore = electrolyte) | n | fraction | MAPE % | median % | flagged out-of-distribution |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    for size in sorted({32, int(train_shape[0])}):
        for f in sorted(REAL.glob("*.tif*")):
            vol = tifffile.imread(f) == 0
            crops = _random_crops(vol, rng, 20, (size,) * 3, tuple(n - size for n in vol.shape))
            ape, blocked, ood = _score_crops(predictor, crops)
            print(
                f"| {f.name}, {size}^3 ({blocked} blocked) | {len(crops)} | "
                f"{np.mean([c.mean() for c in crops]):.2f} | {ape.mean():.1f} | {np.median(ape):.1f} | "
                f"{ood:.0%} |"
            )
    print(
        "\n| whole real volume, flow on axis 0 | shape | fraction | solver | solver s | surrogate (+- spread) | surrogate s | error % | flagged out-of-distribution |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for f in sorted(REAL.glob("*.tif*")):
        vol = tifffile.imread(f) == 0
        t = time.perf_counter()
        true = simulate(vol).relative_conductivity
        ts = time.perf_counter() - t
        t = time.perf_counter()
        row = predictor.predict([vol])[0]
        tp = time.perf_counter() - t
        err = abs(row.relative_conductivity - true) / true * 100
        print(
            f"| {f.name} | {'x'.join(map(str, vol.shape))} | {vol.mean():.3f} | {true:.4f} | {ts:.1f} | "
            f"{row.relative_conductivity:.4f} +- {row.uncertainty or 0:.3f} | {tp:.2f} | {err:.1f} | "
            f"{'; '.join(row.ood_reasons) or 'no'} |"
        )
    print(
        "\nSpeed and accuracy with size: generated volumes (spheres and blobs, radius 2-5 voxels, "
        "fractions 0.4 / 0.6 / 0.8), one pass (no flip averaging); times are whole "
        "`Predictor.predict` calls (connectivity check for the exact 0, OOD statistics, network). "
        "Volumes larger than the training size go block by block (*all*: every block along every "
        "axis; *flow*: along the flow only); *whole*: the volume fed to the network at once.\n"
    )
    print(
        "| size | volumes | solver s | surrogate s: all / flow / whole | speed-up: all / flow / whole "
        "| error % mean (max): all / flow / whole | flagged out-of-distribution (all) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    variants = _variants(model)
    for p in variants.values():  # warm-up
        p.predict([generate("disks", (train_shape[0] * 2,) * 3, electrolyte_fraction=0.6, rng=0)])
    for n in sizes:
        cases = [(k, f) for k in ("disks", "blobs") for f in (0.4, 0.6, 0.8)]
        if n >= 256:
            cases = [("disks", 0.6), ("blobs", 0.4)]
        ts, tp, errs, oods = [], {k: [] for k in variants}, {k: [] for k in variants}, []
        for i, (kind, frac) in enumerate(cases):
            options = {"radius": (2, 5)} if kind == "disks" else {}
            vol = generate(kind, (n,) * 3, electrolyte_fraction=frac, rng=1000 * n + i, **options)
            t = time.perf_counter()
            true = simulate(vol).relative_conductivity
            ts.append(time.perf_counter() - t)
            _score_variants(variants, vol, true, tp, errs, oods)
        s = np.mean(ts)
        ups = " / ".join(f"{s / np.mean(v):.0f}x" for v in tp.values())
        print(
            f"| {n}^3 | {len(cases)} | {s:.2f} | {_cells(tp, '{0:.3f}')} | {ups} | "
            f"{_cells(errs, '{0:.1f} ({1:.1f})')} | {np.mean(oods):.0%} |"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", type=Path)
    ap.add_argument(
        "--default",
        type=Path,
        default=RUNS / "ionnet-wide.safetensors",
        help="the bundled 2D model (generalisation and speed rows)",
    )
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument(
        "--model3d",
        type=Path,
        nargs="*",
        default=[RUNS / "ionnet3d-fast.safetensors", RUNS / "ionnet3d.safetensors"],
    )
    ap.add_argument(
        "--wide",
        type=Path,
        default=RUNS / "ionnet-wide.safetensors",
        help="the 2D model for fractions 0.3-1.0",
    )
    ap.add_argument("--only-3d", action="store_true")
    ap.add_argument("--only-large2d", action="store_true", help="only the large 2D image table")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    args = ap.parse_args()
    print(
        f"Machine: {machine()}. Command: `python benchmarks/surrogate.py {' '.join(sys.argv[1:])}`, "
        f"{time.strftime('%Y-%m-%d')}."
    )
    models = args.models or [m for m in sorted(RUNS.glob("*.safetensors")) if "3d" not in m.name]
    if args.only_large2d:
        large2d(args.default)
        return 0
    if not args.only_3d:
        if not args.speed_only:
            accuracy(models)
            generalisation(args.default)
            if args.wide.exists():
                wide(args.wide, RUNS / "ionnet-big.safetensors")
        speed(args.default)
        large2d(args.default)
    for m in args.model3d:
        if m.exists():
            surrogate3d(m, tuple(args.sizes))
    architectures3d(tuple(args.sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
