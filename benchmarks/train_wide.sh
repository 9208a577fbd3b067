#!/usr/bin/env bash
# Surrogates for the whole electrolyte-fraction range 0.3-1.0 (issue 5), CPU, seeded, resumable
# (rerun after an interruption). Run from the repository root:
#   bash benchmarks/train_wide.sh
# 3D: 64^3 volumes (spheres, ellipsoids, blobs) and the fast patch-code 3D IonNet.
# 2D: 64x64 images over 0.3-1.0, fine-tuned from the 0.55-1.0 model (runs/ionnet-big).
set -euo pipefail
IONFLOW=${IONFLOW:-.venv/bin/ionflow}
JOBS=${JOBS:-2}
mkdir -p runs
$IONFLOW dataset runs/vol64.h5 --shape 64 64 64 --train 3000 --val 250 --test 250 \
  --fraction-range 0.3 1.0 --generators disks ellipses blobs --radius 2 5 --seed 4 \
  --jobs "$JOBS" --no-progress
$IONFLOW dataset runs/wide.h5 --train 16000 --val 500 --test 1000 --fraction-range 0.3 1.0 \
  --generators disks ellipses disks nonoverlapping --seed 5 --jobs "$JOBS" --no-progress
[ "${DATA_ONLY:-0}" = 1 ] && exit 0
step() { local out=$1; shift; [ -f "$out" ] || "$@" --no-progress 2>&1 | tee "${out%.safetensors}.log"; }
