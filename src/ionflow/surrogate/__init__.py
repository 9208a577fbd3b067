"""The CNN surrogate at prediction time, without torch.

:class:`Predictor` runs a trained model's networks from its ONNX export (ONNX Runtime), adds
what physics answers exactly (blocked images: 0; all-electrolyte images: 1), predicts images
larger than the training size block by block, and reports a calibrated interval and an
out-of-distribution flag (:class:`PredictionResult`). Training, export and calibration live in
:mod:`ionflow.model` (torch).
"""

from ._batch import PredictOutcome, predict_files
from ._conformal import descriptors, fit_conformal, interval
from ._features import (
    bottleneck,
    bottleneck_envelope,
    feature_distance,
    interface_density,
    morphology_stats,
    ood_reasons,
)
from ._meta import ModelInfo, default_model_path, from_target, read_model_info, to_target
from ._predictor import PredictionResult, Predictor, percolating_fractions
from ._runtime import OnnxRunner, onnx_path
from ._tiles import block_grid, coarse_relative_conductivity, cut_blocks

__all__ = [
    "ModelInfo",
    "OnnxRunner",
    "PredictOutcome",
    "PredictionResult",
    "Predictor",
    "block_grid",
    "bottleneck",
    "bottleneck_envelope",
    "coarse_relative_conductivity",
    "cut_blocks",
    "default_model_path",
    "descriptors",
    "feature_distance",
    "from_target",
    "fit_conformal",
    "interface_density",
    "interval",
    "morphology_stats",
    "onnx_path",
    "ood_reasons",
    "percolating_fractions",
    "predict_files",
    "read_model_info",
    "to_target",
]
