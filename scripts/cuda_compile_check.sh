#!/usr/bin/env bash
# Compile-checks every .cu under csrc/ with `nvcc -c` for sm_90 against the installed torch
# headers, with the flags torch's CUDAExtension uses. Needs no GPU; fails if any file fails.
#   PYTHON   the interpreter whose torch headers to use (default: .venv/bin/python)
#   NVCC     the compiler (default: nvcc on PATH, else $CUDA_HOME/bin/nvcc)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
NVCC=${NVCC:-$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")}
[[ -x $NVCC ]] || { echo "cuda_compile_check: nvcc not found (set NVCC or CUDA_HOME)" >&2; exit 1; }

read -r -a includes < <("$PYTHON" -c "
from torch.utils.cpp_extension import include_paths
print(' '.join('-I' + p for p in include_paths()))")
read -r -a torch_flags < <("$PYTHON" -c "
import torch
from torch.utils.cpp_extension import COMMON_NVCC_FLAGS
print(' '.join(COMMON_NVCC_FLAGS + ['-D_GLIBCXX_USE_CXX11_ABI=%d' % torch._C._GLIBCXX_USE_CXX11_ABI]))")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A CPU-only torch wheel lacks this generated header (DESIGN.md, Building); supply it.
mkdir -p "$work/include/c10/cuda/impl"
echo '#define C10_CUDA_BUILD_SHARED_LIBS' > "$work/include/c10/cuda/impl/cuda_cmake_macros.h"

mapfile -t sources < <(find csrc -name '*.cu' | sort)
[[ ${#sources[@]} -gt 0 ]] || { echo "cuda_compile_check: no .cu files under csrc/" >&2; exit 1; }
failed=0
for src in "${sources[@]}"; do
  start=$SECONDS
  if "$NVCC" -c "$src" -o "$work/$(basename "$src").o" -std=c++20 -O3 \
      -gencode=arch=compute_90,code=sm_90 --compiler-options=-fPIC \
      "${includes[@]}" -I"$work/include" "${torch_flags[@]}" \
      -DFASTGAN_WITH_CUDA -DTORCH_EXTENSION_NAME=_C -DTORCH_API_INCLUDE_EXTENSION_H \
      -Xptxas=-warn-spills 2> "$work/log"; then
    echo "ok    $src ($((SECONDS - start)) s)"
    grep -i "warning" "$work/log" || true
  else
    echo "FAIL  $src"
    cat "$work/log"
    failed=1
  fi
done
exit $failed
