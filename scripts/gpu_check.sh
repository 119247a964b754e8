#!/usr/bin/env bash
# Everything to run on the GPU machine in one call (device time is scarce): build with the CUDA
# kernels, the whole test suite (CUDA tests included), and the CUDA benchmarks. Logs, JSON and the
# Markdown table go to $OUT (the device tool brings that folder back).
#   device run:  bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/fastgan-gpu}
mkdir -p "$OUT"
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16} PYTHONUNBUFFERED=1
status=0

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
start=$SECONDS
scripts/dev.sh setup 2>&1 | tee "$OUT/build.log" || status=1
echo "build: $((SECONDS - start)) s" | tee -a "$OUT/build.log"
scripts/dev.sh run fastgan info 2>&1 | tee "$OUT/info.txt"

# CUDA tests first (they are what only this machine can run), then everything else.
scripts/dev.sh test -q -m cuda -rs 2>&1 | tee "$OUT/tests-cuda.log" | tail -n 25 || status=1
scripts/dev.sh test -q -m "not cuda" -x 2>&1 | tee "$OUT/tests-rest.log" | tail -n 5 || status=1

scripts/dev.sh run fastgan bench bias_act --device cuda --runs 100 \
  --json "$OUT/bench-cuda.json" --markdown "$OUT/bench-cuda.md" 2>&1 | tee "$OUT/bench.log" || status=1
exit $status
