"""Prediction intervals that mean something: normalised split-conformal calibration.

A network is confidently wrong on microstructures unlike its training data, and the spread of
its flips cannot see that. Instead the error is calibrated on microstructure *families the
network never saw* (leave-one-family-out residuals, ``benchmarks/surrogate_families.py``):

1. A difficulty scale ``s(x) = exp(w . z(x))`` is fitted by least squares of ``log|r|`` on
   cheap descriptors ``z`` of each prediction (see :func:`descriptors`), where
   ``r = log(predicted / exact)``.
2. The conformal quantile ``q`` is the ceil((n + 1) c) / n quantile of ``|r| / s(x)`` over the
   calibration set (c = coverage, 0.9).
3. The interval of a new prediction p is ``[p exp(-q s(x)), p exp(q s(x))]``.

Split-conformal guarantees the coverage for new cases *exchangeable* with the calibration
cases; a new family is not exchangeable with the old ones, so the coverage on held-out families
is measured, not promised (BENCHMARKS.md, calibration table). The calibration is stored in the
model file's metrics (``metrics["conformal"]``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DESCRIPTORS", "descriptors", "fit_conformal", "interval"]

DESCRIPTORS = (
    "one",
    "log feature distance / threshold",
    "log electrolyte fraction",
    "log(electrolyte / percolating fraction)",
    "log predicted relative conductivity",
    "log interface density / training reference",
)


def descriptors(
    *,
    distance: np.ndarray,
    threshold: float,
    fraction: np.ndarray,
    percolating: np.ndarray,
    predicted: np.ndarray,
    interface: np.ndarray,
    interface_reference: float,
) -> np.ndarray:
    """Build the inputs ``z`` of the difficulty scale, one row per prediction.

    NaN inputs count as typical.

    Parameters
    ----------
    distance : ndarray, shape (n,)
        Feature distance of each image to the training data (:func:`feature_distance`).
    threshold : float
        The model's feature-distance threshold; distances are divided by it.
    fraction, percolating : ndarray, shape (n,)
        Electrolyte fraction and percolating fraction of each image.
    predicted : ndarray, shape (n,)
        Predicted relative conductivity.
    interface : ndarray, shape (n,)
        Interface density of each image (:func:`interface_density`).
    interface_reference : float
        The training images' typical interface density.

    Returns
    -------
    ndarray, shape (n, len(DESCRIPTORS))
        The descriptors named in :data:`DESCRIPTORS`, in that order.
    """
    n = len(np.atleast_1d(fraction))
    d = np.asarray(distance, float) / (threshold if threshold and threshold > 0 else 1.0)
    d = np.where(np.isfinite(d) & (d > 0), d, 1.0)
    f = np.clip(np.asarray(fraction, float), 1e-3, 1.0)
    p = np.clip(np.asarray(percolating, float), 1e-3, 1.0)
    r = np.clip(np.asarray(predicted, float), 1e-4, 1.0)
    s = np.clip(np.asarray(interface, float), 1e-4, None) / max(interface_reference, 1e-4)
    return np.column_stack(
        [np.ones(n), np.log(d), np.log(f), np.log(f / np.minimum(p, f)), np.log(r), np.log(s)]
    )


def fit_conformal(
    residual: np.ndarray, z: np.ndarray, *, coverage: float = 0.9, ridge: float = 1e-2
) -> dict:
    """Calibrate on log residuals ``residual`` (n,) with descriptors ``z`` (n, k).

    Parameters
    ----------
    residual : ndarray, shape (n,)
        ``log(predicted / exact)`` of the calibration cases.
    z : ndarray, shape (n, k)
        Their descriptors (:func:`descriptors`).
    coverage : float
        Fraction of cases the interval should hold, e.g. 0.9.
    ridge : float
        Ridge penalty of the least-squares fit of the scale weights.

    Returns
    -------
    dict
        JSON-ready: ``weights`` of the scale, the conformal ``quantile``, the ``coverage`` asked
        for and the number of calibration cases ``n``.
    """
    residual = np.abs(np.asarray(residual, float))
    z = np.asarray(z, float)
    ok = np.isfinite(residual) & np.isfinite(z).all(1)
    residual, z = residual[ok], z[ok]
    if residual.size < 10:
        raise ValueError(f"{residual.size} calibration cases: need at least 10")
    target = np.log(np.maximum(residual, 1e-5))
    reg = ridge * np.eye(z.shape[1])
    reg[0, 0] = 0.0  # the intercept is not shrunk
    w = np.linalg.solve(z.T @ z + reg * len(z), z.T @ target)
    score = residual / np.exp(z @ w)
    n = score.size
    level = min(1.0, math.ceil((n + 1) * coverage) / n)
    q = float(np.quantile(score, level, method="higher"))
    return {
        "weights": [float(v) for v in w],
        "descriptors": list(DESCRIPTORS),
        "quantile": q,
        "coverage": coverage,
        "n": int(n),
    }


def interval(predicted: np.ndarray, z: np.ndarray, cal: dict) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of the calibrated interval.

    Parameters
    ----------
    predicted : ndarray, shape (n,)
        Predicted relative conductivities.
    z : ndarray, shape (n, k)
        Their descriptors (:func:`descriptors`).
    cal : dict
        A calibration from :func:`fit_conformal`.

    Returns
    -------
    lo, hi : ndarray, shape (n,)
        The interval's ends; its log half-width is ``log(hi / predicted)``.
    """
    half = cal["quantile"] * np.exp(np.asarray(z, float) @ np.asarray(cal["weights"]))
    p = np.asarray(predicted, float)
    return p * np.exp(-half), p * np.exp(half)
