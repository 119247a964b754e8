"""The Fréchet distance between two Gaussians (Heusel et al. 2017, "GANs trained by a two
time-scale update rule converge to a local Nash equilibrium"); FID when the features come from the
FID Inception network.

    d² = ‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2 (Σ₁ Σ₂)^½)

Tr (Σ₁Σ₂)^½ is the sum of the square roots of the eigenvalues of Σ₁Σ₂, which are those of the
symmetric positive semi-definite matrix Σ₁^½ Σ₂ Σ₁^½. With any factor Σ₁ = A Aᵀ, Aᵀ Σ₂ A is
orthogonally similar to it (A = Σ₁^½ Q for an orthogonal Q), so it has the same eigenvalues: A is
the Cholesky factor when Σ₁ is positive definite (fast), else V diag(√λ) from the eigendecomposition
of Σ₁ (also for singular covariances, e.g. more features than samples). The eigenvalues come from
a symmetric eigensolver (real by construction); rounding makes tiny ones negative, they are clamped
to zero. No complex matrix square root (scipy.linalg.sqrtm) is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from fastgan.metrics._checks import as_tensor, check_matrix

__all__ = ["feature_statistics", "frechet_distance"]

# Rows per block when accumulating a covariance (bounds the float64 copy of the features).
_STATISTICS_BLOCK = 8192


def feature_statistics(features: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of features [N, D] (N >= 2): ``(mu [D], sigma [D, D])`` in float64 on
    the features' device; ``mu = mean_n x_n``, ``sigma = sum_n (x_n - mu)(x_n - mu)ᵀ / (N - 1)``.
    """
    x = check_matrix(features, "features", "feature_statistics", min_rows=2)
    n, d = x.shape
    mu = torch.zeros(d, dtype=torch.float64, device=x.device)
    for start in range(0, n, _STATISTICS_BLOCK):
        mu += x[start : start + _STATISTICS_BLOCK].to(torch.float64).sum(dim=0)
    mu /= n
    sigma = torch.zeros(d, d, dtype=torch.float64, device=x.device)
    for start in range(0, n, _STATISTICS_BLOCK):
        centred = x[start : start + _STATISTICS_BLOCK].to(torch.float64) - mu
        sigma.addmm_(centred.T, centred)
    sigma /= n - 1
    return mu, sigma


def _check_statistics(mu: object, sigma: object, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    op = "frechet_distance"
    mu_t = as_tensor(mu, f"mu{index}", op)
    sigma_t = as_tensor(sigma, f"sigma{index}", op)
    if mu_t.ndim != 1 or mu_t.shape[0] < 1:
        raise ValueError(f"{op}: expected mu{index} of shape [D], got shape {list(mu_t.shape)}")
    d = mu_t.shape[0]
    if tuple(sigma_t.shape) != (d, d):
        raise ValueError(
            f"{op}: expected sigma{index} of shape [{d}, {d}] (D of mu{index}), "
            f"got shape {list(sigma_t.shape)}"
        )
    for name, t in ((f"mu{index}", mu_t), (f"sigma{index}", sigma_t)):
        if not t.is_floating_point():
            raise TypeError(f"{op}: expected {name} of a floating-point dtype, got {t.dtype}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{op}: expected finite values in {name}, got NaN or inf")
    return mu_t.to(torch.float64), sigma_t.to(torch.float64)


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """One intra-op thread for CPU linear algebra. LAPACK's symmetric eigensolvers alternate
    serial and parallel steps; with spinning OpenMP threads they ran 4x (2048x2048) to 150x
    (512x512) slower on 2 threads than on 1 when the cores were shared with other processes
    (scripts/measure_metrics.py, 2 CPU cores), and an idle machine gains little from threads."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _factor(sigma: torch.Tensor) -> torch.Tensor:
    """A with sigma = A Aᵀ: the Cholesky factor, or V diag(√λ₊) when sigma is not positive
    definite."""
    lower, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return lower
    eigenvalues, eigenvectors = torch.linalg.eigh(sigma)
    return eigenvectors * eigenvalues.clamp_min(0).sqrt()


def frechet_distance(
    mu1: torch.Tensor | np.ndarray,
    sigma1: torch.Tensor | np.ndarray,
    mu2: torch.Tensor | np.ndarray,
    sigma2: torch.Tensor | np.ndarray,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ``‖mu1 - mu2‖² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½)``, computed in float64 (module
    docstring) on mu1's device.

    mu1, mu2: [D]; sigma1, sigma2: [D, D] symmetric positive semi-definite (singular allowed);
    tensors or numpy arrays (e.g. from :func:`feature_statistics`). Returns a float >= 0.
    """
    m1, s1 = _check_statistics(mu1, sigma1, 1)
    m2, s2 = _check_statistics(mu2, sigma2, 2)
    if m1.shape != m2.shape:
        raise ValueError(
            f"frechet_distance: expected mu2 of shape [{m1.shape[0]}] (D of mu1), "
            f"got shape {list(m2.shape)}"
        )
    device = m1.device
    m2, s2 = m2.to(device), s2.to(device)
    # eigh and cholesky read one triangle: symmetrise so that both triangles count.
    s1 = (s1 + s1.T) / 2
    s2 = (s2 + s2.T) / 2
    with _one_cpu_thread(device):
        a = _factor(s1)
        middle = a.T @ s2 @ a
        eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = eigenvalues.clamp_min(0).sqrt().sum()
    diff = m1 - m2
    distance = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2 * trace_sqrt
    return max(float(distance), 0.0)
