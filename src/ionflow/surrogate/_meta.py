"""Model files without torch: the JSON description inside a ``.safetensors`` file.

A safetensors file starts with an 8-byte little-endian header length and a JSON header; the
ionflow description (format, dimension, members, training data statistics, metrics) is the
``"ionflow"`` entry of its ``__metadata__``. Reading it needs neither torch nor the weights, and
runs no code from the file. The network itself runs from the ONNX export beside it
(``<model>.onnx``, :mod:`ionflow.surrogate._runtime`).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "ModelInfo",
    "default_model_path",
    "file_sha256",
    "from_target",
    "read_model_info",
    "to_target",
]

FORMAT = "ionflow-model/1"
MAX_HEADER = 64 * 2**20  # a model header is a few hundred kB; refuse absurd lengths
EPS = 1e-3  # targets are log(sigma_eff/sigma + EPS): well conditioned from 0 to 1


def to_target(relative: np.ndarray) -> np.ndarray:
    """The networks' regression target, log(sigma_eff / sigma + EPS).

    Parameters
    ----------
    relative : array-like
        Relative conductivities sigma_eff / sigma, in [0, 1].

    Returns
    -------
    ndarray of float64
        The targets, same shape.
    """
    return np.log(np.asarray(relative, dtype=np.float64) + EPS)


def from_target(y: np.ndarray) -> np.ndarray:
    """Relative conductivity sigma_eff / sigma from network outputs.

    The inverse of :func:`to_target`, clipped at 0.

    Parameters
    ----------
    y : array-like
        Network outputs (targets).

    Returns
    -------
    ndarray of float64
        sigma_eff / sigma >= 0, same shape.
    """
    return np.clip(np.exp(np.asarray(y, dtype=np.float64)) - EPS, 0.0, None)


def default_model_path(dim: int = 2) -> Path:
    """The model shipped inside the package for 2D (or 3D) images.

    Parameters
    ----------
    dim : int
        2 or 3 (any other value gives the 3D model).

    Returns
    -------
    Path
        The bundled ``.safetensors`` file.
    """
    name = "ionflow-2d.safetensors" if dim == 2 else "ionflow-3d.safetensors"
    return Path(__file__).resolve().parent.parent / "data" / "models" / name


@dataclass(frozen=True)
class ModelInfo:
    """What prediction needs to know about a model, besides its network.

    Attributes
    ----------
    dim : int
        2 or 3 (image dimension).
    members : list of dict
        Per member network: ``model`` (architecture config), ``fraction_range`` (None, or the
        electrolyte-fraction class where a per-class member applies), ``metrics``.
    data : dict
        Training data description; ``data["stats"]`` holds the training shape, fraction range,
        interface-density range and the feature statistics of the OOD check.
    metrics : dict
        Validation metrics; ``metrics["conformal"]`` holds the interval calibration, if any.
    train : dict
        The training configuration.
    path : Path or None
        The file it was read from.
    """

    dim: int
    members: list[dict]
    data: dict
    metrics: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def stats(self) -> dict:
        return self.data.get("stats", {})

    @property
    def min_size(self) -> int:
        """Fewest cells along any axis that every member network takes.

        ionnet's patch stem reads 2x2(x2) blocks (an odd size padded by one slice), then each
        of its ``len(stem_channels) - 1`` convolutions (kernel 2, stride 2, no padding) halves
        the size and needs 2 cells: ``2**(k + 1) - 1`` cells for k of them (7 for the bundled
        3D model). The 3x3 convolution stems and the timm/MONAI networks pad: 1 cell.
        """
        least = 1
        for member in self.members:
            cfg = member.get("model", {}) if isinstance(member, dict) else {}
            if cfg.get("stem") != "patch":
                continue
            widths = cfg.get("stem_channels") or cfg.get("channels", [0])[:1]
            convs = max(len(widths) - 1, 0)
            least = max(least, 2 ** (convs + 1) - 1)
        return least

    @classmethod
    def from_meta(cls, meta: dict[str, Any], path: Path | None = None) -> ModelInfo:
        return cls(
            int(meta["dim"]),
            list(meta["members"]),
            dict(meta["data"]),
            dict(meta.get("metrics", {})),
            dict(meta.get("train", {})),
            path,
        )


def read_model_info(path: str | os.PathLike) -> ModelInfo:
    """The description of an ionflow ``.safetensors`` model, without loading its weights.

    A missing, truncated, corrupt or foreign file raises :class:`~ionflow.InputError`.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    ModelInfo
        Dimension, members, training data statistics, metrics and training configuration.
    """
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError("model file not found", source=src)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise InputError("not a readable safetensors model file (too short)", source=src)
            (n,) = struct.unpack("<Q", head)
            if n > min(MAX_HEADER, path.stat().st_size - 8):
                raise InputError(
                    "not a readable safetensors model file (bad header length)", source=src
                )
            header = json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable safetensors model file ({exc})", source=src) from None
    raw = (header.get("__metadata__") or {}).get("ionflow") if isinstance(header, dict) else None
    if raw is None:
        raise InputError("a safetensors file, but not an ionflow model (no metadata)", source=src)
    try:
        meta = json.loads(raw)
        if meta.get("format") != FORMAT:
            raise InputError(f"unsupported model format {meta.get('format')!r}", source=src)
        _check_meta(meta)
        return ModelInfo.from_meta(meta, path)
    except _Corrupt as exc:
        raise InputError(f"model metadata is corrupt ({exc})", source=src) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise InputError("model metadata is corrupt", source=src) from None


class _Corrupt(ValueError):
    """What is wrong with a model's metadata, in words."""


def _numbers(value: Any, n: int | None = None) -> bool:
    return (
        isinstance(value, list)
        and (n is None or len(value) == n)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


def _check_meta(meta: dict) -> None:
    """The shape of the metadata that prediction reads, so that a foreign or edited file is
    one clear error at load time, not a KeyError in the middle of a batch."""
    if meta.get("dim") not in (2, 3):
        raise _Corrupt(f"dim must be 2 or 3, got {meta.get('dim')!r}")
    members = meta.get("members")
    if not isinstance(members, list) or not members:
        raise _Corrupt("members must be a non-empty list")
    for k, m in enumerate(members):
        if not isinstance(m, dict) or not isinstance(m.get("model"), dict):
            raise _Corrupt(f"member {k} has no network description")
        if m.get("fraction_range") is not None and not _numbers(m["fraction_range"], 2):
            raise _Corrupt(f"member {k}: fraction_range must be two numbers")
    for key in ("data", "metrics", "train"):
        if not isinstance(meta.get(key, {}), dict):
            raise _Corrupt(f"{key} must be a mapping")
    stats = meta["data"].get("stats", {}) if "data" in meta else {}
    if not isinstance(stats, dict):
        raise _Corrupt("data.stats must be a mapping")
    if "shape" in stats and not (
        _numbers(stats["shape"], meta["dim"]) and all(v >= 1 for v in stats["shape"])
    ):
        raise _Corrupt(f"data.stats.shape must be {meta['dim']} sizes")
    for key in ("fraction", "interface_density"):
        if key in stats and not _numbers(stats[key], 2):
            raise _Corrupt(f"data.stats.{key} must be two numbers")
    features = stats.get("features")
    if features is not None and not (
        isinstance(features, dict)
        and all(k in features for k in ("mean", "precision", "quantile", "threshold"))
    ):
        raise _Corrupt("data.stats.features lacks mean, precision, quantile or threshold")
    conformal = meta.get("metrics", {}).get("conformal")
    if conformal is not None and not (
        isinstance(conformal, dict)
        and isinstance(conformal.get("quantile"), (int, float))
        and _numbers(conformal.get("weights"))
    ):
        raise _Corrupt("metrics.conformal lacks its quantile or weights")


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file (ties an ONNX export to the weights it came from)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()
