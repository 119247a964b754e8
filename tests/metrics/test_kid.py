"""KID: against a direct O(n²) double loop, near zero for one distribution, seeding, bad input."""

import pytest
import torch

from fastgan.metrics import kernel_inception_distance, mmd2_unbiased


def direct_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD² with k(a, b) = (a·b / d + 1)³, pair by pair."""
    x, y = x.double(), y.double()
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_direct_double_loop():
    x, y = torch.randn(25, 6), torch.randn(19, 6) * 1.5 + 0.3
    expected = direct_mmd2(x, y)
    assert float(mmd2_unbiased(x.double(), y.double())) == pytest.approx(expected, rel=1e-10)


def test_batched_mmd2_and_grouped_subsets(monkeypatch):
    x, y = torch.randn(4, 12, 3, dtype=torch.float64), torch.randn(4, 9, 3, dtype=torch.float64)
    batched = mmd2_unbiased(x, y)
    assert batched.shape == (4,)
    for s in range(4):
        assert float(batched[s]) == pytest.approx(float(mmd2_unbiased(x[s], y[s])), rel=1e-12)
    real, fake = torch.randn(40, 6), torch.randn(30, 6) + 0.3
    whole = kernel_inception_distance(real, fake, num_subsets=7, subset_size=10)
    monkeypatch.setattr("fastgan.metrics.kid._GROUP_ELEMENTS", 200)  # groups of 2 subsets
    grouped = kernel_inception_distance(real, fake, num_subsets=7, subset_size=10)
    assert grouped == pytest.approx(whole, rel=1e-12)


def test_kid_of_whole_sets_matches_direct():
    # A subset as large as both sets holds every sample: each subset gives the same value.
    x, y = torch.randn(30, 5), torch.randn(30, 5) + 0.4
    mean, std = kernel_inception_distance(x, y, num_subsets=3, subset_size=1000)
    assert mean == pytest.approx(direct_mmd2(x, y), rel=1e-10)
    assert std < 1e-12


def test_subsets_match_direct_on_the_same_subsets():
    x, y = torch.randn(60, 4), torch.randn(50, 4) - 0.2
    mean, std = kernel_inception_distance(
        x, y, num_subsets=4, subset_size=20, generator=torch.Generator().manual_seed(3)
    )
    generator = torch.Generator().manual_seed(3)
    values = []
    for _ in range(4):
        xi = torch.randperm(60, generator=generator)[:20]
        yi = torch.randperm(50, generator=generator)[:20]
        values.append(direct_mmd2(x[xi], y[yi]))
    values = torch.tensor(values, dtype=torch.float64)
    assert mean == pytest.approx(float(values.mean()), rel=1e-10)
    assert std == pytest.approx(float(values.std(unbiased=False)), rel=1e-8)


def test_near_zero_for_one_distribution_and_positive_for_two():
    x, y = torch.randn(2000, 16), torch.randn(2000, 16)
    mean, std = kernel_inception_distance(x, y, num_subsets=50, subset_size=200)
    # Over many seeds |mean| stayed under 0.004 (std per subset about 0.01).
    assert abs(mean) < 0.02 and 0 < std < 0.05
    shifted, _ = kernel_inception_distance(x, y + 0.5, num_subsets=50, subset_size=200)
    assert shifted > 0.5


def test_default_generator_is_reproducible_and_seeds_differ():
    x, y = torch.randn(300, 8), torch.randn(300, 8)
    first = kernel_inception_distance(x, y, num_subsets=5, subset_size=50)
    assert kernel_inception_distance(x, y, num_subsets=5, subset_size=50) == first
    other = kernel_inception_distance(
        x, y, num_subsets=5, subset_size=50, generator=torch.Generator().manual_seed(1)
    )
    assert other != first


def test_bad_input():
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match=r"fake_features with 4 features.*got shape \[10, 3\]"):
        kernel_inception_distance(x, torch.randn(10, 3))
    with pytest.raises(ValueError, match=r"real_features with at least 2 samples.*got 1"):
        kernel_inception_distance(x[:1], x)
    with pytest.raises(ValueError, match="num_subsets to be an int >= 1, got 0"):
        kernel_inception_distance(x, x, num_subsets=0)
    with pytest.raises(ValueError, match="subset_size to be an int >= 2, got 1"):
        kernel_inception_distance(x, x, subset_size=1)
    with pytest.raises(TypeError, match=r"generator to be a CPU torch\.Generator"):
        kernel_inception_distance(x, x, generator=0)
