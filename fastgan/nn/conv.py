"""Plain (unmodulated) layers on the fused ops: `EqualConv2d`, the convolution of StyleGAN2's
discriminator, and `BiasAct`, a drop-in fused bias + activation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from fastgan.nn.resample import Float32Buffers
from fastgan.ops._dispatch import IMPLS
from fastgan.ops.bias_act import ACTIVATIONS, bias_act
from fastgan.ops.conv2d_resample import conv2d_resample
from fastgan.ops.upfirdn2d import setup_filter

__all__ = ["BiasAct", "EqualConv2d"]


def _check_common(layer: str, activation: str, impl: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{layer}: unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}"
        )
    if impl not in IMPLS:
        raise ValueError(f"{layer}: expected impl in {IMPLS}, got {impl!r}")


class EqualConv2d(Float32Buffers):
    """2-D convolution with equalised learning rate, optional FIR resampling, bias, activation
    and clamp: ``clamp(act(conv2d_resample(x, W * g, f, up, down, padding=k // 2) + b * lr) *
    act_gain * gain, ±conv_clamp * gain)`` with ``g = lr_multiplier / sqrt(in_channels * k²)``.

    Weights start as N(0, 1) / lr_multiplier, the bias as ``bias_init`` (effective value); the
    convolution runs through :func:`fastgan.ops.conv2d_resample` (``up`` / ``down`` with the
    ``resample_filter``, default ``[1, 3, 3, 1]``) and everything after it is one
    :func:`fastgan.ops.bias_act` pass. ``forward(x, gain=1)``: ``[N, in_channels, H, W]`` to
    ``[N, out_channels, H * up / down, W * up / down]``.
    """

    resample_filter: torch.Tensor
    float32_buffers = ("resample_filter",)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        bias_init: float = 0.0,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        lr_multiplier: float = 1.0,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
            ("up", up),
            ("down", down),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"EqualConv2d: expected {name} to be an int >= 1, got {value!r}")
        if up > 1 and down > 1:
            raise ValueError(f"EqualConv2d: expected up or down to be 1, got up={up}, down={down}")
        _check_common("EqualConv2d", activation, impl)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = kernel_size
        self.activation, self.up, self.down = activation, up, down
        self.conv_clamp, self.impl = conv_clamp, impl
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_multiplier
        )
        self.bias = (
            nn.Parameter(torch.full([out_channels], float(bias_init) / lr_multiplier))
            if bias
            else None
        )
        self.weight_gain = lr_multiplier / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = lr_multiplier
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        resampling = self.up > 1 or self.down > 1
        y = conv2d_resample(
            x,
            w,
            self.resample_filter if resampling else None,
            up=self.up,
            down=self.down,
            padding=self.padding,
            impl=self.impl,
        )
        # Under autocast the convolution may return another dtype than x: the bias follows y.
        b = None if self.bias is None else (self.bias * self.bias_gain).to(y.dtype)
        act_gain = ACTIVATIONS[self.activation].gain * gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(y, b, act=self.activation, gain=act_gain, clamp=clamp, impl=self.impl)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={self.kernel_size}, bias={self.bias is not None}, "
            f"activation={self.activation}, up={self.up}, down={self.down}, "
            f"conv_clamp={self.conv_clamp}"
        )


class BiasAct(nn.Module):
    """Fused bias, activation, gain and clamp (:func:`fastgan.ops.bias_act`) as a layer:
    ``clamp(act(x + b, alpha) * gain, ±clamp)`` with a learned bias ``b`` of ``num_features``
    along ``dim`` (initialised to 0), or no bias when ``num_features`` is None. A drop-in for
    ``nn.ReLU`` / ``nn.LeakyReLU`` / ``nn.Tanh`` that also absorbs the preceding layer's bias.
    ``gain=None`` takes the activation's default (√2 for relu and lrelu); pass ``gain=1`` for the
    plain activation."""

    def __init__(
        self,
        num_features: int | None = None,
        activation: str = "linear",
        alpha: float | None = None,
        gain: float | None = None,
        clamp: float | None = None,
        dim: int = 1,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if num_features is not None and (
            not isinstance(num_features, int) or isinstance(num_features, bool) or num_features < 1
        ):
            raise ValueError(
                f"BiasAct: expected num_features to be an int >= 1 or None, got {num_features!r}"
            )
        _check_common("BiasAct", activation, impl)
        self.num_features, self.activation = num_features, activation
        self.alpha, self.gain, self.clamp, self.dim, self.impl = alpha, gain, clamp, dim, impl
        self.bias = nn.Parameter(torch.zeros(num_features)) if num_features is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = None if self.bias is None else self.bias.to(x.dtype)
        return bias_act(
            x,
            b,
            dim=self.dim,
            act=self.activation,
            alpha=self.alpha,
            gain=self.gain,
            clamp=self.clamp,
            impl=self.impl,
        )

    def extra_repr(self) -> str:
        return (
            f"num_features={self.num_features}, activation={self.activation}, "
            f"alpha={self.alpha}, gain={self.gain}, clamp={self.clamp}"
        )
