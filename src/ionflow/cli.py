"""The ``ionflow`` command: parse, call the library, print. No logic lives only here."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from .errors import IonflowError

log = logging.getLogger("ionflow")


def examples_dir() -> Path:
    """The folder of bundled example microstructures."""
    return Path(__file__).parent / "data" / "examples"


def _err(message: str) -> None:
    print(f"ionflow: error: {message}", file=sys.stderr, flush=True)


def _label_map(items: list[str] | None) -> dict[float, float] | None:
    if not items:
        return None
    out = {}
    for item in items:
        try:
            label, value = item.split("=")
            out[float(label)] = float(value)
        except ValueError:
            raise IonflowError(
                f"--label-conductivity expects LABEL=S_PER_M, got {item!r}"
            ) from None
    return out


def _add_read_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image input")
    g.add_argument("--threshold", type=float, help="grayscale threshold (default: Otsu)")
    g.add_argument("--invert", action="store_true", help="swap the phases (dark = electrolyte)")
    g.add_argument("--labels", action="store_true", help="treat the image as a label image")
    g.add_argument(
        "--conductive-label",
        type=float,
        action="append",
        metavar="L",
        help="label value(s) of the electrolyte; other labels insulate (repeatable)",
    )
    g.add_argument(
        "--crop",
        type=int,
        nargs=4,
        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        help="pixels to remove from each side of a 2D image (e.g. an SEM info bar)",
    )


def _add_physics_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("physics (defaults: the paper's V = 1, sigma = 1, l = A = 1)")
    g.add_argument("--axis", default="0", help="flow axis: 0, 1, 2 or 'all' (default 0)")
    g.add_argument("--voltage", type=float, default=1.0, help="applied voltage V (default 1)")
    g.add_argument("--conductivity", type=float, default=1.0, help="electrolyte sigma, S/m")
    g.add_argument(
        "--matrix-conductivity", type=float, default=0.0, help="zero phase sigma, S/m (default 0)"
    )
    g.add_argument(
        "--label-conductivity",
        action="append",
        metavar="LABEL=S",
        help="conductivity per label of a label image (repeatable)",
    )
    g.add_argument("--pixel-size", type=float, help="pixel/voxel edge in metres (default: l = 1)")


def _reader(args: argparse.Namespace):
    from .io import read_image

    return partial(
        read_image,
        threshold=args.threshold,
        invert=args.invert,
        labels=True if (args.labels or args.label_conductivity) else None,
        conductive_labels=args.conductive_label,
        crop=tuple(args.crop) if args.crop else None,
    )


def _axes(value: str) -> list[int] | None:
    if value == "all":
        return None
    try:
        return [int(value)]
    except ValueError:
        raise IonflowError(f"--axis must be 0, 1, 2 or 'all', got {value!r}") from None


def _fmt(value: float | None, spec: str = ".6g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "inf"
    return format(value, spec)


def _table_row(row: dict) -> str:
    return (
        f"{Path(row['file']).name[:32]:32s} {row['axis']:>4d} {row['electrolyte_fraction']:8.4f} "
        f"{row['percolating_fraction']:8.4f} {_fmt(row['relative_conductivity']):>12s} "
        f"{_fmt(row['tortuosity']):>10s} {_fmt(row['current']):>12s} {_fmt(row['resistance']):>12s}"
    )


_TABLE_HEAD = (
    f"{'file':32s} {'axis':>4s} {'fraction':>8s} {'percol.':>8s} {'sigma_eff/s':>12s} "
    f"{'tortuosity':>10s} {'current_A':>12s} {'resist_ohm':>12s}"
)


def _done_files(path: Path | None) -> set[tuple[str, int]]:
    done: set[tuple[str, int]] = set()
    if path is None or not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            done.add((row["file"], int(row["axis"])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a line cut short by an interruption is simply redone
    return done


def cmd_simulate(args: argparse.Namespace) -> int:
    from .io import expand_paths
    from .solve import simulate_many

    files = expand_paths(args.paths or [str(examples_dir())])
    axes = _axes(args.axis)
    options = dict(
        voltage=args.voltage,
        conductivity=args.conductivity,
        matrix_conductivity=args.matrix_conductivity,
        label_conductivities=_label_map(args.label_conductivity),
        pixel_size=args.pixel_size,
        method=args.method,
        rtol=args.rtol,
        fields=args.fields is not None,
    )
    output = Path(args.output) if args.output else None
    done = _done_files(output)
    sink = output.open("a") if output else None
    if sink is not None and output.stat().st_size and not output.read_bytes().endswith(b"\n"):
        sink.write("\n")  # the last run was cut off mid-line; that line is redone
    failed = 0
    if not args.json:
        print(_TABLE_HEAD, flush=True)
    progress = not args.no_progress and sys.stderr.isatty()
    reader = _reader(args)
    axis_list = axes if axes is not None else [0, 1, 2]
    try:
        by_file: dict[str, list[dict]] = {}
        for axis in axis_list:
            todo = [f for f in files if (f, axis) not in done]
            outcomes = simulate_many(
                todo,
                loader=reader,
                jobs=args.jobs,
                scheduler=args.scheduler,
                progress=progress,
                axis=axis,
                **options,
            )
            for outcome in outcomes:
                if outcome.error is not None:
                    if axes is None and "does not exist" in outcome.error:
                        continue  # --axis all on a 2D image: axis 2 does not exist
                    failed += 1
                    _err(outcome.error)
                    continue
                res = outcome.result
                row = {"file": outcome.source, **res.to_dict()}
                by_file.setdefault(outcome.source, []).append(row)
                if axes is None:
                    continue
                _emit(row, args, sink)
                if args.fields is not None:
                    _write_fields(args.fields, outcome.source, reader, res)
        if axes is None:
            for _source, rows in by_file.items():
                values = [r["relative_conductivity"] for r in rows]
                ratio = max(values) / min(values) if min(values) > 0 else None
                for r in rows:
                    r["anisotropy"] = ratio
                    _emit(r, args, sink)
    except KeyboardInterrupt:
        _err("interrupted; results so far are kept" + (f" in {output}" if output else ""))
        return 130
    finally:
        if sink:
            sink.close()
    return 1 if failed else 0


def _emit(row: dict, args: argparse.Namespace, sink) -> None:
    line = json.dumps(row)
    if sink is not None:
        sink.write(line + "\n")
        sink.flush()
    print(line if args.json else _table_row(row), flush=True)


def _write_fields(directory: str, source: str, reader, res) -> None:
    import numpy as np

    from .plot import plot_fields

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(source).stem
    np.save(out / f"{stem}_potential.npy", res.potential)
    np.save(out / f"{stem}_current_density.npy", res.current_density)
    plot_fields(
        out / f"{stem}_fields.png",
        reader(source),
        res.potential,
        res.current_density,
        axis=res.axis,
        title=f"{Path(source).name}: sigma_eff/sigma = {res.relative_conductivity:.4g}",
    )


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


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="ionflow",
        description="Effective ionic conductivity of electrode microstructures.",
    )
    parser.add_argument("--version", action="version", version=f"ionflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="solve conduction through images / volumes")
    p.add_argument(
        "paths", nargs="*", help="image files, directories or globs (default: bundled examples)"
    )
    _add_physics_options(p)
    _add_read_options(p)
    g = p.add_argument_group("solver and output")
    g.add_argument("--method", choices=["auto", "direct", "cg"], default="auto")
    g.add_argument("--rtol", type=float, default=1e-9, help="accuracy of the iterative solver")
    g.add_argument("--json", action="store_true", help="one JSON object per input per line")
    g.add_argument("--output", metavar="FILE.jsonl", help="append results here; rerun resumes")
    g.add_argument("--fields", metavar="DIR", help="save potential/current maps (.npy, .png)")
    g.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("generate", help="write seeded synthetic microstructures")
    p.add_argument("kind", choices=["disks", "nonoverlapping", "ellipses", "blobs"])
    p.add_argument("--shape", type=int, nargs="+", default=[64, 64], help="e.g. 64 64 or 48 48 48")
    p.add_argument("--fraction", type=float, default=0.8, help="electrolyte fraction")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--radius", type=float, nargs="+", help="particle radius or MIN MAX (cells)")
    p.add_argument("--format", choices=["png", "tif", "npy"], default="png")
    p.add_argument("--out", default=".", help="output directory")
    p.set_defaults(func=cmd_generate)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


_EXTRA_COMMANDS: list = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="ionflow: %(message)s",
        stream=sys.stderr,
    )
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
