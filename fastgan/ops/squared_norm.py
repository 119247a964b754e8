"""Per-sample squared L2 norm: `fastgan.ops.squared_norm`, the core of the gradient penalties.

    out[n] = sum over x[n, ...] of x²

One pass over x (stock PyTorch: a square, then a reduction). Its gradient, 2 x grad[n], is
written in ATen ops, so it is differentiable again (penalties differentiate through it).
"""

from __future__ import annotations

import torch

from fastgan import _native
from fastgan.ops._dispatch import Dispatch, check_float_dtype

__all__ = ["squared_norm", "squared_norm_ref"]

_DISPATCH = Dispatch("squared_norm")


def _check_args(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"squared_norm: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1:
        raise ValueError("squared_norm: expected x with a batch dimension, got a 0-d tensor")
    check_float_dtype(x, "squared_norm")


def _result_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _reference(x):
    return x.to(_result_dtype(x)).square().reshape(x.shape[0], -1).sum(dim=1)


def squared_norm_ref(x: torch.Tensor) -> torch.Tensor:
    """Pure-PyTorch reference of :func:`squared_norm`."""
    _check_args(x)
    return _reference(x)


def squared_norm(x: torch.Tensor, impl: str = "auto") -> torch.Tensor:
    """``out[n] = sum(x[n] ** 2)`` for x of shape ``[N, ...]``: ``[N]`` in float32 (float64 for
    float64 x; a sum of squares overflows float16 long before x does). Differentiable any number
    of times."""
    _check_args(x)
    if _DISPATCH.use_native(x.device, impl):
        return torch.ops.fastgan.squared_norm(x)
    return _reference(x)


# Autograd is registered in C++ (csrc/squared_norm/squared_norm_autograd.cpp), like bias_act's.
if _native.loaded():

    @torch.library.register_fake("fastgan::squared_norm")
    def _squared_norm_fake(x):
        return x.new_empty(x.shape[0], dtype=_result_dtype(x))
