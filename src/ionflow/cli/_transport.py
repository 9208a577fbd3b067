"""``ionflow electrode`` and ``ionflow profile``: the electrode tortuosity factor, impedance
spectra and depth profiles of image files (the commands parse, call the library, print)."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ._common import (
    STACK_HELP,
    _add_read_options,
    _err,
    _label_map,
    _read_options,
    add_conductivity_options,
)

__all__ = ["add_transport_commands"]

log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="image files, directories or globs")
    p.add_argument("--axis", type=int, default=0, help="through-thickness axis (default 0)")
    p.add_argument(
        "--pixel-size",
        "--voxel-size",
        type=float,
        nargs="+",
        metavar="M",
        help="voxel edge in m, or one per axis (DZ DY DX); default: the TIFF's own, else l = 1",
    )
    p.add_argument(
        "--boundary",
        choices=["insulating", "periodic"],
        default="insulating",
        help="lateral faces (default insulating)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per file per line")
    out.add_argument("--csv", action="store_true", help="CSV rows (pandas / spreadsheets)")


def add_transport_commands(sub: Any) -> None:
    """Register ``electrode`` and ``profile`` on the CLI's subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subparsers of ``ionflow``.
    """
    p = sub.add_parser(
        "electrode",
        help="electrode tortuosity factor tau_e and impedance (separator at the first slice, "
        "current collector at the last)",
    )
    _common(p)
    p.add_argument("--labels", action="store_true", help="read the files as label images")
    p.add_argument("--stack", action="store_true", help=STACK_HELP)
    p.add_argument(
        "--conductive-label",
        type=float,
        metavar="L",
        help="label of the electrolyte (default: every nonzero value of a binary image)",
    )
    p.add_argument(
        "--reactive-label",
        type=float,
        metavar="L",
        help="label of the active material whose interface reacts (default 0); other labels "
        "are inert",
    )
    p.add_argument(
        "--nyquist",
        metavar="DIR",
        help="write <stem>_nyquist.png and <stem>_impedance.csv (Z over 4 decades around the "
        "characteristic frequency, with the homogeneous electrode)",
    )
    p.set_defaults(func=cmd_electrode)

    p = sub.add_parser(
        "tensor",
        help="homogenised conductivity tensor of a periodic cell (symmetric; principal values "
        "and axes)",
    )
    p.add_argument("paths", nargs="+", help="image files, directories or globs")
    p.add_argument(
        "--pixel-size",
        "--voxel-size",
        type=float,
        nargs="+",
        metavar="M",
        help="voxel edge in m, or one per axis (DZ DY DX); default: the TIFF's own",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file per line")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_read_options(p)
    g = p.add_argument_group("conductivities (default: the electrolyte 1 S/m, the rest 0)")
    add_conductivity_options(g)
    p.set_defaults(func=cmd_tensor, axis=0, boundary="periodic", csv=False)

    p = sub.add_parser(
        "profile", help="depth profiles eps(x), a(x), tau(x) along the thickness (for PyBaMM)"
    )
    _common(p)
    p.add_argument("--plot", metavar="DIR", help="write <stem>_profile.png there")
    _add_read_options(p)
    p.set_defaults(func=cmd_profile)


def _files(args: argparse.Namespace) -> tuple[list[str], int]:
    from ..io import find_inputs

    files, problems = find_inputs(args.paths, stacks=getattr(args, "stack", False))
    for problem in problems:
        _err(problem)
    return files, len(problems)


def _each(
    args: argparse.Namespace,
    work: Callable[[str, np.ndarray, Any], dict[str, Any]],
    read: Any = None,
) -> Iterator[dict[str, Any] | None]:
    """Read every file (``read``: its :class:`~ionflow.io.ReadOptions`, default ``--labels``
    only) and run ``work(path, image, pixel_size)``: a row, or None after one error line (the
    batch goes on)."""
    from ..errors import InputError
    from ..io import ReadOptions, read_pixel_size, same_stems
    from ..solve._batch import message

    if read is None:  # electrode: naming a label reads the values as labels
        named = any(
            getattr(args, k, None) is not None for k in ("conductive_label", "reactive_label")
        )
        read = ReadOptions(labels=True if args.labels or named else None)
    files, problems = _files(args)
    for _ in range(problems):  # said by _files; each counts as a failed input
        yield None
    # pictures and spectra are named by the file's stem: two inputs of one stem would share
    out = str(getattr(args, "nyquist", None) or getattr(args, "plot", None) or "")
    clashes = same_stems(files) if out else {}
    for path in files:
        try:
            if path in clashes:
                raise InputError(
                    f"has the same name as {clashes[path]}; its outputs would overwrite "
                    f"{Path(out) / Path(path).stem}_*; run it with another folder",
                    source=path,
                )
            size: Any
            if args.pixel_size:
                size = args.pixel_size[0] if len(args.pixel_size) == 1 else tuple(args.pixel_size)
            else:
                size = read_pixel_size(path)
            yield work(path, read(path), size)
        except Exception as exc:  # noqa: BLE001 - one bad file must not lose the batch
            _err(message(exc, path))
            yield None


def _print(rows: list[dict[str, Any]], args: argparse.Namespace, columns: list[str]) -> None:
    if args.csv:
        writer = csv.DictWriter(
            sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "inf"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def cmd_electrode(args: argparse.Namespace) -> int:
    """``ionflow electrode``."""
    from ..solve import electrode_tortuosity, ideal_impedance, impedance, simulate

    columns = [
        "file",
        "axis",
        "electrolyte_fraction",
        "tau_e",
        "tortuosity",
        "interface_density",
        "connected_interface",
    ]

    def work(path: str, image: np.ndarray, size: Any) -> dict[str, Any]:
        options = dict(
            axis=args.axis,
            conductive_label=args.conductive_label,
            reactive_label=args.reactive_label,
            pixel_size=size,
            boundary=args.boundary,
            source=path,
        )
        res = electrode_tortuosity(image, **options)
        pores = image == args.conductive_label if args.conductive_label is not None else image
        through = simulate(
            pores, axis=args.axis, boundary=args.boundary, pixel_size=size, source=path
        )
        row = {"file": path, **res.to_dict(), "tortuosity": through.to_dict()["tortuosity"]}
        if args.nyquist and not math.isfinite(res.tau_e):
            log.warning(
                "%s: no spectrum written: no electrolyte/active interface is reached from the "
                "separator (tau_e is infinite)",
                path,
            )
        if args.nyquist and math.isfinite(res.tau_e):
            n = res.shape[res.axis]
            # the characteristic frequency of the homogeneous line: omega R C = 1 over it
            omega0 = 1.0 / (n * n * max(res.interface_density, 1e-12) / res.electrolyte_fraction)
            omega = omega0 * np.logspace(-1.5, 2.5, 25)
            z = impedance(image, omega, progress=sys.stderr.isatty(), **options)
            # the cross-section in the reduced units of the result (box-shaped voxels: each
            # edge relative to the one along the axis, as the interface density is)
            edges = res.pixel_size or (1.0,) * len(res.shape)
            cross = float(
                np.prod(
                    [
                        m * edges[k] / edges[res.axis]
                        for k, m in enumerate(res.shape)
                        if k != res.axis
                    ]
                )
            )
            r_cell = 1.0 / (res.electrolyte_fraction * cross)
            c_cell = res.interface_density * cross
            z0 = ideal_impedance(omega, n, resistance=r_cell, capacitance=c_cell)
            _write_impedance(Path(args.nyquist), path, omega, z, z0)
        return row

    if args.nyquist:
        from ..io import output_folder

        output_folder(args.nyquist)  # before the solves whose spectra it would hold
    rows = []
    failed = 0
    if not (args.json or args.csv):
        print(f"{'file':32s} {'axis':>4s} {'fraction':>8s} {'tau_e':>10s} {'tau':>10s}")
    for row in _each(args, work):
        if row is None:
            failed += 1
            continue
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        elif not args.csv:
            print(
                f"{Path(row['file']).name[:32]:32s} {row['axis']:>4d} "
                f"{row['electrolyte_fraction']:8.4f} {_fmt(row['tau_e']):>10s} "
                f"{_fmt(row['tortuosity']):>10s}",
                flush=True,
            )
    _print(rows, args, columns)
    return 1 if failed else 0


def _write_impedance(
    folder: Path, source: str, omega: np.ndarray, z: np.ndarray, ideal: np.ndarray
) -> None:
    from ..plot import plot_nyquist

    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(source).stem
    tmp = folder / f"{stem}_impedance.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["omega_reduced", "re_z", "im_z", "re_z_homogeneous", "im_z_homogeneous"])
        for row in zip(omega, z.real, z.imag, ideal.real, ideal.imag):
            w.writerow([f"{v:.10g}" for v in row])
    tmp.replace(folder / f"{stem}_impedance.csv")
    plot_nyquist(folder / f"{stem}_nyquist.png", z, ideal=ideal, title=Path(source).name)


def cmd_tensor(args: argparse.Namespace) -> int:
    """``ionflow tensor``."""
    from ..solve import homogenised_tensor

    read = _read_options(args)
    labels = _label_map(args.label_conductivity, read)

    def work(path: str, image: np.ndarray, size: Any) -> dict[str, Any]:
        tensor = homogenised_tensor(
            image,
            conductivity=args.conductivity,
            matrix_conductivity=args.matrix_conductivity,
            label_conductivities=dict(labels) if labels else None,
            pixel_size=size,
            source=path,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
        return {"file": path, **tensor.to_dict()}

    failed = 0
    for row in _each(args, work, read):
        if row is None:
            failed += 1
        elif args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{row['file']}: sigma_eff/sigma (homogenised, periodic cell)")
            for line in row["relative"]:
                # rounding's -1e-17 is 0 here, not -0.000000
                print(
                    "    [" + "  ".join(f"{v if abs(v) >= 5e-7 else 0.0:+.6f}" for v in line) + "]"
                )
            values = ", ".join(
                f"{v if abs(v) >= 5e-7 else 0.0:.6f}" for v in row["principal_values"]
            )
            print(f"  principal values {values}", flush=True)
    return 1 if failed else 0


def cmd_profile(args: argparse.Namespace) -> int:
    """``ionflow profile``."""
    from ..solve import depth_profile

    def work(path: str, image: np.ndarray, size: Any) -> dict[str, Any]:
        if -image.ndim <= args.axis < image.ndim and image.shape[args.axis] < 2:
            from ..errors import InputError

            raise InputError(
                f"image too small for profile ({'x'.join(map(str, image.shape))}): needs at "
                f"least 2 cells along the thickness (axis {args.axis})",
                source=path,
            )
        prof = depth_profile(
            image, axis=args.axis, pixel_size=size, boundary=args.boundary, source=path
        )
        if args.plot:
            from ..plot import plot_depth_profile

            plot_depth_profile(
                Path(args.plot) / f"{Path(path).stem}_profile.png", prof, title=Path(path).name
            )
        return {"file": path, **prof.to_dict()}

    if args.plot:
        from ..io import output_folder

        output_folder(args.plot)  # before the solves whose pictures it would hold
    failed = 0
    columns = ["file", "depth", "fraction", "interface_density", "tortuosity"]
    writer = None
    for row in _each(args, work, _read_options(args)):
        if row is None:
            failed += 1
            continue
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        if args.csv and writer is None:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(columns)
        if not args.csv:
            print(f"{row['file']}: tau = {_fmt(row['result']['tortuosity'])}")
            print(f"  {'depth':>10s} {'eps':>8s} {'a':>10s} {'tau(face)':>10s}")
        n = len(row["position"])
        for i in range(n):
            tau = row["tortuosity"][i + 1]  # the face after slice i
            cells = [row["position"][i], row["fraction"][i], row["interface_density"][i], tau]
            if writer is not None:
                writer.writerow([row["file"], *cells])
            else:
                print("  " + " ".join(f"{_fmt(v):>10s}" for v in cells))
    return 1 if failed else 0
