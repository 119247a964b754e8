"""StyleGAN2 layers with equalised learning rate: `EqualLinear`, `MappingNetwork`,
`ModulatedConv2d`, `StyledConv` (the fused generator block) and `ToRGB`.

Equalised learning rate (Karras et al., 2018): parameters are stored at unit scale (initialised
from N(0, 1) / lr_multiplier) and multiplied by their He constant at run time, so that every
layer learns at the same speed under Adam. Each layer takes ``impl='auto' | 'native' | 'ref'``:
'ref' runs the same maths on pure-PyTorch reference ops.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from fastgan.nn.conv import BiasAct, EqualConv2d
from fastgan.nn.discriminator import MinibatchDiscrimination, MinibatchStdDev
from fastgan.nn.resample import Blur, Downsample2d, Float32Buffers, Upsample2d
from fastgan.ops.bias_act import ACTIVATIONS, bias_act
from fastgan.ops.modulated_conv2d import modulated_conv
from fastgan.ops.styled_bias_act import styled_bias_act
from fastgan.ops.upfirdn2d import setup_filter

__all__ = ["EqualLinear", "MappingNetwork", "ModulatedConv2d", "StyledConv", "ToRGB", "set_impl"]

NOISE_MODES = ("random", "const", "none")


def _check_impl(impl: str, layer: str) -> str:
    if impl not in ("auto", "native", "ref"):
        raise ValueError(f"{layer}: expected impl in ('auto', 'native', 'ref'), got {impl!r}")
    return impl


def _check_activation(activation: str, layer: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{layer}: unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}"
        )
    return activation


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x², dim) + eps)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate: ``act(x @ (W * g)ᵀ + b * lr)`` with
    ``g = lr_multiplier / sqrt(in_features)``; bias and activation through
    :func:`fastgan.ops.bias_act`."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
        activation: str = "linear",
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"EqualLinear: expected in_features, out_features >= 1, got "
                f"{in_features}, {out_features}"
            )
        self.in_features, self.out_features = in_features, out_features
        self.activation = _check_activation(activation, "EqualLinear")
        self.impl = _check_impl(impl, "EqualLinear")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = (
            nn.Parameter(torch.full([out_features], float(bias_init) / lr_multiplier))
            if bias
            else None
        )
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t()) if x.ndim == 2 else x @ w.t() + b
        y = x @ w.t()
        # Under autocast the product may come out in another dtype than x: the bias follows it.
        b = None if b is None else b.to(y.dtype)
        return bias_act(y, b, dim=x.ndim - 1, act=self.activation, impl=self.impl)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, activation={self.activation}"
        )


class MappingNetwork(nn.Module):
    """z (and an optional label c) to the intermediate latent w, broadcast to ``num_ws`` copies.

    z and the embedded label are normalised to unit second moment and concatenated, then
    ``num_layers`` lrelu EqualLinear layers (learning rate ``lr_multiplier``). ``w_avg`` tracks
    the mean w (``update_emas=True`` while training); truncation moves w towards it,
    ``w_avg + psi * (w - w_avg)``, on the first ``cutoff`` copies (all when None).
    """

    w_avg: torch.Tensor

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.998,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if z_dim + c_dim < 1 or w_dim < 1 or num_ws < 1 or num_layers < 1:
            raise ValueError(
                "MappingNetwork: expected z_dim + c_dim >= 1 and w_dim, num_ws, num_layers >= 1, "
                f"got z_dim={z_dim}, c_dim={c_dim}, w_dim={w_dim}, num_ws={num_ws}, "
                f"num_layers={num_layers}"
            )
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        self.embed = EqualLinear(c_dim, w_dim, impl=impl) if c_dim > 0 else None
        features = (z_dim + (w_dim if c_dim > 0 else 0),) + (w_dim,) * num_layers
        self.layers = nn.ModuleList(
            EqualLinear(i, o, activation="lrelu", lr_multiplier=lr_multiplier, impl=impl)
            for i, o in itertools.pairwise(features)
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None = None,
        psi: float = 1.0,
        cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(
                    f"MappingNetwork: expected z of shape [N, {self.z_dim}], "
                    f"got {None if z is None else list(z.shape)}"
                )
            parts.append(normalize_2nd_moment(z))
        if self.embed is not None:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(
                    f"MappingNetwork: expected c of shape [N, {self.c_dim}], "
                    f"got {None if c is None else list(c.shape)}"
                )
            parts.append(normalize_2nd_moment(self.embed(c)))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for layer in self.layers:
            x = layer(x)
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            w_avg = self.w_avg.to(x.dtype)
            if cutoff is None:
                x = w_avg.lerp(x, psi)
            else:
                x = torch.cat([w_avg.lerp(x[:, :cutoff], psi), x[:, cutoff:]], dim=1)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


class ModulatedConv2d(Float32Buffers):
    """Modulated convolution with its affine style layer (:func:`modulated_conv2d`): styles =
    EqualLinear(w) (bias initialised to 1), weights ~ N(0, 1), demodulated by default, optional
    2x up- or downsampling with an FIR filter. Per-sample weights when not training or at batch
    1, input scaling while training (``fused_modconv`` overrides)."""

    resample_filter: torch.Tensor
    float32_buffers = ("resample_filter",)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        w_dim: int,
        demodulate: bool = True,
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if up not in (1, 2) or down not in (1, 2) or (up > 1 and down > 1):
            raise ValueError(
                f"ModulatedConv2d: expected up, down in (1, 2), not both 2; got {up}, {down}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.up, self.down = kernel_size, up, down
        self.demodulate = demodulate
        self.impl = _check_impl(impl, "ModulatedConv2d")
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1, impl=impl)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)
        self.padding = kernel_size // 2

    def styles(self, w: torch.Tensor) -> torch.Tensor:
        return self.affine(w)

    def convolve(
        self, x: torch.Tensor, styles: torch.Tensor, fused_modconv: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(y, scale)`` of :func:`fastgan.ops.modulated_conv2d.modulated_conv`."""
        if fused_modconv is None:
            fused_modconv = not self.training or x.shape[0] == 1
        resampling = self.up > 1 or self.down > 1
        return modulated_conv(
            x,
            self.weight.to(x.dtype),
            styles.to(x.dtype),
            up=self.up,
            down=self.down,
            padding=self.padding,
            resample_filter=self.resample_filter if resampling else None,
            demodulate=self.demodulate,
            fused_modconv=fused_modconv,
            impl=self.impl,
        )

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool | None = None
    ) -> torch.Tensor:
        y, scale = self.convolve(x, self.styles(w), fused_modconv)
        if scale is None:
            return y
        # Under autocast the convolution may return another dtype than x (and the scale).
        return styled_bias_act(y, scale.to(y.dtype), act="linear", gain=1.0, impl=self.impl)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={self.kernel_size}, up={self.up}, down={self.down}, "
            f"demodulate={self.demodulate}"
        )


class StyledConv(nn.Module):
    """The StyleGAN2 generator block: modulated conv (optional 2x up), noise, bias, activation,
    gain and clamp. Everything after the convolution is one :func:`styled_bias_act` pass.

    ``noise_mode``: 'random' (fresh N(0, 1) per sample and pixel), 'const' (a fixed buffer of
    ``resolution`` x ``resolution``) or 'none'; the noise strength is learned, initialised to 0.
    """

    noise_const: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        activation: str = "lrelu",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        self.activation = _check_activation(activation, "StyledConv")
        self.impl = _check_impl(impl, "StyledConv")
        self.conv = ModulatedConv2d(
            in_channels,
            out_channels,
            kernel_size,
            w_dim,
            up=up,
            resample_filter=resample_filter,
            impl=impl,
        )
        self.resolution = resolution
        self.conv_clamp = conv_clamp
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool | None = None,
        gain: float = 1.0,
    ) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(
                f"StyledConv: expected noise_mode in {NOISE_MODES}, got {noise_mode!r}"
            )
        y, scale = self.conv.convolve(x, self.conv.styles(w), fused_modconv)
        if y.shape[2:] != (self.resolution, self.resolution):
            raise ValueError(
                f"StyledConv: built for {self.resolution}x{self.resolution} outputs, "
                f"got {y.shape[2]}x{y.shape[3]} (input {list(x.shape)})"
            )
        noise = None
        strength = self.noise_strength.to(y.dtype)
        if noise_mode == "random":
            noise = (
                torch.randn(
                    y.shape[0], 1, self.resolution, self.resolution, device=y.device, dtype=y.dtype
                )
                * strength
            )
        elif noise_mode == "const":
            noise = self.noise_const.to(y.dtype) * strength
        act_gain = ACTIVATIONS[self.activation].gain * gain
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return styled_bias_act(
            y,
            None if scale is None else scale.to(y.dtype),  # autocast: y's dtype may differ
            noise,
            self.bias.to(y.dtype),
            act=self.activation,
            gain=act_gain,
            clamp=clamp,
            impl=self.impl,
        )

    def extra_repr(self) -> str:
        return (
            f"resolution={self.resolution}, activation={self.activation}, "
            f"conv_clamp={self.conv_clamp}"
        )


class ToRGB(nn.Module):
    """Output layer: 1x1 modulated convolution without demodulation (styles scaled by the He
    constant), bias and clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        kernel_size: int = 1,
        conv_clamp: float | None = None,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        self.impl = _check_impl(impl, "ToRGB")
        self.conv = ModulatedConv2d(
            in_channels, out_channels, kernel_size, w_dim, demodulate=False, impl=impl
        )
        self.conv_clamp = conv_clamp
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool | None = None
    ) -> torch.Tensor:
        styles = self.conv.styles(w) * self.weight_gain
        y, _ = self.conv.convolve(x, styles, fused_modconv)
        return bias_act(y, self.bias.to(y.dtype), clamp=self.conv_clamp, impl=self.impl)

    def extra_repr(self) -> str:
        return f"conv_clamp={self.conv_clamp}"


_IMPL_LAYERS = (
    EqualLinear,
    ModulatedConv2d,
    StyledConv,
    ToRGB,
    MinibatchStdDev,
    MinibatchDiscrimination,
    EqualConv2d,
    BiasAct,
    Upsample2d,
    Downsample2d,
    Blur,
)


def set_impl(module: nn.Module, impl: str) -> nn.Module:
    """Sets ``impl`` ('auto', 'native' or 'ref') on every fastgan layer inside ``module``."""
    _check_impl(impl, "set_impl")
    for m in module.modules():
        if isinstance(m, _IMPL_LAYERS):
            m.impl = impl
    return module
