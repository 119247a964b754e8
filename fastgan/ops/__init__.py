"""Public functional ops. Each has a native kernel (CPU, CUDA) and a pure-PyTorch reference.

This is the only module that touches ``torch.ops.fastgan``; importing it registers the fake
kernels and autograd formulas of every op.
"""

from fastgan.ops.bias_act import ACTIVATIONS, bias_act, bias_act_ref
from fastgan.ops.conv2d_resample import conv2d_resample, conv2d_resample_ref
from fastgan.ops.filtered_lrelu import filtered_lrelu, filtered_lrelu_ref
from fastgan.ops.minibatch_discrimination import (
    minibatch_discrimination,
    minibatch_discrimination_ref,
    minibatch_similarity,
)
from fastgan.ops.minibatch_stddev import minibatch_stddev, minibatch_stddev_ref
from fastgan.ops.modulated_conv2d import modulated_conv2d
from fastgan.ops.squared_norm import squared_norm, squared_norm_ref
from fastgan.ops.styled_bias_act import styled_bias_act, styled_bias_act_ref
from fastgan.ops.upfirdn2d import (
    downsample2d,
    filter2d,
    setup_filter,
    upfirdn2d,
    upfirdn2d_ref,
    upsample2d,
)

# Every op of torch.ops.fastgan that has public Python entry points, for `fastgan info`.
OPS = (
    "bias_act",
    "bias_act_backward",
    "upfirdn2d",
    "filtered_lrelu",
    "filtered_lrelu_linear",
    "styled_bias_act",
    "styled_bias_act_backward",
    "minibatch_stddev",
    "minibatch_stddev_backward",
    "squared_norm",
    "minibatch_similarity",
    "minibatch_similarity_backward",
    "minibatch_similarity_double_backward",
)

__all__ = [
    "ACTIVATIONS",
    "OPS",
    "bias_act",
    "bias_act_ref",
    "conv2d_resample",
    "conv2d_resample_ref",
    "downsample2d",
    "filter2d",
    "filtered_lrelu",
    "filtered_lrelu_ref",
    "minibatch_discrimination",
    "minibatch_discrimination_ref",
    "minibatch_similarity",
    "minibatch_stddev",
    "minibatch_stddev_ref",
    "modulated_conv2d",
    "setup_filter",
    "squared_norm",
    "squared_norm_ref",
    "styled_bias_act",
    "styled_bias_act_ref",
    "upfirdn2d",
    "upfirdn2d_ref",
    "upsample2d",
]
