"""NVIDIA's StyleGAN3 ``torch_utils.ops.filtered_lrelu``, on ``fastgan.ops.filtered_lrelu``.

``filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2,
clamp=None, flip_filter=False, impl='cuda')``: add the bias ``b [C]``, upsample by ``up`` with the
FIR filter ``fu`` (gain ``up**2``, ``padding`` in pixels of the upsampled image), leaky ReLU with
``slope``, times ``gain``, clamp to ``[-clamp, clamp]``, then filter with ``fd`` and keep every
``down``-th sample; the same definition and argument conventions as NVIDIA's, which fastgan's op
shares. ``impl='cuda'`` runs fastgan's native kernel where one is built for x's device (else its
reference, with one warning), ``impl='ref'`` fastgan's pure-PyTorch reference.
"""

from __future__ import annotations

import math

import torch

from fastgan.compat.nvidia._impl import as_ints, as_number, fastgan_impl
from fastgan.ops.filtered_lrelu import filtered_lrelu as _filtered_lrelu
from fastgan.ops.filtered_lrelu import filtered_lrelu_ref as _filtered_lrelu_ref

__all__ = ["filtered_lrelu"]


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None = None,
    fd: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding=0,
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
    flip_filter: bool = False,
    impl: str = "cuda",
) -> torch.Tensor:
    """Bias, FIR upsampling, leaky ReLU with gain and clamp, FIR downsampling (see the module
    docstring)."""
    fimpl = fastgan_impl(impl, "filtered_lrelu")
    gain = as_number(gain, "gain", "filtered_lrelu")
    slope = as_number(slope, "slope", "filtered_lrelu")
    clamp = as_number(clamp, "clamp", "filtered_lrelu")
    if clamp is not None and clamp < 0:
        raise ValueError(f"filtered_lrelu: expected clamp >= 0 or None, got {clamp!r}")
    args = (x, fu, fd, b, as_ints(up), as_ints(down), as_ints(padding), gain, slope, clamp)
    if fimpl == "ref":
        return _filtered_lrelu_ref(*args, flip_filter)
    return _filtered_lrelu(*args, flip_filter, impl=fimpl)
