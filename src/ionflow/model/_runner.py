"""Running a model's networks with torch (training, and models without an ONNX export)."""

from __future__ import annotations

import numpy as np
import torch

from ._checkpoint import Bundle
from ._export import member_networks
from ._train import flip_outputs

__all__ = ["TorchRunner"]


class TorchRunner:
    """The same interface as :class:`ionflow.surrogate._runtime.OnnxRunner`, in torch.

    Parameters
    ----------
    bundle : Bundle
        An in-memory model (e.g. during training).
    """

    def __init__(self, bundle: Bundle) -> None:
        self.nets = member_networks(bundle)
        self.members = len(self.nets)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs (members, n) and member-0 features (n, F) for images (n, *shape)."""
        images = np.asarray(images, dtype=bool)
        ys, feats = [], np.zeros((len(images), 0))
        for k, net in enumerate(self.nets):
            if k == 0 and hasattr(net, "forward_features"):
                y, feats = flip_outputs(net, images, features=True)
            else:
                y = flip_outputs(net, images)
            ys.append(y[0])
        return np.stack(ys).astype(np.float64), np.asarray(feats, np.float64)
