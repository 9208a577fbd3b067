"""Draw one 2D image and one 3D mid-slice per generator family into ``docs/generators.png``.

    python docs/make_generator_figures.py

Electrolyte (conductive) is light, solid dark; for ``binder`` the carbon-binder phase is grey.
All images at electrolyte fraction 0.5, default (randomly drawn) shape parameters except where
the title says otherwise; ``fitted`` matches the statistics of an ``anisotropic`` source image.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ionflow.generate import anisotropic, binder_labels, fit_statistics, generate  # noqa: E402

OUT = Path(__file__).resolve().parent / "generators.png"
FRACTION = 0.5
FAMILIES = {
    "lognormal": {},
    "anisotropic": {"shape_kind": "oblate", "align": 0},
    "fibres": {},
    "agglomerates": {},
    "binder": {},
    "grf": {},
    "fitted": {},
}


def image(kind: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Grey levels: 1 = electrolyte, 0 = solid, 0.55 = binder."""
    if kind == "binder":
        labels = binder_labels(shape, electrolyte_fraction=FRACTION, rng=seed)
        return np.choose(labels, [1.0, 0.0, 0.55])
    options = dict(FAMILIES[kind])
    if kind == "fitted":
        source = anisotropic(
            shape,
            electrolyte_fraction=0.45,
            radius=4.0,
            aspect=3.0,
            shape_kind="prolate",
            align=1,
            rng=99,
        )
        options["stats"] = fit_statistics(source)
    return generate(kind, shape, electrolyte_fraction=FRACTION, rng=seed, **options).astype(float)


def main() -> None:
    fig, axes = plt.subplots(2, len(FAMILIES), figsize=(2.0 * len(FAMILIES), 4.4))
    for j, kind in enumerate(FAMILIES):
        flat = image(kind, (128, 128), seed=j)
        volume = image(kind, (64, 64, 64), seed=j)
        for i, (img, label) in enumerate(
            ((flat, "2D 128x128"), (volume[:, :, 32], "3D 64^3, mid-slice"))
        ):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(kind, fontsize=10)
            if j == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.suptitle(
        f"ionflow generator families (electrolyte fraction {FRACTION}, light = electrolyte)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
