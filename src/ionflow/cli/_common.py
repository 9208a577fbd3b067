"""Shared pieces of the command line: input and physics options, tables, messages."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, overload

from ..errors import InputError, IonflowError

log = logging.getLogger("ionflow")


GENERATOR_NAMES = (
    "agglomerates",
    "anisotropic",
    "binder",
    "blobs",
    "disks",
    "ellipses",
    "fibres",
    "fitted",
    "grf",
    "lognormal",
    "nonoverlapping",
)


"""``ionflow.generate.GENERATORS``, spelled out so that building the parser imports no
generator (a test keeps the two equal)."""


def examples_dir() -> Path:
    """The folder of bundled example microstructures."""
    return Path(__file__).parent.parent / "data" / "examples"


# control characters as escapes: a file name with a newline stays on its error's line, one
# with terminal escape sequences cannot recolour or move the terminal
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {9: "\\t", 10: "\\n", 13: "\\r"}


def printable(text: str) -> str:
    """``text`` with its control characters written as escapes (``\\n``, ``\\x1b``)."""
    return text.translate(_ESCAPES)


class _PrintableFormatter(logging.Formatter):
    """Log lines on one line each, whatever the file names in them hold."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def _err(message: str) -> None:
    print(f"ionflow: error: {printable(message)}", file=sys.stderr, flush=True)


def _label_map(items: list[str] | None, read=None) -> tuple[tuple[float, float], ...] | None:
    """``--label-conductivity LABEL=S_PER_M ...`` as (label, S/m) pairs, the form
    :class:`ionflow.solve.SolveOptions` stores. With phases cut by gray level (``read``, a
    ReadOptions with ``--phases`` > 2 or ``--phase-names``), LABEL is a phase name or index
    and the phases not listed insulate.

    A label given twice with the same conductivity counts once; with two different ones it
    is refused, and so is a label that is not a finite number (NaN matches no pixel).
    """
    if not items:
        return None
    by_class = read is not None and (read.n_phases > 2 or read.phase_names)
    given: dict[float, tuple[str, float]] = {}  # label or class -> (as typed, S/m)
    for item in items:
        try:
            name, value = item.split("=")
            name, sigma = name.strip(), float(value)
        except ValueError:
            raise InputError(f"--label-conductivity expects LABEL=S_PER_M, got {item!r}") from None
        key = float(read.phase_index(name)) if by_class else _label_value(name, sigma)
        if key in given and not _same(given[key][1], sigma):
            first, before = given[key]
            what = f"phase {first}" if by_class else f"label {_number(key):g}"
            raise InputError(
                f"--label-conductivity: {what} is given two conductivities, "
                f"{first}={before:g} and {name}={sigma:g}"
            )
        given.setdefault(key, (name, sigma))
    pairs = {key: sigma for key, (_, sigma) in given.items()}
    if by_class:
        return tuple(read.phase_conductivities({int(k): v for k, v in pairs.items()}).items())
    return tuple(pairs.items())


_LABEL_OPTIONS = ("--label-conductivity", "--phase-conductivity")


def _attach_label_values(argv: Sequence[str]) -> list[str]:
    """``--label-conductivity -2=1`` as ``--label-conductivity=-2=1``.

    argparse takes a value that starts with a dash for an option (plain negative numbers
    aside), so a negative label would be "expected one argument". A value after
    ``--label-conductivity`` (or ``--phase-conductivity``, or an abbreviation of either)
    whose label is a negative number is attached to it; nothing after ``--`` is touched.
    """
    args = list(argv)
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else ""
        if _names_label_option(arg) and _negative_label(following):
            out.append(f"{arg}={following}")
            i += 2
        else:
            out.append(arg)
            i += 1
    return out


def _names_label_option(arg: str) -> bool:
    """``--label-conductivity``, ``--phase-conductivity`` or an abbreviation of one."""
    return arg.startswith("--") and len(arg) > 2 and any(o.startswith(arg) for o in _LABEL_OPTIONS)


def _negative_label(text: str) -> bool:
    """``-2=1``: a LABEL=S whose label is a negative number."""
    label, sep, _ = text.partition("=")
    if not (sep and label.startswith("-")):
        return False
    try:
        float(label)
    except ValueError:
        return False
    return True


def _same(a: float, b: float) -> bool:
    """Equal, NaN included (a NaN given twice is one value, refused later as not finite)."""
    return a == b or (math.isnan(a) and math.isnan(b))


def _label_value(text: str, sigma: float) -> float:
    """The label of ``--label-conductivity LABEL=S``: a finite number."""
    try:
        label = float(text)
    except ValueError:
        raise InputError(
            f"--label-conductivity {text}={sigma:g}: {text!r} is not a label value (phase "
            "names need --phases N --phase-names ...)"
        ) from None
    if not math.isfinite(label):
        raise InputError(
            f"--label-conductivity {text}={sigma:g}: a label must be a finite number, got {text!r}"
        )
    return label


STACK_HELP = (
    "each folder given is one volume: its 2D image files, in natural order (z2 before z10), "
    "are the slices (Fiji's Image Sequence, Avizo or Dragonfly slice exports); without it a "
    "folder is a batch of images"
)


def _add_read_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image input")
    g.add_argument("--stack", action="store_true", help=STACK_HELP)
    _add_threshold_options(g)
    g.add_argument("--labels", action="store_true", help="treat the image as a label image")
    g.add_argument(
        "--conductive-label",
        type=float,
        action="append",
        metavar="L",
        help="label value(s) of the electrolyte; other labels insulate (repeatable)",
    )
    _add_segment_options(g)


def _add_threshold_options(g) -> None:
    """Thresholds, phases by gray level and which of them conducts (simulate, segment, ...)."""
    g.add_argument(
        "--threshold",
        type=_threshold_values,
        metavar="T[,T...]",
        help="gray level above which a pixel is electrolyte; N-1 increasing values, "
        "comma-separated, cut N phases (default: Otsu, multi-level Otsu with --phases)",
    )
    g.add_argument("--invert", action="store_true", help="swap two phases (dark = electrolyte)")
    g.add_argument(
        "--phases",
        type=int,
        metavar="N",
        help="cut a grayscale image into N phases by gray level (2-5; multi-level Otsu), "
        "numbered darkest first; say which conducts with --conductive-phase (default: 2)",
    )
    g.add_argument(
        "--phase-names",
        metavar="A,B,...",
        help="names of the phases, darkest first, e.g. pore,binder,active",
    )
    g.add_argument(
        "--conductive-phase",
        action="append",
        metavar="NAME",
        help="the phase(s) that conduct, by name or index (0 = darkest; repeatable): a dark "
        "electrolyte needs no --invert",
    )


def _crop_value(text: str) -> int | float:
    """A --crop value: whole pixels ("60") or a fraction below 1 ("0.08")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value >= 1 and not value.is_integer()):
        raise argparse.ArgumentTypeError(f"whole pixels or a fraction below 1, got {text!r}")
    return value if 0 < value < 1 else int(value)


def _tolerance(text: str) -> float:
    """A relative tolerance: a number strictly between 0 and 1 ("1e-9")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"a relative tolerance between 0 and 1, got {text!r}")
    return value


def _add_segment_options(g) -> None:
    g.add_argument(
        "--crop",
        type=_crop_value,
        nargs=4,
        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        help="remove from each side, in pixels or as a fraction below 1 of the height/width "
        "(e.g. 0 0.08 0 0 drops an SEM info bar); a volume: from every slice",
    )
    g.add_argument(
        "--denoise",
        choices=["median", "nlmeans"],
        help="denoise a grayscale image before thresholding (median 3x3, non-local means)",
    )
    g.add_argument(
        "--min-size",
        type=int,
        default=0,
        metavar="PIXELS",
        help="remove islands of either phase smaller than this (default 0: keep all)",
    )


def add_conductivity_options(g) -> None:
    """``--conductivity``, ``--matrix-conductivity`` and ``--label-conductivity`` (simulate,
    tensor)."""
    g.add_argument(
        "--conductivity", type=float, default=1.0, help="electrolyte conductivity sigma, in S/m"
    )
    g.add_argument(
        "--matrix-conductivity",
        type=float,
        default=0.0,
        help="conductivity of the zero phase (active material), in S/m",
    )
    g.add_argument(
        "--label-conductivity",
        "--phase-conductivity",
        action="append",
        metavar="LABEL=S",
        help="conductivity in S/m per label of a label image (every label present must be "
        "listed; 0 for an insulating one), or per phase (name or index) with --phases, where "
        "phases not listed insulate (repeatable)",
    )


def _add_physics_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("physics (defaults: the paper's V = 1, sigma = 1, l = A = 1)")
    g.add_argument("--axis", default="0", help="flow axis: 0, 1, 2 or 'all' (default 0)")
    g.add_argument("--voltage", type=float, default=1.0, help="applied voltage V, in V")
    add_conductivity_options(g)
    g.add_argument(
        "--pixel-size",
        "--voxel-size",
        type=float,
        nargs="+",
        metavar="M",
        help="pixel/voxel edge in metres, or one per axis in array order (DZ DY DX) for "
        "anisotropic voxels (default: the TIFF's own, else l = 1)",
    )
    g.add_argument(
        "--boundary",
        choices=["insulating", "periodic"],
        default="insulating",
        help="faces perpendicular to the flow: insulating (default) or periodic (wrap around); "
        "with --axis all, periodic also gives the conductivity tensor",
    )
    g.add_argument(
        "--electrode",
        choices=["face", "ghost"],
        default="face",
        help="Dirichlet planes on the image's faces (default) or one ghost cell out, as "
        "TauFactor 1.2.1's MultiPhaseSolver (to reproduce its numbers)",
    )


def _pixel_size(values: list[float] | None) -> float | tuple[float, ...] | None:
    """``--pixel-size``: one edge, or one per axis."""
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _read_options(args: argparse.Namespace):
    """The image-input flags as one :class:`ionflow.io.ReadOptions` (checked once)."""
    from ..io import ReadOptions

    return ReadOptions(
        threshold=_threshold(args.threshold),
        invert=args.invert,
        labels=True
        if (getattr(args, "labels", False) or getattr(args, "label_conductivity", None))
        else None,
        conductive_labels=tuple(args.conductive_label)
        if getattr(args, "conductive_label", None)
        else None,
        crop=tuple(args.crop) if args.crop else None,
        denoise=args.denoise,
        min_size=args.min_size,
        phases=args.phases,
        phase_names=_names(args.phase_names),
        conductive_phases=_names(",".join(args.conductive_phase))
        if args.conductive_phase
        else None,
    )


def _threshold_values(text: str) -> list[float]:
    """A --threshold value: ``128`` or the cuts ``76,156`` (one token, so that a file name
    after it is not taken for a threshold)."""
    try:
        return [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"numbers, comma-separated: {text!r}") from None


def _threshold(values: list[float] | None) -> float | tuple[float, ...] | None:
    """``--threshold T[,T...]``: one threshold, or the cuts between phases."""
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _names(text: str | None) -> tuple[str, ...] | None:
    """``pore,binder,active`` -> a tuple of names."""
    if text is None:
        return None
    return tuple(t.strip() for t in text.split(","))


def _inputs(args: argparse.Namespace) -> tuple[list[str], int]:
    """The files named on the command line; one error line per folder without images."""
    from ..io import find_inputs

    stacks = getattr(args, "stack", False)
    if stacks and not args.paths:
        raise InputError("--stack needs the folders of slices to read (no default)")
    files, problems = find_inputs(args.paths or [str(examples_dir())], stacks=stacks)
    for problem in problems:
        _err(problem)
    return files, len(problems)


def _axes(value: str) -> list[int] | None:
    """``--axis``: 0, 1, 2 or ``all`` (None). A negative axis is refused, not normalised: it
    would mean a different axis for 2D and 3D inputs of one batch."""
    if value == "all":
        return None
    if value.strip() in ("0", "1", "2"):
        return [int(value)]
    raise IonflowError(f"--axis must be 0, 1, 2 or 'all', got {value!r}")


def _fmt(value: float | None, spec: str = ".6g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "inf"
    return format(value, spec)


def _table_row(row: dict, names: dict[str, str], width: int) -> str:
    return (
        f"{_short(names.get(row['file'], row['file']), width):{width}s} {row['axis']:>4d} "
        f"{row['electrolyte_fraction']:8.4f} "
        f"{row['percolating_fraction']:8.4f} {_fmt(row['relative_conductivity']):>12s} "
        f"{_fmt(row['tortuosity']):>10s} {_fmt(row['current']):>12s} {_fmt(row['resistance']):>12s}"
    )


def _table_head(width: int) -> str:
    return (
        f"{'file':{width}s} {'axis':>4s} {'fraction':>8s} {'percol.':>8s} {'sigma_eff/s':>12s} "
        f"{'tortuosity':>10s} {'current_A':>12s} {'resist_ohm':>12s}"
    )


def _file_names(files: list[str], least: int = 32, most: int = 60) -> tuple[dict[str, str], int]:
    """Table names (the shortest path end that tells same-named files apart) and the width
    of the file column (``least`` to ``most``; longer names lose their start)."""
    from ..io import short_names

    names = short_names(files)
    return names, max(least, min(most, max((len(n) for n in names.values()), default=0)))


def _csv_cells(row: dict) -> dict:
    """One flat CSV record of a JSON row: ``shape`` as ``64x64``, ``interval`` as
    ``interval_low``/``interval_high``, other lists space-separated, None empty."""
    out: dict = {}
    for key, value in row.items():
        if key == "interval":
            lo, hi = value if value else (None, None)
            out["interval_low"], out["interval_high"] = lo, hi
        elif key == "shape" and isinstance(value, list):
            out[key] = "x".join(map(str, value))
        elif isinstance(value, (list, tuple)):
            out[key] = " ".join(str(v) for v in value)
        else:
            out[key] = value
    return out


class _CsvOut:
    """CSV on stdout, one row at a time: the header from the first row (every row of one run
    has the same keys), flushed per row so a long batch shows its progress."""

    def __init__(self) -> None:
        self.writer: Any = None  # a csv.DictWriter once the first row is in

    def write(self, row: dict) -> None:
        import csv

        cells = _csv_cells(row)
        if self.writer is None:
            self.writer = csv.DictWriter(
                sys.stdout, fieldnames=list(cells), lineterminator="\n", extrasaction="ignore"
            )
            self.writer.writeheader()
        self.writer.writerow(cells)
        sys.stdout.flush()


def _plot_fields(log_current: bool = False):
    from ..plot import plot_fields

    if log_current:
        from functools import partial

        return partial(plot_fields, log_current=True)  # picklable: goes to the workers
    return plot_fields


class HelpFormatter(argparse.HelpFormatter):
    """Every option's default at the end of its help, unless the help already states one.

    As ``argparse.ArgumentDefaultsHelpFormatter``, but without "(default: None)" or
    "(default: False)" (no default, or a switch), lists shown as typed (``0.6 0.7``), and
    help that already names its default ("default 0", "default: Otsu") left as written.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        default = action.default
        if (
            not text
            or text == argparse.SUPPRESS
            or not action.option_strings
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or "default" in text.lower()
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})".replace("%", "%%").replace("%%(", "%(")


class _Parser(argparse.ArgumentParser):
    """Subcommand parsers: every default shown in ``--help``; a bad option is one line."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """One line (argparse prints the whole usage first) and exit status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@overload
def _number(value: float) -> float: ...


@overload
def _number(value: None) -> None: ...


def _number(value: float | None) -> float | None:
    """A label as typed: ``2.0`` -> ``2`` (an int, so that it prints and matches as one)."""
    return None if value is None else (int(value) if value == int(value) else value)


def _short(path: str, width: int) -> str:
    """The end of a path, enough to tell two files of the same name apart."""
    return path if len(path) <= width else "..." + path[-(width - 3) :]
