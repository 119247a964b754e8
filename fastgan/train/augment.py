"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every image the
discriminator sees, real and generated alike, so that D does not overfit a small dataset while G
still receives gradients. Colour (brightness, saturation, contrast), translation (by up to 1/8 of
the image, zero padded) and cutout (a square of half the image size set to zero)."""

from __future__ import annotations

import torch

__all__ = ["diff_augment"]


def _colour(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    shape = (n, 1, 1, 1)
    x = x + (torch.rand(shape, dtype=x.dtype, device=x.device) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(shape, dtype=x.dtype, device=x.device) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(shape, dtype=x.dtype, device=x.device) + 0.5) + mean


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy  # source row of each output row
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx
    valid = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).reshape(n, 1, h * w)
    shifted = x.reshape(n, x.shape[1], h * w).gather(2, index.expand(-1, x.shape[1], -1))
    return shifted.reshape(x.shape) * valid.to(x.dtype)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows - cy).abs() <= ch // 2) & ((cols - cx).abs() <= cw // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_POLICIES = {"color": _colour, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """The augmentations named in `policy` ('color', 'translation', 'cutout', comma-separated, in
    that order), each drawn independently per sample; differentiable with respect to x."""
    for name in (p for p in policy.split(",") if p):
        if name not in _POLICIES:
            raise ValueError(
                f"diff_augment: expected policy names among {tuple(_POLICIES)}, got {name!r}"
            )
        x = _POLICIES[name](x)
    return x
