"""Conductivity maps, percolation and the finite-volume system.

The numerical conventions (faces, electrodes, currents) live in ``_stencil.py``; here:

* Cells not in a conductive cluster that touches *both* electrodes carry no current. They are
  removed before the solve: floating clusters (touching neither face) and clusters touching only
  one face. Dead-end branches of the percolating cluster stay in. A blocked image has no unknowns
  and an exact current of 0.
* The system is solved in reduced units (sigma_ref = 1, V = 1, cell weight 1); physical units are
  applied afterwards, which makes the result exactly linear in V and sigma.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._scale import SCALE_LIMIT, in_scale
from ..errors import InputError
from ._clusters import electrode_clusters
from ._stencil import DEFAULT, Stencil, electrode_conductances, face_conductances

__all__ = [
    "LinearSystem",
    "assemble",
    "conductivity_map",
    "electrode_clusters",
    "percolating_mask",
]


def conductivity_map(
    image: np.ndarray,
    *,
    conductivity: float = 1.0,
    matrix_conductivity: float = 0.0,
    label_conductivities: Mapping[float, float] | None = None,
    source: str | None = None,
    as_mask: bool = False,
) -> tuple[Any, np.ndarray, float]:
    """Turn an image into cell conductivities.

    Parameters
    ----------
    image : ndarray, shape (n0, n1) or (n0, n1, n2)
        Binary image (nonzero = electrolyte) or, with ``label_conductivities``, a label image.
    conductivity : float
        Electrolyte conductivity sigma in S/m (the reference for relative values).
    matrix_conductivity : float
        Conductivity of the zero phase (active material) in S/m; 0 means insulating.
    label_conductivities : mapping of label -> S/m, optional
        One conductivity per label value. Every label present must be listed. The electrolyte is
        the most conductive label and its conductivity is the reference sigma.
    source : str, optional
        Name of the input, used in error messages.
    as_mask : bool
        Return ``None`` for ``sigma_rel`` when it would be the electrolyte mask itself (a
        binary image with an insulating matrix), saving 8 bytes per cell.

    Returns
    -------
    sigma_rel : ndarray of float64, or None
        Conductivity divided by the reference sigma, same shape as ``image``.
    electrolyte : ndarray of bool
        Cells of the electrolyte phase.
    sigma_ref : float
        The reference conductivity in S/m.
    """
    if label_conductivities:
        if conductivity != 1.0 or matrix_conductivity != 0.0:
            # they would be ignored: the labels' own values set every conductivity
            given = "conductivity" if conductivity != 1.0 else "matrix_conductivity"
            raise InputError(
                f"{given} does not apply with label_conductivities (--label-conductivity): "
                "give each label's conductivity there",
                source=source,
            )
        labels = np.unique(image)
        missing = [lab for lab in labels.tolist() if lab not in label_conductivities]
        if missing:
            from ..io._phases import shorten

            raise InputError(
                f"labels {shorten([f'{m:g}' for m in missing])} have no conductivity (given: "
                f"{shorten([f'{k:g}' for k in sorted(label_conductivities)])})",
                source=source,
            )
        values = {float(k): float(v) for k, v in label_conductivities.items()}
        if any(v < 0 or not np.isfinite(v) for v in values.values()):
            raise InputError("label conductivities must be finite and >= 0", source=source)
        if not all(in_scale(v) for v in values.values()):
            raise InputError(
                f"label conductivities must be 0 or between {1 / SCALE_LIMIT:g} and "
                f"{SCALE_LIMIT:g} S/m",
                source=source,
            )
        sigma_ref = max(values[float(lab)] for lab in labels.tolist())
        if sigma_ref <= 0:
            raise InputError(
                "every label present has conductivity 0 (all insulating)", source=source
            )
        lut_keys = np.array(sorted(values), dtype=np.float64)
        lut_vals = np.array([values[k] for k in lut_keys], dtype=np.float64)
        sigma = lut_vals[np.searchsorted(lut_keys, image.astype(np.float64))]
        electrolyte = sigma == sigma_ref
        return sigma / sigma_ref, electrolyte, sigma_ref
    if not (conductivity > 0 and np.isfinite(conductivity)):
        raise InputError(
            f"conductivity must be a positive number, got {conductivity}", source=source
        )
    if not (matrix_conductivity >= 0 and np.isfinite(matrix_conductivity)):
        raise InputError(
            f"matrix conductivity must be >= 0, got {matrix_conductivity}", source=source
        )
    for what, value in (
        ("conductivity", conductivity),
        ("matrix conductivity", matrix_conductivity),
    ):
        if not in_scale(value):
            raise InputError(
                f"{what} {value:g} S/m is out of range: give a value between "
                f"{1 / SCALE_LIMIT:g} and {SCALE_LIMIT:g} S/m",
                source=source,
            )
    _check_binary(image, source)
    electrolyte = image != 0
    if as_mask and matrix_conductivity == 0:
        return None, electrolyte, float(conductivity)
    sigma = np.where(electrolyte, 1.0, matrix_conductivity / conductivity)
    return sigma, electrolyte, float(conductivity)


LABEL_HINT = "give label_conductivities (--label-conductivity LABEL=S or --conductive-label L)"


def _check_binary(image: np.ndarray, source: str | None, hint: str = LABEL_HINT) -> None:
    """A binary image has one nonzero value (or is bool): refuse a label image or a negative
    value instead of letting every nonzero label conduct (a 0/85/170 volume would otherwise
    make the solid conduct). ``hint``: the options that say which label conducts."""
    if image.dtype == bool or image.size == 0:
        return
    top = image.max()
    low = image.min()
    if low < 0:
        raise InputError(
            f"the image has negative values ({low}): binary images are 0 and one positive "
            f"value; for a label image, {hint}",
            source=source,
        )
    if top == 0:
        return
    other = np.min(image, where=image != 0, initial=top)
    if other != top:
        raise InputError(
            f"the image has several nonzero values ({other:g} and {top:g}): a label image? "
            f"{hint} or binarise it",
            source=source,
        )


def percolating_mask(
    conductive: np.ndarray, axis: int, periodic: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split conductive cells by which electrodes their face-connected cluster touches.

    Parameters
    ----------
    conductive : ndarray of bool
        Cells that conduct.
    axis : int
        Flow axis: the electrodes are the faces before its first and after its last slice.
    periodic : tuple of int
        Axes whose two faces wrap around (clusters connect across them).

    Returns
    -------
    both, inlet_only, outlet_only : ndarray of bool
        Cells of clusters touching both faces, only the phi = V face, only the phi = 0 face.
    """
    both, inlet_only, outlet_only = _split(conductive, axis, periodic, parts=True)
    assert inlet_only is not None and outlet_only is not None
    return both, inlet_only, outlet_only


def percolating_cells(
    conductive: np.ndarray, axis: int, periodic: tuple[int, ...] = ()
) -> np.ndarray:
    """``percolating_mask(...)[0]`` without building the other two masks (two bool images:
    0.5 s at 500^3)."""
    return _split(conductive, axis, periodic, parts=False)[0]


def _split(
    conductive: np.ndarray, axis: int, periodic: tuple[int, ...], *, parts: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    conductive = np.asarray(conductive, dtype=bool)
    if conductive.all():
        empty = np.zeros_like(conductive) if parts else None
        return conductive.copy(), empty, empty
    labels, first, last = electrode_clusters(conductive, axis, periodic)

    def cells(lut: np.ndarray) -> np.ndarray:
        # whole-image lookups only when the answer is mixed (a 500^3 lookup takes ~0.3 s)
        if not lut[1:].any():
            return np.zeros_like(conductive)
        if lut[1:].all():
            return conductive.copy()
        return lut.view(np.uint8)[labels].view(bool)

    if not parts:
        return cells(first & last), None, None
    return cells(first & last), cells(first & ~last), cells(last & ~first)


@dataclass(frozen=True)
class LinearSystem:
    """The reduced-unit system A x = b over the kept cells.

    Attributes
    ----------
    A : scipy.sparse.csr_matrix
        Symmetric positive definite weighted graph Laplacian of the kept cells plus the
        electrode couplings on its diagonal.
    b : ndarray
        Right-hand side: the inlet couplings (V = 1); the solution ``x`` is phi / V.
    keep : ndarray of bool
        The cells that are unknowns, in the image's shape.
    inlet, outlet : ndarray of int
        Unknowns in the first / last slice along the flow.
    g_inlet, g_outlet : ndarray
        Their electrode conductances (2 sigma w, see ``_stencil``).
    """

    A: sp.csr_matrix
    b: np.ndarray
    keep: np.ndarray
    inlet: np.ndarray
    g_inlet: np.ndarray
    outlet: np.ndarray
    g_outlet: np.ndarray

    def currents(self, x: np.ndarray) -> tuple[float, float]:
        """Reduced inlet and outlet current for the solution ``x``.

        Parameters
        ----------
        x : ndarray
            Reduced potential on the unknowns.

        Returns
        -------
        inlet, outlet : float
            Current through the phi = V face and through the phi = 0 face.
        """
        inlet = float(np.dot(self.g_inlet, 1.0 - x[self.inlet]))
        outlet = float(np.dot(self.g_outlet, x[self.outlet]))
        return inlet, outlet

    def residual(self, x: np.ndarray) -> np.ndarray:
        """``b - A x`` summed from potential differences, face by face (``A`` is a graph
        Laplacian plus the electrode couplings): ``A @ x`` would lose the small fluxes of a
        weakly conducting phase to cancellation, which stalls iterative refinement."""
        A = self.A
        n = A.shape[0]
        rows = np.repeat(np.arange(n), np.diff(A.indptr))
        off = rows != A.indices
        rows, cols = rows[off], A.indices[off]
        r = np.bincount(rows, weights=-A.data[off] * (x[cols] - x[rows]), minlength=n)
        r[self.inlet] += self.g_inlet * (1.0 - x[self.inlet])
        r[self.outlet] -= self.g_outlet * x[self.outlet]
        return r


def assemble(
    sigma: np.ndarray, keep: np.ndarray, axis: int, stencil: Stencil = DEFAULT
) -> LinearSystem:
    """Assemble the reduced system on the cells in ``keep`` (vectorised, no pixel loops).

    Parameters
    ----------
    sigma : ndarray
        Relative cell conductivities.
    keep : ndarray of bool
        Cells that are unknowns: a union of whole clusters (as from :func:`percolating_mask`).
    axis : int
        Flow axis.
    stencil : Stencil
        Cell spacing and periodic axes (default: unit cubes, insulating lateral faces).

    Returns
    -------
    LinearSystem
    """
    n = int(keep.sum())
    itype = np.int32 if keep.size < 2**31 - 1 else np.int64
    index = np.full(sigma.shape, -1, dtype=itype)
    index[keep] = np.arange(n, dtype=itype)
    s = np.where(keep, sigma, 0.0)
    w = stencil.weights(sigma.ndim)
    diag = np.zeros(n)
    rows, cols, vals = [], [], []
    for d in range(sigma.ndim):
        wrap = stencil.is_periodic(d) and sigma.shape[d] > 1
        g = face_conductances(s, d, weight=w[d], periodic=wrap)
        m = g > 0
        g = g[m]
        if wrap:  # face k joins cell k and cell k + 1 (mod n)
            i, j = index[m], np.roll(index, -1, axis=d)[m]
        else:
            i, j = index[_lower(sigma.ndim, d)][m], index[_upper(sigma.ndim, d)][m]
        diag += np.bincount(i, g, minlength=n)
        diag += np.bincount(j, g, minlength=n)
        rows += [i, j]
        cols += [j, i]
        vals += [-g, -g]
    first = np.take(keep, 0, axis=axis)
    last = np.take(keep, -1, axis=axis)
    inlet = np.take(index, 0, axis=axis)[first]
    outlet = np.take(index, -1, axis=axis)[last]
    g_in, g_out = electrode_conductances(s, axis, weight=stencil.electrode_weight(s.ndim, axis))
    g_in, g_out = g_in[first], g_out[last]
    diag += np.bincount(inlet, g_in, minlength=n)
    diag += np.bincount(outlet, g_out, minlength=n)
    b = np.bincount(inlet, g_in, minlength=n).astype(np.float64)
    ar = np.arange(n, dtype=itype)
    A = sp.csr_matrix(
        (np.concatenate(vals + [diag]), (np.concatenate(rows + [ar]), np.concatenate(cols + [ar]))),
        shape=(n, n),
    )
    return LinearSystem(A, b, keep, inlet, g_in, outlet, g_out)


def _lower(ndim: int, d: int) -> tuple[slice, ...]:
    return tuple(slice(None, -1) if k == d else slice(None) for k in range(ndim))


def _upper(ndim: int, d: int) -> tuple[slice, ...]:
    return tuple(slice(1, None) if k == d else slice(None) for k in range(ndim))
