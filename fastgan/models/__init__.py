"""GAN models assembled from :mod:`fastgan.nn`: StyleGAN2 (generator with skip connections,
residual discriminator), StyleGAN3 (the alias-free generator, T and R), DCGAN (a small
baseline), ProGAN (progressive growing) and CycleGAN (unpaired translation)."""

from fastgan.models.cyclegan import CycleGAN, ImagePool, PatchDiscriminator, ResNetGenerator
from fastgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from fastgan.models.nvidia_pickle import load_nvidia_pickle
from fastgan.models.progan import ProGANDiscriminator, ProGANGenerator
from fastgan.models.rosinality import load_rosinality_checkpoint
from fastgan.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from fastgan.models.stylegan3 import StyleGAN3Generator

__all__ = [
    "CycleGAN",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "ImagePool",
    "PatchDiscriminator",
    "ProGANDiscriminator",
    "ProGANGenerator",
    "ResNetGenerator",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "StyleGAN3Generator",
    "load_nvidia_pickle",
    "load_rosinality_checkpoint",
]
