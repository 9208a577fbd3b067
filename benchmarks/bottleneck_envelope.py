#!/usr/bin/env python3
"""Add the training images' narrowest passages to a model trained before they were recorded.

    python benchmarks/bottleneck_envelope.py [MODEL ...] [--count N] [--check DIR]

New models record, per electrolyte-fraction bin, the narrowest passage along the flow of their
training images (``ionflow.surrogate.bottleneck_envelope``, in ``morphology_stats``): the
out-of-distribution check then flags an image with a much thinner wall (a network cannot see a
pinhole). The bundled models predate it. Their datasets are not bundled, but their recipe is
(``data.config`` in the model: generators, fraction range, shape, radius): this regenerates
``--count`` images of it (seeds other than the training ones; the ``fitted`` generator, which
needs a fitted image, is left out), stores the envelope in the model and re-exports its ONNX.
A regenerated sample's envelope lies at or above the real training set's (fewer images: a
narrower range), which only makes the check stricter where the training set had thinner
passages; the check flags at half the envelope.

``--check DIR``: count, over the ``.npy`` images in DIR (flow along axis 0), how many each
model would now flag for a thin wall (e.g. a held-out audit's images).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ionflow  # noqa: E402
from ionflow.surrogate import bottleneck, bottleneck_envelope, default_model_path  # noqa: E402
from ionflow.surrogate._meta import read_model_info  # noqa: E402


def sample(config: dict, count: int, seed: int) -> np.ndarray:
    """``count`` images of the recipe ``config`` (generators cycled, fractions uniform)."""
    shape = tuple(config["shape"])
    lo, hi = config.get("fraction_range") or (min(config["fractions"]), max(config["fractions"]))
    kinds = [g for g in dict.fromkeys(config["generators"]) if g != "fitted"]
    rng = np.random.default_rng(seed)
    out = np.zeros((count, *shape), bool)
    for k in range(count):
        kind = kinds[k % len(kinds)]
        f = float(rng.uniform(lo, hi))
        out[k] = ionflow.generate.generate(kind, shape, electrolyte_fraction=f, rng=seed + k)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="model files (default: the bundled 2D and 3D)")
    ap.add_argument("--count", type=int, default=0, help="images (default 2000 2D, 400 3D)")
    ap.add_argument("--seed", type=int, default=90_000)
    ap.add_argument("--check", metavar="DIR", help="count thin-wall flags over DIR/*.npy")
    args = ap.parse_args()
    models = [Path(m) for m in args.models] or [default_model_path(2), default_model_path(3)]
    for model in models:
        info = read_model_info(model)
        if args.check:
            env = info.stats.get("bottleneck")
            files = sorted(Path(args.check).rglob("*.npy"))
            flagged = 0
            for f in files:
                img = np.load(f).astype(bool)
                if img.ndim != info.dim or env is None:
                    continue
                frac = img.mean()
                least = env[min(int(frac / 0.05), len(env) - 1)]
                b = float(bottleneck(img[None])[0])
                flagged += least is not None and 0 < b < 0.5 * least
            print(f"{model.name}: {flagged} of {len(files)} flagged for a thin wall")
            continue
        from ionflow.model._checkpoint import load_bundle, save_bundle
        from ionflow.model._export import export_onnx

        t0 = time.perf_counter()
        count = args.count or (2000 if info.dim == 2 else 400)
        images = sample(info.data["config"], count, args.seed)
        envelope = bottleneck_envelope(images)
        bundle = load_bundle(model)
        bundle.data.setdefault("stats", {})["bottleneck"] = envelope
        bundle.data["stats"]["bottleneck_source"] = (
            f"{count} regenerated images of data.config (seeds {args.seed}+; "
            "benchmarks/bottleneck_envelope.py)"
        )
        save_bundle(model, bundle)
        export_onnx(model)
        shown = ", ".join(
            f"{0.05 * k:.2f}: {v:.3f}" for k, v in enumerate(envelope) if v is not None
        )
        print(f"{model.name}: {count} images in {time.perf_counter() - t0:.0f} s; {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
