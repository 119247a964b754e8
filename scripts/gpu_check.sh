#!/usr/bin/env bash
# What to run on the GPU machine (device time is scarce): build with the CUDA kernels, the whole
# test suite (CUDA tests included), and the CUDA benchmarks. Logs, JSON and the Markdown table go
# to $OUT (the device tool brings that folder back).
#
#   bash scripts/gpu_check.sh          build, CUDA tests, benchmarks and profile, in one call
#   bash scripts/gpu_check.sh test     build + CUDA tests   } two calls, when one would run past
#   bash scripts/gpu_check.sh bench    build + benchmarks   } the 10-minute limit of a call
#   bash scripts/gpu_check.sh rest     build + the CPU tests (CI runs them; here only on demand)
#
# The build is kept between calls while the machine stays warm (dev.sh rebuilds nothing then).
set -uo pipefail
cd "$(dirname "$0")/.."
stage=${1:-all}
OUT=${OUT:-/tmp/fastgan-gpu}
mkdir -p "$OUT"
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16} PYTHONUNBUFFERED=1
status=0

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
start=$SECONDS
scripts/dev.sh setup 2>&1 | tee "$OUT/build-$stage.log" || exit 1
echo "build: $((SECONDS - start)) s" | tee -a "$OUT/build-$stage.log"
scripts/dev.sh run fastgan info 2>&1 | tee "$OUT/info.txt"

if [[ $stage == all || $stage == test ]]; then
  # The CUDA tests: what only this machine can run.
  scripts/dev.sh test -q -m cuda -rs 2>&1 | tee "$OUT/tests-cuda.log" | tail -n 25 || status=1
fi
if [[ $stage == rest ]]; then
  scripts/dev.sh test -q -m "not cuda" 2>&1 | tee "$OUT/tests-rest.log" | tail -n 5 || status=1
fi
if [[ $stage == all || $stage == bench ]]; then
  # The whole table (every op at 4x4 to 1024x1024, float32 and bfloat16, and training at 64 to
  # 256): `fastgan bench plot bench-cuda.json` draws it back on the development machine.
  start=$SECONDS
  scripts/dev.sh run fastgan bench all --device cuda --runs 100 \
    --json "$OUT/bench-cuda.json" --markdown "$OUT/bench-cuda.md" 2>&1 \
    | tee "$OUT/bench.log" || status=1
  echo "bench all: $((SECONDS - start)) s" | tee -a "$OUT/bench.log"
  scripts/dev.sh run fastgan profile --device cuda --cfg paper256 --steps 16 \
    --out "$OUT/profile" 2>&1 | tee "$OUT/profile.log" || status=1
fi
exit $status
