#!/usr/bin/env bash
# The prepared GPU run of issue 22: the `cifar` scale of the nine claims that read the depth ladder on the JPEG
# CIFAR-10, then population training's throughput (N = 8 ResNet-20 seeds together vs one after another), in that
# order of priority. Runs from the source tree with the machine's own Python and PyTorch (no install, no network):
#
#   OUT=/some/dir bash benchmarks/gpu_cifar.sh              # needs data/cifar10-jpeg.tar.gz at the repo root
#   DRY_RUN=1 OUT=/tmp/dry bash benchmarks/gpu_cifar.sh     # CPU logic check: tiny fake image folder, 2 steps
#
# Fails fast: no CUDA device, no archive, or a --plan that cannot resolve the runs stops it before anything trains.
# Each section has its own timeout and leaves its files in $OUT as soon as it ends (at most 8 files come back from a
# device call): plan.txt (the runs and estimated time, before training), cifar.log, cifar.tar.gz (results.json,
# report.md and figures of results/cifar), population.json/.txt, gpu.txt, sections.txt. Each configuration's 6
# seeds train together (population training, recorders included); the cifar recipe was sized from the recorded
# H200 throughput for ~8 minutes and is unmeasured here: a cut run resumes from its last epoch on the next call
# (the same WORK folder), and the plan says how far it is.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/skiplab-gpu-cifar}
WORK=${WORK:-/tmp/skiplab-cifar-work}
DRY_RUN=${DRY_RUN:-0}
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export SKIPLAB_CACHE=${SKIPLAB_CACHE:-/tmp/skiplab-cache}  # the decoded image arrays
DATA_DIR=/tmp/cifar10-jpeg
CLAIMS=(degradation degradation-cause vanishing-gradients jacobian-near-identity boosting unrolled-ensemble
        path-lengths residual-aligns-with-error euler-discretization)

if [ "$DRY_RUN" = 1 ]; then
  EXTRA=(--steps 2 --seeds 2 --workers 1 --set "depths=[8,14,20]" --set jacobian_depth=8 --set train.batch_size=16
         --set probe_examples=16); T_CIFAR=900
  POP=(--device cpu --steps 1 --repeats 1 --warmup 1 --n 2)
  T_POP=300
  rm -rf "$DATA_DIR"; "$PY" benchmarks/fake_image_folder.py "$DATA_DIR" || exit 1
else
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script is for a GPU machine (DRY_RUN=1 for a CPU logic check)')" || exit 1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
  [ -f data/cifar10-jpeg.tar.gz ] || { echo "data/cifar10-jpeg.tar.gz is missing (carry it)"; exit 1; }
  [ -d "$DATA_DIR/train" ] || { mkdir -p "$DATA_DIR" && tar xzf data/cifar10-jpeg.tar.gz -C "$DATA_DIR"; } || exit 1
  # one process on the GPU (workers 1): runs that record nothing would train together as populations there
  EXTRA=(--workers 1); T_CIFAR=${T_CIFAR:-420}; POP=(--device cuda --compile --steps 20 --repeats 5 --warmup 5)
  T_POP=120
fi
COMMON=("${CLAIMS[@]}" --scale cifar --data "imagefolder:$DATA_DIR" --out "$WORK" "${EXTRA[@]}")

section() {  # name, seconds, command...: run with a timeout, note how it ended
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@"; local rc=$?
  echo "$name: exit $rc after $((SECONDS - t0)) s" | tee -a "$OUT/sections.txt"
  return $rc
}

# 1. the plan: what the cifar scale trains and how long it should take here, before anything trains (fails fast)
section plan 300 "$PY" -m skiplab reproduce "${COMMON[@]}" --plan > "$OUT/plan.txt" 2>&1 || { cat "$OUT/plan.txt"; exit 1; }
# 2. the cifar scale itself; its report, results and figures in one archive
section cifar "$T_CIFAR" "$PY" -m skiplab reproduce "${COMMON[@]}" > "$OUT/cifar.log" 2>&1
[ -f "$WORK/cifar/results.json" ] && tar czf "$OUT/cifar.tar.gz" -C "$WORK" cifar
# 3. population training: N ResNet-20 seeds together vs one after another (goal >= 3x on an H100)
section population "$T_POP" "$PY" benchmarks/population.py "${POP[@]}" --json "$OUT/population.json" \
  > "$OUT/population.txt" 2>&1
tail -n 3 "$OUT/cifar.log" "$OUT/population.txt" 2>/dev/null
exit 0
