"""``ionflow metrics``, ``rev`` and ``export-params``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import InputError, IonflowError
from ._common import (
    STACK_HELP,
    _add_read_options,
    _axes,
    _err,
    _fmt,
    _inputs,
    _number,
    _read_options,
)


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
        help="surface area estimator (faces: voxel faces x 2/3 in 3D, x pi/4 in 2D, unbiased "
        "for isotropic structures; marching_cubes: exact for grid-aligned planes)",
    )
    p.add_argument("--axis", default="all", help="percolation / MacMullin axis: 0, 1, 2 or all")
    p.add_argument("--conductive-label", type=float, metavar="L", help="label that conducts")
    p.add_argument("--macmullin", action="store_true", help="solve for the MacMullin number")
    p.add_argument("--no-sizes", action="store_true", help="skip the size distributions")
    p.add_argument("--no-s2", action="store_true", help="skip the two-point correlations")
    p.add_argument("--periodic", action="store_true", help="wrap the image for S2(r)")
    p.add_argument("--stack", action="store_true", help=STACK_HELP)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per file per line")
    out.add_argument("--csv", action="store_true", help="one CSV row of scalars per file")
    p.set_defaults(func=cmd_metrics)


def cmd_metrics(args: argparse.Namespace) -> int:
    from ..metrics import measure_files

    axes = _axes(args.axis)
    label = args.conductive_label
    if label is not None and not math.isfinite(label):
        raise InputError(f"--conductive-label must be a label value (a finite number), got {label}")
    files, failed = _inputs(args)
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


def cmd_rev(args: argparse.Namespace) -> int:
    from ..io import output_folder, read_pixel_size
    from ..rev import check_levels, representativeness

    read = _read_options(args)
    # option errors once, before any file (the alpha bound, d/2, is checked per image)
    check_levels(confidence=args.confidence, target=args.target, alpha=args.alpha)
    if args.samples < 2:
        raise InputError(f"--samples must be at least 2 subvolumes per edge, got {args.samples}")
    if args.plot:
        output_folder(args.plot)
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
        except Exception as exc:  # noqa: BLE001 - one bad file must not lose the batch
            from ..solve._batch import message

            failed += 1
            _err(message(exc, path))
            continue
        if args.plot:
            from ..plot import plot_rev

            plot_rev(Path(args.plot) / f"{Path(path).stem}_rev.png", res, title=Path(path).name)
        if args.json:
            print(json.dumps({"source": path, **res.to_dict()}, allow_nan=False), flush=True)
        else:
            print(f"# {path}  shape {'x'.join(map(str, res.shape))}  axis {res.axis}")
            for quantity in ("relative_conductivity", "tortuosity"):
                print("\n".join(res.summary(quantity)) + "\n", flush=True)
    return 1 if failed else 0


def cmd_export_params(args: argparse.Namespace) -> int:
    from ..cellmodel import electrode_parameters, parameter_document
    from ..io import ReadOptions, read_pixel_size

    if not (args.positive or args.negative):
        raise IonflowError("give --positive IMAGE and/or --negative IMAGE")
    for flag, values in (("--electrolyte", [args.electrolyte]), ("--active", args.active or [])):
        for v in values:
            if v is not None and not math.isfinite(v):
                raise InputError(f"{flag} must be a label value (a finite number), got {v}")
    for side in ("positive", "negative"):
        if getattr(args, f"{side}_thickness") is not None and getattr(args, side) is None:
            raise InputError(f"--{side}-thickness needs --{side} IMAGE")
    if args.out:  # before the solves: a folder in the way, or one that cannot be made
        from ..io import output_folder

        if Path(args.out).is_dir():
            raise InputError(f"cannot write {args.out}: it is a folder")
        output_folder(Path(args.out).parent)
    read = ReadOptions(labels=True)  # values as stored: --electrolyte / --active name them
    electrodes = []
    for electrode, path, thickness in (
        ("positive", args.positive, args.positive_thickness),
        ("negative", args.negative, args.negative_thickness),
    ):
        if path is None:
            continue
        image = read(path)  # first: a missing or unreadable file says so, not "no voxel size"
        size = args.voxel_size if args.voxel_size is not None else read_pixel_size(path)
        if size is None:
            raise InputError("no voxel size in the file: give --voxel-size (m)", source=path)
        electrodes.append(
            electrode_parameters(
                image,
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
        from ..cellmodel import write_parameters

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
