"""Files in, typed predictions out: the batch entry point behind ``ionflow predict``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, IonflowError
from ..solve import FileOutcome, check_pixel_size, validate_image
from ..solve._outcome import anisotropy
from ._meta import default_model_path
from ._predictor import PredictionResult, Predictor, check_physics

__all__ = ["PredictOutcome", "Verification", "predict_files"]


@dataclass(frozen=True)
class Verification:
    """The exact solver's answer beside a prediction (``predict --verify``).

    Attributes
    ----------
    relative_conductivity : float or None
        sigma_eff / sigma from :func:`ionflow.simulate`; None when the solve failed.
    error_percent : float or None
        |predicted - solved| / solved in percent; None when solved is 0 or failed.
    in_interval : bool or None
        Whether the solved value lies in the prediction's 90 % interval (None: no interval).
    error : str or None
        Why the solve failed (a line naming the file).
    """

    relative_conductivity: float | None = None
    error_percent: float | None = None
    in_interval: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The keys ``predict --verify --json`` adds to a row."""
        return {
            "solver_relative_conductivity": self.relative_conductivity,
            "error_percent": self.error_percent,
            "in_interval": self.in_interval,
        }


@dataclass(frozen=True)
class PredictOutcome(FileOutcome):
    """One file along one axis: a :class:`PredictionResult`, or the one-line reason it has none.

    Attributes
    ----------
    verification : Verification or None
        With ``verify``, the solver's answer beside the prediction.
    """

    verification: Verification | None = None

    def to_dict(self) -> dict:
        """The JSON row: ``file``, the result's keys, ``pixel_size`` (``anisotropy``, and the
        verification's keys when present)."""
        out = super().to_dict()
        if self.result is not None and self.verification is not None:
            out.update(self.verification.to_dict())
        return out


def _verify(
    image: np.ndarray,
    res: PredictionResult,
    source: str,
    pixel_size: float | Sequence[float] | None,
) -> Verification:
    """Solve what was predicted (same image, axis and physics) and compare."""
    from ..solve import simulate
    from ..solve._batch import message

    try:
        true = simulate(
            image,
            axis=res.axis,
            voltage=res.voltage,
            conductivity=res.sigma,
            pixel_size=pixel_size,
            source=source,
        ).relative_conductivity
    except Exception as exc:  # noqa: BLE001 - one failed check must not lose the batch
        return Verification(error=f"{message(exc, source)} (while verifying axis {res.axis})")
    lo_hi = res.interval
    return Verification(
        relative_conductivity=true,
        error_percent=abs(res.relative_conductivity - true) / true * 100 if true > 0 else None,
        in_interval=None if lo_hi is None else bool(lo_hi[0] <= true <= lo_hi[1]),
    )


def _unusable_model(path: Path, exc: Exception) -> str:
    """A model that passed the load checks but broke while running: one line."""
    detail = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{path}: not a usable ionflow model ({type(exc).__name__}: {detail})"


def predict_files(
    files: Sequence[str | os.PathLike],
    *,
    axes: Sequence[int] | None = (0,),
    read: Callable[[str], np.ndarray] | None = None,
    pixel_size: float | None = None,
    model: str | os.PathLike | None = None,
    voltage: float = 1.0,
    conductivity: float = 1.0,
    verify: bool = False,
    progress: bool = False,
    **options: Any,
) -> list[PredictOutcome]:
    """Predict every file along every axis, in input order.

    Parameters
    ----------
    files : sequence of paths
        2D images and 3D volumes may be mixed: each dimension gets its bundled model.
    axes : sequence of int, or None
        Flow axes; None: every axis of each image (``--axis all``), with ``anisotropy`` set.
        Each file is read once.
    read : callable, optional
        ``path -> array``: a :class:`~ionflow.io.ReadOptions` (default ``ReadOptions()``) or
        any function; its :class:`~ionflow.IonflowError` becomes the outcome's ``error``.
    pixel_size : float, optional
        Voxel edge in metres for all files (positive, finite); default: each TIFF's own,
        else l = 1.
    model : path, optional
        A model for every file (default: the bundled 2D and 3D models). A file that is not
        a usable model raises :class:`~ionflow.InputError` (one line).
    voltage : float
        Applied voltage (V) for the current and resistance of each result; finite and
        non-zero (as :func:`ionflow.simulate`).
    conductivity : float
        Electrolyte conductivity sigma (S/m); positive and finite.
    verify : bool
        Also solve each image exactly (:func:`ionflow.simulate`, the image already read) and
        attach a :class:`Verification`; a failed solve is reported there, the prediction kept.
    progress : bool
        A progress bar on stderr (tqdm) over reading the files, then one per network batch.
    **options
        :class:`Predictor` options (``tta``, ``blocks``, ``block_axes``, ``backend``, ...).

    Returns
    -------
    list of PredictOutcome
        Unreadable files give one outcome with ``axis = -1`` and the error; a file the model
        cannot take (e.g. a 2D image for a 3D model) one error per axis.
    """
    from ..io import ReadOptions, pixel_sizes

    read = read if read is not None else ReadOptions()
    pixel_size = check_pixel_size(pixel_size)
    check_physics(voltage, conductivity)  # as simulate: once, before any file is read
    if axes is not None:
        axes = tuple(axes)
        if not axes or any(isinstance(a, bool) or a not in (0, 1, 2) for a in axes):
            raise InputError(f"axis must be 0, 1 or 2 (None: every axis), got {list(axes)}")
    # one model for every file: a bad one is refused once, up front
    given = Predictor(Path(model), **options) if model is not None else None
    sources = [str(f) for f in files]
    images: dict[int, np.ndarray] = {}
    errors: dict[int, str] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sources), unit="file", desc="read", leave=False)
    for i, src in enumerate(sources):
        if bar is not None:
            bar.update()
        try:
            im = validate_image(read(src), source=src)
            if not im.any():  # as simulate: an input error, not a blocked image
                raise InputError("image is entirely insulating (no conductive pixel)", source=src)
            images[i] = im
        except IonflowError as exc:
            errors[i] = str(exc)
    if bar is not None:
        bar.close()
    by_file = pixel_sizes([sources[i] for i in images], pixel_size)
    sizes: dict[int, float | None] = {}
    for i in list(images):
        size = by_file[sources[i]]
        if isinstance(size, tuple):
            if max(size) > 1.01 * min(size):  # the networks learnt cubic voxels
                errors[i] = (
                    f"{sources[i]}: anisotropic voxels {list(size)} m: the surrogate was trained "
                    "on cubic voxels; use ionflow simulate, which solves box-shaped cells"
                )
                del images[i]
                continue
            size = size[-1]
        sizes[i] = size
    results: dict[int, dict[int, PredictionResult | str]] = {i: {} for i in images}
    by_dim: dict[int, list[int]] = {}
    for i, im in images.items():
        by_dim.setdefault(im.ndim, []).append(i)
    for dim, idx in sorted(by_dim.items()):
        path = Path(model) if model is not None else default_model_path(dim)
        if model is None and not path.exists():
            for i in idx:
                errors[i] = f"{sources[i]}: no bundled {dim}D model; pass a model"
            continue
        try:
            predictor = given or Predictor(path, **options)
        except InputError as exc:  # a broken bundled model: every file of its dimension
            for i in idx:
                errors[i] = f"{sources[i]}: {exc}"
            continue
        for i in list(idx):  # an axis too short for the networks: refused before they run
            try:
                predictor.check_shape(images[i].shape)
            except InputError as exc:
                errors[i] = f"{sources[i]}: {exc}"
                idx.remove(i)
        for axis in axes if axes is not None else range(dim):
            todo = [i for i in idx if axis < images[i].ndim]
            if not todo:
                continue
            try:
                answers: list[PredictionResult | str] = list(
                    predictor.predict(
                        [images[i] for i in todo],
                        axis=axis,
                        voltage=voltage,
                        conductivity=conductivity,
                        pixel_size=[sizes[i] for i in todo],
                    )
                )
            except IonflowError as exc:  # e.g. a 2D image for a 3D model
                answers = [f"{sources[i]}: {exc}" for i in todo]
            except Exception as exc:  # noqa: BLE001 - a model that breaks while running
                reason = _unusable_model(path, exc)
                answers = [f"{sources[i]}: {reason}" for i in todo]
            for i, res in zip(todo, answers):
                results[i][axis] = res
    out: list[PredictOutcome] = []
    for i, src in enumerate(sources):
        if i in errors:
            out.append(PredictOutcome(src, -1, error=errors[i]))
            continue
        rows: list[PredictOutcome] = []
        for axis, res in sorted(results[i].items()):
            if isinstance(res, str):
                rows.append(PredictOutcome(src, axis, error=res))
                continue
            check = _verify(images[i], res, src, sizes[i]) if verify else None
            rows.append(
                PredictOutcome(src, axis, result=res, pixel_size=sizes[i], verification=check)
            )
        if axes is None:  # the ratio of the largest to the smallest, as simulate --axis all
            values = [o.result.relative_conductivity for o in rows if o.result is not None]
            if values:
                ratio = anisotropy(values)
                rows = [replace(o, anisotropy=ratio) if o.result else o for o in rows]
        out += rows
    return out
