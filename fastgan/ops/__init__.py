"""Public functional ops. Each has a native kernel (CPU, CUDA) and a pure-PyTorch reference.

This is the only module that touches ``torch.ops.fastgan``; importing it registers the fake
kernels and autograd formulas of every op.
"""

from fastgan.ops.bias_act import ACTIVATIONS, bias_act, bias_act_ref

# Every op of torch.ops.fastgan that has public Python entry points, for `fastgan info`.
OPS = ("bias_act", "bias_act_backward")

__all__ = ["ACTIVATIONS", "OPS", "bias_act", "bias_act_ref"]
