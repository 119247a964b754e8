"""Drop-in replacements for the op modules of existing StyleGAN code bases.

- :mod:`fastgan.compat.nvidia`: NVIDIA's StyleGAN2-ADA / StyleGAN3 ``torch_utils.ops`` modules
  (``bias_act``, ``upfirdn2d``, ``conv2d_resample``, ``fma``, and ``filtered_lrelu`` where
  fastgan has it), with the same function names, signatures and defaults::

      from fastgan.compat.nvidia import bias_act, upfirdn2d, conv2d_resample, fma

- :mod:`fastgan.compat.rosinality`: the ``op`` module of rosinality's stylegan2-pytorch
  (``FusedLeakyReLU``, ``fused_leaky_relu``, ``upfirdn2d``)::

      from fastgan.compat.rosinality import FusedLeakyReLU, fused_leaky_relu, upfirdn2d

Both run fastgan's native kernels on every device that has them (the CPU included), and fall
back to fastgan's pure-PyTorch references elsewhere. They are written from the documented
semantics of those projects; no code of theirs is included.
"""

__all__ = ["nvidia", "rosinality"]


def __getattr__(name: str):
    # Lazy, so that importing one compat flavour does not import the other.
    if name in __all__:
        import importlib

        return importlib.import_module(f"fastgan.compat.{name}")
    raise AttributeError(f"module 'fastgan.compat' has no attribute {name!r}")
