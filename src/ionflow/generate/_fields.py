"""Gaussian-random-field microstructures."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

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
        Standard deviation (cells) of the Gaussian filter applied to white noise.
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
    rng = np.random.default_rng(rng)
    noise = rng.standard_normal(shape)
    sigma = np.full(len(shape), float(correlation_length))
    if anisotropy is not None:
        sigma *= np.asarray(anisotropy, dtype=float)
    field = ndimage.gaussian_filter(noise, sigma, mode="wrap")
    return top_fraction(field, fraction)
