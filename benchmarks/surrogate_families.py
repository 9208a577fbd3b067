"""Does the surrogate pay, and can it be trusted? Held-out families, real crops, calibration, speed.

    python benchmarks/surrogate_families.py calibrate   # store interval calibrations in models
    python benchmarks/surrogate_families.py report      # print every table (Markdown)
    python benchmarks/surrogate_families.py speed       # only the speed table

Needs the datasets and models of ``bash benchmarks/train_families.sh`` (runs/fam3d.h5,
runs/fam2d.h5, runs/paper.h5, runs/lofo-<family>.safetensors, the final models). Results of
the slow steps are cached in ``runs/families/`` (delete it to recompute).

* **Leave-one-family-out (3D).** For each held-out family, a model fine-tuned without that
  family's images predicts all of them (64^3 volumes); the final model (trained on every
  family) is shown on its own test split beside it.
* **Calibration.** Intervals are split-conformal (``ionflow.surrogate._conformal``), fitted on
  leave-one-family-out residuals. The per-family table calibrates on the *other* families and
  tests on the held-out one: coverage of the 90 % intervals, ood rate, and silent errors (more
  than 10 % off with ``ood: false``). 2D: the 2D model never saw the new families, so its
  residuals on them are held-out-family residuals as they stand.
* **Real crops.** 128^3 crops (3D, each axis) and 64x64 slice crops (2D) of the two real
  volumes and the TauFactor 500^3 benchmark (conductive phase: pore label 0; benchmark: 255),
  exact answers from ``ionflow.simulate``. Never used for training or calibration.
* **Speed.** Whole processes, defaults, same run: ``ionflow predict`` against
  ``ionflow simulate`` on 2500 PNGs of 64x64 and on the real 256^3 electrode.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
CACHE = RUNS / "families"
SHARED = ROOT.parent / "shared" / "data"  # real/ and benchmark/; set by --data
EXE = str(Path(sys.executable).with_name("ionflow"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

HELD_OUT_3D = ("lognormal", "anisotropic", "fibres", "agglomerates", "binder", "grf")
MODEL_3D = RUNS / "ionnet3d-fam2.safetensors"
MODEL_2D = ROOT / "src" / "ionflow" / "data" / "models" / "ionflow-2d.safetensors"


def _cached(name: str, compute):
    """JSON cache of a slow step (arrays as lists)."""
    path = CACHE / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)
    return value


def _weights_id(model: Path) -> str:
    """A short id of a model file's contents (weights and calibration)."""
    from ionflow.surrogate._meta import file_sha256

    return file_sha256(model)[:12]


def _residuals(model: Path, images: np.ndarray, true: np.ndarray) -> dict:
    """Predictions of ``model`` on images (flow axis 0): predicted, descriptors, ood flags."""
    from ionflow.surrogate import Predictor

    p = Predictor(model)
    return _summary(p, p.predict(list(images)), true)


def _summary(predictor, rows, true) -> dict:
    """JSON-ready predictions, exact answers, interval descriptors and the ood flags other
    than the interval's own (the calibration under test decides that one)."""
    return {
        "pred": [r.relative_conductivity for r in rows],
        "true": [float(t) for t in true],
        "z": predictor.descriptors(rows).tolist(),
        "ood_other": [
            [s for s in r.ood_reasons if not s.startswith("calibrated")] != [] for r in rows
        ],
    }


def lofo_residuals() -> dict:
    """Each held-out family predicted by the model trained without it (all its images)."""
    from ionflow.dataset import load_split

    data = load_split(RUNS / "fam3d.h5", "all")
    out = {}
    for fam in HELD_OUT_3D:
        model = RUNS / f"lofo-{fam}.safetensors"
        if not model.exists():
            print(f"(missing {model.name}: family {fam} skipped)", file=sys.stderr)
            continue
        sel = data.generator == fam
        out[fam] = _cached(
            f"lofo-{fam}",
            lambda m=model, s=sel: _residuals(
                m, data.images[s].astype(bool), data.labels["relative_conductivity"][s]
            ),
        )
    return out


def family_residuals_2d() -> dict:
    """The 2D model on the 2D families it never saw (runs/fam2d.h5)."""
    from ionflow.dataset import load_split

    data = load_split(RUNS / "fam2d.h5", "all")
    out = {}
    for fam in sorted(set(data.generator)):
        sel = data.generator == fam
        out[fam] = _cached(
            f"fam2d-{fam}-{_weights_id(MODEL_2D)}",
            lambda s=sel: _residuals(
                MODEL_2D, data.images[s].astype(bool), data.labels["relative_conductivity"][s]
            ),
        )
    return out


def _arrays(res: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pred, true = np.asarray(res["pred"]), np.asarray(res["true"])
    m = (true > 0) & (pred > 0) & (true < 1)  # exact answers (blocked, all electrolyte) left out
    return pred[m], true[m], np.asarray(res["z"])[m], np.asarray(res["ood_other"])[m]


def _pool(groups: dict, skip: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    r, z = [], []
    for fam, res in groups.items():
        if fam == skip:
            continue
        pred, true, zz, _ = _arrays(res)
        r.append(np.log(pred / true))
        z.append(zz)
    return np.concatenate(r), np.concatenate(z)


def _trust(pred, true, z, ood_other, cal, width=0.10) -> dict:
    from ionflow.surrogate import interval

    lo, hi = interval(pred, z, cal)
    inside = (true >= lo) & (true <= hi)
    half = np.log(hi / pred)
    ood = ood_other | (np.expm1(half) > width)
    err = np.abs(pred - true) / true
    return {
        "n": int(true.size),
        "mape": float(err.mean() * 100),
        "p95": float(np.quantile(err, 0.95) * 100),
        "coverage": float(inside.mean()),
        "ood": float(ood.mean()),
        "silent": int(((err > 0.10) & ~ood).sum()),
        "mape_trusted": float(err[~ood].mean() * 100) if (~ood).any() else float("nan"),
        "median_halfwidth": float(np.median(np.expm1(half)) * 100),
    }


def calibration_table(groups: dict, title: str) -> None:
    """Per family: calibrate on the other families, test on this one."""
    from ionflow.surrogate import fit_conformal

    print(f"\n### {title}\n")
    print(
        "| held-out family | n | MAPE % | p95 % | 90 % interval coverage | median half-width % "
        "| ood rate | silent errors > 10 % | MAPE of answers not flagged % |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    total = {"n": 0, "silent": 0}
    for fam, res in groups.items():
        cal = fit_conformal(*_pool(groups, skip=fam))
        t = _trust(*_arrays(res), cal)
        total["n"] += t["n"]
        total["silent"] += t["silent"]
        print(
            f"| {fam} | {t['n']} | {t['mape']:.2f} | {t['p95']:.1f} | {t['coverage']:.0%} | "
            f"{t['median_halfwidth']:.1f} | {t['ood']:.0%} | {t['silent']} | "
            f"{t['mape_trusted']:.2f} |"
        )
    print(f"\nSilent errors > 10 %: {total['silent']} of {total['n']} held-out-family cases.")


def calibrate() -> None:
    from ionflow.model import calibrate_intervals

    groups = lofo_residuals()
    if groups and MODEL_3D.exists():
        r, z = _pool(groups)
        calibrate_intervals(
            MODEL_3D, r, z, source=f"leave-one-family-out residuals, 64^3: {', '.join(groups)}"
        )
        print(f"{MODEL_3D}: calibrated on {r.size} held-out-family cases")
        from ionflow.model import export_onnx
        from ionflow.surrogate import default_model_path

        bundled = default_model_path(3)
        shutil.copyfile(MODEL_3D, bundled)  # the bundled 3D model is this one
        export_onnx(bundled)
        print(f"{bundled}: installed from {MODEL_3D.name}")
    groups2 = family_residuals_2d()
    r, z = _pool(groups2)
    calibrate_intervals(
        MODEL_2D, r, z, source=f"families never trained on, 64x64: {', '.join(groups2)}"
    )
    print(f"{MODEL_2D}: calibrated on {r.size} held-out-family cases")


# -- real crops ------------------------------------------------------------------------------


def _volumes() -> dict[str, np.ndarray]:
    import tifffile

    vols = {}
    for f in sorted((SHARED / "real").glob("*.tif*")):
        vols[f.name] = tifffile.imread(f) == 0  # pore = solid electrolyte
    zipped = SHARED / "benchmark" / "TF-500x500x500-1x2x6-v3.tiff.zip"
    if zipped.exists():
        with zipfile.ZipFile(zipped) as z, tempfile.TemporaryDirectory() as d:
            name = [n for n in z.namelist() if n.endswith((".tif", ".tiff"))][0]
            z.extract(name, d)
            vols["TF-500 benchmark"] = tifffile.imread(Path(d) / name) == 255
    return vols


def _crops(vol: np.ndarray, rng, n: int, window: tuple[int, ...]) -> list[np.ndarray]:
    out = []
    while len(out) < n:
        origin = [int(rng.integers(0, s - w + 1)) for s, w in zip(vol.shape, window)]
        c = vol[tuple(slice(o, o + w) for o, w in zip(origin, window))]
        out.append(np.ascontiguousarray(c))
    return out


def _real_cases(dim: int, n: int) -> dict[str, list[tuple[np.ndarray, int]]]:
    """Deterministic crops of every volume (3D: each with every axis; 2D: flow along z)."""
    rng = np.random.default_rng(1)
    out = {}
    for name, vol in _volumes().items():
        if dim == 3:
            cases = [(c, a) for c in _crops(vol, rng, n, (128,) * 3) for a in range(3)]
        else:  # 64x64 crops of (z, x) slices, flow along z
            cases = []
            while len(cases) < n:
                k = int(rng.integers(0, vol.shape[1]))
                cases.append((_crops(vol[:, k, :], rng, 1, (64, 64))[0], 0))
        out[name] = [(c, a) for c, a in cases if c.any()]
    return out


def real_crops(model: Path, dim: int, n: int) -> dict:
    """Predictions of ``model`` and exact answers (cached) on crops of the real volumes."""
    from ionflow import simulate
    from ionflow.surrogate import Predictor

    cases = _real_cases(dim, n)
    truth = _cached(
        f"real{dim}d-truth-{n}",
        lambda: {
            name: [simulate(c, axis=a).relative_conductivity for c, a in group]
            for name, group in cases.items()
        },
    )
    p = Predictor(model)
    return {
        name: _summary(p, [p.predict([c], axis=a)[0] for c, a in group], truth[name])
        for name, group in cases.items()
    }


def real_table(model: Path, dim: int, n: int) -> None:
    from ionflow.surrogate import read_model_info

    cal = read_model_info(model).metrics.get("conformal")
    groups = real_crops(model, dim, n)
    what = "128^3 crops, every axis" if dim == 3 else "64x64 crops of (z, x) slices, flow along z"
    print(f"\n### Real and benchmark volumes, {what}: `{model.name}`\n")
    print(
        "| volume | n (percolating) | MAPE % | p95 % | bias % | 90 % interval coverage | ood rate "
        "| silent errors > 10 % |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, res in groups.items():
        pred, true, z, other = _arrays(res)
        if not true.size:
            continue
        bias = float(np.mean((pred - true) / true) * 100)
        if cal:
            t = _trust(pred, true, z, other, cal)
            cov, ood, silent = f"{t['coverage']:.0%}", f"{t['ood']:.0%}", str(t["silent"])
        else:
            cov = ood = silent = "-"
        err = np.abs(pred - true) / true * 100
        print(
            f"| {name} | {true.size} | {err.mean():.2f} | {np.quantile(err, 0.95):.1f} | "
            f"{bias:+.1f} | {cov} | {ood} | {silent} |"
        )


# -- leave-one-family-out accuracy -----------------------------------------------------------


def lofo_table() -> None:
    from ionflow.dataset import load_split
    from ionflow.surrogate import Predictor

    groups = lofo_residuals()
    data = load_split(RUNS / "fam3d.h5", "all")
    final = Predictor(MODEL_3D) if MODEL_3D.exists() else None
    base = Predictor(RUNS / "ionnet3d-base.safetensors")

    def mape(p, imgs, exact):
        pred = np.array([r.relative_conductivity for r in p.predict(list(imgs))])
        err = np.abs(pred - exact) / exact * 100
        return f"{err.mean():.2f}"

    print("\n### Leave-one-family-out, 3D (64^3, electrolyte fraction 0.3-1.0)\n")
    print(
        "| family | n | held out: MAPE % | held out: p95 % | previous model: MAPE % "
        "| final model, test split: n | MAPE % |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    true_all = data.labels["relative_conductivity"]
    test = load_split(RUNS / "fam3d.h5", "test")
    for fam in sorted(set(data.generator)):
        sel = (data.generator == fam) & (true_all > 0) & (true_all < 1)
        cells = ["-", "-"]
        if fam in groups:
            pred, true, _, _ = _arrays(groups[fam])
            err = np.abs(pred - true) / true * 100
            cells = [f"{err.mean():.2f}", f"{np.quantile(err, 0.95):.1f}"]
        prev = mape(base, data.images[sel].astype(bool), true_all[sel])
        tsel = (test.generator == fam) & (test.labels["relative_conductivity"] > 0)
        tsel &= test.labels["relative_conductivity"] < 1
        fin = (
            mape(final, test.images[tsel].astype(bool), test.labels["relative_conductivity"][tsel])
            if final
            else "-"
        )
        print(
            f"| {fam} | {int(sel.sum())} | {' | '.join(cells)} | {prev} | {int(tsel.sum())} | {fin} |"
        )
    print(
        "\n*held out*: the model fine-tuned on the other nine families, on every image of this "
        "one; *previous model*: the 3D model bundled before (spheres / ellipsoids / blobs only), "
        "on every image; *final model*: fine-tuned on all ten families (bundled), on the test "
        "split. Exact answers (blocked: 0) are left out."
    )


def paper_protocol() -> None:
    from ionflow.dataset import load_split
    from ionflow.surrogate import Predictor

    data = load_split(RUNS / "paper.h5", "test")
    true = data.labels["relative_conductivity"]
    pred, _ = Predictor(MODEL_2D).predict_relative(data.images.astype(bool))
    m = true > 0
    err = np.abs(pred[m] - true[m]) / true[m] * 100
    print(
        f"\nPaper-protocol test set (runs/paper.h5, {m.sum()} images, `{MODEL_2D.name}`, "
        f"defaults): MAPE {err.mean():.2f} %, p95 {np.quantile(err, 0.95):.1f} %."
    )


# -- speed -----------------------------------------------------------------------------------


def _run(cmd: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        print(f"(failed: {' '.join(cmd)}: {p.stderr.strip()[-300:]})", file=sys.stderr)
    return dt, sum(1 for x in p.stdout.splitlines() if x.startswith("{"))


def speed(n: int = 2500, repeats: int = 2) -> None:
    from ionflow import read_image, simulate
    from ionflow.generate import disks
    from ionflow.io import write_image
    from ionflow.surrogate import Predictor, default_model_path

    print("\n### Speed: whole processes, defaults, same run (best of", repeats, "runs)\n")
    print("| workload | `ionflow predict` s | `ionflow simulate` s | predict / simulate |")
    print("| --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    fr = np.repeat([0.6, 0.7, 0.8, 0.9, 1.0], n // 5)
    with tempfile.TemporaryDirectory() as d:
        for i, f in enumerate(fr):
            write_image(
                Path(d) / f"img_{i:05d}.png", disks((64, 64), electrolyte_fraction=f, rng=rng)
            )
        tp = min(_run([EXE, "predict", d, "--json"])[0] for _ in range(repeats))
        ts = min(_run([EXE, "simulate", d, "--json", "--no-progress"])[0] for _ in range(repeats))
        print(f"| {n} PNGs of 64x64 (paper fractions) | {tp:.2f} | {ts:.2f} | {tp / ts:.2f} |")
    real = SHARED / "real" / "taufactor_electrode_256.tiff"
    opts = ["--conductive-label", "0", "--json"]
    tp = min(_run([EXE, "predict", str(real), *opts])[0] for _ in range(repeats))
    ts = _run([EXE, "simulate", str(real), *opts, "--no-progress"])[0]
    print(f"| real 256^3 electrode, axis 0 | {tp:.2f} | {ts:.1f} | 1/{ts / tp:.0f} |")
    vol = read_image(real, conductive_labels=[0])
    p = Predictor(default_model_path(3))
    p.predict([vol])
    t = time.perf_counter()
    for _ in range(3):
        p.predict([vol])
    t_pred = (time.perf_counter() - t) / 3
    t = time.perf_counter()
    simulate(vol)
    t_sol = time.perf_counter() - t
    print(
        f"| real 256^3, in-process: `Predictor.predict` / `simulate` | {t_pred:.3f} | {t_sol:.1f} "
        f"| 1/{t_sol / t_pred:.0f} |"
    )


def main() -> int:
    global SHARED
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["calibrate", "report", "speed"])
    ap.add_argument("--crops", type=int, default=4, help="3D crops per volume (x 3 axes)")
    ap.add_argument("--crops2d", type=int, default=60, help="2D crops per volume")
    ap.add_argument("--repeats", type=int, default=2, help="speed: best of this many runs")
    ap.add_argument(
        "--data",
        type=Path,
        default=SHARED,
        help="folder with real/ (label volumes) and benchmark/ (the TauFactor 500^3 zip); "
        f"default {SHARED}",
    )
    args = ap.parse_args()
    SHARED = args.data
    if args.what == "calibrate":
        calibrate()
        return 0
    print(
        f"Machine: {machine()}. Command: `python benchmarks/surrogate_families.py "
        f"{' '.join(sys.argv[1:])}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
    )
    if args.what == "speed":
        speed(repeats=args.repeats)
        return 0
    lofo_table()
    calibration_table(
        lofo_residuals(), "Calibration on held-out families, 3D (leave-one-family-out)"
    )
    calibration_table(family_residuals_2d(), "Calibration on held-out families, 2D")
    if MODEL_3D.exists():
        real_table(MODEL_3D, 3, args.crops)
    real_table(MODEL_2D, 2, args.crops2d)
    paper_protocol()
    speed(repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
