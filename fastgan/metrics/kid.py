"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

The unbiased estimator of the squared maximum mean discrepancy between real features x and fake
features y with the cubic polynomial kernel k(a, b) = (aᵀb / d + 1)³:

    MMD²_u = 1/(m(m-1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n-1)) Σ_{i≠j} k(y_i, y_j)
             - 2/(m n) Σ_{i,j} k(x_i, y_j)

averaged over random subsets (each drawn without replacement) to bound the cost; the mean and the
standard deviation over the subsets are reported. Unbiased, so it can be slightly negative.
"""

from __future__ import annotations

import numpy as np
import torch

from fastgan.metrics._checks import check_int, check_matrix, check_same_width

__all__ = ["kernel_inception_distance", "mmd2_unbiased", "polynomial_kernel"]


# Subsets evaluated together in one batched product: at most this many elements per feature or
# kernel tensor (128 MiB in float64).
_GROUP_ELEMENTS = 1 << 24


def polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``k(a_i, b_j) = (a_i · b_j / d + 1)³`` for a [..., m, d], b [..., n, d]: [..., m, n]."""
    return (a @ b.transpose(-1, -2) / a.shape[-1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The unbiased MMD² (module docstring) with the polynomial kernel of x [m, d] and y [n, d]
    (m, n >= 2): a 0-d tensor in x's dtype; or of S pairs at once, x [S, m, d], y [S, n, d]: [S].
    """
    m, n = x.shape[-2], y.shape[-2]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    within_x = k_xx.sum(dim=(-2, -1)) - k_xx.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    within_y = k_yy.sum(dim=(-2, -1)) - k_yy.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    return within_x / (m * (m - 1)) + within_y / (n * (n - 1)) - 2 * k_xy.mean(dim=(-2, -1))


def kernel_inception_distance(
    real_features: torch.Tensor | np.ndarray,
    fake_features: torch.Tensor | np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """KID: ``(mean, std)`` of the unbiased MMD² (module docstring) over `num_subsets` pairs of
    random subsets of ``min(subset_size, N_real, N_fake)`` real and as many fake features.

    real_features [N_real, D], fake_features [N_fake, D], each N >= 2. Computed in float64 on the
    real features' device. `generator`: a CPU torch.Generator for the subsets (default: one seeded
    with 0, so the result is reproducible). std is the population standard deviation over the
    subsets (0 for one subset). Defaults: 100 subsets of 1000.
    """
    op = "kernel_inception_distance"
    real = check_matrix(real_features, "real_features", op, min_rows=2)
    fake = check_matrix(fake_features, "fake_features", op, min_rows=2)
    check_same_width(real, fake, ("real_features", "fake_features"), op)
    num_subsets = check_int(num_subsets, "num_subsets", op)
    subset_size = check_int(subset_size, "subset_size", op, minimum=2)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    elif not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise TypeError(
            f"{op}: expected generator to be a CPU torch.Generator or None, got {generator!r}"
        )
    device = real.device
    fake = fake.to(device)
    size = min(subset_size, real.shape[0], fake.shape[0])
    subsets = [
        (
            torch.randperm(real.shape[0], generator=generator)[:size],
            torch.randperm(fake.shape[0], generator=generator)[:size],
        )
        for _ in range(num_subsets)
    ]
    real_idx = torch.stack([r for r, _ in subsets]).to(device)
    fake_idx = torch.stack([f for _, f in subsets]).to(device)
    group = max(1, _GROUP_ELEMENTS // (size * max(size, real.shape[1])))
    values = torch.cat(
        [
            mmd2_unbiased(
                real[real_idx[start : start + group]].to(torch.float64),
                fake[fake_idx[start : start + group]].to(torch.float64),
            ).cpu()
            for start in range(0, num_subsets, group)
        ]
    )
    return float(values.mean()), float(values.std(unbiased=False))
