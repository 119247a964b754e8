"""Discriminator layers: `MinibatchStdDev`, `MinibatchDiscrimination`."""

from __future__ import annotations

import math

import torch
from torch import nn

from fastgan.ops._dispatch import IMPLS
from fastgan.ops.minibatch_discrimination import minibatch_discrimination
from fastgan.ops.minibatch_stddev import minibatch_stddev

__all__ = ["MinibatchDiscrimination", "MinibatchStdDev"]


def _check_positive_ints(layer: str, **values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{layer}: expected {name} to be an int >= 1, got {value!r}")


def _check_impl(layer: str, impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"{layer}: expected impl in {IMPLS}, got {impl!r}")


class MinibatchStdDev(nn.Module):
    """Appends the minibatch standard deviation as ``num_channels`` constant channels
    (:func:`fastgan.ops.minibatch_stddev`): ``[N, C, H, W]`` to ``[N, C + num_channels, H, W]``."""

    def __init__(self, group_size: int = 4, num_channels: int = 1, impl: str = "auto") -> None:
        super().__init__()
        _check_positive_ints("MinibatchStdDev", group_size=group_size, num_channels=num_channels)
        _check_impl("MinibatchStdDev", impl)
        self.group_size, self.num_channels, self.impl = group_size, num_channels, impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_stddev(x, self.group_size, self.num_channels, impl=self.impl)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016,
    :func:`fastgan.ops.minibatch_discrimination`): ``[N, in_features]`` to
    ``[N, in_features + num_kernels]``, the input followed by each sample's L1-kernel similarity
    to the batch under ``num_kernels`` learned projections of ``kernel_dim`` dimensions.

    The tensor ``T`` [in_features, num_kernels, kernel_dim] starts as
    N(0, 1 / (in_features * kernel_dim²)): for unit-variance features each projected coordinate
    has standard deviation 1 / kernel_dim, so that the L1 distance between two samples is about 1
    and their similarity exp(-distance) is neither 0 nor 1 from the start. Under autocast, T is
    used in the input's dtype.
    """

    def __init__(
        self, in_features: int, num_kernels: int, kernel_dim: int, impl: str = "auto"
    ) -> None:
        super().__init__()
        _check_positive_ints(
            "MinibatchDiscrimination",
            in_features=in_features,
            num_kernels=num_kernels,
            kernel_dim=kernel_dim,
        )
        _check_impl("MinibatchDiscrimination", impl)
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.impl = impl
        self.T = nn.Parameter(torch.empty(in_features, num_kernels, kernel_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.T, std=1 / (math.sqrt(self.in_features) * self.kernel_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_discrimination(x, self.T.to(x.dtype), impl=self.impl)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_kernels={self.num_kernels}, "
            f"kernel_dim={self.kernel_dim}"
        )
