"""Per-call choice between an op's native kernel and its pure-PyTorch reference."""

from __future__ import annotations

import warnings

import torch

from fastgan import _native

IMPLS = ("auto", "native", "ref")
# The dtypes every op takes (16-bit types are computed in float32).
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_float_dtype(x: torch.Tensor, op: str) -> None:
    """TypeError unless x is float16, bfloat16, float32 or float64."""
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{op}: expected x of a floating-point dtype (float16, bfloat16, float32, float64), "
            f"got {x.dtype}"
        )


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """The memory format of an op's output for input x: channels_last when x is (and is not
    also contiguous), else contiguous; the kernels apply the same rule (csrc/common/layout.h)."""
    channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


class Dispatch:
    """Native kernel when one is built for the tensor's device, else the reference (one warning).

    `impl='ref'` forces the reference, `impl='native'` raises where no kernel is built. The device
    set is computed once at import, so the choice is a plain lookup that torch.compile can trace.
    """

    def __init__(self, op: str) -> None:
        self.op = op
        self.devices = frozenset(d for d in ("cpu", "cuda") if _native.has_kernel(op, d))
        self._warned: set[str] = set()

    def use_native(self, device: torch.device, impl: str) -> bool:
        if impl not in IMPLS:
            raise ValueError(f"{self.op}: expected impl in {IMPLS}, got {impl!r}")
        if impl == "ref":
            return False
        if device.type in self.devices:
            return True
        if impl == "native":
            raise RuntimeError(
                f"{self.op}: impl='native' but fastgan has no {device.type} kernel for it "
                f"(kernels built for: {sorted(self.devices) or 'none'}; see `fastgan info`)"
            )
        if not torch.compiler.is_compiling() and device.type not in self._warned:
            self._warned.add(device.type)
            reason = _native.LOAD_ERROR or f"fastgan was built without {device.type} kernels"
            warnings.warn(
                f"fastgan.ops.{self.op}: no native {device.type} kernel ({reason}); "
                "using the pure-PyTorch reference",
                RuntimeWarning,
                stacklevel=3,
            )
        return False
