"""The ``op`` module of rosinality's stylegan2-pytorch, on fastgan's kernels.

Replace ``from op import FusedLeakyReLU, fused_leaky_relu, upfirdn2d`` with::

    from fastgan.compat.rosinality import FusedLeakyReLU, fused_leaky_relu, upfirdn2d

Semantics, as that project defines them:

- ``fused_leaky_relu(input, bias=None, negative_slope=0.2, scale=2**0.5)`` =
  ``leaky_relu(input + bias, negative_slope) * scale``, the bias of shape ``[C]`` broadcast along
  dim 1 of an input of any rank (``[N, C]`` after a linear layer, ``[N, C, H, W]`` after a conv);
  ``FusedLeakyReLU(channel, bias=True, negative_slope=0.2, scale=2**0.5)`` holds that bias
  (zeros) as a parameter.
- ``upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0))``: per plane of ``input [N, C, H, W]``,
  insert ``up - 1`` zeros after every sample, pad, convolve with the 2-D ``kernel`` (a true
  convolution: the kernel flipped, as NVIDIA's ``flip_filter=False``), keep every ``down``-th
  sample. ``up`` and ``down`` are ints or ``(x, y)``; ``pad`` is ``(p0, p1)``, which pads *both*
  axes by p0 before and p1 after (unlike NVIDIA's ``[x, y]``), or ``(x0, x1, y0, y1)``.

rosinality's CPU fallback ignores ``negative_slope`` (it always uses 0.2); this module uses the
value given, as their CUDA kernel does. The keyword-only ``impl`` is fastgan's addition: 'cuda'
(default; fastgan's native kernels on every device that has them, the CPU included) or 'ref'
(fastgan's pure-PyTorch reference).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import torch

from fastgan.compat.nvidia._impl import as_number, fastgan_impl
from fastgan.ops.bias_act import bias_act as _bias_act
from fastgan.ops.bias_act import bias_act_ref as _bias_act_ref
from fastgan.ops.upfirdn2d import upfirdn2d as _upfirdn2d

__all__ = ["FusedLeakyReLU", "fused_leaky_relu", "upfirdn2d"]


def fused_leaky_relu(
    input: torch.Tensor,
    bias: torch.Tensor | None = None,
    negative_slope: float = 0.2,
    scale: float = 2**0.5,
    *,
    impl: str = "cuda",
) -> torch.Tensor:
    """``leaky_relu(input + bias, negative_slope) * scale``, bias ``[C]`` along dim 1."""
    fimpl = fastgan_impl(impl, "fused_leaky_relu")
    if not isinstance(input, torch.Tensor):
        raise TypeError(
            f"fused_leaky_relu: expected input to be a torch.Tensor, got {type(input).__name__}"
        )
    if input.ndim < 2:
        raise ValueError(
            f"fused_leaky_relu: expected input with a channel dim 1 ([N, C, ...]), "
            f"got shape {list(input.shape)}"
        )
    negative_slope = as_number(negative_slope, "negative_slope", "fused_leaky_relu")
    scale = as_number(scale, "scale", "fused_leaky_relu")
    if negative_slope is None or scale is None:
        raise TypeError("fused_leaky_relu: expected negative_slope and scale to be numbers")
    if isinstance(bias, torch.Tensor) and bias.dtype != input.dtype and bias.is_floating_point():
        bias = bias.to(input.dtype)  # e.g. a float32 bias on a float16 activation under autocast
    op = _bias_act_ref if fimpl == "ref" else _bias_act
    kwargs = {} if fimpl == "ref" else {"impl": fimpl}
    return op(input, bias, dim=1, act="lrelu", alpha=negative_slope, gain=scale, **kwargs)


class FusedLeakyReLU(torch.nn.Module):
    """A learned bias (zeros, one per channel) followed by leaky ReLU and a scale, fused."""

    def __init__(
        self, channel: int, bias: bool = True, negative_slope: float = 0.2, scale: float = 2**0.5
    ):
        super().__init__()
        if not isinstance(channel, numbers.Integral) or channel < 1:
            raise ValueError(f"FusedLeakyReLU: expected channel to be an int >= 1, got {channel!r}")
        self.bias = torch.nn.Parameter(torch.zeros(int(channel))) if bias else None
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(input, self.bias, self.negative_slope, self.scale)


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, Iterable) and not isinstance(value, (str, torch.Tensor)):
        items = list(value)
        if len(items) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items
        ):
            return int(items[0]), int(items[1])
    raise TypeError(
        f"upfirdn2d: expected {name} to be an int or a pair (x, y) of ints, got {value!r}"
    )


def _pad4(pad) -> list[int]:
    if isinstance(pad, numbers.Integral) and not isinstance(pad, bool):
        return [int(pad)] * 4
    if isinstance(pad, Iterable) and not isinstance(pad, (str, torch.Tensor)):
        items = list(pad)
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
            if len(items) == 2:  # (p0, p1): p0 before and p1 after, on both axes
                return [int(items[0]), int(items[1]), int(items[0]), int(items[1])]
            if len(items) == 4:
                return [int(v) for v in items]
    raise TypeError(
        f"upfirdn2d: expected pad to be (p0, p1) or (x0, x1, y0, y1) of ints, got {pad!r}"
    )


def upfirdn2d(
    input: torch.Tensor,
    kernel: torch.Tensor,
    up=1,
    down=1,
    pad=(0, 0),
    *,
    impl: str = "cuda",
) -> torch.Tensor:
    """Upsample, pad, FIR-filter (2-D kernel, true convolution) and downsample, rosinality's
    conventions (see the module docstring)."""
    fimpl = fastgan_impl(impl, "upfirdn2d")
    if not isinstance(kernel, torch.Tensor):
        raise TypeError(
            f"upfirdn2d: expected kernel to be a torch.Tensor, got {type(kernel).__name__}"
        )
    if kernel.ndim != 2:
        raise ValueError(
            f"upfirdn2d: expected a 2-D kernel [kh, kw], got shape {list(kernel.shape)}"
        )
    if not kernel.is_floating_point():
        raise TypeError(f"upfirdn2d: expected a floating-point kernel, got {kernel.dtype}")
    # fastgan takes float32 filters; a model moved to float16 has a float16 kernel buffer.
    kernel = kernel.detach().to(torch.float32)
    return _upfirdn2d(
        input,
        kernel,
        up=_pair(up, "up"),
        down=_pair(down, "down"),
        padding=_pad4(pad),
        impl=fimpl,
    )
