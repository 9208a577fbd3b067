"""Running a model's networks with torch (training, and models without an ONNX export)."""

from __future__ import annotations

import numpy as np
import torch

from ..surrogate._runtime import run_batches
from ._checkpoint import Bundle
from ._export import _Graph, member_networks

__all__ = ["TorchRunner"]


class TorchRunner:
    """The same interface as :class:`ionflow.surrogate._runtime.OnnxRunner`, in torch: the
    graph that the ONNX export traces, fed the images.

    Parameters
    ----------
    bundle : Bundle
        An in-memory model (e.g. during training).
    """

    def __init__(self, bundle: Bundle) -> None:
        self.graph = _Graph(member_networks(bundle), codes=False).eval()
        self.members = len(self.graph.nets)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs (members, n) and member-0 features (n, F) for images (n, *shape)."""
        images = np.ascontiguousarray(images, dtype=bool)

        def run(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            y, f = self.graph(torch.from_numpy(part))
            return y.numpy(), f.numpy()

        return run_batches(run, images, self.members)
