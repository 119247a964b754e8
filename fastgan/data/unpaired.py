"""Two-domain (unpaired) data for image-to-image translation (CycleGAN).

``digits-colour``: from the bundled digits (:mod:`fastgan.data.digits`), domain A are the grey
digits and domain B the same ten classes drawn as coloured strokes on procedural textured
backgrounds. The train split of :func:`fastgan.data.digits_split` is cut into two disjoint
halves by a fixed permutation: A is drawn from one and B from the other, so no image exists in
both domains (no pairs). The test split gives held-out A and B images of the same 359 digits
(:func:`digits_colour_test`) for measuring translations with the digits classifier.

Both domains have 3 channels (A's grey repeated), so that the identity loss (G_ab(b) ~ b) is
defined. :func:`open_unpaired` also opens two folders or ``.zip`` files of images.
"""

from __future__ import annotations

import math
import os

import torch

from fastgan.data.images import ImageDataset, check_channels, check_resolution

__all__ = [
    "UNPAIRED_DATASETS",
    "colour_digits",
    "digits_colour",
    "digits_colour_test",
    "open_unpaired",
]

UNPAIRED_DATASETS = ("digits-colour",)


def colour_digits(images: torch.Tensor, seed: int) -> torch.Tensor:
    """Grey digits ``[N, 1, R, R]`` in [-1, 1] re-drawn as domain B, ``[N, 3, R, R]`` in [-1, 1]:
    the stroke (the grey value mapped to [0, 1]) in a random saturated bright colour over a dark
    background textured with random oriented stripes of another colour; all draws from a
    torch.Generator seeded with `seed`."""
    n, _, r, _ = images.shape
    g = torch.Generator().manual_seed(seed)
    mask = ((images + 1) / 2).clamp(0, 1)
    # Stroke colour: a random hue at full saturation, bright.
    hue = torch.rand(n, generator=g)
    k = torch.tensor([0.0, 2.0 / 3.0, 1.0 / 3.0])
    rgb = (1 - (((hue[:, None] + k) * 6) % 6 - 3).abs().sub(1).clamp(0, 1)).clamp(0, 1)
    stroke = (0.6 + 0.4 * rgb)[:, :, None, None]
    # Background: a dark base colour with stripes of random angle, frequency and phase.
    base = (0.02 + 0.18 * torch.rand(n, 3, generator=g))[:, :, None, None]
    angle = torch.rand(n, generator=g) * math.pi
    freq = (1.5 + 2.5 * torch.rand(n, generator=g)) * 2 * math.pi / r
    phase = torch.rand(n, generator=g) * 2 * math.pi
    coords = torch.arange(r, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    t = xx[None] * angle.cos()[:, None, None] + yy[None] * angle.sin()[:, None, None]
    stripes = 0.5 + 0.5 * torch.sin(t * freq[:, None, None] + phase[:, None, None])
    tint = (0.05 + 0.15 * torch.rand(n, 3, generator=g))[:, :, None, None]
    background = base + tint * stripes[:, None]
    out = background * (1 - mask) + stroke * mask
    return (out.clamp(0, 1) * 2 - 1).contiguous()


def _halves(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from fastgan.data.digits import digits_split

    train, _ = digits_split()
    order = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))]
    half = len(order) // 2
    return order[:half].sort().values, order[half:].sort().values


def _dataset(images, labels, name: str, xflip: bool) -> ImageDataset:
    from fastgan.data.digits import DIGITS_CLASSES

    return ImageDataset(
        images.contiguous(),
        labels,
        num_classes=DIGITS_CLASSES,
        xflip=xflip,
        name=name,
        class_names=tuple(str(d) for d in range(DIGITS_CLASSES)),
    )


def digits_colour(
    resolution: int = 16, seed: int = 0, xflip: bool = False
) -> tuple[ImageDataset, ImageDataset]:
    """(domain A, domain B) of ``digits-colour`` at `resolution` (a power of two >= 8): 719 grey
    digits and 719 coloured ones from the two disjoint halves of the train split, 3 channels
    each, with their class labels (for measuring, not for training)."""
    from fastgan.data.digits import load_digits

    resolution = check_resolution(resolution, "digits_colour")
    images, labels = load_digits(resolution)
    a, b = _halves(seed)
    domain_a = images[a].expand(-1, 3, -1, -1)
    domain_b = colour_digits(images[b], seed=seed + 1)
    return (
        _dataset(domain_a, labels[a], "digits-colour-A", xflip),
        _dataset(domain_b, labels[b], "digits-colour-B", xflip),
    )


def digits_colour_test(
    resolution: int = 16, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Held-out images of both domains: (A ``[359, 3, R, R]``, B ``[359, 3, R, R]``, labels
    ``[359]``), the test split of the digits, B drawn with other random colours and textures
    than the training set."""
    from fastgan.data.digits import digits_split, load_digits

    resolution = check_resolution(resolution, "digits_colour_test")
    images, labels = load_digits(resolution)
    _, test = digits_split()
    a = images[test].expand(-1, 3, -1, -1).contiguous()
    b = colour_digits(images[test], seed=seed + 1000003)
    return a, b, labels[test]


def _match_channels(dataset: ImageDataset, channels: int) -> ImageDataset:
    if dataset.channels == channels:
        return dataset
    images = dataset.images
    if channels == 3:
        images = images.expand(-1, 3, -1, -1).contiguous()
    else:
        images = images.float().mean(dim=1, keepdim=True)
        if dataset.images.dtype == torch.uint8:
            images = images.round().to(torch.uint8)
    return ImageDataset(
        images,
        dataset.labels,
        num_classes=dataset.num_classes,
        xflip=dataset.xflip,
        name=dataset.name,
        class_names=dataset.class_names,
    )


def open_unpaired(
    data: str | None,
    resolution: int,
    data_a: str | os.PathLike | None = None,
    data_b: str | os.PathLike | None = None,
    channels: int | None = None,
    xflip: bool = False,
    skip_bad: bool = False,
) -> tuple[ImageDataset, ImageDataset]:
    """(domain A, domain B): ``data='digits-colour'``, or the folders / ``.zip`` files `data_a`
    and `data_b` (each opened by :func:`fastgan.data.open_dataset`). Both domains get the same
    number of channels: `channels`, or 3 unless both are greyscale."""
    resolution = check_resolution(resolution, "open_unpaired")
    channels = check_channels(channels, "open_unpaired", allow_none=True)
    if data_a is not None or data_b is not None:
        if data_a is None or data_b is None:
            raise ValueError(
                "open_unpaired: expected both --data-a and --data-b (one folder or .zip per "
                f"domain), got data_a={data_a!r}, data_b={data_b!r}"
            )
        from fastgan.data.loader import open_dataset

        a = open_dataset(data_a, resolution, channels, xflip=xflip, skip_bad=skip_bad)
        b = open_dataset(data_b, resolution, channels, xflip=xflip, skip_bad=skip_bad)
    elif data in UNPAIRED_DATASETS:
        a, b = digits_colour(resolution, xflip=xflip)
    else:
        raise ValueError(
            f"open_unpaired: expected --data in {UNPAIRED_DATASETS}, or --data-a DIR --data-b "
            f"DIR, got --data {data!r}"
        )
    target = channels or (1 if a.channels == b.channels == 1 else 3)
    return _match_channels(a, target), _match_channels(b, target)
