#!/usr/bin/env bash
# Surrogates for the whole electrolyte-fraction range 0.3-1.0 (issue 5), CPU, seeded, resumable
# (rerun after an interruption). Run from the repository root:
#   bash benchmarks/train_wide.sh
# 3D: 64^3 volumes (spheres, ellipsoids, blobs) and the fast patch-code 3D IonNet.
# 2D: 64x64 images over 0.3-1.0 (non-overlapping particles cannot reach 0.3: overlapping disks and
# ellipses only), fine-tuned from the 0.55-1.0 model (runs/ionnet-big).
set -euo pipefail
IONFLOW=${IONFLOW:-.venv/bin/ionflow}
JOBS=${JOBS:-2}
mkdir -p runs
$IONFLOW dataset runs/vol64.h5 --shape 64 64 64 --train 2000 --val 200 --test 200 \
  --fraction-range 0.3 1.0 --generators disks ellipses blobs --radius 2 5 --seed 4 \
  --jobs "$JOBS" --no-progress
$IONFLOW dataset runs/wide.h5 --train 16000 --val 500 --test 1000 --fraction-range 0.3 1.0 \
  --generators disks ellipses disks --seed 5 --jobs "$JOBS" --no-progress
[ "${DATA_ONLY:-0}" = 1 ] && exit 0
step() { local out=$1; shift; [ -f "$out" ] || "$@" --no-progress 2>&1 | tee "${out%.safetensors}.log"; }
# The two trainings run side by side, one torch thread each (two 1-thread jobs use 2 cores
# better than one 2-thread job here), with wall-clock budgets.
# 3D: the fast patch-code IonNet (2x2x2 block lookup, stride 8 before the residual stages)
step runs/ionnet3d-fast.safetensors $IONFLOW train runs/vol64.h5 runs/ionnet3d-fast.safetensors \
  --stem patch --stem-channels 16 24 32 --channels 32 64 128 --batch-size 32 --epochs 80 \
  --patience 80 --max-minutes "${MINUTES:-40}" --threads 1 --seed 0 --verbose-epochs &
# 2D: the default model (0.55-1.0) fine-tuned on 0.3-1.0
step runs/ionnet-wide.safetensors $IONFLOW train runs/wide.h5 runs/ionnet-wide.safetensors \
  --pretrained runs/ionnet-big.safetensors --lr 1e-3 --warmup-epochs 0.5 --epochs 30 \
  --patience 30 --max-minutes "${MINUTES:-40}" --threads 1 --seed 0 --verbose-epochs &
wait
# (A further 20 epochs at learning rate 5e-4 from the 3D model did not lower its validation MAPE,
# 2.45 % against 2.33 %, so the bundled 3D model is runs/ionnet3d-fast.safetensors as trained.)
