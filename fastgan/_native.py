"""Loads the compiled library `fastgan._C` and tells which ops have native kernels per device."""

from __future__ import annotations

import torch

try:
    from fastgan import _C
except ImportError as error:  # not built: every op runs its pure-PyTorch reference
    _C = None
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
        "with_cuda": bool(_C.with_cuda),
        "cuda_archs": archs,
        "built_with_torch": _C.built_with_torch,
        "path": _C.__file__,
    }
