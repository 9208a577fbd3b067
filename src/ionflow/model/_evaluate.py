"""Evaluation of a surrogate against solver labels, with physics baselines in the same table."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..dataset import load_split

if TYPE_CHECKING:
    from ..surrogate import Predictor

__all__ = ["evaluate", "error_metrics"]


def error_metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    """MAPE, MAE, R^2, median and 95th-percentile absolute percentage error (labels > 0 only)."""
    m = true > 0
    ape = np.abs(pred[m] - true[m]) / true[m] * 100
    ss_res = float(np.sum((pred - true) ** 2))
    ss_tot = float(np.sum((true - true.mean()) ** 2)) or 1.0
    return {
        "n": int(true.size),
        "mape": float(ape.mean()) if ape.size else float("nan"),
        "mae": float(np.mean(np.abs(pred - true))),
        "r2": 1.0 - ss_res / ss_tot,
        "median_ape": float(np.median(ape)) if ape.size else float("nan"),
        "p95_ape": float(np.quantile(ape, 0.95)) if ape.size else float("nan"),
    }


def _power_law(
    frac: np.ndarray, rel: np.ndarray
) -> tuple[Callable[[np.ndarray], np.ndarray], tuple[float, float]]:
    """Fit sigma_eff/sigma = a * f^b on the training set (percolating images)."""
    m = rel > 0
    b, log_a = np.polyfit(np.log(frac[m]), np.log(rel[m]), 1)
    return lambda f: np.exp(log_a) * f**b, (float(np.exp(log_a)), float(b))


def _baseline_data(
    dataset: str | os.PathLike, model_dataset: str | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """(fraction, relative conductivity) to fit the power law on: this dataset's training
    split, else the model's own training data, else nothing."""
    for source in (dataset, model_dataset):
        if source is None or not Path(str(source)).exists():
            continue
        tr = load_split(source, "train")
        if len(tr.images):
            return tr.labels["electrolyte_fraction"], tr.labels["relative_conductivity"]
    return None


def evaluate(
    model: Predictor | str | os.PathLike,
    dataset: str | os.PathLike,
    *,
    split: str = "test",
    plot: str | os.PathLike | None = None,
    tta: bool = False,
) -> dict:
    """Score a model on a dataset split; returns a dict of tables (model and baselines).

    Rows: the surrogate, a power law a f^b fitted on the training split, and Bruggeman
    (f^1.5). Columns: :func:`error_metrics`, plus MAPE per fraction class and on the decile of
    lowest-conductivity images.
    """
    from ..surrogate import Predictor

    predictor = model if isinstance(model, Predictor) else Predictor(model, tta=tta)
    data = load_split(dataset, split)
    true = data.labels["relative_conductivity"]
    frac = data.labels["electrolyte_fraction"]
    t0 = time.perf_counter()
    pred, _ = predictor.predict_relative(data.images.astype(bool))
    seconds = time.perf_counter() - t0
    rows = {"surrogate": pred}
    fit = _baseline_data(dataset, predictor.info.data.get("dataset"))
    if fit is not None:
        power, coeffs = _power_law(*fit)
        rows[f"power law {coeffs[0]:.3f} f^{coeffs[1]:.2f}"] = power(frac)
    rows["Bruggeman f^1.5"] = frac**1.5
    classes = np.round(data.fraction_target, 3)
    if data.config.fraction_range is not None:  # continuous fractions: bands of 0.1
        classes = np.round(np.floor(data.fraction_target * 10) / 10, 1)
    # lowest decile of the percolating images (blocked ones are exact zeros, outside any MAPE)
    pos = true > 0
    low = pos & (true <= np.quantile(true[pos], 0.1)) if pos.any() else pos
    table = {}
    for name, p in rows.items():
        row = error_metrics(p, true)
        row["per_class_mape"] = {
            f"{c:g}": error_metrics(p[classes == c], true[classes == c])["mape"]
            for c in np.unique(classes)
        }
        row["lowest_decile_mape"] = error_metrics(p[low], true[low])["mape"]
        table[name] = row
    result = {"split": split, "n": int(true.size), "predict_seconds": seconds, "table": table}
    if plot is not None:
        from ..plot import plot_parity

        plot_parity(
            plot,
            true,
            pred,
            classes,
            title=f"{Path(str(dataset)).name} [{split}]: MAPE {table['surrogate']['mape']:.2f}%",
        )
    return result
