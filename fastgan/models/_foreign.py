"""Shared by the loaders of other projects' networks (:mod:`fastgan.models.nvidia_pickle`,
:mod:`fastgan.models.rosinality`): errors, the channel layout fit, the resampling filter and the
tensor-by-tensor copy into a fastgan model that leaves nothing out on either side."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from fastgan.ops.upfirdn2d import setup_filter
from fastgan.utils.checkpoint import CheckpointError

__all__ = [
    "DEFAULT_FILTER",
    "ForeignNetworkError",
    "UnsupportedNetworkError",
    "filter_from_2d",
    "fit_channels",
    "load_mapped",
]

DEFAULT_FILTER = (1.0, 3.0, 3.0, 1.0)


class ForeignNetworkError(CheckpointError):
    """A network file of another project that cannot be read: not that kind of file, truncated,
    corrupt, or holding something other than what the format records."""


class UnsupportedNetworkError(ForeignNetworkError):
    """A readable network whose architecture fastgan's models cannot represent."""


def fit_channels(channels: Mapping[int, int], where: str) -> tuple[int, int]:
    """``(channel_base, channel_max)`` with ``min(channel_base // r, channel_max) ==
    channels[r]`` for every resolution r of `channels`; UnsupportedNetworkError when none
    exists (fastgan's models derive every resolution's channels from these two numbers)."""
    channel_max = max(channels.values())
    candidates = {channel_max * max(channels)}
    for r, c in channels.items():
        candidates.update(c * r + k for k in (0, r - 1))
    for base in sorted(candidates):
        if all(min(base // r, channel_max) == c for r, c in channels.items()):
            return base, channel_max
    layout = ", ".join(f"{r}: {c}" for r, c in sorted(channels.items()))
    raise UnsupportedNetworkError(
        f"{where}: the channels per resolution ({layout}) do not follow "
        "min(channel_base // resolution, channel_max) for any channel_base and channel_max, "
        "which is the layout fastgan's StyleGAN2 models support"
    )


def filter_from_2d(kernel: torch.Tensor, where: str) -> tuple[float, ...]:
    """The 1-D FIR filter (normalised to sum 1) whose outer product is `kernel` up to a scale;
    UnsupportedNetworkError for a non-separable or non-square kernel."""
    k = kernel.detach().double().cpu()
    if k.ndim == 1:
        f = k / k.sum()
    elif k.ndim == 2 and k.shape[0] == k.shape[1] and float(k.sum()) != 0:
        k = k / k.sum()
        f = k.sum(dim=1)
        if not torch.allclose(torch.outer(f, f), k, rtol=1e-5, atol=1e-7):
            raise UnsupportedNetworkError(
                f"{where}: a non-separable resampling filter of shape {list(kernel.shape)}; "
                "fastgan's models use separable FIR filters"
            )
    else:
        raise UnsupportedNetworkError(
            f"{where}: expected a square 2-D resampling filter, got shape {list(kernel.shape)}"
        )
    return tuple(float(v) for v in f)


def same_filter(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two 1-D filters are equal once normalised to sum 1."""
    if len(a) != len(b):
        return False
    sa, sb = sum(a), sum(b)
    pairs = zip(a, b, strict=True)
    return all(math.isclose(x / sa, y / sb, rel_tol=1e-5, abs_tol=1e-7) for x, y in pairs)


def check_filter_buffer(kernel: torch.Tensor, expected: tuple[float, ...], where: str) -> None:
    """UnsupportedNetworkError unless the stored filter `kernel` is `expected` (any scale)."""
    found = filter_from_2d(kernel, where)
    if not same_filter(found, expected):
        raise UnsupportedNetworkError(
            f"{where}: this network uses the resampling filter {_round(found)} here but "
            f"{_round(expected)} elsewhere; fastgan's models use one filter throughout"
        )


def _round(f: tuple[float, ...]) -> list[float]:
    s = sum(f)
    return [round(v / s, 6) for v in f]


def load_mapped(
    model: nn.Module,
    source: Mapping[str, torch.Tensor],
    mapping: Mapping[str, tuple[str, torch.Tensor]],
    ignored: set[str],
    where: str,
) -> nn.Module:
    """Copy `mapping` (fastgan name -> (source name, tensor)) into `model`'s state, checking that
    every tensor of `model`'s state dict gets one, every tensor of `source` is used (or in
    `ignored`, names that were checked and need no copy) and shapes agree. The model is returned
    in float32 and eval mode."""
    state = model.state_dict()
    missing = sorted(set(state) - set(mapping))
    unknown = sorted(set(mapping) - set(state))
    used = {name for name, _ in mapping.values()} | set(ignored)
    leftover = sorted(set(source) - used)
    if missing or unknown or leftover:
        parts = []
        if leftover:
            parts.append(f"tensors of the file that fastgan's model has no place for: {leftover}")
        if missing:
            parts.append(f"fastgan tensors the file does not provide: {missing}")
        if unknown:
            parts.append(f"(internal) names fastgan's model lacks: {unknown}")
        raise UnsupportedNetworkError(f"{where}: " + "; ".join(parts))
    new_state = {}
    for name, (src_name, tensor) in mapping.items():
        want = state[name]
        if tuple(tensor.shape) != tuple(want.shape):
            raise UnsupportedNetworkError(
                f"{where}: {src_name} has shape {list(tensor.shape)}, fastgan's {name} "
                f"expects {list(want.shape)}"
            )
        if not tensor.is_floating_point():
            raise ForeignNetworkError(
                f"{where}: {src_name} holds {tensor.dtype} values, expected floating point"
            )
        new_state[name] = tensor.detach().to(torch.float32)
    model.load_state_dict(new_state, strict=True)
    return model.float().eval()


def default_filter_2d() -> torch.Tensor:
    """The normalised 2-D [1, 3, 3, 1] filter."""
    return setup_filter(DEFAULT_FILTER)
