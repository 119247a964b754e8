"""Improved precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric
for assessing generative models").

Each set of features approximates its manifold by the union of balls around its samples, each of
radius the distance to its k-th nearest neighbour in the same set (the sample itself excluded):

    precision = fraction of fake samples inside the real manifold
    recall    = fraction of real samples inside the fake manifold

(inside: within the radius of at least one sample of the other set). Pairwise distances come from
‖a‖² + ‖b‖² - 2 a·b in float32, block_size rows at a time against the whole other set, so the
extra memory is about 3 · block_size · N floats (50,000 x 50,000 features fit in a few hundred MB)
instead of N². The real-fake distances are computed once and serve both directions.
"""

from __future__ import annotations

import numpy as np
import torch

from fastgan.metrics._checks import check_int, check_matrix, check_same_width

__all__ = ["knn_radii", "precision_recall"]


def _squared_distances(
    a: torch.Tensor, b: torch.Tensor, a_sq: torch.Tensor, b_sq: torch.Tensor
) -> torch.Tensor:
    """‖a_i - b_j‖² = ‖a_i‖² + ‖b_j‖² - 2 a_i·b_j for a [m, d], b [n, d]: [m, n], clamped >= 0."""
    distances = torch.addmm(b_sq.unsqueeze(0), a, b.T, alpha=-2)
    return distances.add_(a_sq.unsqueeze(1)).clamp_min_(0)


def knn_radii(features: torch.Tensor, k: int = 3, block_size: int = 1024) -> torch.Tensor:
    """Squared distance from each sample of features [N, D] to its k-th nearest neighbour among the
    others (itself excluded; N > k): [N] float32, computed block_size rows at a time."""
    op = "knn_radii"
    x = check_matrix(features, "features", op).to(torch.float32)
    k = check_int(k, "k", op)
    block_size = check_int(block_size, "block_size", op)
    if x.shape[0] <= k:
        raise ValueError(f"{op}: expected more than k={k} samples in features, got {x.shape[0]}")
    return _knn_radii(x, (x * x).sum(dim=1), k, block_size)


def _knn_radii(x: torch.Tensor, x_sq: torch.Tensor, k: int, block_size: int) -> torch.Tensor:
    n = x.shape[0]
    radii = torch.empty(n, dtype=torch.float32, device=x.device)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        distances = _squared_distances(x[start:stop], x, x_sq[start:stop], x_sq)
        rows = torch.arange(stop - start, device=x.device)
        distances[rows, rows + start] = float("inf")
        radii[start:stop] = distances.kthvalue(k, dim=1).values
    return radii


def precision_recall(
    real_features: torch.Tensor | np.ndarray,
    fake_features: torch.Tensor | np.ndarray,
    k: int = 3,
    block_size: int = 1024,
) -> tuple[float, float]:
    """``(precision, recall)`` of fake_features [N_fake, D] against real_features [N_real, D]
    (module docstring), each in [0, 1].

    k: the neighbour that sets each ball's radius (default 3; each set needs more than k samples).
    block_size: rows of distances computed at once (default 1024); the result does not depend on
    it. Computed in float32 on the real features' device.
    """
    op = "precision_recall"
    real = check_matrix(real_features, "real_features", op)
    fake = check_matrix(fake_features, "fake_features", op)
    check_same_width(real, fake, ("real_features", "fake_features"), op)
    k = check_int(k, "k", op)
    block_size = check_int(block_size, "block_size", op)
    for name, t in (("real_features", real), ("fake_features", fake)):
        if t.shape[0] <= k:
            raise ValueError(f"{op}: expected more than k={k} samples in {name}, got {t.shape[0]}")
    real = real.to(torch.float32)
    fake = fake.to(device=real.device, dtype=torch.float32)
    real_sq, fake_sq = (real * real).sum(dim=1), (fake * fake).sum(dim=1)
    real_radii = _knn_radii(real, real_sq, k, block_size)
    fake_radii = _knn_radii(fake, fake_sq, k, block_size)
    fake_inside = torch.zeros(fake.shape[0], dtype=torch.bool, device=real.device)
    real_inside = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for start in range(0, fake.shape[0], block_size):
        stop = min(start + block_size, fake.shape[0])
        distances = _squared_distances(fake[start:stop], real, fake_sq[start:stop], real_sq)
        fake_inside[start:stop] = (distances <= real_radii.unsqueeze(0)).any(dim=1)
        real_inside |= (distances <= fake_radii[start:stop].unsqueeze(1)).any(dim=0)
    return int(fake_inside.sum()) / fake.shape[0], int(real_inside.sum()) / real.shape[0]
