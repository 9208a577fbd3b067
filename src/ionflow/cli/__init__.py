"""The ``ionflow`` command: parse, call the library, print. No logic lives only here.

One module per group of commands (``_solve``, ``_analysis``, ``_transport``, ``_ml``);
shared options and tables in ``_common``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from ..errors import IonflowError
from ._analysis import _add_metrics_command, _add_rev_commands
from ._checks import check_physics
from ._common import (
    GENERATOR_NAMES,
    HelpFormatter,
    _add_physics_options,
    _add_read_options,
    _add_segment_options,
    _add_threshold_options,
    _attach_label_values,
    _err,
    _Parser,
    _PrintableFormatter,
    _tolerance,
    examples_dir,
)
from ._ml import _add_ml_commands
from ._solve import cmd_generate, cmd_segment, cmd_simulate

__all__ = ["GENERATOR_NAMES", "build_parser", "examples_dir", "main"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
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
        "--device",
        default="auto",
        help="3D multigrid: auto (a CUDA GPU through PyTorch when there is one), cpu, cuda, cuda:N",
    )
    g.add_argument(
        "--balance-tol",
        type=_tolerance,
        default=1e-6,
        help="3D multigrid: the inlet and outlet currents must agree with each other and with "
        "the reported (energy) current to this relative tolerance (conservation check; the "
        "solver balances every plane's current first, so inlet and outlet agree to rounding)",
    )
    g.add_argument(
        "--rtol",
        type=_tolerance,
        default=1e-9,
        help="iterative solves: relative accuracy of the reported current (dimensionless)",
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
    from ._transport import add_transport_commands

    add_transport_commands(sub)
    _add_rev_commands(sub)
    _add_ml_commands(sub)
    from ..app._serve import add_app_command  # the local web page; its module is light

    add_app_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``ionflow`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``ionflow`` (default: the command line's).

    Returns
    -------
    int
        The exit status: 0, 1 when an input or option was refused (one line on stderr),
        130 when interrupted (Ctrl-C).
    """
    try:
        return _run(_attach_label_values(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # Ctrl-C while parsing, or between the command's own handlers
        return _interrupted()


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("ionflow: %(message)s"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
    # Python warnings of the libraries underneath (numpy overflow on a 1e308 image, skimage on
    # a tiny one) are not ionflow's messages: under -v only, as log lines
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.INFO if args.verbose else logging.ERROR)
    # which labels/phases an input has and which conduct: one line per input, always shown
    logging.getLogger("ionflow.phases").setLevel(logging.INFO)
    # that the first 3D solve on a machine compiles its kernels (a minute or two), once
    logging.getLogger("ionflow.compile").setLevel(logging.INFO)
    try:
        check_physics(args)  # absurd magnitudes, before any file is read
        return int(args.func(args) or 0)
    except IonflowError as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _interrupted() -> int:
    """One line for Ctrl-C, and exit status 130; a second Ctrl-C meanwhile is ignored."""
    hold = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if hold:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _err("interrupted")
    finally:
        if hold:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
