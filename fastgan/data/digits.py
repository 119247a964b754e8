"""The bundled handwritten digits: 1,797 grey images of 8x8 pixels, 10 classes.

Origin: the test set of the UCI "Optical Recognition of Handwritten Digits" data set
(E. Alpaydin, C. Kaynak, 1998; https://archive.ics.uci.edu/dataset/80), licensed CC BY 4.0, in the
copy that scikit-learn ships as `sklearn.datasets.load_digits`. Each pixel counts the set pixels
of a 4x4 block of a 32x32 bitmap, 0..16. `digits.npz` next to this file (uint8 images
[1797, 8, 8], int64 labels [1797]) was written by scripts/make_digits_data.py, so fastgan needs
no scikit-learn.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["DIGITS_CLASSES", "DIGITS_COUNT", "digits_split", "load_digits"]

DIGITS_CLASSES = 10
DIGITS_COUNT = 1797
DIGITS_FILE = os.path.join(os.path.dirname(__file__), "digits.npz")
# Pixel values count set pixels of a 4x4 block: 0..16.
DIGITS_MAX_VALUE = 16


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DIGITS_FILE, allow_pickle=False) as data:
        return data["images"], data["labels"]


def load_digits(resolution: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled digits as ``(images, labels)``.

    images: float32 [1797, 1, R, R] with R = resolution, x / 16 * 2 - 1 (in [-1, 1]) upsampled from
    8x8 by bilinear interpolation (align_corners=False); labels: int64 [1797] in 0..9.
    resolution: a power of two >= 8 (default 32).
    """
    if (
        not isinstance(resolution, int)
        or isinstance(resolution, bool)
        or resolution < 8
        or resolution & (resolution - 1)
    ):
        raise ValueError(
            f"load_digits: expected resolution to be a power of two >= 8, got {resolution!r}"
        )
    images, labels = _read_digits()
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1) / DIGITS_MAX_VALUE * 2 - 1
    if resolution != x.shape[-1]:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def digits_split(seed: int = 0, held_out: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed stratified split of the digits: ``(train_idx, test_idx)``, sorted int64 indices.

    From each class, round(held_out * class size) images, chosen by a permutation drawn from a
    torch.Generator seeded with `seed`, go to the test set; the rest to the train set. Defaults:
    seed 0, held_out 0.2 (359 test images, 1438 train images).
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"digits_split: expected seed to be an int, got {seed!r}")
    if (
        not isinstance(held_out, (int, float))
        or isinstance(held_out, bool)
        or not (0 < held_out < 1)
    ):
        raise ValueError(f"digits_split: expected held_out in (0, 1), got {held_out!r}")
    _, labels = _read_digits()
    labels = torch.from_numpy(labels.astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in range(DIGITS_CLASSES):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(held_out * len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values
