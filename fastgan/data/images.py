"""`ImageDataset`: images held in memory as one tensor, with class labels and x-flips; the base of
every fastgan dataset, and the argument checks the datasets share."""

from __future__ import annotations

import torch

__all__ = ["CHANNELS", "ImageDataset", "check_channels", "check_resolution"]

CHANNELS = (1, 3)


def check_resolution(resolution: object, where: str) -> int:
    """`resolution` as an int: a power of two >= 4, else a ValueError (TypeError for a non-int)
    that names `where`."""
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise TypeError(
            f"{where}: expected resolution to be an int (a power of two >= 4), "
            f"got {type(resolution).__name__}"
        )
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"{where}: expected resolution a power of two >= 4, got {resolution}")
    return resolution


def check_channels(channels: object, where: str, allow_none: bool = False) -> int | None:
    """`channels` as 1 (greyscale) or 3 (RGB), or None where `allow_none`; else a ValueError that
    names `where`."""
    if channels is None and allow_none:
        return None
    if isinstance(channels, bool) or channels not in CHANNELS:
        expected = "1, 3 or None" if allow_none else "1 or 3"
        raise ValueError(f"{where}: expected channels {expected}, got {channels!r}")
    return int(channels)


class ImageDataset(torch.utils.data.Dataset):
    """Square images of one size, held in memory, with optional class labels.

    Args:
        images: ``[N, C, R, R]`` with C in (1, 3) and R a power of two: uint8 in [0, 255] (mapped
            to [-1, 1] as ``x / 127.5 - 1`` when read) or float32 already in [-1, 1].
        labels: ``[N]`` int64 class indices in ``[0, num_classes)``, or None (unconditional).
        num_classes: number of classes (0 for an unconditional dataset); by default
            ``labels.max() + 1``.
        xflip: flip each image read horizontally with probability 0.5 (torch's random generator;
            in DataLoader workers, the worker's seed).
        name: what the images are, for messages and ``repr``.
        class_names: a name per class (e.g. the sub-folder names), or None.

    ``dataset[i]`` is ``(image, label)``: a float32 ``[C, R, R]`` tensor in [-1, 1] and the class
    index as an int, -1 for an unconditional dataset.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        num_classes: int | None = None,
        xflip: bool = False,
        name: str = "images",
        class_names: tuple[str, ...] | None = None,
    ) -> None:
        if not isinstance(images, torch.Tensor) or images.dtype not in (torch.uint8, torch.float32):
            got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
            raise TypeError(f"ImageDataset: expected images a uint8 or float32 tensor, got {got}")
        square = images.ndim == 4 and images.shape[2] == images.shape[3]
        if not square or images.shape[1] not in CHANNELS:
            raise ValueError(
                f"ImageDataset: expected images of shape [N, C, R, R] with C in {CHANNELS}, "
                f"got {list(images.shape)}"
            )
        check_resolution(int(images.shape[2]), "ImageDataset")
        if labels is not None:
            if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
                got = labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__
                raise TypeError(f"ImageDataset: expected labels an int64 tensor, got {got}")
            if labels.shape != (images.shape[0],):
                raise ValueError(
                    f"ImageDataset: expected labels of shape [{images.shape[0]}] (one per image), "
                    f"got {list(labels.shape)}"
                )
            if len(labels) and int(labels.min()) < 0:
                raise ValueError(f"ImageDataset: expected labels >= 0, got {int(labels.min())}")
            if num_classes is None:
                num_classes = int(labels.max()) + 1 if len(labels) else 0
            elif len(labels) and int(labels.max()) >= num_classes:
                raise ValueError(
                    f"ImageDataset: expected labels < num_classes={num_classes}, "
                    f"got {int(labels.max())}"
                )
        elif num_classes:
            raise ValueError(
                f"ImageDataset: num_classes={num_classes} needs labels; got labels=None"
            )
        num_classes = int(num_classes or 0)
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"ImageDataset: expected class_names with one name per class ({num_classes}), "
                f"got {len(class_names)}"
            )
        self.images = images
        self.labels = labels
        self.num_classes = num_classes
        self.xflip = bool(xflip)
        self.name = name
        self.class_names = tuple(class_names) if class_names is not None else None

    @property
    def resolution(self) -> int:
        """Height and width of the images, R."""
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        """Channels of the images: 1 (greyscale) or 3 (RGB)."""
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if image.dtype == torch.uint8:
            image = image.float().div_(127.5).sub_(1.0)
        else:
            image = image.clone()
        if self.xflip and torch.rand(()) < 0.5:
            image = image.flip(-1)
        label = int(self.labels[index]) if self.labels is not None else -1
        return image, label

    def __repr__(self) -> str:
        kind = f"{self.num_classes} classes" if self.num_classes else "unconditional"
        return (
            f"{type(self).__name__}({self.name!r}, {len(self)} images, {self.channels}x"
            f"{self.resolution}x{self.resolution}, {kind}, xflip={self.xflip})"
        )
