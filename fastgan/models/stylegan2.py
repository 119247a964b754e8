"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"): the
generator with skip connections to RGB and the residual discriminator, assembled from the
:mod:`fastgan.nn` layers.

Generator: a mapping network z (and label c) to w, a learned 4x4 constant, then per resolution
4, 8, ..., R a block of two modulated 3x3 convolutions (the first upsampling 2x; one at 4x4) and a
ToRGB whose output is added to the upsampled RGB image of the block before. One w per layer:
block r uses ``num_conv + 1`` consecutive ws, its ToRGB sharing the first w of the next block, so
``num_ws = 2 * log2(R) - 2``.

Discriminator: fromRGB at R, then per resolution R, ..., 8 a residual block (3x3 conv, 3x3 conv
downsampling 2x; a 1x1 downsampling conv without bias on the skip path; the sum times √0.5), and
at 4x4 the minibatch standard deviation, a 3x3 conv, a fully connected layer and the output
layer, with projection conditioning on the label.

Channels at resolution r: ``min(channel_base // r, channel_max)``. Every layer has equalised
learning rate; ``impl='ref'`` builds the same network on the pure-PyTorch reference ops, and
:func:`fastgan.nn.set_impl` switches a built one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from fastgan.models._checks import (
    check_impl,
    check_int,
    check_labels,
    check_resolution,
    check_tensor,
)
from fastgan.nn import (
    EqualConv2d,
    EqualLinear,
    MappingNetwork,
    MinibatchDiscrimination,
    MinibatchStdDev,
    StyledConv,
    ToRGB,
    Upsample2d,
)

__all__ = [
    "DiscriminatorBlock",
    "DiscriminatorEpilogue",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "SynthesisBlock",
    "SynthesisNetwork",
]

NOISE_MODES = ("random", "const", "none")
SQRT_HALF = math.sqrt(0.5)


def _channels(resolution: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // resolution, channel_max)


def _check_channels(model: str, img_resolution: int, channel_base: int, channel_max: int) -> None:
    check_int(model, "channel_base", channel_base, 1)
    check_int(model, "channel_max", channel_max, 1)
    if channel_base // img_resolution < 1:
        raise ValueError(
            f"{model}: expected channel_base >= img_resolution ({img_resolution}) so that every "
            f"resolution has at least one channel, got channel_base={channel_base}"
        )


def _check_clamp(model: str, conv_clamp: float | None) -> float | None:
    if conv_clamp is not None and (
        not isinstance(conv_clamp, (int, float)) or isinstance(conv_clamp, bool) or conv_clamp <= 0
    ):
        raise ValueError(f"{model}: expected conv_clamp > 0 or None, got {conv_clamp!r}")
    return conv_clamp


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: StyledConv upsampling 2x, StyledConv, ToRGB; the
    ``first`` block (4x4, on the constant: ``in_channels == out_channels``) has only the second
    StyledConv. ``forward(x, img, ws)`` with ws ``[N, num_conv + 1, w_dim]`` returns the features
    ``[N, out_channels, r, r]`` and ``upsample(img) + torgb(x)`` (kept in at least float32)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        first: bool,
        conv_clamp: float | None = None,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if first and in_channels != out_channels:
            raise ValueError(
                f"SynthesisBlock: expected in_channels == out_channels for the first block, got "
                f"{in_channels} and {out_channels}"
            )
        self.resolution, self.first = resolution, first
        self.in_channels, self.out_channels = in_channels, out_channels
        common = dict(conv_clamp=conv_clamp, resample_filter=resample_filter, impl=impl)
        self.conv0 = (
            None
            if first
            else StyledConv(in_channels, out_channels, w_dim, resolution, up=2, **common)
        )
        self.conv1 = StyledConv(out_channels, out_channels, w_dim, resolution, **common)
        self.torgb = ToRGB(out_channels, img_channels, w_dim, conv_clamp=conv_clamp, impl=impl)
        self.upsample = None if first else Upsample2d(2, resample_filter, impl=impl)
        self.num_conv = 1 if first else 2

    def forward(
        self,
        x: torch.Tensor,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w = ws.unbind(dim=1)
        if self.conv0 is not None:
            x = self.conv0(x, w[0], noise_mode=noise_mode, fused_modconv=fused_modconv)
        x = self.conv1(x, w[self.num_conv - 1], noise_mode=noise_mode, fused_modconv=fused_modconv)
        rgb = self.torgb(x, w[self.num_conv], fused_modconv=fused_modconv)
        # The image sums the contributions of every resolution: keep it in at least float32.
        rgb = rgb.to(torch.promote_types(rgb.dtype, torch.float32))
        if img is None or self.upsample is None:
            return x, rgb
        return x, self.upsample(img) + rgb

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, first={self.first}"


class SynthesisNetwork(nn.Module):
    """The StyleGAN2 synthesis network, ``ws [N, num_ws, w_dim]`` to images
    ``[N, img_channels, R, R]``: a learned 4x4 constant and a :class:`SynthesisBlock` per
    resolution, skip architecture (the RGB outputs upsampled with the FIR filter and added)."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        conv_clamp: float | None = 256,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        impl: str = "auto",
    ) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = {r: _channels(r, channel_base, channel_max) for r in self.resolutions}
        self.const = nn.Parameter(torch.randn(channels[4], 4, 4))
        self.blocks = nn.ModuleList(
            SynthesisBlock(
                channels[max(r // 2, 4)],
                channels[r],
                w_dim,
                r,
                img_channels,
                first=r == 4,
                conv_clamp=conv_clamp,
                resample_filter=resample_filter,
                impl=impl,
            )
            for r in self.resolutions
        )
        self.num_ws = sum(block.num_conv for block in self.blocks) + 1

    def forward(
        self, ws: torch.Tensor, noise_mode: str = "random", fused_modconv: bool | None = None
    ) -> torch.Tensor:
        check_tensor("StyleGAN2Generator", "ws", ws, ["N", self.num_ws, self.w_dim])
        if noise_mode not in NOISE_MODES:
            raise ValueError(
                f"StyleGAN2Generator: expected noise_mode in {NOISE_MODES}, got {noise_mode!r}"
            )
        x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        img = None
        start = 0
        for block in self.blocks:
            block_ws = ws.narrow(1, start, block.num_conv + 1)
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
            start += block.num_conv
        return img

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, num_ws={self.num_ws}"
        )


class StyleGAN2Generator(nn.Module):
    """StyleGAN2 generator: ``forward(z, c)`` = ``synthesis(mapping(z, c))``, images
    ``[N, img_channels, R, R]`` (float32, or float64 for a float64 model).

    Args:
        z_dim, c_dim, w_dim: latent, label (0: unconditional) and intermediate latent sizes.
        img_resolution: R, a power of two >= 4; img_channels: output channels.
        channel_base, channel_max: channels at resolution r are ``min(channel_base // r,
            channel_max)``.
        mapping_layers: depth of the mapping network (learning rate x0.01).
        conv_clamp: clamp of every convolution's output (keeps float16 in range); None: none.
        w_avg_beta: decay of ``w_avg``, the running mean of w used for truncation.
        resample_filter: FIR filter of the upsampling.
        impl: 'auto', 'native' or 'ref' for every fused op inside.
    """

    def __init__(
        self,
        z_dim: int = 512,
        c_dim: int = 0,
        w_dim: int = 512,
        img_resolution: int = 256,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        mapping_layers: int = 8,
        conv_clamp: float | None = 256,
        w_avg_beta: float = 0.995,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_int(name, "z_dim", z_dim, 1)
        check_int(name, "c_dim", c_dim, 0)
        check_int(name, "w_dim", w_dim, 1)
        check_resolution(name, img_resolution, 4)
        check_int(name, "img_channels", img_channels, 1)
        check_int(name, "mapping_layers", mapping_layers, 1)
        _check_channels(name, img_resolution, channel_base, channel_max)
        _check_clamp(name, conv_clamp)
        check_impl(name, impl)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis_network = SynthesisNetwork(
            w_dim,
            img_resolution,
            img_channels,
            channel_base=channel_base,
            channel_max=channel_max,
            conv_clamp=conv_clamp,
            resample_filter=resample_filter,
            impl=impl,
        )
        self.num_ws = self.synthesis_network.num_ws
        self.mapping_network = MappingNetwork(
            z_dim,
            c_dim,
            w_dim,
            self.num_ws,
            num_layers=mapping_layers,
            w_avg_beta=w_avg_beta,
            impl=impl,
        )

    @property
    def w_avg(self) -> torch.Tensor:
        """The tracked mean w ``[w_dim]`` that truncation moves towards."""
        return self.mapping_network.w_avg

    def mapping(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        style_mixing_prob: float = 0.0,
        update_emas: bool | None = None,
    ) -> torch.Tensor:
        """z ``[N, z_dim]`` (and labels c ``[N, c_dim]``) to ws ``[N, num_ws, w_dim]``.

        Truncation: ``w_avg + truncation_psi * (w - w_avg)`` on the first ``truncation_cutoff``
        ws (all when None). Style mixing: with probability ``style_mixing_prob`` (one draw per
        call), the ws from a cutoff drawn uniformly from ``[1, num_ws)`` on come from a second,
        fresh z (same labels). ``update_emas`` (default: ``self.training``) moves ``w_avg``
        towards the batch mean of w, with decay ``w_avg_beta``; the second z never does.
        """
        name = type(self).__name__
        z = check_tensor(name, "z", z, ["N", self.z_dim])
        c = check_labels(name, c, self.c_dim, z.shape[0])
        if not isinstance(truncation_psi, (int, float)) or isinstance(truncation_psi, bool):
            raise TypeError(
                f"{name}: expected truncation_psi to be a number, got {truncation_psi!r}"
            )
        if truncation_cutoff is not None and (
            not isinstance(truncation_cutoff, int)
            or isinstance(truncation_cutoff, bool)
            or not 0 <= truncation_cutoff <= self.num_ws
        ):
            raise ValueError(
                f"{name}: expected truncation_cutoff None or an int in [0, {self.num_ws}] "
                f"(num_ws), got {truncation_cutoff!r}"
            )
        if not isinstance(style_mixing_prob, (int, float)) or not 0 <= style_mixing_prob <= 1:
            raise ValueError(
                f"{name}: expected style_mixing_prob in [0, 1], got {style_mixing_prob!r}"
            )
        if update_emas is None:
            update_emas = self.training
        kwargs = dict(psi=truncation_psi, cutoff=truncation_cutoff)
        ws = self.mapping_network(z, c, update_emas=update_emas, **kwargs)
        if style_mixing_prob > 0 and float(torch.rand(())) < style_mixing_prob:
            cutoff = int(torch.randint(1, self.num_ws, ()))
            ws2 = self.mapping_network(torch.randn_like(z), c, update_emas=False, **kwargs)
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    def synthesis(
        self, ws: torch.Tensor, noise_mode: str = "random", fused_modconv: bool | None = None
    ) -> torch.Tensor:
        """ws ``[N, num_ws, w_dim]`` to images ``[N, img_channels, R, R]``. ``noise_mode``:
        'random' (fresh per call), 'const' (fixed per layer) or 'none'. ``fused_modconv``:
        per-sample weights (True) or input scaling (False); None lets each layer choose."""
        return self.synthesis_network(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "random",
        style_mixing_prob: float = 0.0,
        update_emas: bool | None = None,
        fused_modconv: bool | None = None,
    ) -> torch.Tensor:
        """Images ``[N, img_channels, R, R]`` from z ``[N, z_dim]`` and labels c ``[N, c_dim]``
        (None when c_dim = 0); see :meth:`mapping` and :meth:`synthesis` for the options."""
        ws = self.mapping(
            z,
            c,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            style_mixing_prob=style_mixing_prob,
            update_emas=update_emas,
        )
        return self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
            f"img_resolution={self.img_resolution}, img_channels={self.img_channels}, "
            f"num_ws={self.num_ws}"
        )


class DiscriminatorBlock(nn.Module):
    """Residual discriminator block at resolution r: ``(skip(x) + conv1(conv0(x))) * √0.5`` with
    conv0 a 3x3 lrelu conv, conv1 a 3x3 lrelu conv downsampling 2x and skip a 1x1 conv
    downsampling 2x without bias or activation: ``[N, in_channels, r, r]`` to
    ``[N, out_channels, r/2, r/2]``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        resolution: int,
        conv_clamp: float | None = None,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        impl: str = "auto",
    ) -> None:
        super().__init__()
        self.resolution = resolution
        common = dict(resample_filter=resample_filter, impl=impl)
        self.conv0 = EqualConv2d(
            in_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp, **common
        )
        self.conv1 = EqualConv2d(
            in_channels,
            out_channels,
            3,
            activation="lrelu",
            down=2,
            conv_clamp=conv_clamp,
            **common,
        )
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, down=2, **common)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(x, gain=SQRT_HALF)
        return y + self.conv1(self.conv0(x), gain=SQRT_HALF)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}"


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 end of the discriminator: minibatch standard deviation (when
    ``mbstd_num_channels`` > 0), 3x3 lrelu conv, flatten, optional minibatch discrimination,
    fully connected lrelu layer, output layer to ``max(cmap_dim, 1)``; with ``cmap_dim`` > 0 the
    projection ``(out * cmap).sum(1) / √cmap_dim``. ``[N, in_channels, 4, 4]`` to ``[N, 1]``."""

    def __init__(
        self,
        in_channels: int,
        cmap_dim: int = 0,
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        mbdisc_kernels: int = 0,
        mbdisc_kernel_dim: int = 16,
        conv_clamp: float | None = None,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        self.in_channels, self.cmap_dim = in_channels, cmap_dim
        self.mbstd = (
            MinibatchStdDev(mbstd_group_size, mbstd_num_channels, impl=impl)
            if mbstd_num_channels > 0
            else None
        )
        self.conv = EqualConv2d(
            in_channels + mbstd_num_channels,
            in_channels,
            3,
            activation="lrelu",
            conv_clamp=conv_clamp,
            impl=impl,
        )
        features = in_channels * 4 * 4
        self.mbdisc = (
            MinibatchDiscrimination(features, mbdisc_kernels, mbdisc_kernel_dim, impl=impl)
            if mbdisc_kernels > 0
            else None
        )
        self.fc = EqualLinear(features + mbdisc_kernels, in_channels, activation="lrelu", impl=impl)
        self.out = EqualLinear(in_channels, max(cmap_dim, 1), impl=impl)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None = None) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x).flatten(1)
        if self.mbdisc is not None:
            x = self.mbdisc(x)
        x = self.out(self.fc(x))
        if cmap is not None:
            x = (x * cmap.to(x.dtype)).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, cmap_dim={self.cmap_dim}"


class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator: images ``[N, img_channels, R, R]`` (and labels c
    ``[N, c_dim]``) to logits ``[N, 1]`` (float32, or float64 for a float64 model).

    Args:
        c_dim: label size (0: unconditional); labels are mapped to ``cmap_dim`` (default: the
            channels at 4x4) by a ``mapping_layers``-deep mapping network, and the output is the
            projection ``(out * cmap).sum(1) / √cmap_dim``.
        img_resolution: R, a power of two >= 4; img_channels: input channels.
        channel_base, channel_max: channels at resolution r are ``min(channel_base // r,
            channel_max)``.
        mbstd_group_size, mbstd_num_channels: minibatch standard deviation at 4x4 (0 channels:
            none); the batch size must be divisible by ``min(mbstd_group_size, N)``.
        conv_clamp: clamp of the convolutions' outputs (keeps float16 in range); None: none.
        mbdisc_kernels, mbdisc_kernel_dim: minibatch discrimination on the flattened 4x4
            features before the fully connected layer (0 kernels: none).
        resample_filter: FIR filter of the downsampling.
        impl: 'auto', 'native' or 'ref' for every fused op inside.
    """

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 256,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        conv_clamp: float | None = 256,
        mbdisc_kernels: int = 0,
        mbdisc_kernel_dim: int = 16,
        cmap_dim: int | None = None,
        mapping_layers: int = 8,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_int(name, "c_dim", c_dim, 0)
        check_resolution(name, img_resolution, 4)
        check_int(name, "img_channels", img_channels, 1)
        _check_channels(name, img_resolution, channel_base, channel_max)
        check_int(name, "mbstd_group_size", mbstd_group_size, 1)
        check_int(name, "mbstd_num_channels", mbstd_num_channels, 0)
        check_int(name, "mbdisc_kernels", mbdisc_kernels, 0)
        check_int(name, "mbdisc_kernel_dim", mbdisc_kernel_dim, 1)
        check_int(name, "mapping_layers", mapping_layers, 1)
        _check_clamp(name, conv_clamp)
        check_impl(name, impl)
        resolutions = [2**i for i in range(int(math.log2(img_resolution)), 2, -1)]
        channels = {r: _channels(r, channel_base, channel_max) for r in [*resolutions, 4]}
        if mbstd_num_channels > 0 and channels[4] % mbstd_num_channels != 0:
            raise ValueError(
                f"{name}: expected mbstd_num_channels to divide the {channels[4]} channels at "
                f"4x4, got {mbstd_num_channels}"
            )
        if cmap_dim is None:
            cmap_dim = channels[4] if c_dim > 0 else 0
        elif c_dim > 0:
            check_int(name, "cmap_dim", cmap_dim, 1)
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.cmap_dim = cmap_dim if c_dim > 0 else 0
        self.fromrgb = EqualConv2d(
            img_channels,
            channels[img_resolution],
            1,
            activation="lrelu",
            conv_clamp=conv_clamp,
            impl=impl,
        )
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(
                channels[r],
                channels[r // 2],
                r,
                conv_clamp=conv_clamp,
                resample_filter=resample_filter,
                impl=impl,
            )
            for r in resolutions
        )
        self.mapping = (
            MappingNetwork(
                0, c_dim, self.cmap_dim, 1, num_layers=mapping_layers, w_avg_beta=None, impl=impl
            )
            if c_dim > 0
            else None
        )
        self.epilogue = DiscriminatorEpilogue(
            channels[4],
            cmap_dim=self.cmap_dim,
            mbstd_group_size=mbstd_group_size,
            mbstd_num_channels=mbstd_num_channels,
            mbdisc_kernels=mbdisc_kernels,
            mbdisc_kernel_dim=mbdisc_kernel_dim,
            conv_clamp=conv_clamp,
            impl=impl,
        )

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[N, 1]`` of images ``[N, img_channels, R, R]`` with labels c ``[N, c_dim]``
        (None when c_dim = 0)."""
        name = type(self).__name__
        R = self.img_resolution
        img = check_tensor(name, "img", img, ["N", self.img_channels, R, R])
        c = check_labels(name, c, self.c_dim, img.shape[0])
        x = self.fromrgb(img)
        for block in self.blocks:
            x = block(x)
        cmap = self.mapping(None, c)[:, 0] if self.mapping is not None else None
        x = self.epilogue(x, cmap)
        return x.to(torch.promote_types(x.dtype, torch.float32))

    def extra_repr(self) -> str:
        return (
            f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, cmap_dim={self.cmap_dim}"
        )
