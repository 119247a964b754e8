"""Discriminator layers: `MinibatchStdDev`."""

from __future__ import annotations

import torch
from torch import nn

from fastgan.ops.minibatch_stddev import minibatch_stddev

__all__ = ["MinibatchStdDev"]


class MinibatchStdDev(nn.Module):
    """Appends the minibatch standard deviation as ``num_channels`` constant channels
    (:func:`fastgan.ops.minibatch_stddev`): ``[N, C, H, W]`` to ``[N, C + num_channels, H, W]``."""

    def __init__(self, group_size: int = 4, num_channels: int = 1, impl: str = "auto") -> None:
        super().__init__()
        for name, value in (("group_size", group_size), ("num_channels", num_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"MinibatchStdDev: expected {name} to be an int >= 1, got {value!r}"
                )
        if impl not in ("auto", "native", "ref"):
            raise ValueError(
                f"MinibatchStdDev: expected impl in ('auto', 'native', 'ref'), got {impl!r}"
            )
        self.group_size, self.num_channels, self.impl = group_size, num_channels, impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_stddev(x, self.group_size, self.num_channels, impl=self.impl)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
