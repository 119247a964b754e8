"""Loads the compiled library `fastgan._C` and tells which ops have native kernels per device.

With FASTGAN_CUDA_EMU set, it loads an emulated CUDA build instead (scripts/build_cuda_emu.py):
the CUDA kernels' own code compiled for the CPU, registered as the CPU kernels, so that every op
called on CPU tensors runs the CUDA code. FASTGAN_CUDA_EMU=1 (or plain) loads the plain build,
tsan / asan the sanitizer builds (run under LD_PRELOAD of their runtime: scripts/cuda_emu.sh).
"""

from __future__ import annotations

import importlib
import os

import torch

# FASTGAN_CUDA_EMU value -> the module built by scripts/build_cuda_emu.py.
EMULATED_MODULES = {
    "1": "_C_cuda_emu",
    "plain": "_C_cuda_emu",
    "tsan": "_C_cuda_emu_tsan",
    "asan": "_C_cuda_emu_asan",
}


def _module_name() -> str:
    emu = os.environ.get("FASTGAN_CUDA_EMU", "")
    if emu in ("", "0"):
        return "_C"
    if emu not in EMULATED_MODULES:
        raise ValueError(
            f"FASTGAN_CUDA_EMU: expected one of 0, {', '.join(EMULATED_MODULES)}, got {emu!r}"
        )
    return EMULATED_MODULES[emu]


MODULE = _module_name()
try:
    _C = importlib.import_module(f"fastgan.{MODULE}")
except ImportError as error:
    if MODULE != "_C":
        # Asked for the emulated CUDA kernels: running the CPU kernels instead would make every
        # test pass for the wrong reason.
        raise ImportError(
            f"FASTGAN_CUDA_EMU={os.environ['FASTGAN_CUDA_EMU']} but fastgan.{MODULE} does not "
            f"load ({error}); build it with `python scripts/build_cuda_emu.py`"
        ) from error
    _C = None  # not built: every op runs its pure-PyTorch reference
    LOAD_ERROR: str | None = f"{type(error).__name__}: {error}"
else:
    LOAD_ERROR = None

# torch device type -> dispatch key of the kernels registered with TORCH_LIBRARY_IMPL.
_DISPATCH_KEYS = {"cpu": "CPU", "cuda": "CUDA"}


def loaded() -> bool:
    """Whether fastgan._C was built and imported (its operators are registered)."""
    return _C is not None


def has_kernel(op: str, device_type: str) -> bool:
    """Whether `fastgan::<op>` has a native kernel for `device_type` ('cpu' or 'cuda')."""
    key = _DISPATCH_KEYS.get(device_type)
    if _C is None or key is None:
        return False
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"fastgan::{op}", key)


def build_info() -> dict[str, object]:
    """How fastgan._C was built: with CUDA or not, for which architectures, against which torch."""
    if _C is None:
        return {"loaded": False, "error": LOAD_ERROR}
    archs = [a for a in _C.cuda_archs.split(",") if a]
    return {
        "loaded": True,
        "cuda_emulation": _C.cuda_emulation or None,
        "with_cuda": bool(_C.with_cuda),
        "cuda_archs": archs,
        "built_with_torch": _C.built_with_torch,
        "path": _C.__file__,
    }
