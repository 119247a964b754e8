"""fastgan: fused C++/CUDA kernels for StyleGAN-style GAN training, as torch.library operators."""

from fastgan import nn, ops

__version__ = "0.1.0"

__all__ = ["__version__", "nn", "ops"]
