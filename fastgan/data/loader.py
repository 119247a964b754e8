"""`open_dataset` (one entry for every dataset by name or path) and `infinite_loader` (endless,
shuffled, sharded batches for training, single process or torchrun)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from fastgan.data.folder import ImageFolderDataset
from fastgan.data.images import ImageDataset, check_channels, check_resolution
from fastgan.data.shapes import ShapesDataset

__all__ = ["BUILTIN_DATASETS", "InfiniteSampler", "infinite_loader", "open_dataset"]

BUILTIN_DATASETS = ("digits", "shapes")
# Images in the built-in 'shapes' dataset.
SHAPES_COUNT = 4096


def _digits(resolution: int, channels: int | None, xflip: bool) -> ImageDataset:
    # Imported here: the digits module and its data file are optional for the rest of fastgan.data.
    from fastgan.data.digits import DIGITS_CLASSES, load_digits

    images, labels = load_digits(resolution)
    if channels == 3:
        images = images.expand(-1, 3, -1, -1).contiguous()
    return ImageDataset(
        images,
        labels,
        num_classes=DIGITS_CLASSES,
        xflip=xflip,
        name="digits",
        class_names=tuple(str(d) for d in range(DIGITS_CLASSES)),
    )


def open_dataset(
    name_or_path: str | os.PathLike[str],
    resolution: int,
    channels: int | None = None,
    xflip: bool = False,
    skip_bad: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ImageDataset:
    """The dataset `name_or_path` at `resolution`, as an :class:`ImageDataset`.

    - ``'digits'``: the bundled handwritten digits (1,797 images, 10 classes, greyscale; R >= 8).
    - ``'shapes'``: 4,096 procedural shapes (3 classes, RGB), :class:`ShapesDataset` with seed 0.
    - a folder or a ``.zip`` file of images: :class:`ImageFolderDataset` (decoded once, cached in
      `cache_dir`; `skip_bad` leaves out files that cannot be decoded).

    A built-in name wins over a folder of the same name (write ``./shapes`` for the folder).
    Under torchrun, open a folder on one rank first (then a barrier) so that only one process
    decodes it; the others then read the cache (concurrent builds are safe, only wasteful).
    channels: 1 or 3; None keeps the dataset's own (digits 1, shapes 3, a folder 1 when every image
    is greyscale, else 3). xflip: random horizontal flips with probability 0.5.
    """
    resolution = check_resolution(resolution, "open_dataset")
    channels = check_channels(channels, "open_dataset", allow_none=True)
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_DATASETS:
        if name_or_path == "digits":
            return _digits(resolution, channels, xflip)
        return ShapesDataset(resolution, SHAPES_COUNT, channels or 3, seed=0, xflip=xflip)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            "open_dataset: expected name_or_path a str or a path, "
            f"got {type(name_or_path).__name__}"
        )
    path = os.fspath(name_or_path)
    accepted = f"one of {BUILTIN_DATASETS}, a folder of images or a .zip file of images"
    if os.path.isfile(path) and not path.lower().endswith(".zip"):
        raise ValueError(f"open_dataset: expected name_or_path {accepted}; got the file {path!r}")
    if not os.path.exists(path):
        raise ValueError(
            f"open_dataset: expected name_or_path {accepted}; got {path!r} "
            "(no such dataset, file or folder)"
        )
    return ImageFolderDataset(path, resolution, channels, xflip, skip_bad, cache_dir)


class InfiniteSampler(torch.utils.data.Sampler[int]):
    """Indices of `size` items forever, epoch after epoch, for process `rank` of `world_size`.

    Epoch e is a permutation of ``range(size)`` drawn from ``numpy.random.default_rng((seed, e))``
    (or ``range(size)`` when not `shuffle`), cut to a multiple of `world_size`; process `rank`
    takes every `world_size`-th index from position `rank`, so that the processes see disjoint
    shards of equal length; `start` skips the first `start` indices of the process's stream (a
    resumed run). With `batch_size`, each shard is also cut to a multiple of it, so that
    no batch spans two epochs. The few indices cut change from epoch to epoch when shuffled.
    """

    def __init__(
        self,
        size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        batch_size: int | None = None,
        start: int = 0,
    ) -> None:
        for name, value, low in (
            ("size", size, 1),
            ("world_size", world_size, 1),
            ("seed", seed, 0),
            ("start", start, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"InfiniteSampler: expected {name} an int >= {low}, got {value!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(
                f"InfiniteSampler: expected rank an int in [0, world_size={world_size}), "
                f"got {rank!r}"
            )
        shard = size // world_size
        if shard == 0:
            raise ValueError(
                f"InfiniteSampler: expected size >= world_size, got size {size} for world_size "
                f"{world_size}"
            )
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                raise ValueError(
                    f"InfiniteSampler: expected batch_size an int >= 1 or None, got {batch_size!r}"
                )
            if shard < batch_size:
                raise ValueError(
                    f"InfiniteSampler: each of {world_size} processes gets {shard} of the {size} "
                    f"items per epoch, fewer than batch_size={batch_size}; expected a smaller "
                    "batch_size or a larger dataset"
                )
            shard -= shard % batch_size
        self.size, self.rank, self.world_size = size, rank, world_size
        self.seed, self.shuffle, self.shard = seed, shuffle, shard
        self.start = start

    def epoch(self, epoch: int) -> np.ndarray:
        """This process's indices in `epoch` (int64, ``shard`` of them)."""
        if self.shuffle:
            order = np.random.default_rng((self.seed, epoch)).permutation(self.size)
        else:
            order = np.arange(self.size)
        return order[self.rank :: self.world_size][: self.shard]

    def __iter__(self) -> Iterator[int]:
        epoch, skip = divmod(self.start, self.shard)
        while True:
            yield from self.epoch(epoch)[skip:].tolist()
            epoch, skip = epoch + 1, 0


def infinite_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool | None = None,
    drop_last: bool = True,
    shuffle: bool = True,
    start: int = 0,
) -> Iterator[Any]:
    """Batches of `dataset` forever, for process `rank` of `world_size` (torchrun: the global
    rank and world size); `batch_size` is per process.

    Indices come from :class:`InfiniteSampler` (a fresh permutation per epoch from `seed`, disjoint
    shards per process); with `drop_last`, no batch spans two epochs (each process's last partial
    batch of an epoch is dropped), else batches run on across epochs. num_workers: DataLoader
    worker processes; 0 (default) reads in this process, as fastgan's datasets are tensors in
    memory. pin_memory: None pins when CUDA is available. The workers' random generators (xflip)
    are seeded from `seed` and `rank`. For an :class:`ImageDataset` each batch is ``(images,
    labels)``: float32 ``[batch_size, C, R, R]`` and int64 ``[batch_size]``. start: the number
    of indices this process has already consumed (a resumed run continues where it stopped).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"infinite_loader: expected batch_size an int >= 1, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"infinite_loader: expected num_workers an int >= 0, got {num_workers!r}")
    sampler = InfiniteSampler(
        len(dataset),
        rank,
        world_size,
        seed,
        shuffle=shuffle,
        batch_size=batch_size if drop_last else None,
        start=start,
    )
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(
            int(np.random.SeedSequence((seed, rank)).generate_state(1)[0])
        ),
    )
    return iter(loader)
