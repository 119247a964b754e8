"""Minibatch discrimination (Salimans et al. 2016): `fastgan.ops.minibatch_discrimination`.

For features x [N, A] and a tensor T [A, B, D]: M = x @ T as [N, B, D], and for each sample i
and kernel b the similarity to the whole batch, o[i, b] = sum_j exp(-sum_c |M[i,b,c] - M[j,b,c]|)
(j runs over every sample, i itself included, so o >= 1). The output is cat([x, o]) [N, A + B].

The pairwise part is one op (`minibatch_similarity`) whose kernels visit each pair of samples
without materialising the [N, N, B, D] difference tensor of the reference: extra memory O(N B D)
instead of O(N^2 B D). Its backward and double backward are ops of the same kind, so first- and
second-order gradients with respect to x and T are fused too.
"""

from __future__ import annotations

import torch

from fastgan import _native
from fastgan.ops._dispatch import Dispatch, check_float_dtype

__all__ = ["minibatch_discrimination", "minibatch_discrimination_ref", "minibatch_similarity"]

_DISPATCH = Dispatch("minibatch_similarity")
_OP = "minibatch_discrimination"


def _check_args(x, T) -> None:
    for name, value in (("x", x), ("T", T)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{_OP}: expected {name} to be a torch.Tensor, got {type(value).__name__}"
            )
    if x.ndim != 2:
        raise ValueError(f"{_OP}: expected x of shape [N, A], got shape {list(x.shape)}")
    if T.ndim != 3:
        raise ValueError(f"{_OP}: expected T of shape [A, B, D], got shape {list(T.shape)}")
    if T.shape[0] != x.shape[1]:
        raise ValueError(
            f"{_OP}: expected T of shape [A, B, D] with A={x.shape[1]} (the features of x), "
            f"got shape {list(T.shape)}"
        )
    check_float_dtype(x, _OP)
    if T.dtype != x.dtype:
        raise TypeError(f"{_OP}: expected T of dtype {x.dtype} (the dtype of x), got {T.dtype}")
    if T.device != x.device:
        raise ValueError(f"{_OP}: expected T on {x.device} (the device of x), got {T.device}")


def _project(x: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """M = x @ T as [N, B, D]."""
    A, B, D = T.shape
    return (x @ T.reshape(A, B * D)).reshape(x.shape[0], B, D)


def _similarity_ref(M: torch.Tensor) -> torch.Tensor:
    distance = (M.unsqueeze(1) - M.unsqueeze(0)).abs().sum(dim=3)  # [N, N, B]
    return torch.exp(-distance).sum(dim=1)


def minibatch_similarity(M: torch.Tensor, impl: str = "auto") -> torch.Tensor:
    """``o[i, b] = sum_j exp(-sum_c |M[i, b, c] - M[j, b, c]|)`` for M [N, B, D]: [N, B] in M's
    dtype (16-bit inputs computed in float32). Differentiable twice with respect to M."""
    if not isinstance(M, torch.Tensor):
        raise TypeError(
            f"minibatch_similarity: expected M to be a torch.Tensor, got {type(M).__name__}"
        )
    if M.ndim != 3:
        raise ValueError(
            f"minibatch_similarity: expected M of shape [N, B, D], got {list(M.shape)}"
        )
    check_float_dtype(M, "minibatch_similarity")
    if _DISPATCH.use_native(M.device, impl):
        return torch.ops.fastgan.minibatch_similarity(M)
    return _similarity_ref(M)


def minibatch_discrimination_ref(x: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Pure-PyTorch reference of :func:`minibatch_discrimination` (same maths, in x.dtype; builds
    the [N, N, B, D] difference tensor)."""
    _check_args(x, T)
    return torch.cat([x, _similarity_ref(_project(x, T))], dim=1)


def minibatch_discrimination(x: torch.Tensor, T: torch.Tensor, impl: str = "auto") -> torch.Tensor:
    """Minibatch discrimination features appended to x.

    x: [N, A]; T: [A, B, D] (same dtype and device). ``M = x @ T`` as [N, B, D];
    ``o[i, b] = sum_j exp(-sum_c |M[i, b, c] - M[j, b, c]|)`` over the whole batch (i included).
    Returns ``cat([x, o], dim=1)``, [N, A + B], in x's dtype. Differentiable twice with respect to
    x and T; the pairwise part never materialises the [N, N, B, D] tensor.
    """
    _check_args(x, T)
    return torch.cat([x, minibatch_similarity(_project(x, T), impl=impl)], dim=1)


def _setup_context(ctx, inputs, output):
    (M,) = inputs
    ctx.save_for_backward(M)


def _backward(ctx, grad):
    (M,) = ctx.saved_tensors
    return torch.ops.fastgan.minibatch_similarity_backward(grad, M)


def _backward_setup_context(ctx, inputs, output):
    grad, M = inputs
    ctx.save_for_backward(grad, M)


def _backward_backward(ctx, v):
    grad, M = ctx.saved_tensors
    return torch.ops.fastgan.minibatch_similarity_double_backward(v, grad, M)


def _double_backward_backward(ctx, *grads):
    raise NotImplementedError(
        "minibatch_discrimination: gradients of third and higher order are not implemented "
        "(first and second order are); use impl='ref' for them"
    )


if _native.loaded():

    @torch.library.register_fake("fastgan::minibatch_similarity")
    def _minibatch_similarity_fake(M):
        return M.new_empty(M.shape[0], M.shape[1])

    @torch.library.register_fake("fastgan::minibatch_similarity_backward")
    def _minibatch_similarity_backward_fake(grad, M):
        return M.new_empty(M.shape)

    @torch.library.register_fake("fastgan::minibatch_similarity_double_backward")
    def _minibatch_similarity_double_backward_fake(v, grad, M):
        return M.new_empty(M.shape[0], M.shape[1]), M.new_empty(M.shape)

    torch.library.register_autograd(
        "fastgan::minibatch_similarity", _backward, setup_context=_setup_context
    )
    torch.library.register_autograd(
        "fastgan::minibatch_similarity_backward",
        _backward_backward,
        setup_context=_backward_setup_context,
    )
    torch.library.register_autograd(
        "fastgan::minibatch_similarity_double_backward",
        _double_backward_backward,
        setup_context=lambda ctx, inputs, output: None,
    )
