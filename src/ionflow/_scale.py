"""The range of physical magnitudes ionflow accepts (a leaf below every layer: the readers
check pixel sizes from files with it, the solver every pixel size, conductivity and voltage)."""

from __future__ import annotations

__all__ = ["SCALE_LIMIT", "in_scale"]

SCALE_LIMIT = 1e30
"""Largest magnitude (and inverse of the smallest non-zero one) of a pixel size in m, a
conductivity in S/m or a voltage in V: far beyond any material (1e-30 m is 1e-20 of an atom),
and far enough inside float64's range that the solver's products and ratios of a few of them
stay finite (a pixel of 1e-300 m divided by zero, a matrix conductivity of 1e200 S/m
overflowed the harmonic mean of a face)."""


def in_scale(value: float) -> bool:
    """``value`` is 0 or of a magnitude within ``1 / SCALE_LIMIT .. SCALE_LIMIT``."""
    return value == 0 or 1.0 / SCALE_LIMIT <= abs(value) <= SCALE_LIMIT
