"""DCGAN (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks"), a small baseline.

Generator: z (and a label embedding, concatenated) as a 1x1 image, a 4x4 transposed convolution
to 4x4, then 4x4 stride-2 transposed convolutions doubling the resolution up to R; BatchNorm and
ReLU after every layer but the last, tanh on the output. Discriminator: 4x4 stride-2
convolutions halving the resolution down to 4x4, LeakyReLU(0.2) after every one and BatchNorm
after all but the first, then a linear layer on the flattened features (after optional minibatch
discrimination), with projection conditioning on the label.

Channels at resolution r (4 <= r <= R/2): ``min(base_channels * R // (2r), max_channels)``, so
``base_channels`` at R/2, doubling towards 4x4. Weights start as N(0, 0.02), BatchNorm scales as
N(1, 0.02). Stock ``torch.nn`` convolutions and BatchNorm; the bias and activation after them
are :class:`fastgan.nn.BiasAct` (one fused pass).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from fastgan.models._checks import (
    check_impl,
    check_int,
    check_labels,
    check_resolution,
    check_tensor,
)
from fastgan.nn import BiasAct, MinibatchDiscrimination

__all__ = ["DCGANDiscriminator", "DCGANGenerator"]

INIT_STD = 0.02


def _channels(resolution: int, img_resolution: int, base_channels: int, max_channels: int) -> int:
    return min(base_channels * img_resolution // (2 * resolution), max_channels)


def _init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: every convolution and linear weight N(0, 0.02), BatchNorm scales
    N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, INIT_STD)
            nn.init.zeros_(m.bias)


def _check_sizes(
    model: str,
    img_resolution: int,
    img_channels: int,
    base_channels: int,
    max_channels: int,
    c_dim: int,
    impl: str,
) -> None:
    check_resolution(model, img_resolution, 8)
    check_int(model, "img_channels", img_channels, 1)
    check_int(model, "base_channels", base_channels, 1)
    check_int(model, "max_channels", max_channels, 1)
    check_int(model, "c_dim", c_dim, 0)
    check_impl(model, impl)


class DCGANGenerator(nn.Module):
    """DCGAN generator: z ``[N, z_dim]`` (and labels c ``[N, c_dim]``) to images
    ``[N, img_channels, R, R]`` in [-1, 1].

    Args:
        z_dim: latent size; c_dim: label size (0: unconditional).
        img_resolution: R, a power of two >= 8; img_channels: output channels.
        base_channels: channels at R/2 (doubling towards 4x4, at most ``max_channels``).
        c_embed_dim: size of the learned label embedding (a bias-free linear map of c)
            concatenated to z.
        impl: 'auto', 'native' or 'ref' for the fused bias + activation.
    """

    def __init__(
        self,
        z_dim: int = 100,
        c_dim: int = 0,
        img_resolution: int = 32,
        img_channels: int = 3,
        base_channels: int = 64,
        max_channels: int = 1024,
        c_embed_dim: int = 64,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_int(name, "z_dim", z_dim, 1)
        _check_sizes(name, img_resolution, img_channels, base_channels, max_channels, c_dim, impl)
        if c_dim > 0:
            check_int(name, "c_embed_dim", c_embed_dim, 1)
        self.z_dim, self.c_dim = z_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.embed = nn.Linear(c_dim, c_embed_dim, bias=False) if c_dim > 0 else None
        in_features = z_dim + (c_embed_dim if c_dim > 0 else 0)
        resolutions = [2**i for i in range(2, img_resolution.bit_length() - 1)]  # 4 .. R/2
        channels = [_channels(r, img_resolution, base_channels, max_channels) for r in resolutions]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_features, channels[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(channels[0]),
            BiasAct(activation="relu", gain=1.0, impl=impl),
        ]
        for cin, cout in itertools.pairwise(channels):
            layers += [
                nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cout),
                BiasAct(activation="relu", gain=1.0, impl=impl),
            ]
        layers += [
            nn.ConvTranspose2d(channels[-1], img_channels, 4, 2, 1, bias=False),
            BiasAct(img_channels, activation="tanh", impl=impl),
        ]
        self.layers = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``[N, img_channels, R, R]`` from z ``[N, z_dim]`` and c ``[N, c_dim]`` (None
        when c_dim = 0)."""
        name = type(self).__name__
        z = check_tensor(name, "z", z, ["N", self.z_dim])
        c = check_labels(name, c, self.c_dim, z.shape[0])
        if self.embed is not None:
            z = torch.cat([z, self.embed(c.to(z.dtype))], dim=1)
        return self.layers(z[:, :, None, None])

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}"
        )


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: images ``[N, img_channels, R, R]`` (and labels c ``[N, c_dim]``) to
    logits ``[N, 1]``.

    Args:
        c_dim: label size (0: unconditional); conditioning by projection, ``logits +
            <embed(c), h>`` with h the features the output layer sees and embed a bias-free
            linear map.
        img_resolution: R, a power of two >= 8; img_channels: input channels.
        base_channels: channels at R/2 (doubling towards 4x4, at most ``max_channels``).
        mbdisc_kernels, mbdisc_kernel_dim: minibatch discrimination on the flattened 4x4
            features before the output layer (0 kernels: none).
        impl: 'auto', 'native' or 'ref' for the fused ops.
    """

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 32,
        img_channels: int = 3,
        base_channels: int = 64,
        mbdisc_kernels: int = 0,
        mbdisc_kernel_dim: int = 16,
        max_channels: int = 1024,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, img_resolution, img_channels, base_channels, max_channels, c_dim, impl)
        check_int(name, "mbdisc_kernels", mbdisc_kernels, 0)
        check_int(name, "mbdisc_kernel_dim", mbdisc_kernel_dim, 1)
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        resolutions = [2**i for i in range(img_resolution.bit_length() - 2, 1, -1)]  # R/2 .. 4
        channels = [_channels(r, img_resolution, base_channels, max_channels) for r in resolutions]
        layers: list[nn.Module] = [
            nn.Conv2d(img_channels, channels[0], 4, 2, 1, bias=False),
            BiasAct(channels[0], activation="lrelu", alpha=0.2, gain=1.0, impl=impl),
        ]
        for cin, cout in itertools.pairwise(channels):
            layers += [
                nn.Conv2d(cin, cout, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cout),
                BiasAct(activation="lrelu", alpha=0.2, gain=1.0, impl=impl),
            ]
        self.layers = nn.Sequential(*layers)
        features = channels[-1] * 4 * 4
        self.mbdisc = (
            MinibatchDiscrimination(features, mbdisc_kernels, mbdisc_kernel_dim, impl=impl)
            if mbdisc_kernels > 0
            else None
        )
        features += mbdisc_kernels
        self.out = nn.Linear(features, 1)
        self.embed = nn.Linear(c_dim, features, bias=False) if c_dim > 0 else None
        _init_weights(self)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[N, 1]`` of images ``[N, img_channels, R, R]`` with labels c ``[N, c_dim]``
        (None when c_dim = 0)."""
        name = type(self).__name__
        R = self.img_resolution
        img = check_tensor(name, "img", img, ["N", self.img_channels, R, R])
        c = check_labels(name, c, self.c_dim, img.shape[0])
        h = self.layers(img).flatten(1)
        if self.mbdisc is not None:
            h = self.mbdisc(h)
        out = self.out(h)
        if self.embed is not None:
            out = out + (self.embed(c.to(h.dtype)) * h).sum(dim=1, keepdim=True)
        return out.to(torch.promote_types(out.dtype, torch.float32))

    def extra_repr(self) -> str:
        return (
            f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}"
        )
