"""GAN models assembled from :mod:`fastgan.nn`: StyleGAN2 (generator with skip connections,
residual discriminator), StyleGAN3 (the alias-free generator, T and R) and DCGAN (a small
baseline)."""

from fastgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from fastgan.models.nvidia_pickle import load_nvidia_pickle
from fastgan.models.rosinality import load_rosinality_checkpoint
from fastgan.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from fastgan.models.stylegan3 import StyleGAN3Generator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "StyleGAN3Generator",
    "load_nvidia_pickle",
    "load_rosinality_checkpoint",
]
