#!/usr/bin/env bash
# The second (last) GPU call of issue 12, after gpu_bench.sh: its ResNet-56 throughput section ran out of time
# compiling four settings, the ResNet-20 recipe took 19 s of training at batch 512 (host-bound), and linear lr
# scaling lost 4 points at batch 2048. This call: ResNet-56 in three settings, the time-to-accuracy recipe with
# CUDA graphs (compile mode reduce-overhead), and the large-batch check with square-root lr scaling.
#   OUT=/some/dir bash benchmarks/gpu_followup.sh      # needs data/cifar10-jpeg.tar.gz at the repo root
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/skiplab-gpu-followup}; PY=${PYTHON:-python3}; mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export TORCHINDUCTOR_CACHE_DIR=/tmp/skiplab-inductor-cache SKIPLAB_CACHE=/tmp/skiplab-cache
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
D=/tmp/cifar10-jpeg; mkdir -p $D && tar xzf data/cifar10-jpeg.tar.gz -C $D || exit 1
section() {
  local name=$1 limit=$2; shift 2; local t0=$SECONDS
  timeout --signal=INT --kill-after=10 "$limit" "$PY" -m skiplab bench "$@" --device cuda --out "$OUT/$name.json" \
    > "$OUT/$name.log" 2>&1
  echo "$name: exit $? after $((SECONDS - t0)) s" | tee -a "$OUT/sections.txt"
}
section throughput-resnet56 115 --models resnet56 --settings skiplab,eager-fp32,compiled-bf16 --batch 2048 \
  --eager-batch 512 --steps 20 --repeats 5 --warmup 3
section tta-20ep-cudagraphs 80 --time-to-accuracy --data imagefolder:$D --epochs 20 --compile-mode reduce-overhead
section large-batch-sqrt 75 --large-batch --data imagefolder:$D --epochs 15 --batch 512 --big-batch 2048 \
  --seeds 3 --no-compile --lr-rule sqrt
tail -n 3 "$OUT"/*.log | tee "$OUT/summary.txt"
