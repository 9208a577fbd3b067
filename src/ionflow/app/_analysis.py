"""What the web page does, as plain functions: no web framework here.

An upload is saved as a file and handled by the same code as ``ionflow simulate FILE``: the
phases come from :func:`ionflow.io.read_image` with the page's options (so the page's exact
numbers are the command's), the pixel size from the file's metadata
(:func:`ionflow.io.read_pixel_size`), the solve from :func:`ionflow.simulate` and the surrogate
from :class:`ionflow.surrogate.Predictor` with the bundled model of the image's dimension.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "AnalysisResult",
    "AxisResult",
    "PhaseOptions",
    "SegmentationPreview",
    "UploadInfo",
    "analyse",
    "inspect_upload",
    "preview_segmentation",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""progress(step, total, message): ``step`` of ``total`` steps are done; ``message`` says what
runs now."""

_MAX_LABELS = 8  # as ionflow.io.to_phases: 3 to this many integer values is a label image


@dataclass(frozen=True)
class PhaseOptions:
    """How pixels become phases: the image-input options of ``ionflow simulate``.

    Attributes
    ----------
    threshold : float or None
        Grayscale images: pixels above it are electrolyte (None: Otsu's threshold).
    invert : bool
        Dark = electrolyte (binary and grayscale images).
    denoise : {None, "median", "nlmeans"}
        Denoise a grayscale image before thresholding.
    min_size : int
        Remove islands of either phase smaller than this many pixels (0: keep all).
    conductive_label : float or None
        Label images: the label that conducts (required: the reader refuses to guess).
    crop : 4 numbers or None
        (top, bottom, left, right) removed first, in pixels or fractions below 1.
    """

    threshold: float | None = None
    invert: bool = False
    denoise: str | None = None
    min_size: int = 0
    conductive_label: float | None = None
    crop: tuple[float, float, float, float] | None = None

    def read_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`ionflow.io.read_image` (as the CLI passes them)."""
        return dict(
            threshold=self.threshold,
            invert=self.invert,
            conductive_labels=None if self.conductive_label is None else [self.conductive_label],
            crop=tuple(self.crop) if self.crop else None,
            denoise=self.denoise,
            min_size=int(self.min_size),
        )

    def command_options(self) -> list[str]:
        """The same options as ``ionflow simulate`` arguments (shown on the page)."""
        out: list[str] = []
        if self.threshold is not None:
            out += ["--threshold", f"{self.threshold:g}"]
        if self.invert:
            out.append("--invert")
        if self.denoise:
            out += ["--denoise", self.denoise]
        if self.min_size > 1:
            out += ["--min-size", str(int(self.min_size))]
        if self.conductive_label is not None:
            out += ["--conductive-label", f"{self.conductive_label:g}"]
        if self.crop:
            out += ["--crop", *(f"{v:g}" for v in self.crop)]
        return out


def _restate(exc: InputError, path: str | Path, name: str) -> InputError:
    """The same complaint about the file the user named (not the server's copy of it)."""
    return InputError(exc.reason.replace(str(path), name), source=name)


def read_phases(path: str | Path, options: PhaseOptions) -> np.ndarray:
    """Phases of a file (bool, or labels) exactly as ``ionflow simulate FILE <options>`` reads
    them."""
    from ..io import read_image

    return read_image(path, **options.read_options())


@dataclass(frozen=True)
class UploadInfo:
    """An uploaded file, read once to describe it.

    Attributes
    ----------
    id : str
        The upload's key on the server.
    name : str
        The file name the user gave.
    path : Path
        Where the server keeps the file.
    shape : tuple of int
        Pixels (2D: rows, columns) or voxels (3D: z, y, x), after squeezing.
    kind : {"binary", "labels", "grayscale"}
        Two values; a few integer values (a label image); anything else (thresholded).
    values : tuple of float
        The label values of a binary or label image (empty for grayscale).
    gray_range : (float, float)
        Smallest and largest gray level (colour images: luminance).
    default_threshold : float or None
        Otsu's threshold of a grayscale image (what the solve uses without ``threshold``).
    pixel_size : float or None
        Pixel edge in metres from the file's metadata (None: the l = A = 1 convention).
    size_bytes : int
        Size of the uploaded file.
    """

    id: str
    name: str
    path: Path
    shape: tuple[int, ...]
    kind: str
    values: tuple[float, ...]
    gray_range: tuple[float, float]
    default_threshold: float | None
    pixel_size: float | None
    size_bytes: int

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("path")
        out["ndim"] = self.ndim
        out["shape"] = list(self.shape)
        out["values"] = list(self.values)
        out["gray_range"] = list(self.gray_range)
        return out


def inspect_upload(
    path: str | Path, *, name: str, upload_id: str, size_bytes: int | None = None
) -> UploadInfo:
    """Read an uploaded file and say what it holds.

    Raises
    ------
    InputError
        Not a readable image, not 2D/3D, or with no conductive pixel under any threshold (a
        single gray level of 0). The message names the file by ``name``.
    """
    from ..io import read_gray, read_pixel_size

    path = Path(path)
    try:
        gray = read_gray(path)
        values = np.unique(gray)
    except InputError as exc:
        raise _restate(exc, path, name) from None
    if values.size == 1 and values[0] == 0:
        raise InputError(
            "image is entirely insulating (every pixel is 0): no conductive pixel", source=name
        )
    integer = bool(np.all(values == np.round(values)))
    # as ionflow.io.to_phases: 0 and one other value is binary; 3-8 integer values, or two
    # nonzero ones, are labels (which one conducts is the user's choice, never a guess)
    if integer and (2 < values.size <= _MAX_LABELS or (values.size == 2 and values[0] != 0)):
        kind = "labels"
    elif values.size <= 2:
        kind = "binary"
    else:
        kind = "grayscale"
    default_threshold = None
    if kind == "grayscale":
        from skimage.filters import threshold_otsu

        default_threshold = float(threshold_otsu(gray))
    return UploadInfo(
        id=upload_id,
        name=name,
        path=path,
        shape=tuple(int(n) for n in gray.shape),
        kind=kind,
        values=tuple(float(v) for v in values) if kind != "grayscale" else (),
        gray_range=(float(values[0]), float(values[-1])),
        default_threshold=default_threshold,
        pixel_size=read_pixel_size(path),
        size_bytes=int(size_bytes if size_bytes is not None else path.stat().st_size),
    )


def _electrolyte(phases: np.ndarray) -> np.ndarray:
    """The electrolyte of read phases, as the solver sees it: nonzero conducts."""
    return np.asarray(phases) != 0


_LABEL_CHOICE = "a label image: choose which label conducts (Conducting label)"


def _needs_label(upload: UploadInfo, options: PhaseOptions) -> bool:
    """A label image without a conducting label (or a threshold): the reader would refuse it."""
    return (
        upload.kind == "labels" and options.conductive_label is None and options.threshold is None
    )


@dataclass(frozen=True)
class SegmentationPreview:
    """What the phases of an upload look like with some options.

    Attributes
    ----------
    gray : ndarray
        Gray levels after the crop, the shape of ``electrolyte``.
    electrolyte : ndarray of bool
        The conducting phase, as the solve will see it.
    electrolyte_fraction : float
        Its volume fraction.
    threshold : float or None
        The gray level used (grayscale images), the options' or Otsu's.
    warning : str or None
        Something the user should know before solving (nothing conducts, nothing percolates).
    """

    gray: np.ndarray
    electrolyte: np.ndarray
    electrolyte_fraction: float
    threshold: float | None
    warning: str | None


def preview_segmentation(upload: UploadInfo, options: PhaseOptions) -> SegmentationPreview:
    """The phases of ``upload`` with ``options`` (read as the solve reads them) and, for a
    grayscale image, the threshold that produced them."""
    from ..io import read_gray, segment

    if _needs_label(upload, options):
        gray = read_gray(upload.path, crop=options.crop)
        return SegmentationPreview(gray, np.zeros(gray.shape, bool), 0.0, None, _LABEL_CHOICE)
    try:
        phases = read_phases(upload.path, options)
        gray = read_gray(upload.path, crop=options.crop)
        threshold = options.threshold
        if upload.kind == "grayscale" and threshold is None:
            # Otsu's threshold as the reader computed it (it does not return it): the same
            # function on the same (cropped, denoised) input
            threshold = float(segment(gray, denoise=options.denoise, return_threshold=True)[1])
    except InputError as exc:
        raise _restate(exc, upload.path, upload.name) from None
    electrolyte = _electrolyte(phases)
    fraction = float(electrolyte.mean())
    warning = None
    if fraction == 0:
        warning = "no pixel conducts with these options: the solve would fail"
    return SegmentationPreview(
        gray=gray,
        electrolyte=electrolyte,
        electrolyte_fraction=fraction,
        threshold=threshold,
        warning=warning,
    )


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
    pixel_size: float | None
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
    pixel_size: float | None = None,
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
    if _needs_label(upload, options):
        raise InputError(_LABEL_CHOICE, source=upload.name)
    try:
        phases = read_phases(upload.path, options)
    except InputError as exc:
        raise _restate(exc, upload.path, upload.name) from None
    step += 1
    electrolyte = _electrolyte(phases)
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
                raise _restate(exc, upload.path, upload.name) from None
            step += 1
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


def finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: None for NaN/inf."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
