"""2D network candidates for speed: paper-protocol accuracy against ONNX Runtime cost.

    python benchmarks/candidates2d.py [MODEL.safetensors ...] [--int8]

Default models: the bundled 2D model and ``runs/ionnet2d-fast.safetensors`` (the patch-code
IonNet of ``benchmarks/train_families.sh``). For each: MAPE on the paper-protocol test set
(runs/paper.h5; one pass and 4-flip average) and milliseconds per 64x64 image for the network
alone (ONNX Runtime, batches of 512, best of 3), all in one run. ``--int8`` adds the bundled
model statically quantised to int8 (QDQ, per channel, calibrated on 512 validation images of
runs/wide.h5), scored on the same images with its raw network output.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402


def _ms_per_image(session, name: str, images: np.ndarray) -> float:
    session.run(None, {name: images})
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        session.run(None, {name: images})
        best = min(best, time.perf_counter() - t)
    return best / len(images) * 1e3


def main() -> int:
    import onnxruntime as ort

    from ionflow.dataset import load_split
    from ionflow.surrogate import OnnxRunner, Predictor, default_model_path, onnx_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--int8", action="store_true")
    args = ap.parse_args()
    models = [Path(m) for m in args.models] or [
        default_model_path(2),
        RUNS / "ionnet2d-fast.safetensors",
    ]
    data = load_split(RUNS / "paper.h5", "test")
    true = data.labels["relative_conductivity"]
    images = data.images.astype(bool)
    batch = np.concatenate([images] * 3)[:512]
    keep = true > 0
    print(
        f"Machine: {machine()}. Command: `python benchmarks/candidates2d.py "
        f"{' '.join(sys.argv[1:])}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n"
    )
    print("| model | paper MAPE %, one pass | with 4 flips | network ms per image |")
    print("| --- | --- | --- | --- |")
    for m in models:
        row = []
        for tta in (False, True):
            pred, _ = Predictor(m, tta=tta).predict_relative(images)
            row.append(np.mean(np.abs(pred[keep] - true[keep]) / true[keep]) * 100)
        runner = OnnxRunner(onnx_path(m), source=m)
        name = "code" if runner.codes else "image"
        feed = runner_input(runner, batch)
        print(
            f"| `{m.name}` | {row[0]:.2f} | {row[1]:.2f} | "
            f"{_ms_per_image(runner.session, name, feed):.3f} |"
        )
    if args.int8:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quant_pre_process,
            quantize_static,
        )

        src = onnx_path(default_model_path(2))
        val = load_split(RUNS / "wide.h5", "val").images.astype(bool)[:512]

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.it = iter({"image": val[i : i + 64]} for i in range(0, len(val), 64))

            def get_next(self):
                return next(self.it, None)

        with tempfile.TemporaryDirectory() as d:
            pre, q = Path(d) / "pre.onnx", Path(d) / "int8.onnx"
            quant_pre_process(str(src), str(pre))
            quantize_static(
                str(pre),
                str(q),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
            for label, path in (("float32 (raw network, every image)", src), ("int8", q)):
                s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                pred = np.exp(s.run(None, {"image": images})[0][0]) - 1e-3
                mape = np.mean(np.abs(pred[keep] - true[keep]) / true[keep]) * 100
                print(
                    f"| bundled 2D, {label} | {mape:.2f} | - | "
                    f"{_ms_per_image(s, 'image', batch):.3f} |"
                )
    return 0


def runner_input(runner, images: np.ndarray) -> np.ndarray:
    from ionflow.surrogate._runtime import patch_codes

    return patch_codes(images) if runner.codes else images


if __name__ == "__main__":
    sys.exit(main())
