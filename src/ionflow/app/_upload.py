"""An uploaded file: what it holds, and its phases with the page's options.

An upload is saved as a file and read by the same code as ``ionflow simulate FILE``: the
phases come from :func:`ionflow.io.read_image` with the page's options, so the page's exact
numbers are the command's. No web framework here.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "PhaseOptions",
    "SegmentationPreview",
    "UploadInfo",
    "inspect_upload",
    "phase_choice_error",
    "preview_segmentation",
    "electrolyte_of",
    "read_phases",
    "require_label_choice",
    "restate",
]


@dataclass(frozen=True)
class PhaseOptions:
    """How pixels become phases: the image-input options of ``ionflow simulate``.

    Attributes
    ----------
    threshold : float, tuple of float, or None
        Grayscale images: pixels above it are electrolyte (None: Otsu's threshold); with
        ``phases`` > 2, the ``phases - 1`` increasing cuts (None: multi-level Otsu).
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
    phases : int or None
        Grayscale images: gray-level classes, numbered darkest first (None: 2).
    phase_names : tuple of str or None
        Names of the classes, darkest first (e.g. pore, binder, active).
    conductive_phases : tuple of str or None
        The classes that conduct, by name or index (0 = darkest); required with ``phases``
        > 2, as ``ionflow simulate --conductive-phase``.
    """

    threshold: float | tuple[float, ...] | None = None
    invert: bool = False
    denoise: str | None = None
    min_size: int = 0
    conductive_label: float | None = None
    crop: tuple[float, float, float, float] | None = None
    phases: int | None = None
    phase_names: tuple[str, ...] | None = None
    conductive_phases: tuple[str, ...] | None = None

    def read_options(self):
        """The same options as an :class:`ionflow.io.ReadOptions`, the object ``ionflow
        simulate`` reads its files with (checked when made: bad values raise InputError)."""
        from ..io import ReadOptions

        return ReadOptions(
            threshold=self.threshold,
            invert=self.invert,
            conductive_labels=None if self.conductive_label is None else (self.conductive_label,),
            crop=(self.crop[0], self.crop[1], self.crop[2], self.crop[3]) if self.crop else None,
            denoise=self.denoise,
            min_size=int(self.min_size),
            phases=self.phases,
            phase_names=self.phase_names,
            conductive_phases=self.conductive_phases,
        )

    @property
    def by_class(self) -> bool:
        """Phases cut by gray level into classes (more than two, or a conducting one named)."""
        return (self.phases or 2) > 2 or self.conductive_phases is not None

    def command_options(self) -> list[str]:
        """The same options as ``ionflow simulate`` arguments (shown on the page): numbers
        written so that they read back as the same floats, phases by name."""
        out: list[str] = []
        read = self.read_options()  # normalised: thresholds as floats, phases as indices
        if read.phases is not None and read.phases != 2:
            out += ["--phases", str(read.phases)]
        if read.phase_names:
            out += ["--phase-names", shlex.quote(",".join(read.phase_names))]
        if read.threshold is not None:
            out += ["--threshold", ",".join(_number(v) for v in np.atleast_1d(read.threshold))]
        if read.conductive_phases is not None:
            for k in read.conductive_phases:
                out += ["--conductive-phase", read.names[k]]
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


def _number(v: float) -> str:
    """``110`` or ``110.25``; all the digits the float needs when ``:g`` would round it."""
    short = f"{float(v):g}"
    return short if float(short) == float(v) else repr(float(v))


def restate(exc: InputError, path: str | Path, name: str) -> InputError:
    """The same complaint about the file the user named (not the server's copy of it)."""
    return InputError(exc.reason.replace(str(path), name), source=name)


def read_phases(path: str | Path, options: PhaseOptions) -> np.ndarray:
    """Phases of a file (bool, or labels) exactly as ``ionflow simulate FILE <options>`` reads
    them: with the same :class:`ionflow.io.ReadOptions`."""
    return options.read_options().read(path)


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
    pixel_size : float, tuple of float, or None
        Pixel edge in metres from the file's metadata, one per axis when they differ (None:
        the l = A = 1 convention).
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
    pixel_size: float | tuple[float, ...] | None
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
        Not a readable image, not 2D/3D, pixels that are no image (the checks of ``ionflow
        simulate``: text, dates, records, complex numbers, NaN or infinity), or no conductive
        pixel under any threshold (a single gray level of 0). The message names the file by
        ``name``.
    """
    from ..io import read_gray, read_pixel_size, to_phases
    from ..io._read import looks_like_labels

    path = Path(path)
    try:
        gray = read_gray(path)
        # the pixel checks of ``ionflow simulate FILE`` (the reader's, before any threshold):
        # no strings, dates, records or complex numbers, no NaN or infinity
        to_phases(gray, labels=True, source=str(path), colour=False)
        values = np.unique(gray)
    except InputError as exc:
        raise restate(exc, path, name) from None
    if values.size == 1 and values[0] == 0:
        raise InputError(
            "image is entirely insulating (every pixel is 0): no conductive pixel", source=name
        )
    # as ionflow.io.to_phases: 0 and one other value is binary; 3-8 integer values, or two
    # nonzero ones, are labels (which one conducts is the user's choice, never a guess)
    if looks_like_labels(values):
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


def electrolyte_of(phases: np.ndarray) -> np.ndarray:
    """The electrolyte of read phases, as the solver sees it: nonzero conducts."""
    return np.asarray(phases) != 0


_LABEL_CHOICE = "a label image: choose which label conducts (Conducting label)"
_PHASE_CHOICE = "{n} phases: choose which phase conducts (Conducting phase)"


def _needs_label(upload: UploadInfo, options: PhaseOptions) -> bool:
    """A label image without a conducting label (or a threshold): the reader would refuse it."""
    return (
        upload.kind == "labels"
        and options.conductive_label is None
        and options.threshold is None
        and not options.by_class
    )


def require_label_choice(upload: UploadInfo, options: PhaseOptions) -> None:
    """Refuse, in the page's words, to solve a label image whose conducting label is not
    chosen (the reader refuses it too, in the command's words)."""
    if _needs_label(upload, options):
        raise InputError(_LABEL_CHOICE, source=upload.name)


def phase_choice_error(upload: UploadInfo, options: PhaseOptions) -> str | None:
    """Why the phase options cannot be solved as they are (None: they can).

    Checked before a solve is started, so that the page hears it at once: the checks of
    :class:`ionflow.io.ReadOptions` (phases 2 to 5, one name per phase, a conducting phase
    that exists, no ``invert`` with classes), gray-level classes on an image that is not
    grayscale, and more than two phases with none chosen to conduct.
    """
    try:
        read = options.read_options()
    except InputError as exc:
        return str(exc)
    if read.phase_names and any("," in name for name in read.phase_names):
        return f"phase names cannot contain commas, got {list(read.phase_names)}"
    cuts = () if read.threshold is None else np.atleast_1d(read.threshold)
    if len(cuts) and len(cuts) != read.n_phases - 1:  # one float is not checked by ReadOptions
        return f"--phases {read.n_phases} needs {read.n_phases - 1} thresholds, got {len(cuts)}"
    if options.by_class and upload.kind != "grayscale":
        return (
            f"{upload.name}: a {upload.kind} image; phases by gray level apply to grayscale "
            "images only"
        )
    if read.n_phases > 2 and read.conductive_phases is None:
        return f"{upload.name}: " + _PHASE_CHOICE.format(n=read.n_phases)
    return None


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
    threshold : float, tuple of float, or None
        The gray level(s) used (grayscale images), the options' or (multi-level) Otsu's.
    warning : str or None
        Something the user should know before solving (nothing conducts, nothing percolates).
    classes : ndarray of uint8 or None
        Phases by gray level (more than two): the class of each pixel, 0 = darkest.
    phase_names : tuple of str
        Names of the classes, darkest first (empty for two phases).
    conductive : tuple of int
        The classes that conduct (empty when none is chosen, or for two phases).
    """

    gray: np.ndarray
    electrolyte: np.ndarray
    electrolyte_fraction: float
    threshold: float | tuple[float, ...] | None
    warning: str | None
    classes: np.ndarray | None = None
    phase_names: tuple[str, ...] = ()
    conductive: tuple[int, ...] = ()

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The cuts as a tuple (empty without a threshold)."""
        if self.threshold is None:
            return ()
        return tuple(float(t) for t in np.atleast_1d(self.threshold))

    @property
    def phase_fractions(self) -> tuple[float, ...]:
        """Volume fraction of each class, darkest first (empty for two phases)."""
        if self.classes is None:
            return ()
        counts = np.bincount(self.classes.ravel(), minlength=len(self.phase_names))
        return tuple(float(c) / self.classes.size for c in counts)


def preview_segmentation(upload: UploadInfo, options: PhaseOptions) -> SegmentationPreview:
    """The phases of ``upload`` with ``options`` (read as the solve reads them) and, for a
    grayscale image, the threshold(s) that produced them."""
    from ..io import read_gray, segment

    if _needs_label(upload, options):
        gray = read_gray(upload.path, crop=options.crop)
        return SegmentationPreview(gray, np.zeros(gray.shape, bool), 0.0, None, _LABEL_CHOICE)
    read = options.read_options()
    classes = None
    try:
        gray = read_gray(upload.path, crop=options.crop)
        if read.n_phases > 2:
            # the classes and cuts as the reader computes them (it returns neither): the same
            # function on the same (cropped) input, without a conducting phase
            classes, threshold = segment(
                gray,
                threshold=read.threshold,
                phases=read.n_phases,
                denoise=read.denoise,
                min_size=read.min_size,
                return_threshold=True,
                source=upload.name,
            )
            if read.conductive_phases is None:
                choose = _PHASE_CHOICE.format(n=read.n_phases)
                return SegmentationPreview(
                    gray, np.zeros(gray.shape, bool), 0.0, threshold, choose, classes, read.names
                )
        phases = read_phases(upload.path, options)
        if read.n_phases <= 2:
            threshold = read.threshold
            if upload.kind == "grayscale" and threshold is None:
                # Otsu's threshold as the reader computed it (it does not return it): the same
                # function on the same (cropped, denoised) input
                threshold = float(segment(gray, denoise=read.denoise, return_threshold=True)[1])
    except InputError as exc:
        raise restate(exc, upload.path, upload.name) from None
    electrolyte = electrolyte_of(phases)
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
        classes=classes,
        phase_names=read.names if classes is not None else (),
        conductive=tuple(read.conductive_phases or ()) if classes is not None else (),
    )
