"""Fréchet distance: against scipy's matrix square root, analytic values, singular covariances,
bad input."""

import numpy as np
import pytest
import torch

from fastgan.metrics import feature_statistics, frechet_distance


def random_covariance(d: int) -> torch.Tensor:
    a = torch.randn(d, d, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


@pytest.mark.parametrize("d", [1, 8, 64])
def test_matches_scipy_sqrtm(d):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    mu1, mu2 = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    s1, s2 = random_covariance(d), random_covariance(d)
    covmean = scipy_linalg.sqrtm(s1.numpy() @ s2.numpy())
    expected = (
        float(((mu1 - mu2) ** 2).sum())
        + float(torch.trace(s1) + torch.trace(s2))
        - 2 * float(np.trace(covmean).real)
    )
    got = frechet_distance(mu1, s1, mu2, s2)
    assert abs(got - expected) / expected < 1e-6, (got, expected)
    # numpy inputs (as in .npz statistics files) give the same value
    assert frechet_distance(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy()) == pytest.approx(
        got, rel=1e-12
    )


def test_zero_for_a_set_against_itself():
    x = torch.randn(500, 32) * 3 + 1
    mu, sigma = feature_statistics(x)
    threads = torch.get_num_threads()
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * float(torch.trace(sigma))
    assert torch.get_num_threads() == threads  # the linear algebra's one thread is given back


def test_shifted_means_identical_covariances():
    d = 16
    sigma = random_covariance(d)
    mu1 = torch.randn(d, dtype=torch.float64)
    shift = torch.randn(d, dtype=torch.float64)
    got = frechet_distance(mu1, sigma, mu1 + shift, sigma)
    assert got == pytest.approx(float(shift @ shift), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("singular", [False, True])
def test_diagonal_covariances_analytic(singular):
    # For commuting (diagonal) covariances Tr (S1 S2)^1/2 = sum sqrt(a_i b_i), so
    # d² = |mu1 - mu2|² + sum (sqrt(a_i) - sqrt(b_i))². With zeros on the diagonals S1 is
    # singular (no Cholesky factor: the eigendecomposition route).
    d = 12
    a, b = torch.rand(d, dtype=torch.float64) + 0.1, torch.rand(d, dtype=torch.float64) + 0.1
    if singular:
        a[:5] = 0
        b[3:7] = 0
    mu1, mu2 = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    expected = float(((mu1 - mu2) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum())
    got = frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b))
    assert got == pytest.approx(expected, rel=1e-9)


def test_rank_deficient_covariances_more_features_than_samples():
    x, y = torch.randn(20, 64), torch.randn(30, 64) + 0.5
    (mu1, s1), (mu2, s2) = feature_statistics(x), feature_statistics(y)
    assert torch.linalg.matrix_rank(s1) < 64
    forward, backward = frechet_distance(mu1, s1, mu2, s2), frechet_distance(mu2, s2, mu1, s1)
    assert isinstance(forward, float) and np.isfinite(forward) and forward > 0
    # Tr (S1 S2)^1/2 = Tr (S2 S1)^1/2: the distance is symmetric, whichever route is taken. The
    # square roots of the rounding-level eigenvalues of the null space (~sqrt(1e-16)) bound the
    # agreement.
    assert forward == pytest.approx(backward, rel=1e-6)


def test_feature_statistics_matches_numpy():
    x = torch.randn(300, 10) * torch.arange(1, 11) + 5
    mu, sigma = feature_statistics(x)
    assert mu.dtype == sigma.dtype == torch.float64
    assert mu.shape == (10,) and sigma.shape == (10, 10)
    x64 = x.double().numpy()
    np.testing.assert_allclose(mu.numpy(), x64.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), np.cov(x64, rowvar=False), rtol=1e-10)


def test_bad_input():
    mu, sigma = torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"expected mu2 of shape \[4\].*got shape \[5\]"):
        frechet_distance(mu, sigma, torch.zeros(5), torch.eye(5))
    with pytest.raises(ValueError, match=r"expected sigma1 of shape \[4, 4\].*got shape \[4, 3\]"):
        frechet_distance(mu, sigma[:, :3], mu, sigma)
    with pytest.raises(ValueError, match=r"expected mu1 of shape \[D\], got shape \[2, 2\]"):
        frechet_distance(torch.zeros(2, 2), sigma, mu, sigma)
    with pytest.raises(ValueError, match="finite values in sigma2"):
        frechet_distance(mu, sigma, mu, sigma * float("nan"))
    with pytest.raises(TypeError, match=r"mu1 to be a torch\.Tensor or numpy array, got list"):
        frechet_distance([0.0] * 4, sigma, mu, sigma)
    with pytest.raises(ValueError, match="features with at least 2 samples"):
        feature_statistics(torch.randn(1, 8))
    with pytest.raises(ValueError, match=r"features of shape \[N, D\], got shape \[8\]"):
        feature_statistics(torch.randn(8))
    with pytest.raises(TypeError, match=r"features of a floating-point dtype, got torch\.int64"):
        feature_statistics(torch.ones(3, 2, dtype=torch.int64))
