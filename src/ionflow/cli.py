"""The ``ionflow`` command: parse, call the library, print. No logic lives only here."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

from .errors import InputError, IonflowError

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
    return Path(__file__).parent / "data" / "examples"


def _err(message: str) -> None:
    print(f"ionflow: error: {message}", file=sys.stderr, flush=True)


def _label_map(items: list[str] | None, read=None) -> tuple[tuple[float, float], ...] | None:
    """``--label-conductivity LABEL=S_PER_M ...`` as (label, S/m) pairs (a repeated label: the
    last value), the form :class:`ionflow.solve.SolveOptions` stores. With phases cut by gray
    level (``read``, a ReadOptions with ``--phases`` > 2 or ``--phase-names``), LABEL is a
    phase name or index and the phases not listed insulate."""
    if not items:
        return None
    pairs: dict[str, float] = {}
    for item in items:
        try:
            name, value = item.split("=")
            pairs[name.strip()] = float(value)
        except ValueError:
            raise IonflowError(
                f"--label-conductivity expects LABEL=S_PER_M, got {item!r}"
            ) from None
    if read is not None and (read.n_phases > 2 or read.phase_names):
        return tuple(read.phase_conductivities(pairs).items())
    out: dict[float, float] = {}
    for key, sigma in pairs.items():
        try:
            out[float(key)] = sigma
        except ValueError:
            raise IonflowError(
                f"--label-conductivity {key}={sigma:g}: {key!r} is not a label value (phase "
                "names need --phases N --phase-names ...)"
            ) from None
    return tuple(out.items())


def _add_read_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image input")
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
    if value < 0 or (value >= 1 and value != int(value)):
        raise argparse.ArgumentTypeError(f"whole pixels or a fraction below 1, got {text!r}")
    return value if 0 < value < 1 else int(value)


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


def _add_physics_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("physics (defaults: the paper's V = 1, sigma = 1, l = A = 1)")
    g.add_argument("--axis", default="0", help="flow axis: 0, 1, 2 or 'all' (default 0)")
    g.add_argument("--voltage", type=float, default=1.0, help="applied voltage V, in V")
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
        help="conductivity in S/m per label of a label image, or per phase (name or index) "
        "with --phases; phases not listed insulate (repeatable)",
    )
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
    from .io import ReadOptions

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
    from .io import find_inputs

    files, problems = find_inputs(args.paths or [str(examples_dir())])
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
    from .io import short_names

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
    from .plot import plot_fields

    if log_current:
        from functools import partial

        return partial(plot_fields, log_current=True)  # picklable: goes to the workers
    return plot_fields


def cmd_simulate(args: argparse.Namespace) -> int:
    from .io import check_field_formats
    from .solve import SolveOptions, simulate_files

    read = _read_options(args)
    formats = check_field_formats(args.fields_format)
    options = SolveOptions(
        voltage=args.voltage,
        conductivity=args.conductivity,
        matrix_conductivity=args.matrix_conductivity,
        label_conductivities=_label_map(args.label_conductivity, read),
        pixel_size=_pixel_size(args.pixel_size),
        method=args.method,
        rtol=args.rtol,
        balance_tol=args.balance_tol,
        boundary=args.boundary,
        electrode=args.electrode,
    )
    axes = _axes(args.axis)
    files, failed = _inputs(args)
    if not files:
        return 1 if failed else 0
    outcomes = simulate_files(
        files,
        axes=axes,
        read=read,
        options=options,
        fields_dir=args.fields,
        fields_picture=_plot_fields(args.log_current) if args.fields is not None else None,
        fields_format=formats,
        output=args.output,
        jobs=args.jobs,
        scheduler=args.scheduler,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    names, width = _file_names(files)
    table = not (args.json or args.csv)
    csv_out = _CsvOut() if args.csv else None
    if table:
        print(_table_head(width), flush=True)
    tensor_rows: dict[str, list] = {}
    try:
        for outcome in outcomes:
            if outcome.error is not None:
                failed += 1
                _err(outcome.error)
                continue
            row = outcome.to_dict()
            if csv_out is not None:
                csv_out.write(row)
            else:
                print(json.dumps(row) if args.json else _table_row(row, names, width), flush=True)
            if axes is None and options.boundary == "periodic" and table:
                _print_tensor(outcome, tensor_rows)
    except KeyboardInterrupt:
        _err("interrupted; results so far are kept" + (f" in {args.output}" if args.output else ""))
        return 130
    finally:
        outcomes.close()  # type: ignore[attr-defined]  # releases the output file's lock
    return 1 if failed else 0


def _print_tensor(outcome, pending: dict[str, list]) -> None:
    """After the last axis of a file (``--axis all --boundary periodic``): its tensor."""
    from .solve._tensor import tensor_from_results

    results = pending.setdefault(outcome.source, [])
    results.append(outcome.result)
    if len(results) < len(outcome.result.shape):
        return
    del pending[outcome.source]
    t = tensor_from_results(results)
    print(f"  conductivity tensor sigma_eff/sigma of {Path(outcome.source).name}:")
    for row in t.relative:
        print("    [" + "  ".join(f"{v:+.6f}" for v in row) + "]")
    values = ", ".join(f"{v:.6f}" for v in t.principal_values)
    print(f"  principal values {values}; asymmetry {t.asymmetry:.1e}", flush=True)


def _own_output(path: str, out: Path) -> bool:
    """True for the files ``ionflow segment`` writes into ``out`` (so a rerun skips them)."""
    p = Path(path)
    return p.parent.resolve() == out.resolve() and p.stem.endswith(
        ("_binary", "_phases", "_segmentation")
    )


def cmd_segment(args: argparse.Namespace) -> int:
    import numpy as np

    from .io import find_inputs, read_gray, same_stems, segment, write_image
    from .plot import plot_segmentation

    opts = _read_options(args)  # checks the flags once (e.g. a negative --min-size)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("is a file; --out wants a folder", source=str(out))
    files, problems = find_inputs(args.paths)
    for problem in problems:
        _err(problem)
    failed = len(problems)
    for f in [f for f in files if _own_output(f, out)]:
        log.info("%s: skipped (an output of ionflow segment)", f)
    files = [f for f in files if not _own_output(f, out)]
    clashes = same_stems(files)
    classes = opts.n_phases > 2 or opts.conductive_phases is not None
    for f in files:
        try:
            if f in clashes:
                raise InputError(
                    f"has the same name as {clashes[f]}; its outputs would overwrite "
                    f"{out / Path(f).stem}_*; segment it into another --out",
                    source=f,
                )
            gray = read_gray(f, crop=opts.crop)
            if opts.min_size > gray.size:
                raise InputError(
                    f"--min-size {opts.min_size} is larger than the image ({gray.size} pixels)",
                    source=f,
                )
            result, threshold = segment(
                gray,
                denoise=opts.denoise,
                threshold=opts.threshold,
                phases=opts.phases,
                conductive_phases=opts.conductive_phases,
                phase_names=opts.names,
                invert=opts.invert,
                min_size=opts.min_size,
                return_threshold=True,
                source=f,
            )
            stem = Path(f).stem
            suffix = "png" if result.ndim == 2 else "tif"
            cuts = ",".join(f"{t:.6g}" for t in np.atleast_1d(threshold))
            if result.dtype == bool:
                written = write_image(out / f"{stem}_binary.{suffix}", result)
                fraction = float(result.mean())
                summary = f"electrolyte_fraction={fraction:.6f}"
                head = f"electrolyte fraction {fraction:.4f}"
            else:  # the classes, 0 = darkest: a label image for --phase-conductivity
                written = write_image(out / f"{stem}_phases.{suffix}", result)
                shares = np.bincount(result.ravel(), minlength=opts.n_phases) / result.size
                summary = "phases=" + ",".join(
                    f"{name}:{share:.6f}" for name, share in zip(opts.names, shares)
                )
                head = f"{opts.n_phases} phases"
            preview = plot_segmentation(
                out / f"{stem}_segmentation.png",
                gray,
                result,
                title=f"{Path(f).name}: {head}, threshold{'s' if ',' in cuts else ''} "
                f"{cuts.replace(',', ', ')}",
                thresholds=threshold,
                phase_names=opts.names if classes else None,
                conductive=opts.conductive_phases,
            )
        except IonflowError as exc:
            _err(str(exc))
            failed += 1
            continue
        key = "thresholds" if "," in cuts else "threshold"
        print(f"{f}\t{summary}\t{key}={cuts}\t{written}\t{preview}", flush=True)
    return 1 if failed else 0


def cmd_generate(args: argparse.Namespace) -> int:
    import numpy as np

    from .generate import generate
    from .io import write_image

    shape = tuple(args.shape)
    out = Path(args.out)
    rng = np.random.default_rng(args.seed)
    options = {}
    if args.radius:
        key = "semi_axes" if args.kind == "ellipses" else "radius"
        if args.kind != "blobs":
            options[key] = tuple(args.radius) if len(args.radius) == 2 else args.radius[0]
    for i in range(args.count):
        image = generate(args.kind, shape, electrolyte_fraction=args.fraction, rng=rng, **options)
        path = write_image(out / f"{args.kind}_{i:05d}.{args.format}", image)
        print(f"{path}\telectrolyte_fraction={image.mean():.6f}", flush=True)
    return 0


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
    """Subcommand parsers: every default shown in ``--help``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="ionflow",
        description="Effective ionic conductivity of electrode microstructures.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ionflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("simulate", help="solve conduction through images / volumes")
    p.add_argument(
        "paths", nargs="*", help="image files, directories or globs (default: bundled examples)"
    )
    _add_physics_options(p)
    _add_read_options(p)
    g = p.add_argument_group("solver and output")
    g.add_argument(
        "--method",
        choices=["auto", "direct", "mg", "cg"],
        default="auto",
        help="auto: direct in 2D, multigrid-CG in 3D; cg: pyamg-preconditioned CG",
    )
    g.add_argument(
        "--balance-tol",
        type=float,
        default=1e-8,
        help="iterative solves: required relative inlet/outlet current agreement",
    )
    g.add_argument(
        "--rtol",
        type=float,
        default=1e-9,
        help="iterative solves: relative accuracy of the current (dimensionless)",
    )
    fmt = g.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per input per line")
    fmt.add_argument(
        "--csv", action="store_true", help="CSV: a header, then one row per file and axis"
    )
    g.add_argument("--output", metavar="FILE.jsonl", help="append results here; rerun resumes")
    g.add_argument(
        "--fields",
        metavar="DIR",
        help="save the potential (V) and current density (A/m^2) per cell here, and a picture",
    )
    g.add_argument(
        "--fields-format",
        default="tif,png",
        metavar="LIST",
        help="comma-separated: tif (float32 ImageJ stacks with the voxel size, for Fiji), vti "
        "(VTK image data, for ParaView), npy (float64, for Python), png (the picture)",
    )
    g.add_argument(
        "--log-current",
        action="store_true",
        help="the picture's current density on a log colour scale",
    )
    g.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("segment", help="segment grayscale micrographs into binary images")
    p.add_argument("paths", nargs="+", help="image files, directories or globs")
    p.add_argument("--out", default=".", help="output directory (default: here)")
    g = p.add_argument_group("segmentation")
    _add_threshold_options(g)
    _add_segment_options(g)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("generate", help="write seeded synthetic microstructures")
    p.add_argument("kind", choices=["disks", "nonoverlapping", "ellipses", "blobs"])
    p.add_argument("--shape", type=int, nargs="+", default=[64, 64], help="e.g. 64 64 or 48 48 48")
    p.add_argument("--fraction", type=float, default=0.8, help="electrolyte volume fraction (0..1)")
    p.add_argument("--count", type=int, default=1, help="how many images")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same images)")
    p.add_argument(
        "--radius",
        type=float,
        nargs="+",
        help="particle radius or MIN MAX, in cells (default: the generator's, 2-7)",
    )
    p.add_argument(
        "--format", choices=["png", "tif", "npy"], default="png", help="image file format"
    )
    p.add_argument("--out", default=".", help="output directory")
    p.set_defaults(func=cmd_generate)

    _add_metrics_command(sub)
    from ._cli_transport import add_transport_commands

    add_transport_commands(sub)
    _add_rev_commands(sub)
    _add_ml_commands(sub)
    from .app._serve import add_app_command  # the local web page; its module is light

    add_app_command(sub)
    return parser


def _add_metrics_command(sub) -> None:
    p = sub.add_parser("metrics", help="microstructure metrics of label images / volumes")
    p.add_argument("paths", nargs="+", help="label image files, directories or globs")
    p.add_argument(
        "--voxel-size",
        type=float,
        nargs="+",
        metavar="H",
        help="voxel edge in metres, one or one per axis (DZ DY DX); default: the TIFF's own, "
        "else lengths in voxels",
    )
    p.add_argument(
        "--surface-method",
        choices=["faces", "crofton", "marching_cubes"],
        default="faces",
        help="surface area estimator (faces: voxel faces, exact for a voxel image)",
    )
    p.add_argument("--axis", default="all", help="percolation / MacMullin axis: 0, 1, 2 or all")
    p.add_argument("--conductive-label", type=float, metavar="L", help="label that conducts")
    p.add_argument("--macmullin", action="store_true", help="solve for the MacMullin number")
    p.add_argument("--no-sizes", action="store_true", help="skip the size distributions")
    p.add_argument("--no-s2", action="store_true", help="skip the two-point correlations")
    p.add_argument("--periodic", action="store_true", help="wrap the image for S2(r)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per file per line")
    out.add_argument("--csv", action="store_true", help="one CSV row of scalars per file")
    p.set_defaults(func=cmd_metrics)


def cmd_metrics(args: argparse.Namespace) -> int:
    from .metrics import measure_files

    axes = _axes(args.axis)
    files, failed = _inputs(args)
    label = args.conductive_label
    outcomes = measure_files(
        files,
        voxel_size=args.voxel_size,
        surface_method=args.surface_method,
        axes=axes,
        size_distributions=not args.no_sizes,
        two_point=not args.no_s2,
        periodic=args.periodic,
        conductive_label=None if label is None else (int(label) if label == int(label) else label),
        macmullin=args.macmullin,
    )
    rows = []
    for outcome in outcomes:
        if outcome.error is not None:
            _err(outcome.error)
            failed += 1
        elif args.json:
            print(json.dumps(outcome.to_dict(), allow_nan=False), flush=True)
        elif args.csv:
            assert outcome.result is not None  # a MetricsOutcome without an error has a result
            rows.append(outcome.result.summary())
        else:
            print(_metrics_text(outcome.result), flush=True)
    if rows:
        import csv

        columns = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 1 if failed else 0


def _add_rev_commands(sub) -> None:
    p = sub.add_parser("rev", help="is the sample big enough? sigma_eff/tau of subvolumes (REV)")
    p.add_argument("paths", nargs="+", help="image files, directories or globs")
    p.add_argument("--axis", type=int, default=0, help="flow axis (default 0)")
    p.add_argument("--pixel-size", type=float, help="pixel/voxel edge in m (default: the TIFF's)")
    p.add_argument(
        "--edges", type=int, nargs="+", help="subvolume edges in cells (default: halving)"
    )
    p.add_argument("--samples", type=int, default=8, help="subvolumes per edge (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the positions (default 0)")
    p.add_argument("--no-full", action="store_true", help="do not solve the whole image")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--target", type=float, default=0.05, help="relative half-width asked")
    p.add_argument("--alpha", type=float, help="fix the spread exponent (default: fitted)")
    p.add_argument(
        "--method",
        choices=["auto", "direct", "mg", "cg"],
        default="auto",
        help="linear solver (as simulate --method)",
    )
    p.add_argument("--plot", metavar="DIR", help="write <stem>_rev.png (REV curve) here")
    p.add_argument("--json", action="store_true", help="one JSON object per file per line")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_read_options(p)
    p.set_defaults(func=cmd_rev, label_conductivity=None)

    p = sub.add_parser(
        "export-params", help="cell-model parameters (BPX names, PyBaMM) of electrode images"
    )
    p.add_argument("--positive", metavar="IMAGE", help="image of the positive electrode")
    p.add_argument("--negative", metavar="IMAGE", help="image of the negative electrode")
    p.add_argument("--voxel-size", type=float, help="voxel edge in m (default: the TIFF's)")
    p.add_argument("--axis", type=int, default=0, help="through-thickness axis (default 0)")
    p.add_argument("--electrolyte", type=float, help="electrolyte label of a label image")
    p.add_argument("--active", type=float, action="append", help="active label(s) (repeatable)")
    p.add_argument("--positive-thickness", type=float, help="m, if the image spans the electrode")
    p.add_argument("--negative-thickness", type=float, help="m, if the image spans the electrode")
    p.add_argument("--rev", action="store_true", help="add the REV interval (more solves)")
    p.add_argument("--out", metavar="FILE.json", help="write here (default: print)")
    p.set_defaults(func=cmd_export_params)


@overload
def _number(value: float) -> float: ...


@overload
def _number(value: None) -> None: ...


def _number(value: float | None) -> float | None:
    """A label as typed: ``2.0`` -> ``2`` (an int, so that it prints and matches as one)."""
    return None if value is None else (int(value) if value == int(value) else value)


def cmd_rev(args: argparse.Namespace) -> int:
    from .io import read_pixel_size
    from .rev import representativeness

    read = _read_options(args)
    files, failed = _inputs(args)
    for path in files:
        try:
            image = read(path)
            size = args.pixel_size if args.pixel_size is not None else read_pixel_size(path)
            res = representativeness(
                image,
                axis=args.axis,
                edges=args.edges,
                samples=args.samples,
                rng=args.seed,
                pixel_size=size,
                full=not args.no_full,
                confidence=args.confidence,
                target=args.target,
                alpha=args.alpha,
                progress=not args.no_progress and sys.stderr.isatty(),
                solve={"method": args.method},
                source=path,
            )
        except IonflowError as exc:
            failed += 1
            _err(str(exc) if path in str(exc) else f"{path}: {exc}")
            continue
        if args.plot:
            from .plot import plot_rev

            plot_rev(Path(args.plot) / f"{Path(path).stem}_rev.png", res, title=Path(path).name)
        if args.json:
            print(json.dumps({"source": path, **res.to_dict()}, allow_nan=False), flush=True)
        else:
            print(f"# {path}  shape {'x'.join(map(str, res.shape))}  axis {res.axis}")
            for quantity in ("relative_conductivity", "tortuosity"):
                print("\n".join(res.summary(quantity)) + "\n", flush=True)
    return 1 if failed else 0


def cmd_export_params(args: argparse.Namespace) -> int:
    from .cellmodel import electrode_parameters, parameter_document
    from .io import ReadOptions, read_pixel_size

    if not (args.positive or args.negative):
        raise IonflowError("give --positive IMAGE and/or --negative IMAGE")
    read = ReadOptions(labels=True if args.electrolyte is not None else None)
    electrodes = []
    for electrode, path, thickness in (
        ("positive", args.positive, args.positive_thickness),
        ("negative", args.negative, args.negative_thickness),
    ):
        if path is None:
            continue
        size = args.voxel_size if args.voxel_size is not None else read_pixel_size(path)
        if size is None:
            raise InputError("no voxel size in the file: give --voxel-size (m)", source=path)
        electrodes.append(
            electrode_parameters(
                read(path),
                pixel_size=size,
                electrode=electrode,
                axis=args.axis,
                electrolyte=_number(args.electrolyte),
                active=None if not args.active else [_number(a) for a in args.active],
                thickness=thickness,
                rev=args.rev,
                source=path,
            )
        )
    if args.out:
        from .cellmodel import write_parameters

        print(write_parameters(args.out, electrodes), file=sys.stderr)
    else:
        print(json.dumps(parameter_document(electrodes), indent=2, allow_nan=False), flush=True)
    for e in electrodes:
        print(
            f"{e.electrode}: porosity {e.porosity:.4f}, transport efficiency "
            f"{e.transport_efficiency:.4f}, tortuosity {e.tortuosity_factor:.3f}, Bruggeman "
            f"{e.bruggeman_exponent:.3f}, a {e.surface_area:.4g} 1/m, R {e.particle_radius:.4g} m",
            file=sys.stderr,
        )
    return 0


def _metrics_text(res) -> str:
    unit = res.length_unit
    lines = [
        f"{res.source}  shape {'x'.join(map(str, res.shape))}  lengths in {unit}  "
        f"surfaces: {res.surface_method}",
        f"  {'label':>8s} {'fraction':>9s} {'SSA_1/' + unit:>12s} {'percolating(axis)':>24s} "
        f"{'isolated(axis)':>24s} {'d50':>10s}",
    ]
    for p in res.phases:
        perc = " ".join(f"{q.percolating:.3f}({q.axis})" for q in p.percolation)
        iso = " ".join(f"{q.isolated:.3f}({q.axis})" for q in p.percolation)
        d50 = _fmt(p.size_distribution.d50, ".4g") if p.size_distribution else "-"
        lines.append(
            f"  {p.label!s:>8s} {p.volume_fraction:9.4f} {p.specific_surface_area:12.5g} "
            f"{perc:>24s} {iso:>24s} {d50:>10s}"
        )
    for i in res.interfaces:
        lines.append(f"  interface {i.labels[0]}-{i.labels[1]}: {i.area_density:.5g} 1/{unit}")
    if res.triple_phase_boundary is not None:
        t = res.triple_phase_boundary
        lines.append(f"  triple-phase boundary {t.labels}: {t.density:.5g} 1/{unit}^2")
    for m in res.macmullin or ():
        lines.append(
            f"  MacMullin number (label {res.conductive_label}, axis {m.axis}): "
            f"{_fmt(m.macmullin_number, '.5g')}  tortuosity {_fmt(m.tortuosity, '.5g')}"
        )
    return "\n".join(lines)


def _add_ml_commands(sub) -> None:
    p = sub.add_parser("dataset", help="generate and label a dataset (HDF5, resumable)")
    p.add_argument("out", help="output .h5 file (rerun the same command to resume)")
    p.add_argument(
        "--shape", type=int, nargs="+", default=[64, 64], help="image shape in cells (2D or 3D)"
    )
    p.add_argument("--train", type=int, default=2500, help="images in the training split")
    p.add_argument("--val", type=int, default=175, help="images in the validation split")
    p.add_argument("--test", type=int, default=175, help="images in the test split")
    p.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=[0.6, 0.7, 0.8, 0.9, 1.0],
        help="electrolyte-fraction classes (the paper's by default)",
    )
    p.add_argument(
        "--fraction-range",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="draw fractions uniformly from [LO, HI] instead of classes",
    )
    p.add_argument(
        "--generators",
        nargs="+",
        default=["disks"],
        choices=GENERATOR_NAMES,
        help="generators (families), cycled over the images (default: disks)",
    )
    p.add_argument(
        "--radius",
        type=float,
        nargs=2,
        default=[2.0, 7.0],
        metavar=("MIN", "MAX"),
        help="particle radius range in cells (disks and the like)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the whole dataset")
    p.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="labels by fraction class, the splits marked (default: OUT.png)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_dataset)

    p = sub.add_parser("train", help="train a CNN surrogate on a dataset")
    p.add_argument("dataset")
    p.add_argument("out", help="output model file (.safetensors); rerun to resume")
    p.add_argument(
        "--arch",
        default="ionnet",
        help="ionnet (default; 3D data: ionnet3d), a timm name (e.g. efficientnetv2_s, 2D) or "
        "monai:resnet10 / monai:resnet18 / monai:densenet121 / monai:efficientnet-b0",
    )
    p.add_argument("--channels", type=int, nargs="+", help="ionnet stage widths")
    p.add_argument("--stem-stride", type=int, default=2, help="stride of the ionnet stem")
    p.add_argument(
        "--stem",
        choices=["conv", "patch"],
        default="conv",
        help="ionnet stem: a 3x3 convolution, or the fast lookup of 2x2(x2) blocks (for 3D)",
    )
    p.add_argument(
        "--stem-channels", type=int, nargs="+", help="patch stem widths (each adds a stride 2)"
    )
    p.add_argument("--epochs", type=int, default=40, help="most epochs per member")
    p.add_argument("--batch-size", type=int, default=64, help="images per step")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    p.add_argument(
        "--warmup-epochs", type=float, default=1.0, help="linear warm-up, then cosine decay"
    )
    p.add_argument(
        "--patience",
        type=int,
        default=10,
        help="stop a member after this many epochs without a better validation MAPE",
    )
    p.add_argument("--members", type=int, default=1, help="ensemble size")
    p.add_argument("--per-class", action="store_true", help="one model per fraction class")
    p.add_argument(
        "--max-minutes",
        type=float,
        help="wall-clock budget for the whole run, in minutes (default: none); the learning "
        "rate anneals before it and training says when it stopped on it",
    )
    p.add_argument(
        "--pretrained", metavar="WEIGHTS", help="local .safetensors for transfer learning"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--threads", type=int, help="torch threads (default: the cores left free)")
    p.add_argument(
        "--exclude-generators",
        nargs="+",
        default=[],
        metavar="NAME",
        help="leave these generators' images out of training and validation "
        "(leave-one-family-out studies)",
    )
    p.add_argument("--verbose-epochs", action="store_true", help="log every epoch")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a model on a dataset split, with baselines")
    p.add_argument("model")
    p.add_argument("dataset")
    p.add_argument("--split", default="test", help="train, val, test or all")
    p.add_argument("--plot", metavar="PNG", help="parity plot")
    p.add_argument(
        "--tta", action="store_true", help="average the 4 flips (default: one pass, as predict)"
    )
    p.add_argument("--no-tta", dest="tta", action="store_false", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "predict",
        help="predict conduction with the CNN surrogate (ONNX Runtime; no torch needed)",
    )
    p.add_argument(
        "paths", nargs="*", help="images, directories or globs (default: bundled examples)"
    )
    p.add_argument("--model", help="model file (default: the bundled 2D / 3D model)")
    p.add_argument("--axis", default="0", help="flow axis 0, 1, 2 or 'all' (default: 0)")
    p.add_argument("--voltage", type=float, default=1.0, help="applied voltage in V (default: 1)")
    p.add_argument(
        "--conductivity",
        type=float,
        default=1.0,
        help="electrolyte conductivity in S/m (default: 1)",
    )
    p.add_argument(
        "--tta",
        action="store_true",
        help="average the 4 label-preserving flips (4x the network work; default: off)",
    )
    p.add_argument("--no-tta", dest="tta", action="store_false", help=argparse.SUPPRESS)
    p.add_argument(
        "--block-axes",
        choices=["flow", "all"],
        default="flow",
        help="images larger than the model's: predict each block along the flow only "
        "(default; exact for isotropic blocks) or along every axis (3x the work)",
    )
    p.add_argument(
        "--no-blocks",
        action="store_true",
        help="feed larger images whole to the network (fast, inaccurate, flagged ood)",
    )
    p.add_argument(
        "--backend",
        choices=["auto", "onnx", "torch"],
        default="auto",
        help="network runtime (default auto: the model's ONNX export, else torch)",
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        help="voxel edge in metres (default: each TIFF's own, else l = 1)",
    )
    p.add_argument("--verify", action="store_true", help="also solve and report the error")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per line")
    fmt.add_argument(
        "--csv", action="store_true", help="CSV: a header, then one row per file and axis"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_read_options(p)
    p.set_defaults(func=cmd_predict, label_conductivity=None)

    p = sub.add_parser(
        "export", help="write the ONNX export of models (MODEL.onnx), checked against torch"
    )
    p.add_argument("models", nargs="+", help=".safetensors model files")
    p.set_defaults(func=cmd_export)


def cmd_dataset(args: argparse.Namespace) -> int:
    import numpy as np

    from .dataset import DatasetConfig, build_dataset, load_split

    cfg = DatasetConfig(
        shape=tuple(args.shape),
        fractions=tuple(args.fractions),
        fraction_range=tuple(args.fraction_range) if args.fraction_range else None,
        generators=tuple(args.generators),
        radius=tuple(args.radius),
        splits=(("train", args.train), ("val", args.val), ("test", args.test)),
        seed=args.seed,
    )
    progress = not args.no_progress and sys.stderr.isatty()
    path = build_dataset(args.out, cfg, jobs=args.jobs, progress=progress)
    every = load_split(path, "all")
    rel = every.labels["relative_conductivity"]
    plot = args.plot or str(Path(args.out).with_suffix(".png"))
    from .plot import plot_labels_by_class

    groups = every.fraction_target
    groups = np.round(groups * 20) / 20 if cfg.fraction_range else np.round(groups, 3)
    plot_labels_by_class(plot, rel, groups, title=str(path), splits=every.config.splits)
    blocked = int((rel == 0).sum())
    print(
        f"{path}: {rel.size} images, relative conductivity {rel.min():.4f}..{rel.max():.4f}, "
        f"{blocked} blocked; labels plot {plot}"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .model import ModelConfig, TrainConfig, train

    default = ModelConfig()
    mc = ModelConfig(
        arch=args.arch,
        stem_stride=args.stem_stride,
        stem=args.stem,
        stem_channels=tuple(args.stem_channels) if args.stem_channels else default.stem_channels,
        channels=tuple(args.channels) if args.channels else default.channels,
    )
    tc = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        patience=args.patience,
        seed=args.seed,
        members=args.members,
        per_class=args.per_class,
        max_minutes=args.max_minutes,
        pretrained=args.pretrained,
        threads=args.threads,
        exclude_generators=tuple(args.exclude_generators),
    )
    if args.verbose_epochs:
        logging.getLogger("ionflow").setLevel(logging.INFO)
    progress = not args.no_progress and sys.stderr.isatty()
    path = train(args.dataset, args.out, model=mc, config=tc, progress=progress)
    from .model import load_bundle

    b = load_bundle(path)
    print(f"{path}: {len(b.members)} member(s), validation MAPE {b.metrics['val_mape']:.3f}%")
    for k, m in enumerate(b.members):
        if m.metrics.get("stopped") == "time budget":
            print(
                f"  member {k} stopped on the time budget (--max-minutes {args.max_minutes:g}) "
                f"after {m.metrics['epochs']} of {args.epochs} epochs",
                file=sys.stderr,
            )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .model import evaluate

    res = evaluate(args.model, args.dataset, split=args.split, plot=args.plot, tta=args.tta)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{args.dataset} [{res['split']}], {res['n']} images, model {args.model}")
    classes = list(next(iter(res["table"].values()))["per_class_mape"])
    head = f"{'predictor':28s} {'MAPE%':>7s} {'MAE':>8s} {'R2':>7s} {'med%':>6s} {'p95%':>6s} {'low10%':>7s} "
    print(head + " ".join(f"{'f=' + c:>7s}" for c in classes))
    for name, row in res["table"].items():
        print(
            f"{name[:28]:28s} {row['mape']:7.3f} {row['mae']:8.5f} {row['r2']:7.4f} "
            f"{row['median_ape']:6.2f} {row['p95_ape']:6.2f} {row['lowest_decile_mape']:7.2f} "
            + " ".join(f"{v:7.2f}" for v in row["per_class_mape"].values())
        )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .surrogate import predict_files

    read = _read_options(args)
    axes = _axes(args.axis)
    files, failed = _inputs(args)
    if not files:
        return 1 if failed else 0
    outcomes = predict_files(
        files,
        axes=axes,
        read=read,
        pixel_size=args.pixel_size,
        model=args.model,
        voltage=args.voltage,
        conductivity=args.conductivity,
        verify=args.verify,
        tta=args.tta,
        blocks=not args.no_blocks,
        block_axes=args.block_axes,
        backend=args.backend,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    rows = []
    for out in outcomes:
        if out.error is not None:
            _err(out.error)
            failed += 1
            continue
        if out.verification is not None and out.verification.error is not None:
            _err(out.verification.error)  # the prediction is still printed
            failed += 1
        rows.append(out.to_dict())
    names, width = _file_names(files, least=40)
    if args.csv:
        csv_out = _CsvOut()
        for row in rows:
            csv_out.write(row)
        return 1 if failed else 0
    if not args.json:
        print(
            f"{'file':{width}s} {'axis':>4s} {'fraction':>8s} {'sigma_eff/s':>12s} "
            f"{'90% interval':>19s} {'ood':>4s}"
            + (f" {'solver':>12s} {'err%':>7s}" if args.verify else "")
        )
    for row in rows:
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        lo, hi = row["interval"] or (None, None)
        band = f"{lo:.4g}..{hi:.4g}" if lo is not None else "-"
        line = (
            f"{_short(names.get(row['file'], row['file']), width):{width}s} {row['axis']:>4d} "
            f"{row['electrolyte_fraction']:8.4f} {row['relative_conductivity']:12.6g} "
            f"{band:>19s} {('yes' if row['ood'] else 'no'):>4s}"
        )
        if args.verify:
            err, solved = row["error_percent"], row["solver_relative_conductivity"]
            line += (
                f" {(f'{solved:12.6g}' if solved is not None else '-'):>12s} "
                f"{(f'{err:.2f}' if err is not None else '-'):>7s}"
            )
        if row["ood_reasons"]:
            line += "  (" + "; ".join(row["ood_reasons"]) + ")"
        print(line, flush=True)
    return 1 if failed else 0


def _short(path: str, width: int) -> str:
    """The end of a path, enough to tell two files of the same name apart."""
    return path if len(path) <= width else "..." + path[-(width - 3) :]


def cmd_export(args: argparse.Namespace) -> int:
    from .model import export_onnx

    for model in args.models:
        print(export_onnx(model, check=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="ionflow: %(message)s",
        stream=sys.stderr,
    )
    # which labels/phases an input has and which conduct: one line per input, always shown
    logging.getLogger("ionflow.phases").setLevel(logging.INFO)
    try:
        return int(args.func(args) or 0)
    except IonflowError as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
