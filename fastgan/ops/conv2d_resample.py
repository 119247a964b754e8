"""A 2-D convolution combined with FIR up- or downsampling: `fastgan.ops.conv2d_resample`.

Defined as the naive composition, with all padding applied once at the start:

    y = conv2d(upfirdn2d(x, f, up, padding'), w)[:, :, ::down, ::down]      (up > 1 or down > 1)
    y = conv2d(pad(x, padding), w)                                           (up = down = 1)

where padding' is `padding` (in pixels of the upsampled image) plus the padding that centres f
(as in :func:`upsample2d` / :func:`downsample2d`) and the upsampling gain is up². It is computed in
the cheapest order that gives the same result: a transposed convolution then the filter for
up > 1, the filter then a strided convolution for down > 1, and a 1x1 convolution on whichever
side of the resampling touches fewer bytes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fastgan.ops.upfirdn2d import (
    IntOrPair,
    _check_filter,
    _check_x,
    _is_int,
    filter_size,
    parse_padding,
    upfirdn2d,
    upfirdn2d_ref,
)

__all__ = ["conv2d_resample", "conv2d_resample_ref"]


def _check_args(x, w, f, up, down, padding, groups, flip_weight, flip_filter):
    op = "conv2d_resample"
    _check_x(x, op)
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"{op}: expected w to be a torch.Tensor, got {type(w).__name__}")
    if w.ndim != 4:
        raise ValueError(
            f"{op}: expected w of shape [out_channels, in_channels / groups, kh, kw], "
            f"got shape {list(w.shape)}"
        )
    if w.dtype != x.dtype:
        raise TypeError(f"{op}: expected w of dtype {x.dtype} (the dtype of x), got {w.dtype}")
    if w.device != x.device:
        raise ValueError(f"{op}: expected w on {x.device} (the device of x), got {w.device}")
    _check_filter(f, x, op)
    for name, value in (("up", up), ("down", down), ("groups", groups)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{op}: expected {name} to be an int >= 1, got {value!r}")
    if w.shape[0] % groups != 0 or w.shape[1] * groups != x.shape[1]:
        raise ValueError(
            f"{op}: expected w of shape [out_channels (a multiple of groups={groups}), "
            f"{x.shape[1] // groups if x.shape[1] % groups == 0 else x.shape[1] / groups} "
            f"(x's {x.shape[1]} channels / groups), kh, kw], got {list(w.shape)}"
        )
    for name, value in (("flip_weight", flip_weight), ("flip_filter", flip_filter)):
        if not isinstance(value, bool):
            raise TypeError(f"{op}: expected {name} to be a bool, got {value!r}")
    px0, px1, py0, py1 = parse_padding(padding, op)
    # The filter runs only when resampling; then the image goes through it and the kernel.
    fw, fh = filter_size(f) if up > 1 or down > 1 else (1, 1)
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    kh, kw = w.shape[2], w.shape[3]
    H, W = x.shape[2], x.shape[3]
    if H * up + py0 + py1 < kh + fh - 1 or W * up + px0 + px1 < kw + fw - 1:
        raise ValueError(
            f"{op}: the output would be empty: x of {H}x{W} upsampled by {up} and padded to "
            f"{H * up + py0 + py1}x{W * up + px0 + px1} is smaller than the {kh}x{kw} kernel "
            f"combined with the {fh}x{fw} filter"
        )
    return px0, px1, py0, py1


def conv2d_resample_ref(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: IntOrPair = 0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
) -> torch.Tensor:
    """The naive composition that defines :func:`conv2d_resample` (resample, then convolve,
    then keep every down-th sample), with the pure-PyTorch upfirdn2d reference."""
    px0, px1, py0, py1 = _check_args(x, w, f, up, down, padding, groups, flip_weight, flip_filter)
    if not flip_weight:
        w = w.flip([2, 3])
    if up == 1 and down == 1:
        return F.conv2d(F.pad(x, [px0, px1, py0, py1]), w, groups=groups)
    x = upfirdn2d_ref(
        x, f, up=up, padding=[px0, px1, py0, py1], flip_filter=flip_filter, gain=up * up
    )
    return F.conv2d(x, w, groups=groups)[:, :, ::down, ::down]


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: IntOrPair = 0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
    impl: str = "auto",
) -> torch.Tensor:
    """2-D convolution with FIR upsampling or downsampling, in the cheapest order.

    ``y = conv2d(upfirdn2d(x, f, up, padding'), w)[:, :, ::down, ::down]`` with padding' =
    ``padding`` plus the filter's centring padding and gain ``up**2`` (see the module docstring);
    without resampling (``up = down = 1``), f is not used and ``y = conv2d(pad(x, padding), w)``.

    Args:
        x: ``[N, in_channels, H, W]``.
        w: ``[out_channels, in_channels / groups, kh, kw]``, x's dtype and device.
        f: float32 FIR filter (see :func:`setup_filter`), or None for no filtering.
        up, down: integer up/downsampling factors (>= 1).
        padding: int, ``[x, y]`` or ``[x0, x1, y0, y1]``, in pixels of the upsampled image.
        groups: convolution groups.
        flip_weight: True: correlate with w, like ``torch.nn.functional.conv2d``; False: a true
            convolution (w flipped).
        flip_filter: False: convolve with f; True: correlate.
        impl: 'auto', 'native' or 'ref' for the resampling (see :func:`fastgan.ops.upfirdn2d`).

    Differentiable twice (and more) with respect to x and w.
    """
    px0, px1, py0, py1 = _check_args(x, w, f, up, down, padding, groups, flip_weight, flip_filter)
    if not flip_weight:
        w = w.flip([2, 3])
    kh, kw = w.shape[2], w.shape[3]
    in_channels, out_channels = x.shape[1], w.shape[0]
    pad = [px0, px1, py0, py1]

    if up == 1 and down == 1:
        if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
            return F.conv2d(x, w, padding=[py0, px0], groups=groups)
        return F.conv2d(F.pad(x, pad), w, groups=groups)

    if kh == 1 and kw == 1:
        # A 1x1 convolution commutes with resampling: run it where the tensors are smaller.
        scale = (up / down) ** 2
        conv_first = in_channels + out_channels * (2 + scale)
        resample_first = in_channels * (1 + 2 * scale) + out_channels * scale
        if conv_first < resample_first:
            x = F.conv2d(x, w, groups=groups)
            return upfirdn2d(
                x,
                f,
                up=up,
                down=down,
                padding=pad,
                flip_filter=flip_filter,
                gain=up * up,
                impl=impl,
            )
        x = upfirdn2d(
            x, f, up=up, down=down, padding=pad, flip_filter=flip_filter, gain=up * up, impl=impl
        )
        return F.conv2d(x, w, groups=groups)

    if up == 1:
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, impl=impl)
        return F.conv2d(x, w, stride=down, groups=groups)

    # conv2d of the zero-stuffed, padded x = a transposed convolution (stride up) of x with the
    # flipped kernel, shifted: its full output, padded by (pad0 - k + 1, pad1 - k + up), which
    # upfirdn2d applies together with the filter and the downsampling.
    weight = w.flip([2, 3]).reshape(groups, out_channels // groups, in_channels // groups, kh, kw)
    weight = weight.transpose(1, 2).reshape(in_channels, out_channels // groups, kh, kw)
    x = F.conv_transpose2d(x, weight, stride=up, groups=groups)
    pad = [px0 - kw + 1, px1 - kw + up, py0 - kh + 1, py1 - kh + up]
    return upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter, gain=up * up, impl=impl)
