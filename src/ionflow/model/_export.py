"""Export a model's networks to ONNX, so that prediction runs without torch.

The export (``<model>.onnx`` beside ``<model>.safetensors``) holds every member network in one
graph (see :mod:`ionflow.surrogate._runtime` for its inputs and outputs) and records the
SHA-256 of the safetensors file, which stays the source of truth.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from ..surrogate._meta import file_sha256
from ..surrogate._runtime import ONNX_FORMAT, onnx_path, patch_codes
from ._checkpoint import Bundle, load_bundle
from ._nets import IonNet, ModelConfig, PatchCode, TwoStage, create_model

__all__ = ["export_onnx", "member_networks"]


def member_networks(bundle: Bundle) -> list[nn.Module]:
    """The bundle's member networks, built once each, in eval mode."""
    nets = []
    for m in bundle.members:
        net = create_model(ModelConfig.from_dict(m.model), dim=bundle.dim)
        net.load_state_dict(m.state)
        nets.append(net.eval())
    return nets


class _Graph(nn.Module):
    """bool images (n, *shape) -> raw outputs (members, n), member-0 features (n, F).

    When every member has the patch-code stem, the graph takes the codes instead
    (``code``: int32 (n, *shape/2), see :func:`ionflow.surrogate._runtime.patch_codes`): they
    are computed with byte operations outside the graph, which halves the cost of a 64^3 block
    under ONNX Runtime.
    """

    def __init__(self, nets: list[nn.Module], *, codes: bool | None = None) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.binary = [bool(getattr(n, "binary_input", False)) for n in nets]
        # codes=False: the images go in (torch prediction, and the export's reference)
        self.codes = all(self.binary) if codes is None else codes

    def _features(self, net: nn.Module, inp: torch.Tensor) -> torch.Tensor:
        if not self.codes:
            return cast(TwoStage, net).forward_features(inp)
        ion = cast(IonNet, net)  # codes: every member has the patch stem, so is an IonNet
        patch = cast(PatchCode, ion.stem[0])
        h = patch.embed(inp).permute(0, patch.dim + 1, *range(1, patch.dim + 1))
        return ion.pool(ion.stages(ion.stem[1:](h))).flatten(1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.codes:
            x = signed = image
        else:
            x = image.unsqueeze(1)
            signed = x.to(torch.float32) * 2.0 - 1.0  # conv stems see {-1, 1} (as in training)
        ys = []
        feats = torch.zeros(image.shape[0], 0)
        for k, (net, binary) in enumerate(zip(self.nets, self.binary)):
            inp = x if binary else signed
            if hasattr(net, "forward_features"):
                f = self._features(net, inp)
                ys.append(cast(TwoStage, net).forward_head(f))
                if k == 0:
                    feats = f
            else:
                ys.append(net(inp))
        return torch.stack(ys), feats


def export_onnx(
    model: str | os.PathLike, out: str | os.PathLike | None = None, *, check: bool = True
) -> Path:
    """Write the ONNX export of a ``.safetensors`` model (default: ``<model>.onnx``).

    With ``check``, the export is run with ONNX Runtime on random images and compared with
    torch (max difference 1e-4 in the raw output), and a failure raises ``RuntimeError``.
    """
    model = Path(model)
    bundle = load_bundle(model)
    out = Path(out) if out is not None else onnx_path(model)
    shape = tuple(bundle.data.get("stats", {}).get("shape") or (64,) * bundle.dim)
    graph = _Graph(member_networks(bundle)).eval()
    rng = np.random.default_rng(0)
    sample = rng.random((2, *shape)) < 0.7
    inputs = torch.from_numpy(patch_codes(sample) if graph.codes else sample)
    spatial = {k + 1: f"s{k}" for k in range(bundle.dim)}
    tmp = out.with_name(out.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches
        torch.onnx.export(
            graph,
            (inputs,),
            str(tmp),
            input_names=["code" if graph.codes else "image"],
            output_names=["y", "features"],
            dynamic_axes={
                "code" if graph.codes else "image": {0: "n", **spatial},
                "y": {1: "n"},
                "features": {0: "n"},
            },
            opset_version=18,
            dynamo=False,
        )
    import onnx

    proto = onnx.load(str(tmp))
    props = {
        "ionflow_format": ONNX_FORMAT,
        "ionflow_source": model.name,
        "ionflow_source_sha256": file_sha256(model),
        "ionflow_members": str(len(bundle.members)),
        "ionflow_even_sizes": "1" if any(graph.binary) else "0",
        "ionflow_input": "code" if graph.codes else "image",
    }
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(tmp))
    os.chmod(tmp, 0o644)
    if check:
        from ..surrogate._runtime import OnnxRunner

        images = rng.random((3, *shape)) < rng.uniform(0.4, 0.9, (3,) + (1,) * bundle.dim)
        y, f = OnnxRunner(tmp, source=model)(images)
        nets = _Graph(list(graph.nets), codes=False).eval()  # the networks' own forward
        with torch.inference_mode():
            y_t, f_t = nets(torch.from_numpy(images))
        err = float(np.abs(y - y_t.numpy()).max())
        if err > 1e-4:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"ONNX export of {model} differs from torch by {err:.2g}")
    os.replace(tmp, out)
    return out
