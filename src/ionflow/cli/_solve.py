"""``ionflow simulate``, ``segment`` and ``generate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError
from ._common import (
    _axes,
    _CsvOut,
    _err,
    _file_names,
    _inputs,
    _label_map,
    _pixel_size,
    _plot_fields,
    _read_options,
    _table_head,
    _table_row,
    log,
)


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..io import check_field_formats
    from ..solve import SolveOptions, simulate_files

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
        device=args.device,
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
    said: set[tuple[str, str]] = set()  # (file, error) lines already printed
    try:
        for outcome in outcomes:
            if outcome.error is not None:
                # a problem of the file (e.g. no conductive pixel) comes once per axis with
                # --axis all: one line says it
                if (outcome.source, outcome.error) not in said:
                    said.add((outcome.source, outcome.error))
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
    from ..solve._tensor import tensor_from_results

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


SEGMENT_BYTES_PER_CELL = 32
"""Peak memory of ``ionflow segment`` per pixel, about: the segmentation itself took 3.5 B
(Otsu) to 13 B (median, speck removal) on a 3000^2 image; its preview figure of a
30000^2 image took the rest of 23 GB."""


def _check_segment_memory(gray, source: str) -> None:
    """Refuse, in one line, an image whose segmentation and preview would not fit in memory."""
    from .._freemem import check_fits

    check_fits(
        gray.size * SEGMENT_BYTES_PER_CELL, gray.shape, "segment", source=source, small=2**28,
        hint="crop it (--crop) or use a machine with more memory",
    )  # fmt: skip


def cmd_segment(args: argparse.Namespace) -> int:
    import numpy as np

    from ..io import find_inputs, output_folder, read_gray, same_stems, segment, write_image
    from ..io._read import check_not_labels
    from ..plot import plot_segmentation

    opts = _read_options(args)  # checks the flags once (e.g. a negative --min-size)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("is a file; --out wants a folder", source=str(out))
    output_folder(out)  # before the first file: a folder that cannot be made is one line
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
            _check_segment_memory(gray, f)
            if opts.threshold is None and not classes:
                check_not_labels(gray, f)  # Otsu would cut the labels by their numbers
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
                colour=False,  # read_gray's output: a trailing 3 or 4 is a volume's depth
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
        except Exception as exc:  # noqa: BLE001 - one bad file must not lose the batch
            from ..solve._batch import message

            _err(message(exc, f))
            failed += 1
            continue
        key = "thresholds" if "," in cuts else "threshold"
        print(f"{f}\t{summary}\t{key}={cuts}\t{written}\t{preview}", flush=True)
    return 1 if failed else 0


def cmd_generate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import ResourceError
    from ..generate import generate
    from ..generate._common import check_fraction, check_shape
    from ..generate._particles import check_radius
    from ..io import output_folder, write_image

    # every option checked, and the folder made, before the first image
    if args.count < 1:
        raise InputError(f"--count must be at least 1, got {args.count}")
    shape = check_shape(tuple(args.shape))
    check_fraction(args.fraction)
    options = {}
    if args.radius:
        if len(args.radius) > 2:
            raise InputError(f"--radius takes one radius or MIN MAX, got {len(args.radius)} values")
        radius = check_radius(args.radius[0] if len(args.radius) == 1 else tuple(args.radius))
        if args.kind == "blobs":
            raise InputError("--radius does not apply to blobs (no particles)")
        options["semi_axes" if args.kind == "ellipses" else "radius"] = radius
    out = output_folder(args.out)
    rng = np.random.default_rng(args.seed)
    for i in range(args.count):
        try:
            image = generate(
                args.kind, shape, electrolyte_fraction=args.fraction, rng=rng, **options
            )
        except MemoryError:  # the estimate (check_shape) was too low: still one line
            raise ResourceError(
                f"not enough memory to generate a {'x'.join(map(str, shape))} image"
            ) from None
        path = write_image(out / f"{args.kind}_{i:05d}.{args.format}", image)
        print(f"{path}\telectrolyte_fraction={image.mean():.6f}", flush=True)
    return 0
