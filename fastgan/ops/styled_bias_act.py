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
from fastgan.ops.bias_act import MAX_ORDER, _reference
from fastgan.ops.bias_act import _check_args as _check_bias_act_args

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


def _grad_z(grad, x, scale, noise, b, args, order):
    """(dL/dz, whether it is a new tensor this code may overwrite) for the order-k backward."""
    act, _, gain, clamp = args
    if act == "linear" and clamp < 0 and order == 1:
        # f' = 1: no kernel pass for a pure scale / noise layer (the input modulation).
        return (grad if gain == 1 else grad * gain), gain != 1
    return torch.ops.fastgan.styled_bias_act_backward(grad, x, scale, noise, b, *args, order), True


def _input_grads(grad_z, owned, x, scale, noise, b, needs):
    """Gradients with respect to (x, scale, noise, b) from the gradient with respect to z."""
    need_x, need_scale, need_noise, need_b = needs
    grad_x = grad_scale = grad_noise = grad_b = None
    if need_scale and scale is not None:
        # One pass over grad_z and x, without their [N, C, H, W] product.
        grad_scale = torch.einsum("nchw,nchw->nc", grad_z, x)
    if need_noise and noise is not None:
        grad_noise = grad_z.sum_to_size(noise.shape)
    if need_b and b is not None:
        grad_b = grad_z.sum(dim=(0, 2, 3))
    if need_x:
        if scale is None:
            grad_x = grad_z
        elif owned and not torch.is_grad_enabled() and grad_noise is not grad_z:
            # Last use of grad_z (no double backward records it): scale it in place.
            grad_x = grad_z.mul_(scale[:, :, None, None])
        else:
            grad_x = grad_z * scale[:, :, None, None]
    if grad_noise is not None and grad_noise is grad_x:  # two inputs must not share one tensor
        grad_noise = grad_noise.clone()
    return grad_x, grad_scale, grad_noise, grad_b


def _setup_context(ctx, inputs, output):
    x, scale, noise, b, *args = inputs
    ctx.save_for_backward(x, scale, noise, b)
    ctx.args = args


def _backward(ctx, grad):
    x, scale, noise, b = ctx.saved_tensors
    grad_z, owned = _grad_z(grad, x, scale, noise, b, ctx.args, 1)
    needs = ctx.needs_input_grad[:4]
    return (*_input_grads(grad_z, owned, x, scale, noise, b, needs),) + (None,) * 4


def _backward_setup_context(ctx, inputs, output):
    grad, x, scale, noise, b, *args, order = inputs
    ctx.save_for_backward(grad, x, scale, noise, b)
    ctx.args = args
    ctx.order = order


def _backward_backward(ctx, grad_out):
    # out = grad * f^(k)(z) * gain * mask: linear in grad; d/dz is the order k+1 backward.
    grad, x, scale, noise, b = ctx.saved_tensors
    needs = ctx.needs_input_grad
    d_grad = None
    if needs[0]:
        d_grad = torch.ops.fastgan.styled_bias_act_backward(
            grad_out, x, scale, noise, b, *ctx.args, ctx.order
        )
    rest = (None, None, None, None)
    if any(needs[1:5]):
        if ctx.order >= MAX_ORDER:
            raise NotImplementedError(
                f"{_OP}: gradients of order {ctx.order + 1} are not implemented "
                f"(up to {MAX_ORDER} are)"
            )
        grad_z = torch.ops.fastgan.styled_bias_act_backward(
            grad_out * grad, x, scale, noise, b, *ctx.args, ctx.order + 1
        )
        rest = _input_grads(grad_z, True, x, scale, noise, b, needs[1:5])
    return (d_grad, *rest) + (None,) * 5


def _output_like(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x, memory_format=memory_format_of(x))


if _native.loaded():

    @torch.library.register_fake("fastgan::styled_bias_act")
    def _styled_bias_act_fake(x, scale, noise, b, act, alpha, gain, clamp):
        return _output_like(x)

    @torch.library.register_fake("fastgan::styled_bias_act_backward")
    def _styled_bias_act_backward_fake(grad, x, scale, noise, b, act, alpha, gain, clamp, order):
        return _output_like(x)

    torch.library.register_autograd(
        "fastgan::styled_bias_act", _backward, setup_context=_setup_context
    )
    torch.library.register_autograd(
        "fastgan::styled_bias_act_backward",
        _backward_backward,
        setup_context=_backward_setup_context,
    )
