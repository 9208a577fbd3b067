"""Running a model's networks without torch: its ONNX export, with ONNX Runtime.

``ionflow.model.export_onnx`` writes ``<model>.onnx`` beside ``<model>.safetensors`` (the
safetensors file stays the source of truth). The graph takes the binary images as they are,
``image``: bool (n, *shape), True = electrolyte, and returns ``y``: (members, n) float32, the
raw outputs (log space, see ``ionflow.surrogate.from_target``) of every member network, and
``features``: (n, F) float32, the pooled features of member 0 (F = 0 when the architecture has
none). Its metadata records the SHA-256 of the safetensors file it came from: a stale export
is not used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import InputError
from ._meta import file_sha256

__all__ = ["OnnxRunner", "onnx_path", "patch_codes", "run_batches"]

log = logging.getLogger(__name__)

ONNX_FORMAT = "ionflow-onnx/1"
BATCH_VOXELS = 2**21  # images per network call: about 2M voxels (512 of 64^2, 8 of 64^3)


def patch_codes(images: np.ndarray) -> np.ndarray:
    """The 2x2 (2x2x2) block bit patterns of binary images (n, *shape), even sizes.

    Bit k of a block's code is the cell at offset ``((k >> d) & 1)`` along each axis d, the
    order of :class:`ionflow.model._nets.PatchCode`. Returns int32 (n, *shape/2).
    """
    images = np.asarray(images, dtype=bool)
    dim = images.ndim - 1
    bits = images.view(np.uint8)
    code = np.zeros(images[(slice(None),) + (slice(None, None, 2),) * dim].shape, np.uint8)
    for k in range(2**dim):
        view = bits[(slice(None),) + tuple(slice((k >> d) & 1, None, 2) for d in range(dim))]
        code |= view << np.uint8(k)
    return code.astype(np.int32)


def onnx_path(model: str | os.PathLike) -> Path:
    """Where the ONNX export of a ``.safetensors`` model lives.

    Parameters
    ----------
    model : str or path-like
        The ``.safetensors`` model file.

    Returns
    -------
    Path
        The same path with the suffix ``.onnx`` (whether or not that file exists).
    """
    return Path(model).with_suffix(".onnx")


class Runner(Protocol):
    """A model's networks as one call: :class:`OnnxRunner`, or the torch ``TorchRunner`` of
    :mod:`ionflow.model` (same outputs)."""

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class OnnxRunner:
    """The networks of one model under ONNX Runtime (CPU).

    Parameters
    ----------
    path : path
        The ``.onnx`` export.
    source : path, optional
        The ``.safetensors`` model it must have been exported from (checked by SHA-256).
    threads : int, optional
        Intra-op threads (default: ONNX Runtime's, one per physical core).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        source: str | os.PathLike | None = None,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise InputError("prediction needs onnxruntime: pip install onnxruntime") from exc
        path = Path(path)
        # errors reach the user as one InputError line: onnxruntime's own log (an ANSI-coloured
        # line on stderr per failed run, written at ERROR level) stays quiet (4 = FATAL only)
        ort.set_default_logger_severity(4)
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        if threads:
            opts.intra_op_num_threads = int(threads)
        # other work (the connectivity labelling) runs beside the network: do not spin
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
            raise InputError(f"not a readable ONNX model ({exc})", source=str(path)) from None
        props = self.session.get_modelmeta().custom_metadata_map
        if props.get("ionflow_format") != ONNX_FORMAT:
            raise InputError("an ONNX file, but not an ionflow export", source=str(path))
        if source is not None and props.get("ionflow_source_sha256") != file_sha256(source):
            raise InputError(
                f"stale ONNX export: it does not match {Path(source).name} "
                "(re-export with `ionflow export MODEL`)",
                source=str(path),
            )
        self.members = int(props.get("ionflow_members", "1"))
        self.even = props.get("ionflow_even_sizes") == "1"
        self.codes = props.get("ionflow_input") == "code"
        self.path = path

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs (members, n) and member-0 features (n, F) for images (n, *shape)."""
        images = np.asarray(images, dtype=bool)
        if not self.codes:  # patch codes are computed from strided views as well
            images = np.ascontiguousarray(images)
        if self.even and any(s % 2 for s in images.shape[1:]):
            # the patch stem reads 2x2(x2) blocks: repeat the last slice of odd sizes
            pad = [(0, 0)] + [(0, s % 2) for s in images.shape[1:]]
            images = np.pad(images, pad, mode="edge")
        if self.codes:
            return run_batches(
                lambda part: self.session.run(None, {"code": patch_codes(part)}),
                images,
                self.members,
            )
        return run_batches(
            lambda part: self.session.run(None, {"image": part}), images, self.members
        )


def run_batches(
    run: Callable[[np.ndarray], Sequence[np.ndarray]], images: np.ndarray, members: int
) -> tuple[np.ndarray, np.ndarray]:
    """``run(batch) -> (y, features)`` over batches of about :data:`BATCH_VOXELS` voxels,
    gathered as raw outputs (members, n) and features (n, F) in float64 (both runners)."""
    per = max(1, BATCH_VOXELS // max(1, int(np.prod(images.shape[1:]))))
    ys, fs = [], []
    for start in range(0, len(images), per):
        y, f = run(images[start : start + per])
        ys.append(np.asarray(y, np.float64).reshape(members, -1))
        fs.append(np.asarray(f, np.float64).reshape(len(ys[-1][0]), -1))
    if not ys:
        return np.zeros((members, 0)), np.zeros((0, 0))
    return np.concatenate(ys, axis=1), np.concatenate(fs)
