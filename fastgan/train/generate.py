"""Generators from snapshots: the G_ema of a `fastgan train` snapshot, for `fastgan generate` and
for `fastgan metrics --ckpt`."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from fastgan.train.config import TrainConfig
from fastgan.train.setup import build_models
from fastgan.utils.checkpoint import CheckpointError

__all__ = ["generate_fn_from_checkpoint", "load_generator"]


def load_generator(
    path: str | os.PathLike, device: torch.device | str | None = None
) -> tuple[torch.nn.Module, dict]:
    """(G_ema in eval mode on `device`, the snapshot) from a snapshot of `fastgan train` or of
    `fastgan convert`, or an NVIDIA StyleGAN2-ADA pickle or rosinality checkpoint (converted in
    memory by :func:`fastgan.convert.read_snapshot`).

    CheckpointError (a ValueError) naming `path` when the file is not a readable snapshot or its
    weights do not fit the network its configuration describes."""
    from fastgan.convert import read_snapshot  # also NVIDIA .pkl / rosinality .pt, converted

    snapshot = read_snapshot(path)
    try:
        config = TrainConfig.from_dict(snapshot["config"])
        G, _ = build_models(config, int(snapshot["img_channels"]), int(snapshot["c_dim"]))
        G.load_state_dict(snapshot["G_ema"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{os.fspath(path)}: not a fastgan train snapshot: {e}") from e
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return G.to(device).eval().requires_grad_(False), snapshot


def generate_fn_from_checkpoint(
    path: str | os.PathLike, device: torch.device | str | None = None, truncation_psi: float = 1.0
) -> tuple[Callable[[int, torch.Tensor | None], torch.Tensor], int | None]:
    """(generate_fn, num_classes) for `fastgan.metrics.evaluate_generator`: generate_fn(n, labels)
    draws n images of G_ema (fresh latents, constant noise, truncation `truncation_psi`) for the
    int64 `labels` (None: unconditional); num_classes is None for an unconditional generator."""
    G, snapshot = load_generator(path, device)
    c_dim = int(snapshot["c_dim"])
    device = next(G.parameters()).device
    kwargs = (
        dict(truncation_psi=truncation_psi, noise_mode="const") if hasattr(G, "mapping") else {}
    )

    @torch.no_grad()
    def generate(n: int, labels: torch.Tensor | None) -> torch.Tensor:
        z = torch.randn(n, G.z_dim, device=device)
        c = None
        if c_dim:
            if labels is None:
                labels = torch.randint(c_dim, (n,), device=device)
            c = torch.nn.functional.one_hot(labels.to(device), c_dim).float()
        return G(z, c, **kwargs)

    return generate, (c_dim or None)
