"""Filtered leaky ReLU (StyleGAN3's alias-free activation): `fastgan.ops.filtered_lrelu`.

Per channel plane of x:

    y = upfirdn2d(clamp(lrelu(upfirdn2d(x + b, fu, up, padding, gain=up**2), slope) * gain,
                        -clamp, clamp),
                  fd, down)

i.e. add the bias, upsample by ``up`` with the FIR filter fu (padding in pixels of the upsampled
image), apply the leaky ReLU with its gain and clamp at the high rate, then filter with fd and
keep every ``down``-th sample. The native kernels do this in one pass per tile without writing
the upsampled intermediate to memory.

With the activation's mask M (gain * slope, gain, or 0 where clamped) fixed, y is linear in
x + b: y = D(M * U(x + b)), so grad_x = U^T(M * D^T(grad_y)) and the double backward with respect
to grad_y is the forward map with the same mask.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from fastgan import _native
from fastgan.ops._dispatch import IMPLS, Dispatch, check_float_dtype, memory_format_of
from fastgan.ops.bias_act import bias_act_ref
from fastgan.ops.upfirdn2d import filter_size, parse_padding, upfirdn2d_ref

__all__ = ["filtered_lrelu", "filtered_lrelu_ref"]

OP = "filtered_lrelu"
# Largest up / down factor and filter size (taps per dimension) that every implementation takes.
MAX_FACTOR = 4
MAX_TAPS = 32


class _Dispatch(Dispatch):
    """Dispatch that also copes with a fastgan._C built before this op existed."""

    def __init__(self, op: str) -> None:
        try:
            super().__init__(op)
        except RuntimeError:  # "operator fastgan::filtered_lrelu does not exist"
            self.op = op
            self.devices = frozenset()
            self._warned = set()
            self._missing = True
        else:
            self._missing = False

    def use_native(self, device: torch.device, impl: str) -> bool:
        if not self._missing:
            return super().use_native(device, impl)
        if impl not in IMPLS:
            raise ValueError(f"{self.op}: expected impl in {IMPLS}, got {impl!r}")
        if impl == "native":
            raise RuntimeError(
                f"{self.op}: impl='native' but this build of fastgan._C has no {self.op} op "
                "(rebuild fastgan; see `fastgan info`)"
            )
        if impl == "auto" and not torch.compiler.is_compiling() and device.type not in self._warned:
            self._warned.add(device.type)
            warnings.warn(
                f"fastgan.ops.{self.op}: this build of fastgan._C has no {self.op} kernel; "
                "using the pure-PyTorch reference",
                RuntimeWarning,
                stacklevel=3,
            )
        return False


_DISPATCH = _Dispatch(OP)
IntOrSeq = int | Sequence[int]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_filter(f, name: str, x: torch.Tensor) -> None:
    if f is None:
        return
    if not isinstance(f, torch.Tensor):
        raise TypeError(
            f"{OP}: expected {name} to be a torch.Tensor or None, got {type(f).__name__}"
        )
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(
            f"{OP}: expected {name} to be a non-empty 1-D [taps] or 2-D [fh, fw] filter, "
            f"got shape {list(f.shape)}"
        )
    if max(f.shape) > MAX_TAPS:
        raise ValueError(
            f"{OP}: expected {name} of at most {MAX_TAPS} taps per dimension, "
            f"got shape {list(f.shape)}"
        )
    if f.dtype != torch.float32:
        raise TypeError(f"{OP}: expected {name} of dtype torch.float32, got {f.dtype}")
    if f.device != x.device:
        raise ValueError(f"{OP}: expected {name} on {x.device} (the device of x), got {f.device}")
    if f.requires_grad:
        raise ValueError(
            f"{OP}: {name} requires grad, but gradients with respect to the filters are not "
            f"supported; pass {name}.detach()"
        )


def _check_factor(value, name: str) -> int:
    if not _is_int(value):
        raise TypeError(f"{OP}: expected {name} to be an int, got {value!r}")
    if not 1 <= value <= MAX_FACTOR:
        raise ValueError(f"{OP}: expected {name} in [1, {MAX_FACTOR}], got {value}")
    return value


def output_size(
    in_size: tuple[int, int],
    fu_size: tuple[int, int],
    fd_size: tuple[int, int],
    up: int,
    down: int,
    padding: tuple[int, int, int, int],
) -> tuple[int, int]:
    """(H, W) of the output for an input of in_size = (H, W), filters of (fw, fh) taps, and padding
    (x0, x1, y0, y1); a size may come out < 1 (an empty output, refused by the checks)."""
    (H, W), (fuw, fuh), (fdw, fdh) = in_size, fu_size, fd_size
    px0, px1, py0, py1 = padding
    ow = (W * up + px0 + px1 - (fuw - 1) - (fdw - 1) + down - 1) // down
    oh = (H * up + py0 + py1 - (fuh - 1) - (fdh - 1) + down - 1) // down
    return oh, ow


def _check_args(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
    """Validates the arguments; returns (up, down, padding as (x0, x1, y0, y1), gain, slope,
    clamp as a float, -1 for none)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{OP}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{OP}: expected x of shape [N, C, H, W], got shape {list(x.shape)}")
    check_float_dtype(x, OP)
    _check_filter(fu, "fu", x)
    _check_filter(fd, "fd", x)
    if b is not None:
        if not isinstance(b, torch.Tensor):
            raise TypeError(
                f"{OP}: expected b to be a torch.Tensor or None, got {type(b).__name__}"
            )
        if b.ndim != 1 or b.shape[0] != x.shape[1]:
            raise ValueError(
                f"{OP}: expected b of shape [{x.shape[1]}] (the channels of x), got {list(b.shape)}"
            )
        if b.dtype != x.dtype:
            raise TypeError(f"{OP}: expected b of dtype {x.dtype} (the dtype of x), got {b.dtype}")
        if b.device != x.device:
            raise ValueError(f"{OP}: expected b on {x.device} (the device of x), got {b.device}")
    up = _check_factor(up, "up")
    down = _check_factor(down, "down")
    padding = parse_padding(padding, OP)
    for name, value in (("gain", gain), ("slope", slope)):
        if not _is_number(value) or not math.isfinite(value):
            raise TypeError(f"{OP}: expected {name} to be a finite number, got {value!r}")
    if clamp is not None and (not _is_number(clamp) or not clamp >= 0 or math.isinf(clamp)):
        raise ValueError(f"{OP}: expected clamp to be None or a finite number >= 0, got {clamp!r}")
    if not isinstance(flip_filter, bool):
        raise TypeError(f"{OP}: expected flip_filter to be a bool, got {flip_filter!r}")
    oh, ow = output_size(
        (x.shape[2], x.shape[3]), filter_size(fu), filter_size(fd), up, down, padding
    )
    if oh < 1 or ow < 1:
        raise ValueError(
            f"{OP}: the output would be empty: x of {x.shape[2]}x{x.shape[3]} upsampled by {up} "
            f"and padded by (x0, x1, y0, y1) = {padding} is smaller than the filters "
            f"(fu {list(fu.shape) if fu is not None else [1]}, "
            f"fd {list(fd.shape) if fd is not None else [1]}) need"
        )
    clamp = -1.0 if clamp is None else float(clamp)
    return up, down, padding, float(gain), float(slope), clamp


def _reference(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
    if b is not None:
        x = x + b.reshape(1, -1, 1, 1)
    x = upfirdn2d_ref(x, fu, up=up, padding=padding, flip_filter=flip_filter, gain=up * up)
    x = bias_act_ref(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp if clamp >= 0 else None)
    return upfirdn2d_ref(x, fd, down=down, flip_filter=flip_filter)


def filtered_lrelu_ref(
    x: torch.Tensor,
    fu: torch.Tensor | None = None,
    fd: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: IntOrSeq = 0,
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
    flip_filter: bool = False,
) -> torch.Tensor:
    """Pure-PyTorch reference of :func:`filtered_lrelu` (upfirdn2d_ref, bias_act_ref,
    upfirdn2d_ref), computed in x.dtype; same signature and maths."""
    up, down, padding, gain, slope, clamp = _check_args(
        x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter
    )
    return _reference(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None = None,
    fd: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: IntOrSeq = 0,
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
    flip_filter: bool = False,
    impl: str = "auto",
) -> torch.Tensor:
    """Bias, upsampling FIR filter, leaky ReLU with gain and clamp, downsampling FIR filter.

    ``y = upfirdn2d(clamp(lrelu(upfirdn2d(x + b, fu, up, padding, gain=up**2), slope) * gain,
    -clamp, clamp), fd, down)``

    The output is ``[N, C, (H*up + py0 + py1 - (fu_h - 1) - (fd_h - 1) + down - 1) // down,
    (W*up + px0 + px1 - (fu_w - 1) - (fd_w - 1) + down - 1) // down]``, in x's dtype and memory
    format.

    Args:
        x: ``[N, C, H, W]``, float16 / bfloat16 / float32 / float64 (16-bit computed in float32).
        fu: float32 upsampling filter on x's device: 2-D ``[fh, fw]`` or 1-D ``[taps]`` (separable),
            at most 32 taps per dimension; None is the identity.
        fd: float32 downsampling filter, likewise.
        b: bias ``[C]`` (x's dtype and device) added before upsampling, or None.
        up: upsampling factor, an int in [1, 4].
        down: downsampling factor, an int in [1, 4].
        padding: int, ``[x, y]`` or ``[x0, x1, y0, y1]`` in pixels of the upsampled image
            (negative values crop).
        gain: scale after the leaky ReLU (default sqrt(2)).
        slope: negative slope of the leaky ReLU (default 0.2).
        clamp: clamp the activation to [-clamp, clamp] (after gain, before fd); None: no clamp.
        flip_filter: False: true convolutions; True: correlations (filters not flipped).
        impl: 'auto' (native kernel when built for x's device, else the reference with one
            warning), 'native' (error if no kernel) or 'ref' (the pure-PyTorch reference).

    Differentiable any number of times with respect to x (R1 goes through it), once with
    respect to b; fu and fd must not require grad.
    """
    up, down, padding, gain, slope, clamp = _check_args(
        x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter
    )
    if _DISPATCH.use_native(x.device, impl):
        # The mask of the activation's state is kept only for a backward.
        save_mask = torch.is_grad_enabled() and (
            x.requires_grad or (b is not None and b.requires_grad)
        )
        y, _ = torch.ops.fastgan.filtered_lrelu(
            x, fu, fd, b, up, down, list(padding), gain, slope, clamp, flip_filter, save_mask
        )
        return y
    return _reference(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)


def _mid_size(x, fu, up, padding):
    """(H, W) of the upsampled, filtered intermediate t (the mask's size)."""
    fw, fh = filter_size(fu)
    px0, px1, py0, py1 = padding
    return x.shape[2] * up + py0 + py1 - fh + 1, x.shape[3] * up + px0 + px1 - fw + 1


def _linear_sizes(v, mask, fu, fd, up, down, padding, transpose):
    """(H, W) of filtered_lrelu_linear's output: the forward's output size (transpose False) or
    its input size (True), from the mask's size."""
    (fuw, fuh), (fdw, fdh) = filter_size(fu), filter_size(fd)
    px0, px1, py0, py1 = padding
    th, tw = mask.shape[2], mask.shape[3]
    if transpose:
        return (th - 1 + fuh - py0 - py1) // up, (tw - 1 + fuw - px0 - px1) // up
    return (th - fdh) // down + 1, (tw - fdw) // down + 1


if _native.loaded() and not _DISPATCH._missing:

    @torch.library.register_fake("fastgan::filtered_lrelu")
    def _filtered_lrelu_fake(
        x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, save_mask
    ):
        oh, ow = output_size(
            (x.shape[2], x.shape[3]), filter_size(fu), filter_size(fd), up, down, tuple(padding)
        )
        y = x.new_empty(x.shape[0], x.shape[1], oh, ow).contiguous(
            memory_format=memory_format_of(x)
        )
        if save_mask:
            th, tw = _mid_size(x, fu, up, padding)
            mask = x.new_empty(x.shape[0], x.shape[1], th, tw, dtype=torch.int8)
        else:
            mask = x.new_empty(0, dtype=torch.int8)
        return y, mask

    @torch.library.register_fake("fastgan::filtered_lrelu_linear")
    def _filtered_lrelu_linear_fake(
        v, mask, fu, fd, up, down, padding, gain, slope, flip_filter, transpose
    ):
        oh, ow = _linear_sizes(v, mask, fu, fd, up, down, padding, transpose)
        return v.new_empty(v.shape[0], v.shape[1], oh, ow).contiguous(
            memory_format=memory_format_of(v)
        )

    # Autograd: with the mask fixed the op is linear in x + b, so every gradient is
    # filtered_lrelu_linear (transposed or not), whose own gradient is itself transposed.
    def _setup_forward(ctx, inputs, output):
        _x, fu, fd, _b, up, down, padding, gain, slope, _clamp, flip_filter, _save_mask = inputs
        ctx.save_for_backward(output[1], fu, fd)
        ctx.args = (up, down, list(padding), gain, slope, flip_filter)

    def _backward_forward(ctx, grad_y, _grad_mask):
        mask, fu, fd = ctx.saved_tensors
        if mask.numel() == 0:
            raise RuntimeError(
                "filtered_lrelu: backward through a call made with save_mask=False "
                "(call fastgan.ops.filtered_lrelu, which saves it when x or b requires grad)"
            )
        grad = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[3]:
            grad = torch.ops.fastgan.filtered_lrelu_linear(grad_y, mask, fu, fd, *ctx.args, True)
        grad_b = grad.sum(dim=(0, 2, 3)) if ctx.needs_input_grad[3] else None
        grad_x = grad if ctx.needs_input_grad[0] else None
        return (grad_x, None, None, grad_b) + (None,) * 8

    torch.library.register_autograd(
        "fastgan::filtered_lrelu", _backward_forward, setup_context=_setup_forward
    )

    def _setup_linear(ctx, inputs, output):
        _v, mask, fu, fd, up, down, padding, gain, slope, flip_filter, transpose = inputs
        ctx.save_for_backward(mask, fu, fd)
        ctx.args = (up, down, list(padding), gain, slope, flip_filter)
        ctx.transpose = transpose

    def _backward_linear(ctx, grad):
        mask, fu, fd = ctx.saved_tensors
        grad_v = None
        if ctx.needs_input_grad[0]:
            grad_v = torch.ops.fastgan.filtered_lrelu_linear(
                grad, mask, fu, fd, *ctx.args, not ctx.transpose
            )
        return (grad_v,) + (None,) * 10

    torch.library.register_autograd(
        "fastgan::filtered_lrelu_linear", _backward_linear, setup_context=_setup_linear
    )
