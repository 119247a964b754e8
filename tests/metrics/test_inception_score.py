"""Inception Score: 1 for uniform predictions, the number of classes for confident balanced ones,
a direct formula, bad input."""

import math

import pytest
import torch

from fastgan.metrics import inception_score


def test_uniform_predictions_score_one():
    p = torch.full((200, 7), 1 / 7)
    mean, std = inception_score(p)
    assert mean == pytest.approx(1.0, abs=1e-12) and std < 1e-12
    # logits: any constant row is uniform
    mean, _ = inception_score(torch.randn(200, 1).expand(200, 7), from_logits=True)
    assert mean == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("num_classes", [2, 10, 1008])
def test_confident_balanced_predictions_score_the_number_of_classes(num_classes):
    # Every one of the 10 contiguous splits holds each class equally often.
    labels = torch.arange(10 * num_classes * 2) % num_classes
    one_hot = torch.nn.functional.one_hot(labels, num_classes).double()
    mean, std = inception_score(one_hot, splits=10)
    assert mean == pytest.approx(num_classes, rel=1e-12) and std < 1e-9
    mean, _ = inception_score(100 * one_hot, splits=10, from_logits=True)
    assert mean == pytest.approx(num_classes, rel=1e-6)


def test_matches_direct_formula():
    logits = torch.randn(90, 5, dtype=torch.float64) * 2
    p = torch.softmax(logits, dim=1)
    scores = []
    for part in torch.tensor_split(p, 3):
        py = part.mean(dim=0)
        kl = [sum(float(r[c] * math.log(r[c] / py[c])) for c in range(5)) for r in part]
        scores.append(math.exp(sum(kl) / len(kl)))
    expected = torch.tensor(scores, dtype=torch.float64)
    mean, std = inception_score(logits, splits=3, from_logits=True)
    assert mean == pytest.approx(float(expected.mean()), rel=1e-10)
    assert std == pytest.approx(float(expected.std(unbiased=False)), rel=1e-8)
    assert inception_score(p.float(), splits=3)[0] == pytest.approx(mean, rel=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match=r"probabilities.*from_logits=True.*row sums"):
        inception_score(torch.randn(20, 4))
    with pytest.raises(ValueError, match="at least splits=10 samples in predictions, got 5"):
        inception_score(torch.full((5, 2), 0.5))
    with pytest.raises(ValueError, match=r"predictions of shape \[N, D\], got shape \[10\]"):
        inception_score(torch.full((10,), 0.1))
    with pytest.raises(ValueError, match="splits to be an int >= 1, got 0"):
        inception_score(torch.full((5, 2), 0.5), splits=0)
    with pytest.raises(TypeError, match="from_logits to be a bool, got 1"):
        inception_score(torch.full((5, 2), 0.5), splits=1, from_logits=1)
