"""NVIDIA's ``torch_utils.ops.bias_act``, on fastgan's fused kernel.

``bias_act(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None, impl='cuda')``
computes ``clamp(act(x + b, alpha) * gain, -clamp, clamp)`` with b broadcast along ``dim``, as
NVIDIA's does; ``activation_funcs`` describes the nine activations with NVIDIA's fields
(``func``, ``def_alpha``, ``def_gain``, ``cuda_idx``, ``ref``, ``has_2nd_grad``), which network
code reads (``activation_funcs['lrelu'].def_gain``).
"""

from __future__ import annotations

import torch

from fastgan.compat.nvidia._impl import as_number, fastgan_impl
from fastgan.ops import bias_act as _fastgan_bias_act
from fastgan.ops import bias_act_ref as _fastgan_bias_act_ref
from fastgan.ops.bias_act import ACTIVATIONS as _ACTIVATIONS

__all__ = ["activation_funcs", "bias_act"]


class _Spec(dict):
    """A dict whose keys are also attributes (``spec.def_gain``), like NVIDIA's EasyDict."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value) -> None:
        self[name] = value


def _spec(name: str, cuda_idx: int, ref: str, has_2nd_grad: bool) -> _Spec:
    activation = _ACTIVATIONS[name]

    def func(x: torch.Tensor, alpha: float = activation.alpha, **_) -> torch.Tensor:
        return activation.func(x, alpha)

    return _Spec(
        func=func,
        def_alpha=activation.alpha,
        def_gain=activation.gain,
        cuda_idx=cuda_idx,
        ref=ref,
        has_2nd_grad=has_2nd_grad,
    )


# NVIDIA's table: the activation, its default alpha and gain, its index in their CUDA kernel,
# whether its gradient is computed from the output ('y') or the input ('x'), and whether its
# second derivative is non-zero.
activation_funcs: dict[str, _Spec] = {
    "linear": _spec("linear", 1, "", False),
    "relu": _spec("relu", 2, "y", False),
    "lrelu": _spec("lrelu", 3, "y", False),
    "tanh": _spec("tanh", 4, "y", True),
    "sigmoid": _spec("sigmoid", 5, "y", True),
    "elu": _spec("elu", 6, "y", True),
    "selu": _spec("selu", 7, "y", True),
    "softplus": _spec("softplus", 8, "y", True),
    "swish": _spec("swish", 9, "x", True),
}


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
    impl: str = "cuda",
) -> torch.Tensor:
    """Fused bias, activation, gain and clamp: ``clamp(act(x + b, alpha) * gain, -clamp, clamp)``.

    NVIDIA's signature and defaults. ``act`` is one of :data:`activation_funcs`; ``alpha`` and
    ``gain`` default to the activation's ``def_alpha`` / ``def_gain``; ``clamp`` is None (no clamp)
    or a number >= 0. ``impl='cuda'`` runs fastgan's native kernel on any device that has one
    (the CPU included), ``impl='ref'`` fastgan's pure-PyTorch reference.
    """
    fimpl = fastgan_impl(impl, "bias_act")
    if not isinstance(act, str) or act not in activation_funcs:
        raise ValueError(f"bias_act: unknown act {act!r}; expected one of {list(activation_funcs)}")
    alpha = as_number(alpha, "alpha", "bias_act")
    gain = as_number(gain, "gain", "bias_act")
    clamp = as_number(clamp, "clamp", "bias_act")
    if clamp is not None and clamp < 0:
        raise ValueError(f"bias_act: expected clamp >= 0 or None, got {clamp!r}")
    if fimpl == "ref":
        return _fastgan_bias_act_ref(x, b, dim, act, alpha, gain, clamp)
    return _fastgan_bias_act(x, b, dim, act, alpha, gain, clamp, impl=fimpl)
