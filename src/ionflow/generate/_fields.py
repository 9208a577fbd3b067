"""Gaussian-random-field microstructures."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ._common import check_fraction, check_shape, top_fraction

__all__ = ["blobs"]


def blobs(
    shape: tuple[int, ...] | int,
    *,
    electrolyte_fraction: float,
    correlation_length: float = 4.0,
    anisotropy: tuple[float, ...] | None = None,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Thresholded Gaussian random field (bicontinuous blobs), exact electrolyte fraction.

    Parameters
    ----------
    shape : int or tuple of int
        Image shape (cells), 2D or 3D; an int means a square image.
    electrolyte_fraction : float
        Target fraction of electrolyte (True) cells.
    correlation_length : float
        Standard deviation (cells) of the Gaussian filter applied to white noise (>= 0).
    anisotropy : tuple of float, optional
        Per-axis multiplier of the correlation length (e.g. (2, 1) stretches along axis 0).
    rng : int or numpy Generator, optional
        Seed or generator; the same seed gives the same image.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True = electrolyte.
    """
    shape = check_shape(shape)
    fraction = check_fraction(electrolyte_fraction)
    if not (math.isfinite(correlation_length) and correlation_length >= 0):  # 0: white noise
        raise InputError(
            f"correlation_length must be a finite number of cells >= 0, got {correlation_length}"
        )
    stretch = np.ones(len(shape))
    if anisotropy is not None:
        stretch = np.asarray(anisotropy, dtype=float).ravel()
        if stretch.size != len(shape) or not np.all(np.isfinite(stretch) & (stretch > 0)):
            raise InputError(
                f"anisotropy must be {len(shape)} positive, finite factors, got {anisotropy}"
            )
    rng = np.random.default_rng(rng)
    noise = rng.standard_normal(shape)
    sigma = float(correlation_length) * stretch
    field = ndimage.gaussian_filter(noise, sigma, mode="wrap")
    return top_fraction(field, fraction)
