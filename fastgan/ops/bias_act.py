"""Fused bias + activation + gain + clamp: `fastgan.ops.bias_act`.

    y = clamp(act(x + b, alpha) * gain, -clamp, +clamp)

with `b` of shape `[x.shape[dim]]` broadcast along `dim`. One pass over memory forward and one
backward, instead of up to four of each with stock PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fastgan import _native
from fastgan.ops._dispatch import Dispatch, check_float_dtype

__all__ = ["ACTIVATIONS", "bias_act", "bias_act_ref"]


@dataclass(frozen=True)
class Activation:
    func: Callable[[torch.Tensor, float], torch.Tensor]
    alpha: float  # default alpha (used by lrelu only)
    gain: float  # default gain


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x, _: x, 0.0, 1.0),
    "relu": Activation(lambda x, _: torch.relu(x), 0.0, math.sqrt(2)),
    "lrelu": Activation(lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
    "tanh": Activation(lambda x, _: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, _: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation(lambda x, _: F.elu(x), 0.0, 1.0),
    "selu": Activation(lambda x, _: F.selu(x), 0.0, 1.0),
    "softplus": Activation(lambda x, _: F.softplus(x), 0.0, 1.0),
    "swish": Activation(lambda x, _: F.silu(x), 0.0, math.sqrt(2)),
    "gelu": Activation(lambda x, _: F.gelu(x), 0.0, 1.0),
}

_DISPATCH = Dispatch("bias_act")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_args(
    x: torch.Tensor,
    b: torch.Tensor | None,
    dim: int,
    act: str,
    alpha: float | None,
    gain: float | None,
    clamp: float | None,
) -> tuple[int, float, float, float]:
    """Validates the arguments; returns (dim >= 0, alpha, gain, clamp) with defaults applied."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"bias_act: expected x to be a torch.Tensor, got {type(x).__name__}")
    check_float_dtype(x, "bias_act")
    if act not in ACTIVATIONS:
        raise ValueError(f"bias_act: unknown act {act!r}; expected one of {list(ACTIVATIONS)}")
    for name, value in (("alpha", alpha), ("gain", gain), ("clamp", clamp)):
        if value is not None and not _is_number(value):
            raise TypeError(f"bias_act: expected {name} to be a number or None, got {value!r}")
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"bias_act: expected dim to be an int, got {dim!r}")
    if b is not None:
        if not isinstance(b, torch.Tensor):
            raise TypeError(
                f"bias_act: expected b to be a torch.Tensor or None, got {type(b).__name__}"
            )
        if not -x.ndim <= dim < x.ndim:
            raise ValueError(
                f"bias_act: expected dim in [{-x.ndim}, {x.ndim}) for x of shape "
                f"{list(x.shape)}, got {dim}"
            )
        dim = dim % x.ndim
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(
                f"bias_act: expected b of shape [{x.shape[dim]}] (x.shape[{dim}]), "
                f"got {list(b.shape)}"
            )
        if b.dtype != x.dtype:
            raise TypeError(
                f"bias_act: expected b of dtype {x.dtype} (the dtype of x), got {b.dtype}"
            )
        if b.device != x.device:
            raise ValueError(
                f"bias_act: expected b on {x.device} (the device of x), got {b.device}"
            )
    spec = ACTIVATIONS[act]
    alpha = spec.alpha if alpha is None else float(alpha)
    gain = spec.gain if gain is None else float(gain)
    clamp = -1.0 if clamp is None or clamp < 0 else float(clamp)
    return dim, alpha, gain, clamp


def _reference(x, b, dim, act, alpha, gain, clamp):
    if b is not None:
        x = x + b.reshape([-1 if d == dim else 1 for d in range(x.ndim)])
    x = ACTIVATIONS[act].func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def bias_act_ref(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Pure-PyTorch reference of :func:`bias_act`: same signature and maths, computed in x.dtype."""
    dim, alpha, gain, clamp = _check_args(x, b, dim, act, alpha, gain, clamp)
    return _reference(x, b, dim, act, alpha, gain, clamp)


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
    impl: str = "auto",
) -> torch.Tensor:
    """Fused bias, activation, gain and clamp in one pass over memory.

    ``y = clamp(act(x + b, alpha) * gain, -clamp, clamp)``

    Args:
        x: input of any shape, float16 / bfloat16 / float32 / float64 (16-bit computed in float32),
            any memory format; the output has the same shape, dtype and memory format.
        b: bias of shape ``[x.shape[dim]]`` (same dtype and device as x), or None.
        dim: the dimension of x that b runs along (default 1, the channels of NCHW).
        act: 'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', 'softplus', 'swish'
            or 'gelu'.
        alpha: negative slope of 'lrelu' (default 0.2); the other activations ignore it.
        gain: output scale; None takes the activation's default (sqrt(2) for relu, lrelu and
            swish, else 1).
        clamp: clamp the output to [-clamp, clamp]; None or negative: no clamp. The gradient is
            zero where the output was clamped.
        impl: 'auto' (native kernel when built for x's device, else the reference with one
            warning), 'native' (error if no kernel) or 'ref' (the pure-PyTorch reference).

    Differentiable up to three times with respect to x and b (R1 and path-length
    regularisation need two).
    """
    dim, alpha, gain, clamp = _check_args(x, b, dim, act, alpha, gain, clamp)
    if _DISPATCH.use_native(x.device, impl):
        return torch.ops.fastgan.bias_act(x, b, dim, act, alpha, gain, clamp)
    return _reference(x, b, dim, act, alpha, gain, clamp)


# Autograd of both ops is registered in C++ (csrc/bias_act/bias_act_autograd.cpp): a Python
# autograd.Function per call cost more than the kernel at StyleGAN's small resolutions.
if _native.loaded():

    @torch.library.register_fake("fastgan::bias_act")
    def _bias_act_fake(x, b, dim, act, alpha, gain, clamp):
        return torch.empty_like(x)

    @torch.library.register_fake("fastgan::bias_act_backward")
    def _bias_act_backward_fake(grad, x, b, dim, act, alpha, gain, clamp, order):
        return torch.empty_like(x)
