"""``measure_files``: metrics of many files, each read once, one outcome per file."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import IonflowError
from ._measure import measure
from ._result import MicrostructureMetrics

__all__ = ["MetricsOutcome", "measure_files"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricsOutcome:
    """One file: ``result``, or ``error`` (a line naming the file).

    Attributes
    ----------
    source : str
        The file.
    result : MicrostructureMetrics or None
        The metrics, None when the file failed.
    error : str or None
        Why there is no result, starting with the file name.
    """

    source: str
    result: MicrostructureMetrics | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON row: the result's keys, or ``file`` and ``error``."""
        if self.result is None:
            return {"file": self.source, "error": self.error}
        return self.result.to_dict()


def measure_files(
    files: Iterable[str],
    *,
    read=None,
    voxel_size: float | Sequence[float] | None = None,
    **options,
) -> Iterator[MetricsOutcome]:
    """:func:`~ionflow.metrics.measure` for every file, in order; a bad file is one error.

    Parameters
    ----------
    files : iterable of str
        Image or volume files (PNG, TIFF stacks, NPY, ...).
    read : ionflow.io.ReadOptions, optional
        How pixels become labels (default: ``ReadOptions(labels=True)``: values kept as
        labels; a grayscale micrograph is refused by ``measure``: segment it first).
    voxel_size : float or sequence of float, optional
        For every file; default: each TIFF's own pixel size (m) when it records one
        (:func:`ionflow.io.read_pixel_size`), else lengths in voxels.
    **options
        Passed on to :func:`~ionflow.metrics.measure`.

    Yields
    ------
    MetricsOutcome
    """
    from ..io import ReadOptions, read_pixel_size

    read = read if read is not None else ReadOptions(labels=True)
    for path in files:
        src = str(path)
        try:
            image = read(src)
            size = voxel_size
            if size is None:
                size = read_pixel_size(src)
                if size is not None:
                    log.info("%s: voxel size %.6g m from the file's metadata", src, size)
            result = measure(image, voxel_size=size, source=src, **options)
        except Exception as exc:  # noqa: BLE001 - one bad file must not lose the batch
            if isinstance(exc, IonflowError):
                message = str(exc)
                message = message if src in message else f"{src}: {message}"
            else:
                message = f"{src}: unexpected {type(exc).__name__}: {exc}"
            yield MetricsOutcome(src, error=message)
            continue
        yield MetricsOutcome(src, result=result)
