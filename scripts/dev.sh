#!/usr/bin/env bash
# One command on a fresh machine: creates .venv, installs what is missing (torch==2.13.0 from the
# local CPU wheel when no torch is present; never resolved from the registry), builds fastgan._C
# with `pip install --no-build-isolation -e .` when its sources changed, then runs what you ask.
#
#   scripts/dev.sh test [PYTEST ARGS]   build, then run the test suite
#   scripts/dev.sh run CMD [ARGS]       build, then run CMD in .venv (e.g. fastgan bench bias_act)
#   scripts/dev.sh lint                 ruff over the Python code
#   scripts/dev.sh setup                build only
#
# Idempotent: a second run installs nothing and rebuilds nothing that did not change. Works
# offline where torch, numpy and pytest are already installed (the GPU machine).
# Environment: PYTHON (base interpreter, default python3), FASTGAN_CUDA, TORCH_CUDA_ARCH_LIST,
# MAX_JOBS (see setup.py).
#
# FASTGAN_CUDA_EMU=1|tsan|asan: also builds that emulated CUDA library (scripts/build_cuda_emu.py)
# and runs with it, so the ops run the CUDA kernels' code on CPU tensors; tsan and asan run under
# LD_PRELOAD of the sanitizer's runtime (README: Testing the CUDA kernels without a GPU), e.g.
#   FASTGAN_CUDA_EMU=1 scripts/dev.sh test tests/ops tests/nn
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=$VENV/bin/python
TORCH_PIN=torch==2.13.0

log() { echo "[fastgan] $*" >&2; }

create_venv() {
  [[ -x $PY ]] && return
  local base=${PYTHON:-python3} options=(--system-site-packages)
  log "creating .venv with $($base --version 2>&1)"
  # When the base interpreter is itself a virtual environment (as on the GPU machine, whose torch
  # lives in one), --system-site-packages would skip its packages: they are added below, and its
  # pip and setuptools serve (a bundled older setuptools would shadow them).
  if "$base" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
    options+=(--without-pip)
  fi
  "$base" -m venv "${options[@]}" "$VENV"
  local site
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$base" -c '
import site, sys
if sys.prefix != sys.base_prefix:
    print("import site; " + "; ".join(f"site.addsitedir({p!r})" for p in site.getsitepackages()))
' > "$site/_fastgan_base_env.pth"
}

install_missing() {
  # One interpreter start: find_spec looks modules up without importing them (torch is slow to
  # import). An editable build needs setuptools >= 70.1, or an older one with the wheel package.
  local missing=()
  mapfile -t missing < <("$PY" - "$TORCH_PIN" numpy:numpy pytest:pytest \
      pytest_benchmark:pytest-benchmark "$@" <<'EOF'
import importlib.util, sys
torch_pin, pairs = sys.argv[1], [a.split(":") for a in sys.argv[2:]]
missing = [] if importlib.util.find_spec("torch") else [torch_pin]
missing += [package for module, package in pairs if not importlib.util.find_spec(module)]
try:
    import setuptools
    if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (70, 1):
        import wheel  # noqa: F401
except ImportError:
    missing.append("setuptools>=70.1")
print("\n".join(missing))
EOF
  )
  ninja_on_path || missing+=(ninja)
  if [[ ${#missing[@]} -gt 0 && -n ${missing[0]} ]]; then
    log "installing ${missing[*]}"
    "$PY" -m pip install --quiet "${missing[@]}"
  fi
  # Pillow (images, sample grids), SciPy (a metrics test) and matplotlib (`fastgan bench plot`)
  # where a package index is reachable; offline (the GPU machine), without them, the tests that
  # need them are skipped.
  local optional
  optional=$("$PY" -c 'import importlib.util as u; print(" ".join(p for m, p in
      (("PIL", "pillow"), ("scipy", "scipy"), ("matplotlib", "matplotlib"))
      if not u.find_spec(m)))')
  if [[ -n $optional ]]; then
    log "installing $optional"
    # shellcheck disable=SC2086
    "$PY" -m pip install --quiet $optional || log "could not install $optional; continuing without"
  fi
}

# torch's extension builder runs `ninja`: use the system one, the venv's, or the pip package's.
ninja_on_path() {
  export PATH=$VENV/bin:$PATH
  command -v ninja >/dev/null && return
  local bin
  bin=$("$PY" -c 'import ninja; print(ninja.BIN_DIR)' 2>/dev/null) || return 1
  export PATH=$bin:$PATH
}

# A hash of everything the compiled library depends on: sources, build script, torch, settings.
build_key() {
  "$PY" - <<'EOF'
import hashlib, importlib.metadata, os, pathlib, sys
h = hashlib.sha256()
files = sorted(p for p in pathlib.Path("csrc").rglob("*") if p.is_file())
for p in [pathlib.Path("setup.py"), pathlib.Path("pyproject.toml"), *files]:
    h.update(str(p).encode() + b"\0" + p.read_bytes() + b"\0")
for var in ("FASTGAN_CUDA", "TORCH_CUDA_ARCH_LIST"):
    h.update(f"{var}={os.environ.get(var, '')}".encode())
h.update(f"{importlib.metadata.version('torch')} {sys.version}".encode())
print(h.hexdigest())
EOF
}

build() {
  local stamp=$VENV/.fastgan-build key
  key=$(build_key)
  if [[ -f $stamp && $(cat "$stamp") == "$key" ]] && compgen -G "fastgan/_C*.so" >/dev/null; then
    return
  fi
  log "building fastgan._C (pip install --no-build-isolation -e .)"
  ninja_on_path
  rm -f "$stamp"
  "$PY" -m pip install --quiet --no-build-isolation --no-deps -e "$ROOT"
  FASTGAN_CUDA_EMU=0 "$PY" -c 'import fastgan._C' || { log "fastgan._C was built but does not import"; exit 1; }
  echo "$key" > "$stamp"
}

# The emulated CUDA build FASTGAN_CUDA_EMU asks for, and the sanitizer runtime it runs under.
emulation() {
  local emu=${FASTGAN_CUDA_EMU:-0} variant
  case $emu in
    0|"") return ;;
    1|plain) variant=plain ;;
    tsan|asan) variant=$emu ;;
    *) log "FASTGAN_CUDA_EMU must be 0, 1, plain, tsan or asan, got '$emu'"; exit 2 ;;
  esac
  ninja_on_path
  "$PY" scripts/build_cuda_emu.py "$variant" >&2 || { log "emulated CUDA build failed"; exit 1; }
  if [[ $variant != plain ]]; then
    local runtime
    runtime=$(${CXX:-g++} -print-file-name="lib$variant.so")
    export LD_PRELOAD=$runtime${LD_PRELOAD:+:$LD_PRELOAD}
    # Torch's own threads are not instrumented: keep them out of the picture.
    export OMP_NUM_THREADS=1
    export TSAN_OPTIONS=${TSAN_OPTIONS:-"halt_on_error=1 exitcode=66"}
    export ASAN_OPTIONS=${ASAN_OPTIONS:-"detect_leaks=0"}
  fi
}

setup() {
  create_venv
  install_missing
  build
  emulation
}

command=${1:-test}
shift || true
case $command in
  setup) setup ;;
  test)
    setup
    exec "$PY" -m pytest "$@"
    ;;
  run)
    setup
    [[ $# -gt 0 ]] || { log "usage: scripts/dev.sh run CMD [ARGS]"; exit 2; }
    PATH=$VENV/bin:$PATH exec "$@"
    ;;
  lint)
    create_venv
    install_missing ruff:ruff
    exec "$PY" -m ruff check fastgan tests benchmarks setup.py scripts
    ;;
  *)
    log "unknown command '$command'; expected setup, test, run or lint"
    exit 2
    ;;
esac
