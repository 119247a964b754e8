"""StyleGAN2's modulated convolution: `fastgan.ops.modulated_conv2d`.

    w'[n, o, i, k] = weight[o, i, k] * styles[n, i]
    d[n, o]        = rsqrt(sum_{i, k} w'[n, o, i, k]^2 + 1e-8)          (demodulate)
    y[n]           = conv2d_resample(x[n], w'[n] * d[n]) + noise

d is computed as rsqrt(styles² @ (sum_k weight²)ᵀ + 1e-8), the same sum without the
[N, O, I, kh, kw] tensor of per-sample weights.
"""

from __future__ import annotations

import math

import torch

from fastgan.ops.conv2d_resample import conv2d_resample
from fastgan.ops.squared_norm import squared_norm
from fastgan.ops.styled_bias_act import styled_bias_act
from fastgan.ops.upfirdn2d import IntOrPair

__all__ = ["demodulation", "modulated_conv", "modulated_conv2d"]

_OP = "modulated_conv2d"


def _check_args(x, weight, styles, noise):
    for name, t in (("x", x), ("weight", weight), ("styles", styles)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{_OP}: expected {name} to be a torch.Tensor, got {type(t).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{_OP}: expected x of shape [N, C, H, W], got shape {list(x.shape)}")
    if weight.ndim != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"{_OP}: expected weight of shape [out_channels, {x.shape[1]} (x's channels), kh, kw],"
            f" got {list(weight.shape)}"
        )
    if styles.ndim != 2 or tuple(styles.shape) != (x.shape[0], x.shape[1]):
        raise ValueError(
            f"{_OP}: expected styles of shape [{x.shape[0]}, {x.shape[1]}] ([N, C] of x), "
            f"got {list(styles.shape)}"
        )
    for name, t in (("weight", weight), ("styles", styles)) + (
        (("noise", noise),) if noise is not None else ()
    ):
        if t.dtype != x.dtype:
            raise TypeError(f"{_OP}: expected {name} of dtype {x.dtype} (x's), got {t.dtype}")
        if t.device != x.device:
            raise ValueError(f"{_OP}: expected {name} on {x.device} (x's device), got {t.device}")


def demodulation(weight: torch.Tensor, styles: torch.Tensor, impl: str = "auto") -> torch.Tensor:
    """d[n, o] = rsqrt(sum_{i,k} (weight[o, i, k] * styles[n, i])^2 + 1e-8), as ``[N, O]``,
    computed in at least float32. ``impl``: 'ref' squares the weight with stock PyTorch ops;
    otherwise fastgan's :func:`squared_norm` sums each kernel's squares in one pass, without the
    ``[O, I, kh, kw]`` tensor of squares (and without its backward's, which cost more)."""
    dtype = torch.promote_types(weight.dtype, torch.float32)
    out_channels, in_channels = weight.shape[:2]
    if impl == "ref":
        energy = weight.to(dtype).square().sum(dim=(2, 3))  # [O, I]
    else:
        per_kernel = weight.reshape(out_channels * in_channels, -1)
        energy = squared_norm(per_kernel, impl=impl).reshape(out_channels, in_channels).to(dtype)
    return (styles.to(dtype).square() @ energy.t() + 1e-8).rsqrt()


def modulated_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    up: int = 1,
    down: int = 1,
    padding: IntOrPair = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
    impl: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The convolution part of :func:`modulated_conv2d`, without noise: returns ``(y, scale)``
    where the modulated convolution is ``y * scale[n, o]`` (``scale`` None when already applied),
    so that a layer can finish with one :func:`styled_bias_act` call (scale, noise, bias,
    activation, clamp in one pass)."""
    _check_args(x, weight, styles, None)
    N, in_channels = x.shape[:2]
    out_channels, _, kh, kw = weight.shape
    if demodulate and x.dtype == torch.float16:
        # Bring the largest weight and style to about 1 first so that no product overflows
        # float16; demodulation cancels these per-(n, o) factors (up to its 1e-8). Scaled in
        # float32, and an all-zero row stays zero (not 0/0).
        fan_in = math.sqrt(in_channels * kh * kw)
        w32, s32 = weight.float(), styles.float()
        w_max = w32.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-30)
        weight = (w32 / (w_max * fan_in)).to(weight.dtype)
        styles = (s32 / s32.abs().amax(dim=1, keepdim=True).clamp_min(1e-30)).to(styles.dtype)
    d = demodulation(weight, styles, impl=impl) if demodulate else None
    kwargs = dict(f=resample_filter, up=up, down=down, padding=padding, flip_weight=flip_weight)
    if not fused_modconv:
        # Scale the input instead of the weights: one shared convolution for the whole batch.
        x = styled_bias_act(x, styles.to(x.dtype), act="linear", gain=1.0, impl=impl)
        y = conv2d_resample(x, weight, **kwargs, impl=impl)
        # Under autocast the convolution's output dtype may differ from x's: the scale follows y.
        return y, None if d is None else d.to(y.dtype)
    w = weight[None] * styles[:, None, :, None, None]
    if d is not None:
        w = w * d.to(w.dtype)[:, :, None, None, None]
    y = conv2d_resample(
        x.reshape(1, N * in_channels, *x.shape[2:]),
        w.reshape(N * out_channels, in_channels, kh, kw),
        groups=N,
        **kwargs,
        impl=impl,
    )
    return y.reshape(N, out_channels, *y.shape[2:]), None


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: IntOrPair = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
    impl: str = "auto",
) -> torch.Tensor:
    """Modulated (and demodulated) convolution of StyleGAN2, with optional FIR resampling.

    ``y[n] = conv2d_resample(x[n], weight * styles[n, None, :, None, None] * d[n, :, None, None,
    None], resample_filter, up, down, padding) + noise`` with ``d[n, o] = rsqrt(sum_{i,k}
    (weight[o, i, k] * styles[n, i])^2 + 1e-8)`` when ``demodulate`` (else 1).

    Args:
        x: ``[N, I, H, W]``.
        weight: ``[O, I, kh, kw]``; styles: ``[N, I]``; both x's dtype and device.
        noise: broadcastable to ``[N, 1, H', W']`` or ``[N, O, H', W']`` (already scaled by its
            strength), or None.
        up, down, padding, resample_filter, flip_weight: as in :func:`conv2d_resample`.
        fused_modconv: True: per-sample weights and one grouped convolution (inference, small
            batches); False: scale x by the styles, one shared convolution, then d and the noise
            in one :func:`styled_bias_act` pass (training). Equal within rounding.
        impl: 'auto', 'native' or 'ref' for the fused ops inside.

    float16-safe (weights and styles are normalised before their product when demodulating).
    """
    _check_args(x, weight, styles, noise)
    y, scale = modulated_conv(
        x,
        weight,
        styles,
        up,
        down,
        padding,
        resample_filter,
        demodulate,
        flip_weight,
        fused_modconv,
        impl,
    )
    if scale is None and noise is None:
        return y
    return styled_bias_act(y, scale, noise, None, act="linear", gain=1.0, impl=impl)
