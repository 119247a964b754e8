"""Drop-in ``nn.Module`` layers built on :mod:`fastgan.ops`."""

from fastgan.nn.resample import Blur, Downsample2d, Upsample2d

__all__ = ["Blur", "Downsample2d", "Upsample2d"]
