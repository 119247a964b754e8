#!/usr/bin/env bash
# The real CUDA build of fastgan, linked and loaded, on a machine without a GPU: torch's CUDA
# wheel (2.13.0+cu130, with its nvidia-* runtime wheels) in a venv of its own, a full
# `setup.py build_ext` with FASTGAN_CUDA=1 against the CUDA toolkit, then `import fastgan` with
# that library, checking that every op has a CUDA kernel registered (`fastgan info`).
#
#   FASTGAN_CUDA_VENV   the venv (default ~/.cache/fastgan/cuda-venv: kept between runs, about
#                       5 GB; created on first use from the package registry)
#   CUDA_HOME           the toolkit (default: the first of /usr/local/cuda, /usr/local/cuda-13.0
#                       with a real nvcc and libcudart; not the directory of an nvcc wrapper script)
#   TORCH_CUDA_ARCH_LIST, MAX_JOBS   as for setup.py (default 9.0, all cores)
#
# The build goes to build/cuda (objects in build/cuda/temp, incremental; the library in
# build/cuda/lib) and never touches the CPU build's fastgan/_C*.so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${FASTGAN_CUDA_VENV:-$HOME/.cache/fastgan/cuda-venv}
PY=$VENV/bin/python
TORCH_PIN=2.13.0
log() { echo "[cuda_build] $*" >&2; }

if [[ -z ${CUDA_HOME:-} ]]; then
  for dir in /usr/local/cuda /usr/local/cuda-13.0; do
    if [[ -x $dir/bin/nvcc && -e $dir/lib64/libcudart.so ]]; then CUDA_HOME=$dir; break; fi
  done
fi
[[ -n ${CUDA_HOME:-} && -e $CUDA_HOME/lib64/libcudart.so ]] || {
  log "no CUDA toolkit found (set CUDA_HOME to the directory holding bin/nvcc and lib64/libcudart.so)"
  exit 1
}
export CUDA_HOME

if ! "$PY" -c "import sys, torch, PIL; sys.exit(not (torch.__version__.startswith('$TORCH_PIN+') and torch.version.cuda))" 2>/dev/null; then
  log "installing torch==$TORCH_PIN with CUDA into $VENV (about 3 GB from the package registry)"
  python3 -m venv "$VENV"
  # --isolated: this machine's pip configuration points at the local CPU-only wheel.
  "$VENV/bin/pip" install --isolated --quiet --disable-pip-version-check \
    --index-url https://pypi.org/simple "torch==$TORCH_PIN" numpy pillow ninja "setuptools>=70.1"
fi
"$PY" -c "import torch; print('[cuda_build] torch', torch.__version__, 'CUDA', torch.version.cuda)"

OUT=$ROOT/build/cuda
start=$SECONDS
log "building with CUDA_HOME=$CUDA_HOME (objects in $OUT/temp)"
PATH=$VENV/bin:$PATH FASTGAN_CUDA=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} \
  MAX_JOBS=${MAX_JOBS:-$(nproc)} FASTGAN_BUILD_TEMP=$OUT/temp \
  "$PY" setup.py --quiet build_ext --build-lib "$OUT/lib"
log "build: $((SECONDS - start)) s"

# Load it: the Python package with the CUDA library in place of the CPU one.
rm -rf "$OUT/pkg" && mkdir -p "$OUT/pkg"
cp -r fastgan "$OUT/pkg/"
rm -f "$OUT"/pkg/fastgan/_C*.so
cp "$OUT"/lib/fastgan/_C*.so "$OUT/pkg/fastgan/"
cd "$OUT"
PYTHONPATH=$OUT/pkg "$PY" -m fastgan info
PYTHONPATH=$OUT/pkg "$PY" - <<'PYEOF'
import torch

from fastgan import _native
from fastgan.ops import OPS

info = _native.build_info()
assert info["loaded"] and info["with_cuda"], f"fastgan._C did not load with CUDA: {info}"
missing = [op for op in OPS if not _native.has_kernel(op, "cuda")]
assert not missing, f"ops without a CUDA kernel: {missing}"
cpu = [op for op in OPS if not _native.has_kernel(op, "cpu")]
assert not cpu, f"ops without a CPU kernel in the CUDA build: {cpu}"
print(f"[cuda_build] loaded {info['path']}: {len(OPS)} ops, each with CPU and CUDA kernels "
      f"(for {', '.join(info['cuda_archs'])}; torch {torch.__version__})")
PYEOF
