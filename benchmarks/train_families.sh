#!/usr/bin/env bash
# The surrogate issue's models (CPU, seeded, resumable: rerun after an interruption). From the
# repository root:
#   bash benchmarks/train_families.sh
# 1. 3D data over ten generator families (64^3, electrolyte fraction 0.3-1.0); 2D test data of
#    the seven new families; the paper-protocol set (its test split is the 2D benchmark).
# 2. Leave-one-family-out: for each of six new families, the previous 3D model fine-tuned on the
#    other nine families (runs/lofo-<family>.safetensors).
# 3. The final 3D model: the same fine-tuning on all ten families (runs/ionnet3d-fam, 12 min),
#    continued at half the learning rate for 20 minutes on two threads (runs/ionnet3d-fam2: the
#    bundled model; `surrogate_families.py calibrate` installs it).
# 4. The fast 2D model: the patch-code IonNet (2x2 pattern lookup, stride 4 before the residual
#    stages) trained on 64x64 disks/ellipses over 0.3-1.0 (runs/ionnet2d-fast).
# Then `python benchmarks/surrogate_families.py calibrate` stores the interval calibrations and
# `... report` prints the tables of BENCHMARKS.md.
set -euo pipefail
IONFLOW=${IONFLOW:-.venv/bin/ionflow}
JOBS=${JOBS:-2}
MINUTES=${MINUTES:-7}
mkdir -p runs
FAMILIES="disks ellipses blobs lognormal anisotropic fibres agglomerates binder grf fitted"
HELD_OUT="lognormal anisotropic fibres agglomerates binder grf"
[ -f runs/fam3d.h5 ] && [ ! -f runs/fam3d.h5.partial ] || $IONFLOW dataset runs/fam3d.h5 \
  --shape 64 64 64 --train 3400 --val 400 --test 400 --fraction-range 0.3 1.0 \
  --generators $FAMILIES --radius 2 5 --seed 9 --jobs "$JOBS" --no-progress
$IONFLOW dataset runs/fam2d.h5 --shape 64 64 --train 0 --val 0 --test 1400 \
  --fraction-range 0.3 1.0 --generators lognormal anisotropic fibres agglomerates binder grf fitted \
  --seed 11 --jobs "$JOBS" --no-progress
$IONFLOW dataset runs/paper.h5 --no-progress
$IONFLOW dataset runs/wide.h5 --train 16000 --val 500 --test 1000 --fraction-range 0.3 1.0 \
  --generators disks ellipses disks --seed 5 --jobs "$JOBS" --no-progress
[ "${DATA_ONLY:-0}" = 1 ] && exit 0
# the starting point of every 3D fine-tuning: the 3D model bundled before this work
# (git c19ac1f: spheres/ellipsoids/blobs only)
[ -f runs/ionnet3d-base.safetensors ] || git show c19ac1f:src/ionflow/data/models/ionflow-3d.safetensors > runs/ionnet3d-base.safetensors
step() { local out=$1; shift; [ -f "$out" ] || "$@" --no-progress 2>&1 | tee "${out%.safetensors}.log"; }
finetune() {  # out, minutes, extra options
  local out=$1 minutes=$2; shift 2
  step "$out" $IONFLOW train runs/fam3d.h5 "$out" --pretrained runs/ionnet3d-base.safetensors \
    --stem patch --stem-channels 16 24 32 --channels 32 64 128 --batch-size 32 --lr 1e-3 \
    --warmup-epochs 0.5 --epochs 30 --patience 30 --max-minutes "$minutes" --threads 1 --seed 0 \
    --verbose-epochs "$@"
}
( for fam in $HELD_OUT; do finetune "runs/lofo-$fam.safetensors" "$MINUTES" --exclude-generators "$fam"; done ) &
( step runs/ionnet2d-fast.safetensors $IONFLOW train runs/wide.h5 runs/ionnet2d-fast.safetensors \
    --stem patch --stem-channels 16 32 --channels 32 64 128 256 --epochs 40 --patience 40 \
    --max-minutes 45 --threads 1 --seed 0 --verbose-epochs
  finetune runs/ionnet3d-fam.safetensors 12 ) &
wait
step runs/ionnet3d-fam2.safetensors $IONFLOW train runs/fam3d.h5 runs/ionnet3d-fam2.safetensors \
  --pretrained runs/ionnet3d-fam.safetensors --stem patch --stem-channels 16 24 32 \
  --channels 32 64 128 --batch-size 32 --lr 5e-4 --warmup-epochs 0.2 --epochs 30 --patience 30 \
  --max-minutes 20 --threads 2 --seed 1 --verbose-epochs
