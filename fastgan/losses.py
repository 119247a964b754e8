"""GAN losses on discriminator logits, for both sides, and the gradient penalties.

=========  ==========================================  ==============================
kind       discriminator                               generator
=========  ==========================================  ==============================
logistic   softplus(-D(real)) + softplus(D(fake))      softplus(-D(fake))  (non-saturating;
                                                       Goodfellow et al. 2014)
hinge      relu(1 - D(real)) + relu(1 + D(fake))       -D(fake)
wgan       D(fake) - D(real)                           -D(fake)
rpgan      softplus(D(fake) - D(real))                 softplus(D(real) - D(fake))
           (relativistic pairing, as R3GAN uses; real and fake paired sample by sample)
=========  ==========================================  ==============================

Each returns the per-sample loss reduced by ``reduction`` ('mean', 'sum' or 'none').

Penalties (per sample, ``[N]``; each differentiates through the network with ``create_graph``,
so that the penalty trains it; none modifies its inputs): :func:`r1_penalty`,
:func:`r2_penalty`, :func:`wgan_gp_penalty`, :func:`path_length_penalty`. The squared gradient
norms are one :func:`fastgan.ops.squared_norm` pass each.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from fastgan.ops.squared_norm import squared_norm

__all__ = [
    "LOSSES",
    "discriminator_loss",
    "generator_loss",
    "path_length_penalty",
    "r1_penalty",
    "r2_penalty",
    "wgan_gp_penalty",
]

LOSSES = ("logistic", "hinge", "wgan", "rpgan")
_REDUCTIONS = ("mean", "sum", "none")


def _logits(name: str, t: object, op: str) -> torch.Tensor:
    """Logits as [N]: a [N] or [N, 1] floating-point tensor."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: expected {name} to be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{op}: expected {name} of a floating-point dtype, got {t.dtype}")
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"{op}: expected {name} of shape [N] or [N, 1], got {list(t.shape)}")
    return t


def _check(kind: str, reduction: str, op: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"{op}: unknown kind {kind!r}; expected one of {LOSSES}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: expected reduction in {_REDUCTIONS}, got {reduction!r}")


def _paired(real: torch.Tensor, fake: torch.Tensor, op: str) -> None:
    if real.shape != fake.shape:
        raise ValueError(
            f"{op}: kind 'rpgan' pairs real and fake samples one to one; expected real_logits and "
            f"fake_logits of the same shape, got {list(real.shape)} and {list(fake.shape)}"
        )


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def discriminator_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    kind: str = "logistic",
    reduction: str = "mean",
) -> torch.Tensor:
    """The discriminator's loss (see the module's table). For 'rpgan' real and fake are paired
    sample by sample; otherwise the per-sample loss is ``real_term + fake_term`` of equal batch
    sizes, or, for different batch sizes, the two means (or sums) added ('none' needs equal
    sizes)."""
    op = "discriminator_loss"
    _check(kind, reduction, op)
    real = _logits("real_logits", real_logits, op)
    fake = _logits("fake_logits", fake_logits, op)
    if kind == "rpgan":
        _paired(real, fake, op)
        return _reduce(F.softplus(fake - real), reduction)
    if kind == "logistic":
        real_term, fake_term = F.softplus(-real), F.softplus(fake)
    elif kind == "hinge":
        real_term, fake_term = F.relu(1 - real), F.relu(1 + fake)
    else:
        real_term, fake_term = -real, fake
    if real.shape == fake.shape:
        return _reduce(real_term + fake_term, reduction)
    if reduction == "none":
        raise ValueError(
            f"{op}: reduction='none' needs real_logits and fake_logits of one batch size, got "
            f"{real.shape[0]} and {fake.shape[0]}"
        )
    return _reduce(real_term, reduction) + _reduce(fake_term, reduction)


def generator_loss(
    fake_logits: torch.Tensor,
    real_logits: torch.Tensor | None = None,
    kind: str = "logistic",
    reduction: str = "mean",
) -> torch.Tensor:
    """The generator's loss (see the module's table); 'rpgan' needs ``real_logits``, paired with
    the fakes sample by sample."""
    op = "generator_loss"
    _check(kind, reduction, op)
    fake = _logits("fake_logits", fake_logits, op)
    if kind == "rpgan":
        if real_logits is None:
            raise ValueError(f"{op}: kind 'rpgan' needs real_logits")
        real = _logits("real_logits", real_logits, op)
        _paired(real, fake, op)
        return _reduce(F.softplus(real - fake), reduction)
    if kind == "logistic":
        return _reduce(F.softplus(-fake), reduction)
    return _reduce(-fake, reduction)


def _input_gradient(outputs: torch.Tensor, inputs: torch.Tensor, op: str) -> torch.Tensor:
    """d(sum of outputs)/d inputs, with the graph kept for the penalty's own backward."""
    if not isinstance(inputs, torch.Tensor) or not inputs.requires_grad:
        raise ValueError(
            f"{op}: expected the images to require grad (call .requires_grad_() on them before "
            "the network sees them)"
        )
    if not isinstance(outputs, torch.Tensor) or outputs.grad_fn is None:
        raise ValueError(f"{op}: expected the logits to be computed from the images")
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad


def _every_parameter(outputs: torch.Tensor) -> torch.Tensor:
    """Per-sample zeros that depend on every element of outputs: added to a penalty, they put
    every parameter that produced the outputs into the penalty's graph (with a zero gradient).
    Without them, parameters that do not change the input gradient (the last layer's bias, a
    constant input) get no gradient, and DDP with find_unused_parameters=False fails on the next
    iteration."""
    return outputs.reshape(outputs.shape[0], -1).sum(dim=1) * 0


def r1_penalty(
    real_logits: torch.Tensor, real_images: torch.Tensor, impl: str = "auto"
) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): per-sample ``||d D(x) / d x||²`` at the real images, which
    must require grad before D sees them. Returns ``[N]`` (usually weighted by gamma / 2).
    Every parameter of D is in the result's graph, as DDP needs."""
    grad = _input_gradient(real_logits, real_images, "r1_penalty")
    norm = squared_norm(grad, impl=impl)
    return norm + _every_parameter(real_logits).to(norm.dtype)


def r2_penalty(
    fake_logits: torch.Tensor, fake_images: torch.Tensor, impl: str = "auto"
) -> torch.Tensor:
    """R2: the R1 penalty at the generated images: per-sample ``||d D(x) / d x||²``."""
    grad = _input_gradient(fake_logits, fake_images, "r2_penalty")
    norm = squared_norm(grad, impl=impl)
    return norm + _every_parameter(fake_logits).to(norm.dtype)


def wgan_gp_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    center: float = 1.0,
    impl: str = "auto",
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): per-sample ``(||d D(x̂) / d x̂|| - center)²`` at
    ``x̂ = real + eps * (fake - real)``, eps uniform in [0, 1) per sample."""
    op = "wgan_gp_penalty"
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor):
        raise TypeError(f"{op}: expected real and fake to be torch.Tensors")
    if real.shape != fake.shape:
        raise ValueError(
            f"{op}: expected real and fake of one shape, got {list(real.shape)} and "
            f"{list(fake.shape)}"
        )
    real, fake = real.detach(), fake.detach()
    eps = torch.rand([real.shape[0]] + [1] * (real.ndim - 1), device=real.device, dtype=real.dtype)
    mixed = (real + eps * (fake - real)).requires_grad_(True)
    logits = discriminator(mixed)
    grad = _input_gradient(logits, mixed, op)
    # The tiny constant keeps the square root differentiable where a gradient vanishes.
    norm = (squared_norm(grad, impl=impl) + 1e-12).sqrt()
    return (norm - center).square() + _every_parameter(logits).to(norm.dtype)


def path_length_penalty(
    fake_images: torch.Tensor,
    ws: torch.Tensor,
    pl_mean: torch.Tensor,
    decay: float = 0.01,
    impl: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Path-length regularisation (Karras et al. 2020): per-sample ``(||J_wᵀ y|| - a)²`` with
    ``y`` Gaussian noise scaled by ``1 / sqrt(H * W)``, the length the root mean over the
    ``num_ws`` copies of w of the squared norms, and ``a`` the running mean of the lengths.

    Returns ``(penalty [N], new pl_mean)``: ``pl_mean`` is not modified; store the new mean.
    ``ws`` (``[N, w_dim]`` or ``[N, num_ws, w_dim]``) must be in the graph of ``fake_images``.
    """
    op = "path_length_penalty"
    if fake_images.ndim != 4:
        raise ValueError(
            f"{op}: expected fake_images of shape [N, C, H, W], got {list(fake_images.shape)}"
        )
    if ws.ndim not in (2, 3) or ws.shape[0] != fake_images.shape[0]:
        raise ValueError(
            f"{op}: expected ws of shape [N, w_dim] or [N, num_ws, w_dim] with N="
            f"{fake_images.shape[0]}, got {list(ws.shape)}"
        )
    H, W = fake_images.shape[2:]
    noise = torch.randn_like(fake_images) / math.sqrt(H * W)
    grad = _input_gradient(fake_images * noise, ws, op)
    copies = ws.shape[1] if ws.ndim == 3 else 1
    lengths = (squared_norm(grad, impl=impl) / copies).sqrt()
    pl_mean = torch.as_tensor(pl_mean, dtype=lengths.dtype, device=lengths.device)
    new_mean = pl_mean.lerp(lengths.mean().detach(), decay)
    penalty = (lengths - new_mean).square() + _every_parameter(fake_images).to(lengths.dtype)
    return penalty, new_mean
