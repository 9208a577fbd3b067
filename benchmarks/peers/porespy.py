"""PoreSpy ``simulations.tortuosity_fd``: ``1 / formation_factor`` (= Deff).

Its Dirichlet values sit on the first/last voxel centres and it already scales by the n - 1
cells between them (``Deff = rate (L - 1) / A / dC``), so a uniform image and straight channels
give exactly 1 and the channel fraction, as in ionflow; on other images the half-voxel end
layers differ, an O(1/n) discretisation difference that is reported, not corrected.
"""

from __future__ import annotations

import logging

import numpy as np

from . import preload, require

NAME = "porespy"
LABEL = "PoreSpy tortuosity_fd"
API = "tortuosity_fd"
TAG = "ps"
BATCH_VARIANT = "tortuosity_fd loop"
BATCH_SPEC: dict = {}
REQUIRES = ("porespy", "openpnm")
INSTALL = "pip install porespy openpnm"
VERSIONS = ("porespy", "openpnm")
MARKER = ("^", "C2")
CONVENTION = (
    "PoreSpy `tortuosity_fd`: Dirichlet values on the first / last voxel centres, and "
    "`Deff = rate (L - 1) / A / dC` already uses the n - 1 cells between them; we use "
    "`1 / formation_factor` = `Deff` = `effective_porosity / tortuosity` (its tortuosity "
    "divides the *percolating* porosity, ionflow's the total fraction: in ionflow's "
    "convention tortuosity = fraction x formation_factor). Uniform images and straight "
    "channels then agree exactly; on other images the two half-voxel end layers are "
    "treated differently, an O(1/n) discretisation difference (PoreSpy lower by a few "
    "tenths of a percent, shrinking with n) that is reported, not corrected. Its default "
    "stopping (`ftol=1e-3` on the inlet / outlet flux mismatch) leaves ~1e-4 error; "
    "`tol=1e-12` shows the exact value."
)


def _porespy():
    porespy = require("porespy", NAME)
    logging.getLogger("porespy").setLevel(logging.ERROR)
    return porespy


def runner(images: list[np.ndarray], axis: int, spec: dict):
    """``tortuosity_fd`` on each image in turn."""
    porespy = _porespy()
    preload("openpnm", "pyamg", "porespy.beta")

    def solve():
        rel, conv = [], []
        for img in images:
            r = porespy.simulations.tortuosity_fd(img, axis=axis)
            rel.append(1.0 / float(r.formation_factor))
            conv.append(bool(r.converged))
        return rel, {"converged": all(conv)}

    return solve


def known_answers(img: np.ndarray) -> dict[str, float]:
    """``1/F``, ``eps_eff/tau`` and ``1/F`` solved to ``tol=1e-12``, along axis 0."""
    porespy = _porespy()
    r = porespy.simulations.tortuosity_fd(img, axis=0)
    row = {
        "porespy 1/F": 1.0 / float(r.formation_factor),
        "porespy eps_eff/tau": float(r.effective_porosity / r.tortuosity),
    }
    r = porespy.simulations.tortuosity_fd(img, axis=0, tol=1e-12)
    row["porespy 1/F (tol=1e-12)"] = 1.0 / float(r.formation_factor)
    return row


def on_blocked(img: np.ndarray) -> str:
    """What ``tortuosity_fd`` returns (or raises) for a non-percolating image."""
    porespy = _porespy()
    try:
        r = porespy.simulations.tortuosity_fd(img, axis=0)
        return f"returns tortuosity={r.tortuosity:g}, formation_factor={r.formation_factor:g}"
    except Exception as exc:  # noqa: BLE001
        return f"raises {type(exc).__name__}: {str(exc)[:120]}"
