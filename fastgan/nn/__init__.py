"""Drop-in ``nn.Module`` layers built on :mod:`fastgan.ops`."""

from fastgan.nn.conv import BiasAct, EqualConv2d
from fastgan.nn.discriminator import MinibatchDiscrimination, MinibatchStdDev
from fastgan.nn.resample import Blur, Downsample2d, Upsample2d
from fastgan.nn.stylegan import (
    EqualLinear,
    MappingNetwork,
    ModulatedConv2d,
    StyledConv,
    ToRGB,
    set_impl,
)

__all__ = [
    "BiasAct",
    "Blur",
    "Downsample2d",
    "EqualConv2d",
    "EqualLinear",
    "MappingNetwork",
    "MinibatchDiscrimination",
    "MinibatchStdDev",
    "ModulatedConv2d",
    "StyledConv",
    "ToRGB",
    "Upsample2d",
    "set_impl",
]
