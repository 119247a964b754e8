"""Feature extractors: a network that maps images to (features, logits), with the name and weights
hash that identify its features in the cache of real statistics.

- ``inception``: the FID Inception network (2048-d features, 1008 logits); weights from a local
  file (``load_inception``).
- ``digits``: the bundled digits classifier (128-d features, 10 logits); shipped weights.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from fastgan.data.digits import DIGITS_CLASSES
from fastgan.metrics._progress import Progress
from fastgan.metrics._weights import file_sha256
from fastgan.metrics.digits_classifier import (
    DIGITS_CLASSIFIER_WEIGHTS,
    DIGITS_FEATURES,
    load_digits_classifier,
)
from fastgan.metrics.inception import (
    INCEPTION_CLASSES,
    INCEPTION_FEATURES,
    load_inception,
    resolve_inception_weights,
)

__all__ = ["EXTRACTORS", "FeatureExtractor", "default_device", "load_extractor"]

EXTRACTORS = ("inception", "digits")


def default_device() -> torch.device:
    """cuda when a GPU is visible, else cpu."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class FeatureExtractor:
    """A network mapping images [B, C, H, W] (uint8 in [0, 255] or float in [-1, 1]) to
    ``(features [B, num_features], logits [B, num_classes])``; run in batches by :meth:`extract`
    under torch.no_grad, with float16 autocast when `amp` (CUDA only)."""

    name: str
    model: nn.Module
    weights_sha256: str
    num_features: int
    num_classes: int
    device: torch.device
    amp: bool

    @property
    def cache_id(self) -> str:
        """What identifies this extractor's features: name, weights hash and precision."""
        return f"{self.name}-{self.weights_sha256[:16]}-{'amp' if self.amp else 'fp32'}"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) of one batch, float32 on the extractor's device."""
        images = images.to(self.device, non_blocking=True)
        autocast = (
            torch.autocast("cuda", dtype=torch.float16)
            if self.amp and self.device.type == "cuda"
            else nullcontext()
        )
        with autocast:
            features, logits = self.model(images)
        return features.float(), logits.float()

    def extract(
        self,
        batches: Iterable[torch.Tensor],
        total: int,
        description: str = "extracting features",
        progress: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [N, num_features], logits [N, num_classes]) of every batch, concatenated,
        float32 on the extractor's device; a progress bar on stderr when `progress`."""
        features, logits = [], []
        with Progress(total, f"{description} ({self.name})", enabled=progress) as bar:
            for batch in batches:
                f, lg = self(batch)
                features.append(f)
                logits.append(lg)
                bar.update(batch.shape[0])
        if not features:
            raise ValueError(f"{description}: expected at least one image, got none")
        return torch.cat(features), torch.cat(logits)


def load_extractor(
    name: str = "inception",
    inception_weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    amp: bool | None = None,
) -> FeatureExtractor:
    """The feature extractor `name` ('inception' or 'digits') on `device` (default: cuda when
    available, else cpu). inception_weights: the FID Inception weights file (default:
    $FASTGAN_INCEPTION_WEIGHTS). amp: float16 autocast, default on for CUDA (faster; features
    differ from float32 ones by about 1e-3 relative)."""
    if name not in EXTRACTORS:
        raise ValueError(f"load_extractor: expected name in {EXTRACTORS}, got {name!r}")
    device = default_device() if device is None else torch.device(device)
    if amp is None:
        amp = device.type == "cuda"
    if not isinstance(amp, bool):
        raise TypeError(f"load_extractor: expected amp to be a bool or None, got {amp!r}")
    amp = amp and device.type == "cuda"
    if name == "inception":
        path = resolve_inception_weights(inception_weights)
        model = load_inception(path, device)
        return FeatureExtractor(
            name, model, file_sha256(path), INCEPTION_FEATURES, INCEPTION_CLASSES, device, amp
        )
    model = load_digits_classifier(device=device)
    return FeatureExtractor(
        name,
        model,
        file_sha256(DIGITS_CLASSIFIER_WEIGHTS),
        DIGITS_FEATURES,
        DIGITS_CLASSES,
        device,
        amp,
    )
