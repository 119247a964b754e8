"""GAN losses on discriminator logits, for both sides.

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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "discriminator_loss", "generator_loss"]

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
