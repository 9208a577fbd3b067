"""One file along one axis in a batch: a typed result, or the one-line reason it has none.

Shared by ``ionflow.simulate_files`` (exact) and ``ionflow.surrogate.predict_files``
(surrogate), so their JSON rows are built the same way. Light: no solver is imported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._result import ConductionResult

__all__ = ["FileOutcome", "anisotropy"]


def anisotropy(relative_conductivities: Iterable[float]) -> float:
    """Largest over smallest sigma_eff / sigma of one image's axes; ``inf`` when one is 0."""
    values = list(relative_conductivities)
    low = min(values)
    return max(values) / low if low > 0 else math.inf


@dataclass(frozen=True)
class FileOutcome:
    """One file along one axis: ``result``, or ``error`` (a line naming the file).

    Attributes
    ----------
    source : str
        The file.
    axis : int
        The flow axis; -1 when the file could not be read (no axis was tried).
    result : ConductionResult or None
    error : str or None
        Why there is no result, starting with the file name.
    pixel_size : float, tuple of float, or None
        The pixel size used (m; one per axis for anisotropic voxels); None: the l = A = 1
        convention.
    anisotropy : float or None
        With every axis of a file (``axes=None``): the ratio of its largest to its smallest
        relative conductivity (``inf`` when blocked along one axis; JSON ``null``); None when
        not asked for (the JSON row then has no ``anisotropy`` key).
    """

    source: str
    axis: int
    result: ConductionResult | None = None
    error: str | None = None
    pixel_size: float | tuple[float, ...] | None = None
    anisotropy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON row: ``file``, the result's keys, ``pixel_size`` (and ``anisotropy``)."""
        if self.result is None:
            return {"file": self.source, "axis": self.axis, "error": self.error}
        size = list(self.pixel_size) if isinstance(self.pixel_size, tuple) else self.pixel_size
        out = {"file": self.source, **self.result.to_dict(), "pixel_size": size}
        if self.anisotropy is not None:
            out["anisotropy"] = self.anisotropy if math.isfinite(self.anisotropy) else None
        return out
