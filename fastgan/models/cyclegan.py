"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): two generators G_ab: A -> B and G_ba: B -> A, two PatchGAN
discriminators D_a and D_b, least-squares adversarial losses, the cycle loss
``|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1`` (weight 10) and the identity loss
``|G_ab(b) - b|_1 + |G_ba(a) - a|_1`` (weight 0.5 x the cycle weight), with a pool of 50 past
fakes for the discriminators.

Generator (Johnson et al. 2016's ResNet, as in the paper): reflection-padded 7x7 convolution,
two stride-2 3x3 convolutions down, `n_blocks` residual blocks (6 for 128x128, 9 for 256x256;
two reflection-padded 3x3 convolutions each), two stride-2 transposed convolutions up, a
reflection-padded 7x7 convolution to the output channels and tanh; instance normalisation (no
affine scale) after every inner convolution. The bias and activation after each normalisation
are one :class:`fastgan.nn.BiasAct` pass (the bias is the normalisation's shift). With
``resample='fir'`` the resolution changes through :class:`fastgan.nn.Downsample2d` /
:class:`fastgan.nn.Upsample2d` (anti-aliased [1, 3, 3, 1] FIR filter) around stride-1 3x3
convolutions instead of strided and transposed convolutions.

Discriminator (the 70x70 PatchGAN with ``n_layers=3``): 4x4 convolutions, stride 2 for the
first `n_layers`, then one of stride 1 and a 4x4 convolution to one logit per patch; leaky ReLU
(0.2) through :class:`fastgan.nn.BiasAct`, instance normalisation after all but the first.

Widths are small by default (``width=16`` instead of 64) for the bundled 16x16 and 32x32 data.
Weights start as N(0, 0.02) like the paper's code.
"""

from __future__ import annotations

import torch
from torch import nn

from fastgan.models._checks import check_impl, check_int, check_tensor
from fastgan.nn import BiasAct, Downsample2d, Upsample2d

__all__ = [
    "CycleGAN",
    "ImagePool",
    "PatchDiscriminator",
    "ResNetGenerator",
    "cycle_loss",
    "lsgan_loss",
]

RESAMPLES = ("stride", "fir")
INIT_STD = 0.02


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _norm_act(channels: int, activation: str, impl: str) -> list[nn.Module]:
    """Instance norm without affine parameters, then the learned bias and the activation fused."""
    alpha = 0.2 if activation == "lrelu" else None
    return [
        nn.InstanceNorm2d(channels, affine=False),
        BiasAct(channels, activation=activation, alpha=alpha, gain=1.0, impl=impl),
    ]


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, impl: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            *_norm_act(channels, "relu", impl),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            *_norm_act(channels, "linear", impl),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    """Images ``[N, in_channels, R, R]`` to images ``[N, out_channels, R, R]`` in [-1, 1].

    Args:
        in_channels, out_channels: image channels of the two domains.
        width: channels of the first layer (doubling at each of the two downsamplings).
        n_blocks: residual blocks at R/4 (6 or 9 in the paper; any >= 1).
        resample: 'stride' (strided / transposed convolutions, the paper's) or 'fir'
            (anti-aliased FIR down- and upsampling around stride-1 convolutions).
        impl: 'auto', 'native' or 'ref' for the fused ops.
    R must be divisible by 4."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 16,
        n_blocks: int = 6,
        resample: str = "stride",
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_int(name, "in_channels", in_channels, 1)
        check_int(name, "out_channels", out_channels, 1)
        check_int(name, "width", width, 1)
        check_int(name, "n_blocks", n_blocks, 1)
        check_impl(name, impl)
        if resample not in RESAMPLES:
            raise ValueError(f"{name}: expected resample in {RESAMPLES}, got {resample!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.width, self.n_blocks, self.resample = width, n_blocks, resample
        w = width
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, w, 7, bias=False),
            *_norm_act(w, "relu", impl),
        ]
        for cin, cout in ((w, 2 * w), (2 * w, 4 * w)):
            if resample == "stride":
                layers.append(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False))
            else:
                layers += [
                    nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                    Downsample2d(2, impl=impl),
                ]
            layers += _norm_act(cout, "relu", impl)
        layers += [_ResidualBlock(4 * w, impl) for _ in range(n_blocks)]
        for cin, cout in ((4 * w, 2 * w), (2 * w, w)):
            if resample == "stride":
                layers.append(
                    nn.ConvTranspose2d(
                        cin, cout, 3, stride=2, padding=1, output_padding=1, bias=False
                    )
                )
            else:
                layers += [Upsample2d(2, impl=impl), nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
            layers += _norm_act(cout, "relu", impl)
        layers += [
            nn.ReflectionPad2d(3),
            nn.Conv2d(w, out_channels, 7, bias=False),
            BiasAct(out_channels, activation="tanh", impl=impl),
        ]
        self.layers = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        x = check_tensor(name, "x", x, ["N", self.in_channels, "H", "W"])
        if x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(
                f"{name}: expected x's height and width divisible by 4, got {list(x.shape)}"
            )
        return self.layers(x)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"width={self.width}, n_blocks={self.n_blocks}, resample={self.resample}"
        )


class PatchDiscriminator(nn.Module):
    """Images ``[N, in_channels, R, R]`` to patch logits ``[N, 1, P, P]`` (the 70x70 PatchGAN
    with ``n_layers=3``; fewer layers for small images: R must be at least ``2**(n_layers+1)``).
    """

    def __init__(
        self, in_channels: int = 3, width: int = 16, n_layers: int = 3, impl: str = "auto"
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_int(name, "in_channels", in_channels, 1)
        check_int(name, "width", width, 1)
        check_int(name, "n_layers", n_layers, 1)
        check_impl(name, impl)
        self.in_channels, self.width, self.n_layers = in_channels, width, n_layers
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1, bias=False),
            BiasAct(width, activation="lrelu", alpha=0.2, gain=1.0, impl=impl),
        ]
        ch = width
        for i in range(1, n_layers + 1):
            cout = width * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(ch, cout, 4, stride=stride, padding=1, bias=False),
                *_norm_act(cout, "lrelu", impl),
            ]
            ch = cout
        layers += [nn.Conv2d(ch, 1, 4, padding=1, bias=False), BiasAct(1, impl=impl)]
        self.layers = nn.Sequential(*layers)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        x = check_tensor(name, "x", x, ["N", self.in_channels, "H", "W"])
        smallest = 2 ** (self.n_layers + 1)
        if min(x.shape[2:]) < smallest:
            raise ValueError(
                f"{name}: expected images of at least {smallest}x{smallest} for n_layers="
                f"{self.n_layers}, got {list(x.shape)}"
            )
        return self.layers(x)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, width={self.width}, n_layers={self.n_layers}"


def lsgan_loss(logits: torch.Tensor, target: float) -> torch.Tensor:
    """The least-squares GAN loss (Mao et al. 2017): ``mean((logits - target)²)``."""
    return (logits.float() - target).square().mean()


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """The L1 cycle-consistency (and identity) loss: ``mean(|reconstructed - original|)``."""
    if reconstructed.shape != original.shape:
        raise ValueError(
            f"cycle_loss: expected reconstructed and original of one shape, got "
            f"{list(reconstructed.shape)} and {list(original.shape)}"
        )
    return (reconstructed.float() - original.float()).abs().mean()


class ImagePool:
    """The history of generated images the discriminators see (Shrivastava et al. 2017, as
    CycleGAN uses it): until `size` images are stored, each new image is stored and returned;
    then each new image is, with probability 1/2, swapped for a random stored one (which is
    returned, the new one stored in its place), else returned as is. size 0: no pool. Random
    draws come from torch's global generator (so a resumed run repeats them)."""

    def __init__(self, size: int = 50) -> None:
        check_int("ImagePool", "size", size, 0)
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        stored = torch.stack(self.images).cpu() if self.images else torch.zeros(0)
        return {"size": self.size, "images": stored}

    def load_state_dict(self, state: dict, device: torch.device | str | None = None) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(
                f"ImagePool: expected a state of a pool of size {self.size}, got {state['size']}"
            )
        images = state["images"]
        self.images = [img.to(device) for img in images] if images.numel() else []


class CycleGANGenerators(nn.Module):
    """The two generators: ``forward(x, direction)`` with direction 'a2b' (G_ab) or 'b2a'
    (G_ba)."""

    def __init__(self, ab: ResNetGenerator, ba: ResNetGenerator) -> None:
        super().__init__()
        self.ab, self.ba = ab, ba

    def forward(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        if direction == "a2b":
            return self.ab(x)
        if direction == "b2a":
            return self.ba(x)
        raise ValueError(f"CycleGAN: expected direction 'a2b' or 'b2a', got {direction!r}")


class CycleGANDiscriminators(nn.Module):
    """The two discriminators: ``forward(x, domain)`` with domain 'a' (D_a) or 'b' (D_b)."""

    def __init__(self, a: PatchDiscriminator, b: PatchDiscriminator) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor, domain: str = "a") -> torch.Tensor:
        if domain == "a":
            return self.a(x)
        if domain == "b":
            return self.b(x)
        raise ValueError(f"CycleGAN: expected domain 'a' or 'b', got {domain!r}")


class CycleGAN(nn.Module):
    """Both generators (``G``: :class:`CycleGANGenerators`) and both discriminators (``D``),
    with the losses of one training step.

    Args:
        channels_a, channels_b: image channels of domains A and B.
        img_resolution: R (divisible by 4; picks the PatchGAN depth ``min(3, log2(R) - 2)``
            unless `disc_layers` is given).
        width: generator and discriminator base channels; n_blocks: residual blocks.
        cycle_weight: lambda (10); identity_weight: the identity loss's weight relative to
            lambda (0.5).
        resample, impl: as :class:`ResNetGenerator`.
    """

    def __init__(
        self,
        channels_a: int = 3,
        channels_b: int = 3,
        img_resolution: int = 16,
        width: int = 16,
        n_blocks: int = 6,
        disc_layers: int | None = None,
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        resample: str = "stride",
        impl: str = "auto",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_int(name, "img_resolution", img_resolution, 8)
        if img_resolution % 4:
            raise ValueError(
                f"{name}: expected img_resolution divisible by 4, got {img_resolution}"
            )
        if disc_layers is None:
            disc_layers = max(1, min(3, img_resolution.bit_length() - 3))
        if identity_weight and channels_a != channels_b:
            raise ValueError(
                f"{name}: the identity loss needs domains of equal channels, got channels_a="
                f"{channels_a}, channels_b={channels_b}; pass identity_weight=0"
            )
        self.cycle_weight, self.identity_weight = float(cycle_weight), float(identity_weight)
        self.G = CycleGANGenerators(
            ResNetGenerator(channels_a, channels_b, width, n_blocks, resample, impl),
            ResNetGenerator(channels_b, channels_a, width, n_blocks, resample, impl),
        )
        self.D = CycleGANDiscriminators(
            PatchDiscriminator(channels_a, width, disc_layers, impl),
            PatchDiscriminator(channels_b, width, disc_layers, impl),
        )

    def generator_loss(
        self, real_a: torch.Tensor, real_b: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total generator loss, its terms and the fakes) for one batch of each domain."""
        return cyclegan_generator_loss(
            self.G, self.D, real_a, real_b, self.cycle_weight, self.identity_weight
        )

    def discriminator_loss(
        self, real_a, real_b, fake_a, fake_b
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return cyclegan_discriminator_loss(self.D, real_a, real_b, fake_a, fake_b)


def cyclegan_generator_loss(
    G: CycleGANGenerators,
    D: CycleGANDiscriminators,
    real_a: torch.Tensor,
    real_b: torch.Tensor,
    cycle_weight: float = 10.0,
    identity_weight: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """LSGAN + lambda * cycle + identity_weight * lambda * identity; the dict holds the terms
    (detached) and the fakes ``fake_a``, ``fake_b`` (with their graphs)."""
    fake_b, fake_a = G(real_a, "a2b"), G(real_b, "b2a")
    gan = lsgan_loss(D(fake_b, "b"), 1.0) + lsgan_loss(D(fake_a, "a"), 1.0)
    cyc = cycle_loss(G(fake_b, "b2a"), real_a) + cycle_loss(G(fake_a, "a2b"), real_b)
    loss = gan + cycle_weight * cyc
    terms = {"loss_G_gan": gan.detach(), "loss_cycle": cyc.detach()}
    if identity_weight > 0:
        idt = cycle_loss(G(real_b, "a2b"), real_b) + cycle_loss(G(real_a, "b2a"), real_a)
        loss = loss + identity_weight * cycle_weight * idt
        terms["loss_identity"] = idt.detach()
    return loss, {**terms, "fake_a": fake_a, "fake_b": fake_b}


def cyclegan_discriminator_loss(
    D: CycleGANDiscriminators, real_a, real_b, fake_a, fake_b
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Each discriminator's LSGAN loss halved (as the paper slows D relative to G), summed."""
    loss_a = 0.5 * (lsgan_loss(D(real_a, "a"), 1.0) + lsgan_loss(D(fake_a.detach(), "a"), 0.0))
    loss_b = 0.5 * (lsgan_loss(D(real_b, "b"), 1.0) + lsgan_loss(D(fake_b.detach(), "b"), 0.0))
    return loss_a + loss_b, {"loss_D_a": loss_a.detach(), "loss_D_b": loss_b.detach()}
