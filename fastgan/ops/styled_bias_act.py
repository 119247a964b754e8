"""The fused epilogue of a StyleGAN2 generator layer: `fastgan.ops.styled_bias_act`.

    z = x * scale[n, c] + noise + b[c]
    y = clamp(act(z, alpha) * gain, -clamp, +clamp)

in one pass over x (stock PyTorch: up to six). `scale` holds the demodulation coefficients of a
modulated convolution, `noise` the per-pixel noise already multiplied by its strength.
"""

from __future__ import annotations

import torch

from fastgan import _native
from fastgan.ops._dispatch import Dispatch, memory_format_of
from fastgan.ops.bias_act import _check_args as _check_bias_act_args
from fastgan.ops.bias_act import _reference

__all__ = ["styled_bias_act", "styled_bias_act_ref"]

_DISPATCH = Dispatch("styled_bias_act")
_OP = "styled_bias_act"


def _check_tensor(name: str, t: object, x: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(
            f"{_OP}: expected {name} to be a torch.Tensor or None, got {type(t).__name__}"
        )
    if t.dtype != x.dtype:
        raise TypeError(
            f"{_OP}: expected {name} of dtype {x.dtype} (the dtype of x), got {t.dtype}"
        )
    if t.device != x.device:
        raise ValueError(f"{_OP}: expected {name} on {x.device} (the device of x), got {t.device}")


def _check_args(x, scale, noise, b, act, alpha, gain, clamp):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{_OP}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{_OP}: expected x of shape [N, C, H, W], got shape {list(x.shape)}")
    try:
        _, alpha, gain, clamp = _check_bias_act_args(x, b, 1, act, alpha, gain, clamp)
    except (TypeError, ValueError) as error:
        raise type(error)(str(error).replace("bias_act:", f"{_OP}:", 1)) from None
    N, C, H, W = x.shape
    if scale is not None:
        _check_tensor("scale", scale, x)
        if tuple(scale.shape) != (N, C):
            raise ValueError(
                f"{_OP}: expected scale of shape [{N}, {C}] ([N, C] of x), got {list(scale.shape)}"
            )
    if noise is not None:
        _check_tensor("noise", noise, x)
        shape = [1] * (4 - noise.ndim) + list(noise.shape)
        if not (
            2 <= noise.ndim <= 4
            and shape[0] in (1, N)
            and shape[1] in (1, C)
            and shape[2:] == [H, W]
        ):
            raise ValueError(
                f"{_OP}: expected noise broadcastable to [{N}, 1, {H}, {W}] or "
                f"[{N}, {C}, {H}, {W}] (x is {list(x.shape)}), got shape {list(noise.shape)}"
            )
    return alpha, gain, clamp


def _pre_activation(x, scale, noise):
    if scale is not None:
        x = x * scale[:, :, None, None]
    if noise is not None:
        x = x + noise
    return x


def styled_bias_act_ref(
    x: torch.Tensor,
    scale: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    act: str = "lrelu",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Pure-PyTorch reference of :func:`styled_bias_act`: same signature and maths, in x.dtype."""
    alpha, gain, clamp = _check_args(x, scale, noise, b, act, alpha, gain, clamp)
    return _reference(_pre_activation(x, scale, noise), b, 1, act, alpha, gain, clamp)


def styled_bias_act(
    x: torch.Tensor,
    scale: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    act: str = "lrelu",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
    impl: str = "auto",
) -> torch.Tensor:
    """Scale, noise, bias, activation, gain and clamp of a generator layer in one pass.

    ``y = clamp(act(x * scale[n, c] + noise + b[c], alpha) * gain, -clamp, clamp)``

    Args:
        x: ``[N, C, H, W]``, float16 / bfloat16 / float32 / float64, contiguous or channels_last
            (the output keeps it; other layouts give a contiguous output).
        scale: ``[N, C]`` per-sample, per-channel scale (the demodulation coefficients), or None.
        noise: broadcastable to ``[N, 1, H, W]`` or ``[N, C, H, W]`` (``[H, W]``,
            ``[1, 1, H, W]``, ...), already multiplied by its strength; or None.
        b: ``[C]`` bias, or None.
        act, alpha, gain, clamp: as in :func:`fastgan.ops.bias_act` (default act 'lrelu').
        impl: 'auto', 'native' or 'ref' (see :func:`fastgan.ops.bias_act`).

    All tensors share x's dtype and device. Differentiable twice (and three times) with respect
    to x, scale, noise and b.
    """
    alpha, gain, clamp = _check_args(x, scale, noise, b, act, alpha, gain, clamp)
    if _DISPATCH.use_native(x.device, impl):
        return torch.ops.fastgan.styled_bias_act(x, scale, noise, b, act, alpha, gain, clamp)
    return _reference(_pre_activation(x, scale, noise), b, 1, act, alpha, gain, clamp)


def _output_like(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x, memory_format=memory_format_of(x))


# Autograd of both ops is registered in C++ (csrc/styled_bias_act/styled_bias_act_autograd.cpp),
# like bias_act's.
if _native.loaded():

    @torch.library.register_fake("fastgan::styled_bias_act")
    def _styled_bias_act_fake(x, scale, noise, b, act, alpha, gain, clamp):
        return _output_like(x)

    @torch.library.register_fake("fastgan::styled_bias_act_backward")
    def _styled_bias_act_backward_fake(grad, x, scale, noise, b, act, alpha, gain, clamp, order):
        return _output_like(x)
