"""Inception Score (Salimans et al. 2016, "Improved techniques for training GANs").

    IS = exp(E_x KL(p(y|x) ‖ p(y))),   p(y) = E_x p(y|x)

computed on each of `splits` equal parts of the samples (p(y) estimated per part); the mean and
the standard deviation over the parts are reported. It lies between 1 (every prediction the same,
or every prediction uniform) and the number of classes (confident predictions spread evenly over
all classes).
"""

from __future__ import annotations

import numpy as np
import torch

from fastgan.metrics._checks import check_int, check_matrix

__all__ = ["inception_score"]

# How far the rows of `predictions` may be from summing to 1 when they are probabilities.
_SUM_TOLERANCE = 1e-3


def inception_score(
    predictions: torch.Tensor | np.ndarray, splits: int = 10, from_logits: bool = False
) -> tuple[float, float]:
    """``(mean, std)`` of exp(E_x KL(p(y|x) ‖ p(y))) over `splits` parts of the samples.

    predictions: [N, C] class probabilities p(y|x) (each row >= 0 and summing to 1), or logits
    when `from_logits` (softmax taken in float64). N >= splits; the parts are contiguous and differ
    in size by at most one (torch.tensor_split). std is the population standard deviation over the
    parts. Defaults: 10 splits, probabilities.
    """
    op = "inception_score"
    p = check_matrix(predictions, "predictions", op)
    splits = check_int(splits, "splits", op)
    if not isinstance(from_logits, bool):
        raise TypeError(f"{op}: expected from_logits to be a bool, got {from_logits!r}")
    if p.shape[0] < splits:
        raise ValueError(
            f"{op}: expected at least splits={splits} samples in predictions, got {p.shape[0]}"
        )
    p = p.to(torch.float64)
    if from_logits:
        p = torch.softmax(p, dim=1)
    else:
        row_sums = p.sum(dim=1)
        if bool((p < 0).any()) or not bool(((row_sums - 1).abs() <= _SUM_TOLERANCE).all()):
            raise ValueError(
                f"{op}: expected predictions to be probabilities (rows >= 0 summing to 1; pass "
                f"from_logits=True for logits), got values in [{float(p.min()):.4g}, "
                f"{float(p.max()):.4g}] with row sums in [{float(row_sums.min()):.4g}, "
                f"{float(row_sums.max()):.4g}]"
            )
        p = p / row_sums.unsqueeze(1)
    scores = []
    for part in torch.tensor_split(p, splits):
        marginal = part.mean(dim=0, keepdim=True)
        # x log(x / m) with 0 log 0 = 0; xlogy keeps the classes no sample predicts finite.
        kl = (torch.xlogy(part, part) - torch.xlogy(part, marginal)).sum(dim=1)
        scores.append(torch.exp(kl.mean()))
    scores_t = torch.stack(scores)
    return float(scores_t.mean()), float(scores_t.std(unbiased=False))
