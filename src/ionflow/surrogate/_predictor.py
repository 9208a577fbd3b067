"""Prediction with a trained model: relative conductivity, calibrated interval, OOD flag.

Torch-free: the networks run from the model's ONNX export under ONNX Runtime. Without an
export (or for an in-memory :class:`ionflow.model.Bundle` during training) the torch runner of
``ionflow.model`` is used instead, when torch is installed.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..solve import ConductionResult, electrode_clusters, geometry
from ._bounds import conduction_bounds
from ._conformal import descriptors, interval
from ._features import feature_distance, interface_density, ood_reasons
from ._meta import ModelInfo, from_target, read_model_info
from ._runtime import OnnxRunner, Runner, onnx_path
from ._tiles import block_grid, coarse_relative_conductivity, cut_blocks

__all__ = ["PredictionResult", "Predictor", "percolating_fractions"]

log = logging.getLogger(__name__)

OVERLAP_VOXELS = 2**21
"""From this size (128^3) the connectivity check runs beside the network, not before it."""


@dataclass(frozen=True)
class PredictionResult(ConductionResult):
    """A surrogate answer: every field of :class:`~ionflow.ConductionResult`, plus its trust.

    For a prediction ``inlet_current`` and ``outlet_current`` equal ``current``,
    ``flux_imbalance`` is 0, ``iterations`` 0 and ``accuracy`` the relative half-width of the
    calibrated interval (None without a calibration).

    Attributes
    ----------
    uncertainty : float or None
        Relative standard uncertainty of ``relative_conductivity``: the calibrated log
        half-width / 1.645 (a 90 % interval is about +-1.645 standard deviations), else the
        spread over flips/members.
    interval : tuple of float or None
        Calibrated 90 % interval of ``relative_conductivity`` (see
        :mod:`ionflow.surrogate._conformal`); exact answers have a zero-width interval.
    ood : bool
        The answer should not be trusted to 10 %: see ``ood_reasons``.
    ood_reasons : list of str
    blocks : tuple of int or None
        The block grid of an image larger than the training size (block prediction).
    feature_distance : float or None
        Mahalanobis distance of the network features from the training images'.
    interface_density : float or None
        Fraction of face-neighbour pairs that cross the phase boundary (proportional to the
        specific surface area); an input of the OOD check and of the interval.
    """

    uncertainty: float | None = None
    interval: tuple[float, float] | None = None
    ood: bool = False
    ood_reasons: tuple[str, ...] = ()
    blocks: tuple[int, ...] | None = None
    feature_distance: float | None = None
    interface_density: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["ood_reasons"] = list(self.ood_reasons)
        out["accuracy"] = self.accuracy if math.isfinite(self.accuracy) else None
        for key in ("interval", "blocks"):
            v = getattr(self, key)
            out[key] = list(v) if v is not None else None
        return out


def percolating_fractions(images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Fraction of each image (flow on axis 0) in electrolyte joining both faces.

    The solver's clusters (:func:`~ionflow.solve.electrode_clusters`), counted without building
    the masks of :func:`~ionflow.solve.percolating_mask`.

    Parameters
    ----------
    images : sequence of ndarray of bool
        2D images or 3D volumes, True = electrolyte.

    Returns
    -------
    ndarray of float, shape (n,)
        Percolating fraction of each image (of all its cells).
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


def check_physics(voltage: float, conductivity: float) -> None:
    """Refuse a voltage or conductivity that :func:`ionflow.simulate` refuses, with its
    message (NaN, infinite, zero voltage, conductivity <= 0): the same rules for both."""
    from ..solve import SolveOptions

    SolveOptions(voltage=voltage, conductivity=conductivity)


def _fractions(images: np.ndarray) -> np.ndarray:
    """Electrolyte fraction of each boolean image (n, *shape); a count, not a float mean."""
    n = len(images)
    size = images[0].size if n else 1
    return np.count_nonzero(images.reshape(n, -1), axis=1) / size


def _flip_views(images: np.ndarray) -> list[np.ndarray]:
    """The label-preserving flips: along and across the flow (and both, in 2D).

    (A 90-degree rotation is *not* label-preserving: it swaps the flow axis.)
    """
    dim = images.ndim - 1
    views = [images, images[:, ::-1], images[:, :, ::-1]]
    views.append(images[:, :, :, ::-1] if dim == 3 else images[:, ::-1, ::-1])
    return [np.ascontiguousarray(v) for v in views]


def _moved_size(size: Any, axis: int, ndim: int) -> Any:
    """A per-axis pixel size in the order of the image moved to flow along axis 0."""
    if isinstance(size, (tuple, list, np.ndarray)) and len(size) == ndim:
        a = axis % ndim
        return tuple(size[k] for k in [a] + [k for k in range(ndim) if k != a])
    return size


class Predictor:
    """A loaded model, ready to predict.

    Parameters
    ----------
    model : path or Bundle
        A ``.safetensors`` model (its ONNX export ``<model>.onnx`` runs it without torch), or
        an in-memory ``ionflow.model.Bundle`` (torch).
    tta : bool
        Average over the four label-preserving flips (4x the network work; off by default:
        the calibrated interval, not the flip spread, says how far to trust an answer).
    blocks : bool
        Images larger than the training size are cut into blocks of that size; the network
        predicts every block and a coarse finite-volume solve on the block grid combines them
        (see :mod:`ionflow.surrogate._tiles`). False: the whole image goes through the network
        at once (faster, but the networks do not extrapolate in size; flagged ``ood``).
    block_axes : {"flow", "all"}
        ``"flow"`` (default): each block is predicted along the flow only, taken as its
        conductivity in every direction (exact for isotropic blocks); ``"all"``: along every
        axis (anisotropic blocks, 3x the network work).
    backend : {"auto", "onnx", "torch"}
        ``"auto"``: the ONNX export when there is an up-to-date one, else torch.
    ood_width : float
        Flag an answer ``ood`` when its calibrated 90 % interval reaches further than this
        relative distance from the prediction.
    """

    def __init__(
        self,
        model: Any,
        *,
        tta: bool = False,
        blocks: bool = True,
        block_axes: str = "flow",
        backend: str = "auto",
        ood_width: float = 0.10,
    ) -> None:
        if block_axes not in ("all", "flow"):
            raise ValueError(f"block_axes must be 'all' or 'flow', not {block_axes!r}")
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"backend must be 'auto', 'onnx' or 'torch', not {backend!r}")
        self.block_axes = block_axes
        self.tta = tta
        self.blocks = blocks
        self.ood_width = float(ood_width)
        if isinstance(model, (str, os.PathLike)):
            self.info = read_model_info(model)
            try:
                self.runner = self._runner(Path(model), backend)
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. weights that do not fit the
                # architecture its metadata describes: torch's many-line size mismatch
                detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
                raise InputError(
                    f"weights do not fit the networks its metadata describes "
                    f"({type(exc).__name__}: {detail})",
                    source=str(model),
                ) from None
        else:  # an in-memory Bundle (training, tests): torch
            self.info = ModelInfo.from_meta(model.meta())
            self.runner = self._torch_runner(model)
        self.stats = self.info.stats
        self.feature_stats = self.stats.get("features")
        self.conformal = self.info.metrics.get("conformal")
        self.fraction_ranges = [
            tuple(m["fraction_range"]) if m.get("fraction_range") else None
            for m in self.info.members
        ]

    @staticmethod
    def _torch_runner(bundle: Any) -> Runner:
        """``bundle``: an :class:`ionflow.model.Bundle` (not imported: model sits above)."""
        try:
            from ..model._runner import TorchRunner
        except ImportError:
            raise InputError(
                "this model has no ONNX export and torch is not installed: export it with "
                "`ionflow export MODEL` where torch is (pip install 'ionflow[ml]')"
            ) from None
        return TorchRunner(bundle)

    def _runner(self, path: Path, backend: str) -> Runner:
        exported = onnx_path(path)
        if backend != "torch" and exported.exists():
            try:
                return OnnxRunner(exported, source=path)
            except InputError as exc:
                if backend == "onnx":
                    raise
                log.warning("%s; using torch", exc)
        elif backend == "onnx":
            raise InputError("no ONNX export (`ionflow export MODEL`)", source=str(path))
        from ..model._checkpoint import load_bundle  # torch from here on

        return self._torch_runner(load_bundle(path))

    # -- raw network answers -------------------------------------------------------------------

    def _network(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """sigma_eff / sigma, its spread (log space; NaN for one view of one net) and member-0
        features for images (n, *shape) that need a network answer."""
        frac = _fractions(images)
        views = _flip_views(images) if self.tta else [images]
        y, feats = self.runner(np.concatenate(views) if len(views) > 1 else images)
        n = len(images)
        y = y.reshape(y.shape[0], len(views), n)  # (members, views, n)
        feats = feats[:n]
        if any(r is not None for r in self.fraction_ranges):  # one member per fraction class
            pick = np.zeros((len(self.fraction_ranges), n), bool)
            for k, r in enumerate(self.fraction_ranges):
                if r is not None:
                    pick[k] = (frac >= r[0]) & (frac < r[1])
            pick[np.argmax(pick, axis=0), np.arange(n)] |= ~pick.any(0)
            chosen = np.where(pick[:, None, :], y, np.nan)
            mean = np.nanmean(chosen, axis=(0, 1))
            spread = np.nanstd(chosen, axis=(0, 1)) if len(views) > 1 else np.full(n, np.nan)
        else:
            flat = y.reshape(-1, n)
            mean = flat.mean(0)
            spread = flat.std(0) if len(flat) > 1 else np.full(n, np.nan)
        return from_target(mean), spread, feats

    def _infer(
        self, images: np.ndarray, percolating: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Relative conductivity, spread and feature distance (NaN: no network pass); exact
        without a network where physics says so: 1 for an all-electrolyte image, 0 when no
        electrolyte path joins the two faces."""
        images = np.asarray(images).astype(bool)
        n = len(images)
        frac = _fractions(images)
        rel = np.zeros(n)
        spread = np.zeros(n)
        distance = np.full(n, np.nan)
        full = frac >= 1.0
        rel[full] = 1.0
        if percolating is None:
            percolating = percolating_fractions(images)
        todo = np.flatnonzero(~full & (np.asarray(percolating) > 0))
        if todo.size:
            r, s, feats = self._network(images[todo])
            rel[todo], spread[todo] = r, s
            if self.feature_stats and feats.shape[1]:
                distance[todo] = feature_distance(feats, self.feature_stats)
        return rel, spread, distance

    def predict_relative(
        self, images: np.ndarray, *, percolating: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """sigma_eff / sigma and the spread over flips/members (log space) for images
        (n, *shape) of the training size, flow on axis 0. ``percolating`` (the percolating
        fraction of each image, if the caller has it) saves recomputing the connectivity."""
        return self._infer(images, percolating)[:2]

    def descriptors(self, results: Sequence[PredictionResult]) -> np.ndarray:
        """Inputs of the interval's difficulty scale (:func:`~ionflow.surrogate.descriptors`)
        for results of :meth:`predict` (calibration uses them with the exact answers)."""

        def column(name: str) -> np.ndarray:
            return np.array(
                [np.nan if getattr(r, name) is None else getattr(r, name) for r in results]
            )

        return self._descriptors(
            column("feature_distance"),
            column("electrolyte_fraction"),
            column("percolating_fraction"),
            column("relative_conductivity"),
            column("interface_density"),
        )

    def _descriptors(
        self,
        distance: np.ndarray,
        fraction: np.ndarray,
        percolating: np.ndarray,
        predicted: np.ndarray,
        interface: np.ndarray,
    ) -> np.ndarray:
        """:func:`~ionflow.surrogate.descriptors` with this model's threshold and the geometric
        middle of its training images' interface-density range as references."""
        lo, hi = self.stats.get("interface_density", (0.1, 0.1))
        return descriptors(
            distance=distance,
            threshold=self.feature_stats["threshold"] if self.feature_stats else 1.0,
            fraction=fraction,
            percolating=percolating,
            predicted=predicted,
            interface=interface,
            interface_reference=float(np.sqrt(max(lo, 1e-4) * max(hi, 1e-4))),
        )

    # -- whole answers -------------------------------------------------------------------------

    def predict(
        self,
        images: Sequence[np.ndarray],
        *,
        axis: int = 0,
        voltage: float = 1.0,
        conductivity: float = 1.0,
        pixel_size: float | Sequence[float | None] | None = None,
    ) -> list[PredictionResult]:
        """One :class:`PredictionResult` per image (``to_dict()``: the keys of
        ``ionflow simulate --json`` and the trust fields).

        ``pixel_size`` (m) is one value for all images or one per image (None: l = A = 1).
        """
        sizes: list[Any] = (  # one per image, as given: geometry() checks each
            list(pixel_size)
            if isinstance(pixel_size, (list, tuple, np.ndarray))
            else [pixel_size] * len(images)
        )
        if len(sizes) != len(images):
            raise InputError(
                f"{len(sizes)} pixel sizes for {len(images)} images: give one for all, or one "
                "per image (a per-axis tuple of one image goes in a list)"
            )
        check_physics(voltage, conductivity)
        moved = [np.moveaxis(np.asarray(im).astype(bool), axis, 0) for im in images]
        for im in moved:
            if im.ndim != self.info.dim:
                raise InputError(f"a {im.ndim}D image for a {self.info.dim}D model")
            self.check_shape(im.shape)
        out: list[PredictionResult | None] = [None] * len(moved)
        by_shape: dict[tuple, list[int]] = {}
        for i, im in enumerate(moved):
            by_shape.setdefault(im.shape, []).append(i)
        for shape, idx in by_shape.items():
            # one image: a view, no copy (a 256^3 volume is 16 MB)
            batch = moved[idx[0]][None] if len(idx) == 1 else np.stack([moved[i] for i in idx])
            grid = self._grid(shape)
            if grid is not None or batch[0].size >= OVERLAP_VOXELS:
                # large images: label the clusters on another thread while the network runs
                # (both release the GIL), then zero the blocked ones
                with ThreadPoolExecutor(1) as pool:
                    job = pool.submit(percolating_fractions, batch)
                    if grid is not None:
                        rel, spread, distance = self._predict_blocks(batch, grid)
                    else:
                        rel, spread, distance = self._infer(batch, np.ones(len(batch)))
                    perc = job.result()
                exact = (perc == 0) | (perc >= 1)
                rel[perc == 0] = 0.0
                rel[perc >= 1] = 1.0
                spread[exact] = 0.0
            else:
                perc = percolating_fractions(batch)
                rel, spread, distance = self._infer(batch, perc)
            for j, i in enumerate(idx):
                out[i] = self._record(
                    moved[i],
                    float(rel[j]),
                    float(spread[j]),
                    float(perc[j]),
                    float(distance[j]),
                    grid,
                    voltage,
                    conductivity,
                    _moved_size(sizes[i], axis, moved[i].ndim),
                    axis,
                )
        return out  # type: ignore[return-value]

    @property
    def min_size(self) -> int:
        """Fewest cells along any axis that every member network takes (see
        :meth:`ModelInfo.min_size`)."""
        return self.info.min_size

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Refuse an image with an axis too short for the networks, in one line (before the
        network runtime fails on it with a message about convolution shapes).

        Raises
        ------
        InputError
            An axis has fewer than :attr:`min_size` cells.
        """
        least = self.min_size
        if min(shape) < least:
            raise InputError(
                f"image too small for the {self.info.dim}D model "
                f"({'x'.join(map(str, shape))}): it needs at least {least} cells along every "
                "axis; ionflow simulate solves it exactly"
            )

    def _grid(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The block grid for an image of ``shape`` (None: predict it whole)."""
        block = tuple(self.stats.get("shape", ()))
        if not self.blocks or len(set(block)) != 1:  # square/cubic training images only
            return None
        return block_grid(shape, block)

    def _predict_blocks(
        self, images: np.ndarray, grid: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Relative conductivity, RMS block spread and median block feature distance of large
        images from their blocks (see ``blocks``)."""
        block = tuple(self.stats["shape"])
        dim = len(block)
        spacing = [n / g for n, g in zip(images.shape[1:], grid)]
        rel = np.zeros(len(images))
        spread = np.full(len(images), np.nan)
        block_distance = np.full(len(images), np.nan)
        for k, im in enumerate(images):
            pieces = cut_blocks(im, block, grid)
            conducting = pieces.reshape(len(pieces), -1).any(1).astype(float)
            sigma = np.empty((dim, *grid))
            for a in range(dim if self.block_axes == "all" else 1):
                # turn axis a of every block into its flow axis
                views = np.ascontiguousarray(np.moveaxis(pieces, 1 + a, 1)) if a else pieces
                r, s, d = self._infer(views, conducting)
                sigma[a] = r.reshape(grid)
                if a == 0:
                    if np.isfinite(d).any():
                        block_distance[k] = np.nanmedian(d)
                    if np.isfinite(s).any():
                        spread[k] = float(np.sqrt(np.nanmean(s**2)))
            if self.block_axes == "flow":
                sigma[1:] = sigma[0]
            rel[k] = coarse_relative_conductivity(sigma, spacing)
        return rel, spread, block_distance

    def _record(
        self,
        im: np.ndarray,
        rel: float,
        spread: float,
        perc: float,
        distance: float,
        grid: tuple[int, ...] | None,
        voltage: float,
        conductivity: float,
        pixel_size: float | Sequence[float] | None,
        axis: int,
    ) -> PredictionResult:
        fraction = float(_fractions(im[None])[0])
        _, length, area = geometry(im.shape, 0, pixel_size)
        # exact only where the image decides it (nothing percolates, or all electrolyte): a
        # network output of 0 for a percolating image is a prediction like any other
        exact = perc == 0 or perc >= 1
        iface = math.nan if exact else float(interface_density(im[None])[0])
        reasons = (
            ood_reasons(im, self.stats, fraction=fraction, iface=iface, blocks=grid is not None)
            if self.stats and not exact
            else []
        )
        fstats = self.feature_stats
        limit = fstats["threshold"] if fstats else math.inf
        if fstats and not exact and distance > limit:
            reasons.append(
                f"network features unlike training (distance {distance:.1f} > {limit:.1f}, "
                f"the {fstats['quantile']:.1%} point of validation)"
            )
        bounds: tuple[float, float] | None = None
        half = math.nan
        floor, ceiling = (rel, rel) if exact else conduction_bounds(im)
        clipped = not floor <= rel <= ceiling
        if clipped:
            # the network cannot see what decides it (a one-cell pinhole in a wall, say): its
            # calibration says nothing then, and the interval is the bounds themselves
            reasons.append(
                f"prediction {rel:.3g} outside this image's exact bounds [{floor:.3g}, "
                f"{ceiling:.3g}] (straight paths; slices in series): clipped"
            )
            rel = min(max(rel, floor), ceiling)
        if not exact and rel <= 0:
            reasons.append("the network predicts no conduction, though the electrolyte percolates")
        if exact:
            bounds, half = (rel, rel), 0.0
        elif self.conformal and rel > 0 and not clipped:
            z = self._descriptors(*(np.array([v]) for v in (distance, fraction, perc, rel, iface)))
            lo, hi = interval(np.array([rel]), z, self.conformal)
            # no wider than the bounds the image itself sets
            bounds = (max(float(lo[0]), floor), min(float(hi[0]), ceiling))
            half = math.log(bounds[1] / rel) if bounds[1] > rel else 0.0
            if math.expm1(half) > self.ood_width:
                down, up = 1.0 - bounds[0] / rel, bounds[1] / rel - 1.0  # a log-symmetric one
                reasons.append(
                    f"calibrated 90% interval -{down:.0%}/+{up:.0%} is wider than "
                    f"+-{self.ood_width:.0%}"
                )
        elif not exact:
            bounds = (floor, ceiling)
            if clipped:  # the bounds are the interval: its wider side (the prediction at an end)
                up = math.log(ceiling / rel) if rel > 0 else math.inf
                down = math.log(rel / floor) if floor > 0 else math.inf
                half = max(up, down)
        if math.isfinite(half):
            unc: float | None = half / 1.645
        elif half == math.inf:  # bounds reaching 0: no finite relative uncertainty
            unc = math.inf
        else:
            unc = spread if math.isfinite(spread) else None
        cond = rel * conductivity
        current = cond * voltage * area / length
        return PredictionResult(
            current=current,
            resistance=voltage / current if current > 0 else math.inf,
            conductivity=cond,
            relative_conductivity=rel,
            tortuosity=fraction / rel if rel > 0 else math.inf,
            electrolyte_fraction=fraction,
            percolating_fraction=perc,
            percolating=perc > 0,
            inlet_current=current,
            outlet_current=current,
            flux_imbalance=0.0,
            accuracy=math.expm1(half) if math.isfinite(half) else math.nan,
            axis=axis,
            shape=tuple(im.shape),
            voltage=voltage,
            sigma=conductivity,
            length=length,
            area=area,
            method="surrogate",
            uncertainty=unc,
            interval=bounds,
            ood=bool(reasons),
            ood_reasons=tuple(reasons),
            blocks=tuple(grid) if grid is not None else None,
            feature_distance=float(distance) if math.isfinite(distance) else None,
            interface_density=iface if math.isfinite(iface) else None,
        )
