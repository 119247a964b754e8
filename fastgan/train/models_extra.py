"""The networks of `--model progan` and `--model cyclegan` for the trainer, and ProGAN's growth
schedule applied to a run's networks."""

from __future__ import annotations

import torch

from fastgan.models.cyclegan import CycleGAN
from fastgan.models.progan import ProGANDiscriminator, ProGANGenerator, progan_growth
from fastgan.train.config import TrainConfig

__all__ = ["apply_progan_growth", "build_extra_models"]


def build_extra_models(
    config: TrainConfig, img_channels: int, c_dim: int
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(G, D): ProGAN's generator and discriminator, or CycleGAN's two generators (a
    :class:`fastgan.models.cyclegan.CycleGANGenerators`) and two discriminators."""
    if config.arch == "progan":
        common = dict(
            c_dim=c_dim,
            img_resolution=config.res,
            img_channels=img_channels,
            channel_base=config.channel_base,
            channel_max=config.channel_max,
            impl=config.impl,
        )
        G = ProGANGenerator(z_dim=config.z_dim, **common)
        D = ProGANDiscriminator(mbstd_group=config.mbstd_group, **common)
        return G, D
    if config.arch == "cyclegan":
        model = CycleGAN(
            channels_a=img_channels,
            channels_b=img_channels,
            img_resolution=config.res,
            width=config.width,
            n_blocks=config.gen_blocks,
            cycle_weight=config.cycle_weight,
            identity_weight=config.identity_weight,
            resample=config.resample,
            impl=config.impl,
        )
        return model.G, model.D
    raise ValueError(f"train: expected --model progan or cyclegan here, got {config.arch!r}")


def apply_progan_growth(config: TrainConfig, nimg: int, *modules: torch.nn.Module) -> None:
    """Sets (level, alpha) of the schedule after `nimg` images on each of `modules`."""
    level, alpha = progan_growth(nimg, config.progan_kimg, modules[0].max_level)
    for module in modules:
        module.set_growth(level, alpha)
