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

from ..errors import InputError
from ..surrogate._meta import EPS, FORMAT, from_target, read_model_info, to_target

__all__ = ["Bundle", "Member", "load_bundle", "save_bundle", "to_target", "from_target"]


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

    info = read_model_info(path)  # the same checks and messages as prediction's
    src = str(path)
    try:
        with safe_open(src, framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types
        raise InputError(f"not a readable safetensors model file ({exc})", source=src) from None
    members = []
    for k, m in enumerate(info.members):
        prefix = f"m{k}."
        state = {n[len(prefix) :]: t for n, t in tensors.items() if n.startswith(prefix)}
        if not state:
            raise InputError(f"model file has no weights for member {k}", source=src)
        fr = tuple(m["fraction_range"]) if m.get("fraction_range") else None
        members.append(Member(m["model"], state, fr, m.get("metrics", {})))
    return Bundle(members, info.dim, info.data, info.train, info.metrics)
