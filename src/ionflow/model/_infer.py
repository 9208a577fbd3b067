"""Network inference inside the training package (torch): batched outputs, flips, features.

Used by training (validation, early stopping), calibration and export checks. Prediction for
users lives in :mod:`ionflow.surrogate` and needs no torch; this module exists so that
``_train`` and ``_calibrate`` share inference without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, cast, overload

import numpy as np
import torch

from ._nets import TwoStage

__all__ = ["flip_outputs", "predict_targets", "to_input"]


def _batches(n: int, size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for s in range(0, n, size):
        yield order[s : s + size]


def to_input(images: np.ndarray, binary: bool = False) -> torch.Tensor:
    """uint8/bool images (n, *shape) -> float tensor (n, 1, *shape) in {-1, 1}, or with
    ``binary`` (networks with the patch stem) a bool tensor, without a copy for bool input."""
    if binary:
        return torch.from_numpy(np.ascontiguousarray(images, dtype=bool)).unsqueeze(1)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    return (x * 2.0 - 1.0).unsqueeze(1)


@overload
def flip_outputs(
    model: torch.nn.Module,
    images: np.ndarray,
    *,
    batch: int = ...,
    tta: bool = ...,
    features: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def flip_outputs(
    model: torch.nn.Module,
    images: np.ndarray,
    *,
    batch: int = ...,
    tta: bool = ...,
    features: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


@torch.inference_mode()
def flip_outputs(
    model: torch.nn.Module,
    images: np.ndarray,
    *,
    batch: int = 256,
    tta: bool = False,
    features: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Raw network outputs (log space), shape (views, n), for images (n, *shape).

    The views are the image alone, or with ``tta`` the label-preserving flips (along and
    across the flow, and both in 2D). ``features``: also return the pooled features of the
    unflipped view, (n, features), from the same forward pass (models with
    ``forward_features``/``forward_head``).
    """
    model.eval()
    ndim = images.ndim - 1
    flips = ([[], [2], [3]] + ([[4]] if ndim == 3 else [[2, 3]])) if tta else [[]]
    out, feats = [], []
    for idx in _batches(len(images), batch, None):
        x = to_input(images[idx], getattr(model, "binary_input", False))
        views = []
        for f in flips:
            if features and not f:
                staged = cast(TwoStage, model)  # features=True promises this split
                h = staged.forward_features(x)
                feats.append(h.numpy())
                views.append(staged.forward_head(h))
            else:
                views.append(model(torch.flip(x, f) if f else x))
        out.append(torch.stack(views).numpy())
    y = np.concatenate(out, axis=1) if out else np.zeros((len(flips), 0))
    if features:
        return y, (np.concatenate(feats) if feats else np.zeros((0, 0)))
    return y


def predict_targets(
    model: torch.nn.Module, images: np.ndarray, *, batch: int = 256, tta: bool = False
) -> np.ndarray:
    """Raw network outputs (log space) for images (n, *shape); ``tta`` averages the flips."""
    return flip_outputs(model, images, batch=batch, tta=tta).mean(0)
