"""How files become phases: one small frozen config object, checked once."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["ReadOptions"]


@dataclass(frozen=True)
class ReadOptions:
    """The options of :func:`ionflow.io.read_image`, as one value (picklable, comparable).

    ``ReadOptions(...)(path)`` reads a file; batch functions (``ionflow.simulate_files``,
    ``ionflow.surrogate.predict_files``) take one instead of seven keywords, and a resumable
    output records :meth:`to_dict` beside every row. Bad values raise
    :class:`~ionflow.InputError` when the object is made, before any file is read.

    Attributes
    ----------
    threshold : float or None
        Grayscale threshold (default: Otsu).
    invert : bool
        Swap the phases (dark = electrolyte).
    labels : bool or None
        True: a label image, kept as is; None: detected.
    conductive_labels : tuple of float or None
        Label values of the electrolyte; other labels insulate.
    crop : (top, bottom, left, right) or None
        Margins removed first, pixels or fractions below 1 of the height/width.
    denoise : {None, "median", "nlmeans"}
        Denoising of a grayscale image before thresholding.
    min_size : int
        Islands of either phase smaller than this many pixels are removed (0: keep all).
    """

    threshold: float | None = None
    invert: bool = False
    labels: bool | None = None
    conductive_labels: tuple[float, ...] | None = None
    crop: tuple[float, float, float, float] | None = None
    denoise: str | None = None
    min_size: int = 0

    def __post_init__(self) -> None:
        from ._segment import DENOISERS

        if self.threshold is not None and not math.isfinite(self.threshold):
            raise InputError(f"--threshold must be a finite number, got {self.threshold}")
        if self.conductive_labels is not None:
            object.__setattr__(
                self, "conductive_labels", tuple(float(v) for v in self.conductive_labels)
            )
        if self.crop is not None:
            crop = tuple(self.crop)
            if len(crop) != 4 or not all(math.isfinite(v) and v >= 0 for v in crop):
                raise InputError(
                    f"--crop needs 4 numbers >= 0 (top, bottom, left, right), got {self.crop}"
                )
            object.__setattr__(self, "crop", crop)
        if self.denoise is not None and self.denoise not in DENOISERS:
            raise InputError(
                f"unknown denoise method {self.denoise!r}; use one of {', '.join(DENOISERS)}"
            )
        size = self.min_size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise InputError(f"--min-size must be a whole number of pixels >= 0, got {size}")

    def read(self, path: str | os.PathLike) -> np.ndarray:
        """The phases of one file (bool, or labels for a label image); see ``read_image``.

        A ``min_size`` larger than the image is refused: it would remove every island of
        both phases and leave a uniform image that no longer says anything about the file.
        """
        from ._read import read_image

        out = read_image(
            path,
            threshold=self.threshold,
            invert=self.invert,
            labels=self.labels,
            conductive_labels=list(self.conductive_labels) if self.conductive_labels else None,
            crop=self.crop,
            denoise=self.denoise,
            min_size=self.min_size,
        )
        if self.min_size > out.size:
            raise InputError(
                f"--min-size {self.min_size} is larger than the image ({out.size} pixels)",
                source=str(path),
            )
        return out

    __call__ = read

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
