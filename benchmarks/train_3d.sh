#!/usr/bin/env bash
# The 3D surrogate: dataset of 32^3 volumes (spheres, ellipsoids, blobs; electrolyte fraction
# 0.35-1.0) labelled by the multigrid solver, then a compact 3D IonNet. Run from the repo root:
#   bash benchmarks/train_3d.sh          (resumable: rerun after an interruption)
set -euo pipefail
IONFLOW=${IONFLOW:-.venv/bin/ionflow}
JOBS=${JOBS:-1}
mkdir -p runs
$IONFLOW dataset runs/vol32.h5 --shape 32 32 32 --train 3000 --val 200 --test 200 \
  --fraction-range 0.35 1.0 --generators disks ellipses blobs --radius 2 5 --seed 3 \
  --jobs "$JOBS" --no-progress
[ -f runs/ionnet3d.safetensors ] || $IONFLOW train runs/vol32.h5 runs/ionnet3d.safetensors \
  --channels 16 32 64 128 --epochs 40 --patience 40 --max-minutes "${MINUTES:-16}" --seed 0 \
  --verbose-epochs --no-progress 2>&1 | tee runs/ionnet3d.log
