"""``ionflow dataset``, ``train``, ``evaluate``, ``predict`` and ``export``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ._common import (
    GENERATOR_NAMES,
    _add_read_options,
    _axes,
    _CsvOut,
    _err,
    _file_names,
    _inputs,
    _read_options,
    _short,
)


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

    from ..dataset import DatasetConfig, build_dataset, load_split
    from ..io import output_folder

    cfg = DatasetConfig(
        shape=tuple(args.shape),
        fractions=tuple(args.fractions),
        fraction_range=tuple(args.fraction_range) if args.fraction_range else None,
        generators=tuple(args.generators),
        radius=tuple(args.radius),
        splits=(("train", args.train), ("val", args.val), ("test", args.test)),
        seed=args.seed,
    )
    plot = args.plot or str(Path(args.out).with_suffix(".png"))
    for folder in {Path(args.out).parent, Path(plot).parent}:  # before hours of solves
        output_folder(folder)
    progress = not args.no_progress and sys.stderr.isatty()
    path = build_dataset(args.out, cfg, jobs=args.jobs, progress=progress)
    every = load_split(path, "all")
    rel = every.labels["relative_conductivity"]
    from ..plot import plot_labels_by_class

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
    from ..model import ModelConfig, TrainConfig, train

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
    from ..model import load_bundle

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
    from ..model import evaluate

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
    from ..surrogate import predict_files

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
    said: set[tuple[str, str]] = set()  # (file, error): once, not once per axis
    for out in outcomes:
        if out.error is not None:
            if (out.source, out.error) not in said:
                said.add((out.source, out.error))
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


def cmd_export(args: argparse.Namespace) -> int:
    from ..model import export_onnx

    for model in args.models:
        print(export_onnx(model, check=True))
    return 0
