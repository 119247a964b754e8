"""Minibatch standard deviation (ProGAN / StyleGAN): `fastgan.ops.minibatch_stddev`.

For x [N, C, H, W], groups of G = min(group_size, N) samples (group m holds n = g * N/G + m)
and F = num_channels channel groups: the population standard deviation over each group's
samples, sqrt(var + 1e-8), averaged over the channels of the channel group and the pixels, is
appended as F constant channels: [N, C + F, H, W]. One pass for the statistics forward, one for
the gradient backward.
"""

from __future__ import annotations

import torch

from fastgan import _native
from fastgan.ops._dispatch import Dispatch, check_float_dtype, memory_format_of

__all__ = ["minibatch_stddev", "minibatch_stddev_ref"]

_DISPATCH = Dispatch("minibatch_stddev")
_OP = "minibatch_stddev"
EPSILON = 1e-8


def _check_args(x, group_size, num_channels):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{_OP}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{_OP}: expected x of shape [N, C, H, W], got shape {list(x.shape)}")
    check_float_dtype(x, _OP)
    for name, value in (("group_size", group_size), ("num_channels", num_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{_OP}: expected {name} to be an int >= 1, got {value!r}")
    N, C = x.shape[:2]
    if N < 1:
        raise ValueError(f"{_OP}: expected a batch of at least 1 sample, got shape {list(x.shape)}")
    G = min(group_size, N)
    if N % G != 0:
        raise ValueError(
            f"{_OP}: expected the batch size N={N} to be divisible by the group size "
            f"min(group_size, N)={G}"
        )
    if C % num_channels != 0:
        raise ValueError(
            f"{_OP}: expected the channels C={C} to be divisible by num_channels={num_channels}"
        )
    return G


def _grouped(t: torch.Tensor, G: int, F: int) -> torch.Tensor:
    """[N, C, H, W] as [G, M, F, C/F, H, W]: dim 0 runs over a group's samples."""
    N, C, H, W = t.shape
    return t.reshape(G, N // G, F, C // F, H, W)


def _reference(x, G, F):
    H, W = x.shape[2:]
    y = _grouped(x, G, F)
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + EPSILON).sqrt()  # [M, F, c, H, W]
    y = y.mean(dim=(2, 3, 4))  # [M, F]
    y = y.reshape(-1, F, 1, 1).repeat(G, 1, H, W)
    return torch.cat([x, y], dim=1)


def minibatch_stddev_ref(
    x: torch.Tensor, group_size: int = 4, num_channels: int = 1
) -> torch.Tensor:
    """Pure-PyTorch reference of :func:`minibatch_stddev` (same maths, in x.dtype)."""
    G = _check_args(x, group_size, num_channels)
    return _reference(x, G, num_channels)


def minibatch_stddev(
    x: torch.Tensor, group_size: int = 4, num_channels: int = 1, impl: str = "auto"
) -> torch.Tensor:
    """Appends the minibatch standard deviation as ``num_channels`` constant channels.

    ``G = min(group_size, N)`` (N must be divisible by G); group m holds the samples
    ``n = g * N/G + m``; the channels split into ``num_channels`` groups (C must be divisible).
    For each group and channel group: ``mean over channels and pixels of sqrt(var + 1e-8)``, the
    population variance over the group's samples. Returns ``[N, C + num_channels, H, W]`` in x's
    dtype and memory format (contiguous or channels_last).

    Differentiable twice (and more) with respect to x.
    """
    G = _check_args(x, group_size, num_channels)
    if _DISPATCH.use_native(x.device, impl):
        return torch.ops.fastgan.minibatch_stddev(x, group_size, num_channels)
    return _reference(x, G, num_channels)


def _setup_context(ctx, inputs, output):
    x, group_size, num_channels = inputs
    ctx.save_for_backward(x)
    ctx.args = (group_size, num_channels)


def _backward(ctx, grad):
    (x,) = ctx.saved_tensors
    return torch.ops.fastgan.minibatch_stddev_backward(grad, x, *ctx.args), None, None


def _backward_setup_context(ctx, inputs, output):
    grad, x, group_size, num_channels = inputs
    ctx.save_for_backward(grad, x)
    ctx.args = (group_size, num_channels)


def _backward_backward(ctx, v):
    # grad_x = grad[:, :C] + k * u with u = (x - mean) / std over each group and
    # k[m, f] = (sum of grad's channel C + f over the group and pixels) / (c * H * W * G).
    # Written with PyTorch ops, so that it is itself differentiable.
    grad, x = ctx.saved_tensors
    group_size, F = ctx.args
    N, C, H, W = x.shape
    G = min(group_size, N)
    count = (C // F) * H * W * G
    xg = _grouped(x, G, F)
    centred = xg - xg.mean(dim=0)
    std = (centred.square().mean(dim=0) + EPSILON).sqrt()
    u = centred / std
    vg = _grouped(v, G, F)
    d_grad = d_x = None
    if ctx.needs_input_grad[0]:
        per_group = (vg * u).sum(dim=(0, 3, 4, 5)) / count  # [M, F]
        stat = per_group.reshape(-1, F, 1, 1).repeat(G, 1, H, W)
        d_grad = torch.cat([v, stat.to(v.dtype)], dim=1)
    if ctx.needs_input_grad[1]:
        gs = grad[:, C:].reshape(G, N // G, F, H * W).sum(dim=(0, 3))  # [M, F]
        w = vg * (gs / count)[None, :, :, None, None, None]
        d_xg = (w - w.mean(dim=0)) / std - centred * (w * centred).mean(dim=0) / std**3
        d_x = d_xg.reshape(N, C, H, W)
    return d_grad, d_x, None, None


if _native.loaded():

    @torch.library.register_fake("fastgan::minibatch_stddev")
    def _minibatch_stddev_fake(x, group_size, num_channels):
        N, C, H, W = x.shape
        return x.new_empty(N, C + num_channels, H, W).contiguous(memory_format=memory_format_of(x))

    @torch.library.register_fake("fastgan::minibatch_stddev_backward")
    def _minibatch_stddev_backward_fake(grad, x, group_size, num_channels):
        return torch.empty_like(x, memory_format=memory_format_of(x))

    torch.library.register_autograd(
        "fastgan::minibatch_stddev", _backward, setup_context=_setup_context
    )
    torch.library.register_autograd(
        "fastgan::minibatch_stddev_backward",
        _backward_backward,
        setup_context=_backward_setup_context,
    )
