"""ProGAN (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation"): a generator and a discriminator that grow from 4x4 to the target resolution.

Both networks hold every resolution's layers from the start; the buffers ``level`` (0 for 4x4,
``L = log2(R) - 2`` for R x R) and ``alpha`` (the fade-in of the newest level, in [0, 1]) choose
how much of them runs (:meth:`set_growth`; the trainer follows :func:`progan_growth`, a schedule
in kimg). While a level fades in, the generator's image is ``lerp(up(toRGB_{k-1}(h_{k-1})),
toRGB_k(h_k), alpha)`` and the discriminator's features ``lerp(fromRGB_{k-1}(down(x)),
block_k(fromRGB_k(x)), alpha)``. Images always come and go at the full resolution R: the
generator's output at level k is upsampled to R (nearest neighbour), the discriminator first
averages its input down to the level's resolution, so that the trainer, the data and the metrics
need not know the current level (the same device as in the paper's implementation).

Layers: equalised learning rate everywhere (:class:`fastgan.nn.EqualConv2d`,
:class:`fastgan.nn.EqualLinear`: weights N(0, 1) scaled by He's constant at run time), leaky ReLU
(0.2) through :func:`fastgan.ops.bias_act` (fused with the bias), pixel-wise feature
normalisation after every generator convolution, nearest-neighbour upsampling and 2x2 average
pooling as :class:`fastgan.nn.Upsample2d` / :class:`fastgan.nn.Downsample2d` with the box filter
[1, 1], and the minibatch standard deviation (:class:`fastgan.nn.MinibatchStdDev`) before the
discriminator's last block. Conditioning (c_dim > 0): a label embedding concatenated to z in the
generator, projection in the discriminator.

Channels at resolution r: ``min(channel_base // r, channel_max)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fastgan.models._checks import (
    check_impl,
    check_int,
    check_labels,
    check_resolution,
    check_tensor,
)
from fastgan.nn import Downsample2d, EqualConv2d, EqualLinear, MinibatchStdDev, Upsample2d

__all__ = ["ProGANDiscriminator", "ProGANGenerator", "pixel_norm", "progan_growth"]

BOX = (1, 1)  # upfirdn2d with the box filter: nearest-neighbour upsampling, 2x2 average pooling


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """ProGAN's pixel-wise feature vector normalisation: ``x / sqrt(mean_c(x²) + eps)``."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def progan_growth(nimg: int, phase_kimg: float, max_level: int) -> tuple[int, float]:
    """(level, alpha) after `nimg` images of training: level 0 (4x4) for one phase of
    `phase_kimg` thousand images, then for every further level a fade-in phase (alpha from 0 to
    1) and a stable phase (alpha 1), up to `max_level`, which then stays."""
    if phase_kimg <= 0:
        raise ValueError(f"progan_growth: expected phase_kimg > 0, got {phase_kimg!r}")
    t = nimg / (phase_kimg * 1000)
    if t < 1 or max_level == 0:
        return 0, 1.0
    k = int((t - 1) // 2) + 1
    if k > max_level:
        return max_level, 1.0
    frac = (t - 1) - 2 * (k - 1)
    return k, min(frac, 1.0)


def _channels(res: int, channel_base: int, channel_max: int) -> int:
    return max(1, min(channel_base // res, channel_max))


def _check_sizes(
    name: str, img_resolution, img_channels, c_dim, channel_base, channel_max, impl
) -> None:
    check_resolution(name, img_resolution, 4)
    check_int(name, "img_channels", img_channels, 1)
    check_int(name, "c_dim", c_dim, 0)
    check_int(name, "channel_base", channel_base, 1)
    check_int(name, "channel_max", channel_max, 1)
    check_impl(name, impl)


class _Growing(nn.Module):
    """The growth state shared by both networks: buffers ``level`` and ``alpha``."""

    level: torch.Tensor
    alpha: torch.Tensor

    def _init_growth(self, img_resolution: int) -> None:
        self.max_level = int(math.log2(img_resolution)) - 2
        self.register_buffer("level", torch.tensor(self.max_level, dtype=torch.int64))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_growth(self, level: int, alpha: float = 1.0) -> None:
        """Runs the layers up to resolution ``4 * 2**level``, the newest faded in by `alpha`."""
        name = type(self).__name__
        if (
            isinstance(level, bool)
            or not isinstance(level, int)
            or not 0 <= level <= self.max_level
        ):
            raise ValueError(
                f"{name}: expected level an int in [0, {self.max_level}], got {level!r}"
            )
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
            raise ValueError(f"{name}: expected alpha in [0, 1], got {alpha!r}")
        self.level.fill_(level)
        self.alpha.fill_(float(alpha))

    def growth(self) -> tuple[int, float]:
        return int(self.level), float(self.alpha)


class ProGANGenerator(_Growing):
    """z ``[N, z_dim]`` (and labels c ``[N, c_dim]``) to images ``[N, img_channels, R, R]``.

    4x4: pixel norm of z (with the label embedding), an equalised dense layer to 4x4 features,
    a 3x3 convolution; every further resolution: nearest-neighbour 2x upsampling and two 3x3
    convolutions; leaky ReLU and pixel norm after each; a 1x1 toRGB per resolution (linear
    output, as in the paper). impl: 'auto', 'native' or 'ref' for the fused ops."""

    def __init__(
        self,
        z_dim: int = 128,
        c_dim: int = 0,
        img_resolution: int = 16,
        img_channels: int = 1,
        channel_base: int = 1024,
        channel_max: int = 128,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_int(name, "z_dim", z_dim, 1)
        _check_sizes(name, img_resolution, img_channels, c_dim, channel_base, channel_max, impl)
        self.z_dim, self.c_dim = z_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self._init_growth(img_resolution)
        ch = [_channels(4 * 2**k, channel_base, channel_max) for k in range(self.max_level + 1)]
        self.embed = EqualLinear(c_dim, z_dim, impl=impl) if c_dim else None
        in_features = z_dim * (2 if c_dim else 1)
        self.dense = EqualLinear(in_features, ch[0] * 16, activation="lrelu", impl=impl)
        self.conv0 = EqualConv2d(ch[0], ch[0], 3, activation="lrelu", impl=impl)
        self.up = Upsample2d(2, filter=BOX, impl=impl)
        self.blocks = nn.ModuleList()
        for k in range(1, self.max_level + 1):
            self.blocks.append(
                nn.ModuleList(
                    [
                        EqualConv2d(ch[k - 1], ch[k], 3, activation="lrelu", impl=impl),
                        EqualConv2d(ch[k], ch[k], 3, activation="lrelu", impl=impl),
                    ]
                )
            )
        self.to_rgb = nn.ModuleList(
            EqualConv2d(ch[k], img_channels, 1, impl=impl) for k in range(self.max_level + 1)
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        name = type(self).__name__
        z = check_tensor(name, "z", z, ["N", self.z_dim])
        c = check_labels(name, c, self.c_dim, z.shape[0])
        level, alpha = self.growth()
        x = pixel_norm(z)
        if self.embed is not None:
            x = torch.cat([x, pixel_norm(self.embed(c.to(z.dtype)))], dim=1)
        h = pixel_norm(self.dense(x).reshape(z.shape[0], -1, 4, 4))
        h = pixel_norm(self.conv0(h))
        previous = h
        for k in range(1, level + 1):
            previous = h
            h = self.up(h)
            for conv in self.blocks[k - 1]:
                h = pixel_norm(conv(h))
        img = self.to_rgb[level](h)
        if level > 0 and alpha < 1:
            img = torch.lerp(self.up(self.to_rgb[level - 1](previous)), img, alpha)
        for _ in range(level, self.max_level):
            img = self.up(img)
        return img

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, level={int(self.level)}, "
            f"alpha={float(self.alpha):g}"
        )


class ProGANDiscriminator(_Growing):
    """Images ``[N, img_channels, R, R]`` (and labels c ``[N, c_dim]``) to logits ``[N, 1]``.

    A 1x1 fromRGB per resolution (leaky ReLU); every resolution above 4x4: two 3x3 convolutions
    and 2x2 average pooling; at 4x4: the minibatch standard deviation (group `mbstd_group`), a
    3x3 convolution, a 4x4 convolution to 1x1 (as an equalised dense layer on the flattened
    features) and a linear output, plus the projection ``<embed(c), h>`` when conditional."""

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 16,
        img_channels: int = 1,
        channel_base: int = 1024,
        channel_max: int = 128,
        mbstd_group: int = 4,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, img_resolution, img_channels, c_dim, channel_base, channel_max, impl)
        check_int(name, "mbstd_group", mbstd_group, 1)
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self._init_growth(img_resolution)
        ch = [_channels(4 * 2**k, channel_base, channel_max) for k in range(self.max_level + 1)]
        self.from_rgb = nn.ModuleList(
            EqualConv2d(img_channels, ch[k], 1, activation="lrelu", impl=impl)
            for k in range(self.max_level + 1)
        )
        self.down = Downsample2d(2, filter=BOX, impl=impl)
        self.blocks = nn.ModuleList()
        for k in range(1, self.max_level + 1):
            self.blocks.append(
                nn.ModuleList(
                    [
                        EqualConv2d(ch[k], ch[k], 3, activation="lrelu", impl=impl),
                        EqualConv2d(ch[k], ch[k - 1], 3, activation="lrelu", impl=impl),
                    ]
                )
            )
        self.mbstd = MinibatchStdDev(mbstd_group, 1, impl=impl)
        self.conv = EqualConv2d(ch[0] + 1, ch[0], 3, activation="lrelu", impl=impl)
        self.dense = EqualLinear(ch[0] * 16, ch[0], activation="lrelu", impl=impl)
        self.out = EqualLinear(ch[0], 1, impl=impl)
        self.embed = EqualLinear(c_dim, ch[0], bias=False, impl=impl) if c_dim else None

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        name = type(self).__name__
        R = self.img_resolution
        img = check_tensor(name, "img", img, ["N", self.img_channels, R, R])
        c = check_labels(name, c, self.c_dim, img.shape[0])
        level, alpha = self.growth()
        x = img
        for _ in range(level, self.max_level):
            x = self.down(x)
        h = self.from_rgb[level](x)
        for k in range(level, 0, -1):
            for conv in self.blocks[k - 1]:
                h = conv(h)
            h = self.down(h)
            if k == level and alpha < 1:
                h = torch.lerp(self.from_rgb[k - 1](self.down(x)), h, alpha)
        h = self.conv(self.mbstd(h))
        h = self.dense(h.flatten(1))
        out = self.out(h)
        if self.embed is not None:
            out = out + (self.embed(c.to(h.dtype)) * h).sum(dim=1, keepdim=True)
        return out.to(torch.promote_types(out.dtype, torch.float32))

    def extra_repr(self) -> str:
        return (
            f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, level={int(self.level)}, "
            f"alpha={float(self.alpha):g}"
        )
