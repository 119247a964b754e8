"""NVIDIA's ``torch_utils.ops.upfirdn2d``, on fastgan's FIR resampling kernel.

Same functions, signatures, defaults and conventions as NVIDIA's module:

- ``upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl='cuda')``: per plane
  of ``x [N, C, H, W]``, insert ``up - 1`` zeros after every sample, pad by ``padding`` (int,
  ``[x, y]`` or ``[x0, x1, y0, y1]``; negative crops), convolve with ``f`` (2-D ``[fh, fw]``, or 1-D
  applied along x then y; ``flip_filter=True`` correlates instead), keep every ``down``-th sample
  and multiply by ``gain``. ``f=None`` is the identity.
- ``setup_filter(f, device=torch.device('cpu'), normalize=True, flip_filter=False, gain=1,
  separable=None)``: a float32 filter from a list of taps; a 1-D filter stays separable by default
  only with 8 taps or more.
- ``upsample2d``, ``downsample2d``, ``filter2d``: the filter centred, the output exactly ``up``
  times larger / ``down`` times smaller / the same size (plus ``padding``).

``impl='cuda'`` runs fastgan's native kernel on every device that has one (the CPU included),
``impl='ref'`` fastgan's pure-PyTorch reference.
"""

from __future__ import annotations

import importlib

import torch

from fastgan.compat.nvidia._impl import as_ints, as_number, fastgan_impl
from fastgan.ops.upfirdn2d import filter_size, parse_padding, parse_scaling

# The module (the package attribute fastgan.ops.upfirdn2d is the function of that name).
_ops = importlib.import_module("fastgan.ops.upfirdn2d")
_CPU = torch.device("cpu")  # setup_filter's default device, as NVIDIA's

__all__ = ["downsample2d", "filter2d", "setup_filter", "upfirdn2d", "upsample2d"]


# NVIDIA's private helpers, which other modules of theirs (conv2d_resample) and third-party
# network code import.
def _parse_scaling(scaling) -> tuple[int, int]:
    return parse_scaling(as_ints(scaling), "up/down", "upfirdn2d")


def _parse_padding(padding) -> tuple[int, int, int, int]:
    return parse_padding(as_ints(padding), "upfirdn2d")


def _get_filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(fw, fh) of a filter; None is 1 x 1."""
    if f is not None and (not isinstance(f, torch.Tensor) or f.ndim not in (1, 2)):
        raise ValueError(
            f"upfirdn2d: expected f to be a 1-D or 2-D tensor or None, got "
            f"{list(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__}"
        )
    return filter_size(f)


def setup_filter(
    f,
    device: torch.device | str = _CPU,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1,
    separable: bool | None = None,
) -> torch.Tensor:
    """A float32 FIR filter on ``device`` from a list, array or tensor of taps (None: ``[[1]]``).

    A 1-D filter becomes its outer product ``[n, n]`` unless ``separable`` (default: True only
    for 8 taps or more); ``normalize`` makes the taps sum to 1, ``flip_filter`` flips it, and
    ``gain`` scales its 2-D response.
    """
    if isinstance(f, torch.Tensor):
        f = f.detach()
    gain = as_number(gain, "gain", "setup_filter")
    return _ops.setup_filter(
        f,
        device=device,
        normalize=normalize,
        flip_filter=flip_filter,
        gain=gain,
        separable=separable,
    )


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up=1,
    down=1,
    padding=0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "cuda",
) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of images (see the module docstring)."""
    return _ops.upfirdn2d(
        x,
        f,
        up=as_ints(up),
        down=as_ints(down),
        padding=as_ints(padding),
        flip_filter=flip_filter,
        gain=as_number(gain, "gain", "upfirdn2d"),
        impl=fastgan_impl(impl, "upfirdn2d"),
    )


def filter2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    padding=0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "cuda",
) -> torch.Tensor:
    """Filter with f, keeping the size (plus ``padding``)."""
    return _ops.filter2d(
        x,
        f,
        padding=as_ints(padding),
        flip_filter=flip_filter,
        gain=as_number(gain, "gain", "filter2d"),
        impl=fastgan_impl(impl, "filter2d"),
    )


def upsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up=2,
    padding=0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "cuda",
) -> torch.Tensor:
    """Upsample by ``up`` with the filter f; the gain is multiplied by ``up_x * up_y``."""
    return _ops.upsample2d(
        x,
        f,
        up=as_ints(up),
        padding=as_ints(padding),
        flip_filter=flip_filter,
        gain=as_number(gain, "gain", "upsample2d"),
        impl=fastgan_impl(impl, "upsample2d"),
    )


def downsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    down=2,
    padding=0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "cuda",
) -> torch.Tensor:
    """Filter with f and keep every ``down``-th sample."""
    return _ops.downsample2d(
        x,
        f,
        down=as_ints(down),
        padding=as_ints(padding),
        flip_filter=flip_filter,
        gain=as_number(gain, "gain", "downsample2d"),
        impl=fastgan_impl(impl, "downsample2d"),
    )
