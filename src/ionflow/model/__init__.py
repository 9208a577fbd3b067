"""Training the CNN surrogate: networks, training, evaluation, ONNX export, calibration.

The only part of ionflow that imports torch. Prediction lives in :mod:`ionflow.surrogate`
(ONNX Runtime, no torch); ``Predictor`` and ``default_model_path`` are re-exported here.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ionflow.model (training) needs PyTorch: pip install 'ionflow[ml]' "
        "(prediction does not: ionflow.surrogate)"
    ) from exc

from ..surrogate import Predictor, default_model_path
from ._calibrate import calibrate_intervals, calibrate_ood
from ._checkpoint import Bundle, Member, from_target, load_bundle, save_bundle, to_target
from ._evaluate import evaluate
from ._export import export_onnx
from ._nets import ModelConfig, create_model
from ._train import TrainConfig, train

__all__ = [
    "calibrate_intervals",
    "calibrate_ood",
    "Bundle",
    "Member",
    "ModelConfig",
    "Predictor",
    "TrainConfig",
    "create_model",
    "default_model_path",
    "evaluate",
    "export_onnx",
    "from_target",
    "load_bundle",
    "save_bundle",
    "to_target",
    "train",
]
