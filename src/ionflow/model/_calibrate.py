"""Out-of-distribution check in the network's own feature space.

The morphology checks (size, electrolyte fraction, interface density) miss microstructures that
have training-like statistics but a different geometry, such as real electrodes. The pooled
features the regression head sees are a better witness: their Mahalanobis distance to the
training features (mean and shrunk covariance over the training images) is compared with the
99.5th percentile of the same distance over the validation images. Training stores these
statistics in the model file; :func:`calibrate_ood` adds them to an existing model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..surrogate._features import feature_distance
from ._checkpoint import Bundle, load_bundle, save_bundle

if TYPE_CHECKING:
    from torch import nn

__all__ = ["calibrate_intervals", "calibrate_ood", "feature_stats"]

QUANTILE = 0.995


def _feature_net(bundle: Bundle) -> nn.Module | None:
    """The bundle's network if it exposes pooled features (None: MONAI, per-class bundles)."""
    from ._nets import ModelConfig, create_model

    member = bundle.members[0]
    net = create_model(ModelConfig.from_dict(member.model), dim=bundle.dim)
    if not hasattr(net, "forward_features") or len(bundle.members) > 1:
        return None
    net.load_state_dict(member.state)
    return net


def _features(net: nn.Module, images: np.ndarray) -> np.ndarray:
    from ._infer import flip_outputs

    return flip_outputs(net, images.astype(bool), batch=32, features=True)[1]


def feature_stats(
    bundle: Bundle,
    train_images: np.ndarray,
    val_images: np.ndarray,
    *,
    limit: int = 2000,
    seed: int = 0,
) -> dict | None:
    """Mean, precision matrix and threshold of the pooled features (None if not supported)."""
    rng = np.random.default_rng(seed)
    if len(train_images) > limit:
        train_images = train_images[np.sort(rng.choice(len(train_images), limit, replace=False))]
    net = _feature_net(bundle)
    if net is None or len(train_images) < 2 or len(val_images) == 0:
        return None
    f_tr = _features(net, train_images)
    mean = f_tr.mean(0)
    cov = np.cov(f_tr, rowvar=False)
    d = cov.shape[0]
    cov = cov + 0.01 * np.trace(cov) / d * np.eye(d)  # shrinkage: fewer images than we would like
    precision = np.linalg.inv(cov)
    stats = {"mean": _rounded(mean), "precision": _rounded(precision), "quantile": QUANTILE}
    dist = feature_distance(_features(net, val_images), stats)
    stats["threshold"] = float(np.quantile(dist, QUANTILE))
    return stats


def _rounded(a: np.ndarray) -> list:
    """Nested lists of 7-significant-digit floats (the JSON metadata stays small)."""
    return np.vectorize(lambda x: float(f"{x:.7g}"))(a).tolist()


def calibrate_ood(
    model: str | os.PathLike, dataset: str | os.PathLike, out: str | os.PathLike | None = None
) -> Path:
    """Add the feature statistics of ``dataset`` (its train and val splits) to a model file."""
    from ..dataset import load_split

    bundle = load_bundle(model)
    tr = load_split(dataset, "train")
    va = load_split(dataset, "val")
    keep = tr.labels["relative_conductivity"] > 0
    stats = feature_stats(
        bundle, tr.images[keep], va.images[va.labels["relative_conductivity"] > 0]
    )
    if stats is None:
        raise ValueError("this architecture has no pooled features to calibrate")
    bundle.data.setdefault("stats", {})["features"] = stats
    path = save_bundle(out or model, bundle)
    from ._export import export_onnx

    export_onnx(path)
    return path


def calibrate_intervals(
    model: str | os.PathLike,
    residual: np.ndarray,
    descriptors: np.ndarray,
    *,
    coverage: float = 0.9,
    source: str = "",
    export: bool = True,
) -> Path:
    """Store a split-conformal interval calibration in a model file (and re-export it).

    ``residual``: log(predicted / exact) of calibration cases (n,); ``descriptors``: their
    :func:`ionflow.surrogate.descriptors` (n, k). Use cases the model (or, for
    leave-one-family-out residuals, its sibling models) never trained on; ``source`` records
    where they came from. See :mod:`ionflow.surrogate._conformal`.
    """
    from ..surrogate import fit_conformal

    bundle = load_bundle(model)
    cal = fit_conformal(residual, descriptors, coverage=coverage)
    cal["source"] = source
    bundle.metrics["conformal"] = cal
    path = save_bundle(model, bundle)
    if export:
        from ._export import export_onnx

        export_onnx(path)
    return path
