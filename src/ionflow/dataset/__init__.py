"""Labelled datasets: generated microstructures + solver labels in one HDF5 file."""

from ._build import LABEL_KEYS, build_dataset, open_dataset, sample
from ._config import DatasetConfig, SolverConfig
from ._load import load_split

__all__ = [
    "DatasetConfig",
    "LABEL_KEYS",
    "SolverConfig",
    "build_dataset",
    "load_split",
    "open_dataset",
    "sample",
]
