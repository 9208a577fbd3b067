"""What "Run" on the page does, as a plain function: no web framework here.

The solve is :func:`ionflow.simulate` on the phases :func:`~ionflow.app._upload.read_phases`
reads (as ``ionflow simulate FILE`` does), with the pixel size from the file's metadata; the
surrogate is :class:`ionflow.surrogate.Predictor` with the bundled model of the image's
dimension.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InputError
from ._upload import (
    PhaseOptions,
    UploadInfo,
    electrolyte_of,
    read_phases,
    require_label_choice,
    restate,
)

__all__ = ["AnalysisResult", "AxisResult", "analyse", "bundled_predictor"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""progress(step, total, message): ``step`` of ``total`` steps are done; ``message`` says what
runs now."""


@dataclass(frozen=True)
class AxisResult:
    """Answers along one flow axis.

    Attributes
    ----------
    axis : int
    exact : ConductionResult or None
        ``ionflow.simulate``'s answer (its fields dropped: see ``potential``).
    surrogate : PredictionResult or None
        The bundled CNN's answer with its 90 % interval and ood flag.
    surrogate_error : str or None
        Why there is no surrogate answer, when one was asked for.
    potential : ndarray of float32 or None
        Potential (V) per cell, NaN in cells that carry no current; the image's shape.
    current_magnitude : ndarray of float32 or None
        |current density| (A/m^2) per cell, the image's shape.
    """

    axis: int
    exact: Any = None
    surrogate: Any = None
    surrogate_error: str | None = None
    potential: np.ndarray | None = field(default=None, repr=False)
    current_magnitude: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one "Run" of the page produced.

    Attributes
    ----------
    file : str
        The uploaded file's name.
    shape : tuple of int
    options : PhaseOptions
    pixel_size : float or None
        Pixel edge (m) used; None: l = A = 1.
    voltage, conductivity : float
        Applied voltage (V) and electrolyte conductivity (S/m).
    axes : tuple of AxisResult
    electrolyte : ndarray of bool
        The conducting phase that was solved (for the maps).
    seconds : float
        Wall time of the whole analysis.
    """

    file: str
    shape: tuple[int, ...]
    options: PhaseOptions
    pixel_size: float | tuple[float, ...] | None
    voltage: float
    conductivity: float
    axes: tuple[AxisResult, ...]
    electrolyte: np.ndarray = field(repr=False)
    seconds: float = 0.0

    def axis(self, axis: int) -> AxisResult:
        for a in self.axes:
            if a.axis == axis:
                return a
        raise KeyError(axis)

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per axis and answer: ``kind`` "exact" (the keys of ``ionflow
        simulate --json``) or "surrogate" (those of ``ionflow predict --json``)."""
        rows: list[dict[str, Any]] = []
        exact = [a.exact.relative_conductivity for a in self.axes if a.exact is not None]
        anisotropy = None
        if len(exact) > 1 and min(exact) > 0:
            anisotropy = max(exact) / min(exact)
        for a in self.axes:
            if a.exact is not None:
                row = {"file": self.file, "kind": "exact", **a.exact.to_dict()}
                row["pixel_size"] = self.pixel_size
                if len(self.axes) > 1:
                    row["anisotropy"] = anisotropy
                rows.append(row)
            if a.surrogate is not None:
                row = {"file": self.file, "kind": "surrogate", **a.surrogate.to_dict()}
                row["pixel_size"] = self.pixel_size
                if a.exact is not None and a.exact.relative_conductivity > 0:
                    true = a.exact.relative_conductivity
                    row["error_percent"] = (
                        abs(a.surrogate.relative_conductivity - true) / true * 100
                    )
                rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the inputs, the command that gives the same exact numbers, the rows and
        the surrogate errors."""
        command = ["ionflow", "simulate", self.file, *self.options.command_options()]
        if len(self.axes) == 3:
            command += ["--axis", "all"]
        elif self.axes and self.axes[0].axis != 0:
            command += ["--axis", str(self.axes[0].axis)]
        if self.voltage != 1:
            command += ["--voltage", f"{self.voltage:g}"]
        if self.conductivity != 1:
            command += ["--conductivity", f"{self.conductivity:g}"]
        return {
            "file": self.file,
            "shape": list(self.shape),
            "options": {k: v for k, v in asdict(self.options).items()},
            "pixel_size": self.pixel_size,
            "voltage": self.voltage,
            "conductivity": self.conductivity,
            "command": " ".join(command),
            "seconds": self.seconds,
            "results": self.rows(),
            "surrogate_errors": {
                str(a.axis): a.surrogate_error for a in self.axes if a.surrogate_error
            },
        }

    def to_csv(self) -> str:
        """The rows as CSV (one header; an interval as two columns)."""
        import csv
        import io

        rows = []
        for row in self.rows():
            row = dict(row)
            lo, hi = row.pop("interval", None) or (None, None)
            if row["kind"] == "surrogate":
                row["interval_low"], row["interval_high"] = lo, hi
            for key in ("shape", "blocks", "ood_reasons"):
                if isinstance(row.get(key), list):
                    sep = "; " if key == "ood_reasons" else "x"
                    row[key] = sep.join(str(v) for v in row[key])
            rows.append(row)
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return buf.getvalue()


_PREDICTORS: dict[int, Any] = {}
_PREDICTOR_LOCK = threading.Lock()


def bundled_predictor(dim: int):
    """The bundled surrogate of dimension ``dim``, loaded once per process."""
    with _PREDICTOR_LOCK:
        if dim not in _PREDICTORS:
            from ..surrogate import Predictor, default_model_path

            _PREDICTORS[dim] = Predictor(default_model_path(dim))
        return _PREDICTORS[dim]


def analyse(
    upload: UploadInfo,
    options: PhaseOptions,
    *,
    axes: Sequence[int] | None = None,
    exact: bool = True,
    surrogate: bool = True,
    voltage: float = 1.0,
    conductivity: float = 1.0,
    pixel_size: float | tuple[float, ...] | None = None,
    progress: Progress | None = None,
) -> AnalysisResult:
    """Solve (and predict) an upload along the given axes.

    Parameters
    ----------
    upload : UploadInfo
    options : PhaseOptions
        How pixels become phases, as ``ionflow simulate``'s image-input options.
    axes : sequence of int, optional
        Flow axes (default: 0); ``None`` with ``range(ndim)`` for every axis is the caller's.
    exact, surrogate : bool
        Run :func:`ionflow.simulate` / the bundled :class:`~ionflow.surrogate.Predictor`.
    voltage, conductivity : float
        V (volts) and the electrolyte's sigma (S/m).
    pixel_size : float, optional
        Pixel edge in metres; default: the file's own (``upload.pixel_size``), else l = 1.
    progress : callable, optional
        Called as ``progress(step, total, message)`` before each step and at the end.

    Raises
    ------
    InputError
        Options that do not apply, an axis the image lacks, nothing conductive.
    """
    from ..solve import simulate

    started = time.perf_counter()
    axes = [0] if axes is None else [int(a) for a in axes]
    if not (exact or surrogate):
        raise InputError("nothing to run: choose the exact solve, the surrogate or both")
    for a in axes:
        if not 0 <= a < upload.ndim:
            raise InputError(
                f"axis {a} does not exist for a {upload.ndim}D image", source=upload.name
            )
    size = pixel_size if pixel_size is not None else upload.pixel_size
    steps = len(axes) * (int(exact) + int(surrogate)) + 1
    step = 0

    def tell(message: str) -> None:
        if progress is not None:
            progress(step, steps, message)

    tell("reading and segmenting")
    require_label_choice(upload, options)
    try:
        phases = read_phases(upload.path, options)
    except InputError as exc:
        raise restate(exc, upload.path, upload.name) from None
    step += 1
    electrolyte = electrolyte_of(phases)
    if not electrolyte.any():
        raise InputError(
            "image is entirely insulating with these options (no conductive pixel)",
            source=upload.name,
        )
    out: list[AxisResult] = []
    for a in axes:
        res = potential = magnitude = pred = None
        error = None
        if exact:
            tell(f"exact solve along axis {a}")
            try:
                res = simulate(
                    phases,
                    axis=a,
                    voltage=voltage,
                    conductivity=conductivity,
                    pixel_size=size,
                    fields=True,
                    source=upload.name,
                )
            except InputError as exc:
                raise restate(exc, upload.path, upload.name) from None
            step += 1
            assert res.potential is not None and res.current_density is not None  # fields=True
            potential = res.potential.astype(np.float32)
            magnitude = np.sqrt((res.current_density**2).sum(axis=0)).astype(np.float32)
            res = replace(res, potential=None, current_density=None)
        if surrogate:
            tell(f"surrogate along axis {a}")
            try:
                pred = bundled_predictor(upload.ndim).predict(
                    [electrolyte],
                    axis=a,
                    voltage=voltage,
                    conductivity=conductivity,
                    pixel_size=size,
                )[0]
            except Exception as exc:  # noqa: BLE001 - the exact answer stands on its own
                log.warning("%s: surrogate failed: %s", upload.name, exc)
                error = str(exc) or type(exc).__name__
            step += 1
        out.append(AxisResult(a, res, pred, error, potential, magnitude))
    tell("done")
    return AnalysisResult(
        file=upload.name,
        shape=tuple(electrolyte.shape),
        options=options,
        pixel_size=size,
        voltage=float(voltage),
        conductivity=float(conductivity),
        axes=tuple(out),
        electrolyte=electrolyte,
        seconds=time.perf_counter() - started,
    )
