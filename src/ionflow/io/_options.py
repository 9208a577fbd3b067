"""How files become phases: one small frozen config object, checked once."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ._phases import MAX_PHASES, too_many_thresholds

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
    threshold : float, tuple of float, or None
        Grayscale threshold (default: Otsu); several increasing values cut ``len + 1``
        phases.
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
    phases : int or None
        Gray-level classes of a grayscale image, 2 to 5 (None: 2, or one more than the
        thresholds given); classes are numbered darkest first (see :mod:`ionflow.io._phases`).
    phase_names : tuple of str or None
        Names of the classes, darkest first (e.g. ``("pore", "binder", "active")``).
    conductive_phases : tuple of int or None
        Classes that conduct, given by name or index (0 = darkest) and stored as indices; the
        image is then bool whatever the gray level of those classes (no ``invert`` for a dark
        electrolyte). With ``phases`` > 2 and none chosen, ``labels=True`` gives the classes
        as a label image for per-phase conductivities (:meth:`phase_conductivities`).
    """

    threshold: float | tuple[float, ...] | None = None
    invert: bool = False
    labels: bool | None = None
    conductive_labels: tuple[float, ...] | None = None
    crop: tuple[float, float, float, float] | None = None
    denoise: str | None = None
    min_size: int = 0
    phases: int | None = None
    phase_names: tuple[str, ...] | None = None
    conductive_phases: tuple[int | str, ...] | None = None

    def __post_init__(self) -> None:
        from ._segment import DENOISERS

        self._check_phases()
        if self.conductive_labels is not None:
            object.__setattr__(
                self, "conductive_labels", tuple(float(v) for v in self.conductive_labels)
            )
            if self.invert:  # it would swap the phases after the labels were picked
                raise InputError(
                    "--invert does not apply with --conductive-label: name the labels that conduct"
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

    @property
    def n_phases(self) -> int:
        """Gray-level classes a grayscale image is cut into (2 unless asked otherwise)."""
        if self.phases is not None:
            return self.phases
        return len(self.threshold) + 1 if isinstance(self.threshold, tuple) else 2

    @property
    def names(self) -> tuple[str, ...]:
        """The class names, darkest first (``"0"``, ``"1"``, ... unless named)."""
        return self.phase_names or tuple(str(k) for k in range(self.n_phases))

    def _check_phases(self) -> None:
        """Normalise and check threshold, phases, names and the conducting classes."""
        t = self.threshold
        if isinstance(t, (list, tuple, np.ndarray)):
            cuts = tuple(float(v) for v in t)
            if not cuts or not all(math.isfinite(v) for v in cuts):
                raise InputError(f"--threshold must be finite numbers, got {list(t)}")
            if any(b <= a for a, b in zip(cuts, cuts[1:])):
                raise InputError(f"--threshold values must increase, got {list(cuts)}")
            if self.phases is None and len(cuts) > MAX_PHASES - 1:
                raise InputError(too_many_thresholds(len(cuts)))
            object.__setattr__(self, "threshold", cuts[0] if len(cuts) == 1 else cuts)
        elif t is not None and not math.isfinite(t):
            raise InputError(f"--threshold must be a finite number, got {t}")
        n = self.phases
        if n is not None:
            if (
                isinstance(n, bool)
                or not isinstance(n, (int, np.integer))
                or not 2 <= n <= MAX_PHASES
            ):
                raise InputError(f"--phases must be 2 to {MAX_PHASES}, got {n}")
            object.__setattr__(self, "phases", int(n))
            if isinstance(self.threshold, tuple) and len(self.threshold) != n - 1:
                raise InputError(
                    f"--phases {n} needs {n - 1} thresholds, got {len(self.threshold)}"
                )
        if self.phase_names is not None:
            names = tuple(str(v).strip() for v in self.phase_names)
            if len(names) != self.n_phases or len(set(names)) != len(names) or "" in names:
                raise InputError(
                    f"--phase-names needs {self.n_phases} different names (darkest first), "
                    f"got {list(names)}"
                )
            object.__setattr__(self, "phase_names", names)
        if self.conductive_phases is not None:
            chosen = tuple(sorted({self.phase_index(v) for v in self.conductive_phases}))
            if not chosen:
                raise InputError("--conductive-phase needs at least one phase")
            object.__setattr__(self, "conductive_phases", chosen)
        classes = self.n_phases > 2 or self.conductive_phases is not None
        if classes and self.conductive_labels is not None:
            raise InputError(
                "--conductive-label names values of a label image; for phases cut by gray "
                "level use --conductive-phase"
            )
        if classes and self.invert:
            raise InputError(
                "--invert does not apply to phases cut by gray level: name the phase that "
                "conducts (--conductive-phase)"
            )

    def phase_index(self, phase: int | str) -> int:
        """The class (0 = darkest) of a phase given by name or index."""
        names = self.names
        text = str(phase).strip()
        if text in names:
            return names.index(text)
        try:
            k = int(text)
        except ValueError:
            k = -1
        if not 0 <= k < len(names):
            raise InputError(
                f"unknown phase {phase!r}; the phases, darkest first: {', '.join(names)}"
            )
        return k

    def phase_conductivities(self, values: Mapping[int | str, float]) -> dict[float, float]:
        """Per-phase conductivities as the ``label_conductivities`` of :func:`ionflow.simulate`.

        Parameters
        ----------
        values : mapping of phase (name or index) -> S/m
            The phases not listed insulate (0 S/m).

        Returns
        -------
        dict of float -> float
            Class index (0 = darkest) -> S/m, every class present.
        """
        out = dict.fromkeys(range(self.n_phases), 0.0)
        for phase, sigma in values.items():
            out[self.phase_index(phase)] = float(sigma)
        return {float(k): v for k, v in out.items()}

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
            phases=self.phases,
            conductive_phases=self.conductive_phases,  # type: ignore[arg-type]  # indices
            phase_names=self.phase_names,
        )
        if self.min_size > out.size:
            raise InputError(
                f"--min-size {self.min_size} is larger than the image ({out.size} pixels)",
                source=str(path),
            )
        return out

    __call__ = read

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples become lists); the phase options only when set, so rows
        written before they existed still match a rerun with the same flags."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        for key in ("phases", "phase_names", "conductive_phases"):
            if out[key] is None:
                del out[key]
        return out
