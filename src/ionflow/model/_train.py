"""Training: AdamW, warmup-cosine schedule, label-preserving flips, early stopping, resume.

Members are trained one after another (an ensemble, or one per electrolyte-fraction class
with ``per_class``). After every epoch the state of the member in training is saved next to
the output (``<out>.partial/``, our own files), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..dataset import load_split
from ..errors import InputError
from ..surrogate._features import morphology_stats
from ._checkpoint import Bundle, Member, from_target, save_bundle, to_target
from ._infer import predict_targets, to_input
from ._nets import ModelConfig, create_model

__all__ = ["TrainConfig", "train"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (saved in the model file)."""

    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    patience: int = 10
    seed: int = 0
    flips: bool = True
    members: int = 1
    per_class: bool = False
    max_minutes: float | None = None
    pretrained: str | None = None
    threads: int | None = None
    exclude_generators: tuple[str, ...] = ()  # leave-one-family-out: families left out


def _batches(n: int, size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for s in range(0, n, size):
        yield order[s : s + size]


def _flip(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random flips along each spatial axis (along and across the flow): label-preserving.

    (A 90-degree rotation is *not*: it swaps the flow axis.)
    """
    dims = [d for d in range(2, x.ndim) if rng.random() < 0.5]
    return torch.flip(x, dims) if dims else x


def _save_state(obj: dict, path: Path) -> None:
    """Write a resume file atomically (a temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load_state(path: Path) -> dict:
    """Read a resume file without unpickling code (``weights_only``: tensors, numbers,
    strings and containers only); anything else is refused with one clear error."""
    try:
        return torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for foreign files
        raise InputError(
            f"resume state is not a plain ionflow training state ({type(exc).__name__}); "
            f"delete {path.parent} to start over",
            source=str(path),
        ) from None


def _mape(pred: np.ndarray, true: np.ndarray) -> float:
    m = true > 0
    return float(np.mean(np.abs(pred[m] - true[m]) / true[m]) * 100) if m.any() else float("nan")


def _lr_at(step: int, total: int, warmup: int, base: float, time_fraction: float = 0.0) -> float:
    """Warmup, then cosine decay; with a time budget the decay follows whichever of steps and
    wall-clock time is further along, so the schedule always anneals before the deadline."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = max((step - warmup) / max(1, total - warmup), time_fraction)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def _adapt_threads(fixed: int | None) -> None:
    """Use the cores other processes leave free (oversubscribed OpenMP threads are 3x slower)."""
    if fixed:
        torch.set_num_threads(fixed)
        return
    cpus = os.cpu_count() or 1
    others = os.getloadavg()[0] - torch.get_num_threads()
    torch.set_num_threads(max(1, min(cpus, round(cpus - others))))


def _train_member(
    k: int,
    images: np.ndarray,
    y: np.ndarray,
    val_images: np.ndarray,
    val_rel: np.ndarray,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    dim: int,
    state_file: Path,
    deadline: float | None,
    progress: bool,
) -> tuple[dict, dict]:
    torch.manual_seed(cfg.seed + 1000 * k)
    rng = np.random.default_rng([cfg.seed, k])
    model = create_model(model_cfg, dim=dim)
    if cfg.pretrained:
        _load_pretrained(model, cfg.pretrained)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(images) / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    start_epoch, step, best, best_state, stale = 0, 0, float("inf"), None, 0
    history: list[dict] = []
    if state_file.exists():  # resume this member
        saved = _load_state(state_file)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        start_epoch, step, best, stale = (
            saved["epoch"],
            saved["step"],
            saved["best"],
            saved["stale"],
        )
        best_state, history = saved["best_state"], saved["history"]
        rng = np.random.default_rng([cfg.seed, k, start_epoch])
        log.info("member %d: resuming at epoch %d", k, start_epoch)
    yt = torch.from_numpy(y.astype(np.float32))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, initial=start_epoch, unit="epoch", desc=f"train m{k}")
    t_start = time.time()
    budget = None if deadline is None else max(1.0, deadline - t_start)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        _adapt_threads(cfg.threads)
        t0 = time.perf_counter()
        loss_sum = 0.0
        for idx in _batches(len(images), cfg.batch_size, rng):
            if len(idx) < 2:
                continue
            for g in opt.param_groups:
                frac_time = 0.0 if budget is None else (time.time() - t_start) / budget
                g["lr"] = _lr_at(step, total, warmup, cfg.lr, frac_time)
            x = to_input(images[idx], getattr(model, "binary_input", False))
            if cfg.flips:
                x = _flip(x, rng)
            loss = torch.nn.functional.smooth_l1_loss(model(x), yt[idx], beta=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss.detach()) * len(idx)
        val = _mape(from_target(predict_targets(model, val_images)), val_rel)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": loss_sum / len(images),
                "val_mape": val,
                "seconds": time.perf_counter() - t0,
            }
        )
        log.info(
            "member %d epoch %d: loss %.4g, val MAPE %.3f%%", k, epoch + 1, history[-1]["loss"], val
        )
        if bar is not None:
            bar.set_postfix(val_mape=f"{val:.2f}%")
            if deadline is not None:  # the ETA of the epochs that fit in the budget
                bar.total = min(cfg.epochs, epoch + 1 + _epochs_left(history, deadline))
            bar.update(1)
        if val < best:
            best, stale = val, 0
            best_state = {n: t.detach().clone() for n, t in model.state_dict().items()}
        else:
            stale += 1
        _save_state(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "epoch": epoch + 1,
                "step": step,
                "best": best,
                "stale": stale,
                "best_state": best_state,
                "history": history,
            },
            state_file,
        )
        if stale >= cfg.patience:
            log.info("member %d: early stop at epoch %d", k, epoch + 1)
            stopped = "early stop"
            break
        if deadline is not None and time.time() > deadline - history[-1]["seconds"] * 0.5:
            log.info("member %d: time budget reached at epoch %d", k, epoch + 1)
            stopped = "time budget"
            break
    else:
        stopped = "epochs"
    if bar is not None:
        bar.close()
    return best_state or model.state_dict(), {
        "val_mape": best,
        "epochs": len(history),
        "history": history,
        "stopped": stopped,  # "epochs" (all done), "early stop" (patience) or "time budget"
    }


def _epochs_left(history: list[dict], deadline: float) -> int:
    """Epochs that still run before the deadline, at the mean pace of the last three: the
    loop stops once half an epoch or less is left, so ceil(left / pace - 1/2)."""
    pace = float(np.mean([h["seconds"] for h in history[-3:]]))
    return max(0, math.ceil((deadline - time.time()) / max(pace, 1e-9) - 0.5))


def _load_pretrained(model: torch.nn.Module, path: str) -> None:
    """Transfer learning from a local weights file (safetensors); shapes that fit are loaded."""
    from safetensors.torch import load_file

    try:
        weights = load_file(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read pretrained weights ({exc})", source=path) from None
    if weights and all(re.match(r"m\d+\.", n) for n in weights):  # an ionflow model: member 0
        weights = {n[3:]: t for n, t in weights.items() if n.startswith("m0.")}
    own = model.state_dict()
    target = own
    prefix = "backbone." if any(n.startswith("backbone.") for n in own) else ""
    loaded = 0
    for name, t in weights.items():
        key = prefix + name
        if key in target and target[key].shape == t.shape:
            target[key] = t
            loaded += 1
        elif key in target and t.ndim == 4 and target[key].shape[1] == 1 and t.shape[1] == 3:
            target[key] = t.sum(1, keepdim=True)  # RGB stem -> one channel
            loaded += 1
    if loaded == 0:
        raise InputError("no weight in the file matches the architecture", source=path)
    model.load_state_dict(target)
    log.info("loaded %d pretrained tensors from %s", loaded, path)


def train(
    dataset: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: ModelConfig | None = None,
    config: TrainConfig | None = None,
    progress: bool = False,
) -> Path:
    """Train a surrogate on a dataset file and write the model bundle to ``out``.

    Returns the path of the ``.safetensors`` bundle. Rerunning the same command after an
    interruption resumes (finished members are kept, the member in training continues).
    """
    model_cfg = model or ModelConfig()
    cfg = config or TrainConfig()
    tr = load_split(dataset, "train")
    va = load_split(dataset, "val")
    if cfg.exclude_generators:
        unknown = set(cfg.exclude_generators) - set(tr.config.generators)
        if unknown:
            raise InputError(f"no generator {sorted(unknown)} in {tr.config.generators}")
        assert tr.generator is not None and va.generator is not None  # load_split reads them
        tr = tr.select(~np.isin(tr.generator, cfg.exclude_generators))
        va = va.select(~np.isin(va.generator, cfg.exclude_generators))
    dim = tr.images.ndim - 1
    if dim == 3 and model_cfg.arch == "ionnet":
        model_cfg = ModelConfig(**{**model_cfg.to_dict(), "arch": "ionnet3d"})
    rel = tr.labels["relative_conductivity"]
    val_rel = va.labels["relative_conductivity"]
    # images with no percolating path are answered exactly (0) by the predictor without a
    # network; training on them would only add outliers at log(eps)
    keep_tr = np.flatnonzero(rel > 0)
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    signature = json.dumps(
        {"model": model_cfg.to_dict(), "train": asdict(cfg), "data": str(dataset)}
    )
    sig_file = partial / "run.json"
    if sig_file.exists() and sig_file.read_text() != signature:
        raise InputError(
            f"{partial} holds a different unfinished run; delete it or use another output name"
        )
    sig_file.write_text(signature)
    # (train rows, validation rows, fraction range or None) per ensemble member
    groups: list[tuple[np.ndarray, np.ndarray, tuple[float, float] | None]]
    if cfg.per_class:
        classes = sorted(set(np.round(tr.fraction_target, 6).tolist()))
        edges = [(a + b) / 2 for a, b in zip(classes[:-1], classes[1:])]
        ranges = list(zip([-np.inf] + edges, edges + [np.inf]))
        groups = [
            (
                np.flatnonzero((tr.fraction_target >= lo) & (tr.fraction_target < hi) & (rel > 0)),
                np.flatnonzero((va.fraction_target >= lo) & (va.fraction_target < hi)),
                (lo, hi),
            )
            for lo, hi in ranges
        ]
    else:
        everything = (keep_tr, np.arange(len(val_rel)), None)
        groups = [everything] * cfg.members
    per_member = cfg.max_minutes * 60 / len(groups) if cfg.max_minutes else None
    members = []
    for k, (ti, vi, frange) in enumerate(groups):
        done_file = partial / f"member{k}.done.pt"
        if done_file.exists():
            saved = _load_state(done_file)
            state, info = saved["state"], saved["info"]
        else:
            start = time.time()
            state, info = _train_member(
                k,
                tr.images[ti],
                to_target(rel[ti]),
                va.images[vi],
                val_rel[vi],
                model_cfg,
                cfg,
                dim,
                partial / f"member{k}.state.pt",
                None if per_member is None else start + per_member,
                progress,
            )
            _save_state({"state": state, "info": info}, done_file)
        fr = None if frange is None else (float(frange[0]), float(frange[1]))
        members.append(Member(model_cfg.to_dict(), state, fr, info))
    data = {
        "dataset": str(dataset),
        "config": json.loads(tr.config.to_json()),
        "n_train": int(len(rel)),
        "stats": morphology_stats(tr.images.astype(bool)),
    }
    bundle = Bundle(members, dim, data, asdict(cfg))
    from ..surrogate import Predictor

    val_pred = Predictor(bundle).predict_relative(va.images.astype(bool))[0]
    bundle.metrics = {"val_mape": _mape(val_pred, val_rel)}
    from ._calibrate import feature_stats

    stats = feature_stats(bundle, tr.images[keep_tr], va.images[val_rel > 0])
    if stats is not None:
        bundle.data["stats"]["features"] = stats
    save_bundle(out, bundle)
    _export_quietly(out)
    shutil.rmtree(partial, ignore_errors=True)
    return out


def _export_quietly(path: Path) -> None:
    """The ONNX export beside a new model (``ionflow predict`` runs it without torch)."""
    from ._export import export_onnx

    try:
        export_onnx(path)
    except Exception as exc:  # noqa: BLE001 - e.g. onnx missing; predict then uses torch
        log.warning("%s: no ONNX export (%s); `ionflow export` can retry", path, exc)
