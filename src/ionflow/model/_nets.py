"""Network factory. Architectures come from here, never copied around.

* ``"ionnet"``: a compact residual CNN of our own (default): a 3x3 stem (stride 2 by default; every
  pixel still reaches the features, and the cost drops 4x), residual stages that halve the
  resolution, global average pooling and an MLP head. Works on any image size.
* ``"efficientnetv2_s"`` (and any other timm name): the paper's architecture,
  ``timm.create_model(name, in_chans=1, num_classes=0)`` with its classifier replaced by an MLP
  regression head.
* 3D: ``"ionnet3d"``, the same compact design with 3D convolutions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["ModelConfig", "create_model"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture settings (saved in every checkpoint)."""

    arch: str = "ionnet"
    channels: tuple[int, ...] = (32, 64, 128, 256)
    blocks: int = 1
    stem_stride: int = 2
    in_chans: int = 1
    head_hidden: int = 128
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model settings {sorted(unknown)}")
        return cls(**d)


class _Block(nn.Module):
    """Residual basic block (two 3x3 convolutions), optionally strided."""

    def __init__(self, cin: int, cout: int, stride: int, dim: int) -> None:
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        norm = nn.BatchNorm2d if dim == 2 else nn.BatchNorm3d
        self.body = nn.Sequential(
            conv(cin, cout, 3, stride, 1, bias=False),
            norm(cout),
            nn.SiLU(inplace=True),
            conv(cout, cout, 3, 1, 1, bias=False),
            norm(cout),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(conv(cin, cout, 1, stride, bias=False), norm(cout))
        )
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


def _head(features: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(features, hidden),
        nn.SiLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, 1),
    )


class IonNet(nn.Module):
    """Compact residual CNN regressor; input (batch, in_chans, H, W[, D]) -> (batch,)."""

    def __init__(self, cfg: ModelConfig, dim: int = 2) -> None:
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        norm = nn.BatchNorm2d if dim == 2 else nn.BatchNorm3d
        c0 = cfg.channels[0]
        self.stem = nn.Sequential(
            conv(cfg.in_chans, c0, 3, cfg.stem_stride, 1, bias=False), norm(c0), nn.SiLU(True)
        )
        layers = []
        cin = c0
        for i, c in enumerate(cfg.channels):
            for j in range(cfg.blocks):
                layers.append(_Block(cin, c, 2 if (i > 0 and j == 0) else 1, dim))
                cin = c
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1) if dim == 2 else nn.AdaptiveAvgPool3d(1)
        self.head = _head(cin, cfg.head_hidden, cfg.dropout)
        self.num_features = cin

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x))).flatten(1)

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class TimmRegressor(nn.Module):
    """A timm backbone (classifier removed) with an MLP regression head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        try:
            import timm
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the timm architectures need `pip install timm`") from exc
        self.backbone = timm.create_model(
            cfg.arch, pretrained=False, in_chans=cfg.in_chans, num_classes=0
        )
        self.head = _head(self.backbone.num_features, cfg.head_hidden, cfg.dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def create_model(cfg: ModelConfig | None = None, *, dim: int = 2) -> nn.Module:
    """Build the network named by ``cfg.arch`` (``"ionnet"``, ``"ionnet3d"`` or a timm name)."""
    cfg = cfg or ModelConfig()
    if cfg.arch == "ionnet":
        return IonNet(cfg, dim=2)
    if cfg.arch == "ionnet3d":
        return IonNet(cfg, dim=3)
    return TimmRegressor(cfg)
