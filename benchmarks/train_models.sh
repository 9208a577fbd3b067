#!/usr/bin/env bash
# Train every surrogate reported in BENCHMARKS.md (CPU, seeded). Run from the repository root:
#   bash benchmarks/train_models.sh            # all models, in order, logs in runs/
# Each step resumes if interrupted (rerun the script). Wall-clock budgets keep it ~1.5 h on 2 cores.
set -euo pipefail
IONFLOW=${IONFLOW:-.venv/bin/ionflow}
mkdir -p runs
# datasets: the paper's protocol (test set = the benchmark), and a larger, more varied training set
$IONFLOW dataset runs/paper.h5 --no-progress
$IONFLOW dataset runs/big.h5 --train 16000 --val 500 --test 175 --fraction-range 0.55 1.0 \
  --generators disks ellipses disks nonoverlapping --seed 1 --no-progress
# held-out generator (never in training): Gaussian-random-field blobs
$IONFLOW dataset runs/blobs.h5 --train 0 --val 0 --test 500 --generators blobs --seed 2 --no-progress
step() { local out=$1; shift; [ -f "$out" ] || "$@" --no-progress 2>&1 | tee "${out%.safetensors}.log"; }
# 1. the default (shipped) model: compact IonNet on the big set
step runs/ionnet-big.safetensors $IONFLOW train runs/big.h5 runs/ionnet-big.safetensors \
  --epochs 30 --patience 8 --max-minutes 40 --seed 0 --verbose-epochs
# 2. the same network on the paper-size training set (2500)
step runs/ionnet-paper.safetensors $IONFLOW train runs/paper.h5 runs/ionnet-paper.safetensors \
  --epochs 30 --patience 8 --max-minutes 10 --seed 0 --verbose-epochs
# 3. the paper's architecture, EfficientNetV2-S + MLP head, trained the same way (no pretrained
#    weights are available offline: from scratch)
step runs/effnetv2s-paper.safetensors $IONFLOW train runs/paper.h5 runs/effnetv2s-paper.safetensors \
  --arch efficientnetv2_s --lr 1e-3 --epochs 30 --patience 8 --max-minutes 12 --seed 0 --verbose-epochs
# 4. the paper's proposed improvement: one model per fraction class
step runs/ionnet-perclass-paper.safetensors $IONFLOW train runs/paper.h5 \
  runs/ionnet-perclass-paper.safetensors --per-class --epochs 30 --patience 8 --max-minutes 10 --seed 0 --verbose-epochs
