"""Files in, typed predictions out: the batch entry point behind ``ionflow predict``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, IonflowError
from ..solve import validate_image
from ._meta import default_model_path
from ._predictor import PredictionResult, Predictor

__all__ = ["PredictOutcome", "predict_files"]


@dataclass(frozen=True)
class PredictOutcome:
    """One file along one axis: a result, or the one-line reason it has none.

    Attributes
    ----------
    source : str
        The input file.
    axis : int
        Flow axis; -1 when the file could not be read.
    result : PredictionResult or None
        The prediction, or None with ``error`` set.
    error : str or None
        Why there is no result (one line naming the file).
    pixel_size : float or None
        Pixel edge (m) used, None for the l = 1 convention.
    """

    source: str
    axis: int
    result: PredictionResult | None = None
    error: str | None = None
    pixel_size: float | None = None

    def to_dict(self) -> dict:
        """The JSON row: ``file``, the result's keys and ``pixel_size``."""
        if self.result is None:
            return {"file": self.source, "axis": self.axis, "error": self.error}
        return {"file": self.source, **self.result.to_dict(), "pixel_size": self.pixel_size}


def predict_files(
    files: Sequence[str | os.PathLike],
    *,
    axes: Sequence[int] | None = (0,),
    read: Callable[[str], np.ndarray] | None = None,
    pixel_size: float | None = None,
    model: str | os.PathLike | None = None,
    voltage: float = 1.0,
    conductivity: float = 1.0,
    progress: bool = False,
    **options,
) -> list[PredictOutcome]:
    """Predict every file along every axis, in input order.

    Parameters
    ----------
    files : sequence of paths
        2D images and 3D volumes may be mixed: each dimension gets its bundled model.
    axes : sequence of int, or None
        Flow axes; None: every axis of each image (``--axis all``). Each file is read once.
    read : callable, optional
        ``path -> array`` (default :func:`ionflow.io.read_image`); its
        :class:`~ionflow.IonflowError` becomes the outcome's ``error``.
    pixel_size : float, optional
        Voxel edge in metres for all files; default: each TIFF's own, else l = 1.
    model : path, optional
        A model for every file (default: the bundled 2D and 3D models).
    voltage : float
        Applied voltage (V) for the current and resistance of each result.
    conductivity : float
        Electrolyte conductivity sigma (S/m).
    progress : bool
        A progress bar on stderr (tqdm) over reading the files, then one per network batch.
    **options
        :class:`Predictor` options (``tta``, ``blocks``, ``block_axes``, ``backend``, ...).

    Returns
    -------
    list of PredictOutcome
        Unreadable files give one outcome with ``axis = -1`` and the error.
    """
    from ..io import pixel_sizes, read_image

    read = read or read_image
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
    sizes = {i: by_file[sources[i]] for i in images}
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
        predictor = Predictor(path, **options)
        for axis in axes if axes is not None else range(dim):
            todo = [i for i in idx if axis < images[i].ndim]
            if not todo:
                continue
            try:
                answers = predictor.predict(
                    [images[i] for i in todo],
                    axis=axis,
                    voltage=voltage,
                    conductivity=conductivity,
                    pixel_size=[sizes[i] for i in todo],
                )
            except IonflowError as exc:  # e.g. a 2D image for a 3D model
                answers = [f"{sources[i]}: {exc}" for i in todo]  # type: ignore[misc]
            for i, res in zip(todo, answers):
                results[i][axis] = res
    out: list[PredictOutcome] = []
    for i, src in enumerate(sources):
        if i in errors:
            out.append(PredictOutcome(src, -1, error=errors[i]))
            continue
        for axis, res in sorted(results[i].items()):
            if isinstance(res, str):
                out.append(PredictOutcome(src, axis, error=res))
            else:
                out.append(PredictOutcome(src, axis, result=res, pixel_size=sizes[i]))
    return out
