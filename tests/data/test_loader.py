"""open_dataset, ImageDataset, InfiniteSampler and infinite_loader: shapes of batches, shards per
rank, determinism, x-flips, and clear errors."""

import itertools

import pytest
import torch
from PIL import Image

from fastgan.data.folder import ImageFolderDataset
from fastgan.data.images import ImageDataset
from fastgan.data.loader import InfiniteSampler, infinite_loader, open_dataset
from fastgan.data.shapes import ShapesDataset


def indexed_dataset(size: int, channels: int = 1, labelled: bool = True) -> ImageDataset:
    """Image i is filled with the value i (uint8), label i % 7."""
    images = torch.arange(size, dtype=torch.uint8)[:, None, None, None].expand(-1, channels, 4, 4)
    labels = torch.arange(size) % 7 if labelled else None
    return ImageDataset(images.contiguous(), labels)


def batch_indices(images: torch.Tensor) -> list[int]:
    """The index of each image of a batch of indexed_dataset, back from [-1, 1]."""
    values = ((images + 1) * 127.5).round().long()
    assert (values == values[:, :1, :1, :1]).all()
    return values[:, 0, 0, 0].tolist()


def flat(index_lists) -> list[int]:
    return list(itertools.chain.from_iterable(index_lists))


def take(loader, batches: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(itertools.islice(loader, batches))


def test_batches_have_the_right_shape_and_run_forever():
    dataset = indexed_dataset(10, channels=3)
    batches = take(infinite_loader(dataset, 4), 12)  # 12 batches of 8 usable items: 6 epochs
    for images, labels in batches:
        assert images.dtype == torch.float32 and images.shape == (4, 3, 4, 4)
        assert labels.dtype == torch.int64 and labels.shape == (4,)
        assert labels.tolist() == [i % 7 for i in batch_indices(images)]
    images, labels = next(infinite_loader(indexed_dataset(10, labelled=False), 5))
    assert labels.tolist() == [-1] * 5


def test_each_epoch_is_a_permutation_with_drop_last():
    dataset = indexed_dataset(21)
    batches = take(infinite_loader(dataset, 5, seed=1), 12)  # 4 batches (20 of 21) per epoch
    epochs = [flat(batch_indices(b[0]) for b in batches[e * 4 : e * 4 + 4]) for e in range(3)]
    for epoch in epochs:
        assert len(set(epoch)) == 20 and set(epoch) <= set(range(21))
    assert epochs[0] != epochs[1]


def test_without_drop_last_batches_run_across_epochs():
    batches = take(infinite_loader(indexed_dataset(6), 4, drop_last=False, shuffle=False), 3)
    assert flat(batch_indices(b[0]) for b in batches) == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]


def test_ranks_get_disjoint_shards_covering_the_epoch():
    dataset = indexed_dataset(50)
    # world_size 2, batch 4: 25 per rank, cut to 24 = 6 batches per epoch.
    per_rank = [
        [batch_indices(b[0]) for b in take(infinite_loader(dataset, 4, rank, 2, seed=7), 12)]
        for rank in (0, 1)
    ]
    for epoch in range(2):
        shards = [set(flat(batches[epoch * 6 : epoch * 6 + 6])) for batches in per_rank]
        assert len(shards[0]) == len(shards[1]) == 24
        assert not shards[0] & shards[1]
    sampler = [InfiniteSampler(50, rank, 2, seed=7) for rank in (0, 1)]
    for epoch in range(3):
        both = sampler[0].epoch(epoch).tolist() + sampler[1].epoch(epoch).tolist()
        assert sorted(both) == list(range(50))


def test_the_seed_decides_the_order():
    dataset = indexed_dataset(40)

    def order(seed: int, rank: int = 0) -> list[list[int]]:
        return [batch_indices(b[0]) for b in take(infinite_loader(dataset, 8, rank, 2, seed), 6)]

    assert order(3) == order(3)
    assert order(3) != order(4)
    assert order(3, 0) != order(3, 1)
    unshuffled = InfiniteSampler(10, 1, 3, shuffle=False)
    assert list(itertools.islice(unshuffled, 6)) == [1, 4, 7, 1, 4, 7]


def test_worker_processes():
    dataset = indexed_dataset(32, channels=3)
    loader = infinite_loader(dataset, 8, seed=2, num_workers=1)
    in_process = infinite_loader(dataset, 8, seed=2)
    for (images, labels), (expected, expected_labels) in zip(
        take(loader, 5), take(in_process, 5), strict=True
    ):
        assert torch.equal(images, expected) and torch.equal(labels, expected_labels)


def test_xflip_flips_half_of_the_reads():
    ramp = (torch.arange(4, dtype=torch.uint8) * 80).expand(1, 1, 4, 4).contiguous()
    left, right = (
        torch.tensor([0, 80, 160, 240]) / 127.5 - 1,
        torch.tensor([240, 160, 80, 0]) / 127.5 - 1,
    )
    flipping = ImageDataset(ramp, xflip=True)
    rows = [flipping[0][0][0, 0] for _ in range(400)]
    assert all(torch.equal(row, left) or torch.equal(row, right) for row in rows)
    flipped = sum(torch.equal(row, right) for row in rows)
    assert 140 < flipped < 260
    assert all(torch.equal(ImageDataset(ramp)[0][0][0, 0], left) for _ in range(20))


def test_float_images_are_read_as_they_are():
    images = torch.rand(3, 1, 4, 4) * 2 - 1
    dataset = ImageDataset(images, torch.tensor([0, 2, 1]))
    assert torch.equal(dataset[1][0], images[1]) and dataset[1][1] == 2
    assert dataset.num_classes == 3


def test_open_digits():
    dataset = open_dataset("digits", 16)
    assert (len(dataset), dataset.channels, dataset.resolution) == (1797, 1, 16)
    assert dataset.num_classes == 10 and sorted(set(dataset.labels.tolist())) == list(range(10))
    image, label = dataset[0]
    assert image.shape == (1, 16, 16) and 0 <= label < 10
    assert -1 <= dataset.images.min() and dataset.images.max() <= 1
    rgb = open_dataset("digits", 8, channels=3, xflip=True)
    assert rgb.channels == 3 and rgb.xflip and torch.equal(rgb.images[:, 0], rgb.images[:, 2])


def test_open_shapes():
    dataset = open_dataset("shapes", 4)
    assert isinstance(dataset, ShapesDataset)
    assert (len(dataset), dataset.channels, dataset.num_classes) == (4096, 3, 3)
    assert open_dataset("shapes", 4, channels=1).channels == 1


def test_open_folder_and_zip(tmp_path):
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "b.png")
    dataset = open_dataset(tmp_path, 4, xflip=True, cache_dir=tmp_path / "cache")
    assert isinstance(dataset, ImageFolderDataset) and len(dataset) == 2 and dataset.xflip
    assert dataset.cache_path.startswith(str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "name, kwargs, error, match",
    [
        ("cifar10", {}, ValueError, r"one of \('digits', 'shapes'\).*got 'cifar10' \(no such"),
        ("shapes", dict(resolution=24), ValueError, "resolution a power of two >= 4, got 24"),
        ("shapes", dict(resolution=0), ValueError, "resolution a power of two >= 4, got 0"),
        ("shapes", dict(channels=2), ValueError, "channels 1, 3 or None, got 2"),
        ("digits", dict(channels=4), ValueError, "channels 1, 3 or None, got 4"),
        (3, {}, TypeError, "name_or_path a str or a path, got int"),
    ],
)
def test_open_dataset_bad_arguments(name, kwargs, error, match):
    kwargs = {"resolution": 8, **kwargs}
    with pytest.raises(error, match=match):
        open_dataset(name, **kwargs)


def test_open_dataset_rejects_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "images.tar").write_bytes(b"")
    with pytest.raises(ValueError, match=r"a \.zip file of images; got the file .*images\.tar"):
        open_dataset(tmp_path / "images.tar", 8)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((10,), dict(rank=2, world_size=2), r"rank an int in \[0, world_size=2\), got 2"),
        ((10,), dict(world_size=0), "world_size an int >= 1, got 0"),
        ((1,), dict(rank=1, world_size=2), "size >= world_size, got size 1 for world_size 2"),
        ((10,), dict(world_size=2, batch_size=6), "gets 5 of the 10 items .* batch_size=6"),
        ((0,), {}, "size an int >= 1, got 0"),
    ],
)
def test_sampler_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        InfiniteSampler(*args, **kwargs)


def test_loader_bad_arguments():
    dataset = indexed_dataset(8)
    with pytest.raises(ValueError, match="batch_size an int >= 1, got 0"):
        infinite_loader(dataset, 0)
    with pytest.raises(ValueError, match="num_workers an int >= 0, got -1"):
        infinite_loader(dataset, 2, num_workers=-1)
    with pytest.raises(ValueError, match="fewer than batch_size=16"):
        infinite_loader(dataset, 16)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((torch.zeros(2, 2, 4, 4, dtype=torch.uint8),), {}, ValueError, r"C in \(1, 3\)"),
        ((torch.zeros(2, 1, 4, 8, dtype=torch.uint8),), {}, ValueError, r"\[N, C, R, R\]"),
        ((torch.zeros(2, 1, 6, 6, dtype=torch.uint8),), {}, ValueError, "power of two"),
        ((torch.zeros(2, 1, 4, 4, dtype=torch.int32),), {}, TypeError, "got torch.int32"),
        ((torch.zeros(2, 1, 4, 4), torch.tensor([0, 1, 2])), {}, ValueError, r"shape \[2\]"),
        ((torch.zeros(2, 1, 4, 4), torch.tensor([0, 5])), dict(num_classes=3), ValueError, "< num"),
        ((torch.zeros(2, 1, 4, 4), torch.tensor([0, -1])), {}, ValueError, "labels >= 0"),
        ((torch.zeros(2, 1, 4, 4),), dict(num_classes=2), ValueError, "needs labels"),
    ],
)
def test_image_dataset_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ImageDataset(*args, **kwargs)
