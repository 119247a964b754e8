"""Precision and recall: identical and far-apart sets, a brute-force float64 reference, blocked ==
unblocked, k-NN radii excluding the sample itself, bad input."""

import pytest
import torch

from fastgan.metrics import knn_radii, precision_recall


def reference_precision_recall(real, fake, k):
    """Brute force in float64 with torch.cdist."""
    real, fake = real.double(), fake.double()

    def radii(x):
        d = torch.cdist(x, x)
        d.fill_diagonal_(float("inf"))
        return d.kthvalue(k, dim=1).values

    r_real, r_fake = radii(real), radii(fake)
    d = torch.cdist(fake, real)  # [fake, real]
    precision = (d <= r_real.unsqueeze(0)).any(dim=1).double().mean()
    recall = (d <= r_fake.unsqueeze(1)).any(dim=0).double().mean()
    return float(precision), float(recall)


def test_identical_sets_give_one_one():
    x = torch.randn(200, 32) * 4 + 10
    assert precision_recall(x, x.clone()) == (1.0, 1.0)


def test_far_apart_sets_give_zero_zero():
    x = torch.randn(150, 16)
    assert precision_recall(x, torch.randn(120, 16) + 1000) == (0.0, 0.0)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_blocked_equals_unblocked_and_reference(k):
    # Small integer features: every distance is exact in float32 and in float64, so the blocked,
    # unblocked and brute-force results agree exactly, ties included.
    # A cluster of 10 real samples far from every fake one, and one of 10 fake samples far from
    # every real one, keep both figures strictly between 0 and 1 whatever the random draw.
    real = torch.randint(-3, 4, (230, 12)).float()
    fake = torch.randint(-3, 4, (170, 12)).float() + (torch.rand(170, 1) < 0.3).float() * 2
    real[:10] += 100
    fake[:10] -= 100
    unblocked = precision_recall(real, fake, k=k, block_size=100_000)
    assert 0 < unblocked[0] < 1 and 0 < unblocked[1] < 1
    for block_size in (1, 7, 64, 229):
        assert precision_recall(real, fake, k=k, block_size=block_size) == unblocked
    assert unblocked == pytest.approx(reference_precision_recall(real, fake, k), abs=0)


def test_random_float_features_match_reference():
    real, fake = torch.randn(300, 20), torch.randn(250, 20) * 1.3 + 0.2
    got = precision_recall(real, fake, block_size=64)
    expected = reference_precision_recall(real, fake, 3)
    # float32 against float64: at most one sample may fall on the other side of a boundary.
    assert got[0] == pytest.approx(expected[0], abs=1.5 / 250)
    assert got[1] == pytest.approx(expected[1], abs=1.5 / 300)


def test_knn_radii_exclude_the_sample_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert knn_radii(x, k=1).tolist() == [1.0, 1.0, 4.0, 9.0]
    assert knn_radii(x, k=2, block_size=3).tolist() == [9.0, 4.0, 9.0, 25.0]
    # a duplicate is a neighbour at distance 0; the sample itself is not
    duplicated = torch.tensor([[0.0], [0.0], [5.0]])
    assert knn_radii(duplicated, k=1).tolist() == [0.0, 0.0, 25.0]


def test_bad_input():
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match=r"fake_features with 4 features.*got shape \[10, 5\]"):
        precision_recall(x, torch.randn(10, 5))
    with pytest.raises(ValueError, match="more than k=3 samples in fake_features, got 3"):
        precision_recall(x, x[:3])
    with pytest.raises(ValueError, match="block_size to be an int >= 1, got 0"):
        precision_recall(x, x, block_size=0)
    with pytest.raises(ValueError, match="k to be an int >= 1, got 0"):
        precision_recall(x, x, k=0)
    with pytest.raises(ValueError, match=r"real_features of shape \[N, D\], got shape \[2, 2, 2\]"):
        precision_recall(torch.randn(2, 2, 2), x)
    with pytest.raises(ValueError, match="more than k=5 samples in features, got 5"):
        knn_radii(x[:5], k=5)
