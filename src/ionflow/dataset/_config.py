"""Dataset configuration: saved inside every dataset file, so every label can be traced."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError

__all__ = ["DatasetConfig", "SolverConfig"]


@dataclass(frozen=True)
class SolverConfig:
    """Physics used to label the images (the paper's defaults)."""

    axis: int = 0
    voltage: float = 1.0
    conductivity: float = 1.0
    matrix_conductivity: float = 0.0


@dataclass(frozen=True)
class DatasetConfig:
    """How a dataset is generated.

    The paper's protocol is the default: 64x64 overlapping disks, electrolyte-fraction classes
    0.6, 0.7, 0.8, 0.9, 1.0 (balanced, in class order within each split), 2500 / 175 / 175.

    Attributes
    ----------
    shape : tuple of int
        Image shape (2D or 3D).
    fractions : tuple of float
        Electrolyte-fraction classes; image i of a split gets class ``i * len // n``.
    fraction_range : tuple of float, optional
        If set, fractions are drawn uniformly from this range instead of the classes.
    generators : tuple of str
        Generator names (``ionflow.generate.GENERATORS``), cycled over the images.
    radius : tuple of float
        Particle radius range in cells (particle generators).
    splits : tuple of (name, count)
        Image counts per split, each >= 0, at least one image in all.
    seed : int
        Image i is generated from ``numpy.random.default_rng([seed, i])``.
    """

    shape: tuple[int, ...] = (64, 64)
    fractions: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 1.0)
    fraction_range: tuple[float, float] | None = None
    generators: tuple[str, ...] = ("disks",)
    radius: tuple[float, float] = (2.0, 7.0)
    splits: tuple[tuple[str, int], ...] = (("train", 2500), ("val", 175), ("test", 175))
    seed: int = 0
    solver: SolverConfig = field(default_factory=SolverConfig)

    def __post_init__(self) -> None:
        """Refuse, before anything is made, a configuration no dataset can be built from."""
        from ..generate._common import check_fraction, check_shape
        from ..generate._particles import check_radius

        for name, count in self.splits:
            if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
                raise InputError(
                    f"split {name!r} must have a whole number of images >= 0, got {count}"
                )
        if len({name for name, _ in self.splits}) != len(self.splits):
            raise InputError(f"split names must differ, got {[n for n, _ in self.splits]}")
        if self.size < 1:
            raise InputError("a dataset needs at least one image (every split has 0)")
        check_shape(self.shape, memory=False)  # a file made elsewhere still loads here
        check_radius(self.radius)
        if not self.fractions:
            raise InputError("give at least one electrolyte fraction")
        for f in self.fractions:
            check_fraction(f)
        if self.fraction_range is not None:
            lo, hi = self.fraction_range
            if not (0.0 <= lo <= hi <= 1.0):
                raise InputError(
                    f"fraction range must satisfy 0 <= lo <= hi <= 1, got {list(self.fraction_range)}"
                )

    @property
    def size(self) -> int:
        return sum(n for _, n in self.splits)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DatasetConfig:
        d = json.loads(text)
        d["shape"] = tuple(d["shape"])
        d["fractions"] = tuple(d["fractions"])
        d["fraction_range"] = tuple(d["fraction_range"]) if d.get("fraction_range") else None
        d["generators"] = tuple(d["generators"])
        d["radius"] = tuple(d["radius"])
        d["splits"] = tuple((str(a), int(b)) for a, b in d["splits"])
        d["solver"] = SolverConfig(**d["solver"])
        return cls(**d)
