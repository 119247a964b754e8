"""FIR resampling: `fastgan.ops.upfirdn2d` and the StyleGAN helpers built on it.

upfirdn2d(x, f, up, down, padding) on x of shape [N, C, H, W], per plane:

    1. upsample: insert up-1 zeros after every sample (length H*up, W*up)
    2. pad with zeros (negative padding crops)
    3. convolve with the FIR filter f (2-D [fh, fw], or 1-D [fw] applied along x then along y)
    4. keep every down-th sample, starting at index 0
    5. multiply by gain

computed directly in polyphase form (no zero-stuffed or padded intermediate). Its gradient with
respect to x is upfirdn2d again, with up and down swapped, the filter flipped and the padding
mirrored, so it is differentiable any number of times.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from fastgan import _native
from fastgan.ops._dispatch import Dispatch, check_float_dtype, memory_format_of

__all__ = [
    "downsample2d",
    "filter2d",
    "filter_size",
    "parse_padding",
    "parse_scaling",
    "setup_filter",
    "upfirdn2d",
    "upfirdn2d_ref",
    "upsample2d",
]

_DISPATCH = Dispatch("upfirdn2d")
IntOrPair = int | Sequence[int]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_scaling(value: IntOrPair, name: str = "up", op: str = "upfirdn2d") -> tuple[int, int]:
    """An up/down factor as (x, y): an int, or a pair [x, y]; each at least 1."""
    if _is_int(value):
        pair = (value, value)
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_int, value)):
        pair = (value[0], value[1])
    else:
        raise TypeError(
            f"{op}: expected {name} to be an int or a pair [x, y] of ints, got {value!r}"
        )
    if min(pair) < 1:
        raise ValueError(f"{op}: expected {name} >= 1, got {value!r}")
    return pair


def parse_padding(value: IntOrPair, op: str = "upfirdn2d") -> tuple[int, int, int, int]:
    """Padding as (x0, x1, y0, y1): an int, [x, y] or [x0, x1, y0, y1]; negative values crop."""
    if _is_int(value):
        return (value, value, value, value)
    if isinstance(value, (list, tuple)) and all(map(_is_int, value)):
        if len(value) == 2:
            return (value[0], value[0], value[1], value[1])
        if len(value) == 4:
            return (value[0], value[1], value[2], value[3])
    raise TypeError(
        f"{op}: expected padding to be an int, [x, y] or [x0, x1, y0, y1] of ints, got {value!r}"
    )


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(fw, fh) of a filter: a 1-D filter of n taps is n x n (it runs along x and y)."""
    if f is None:
        return 1, 1
    if f.ndim == 1:
        return f.shape[0], f.shape[0]
    return f.shape[1], f.shape[0]


def _check_filter(f: torch.Tensor | None, x: torch.Tensor, op: str) -> None:
    if f is None:
        return
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"{op}: expected f to be a torch.Tensor or None, got {type(f).__name__}")
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(
            f"{op}: expected f to be a non-empty 1-D [fw] or 2-D [fh, fw] filter, "
            f"got shape {list(f.shape)}"
        )
    if f.dtype != torch.float32:
        raise TypeError(f"{op}: expected f of dtype torch.float32, got {f.dtype}")
    if f.device != x.device:
        raise ValueError(f"{op}: expected f on {x.device} (the device of x), got {f.device}")
    if f.requires_grad:
        raise ValueError(
            f"{op}: f requires grad, but gradients with respect to the filter are not supported; "
            "pass f.detach() (or a filter from setup_filter)"
        )


def _check_x(x: torch.Tensor, op: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected x of shape [N, C, H, W], got shape {list(x.shape)}")
    check_float_dtype(x, op)


def _output_size(x, f, up, down, padding, op):
    (ux, uy), (dx, dy) = up, down
    px0, px1, py0, py1 = padding
    fw, fh = filter_size(f)
    H, W = x.shape[2], x.shape[3]
    span_y = H * uy + py0 + py1 - fh
    span_x = W * ux + px0 + px1 - fw
    if span_y < 0 or span_x < 0:
        raise ValueError(
            f"{op}: the output would be empty: x of {H}x{W} upsampled by (x={ux}, y={uy}) and "
            f"padded by (x0={px0}, x1={px1}, y0={py0}, y1={py1}) is "
            f"{H * uy + py0 + py1}x{W * ux + px0 + px1}, smaller than the {fh}x{fw} filter"
        )
    return span_y // dy + 1, span_x // dx + 1


def _check_args(x, f, up, down, padding, flip_filter, gain, op="upfirdn2d"):
    _check_x(x, op)
    _check_filter(f, x, op)
    up = parse_scaling(up, "up", op)
    down = parse_scaling(down, "down", op)
    padding = parse_padding(padding, op)
    if not isinstance(flip_filter, bool):
        raise TypeError(f"{op}: expected flip_filter to be a bool, got {flip_filter!r}")
    if not isinstance(gain, (int, float)) or isinstance(gain, bool):
        raise TypeError(f"{op}: expected gain to be a number, got {gain!r}")
    _output_size(x, f, up, down, padding, op)
    return up, down, padding, float(gain)


def _reference(x, f, up, down, padding, flip_filter, gain):
    (ux, uy), (dx, dy) = up, down
    px0, px1, py0, py1 = padding
    N, C, H, W = x.shape
    if ux > 1 or uy > 1:
        x = x.reshape(N, C, H, 1, W, 1)
        x = F.pad(x, [0, ux - 1, 0, 0, 0, uy - 1])
        x = x.reshape(N, C, H * uy, W * ux)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    # One depthwise convolution (groups=C) per filter, whose stride keeps every down-th output.
    # conv2d is a correlation: a true convolution flips the filter.
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 1:
        x = F.conv2d(x, (f * gain).view(1, 1, 1, -1).expand(C, 1, 1, -1), stride=(1, dx), groups=C)
        return F.conv2d(x, f.view(1, 1, -1, 1).expand(C, 1, -1, 1), stride=(dy, 1), groups=C)
    weight = (f * gain)[None, None].expand(C, 1, *f.shape)
    return F.conv2d(x, weight, stride=(dy, dx), groups=C)


def upfirdn2d_ref(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: IntOrPair = 1,
    down: IntOrPair = 1,
    padding: IntOrPair = 0,
    flip_filter: bool = False,
    gain: float = 1,
) -> torch.Tensor:
    """Pure-PyTorch reference of :func:`upfirdn2d` (zero insertion, pad, a depthwise conv2d
    with stride), in x.dtype; same signature and maths."""
    up, down, padding, gain = _check_args(x, f, up, down, padding, flip_filter, gain)
    return _reference(x, f, up, down, padding, flip_filter, gain)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: IntOrPair = 1,
    down: IntOrPair = 1,
    padding: IntOrPair = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "auto",
) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of images in one pass.

    Per plane of x: insert ``up - 1`` zeros after every sample, pad with zeros by ``padding``
    (negative values crop), convolve with ``f``, keep every ``down``-th sample from index 0, and
    multiply by ``gain``. The output is
    ``[N, C, (H*up_y + pad_y0 + pad_y1 - fh) // down_y + 1, (W*up_x + pad_x0 + pad_x1 - fw) //
    down_x + 1]``, in x's dtype and memory format.

    Args:
        x: ``[N, C, H, W]``, float16 / bfloat16 / float32 / float64 (16-bit computed in float32).
        f: float32 filter on x's device: 2-D ``[fh, fw]``, or 1-D ``[fw]`` applied separably (along
            x, then along y); None is the identity ``[[1]]``. See :func:`setup_filter`.
        up: upsampling factor, int or ``[x, y]``, >= 1.
        down: downsampling factor, int or ``[x, y]``, >= 1.
        padding: int, ``[x, y]`` or ``[x0, x1, y0, y1]``, in pixels of the upsampled image.
        flip_filter: False: a true convolution; True: a correlation (f not flipped).
        gain: output scale.
        impl: 'auto', 'native' or 'ref' (see :func:`fastgan.ops.bias_act`).

    Differentiable any number of times with respect to x; f must not require grad.
    """
    up, down, padding, gain = _check_args(x, f, up, down, padding, flip_filter, gain)
    if _DISPATCH.use_native(x.device, impl):
        if f is None:
            f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
        return torch.ops.fastgan.upfirdn2d(x, f, up, down, padding, flip_filter, gain)
    return _reference(x, f, up, down, padding, flip_filter, gain)


def gradient_args(
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    f_size: tuple[int, int],
    up: tuple[int, int],
    down: tuple[int, int],
    padding: tuple[int, int, int, int],
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """(up, down, padding) of the upfirdn2d that maps a gradient of the output (out_size, as
    (H, W)) back to the input (in_size): up and down swapped, the filter flipped (by the caller),
    and the padding mirrored so that exactly the input's H x W comes out. The C++ autograd
    (csrc/upfirdn2d/upfirdn2d_autograd.cpp) computes the same; the tests check it as an
    adjoint."""
    (H, W), (oh, ow), (fw, fh) = in_size, out_size, f_size
    (ux, uy), (dx, dy) = up, down
    px0, _, py0, _ = padding
    return (
        (dx, dy),
        (ux, uy),
        (
            fw - px0 - 1,
            W * ux - ow * dx + px0 - ux + 1,
            fh - py0 - 1,
            H * uy - oh * dy + py0 - uy + 1,
        ),
    )


if _native.loaded():

    @torch.library.register_fake("fastgan::upfirdn2d")
    def _upfirdn2d_fake(x, f, up, down, padding, flip_filter, gain):
        oh, ow = _output_size(x, f, up, down, padding, "upfirdn2d")
        return x.new_empty(x.shape[0], x.shape[1], oh, ow).contiguous(
            memory_format=memory_format_of(x)
        )

    # Autograd is registered in C++ (csrc/upfirdn2d/upfirdn2d_autograd.cpp): the Python hop of
    # register_autograd cost about 0.3 ms per forward+backward, as much as the kernels at 8x8.


# ---- StyleGAN helpers ----------------------------------------------------------------------------


def setup_filter(
    f: Sequence[float] | torch.Tensor | None,
    device: torch.device | str | None = None,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1,
    separable: bool | None = None,
) -> torch.Tensor:
    """A float32 FIR filter for upfirdn2d from a list or tensor of taps.

    Normalised to sum 1 (``normalize``); a 1-D filter stays 1-D (separable) when ``separable`` is
    True, or by default when it has 8 taps or more, else it becomes its outer product ``[n, n]``;
    ``flip_filter`` flips it; ``gain`` is spread over its dimensions (``gain ** (ndim / 2)`` per
    filter, so that the 2-D response is scaled by ``gain``). None gives the identity ``[[1]]``.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(
            f"setup_filter: expected a non-empty 1-D or 2-D filter, got shape {list(f.shape)}"
        )
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if separable and f.ndim != 1:
        raise ValueError("setup_filter: separable=True needs a 1-D filter")
    if normalize:
        total = f.sum()
        if total == 0:
            raise ValueError("setup_filter: cannot normalize a filter whose taps sum to 0")
        f = f / total
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: IntOrPair = 2,
    padding: IntOrPair = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "auto",
) -> torch.Tensor:
    """Upsample by ``up`` with the FIR filter f: output exactly ``up`` times larger (plus
    ``padding``), the filter centred, and the gain multiplied by ``up_x * up_y`` so that the mean is
    kept."""
    ux, uy = parse_scaling(up, "up", "upsample2d")
    px0, px1, py0, py1 = parse_padding(padding, "upsample2d")
    _check_x(x, "upsample2d")
    _check_filter(f, x, "upsample2d")
    fw, fh = filter_size(f)
    pad = [
        px0 + (fw + ux - 1) // 2,
        px1 + (fw - ux) // 2,
        py0 + (fh + uy - 1) // 2,
        py1 + (fh - uy) // 2,
    ]
    return upfirdn2d(
        x, f, up=(ux, uy), padding=pad, flip_filter=flip_filter, gain=gain * ux * uy, impl=impl
    )


def downsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    down: IntOrPair = 2,
    padding: IntOrPair = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "auto",
) -> torch.Tensor:
    """Filter with f and keep every ``down``-th sample: output exactly ``down`` times smaller (plus
    ``padding``), the filter centred."""
    dx, dy = parse_scaling(down, "down", "downsample2d")
    px0, px1, py0, py1 = parse_padding(padding, "downsample2d")
    _check_x(x, "downsample2d")
    _check_filter(f, x, "downsample2d")
    fw, fh = filter_size(f)
    pad = [
        px0 + (fw - dx + 1) // 2,
        px1 + (fw - dx) // 2,
        py0 + (fh - dy + 1) // 2,
        py1 + (fh - dy) // 2,
    ]
    return upfirdn2d(
        x, f, down=(dx, dy), padding=pad, flip_filter=flip_filter, gain=gain, impl=impl
    )


def filter2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    padding: IntOrPair = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "auto",
) -> torch.Tensor:
    """Filter with f keeping the size (plus ``padding``), the filter centred (a blur)."""
    px0, px1, py0, py1 = parse_padding(padding, "filter2d")
    _check_x(x, "filter2d")
    _check_filter(f, x, "filter2d")
    fw, fh = filter_size(f)
    pad = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)
