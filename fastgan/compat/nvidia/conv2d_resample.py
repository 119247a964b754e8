"""NVIDIA's ``torch_utils.ops.conv2d_resample``, on fastgan's ``conv2d_resample``.

``conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True,
flip_filter=False)``: a 2-D convolution of ``x [N, I, H, W]`` with ``w [O, I / groups, kh, kw]``
combined with FIR upsampling or downsampling by ``f``, with NVIDIA's semantics:

- ``up > 1``: upsample by ``up`` with f (gain ``up**2``, the filter centred), then convolve;
- ``down > 1``: filter with f (centred), then convolve with stride ``down``;
- ``up = down = 1``: ``conv2d`` of x padded by ``padding`` (f is not used);
- ``up > 1`` and ``down > 1``: as for up, with the padding that centres the downsampling added,
  then a separate ``upfirdn2d(x, f, down=down)``, so that f is applied twice (that is what
  NVIDIA's function computes in this case);

``padding`` (int, ``[x, y]`` or ``[x0, x1, y0, y1]``) in pixels of the upsampled image;
``flip_weight=True`` correlates with w like ``torch.nn.functional.conv2d``, False convolves (w
flipped); ``flip_filter`` as in :func:`upfirdn2d`. NVIDIA's function has no ``impl``; this one
takes a keyword-only ``impl='cuda'`` (fastgan's native resampling kernels) or ``'ref'`` (its
reference) for its resampling.
"""

from __future__ import annotations

import torch

from fastgan.compat.nvidia._impl import as_ints, fastgan_impl
from fastgan.ops.conv2d_resample import conv2d_resample as _conv2d_resample
from fastgan.ops.upfirdn2d import _is_int, filter_size, parse_padding
from fastgan.ops.upfirdn2d import upfirdn2d as _upfirdn2d

__all__ = ["conv2d_resample"]


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding=0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
    *,
    impl: str = "cuda",
) -> torch.Tensor:
    """2-D convolution with optional FIR up/downsampling (see the module docstring)."""
    fimpl = fastgan_impl(impl, "conv2d_resample")
    up, down, groups, padding = as_ints(up), as_ints(down), as_ints(groups), as_ints(padding)
    both = _is_int(up) and _is_int(down) and up > 1 and down > 1
    if not both:
        return _conv2d_resample(
            x, w, f, up, down, padding, groups, flip_weight, flip_filter, impl=fimpl
        )
    # Up and down: NVIDIA upsamples (with the padding of both steps), then downsamples with f
    # again. fastgan's conv2d_resample(up=up) adds the upsampling's centring padding itself.
    if f is not None and not isinstance(f, torch.Tensor):
        raise TypeError(
            f"conv2d_resample: expected f to be a torch.Tensor or None, got {type(f).__name__}"
        )
    fw, fh = filter_size(f) if f is None or f.ndim in (1, 2) else (1, 1)
    px0, px1, py0, py1 = parse_padding(padding, "conv2d_resample")
    padding = [
        px0 + (fw - down + 1) // 2,
        px1 + (fw - down) // 2,
        py0 + (fh - down + 1) // 2,
        py1 + (fh - down) // 2,
    ]
    x = _conv2d_resample(x, w, f, up, 1, padding, groups, flip_weight, flip_filter, impl=fimpl)
    return _upfirdn2d(x, f, down=down, flip_filter=flip_filter, impl=fimpl)
