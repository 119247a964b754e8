"""NVIDIA's StyleGAN2-ADA / StyleGAN3 ``torch_utils.ops`` modules, on fastgan's kernels.

Replace ``from torch_utils.ops import bias_act, upfirdn2d, conv2d_resample, fma`` with::

    from fastgan.compat.nvidia import bias_act, upfirdn2d, conv2d_resample, fma

and the network code runs unchanged: each module has NVIDIA's function names, signatures and
defaults (``bias_act.bias_act``, ``bias_act.activation_funcs``, ``upfirdn2d.setup_filter``,
``upfirdn2d.upfirdn2d``, ``upfirdn2d.upsample2d``, ``upfirdn2d.downsample2d``,
``upfirdn2d.filter2d``, ``conv2d_resample.conv2d_resample``, ``fma.fma``, and StyleGAN3's
``filtered_lrelu.filtered_lrelu``). ``impl='cuda'`` (their
default) runs fastgan's native kernels on every device fastgan has kernels for, the CPU included;
``impl='ref'`` runs fastgan's pure-PyTorch references; any other value is a ValueError.
"""

from fastgan.compat.nvidia import bias_act, conv2d_resample, filtered_lrelu, fma, upfirdn2d

__all__ = ["bias_act", "conv2d_resample", "filtered_lrelu", "fma", "upfirdn2d"]
