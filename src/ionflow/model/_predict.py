"""Prediction with a trained bundle: relative conductivity, uncertainty, OOD flag."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..solve import electrode_clusters, geometry
from ._calibrate import feature_distance
from ._checkpoint import Bundle, from_target, load_bundle
from ._features import interface_density, ood_reasons
from ._nets import ModelConfig, create_model
from ._tiles import block_grid, coarse_relative_conductivity, cut_blocks
from ._train import flip_outputs, predict_targets

__all__ = ["Predictor", "default_model_path"]


OVERLAP_VOXELS = 2**21
"""From this size (128^3) the connectivity check runs beside the network, not before it."""


def default_model_path(dim: int = 2) -> Path:
    """The model shipped inside the package for 2D (or 3D) images."""
    name = "ionflow-2d.safetensors" if dim == 2 else "ionflow-3d.safetensors"
    return Path(__file__).resolve().parent.parent / "data" / "models" / name


def percolating_fractions(images) -> np.ndarray:
    """Fraction of each image (flow on axis 0) in electrolyte joining both faces.

    The solver's clusters (:func:`~ionflow.solve.electrode_clusters`), counted without building
    the masks of :func:`~ionflow.solve.percolating_mask` (a 256^3 volume: ~0.2 s, mostly
    labelling).
    """
    out = np.zeros(len(images))
    for i, im in enumerate(images):
        im = np.asarray(im, dtype=bool)
        if im.all():
            out[i] = 1.0
            continue
        labels, first, last = electrode_clusters(im, 0)
        both = np.flatnonzero(first & last)
        if both.size == 1:  # the usual case: one comparison instead of a table lookup
            out[i] = np.count_nonzero(labels == both[0]) / im.size
        elif both.size > 1:
            out[i] = np.count_nonzero((first & last)[labels]) / im.size
    return out


class Predictor:
    """A loaded bundle, ready to predict.

    Parameters
    ----------
    model : Bundle or path
    tta : bool
        Average over the label-preserving flips (along and across the flow).
    blocks : bool
        Images larger than the training size are cut into blocks of that size; the network
        predicts every block along every axis and a coarse finite-volume solve on the block grid
        combines them (see :mod:`ionflow.model._tiles`). False: the whole image goes through the
        network at once (faster, but the networks do not extrapolate in size; flagged ``ood``).
    block_axes : {"all", "flow"}
        ``"all"``: each block is predicted along every axis (anisotropic blocks); ``"flow"``:
        along the flow only, taken as the block's conductivity in every direction (a third of
        the network work; exact for isotropic blocks).
    """

    def __init__(
        self,
        model: Bundle | str | os.PathLike,
        *,
        tta: bool = True,
        blocks: bool = True,
        block_axes: str = "all",
    ) -> None:
        if block_axes not in ("all", "flow"):
            raise ValueError(f"block_axes must be 'all' or 'flow', not {block_axes!r}")
        self.block_axes = block_axes
        self.bundle = model if isinstance(model, Bundle) else load_bundle(model)
        self.tta = tta
        self.blocks = blocks
        self.nets = []
        for m in self.bundle.members:
            net = create_model(ModelConfig.from_dict(m.model), dim=self.bundle.dim)
            net.load_state_dict(m.state)
            net.eval()
            self.nets.append((net, m.fraction_range))
        self.stats = self.bundle.data.get("stats", {})
        self.feature_stats = self.stats.get("features")

    def predict_relative(
        self, images: np.ndarray, *, percolating: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """sigma_eff / sigma and its relative uncertainty for images (n, *shape), flow on axis 0.

        Exact where physics says so without a network: 1 for an all-electrolyte image, 0 when no
        electrolyte path joins the two faces. ``percolating`` (the percolating fraction of each
        image, if the caller has it) saves recomputing the connectivity.
        """
        return self._infer(images, percolating)[:2]

    def _infer(
        self, images: np.ndarray, percolating: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict_relative` plus each image's feature distance (NaN: no network pass)."""
        images = np.asarray(images).astype(bool)
        n = len(images)
        frac = images.reshape(n, -1).mean(1)
        rel = np.zeros(n)
        unc = np.zeros(n)
        full = frac >= 1.0
        rel[full] = 1.0
        if percolating is None:
            percolating = percolating_fractions(images)
        blocked = np.asarray(percolating) == 0
        todo = np.flatnonzero(~full & ~blocked)
        distance = np.full(n, np.nan)
        if todo.size == 0:
            return rel, unc, distance
        outs = []
        if any(r is not None for _, r in self.nets):  # one member per fraction class
            y = np.zeros(todo.size)
            for net, (lo, hi) in self.nets:
                sel = (frac[todo] >= lo) & (frac[todo] < hi)
                if sel.any():
                    y[sel] = predict_targets(net, images[todo[sel]], tta=self.tta)
            outs.append(y)
        else:
            for k, (net, _) in enumerate(self.nets):
                if k == 0 and self.feature_stats:
                    y, feats = flip_outputs(net, images[todo], tta=self.tta, features=True)
                    distance[todo] = feature_distance(feats, self.feature_stats)
                    outs.extend(y)
                else:
                    outs.extend(flip_outputs(net, images[todo], tta=self.tta))
        stack = np.stack(outs)
        rel[todo] = from_target(stack.mean(0))
        unc[todo] = stack.std(0) if len(outs) > 1 else np.nan
        return rel, unc, distance

    def predict(
        self,
        images: list[np.ndarray],
        *,
        axis: int = 0,
        voltage: float = 1.0,
        conductivity: float = 1.0,
        pixel_size: float | Sequence[float | None] | None = None,
    ) -> list[dict]:
        """Result dicts with the same keys as ``ionflow simulate --json`` (+ uncertainty, ood).

        ``pixel_size`` (m) is one value for all images or one per image (None: l = A = 1).
        """
        sizes = (
            list(pixel_size)
            if isinstance(pixel_size, (list, tuple, np.ndarray))
            else [pixel_size] * len(images)
        )
        if len(sizes) != len(images):
            raise ValueError(f"{len(sizes)} pixel sizes for {len(images)} images")
        moved = [np.moveaxis(np.asarray(im).astype(bool), axis, 0) for im in images]
        out: list[dict] = [{} for _ in moved]
        by_shape: dict[tuple, list[int]] = {}
        for i, im in enumerate(moved):
            by_shape.setdefault(im.shape, []).append(i)
        for shape, idx in by_shape.items():
            batch = np.stack([moved[i] for i in idx])
            grid = self._grid(shape)
            if grid is not None or batch[0].size >= OVERLAP_VOXELS:
                # large images: label the clusters on another thread while the network runs
                # (both release the GIL), then zero the blocked ones
                with ThreadPoolExecutor(1) as pool:
                    job = pool.submit(percolating_fractions, batch)
                    if grid is not None:
                        rel, unc, distance = self._predict_blocks(batch, grid)
                    else:
                        rel, unc, distance = self._infer(batch, np.ones(len(batch)))
                    perc = job.result()
                rel[perc == 0] = 0.0
                unc[perc == 0] = 0.0
                rel[perc == 1] = 1.0  # all electrolyte: exact
                unc[perc == 1] = 0.0
            else:
                perc = percolating_fractions(batch)
                rel, unc, distance = self._infer(batch, perc)
            for j, i in enumerate(idx):
                out[i] = self._record(
                    moved[i],
                    rel[j],
                    unc[j],
                    perc[j],
                    distance[j],
                    grid,
                    voltage,
                    conductivity,
                    sizes[i],
                    axis,
                )
        return out

    def _feature_reasons(self, distance: float, rel: float, perc: float) -> list[str]:
        """The OOD reason of a feature distance beyond the threshold (for a network answer)."""
        limit = self.feature_stats["threshold"] if self.feature_stats else np.inf
        if not distance > limit or perc == 0 or rel >= 1:
            return []
        return [
            f"network features unlike training (distance {distance:.1f} > {limit:.1f}, the "
            f"{self.feature_stats['quantile']:.1%} point of validation)"
        ]

    def _grid(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The block grid for an image of ``shape`` (None: predict it whole)."""
        block = tuple(self.stats.get("shape", ()))
        if not self.blocks or len(set(block)) != 1:  # square/cubic training images only
            return None
        return block_grid(shape, block)

    def _predict_blocks(
        self, images: np.ndarray, grid: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Relative conductivity, uncertainty and median block feature distance of large images
        from their blocks (see ``blocks``)."""
        block = tuple(self.stats["shape"])
        dim = len(block)
        spacing = [n / g for n, g in zip(images.shape[1:], grid)]
        rel = np.zeros(len(images))
        unc = np.full(len(images), np.nan)
        block_distance = np.full(len(images), np.nan)
        for k, im in enumerate(images):
            pieces = cut_blocks(im, block, grid)
            conducting = pieces.reshape(len(pieces), -1).any(1).astype(float)
            sigma = np.empty((dim, *grid))
            for a in range(dim if self.block_axes == "all" else 1):
                # turn axis a of every block into its flow axis
                views = np.ascontiguousarray(np.moveaxis(pieces, 1 + a, 1)) if a else pieces
                r, u, d = self._infer(views, conducting)
                sigma[a] = r.reshape(grid)
                if a == 0:
                    block_distance[k] = np.nanmedian(d) if np.isfinite(d).any() else np.nan
                    if np.isfinite(u).any():
                        unc[k] = float(np.sqrt(np.nanmean(u**2)))  # RMS flip spread of blocks
            if self.block_axes == "flow":
                sigma[1:] = sigma[0]
            rel[k] = coarse_relative_conductivity(sigma, spacing)
        return rel, unc, block_distance

    def _record(
        self, im, rel, unc, perc, distance, grid, voltage, conductivity, pixel_size, axis
    ) -> dict:
        fraction = float(im.mean())
        h, length, area = geometry(im.shape, 0, pixel_size)
        cond = float(rel) * conductivity
        current = cond * voltage * area / length
        perc = float(perc)
        reasons = (
            ood_reasons(
                im,
                self.stats,
                fraction=fraction,
                iface=float(interface_density(im[None])[0]),
                blocks=grid is not None,
            )
            if self.stats
            else []
        )
        reasons += self._feature_reasons(distance, float(rel), perc)
        return {
            "current": current,
            "resistance": voltage / current if current > 0 else None,
            "conductivity": cond,
            "relative_conductivity": float(rel),
            "tortuosity": fraction / float(rel) if rel > 0 else None,
            "electrolyte_fraction": fraction,
            "percolating_fraction": perc,
            "percolating": perc > 0,
            "uncertainty": None if math.isnan(unc) else float(unc),
            "ood": bool(reasons),
            "ood_reasons": reasons,
            "axis": axis,
            "shape": list(im.shape),
            "length": length,
            "area": area,
            "blocks": list(grid) if grid is not None else None,
            "feature_distance": float(distance)
            if self.feature_stats and np.isfinite(distance)
            else None,
            "voltage": voltage,
            "sigma": conductivity,
            "method": "surrogate",
        }


def set_threads() -> None:
    torch.set_num_threads(os.cpu_count() or 1)
