"""Model files: weights in safetensors, everything else as JSON in its metadata.

One ``.safetensors`` file holds a *bundle*: one or more member networks (an ensemble, or one
per electrolyte-fraction class) under the prefixes ``m0.``, ``m1.``, ... Its metadata
``ionflow`` entry is JSON: the member configs (architecture + fraction range), the training
config, a description of the training data (shape, fraction range, morphology statistics for
the out-of-distribution check), the target transform and the metrics. Loading never runs code
from the file (no pickle).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["Bundle", "Member", "load_bundle", "save_bundle", "to_target", "from_target"]

FORMAT = "ionflow-model/1"
EPS = 1e-3  # targets are log(sigma_eff/sigma + EPS): well conditioned from 0 to 1


def to_target(relative: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(relative, dtype=np.float64) + EPS)


def from_target(y: np.ndarray) -> np.ndarray:
    return np.clip(np.exp(np.asarray(y, dtype=np.float64)) - EPS, 0.0, None)


@dataclass
class Member:
    """One network of a bundle."""

    model: dict  # ModelConfig.to_dict()
    state: dict  # name -> torch.Tensor
    fraction_range: tuple[float, float] | None = None  # per-class member: where it applies
    metrics: dict = field(default_factory=dict)


@dataclass
class Bundle:
    """All that a prediction needs: members + description of the training data."""

    members: list[Member]
    dim: int
    data: dict  # shape, fraction range, generators, n_train, morphology stats
    train: dict  # TrainConfig as a dict
    metrics: dict = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "dim": self.dim,
            "target": {"transform": "log(relative + eps)", "eps": EPS},
            "members": [
                {"model": m.model, "fraction_range": m.fraction_range, "metrics": m.metrics}
                for m in self.members
            ],
            "data": self.data,
            "train": self.train,
            "metrics": self.metrics,
        }


def save_bundle(path: str | os.PathLike, bundle: Bundle) -> Path:
    """Write the bundle atomically (a temporary file, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, m in enumerate(bundle.members):
        for name, t in m.state.items():
            tensors[f"m{k}.{name}"] = t.detach().to("cpu").contiguous()
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"ionflow": json.dumps(bundle.meta())})
    os.chmod(tmp, 0o644)  # a model file is meant to be shared
    os.replace(tmp, path)
    return path


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Read a bundle; a missing, corrupt or foreign file raises :class:`InputError`."""
    from safetensors import safe_open

    path = Path(path)
    src = str(path)
    if not path.exists():
        raise InputError("model file not found", source=src)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("ionflow")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types
        raise InputError(f"not a readable safetensors model file ({exc})", source=src) from None
    if raw is None:
        raise InputError("a safetensors file, but not an ionflow model (no metadata)", source=src)
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise InputError("model metadata is corrupt", source=src) from None
    if meta.get("format") != FORMAT:
        raise InputError(f"unsupported model format {meta.get('format')!r}", source=src)
    members = []
    for k, m in enumerate(meta["members"]):
        prefix = f"m{k}."
        state = {n[len(prefix) :]: t for n, t in tensors.items() if n.startswith(prefix)}
        if not state:
            raise InputError(f"model file has no weights for member {k}", source=src)
        fr = tuple(m["fraction_range"]) if m.get("fraction_range") else None
        members.append(Member(m["model"], state, fr, m.get("metrics", {})))
    return Bundle(members, int(meta["dim"]), meta["data"], meta["train"], meta.get("metrics", {}))
