"""ionflow, the reference: ``simulate(img, axis).relative_conductivity`` (= sigma_eff / sigma)."""

from __future__ import annotations

import numpy as np

from . import preload, require

NAME = "ionflow"
LABEL = "ionflow"
REQUIRES = ("ionflow",)
INSTALL = "pip install -e ."  # from the repository root
VERSIONS = ("ionflow", "numpy", "scipy", "pyamg", "pypardiso")
MARKER = ("o", "C0")
CONVENTION = (
    "ionflow: Dirichlet faces are the image's own faces (half a voxel outside the first / "
    "last voxel centres); `relative_conductivity` = sigma_eff / sigma; tortuosity = "
    "fraction / relative."
)


def runner(images: list[np.ndarray], axis: int, spec: dict):
    """``simulate`` one by one, or ``simulate_many(jobs=spec["jobs"])`` when jobs > 1, with the
    keyword arguments in ``spec["simulate"]``."""
    ionflow = require("ionflow", NAME)
    preload("pypardiso", "pyamg")
    jobs = spec.get("jobs", 1)
    kwargs = dict(spec.get("simulate") or {})  # e.g. rtol, balance_tol (solver_scale.py)

    def solve():
        if jobs > 1:
            outs = list(ionflow.simulate_many(images, jobs=jobs, axis=axis, **kwargs))
            bad = [o.error for o in outs if o.error]
            if bad:
                raise RuntimeError(bad[0])
            return [o.result.relative_conductivity for o in outs], {}
        res = [ionflow.simulate(img, axis=axis, **kwargs) for img in images]
        rel = [r.relative_conductivity for r in res]
        if len(res) == 1:
            r = res[0]
            return rel, {"iterations": r.iterations, "accuracy": r.accuracy, "method": r.method}
        return rel, {"method": ",".join(sorted({r.method for r in res}))}

    return solve


def known_answers(img: np.ndarray) -> dict[str, float]:
    """Relative conductivity along axis 0."""
    ionflow = require("ionflow", NAME)
    return {"ionflow": ionflow.simulate(img, axis=0).relative_conductivity}


def on_blocked(img: np.ndarray) -> str:
    """What ``simulate`` returns (or raises) for an image without a percolating path."""
    ionflow = require("ionflow", NAME)
    try:
        r = ionflow.simulate(img)
        return f"relative {r.relative_conductivity:g}, percolating={r.percolating}"
    except Exception as exc:  # noqa: BLE001
        return f"raises {type(exc).__name__}: {exc}"
