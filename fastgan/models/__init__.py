"""GAN models assembled from :mod:`fastgan.nn`: StyleGAN2 (generator with skip connections,
residual discriminator) and DCGAN (a small baseline)."""

from fastgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from fastgan.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
]
