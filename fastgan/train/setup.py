"""Models and optimisers of a run, built from its configuration."""

from __future__ import annotations

import torch

from fastgan.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    StyleGAN3Generator,
)
from fastgan.train.config import TrainConfig

__all__ = ["build_models", "lazy_adam"]


def build_models(
    config: TrainConfig, img_channels: int, c_dim: int
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(G, D) for the configuration, on the CPU in float32, from torch's current random state."""
    if config.arch in ("progan", "cyclegan"):
        from fastgan.train.models_extra import build_extra_models

        return build_extra_models(config, img_channels, c_dim)
    if config.arch == "dcgan":
        G = DCGANGenerator(
            z_dim=config.z_dim,
            c_dim=c_dim,
            img_resolution=config.res,
            img_channels=img_channels,
            impl=config.impl,
        )
        D = DCGANDiscriminator(
            c_dim=c_dim,
            img_resolution=config.res,
            img_channels=img_channels,
            mbdisc_kernels=config.mbdisc_kernels,
            impl=config.impl,
        )
        return G, D
    common = dict(
        channel_base=config.channel_base,
        channel_max=config.channel_max,
        conv_clamp=config.conv_clamp,
        img_resolution=config.res,
        img_channels=img_channels,
        c_dim=c_dim,
        impl=config.impl,
    )
    if config.arch in ("stylegan3-t", "stylegan3-r"):
        radial = config.arch == "stylegan3-r"
        G = StyleGAN3Generator(
            z_dim=config.z_dim,
            w_dim=config.w_dim,
            mapping_layers=config.mapping_layers,
            num_layers=config.sg3_layers,
            conv_kernel=1 if radial else 3,
            use_radial_filters=radial,
            **common,
        )
    else:
        G = StyleGAN2Generator(
            z_dim=config.z_dim, w_dim=config.w_dim, mapping_layers=config.mapping_layers, **common
        )
    D = StyleGAN2Discriminator(
        mbstd_group_size=config.mbstd_group, mbdisc_kernels=config.mbdisc_kernels, **common
    )
    return G, D


def lazy_adam(
    params, lr: float, betas: tuple[float, float], interval: int | None
) -> torch.optim.Adam:
    """Adam for a network whose regulariser runs every `interval` steps (lazy regularisation,
    Karras et al. 2020): the learning rate and betas are corrected by interval / (interval + 1),
    so that the main and regularisation steps together move as one step would."""
    ratio = interval / (interval + 1) if interval else 1.0
    return torch.optim.Adam(
        params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=1e-8
    )
