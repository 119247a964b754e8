"""NVIDIA's ``torch_utils.ops.fma``: ``fma(a, b, c) = a * b + c`` with broadcasting.

``torch.addcmul`` computes it in one pass and its autograd reduces each gradient to its input's
shape (any order), which is what NVIDIA's module provides.
"""

from __future__ import annotations

import torch

__all__ = ["fma"]


def fma(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``a * b + c``, broadcast; differentiable (any order) with respect to all three."""
    for name, value in (("a", a), ("b", b), ("c", c)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"fma: expected {name} to be a torch.Tensor, got {type(value).__name__}"
            )
    try:
        torch.broadcast_shapes(a.shape, b.shape, c.shape)
    except RuntimeError:
        raise ValueError(
            f"fma: a, b and c must broadcast together, got shapes {list(a.shape)}, "
            f"{list(b.shape)} and {list(c.shape)}"
        ) from None
    return torch.addcmul(c, a, b)
