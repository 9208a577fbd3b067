"""Surrogate pictures: parity plots and labels by class."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass
from ._common import _pyplot, _save


def plot_parity(
    path: str | os.PathLike,
    true: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    *,
    title: str = "",
) -> Path:
    """Predicted against solver sigma_eff/sigma, coloured by electrolyte-fraction class."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5), constrained_layout=True)
    for g in np.unique(groups):
        m = groups == g
        ax.scatter(true[m], pred[m], s=8, label=f"{g:g}", alpha=0.7)
    lim = [0, max(float(np.max(true)), float(np.max(pred)), 1e-9) * 1.05]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("solver sigma_eff / sigma")
    ax.set_ylabel("surrogate sigma_eff / sigma")
    ax.legend(title="fraction", fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_labels_by_class(
    path: str | os.PathLike,
    values: np.ndarray,
    groups: np.ndarray,
    *,
    title: str = "",
    splits: tuple[tuple[str, int], ...] | None = None,
) -> Path:
    """The paper's Fig. 3: label of every image, in dataset order, coloured by fraction class.

    ``splits`` (name, count) in dataset order (a dataset's ``config.splits``) marks where
    train, val and test begin, shading every other split and naming each.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
    idx = np.arange(len(values))
    classes = np.unique(groups)
    if len(classes) <= 10:  # the paper's classes: one colour each
        for g in classes:
            m = groups == g
            ax.scatter(idx[m], values[m], s=4, label=f"{g:g}")
        ax.legend(title="fraction", fontsize=8, markerscale=3)
    else:  # continuous fractions: one colour scale (a cycled palette would repeat colours)
        points = ax.scatter(idx, values, s=4, c=groups, cmap="viridis")
        fig.colorbar(points, ax=ax, label="electrolyte fraction")
    if splits:
        start = 0
        for i, (name, count) in enumerate(splits):
            if count <= 0:
                continue
            if i % 2:
                ax.axvspan(start - 0.5, start + count - 0.5, color="0.9", zorder=0)
            if start:
                ax.axvline(start - 0.5, color="0.3", lw=0.8, ls="--")
            ax.text(start + count / 2, 1.0, f"{name} ({count})", transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8)  # fmt: skip
            start += count
    ax.set_xlabel("image")
    ax.set_ylabel("current (A) at V = 1, l = A = 1")
    ax.set_title(title, fontsize=9, pad=16 if splits else 6)
    return _save(fig, path)
