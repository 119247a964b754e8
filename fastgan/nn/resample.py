"""Drop-in FIR resampling layers: `Upsample2d`, `Downsample2d` and `Blur`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fastgan.ops._dispatch import IMPLS
from fastgan.ops.upfirdn2d import (
    IntOrPair,
    downsample2d,
    filter2d,
    parse_padding,
    parse_scaling,
    setup_filter,
    upsample2d,
)

__all__ = ["Blur", "Downsample2d", "Float32Buffers", "Upsample2d"]

DEFAULT_FILTER = (1, 3, 3, 1)


class Float32Buffers(nn.Module):
    """A module whose buffers named in ``float32_buffers`` stay exact float32 whatever dtype the
    module moves to (``.half()``, ``.to(dtype)``); only their device follows it. For FIR filters,
    which the ops take in float32."""

    float32_buffers: tuple[str, ...] = ()

    def _apply(self, fn, recurse=True):
        originals = {name: getattr(self, name) for name in self.float32_buffers}
        super()._apply(fn, recurse)
        for name, original in originals.items():
            moved = getattr(self, name)
            if moved.dtype != torch.float32:
                setattr(self, name, original.to(moved.device))
        return self


class _FIRLayer(Float32Buffers):
    """Holds the normalised FIR filter as a non-persistent float32 buffer: it follows the module's
    device (not its dtype) and adds no state_dict entries to the model it is dropped into.
    ``impl`` ('auto', 'native' or 'ref') picks the upfirdn2d implementation."""

    float32_buffers = ("filter",)

    filter: torch.Tensor

    def __init__(
        self,
        filter: Sequence[float] | torch.Tensor,
        padding: IntOrPair,
        gain: float,
        flip_filter: bool,
        impl: str,
    ) -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"{type(self).__name__}: expected impl in {IMPLS}, got {impl!r}")
        self.impl = impl
        self.register_buffer("filter", setup_filter(filter), persistent=False)
        self.padding = parse_padding(padding, type(self).__name__)
        self.gain = float(gain)
        self.flip_filter = bool(flip_filter)

    def _repr_common(self) -> str:
        return (
            f"filter={list(self.filter.shape)}, padding={list(self.padding)}, "
            f"gain={self.gain:g}, flip_filter={self.flip_filter}"
        )


class Upsample2d(_FIRLayer):
    """Upsamples ``[N, C, H, W]`` by ``up`` with an FIR filter (default ``[1, 3, 3, 1]``):
    ``[N, C, H*up, W*up]``, the mean kept (:func:`fastgan.ops.upsample2d`)."""

    def __init__(
        self,
        up: IntOrPair = 2,
        filter: Sequence[float] | torch.Tensor = DEFAULT_FILTER,
        padding: IntOrPair = 0,
        gain: float = 1,
        flip_filter: bool = False,
        impl: str = "auto",
    ) -> None:
        super().__init__(filter, padding, gain, flip_filter, impl)
        self.up = parse_scaling(up, "up", "Upsample2d")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample2d(
            x, self.filter, self.up, self.padding, self.flip_filter, self.gain, impl=self.impl
        )

    def extra_repr(self) -> str:
        return f"up={list(self.up)}, {self._repr_common()}"


class Downsample2d(_FIRLayer):
    """Downsamples ``[N, C, H, W]`` by ``down`` after an FIR low-pass filter (default
    ``[1, 3, 3, 1]``): ``[N, C, H/down, W/down]`` (:func:`fastgan.ops.downsample2d`)."""

    def __init__(
        self,
        down: IntOrPair = 2,
        filter: Sequence[float] | torch.Tensor = DEFAULT_FILTER,
        padding: IntOrPair = 0,
        gain: float = 1,
        flip_filter: bool = False,
        impl: str = "auto",
    ) -> None:
        super().__init__(filter, padding, gain, flip_filter, impl)
        self.down = parse_scaling(down, "down", "Downsample2d")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return downsample2d(
            x, self.filter, self.down, self.padding, self.flip_filter, self.gain, impl=self.impl
        )

    def extra_repr(self) -> str:
        return f"down={list(self.down)}, {self._repr_common()}"


class Blur(_FIRLayer):
    """Filters ``[N, C, H, W]`` with an FIR filter (default ``[1, 3, 3, 1]``), keeping the size
    (plus ``padding``) (:func:`fastgan.ops.filter2d`)."""

    def __init__(
        self,
        filter: Sequence[float] | torch.Tensor = DEFAULT_FILTER,
        padding: IntOrPair = 0,
        gain: float = 1,
        flip_filter: bool = False,
        impl: str = "auto",
    ) -> None:
        super().__init__(filter, padding, gain, flip_filter, impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return filter2d(x, self.filter, self.padding, self.flip_filter, self.gain, impl=self.impl)

    def extra_repr(self) -> str:
        return self._repr_common()
