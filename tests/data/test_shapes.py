"""Procedural shapes: deterministic per seed, labelled by the shape drawn, any resolution."""

import math

import pytest
import torch

from fastgan.data.shapes import SHAPE_KINDS, ShapesDataset, make_shapes


def test_same_seed_same_images_and_a_longer_run_extends_it():
    images, labels = make_shapes(40, 16, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (40, 3, 16, 16)
    assert labels.dtype == torch.int64 and labels.shape == (40,)
    again, again_labels = make_shapes(40, 16, seed=3)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    longer, longer_labels = make_shapes(100, 16, seed=3)
    assert torch.equal(longer[:40], images) and torch.equal(longer_labels[:40], labels)
    other, _ = make_shapes(40, 16, seed=4)
    assert not torch.equal(other, images)
    assert len({tuple(image.flatten().tolist()) for image in images}) == 40


def test_all_three_kinds_occur():
    _, labels = make_shapes(300, 4)
    counts = torch.bincount(labels, minlength=len(SHAPE_KINDS))
    assert len(counts) == 3 and (counts > 60).all(), counts


def _fill_ratio(image: torch.Tensor) -> float:
    """Shape pixels over the pixels of the shape's bounding box. The corner is background: shapes
    stay within their circumradius of the centre, which keeps them off the corners."""
    distance = (image.float() - image[:, :1, :1].float()).abs().sum(0)
    mask = distance > distance.max() / 2
    rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    return mask.sum().item() / box.item()


def test_the_label_is_the_shape_drawn():
    # Fill ratio of the bounding box: a circle pi/4, a triangle at most 1/2, a square
    # 1 / (|cos| + |sin|)^2 in [1/2, 1].
    images, labels = make_shapes(60, 64, seed=1)
    for image, label in zip(images, labels, strict=True):
        ratio = _fill_ratio(image)
        kind = SHAPE_KINDS[label]
        if kind == "circle":
            assert abs(ratio - math.pi / 4) < 0.06, (kind, ratio)
        elif kind == "triangle":
            assert ratio < 0.56, (kind, ratio)
        else:
            assert ratio > 0.46, (kind, ratio)


def test_greyscale_is_the_luma_of_the_colour_images():
    rgb, labels = make_shapes(8, 32, channels=3, seed=5)
    grey, grey_labels = make_shapes(8, 32, channels=1, seed=5)
    assert grey.shape == (8, 1, 32, 32) and torch.equal(labels, grey_labels)
    luma = (rgb.double() * torch.tensor([0.299, 0.587, 0.114])[:, None, None].double()).sum(1)
    assert (grey[:, 0].double() - luma).abs().max() <= 1.5


def test_every_image_has_contrast():
    images, _ = make_shapes(200, 16, channels=1)
    spread = images.flatten(1).max(1).values.int() - images.flatten(1).min(1).values.int()
    assert spread.min() > 60


def test_dataset():
    dataset = ShapesDataset(8, num=20, channels=1, seed=2, xflip=True)
    assert (len(dataset), dataset.resolution, dataset.channels) == (20, 8, 1)
    assert dataset.num_classes == 3 and dataset.class_names == SHAPE_KINDS
    image, label = dataset[5]
    assert image.dtype == torch.float32 and image.shape == (1, 8, 8)
    assert -1 <= image.min() and image.max() <= 1
    assert label == make_shapes(20, 8, 1, seed=2)[1][5]


@pytest.mark.parametrize(
    "args, match",
    [
        ((10, 12), "resolution a power of two >= 4, got 12"),
        ((10, 2), "resolution a power of two >= 4, got 2"),
        ((10, 8, 2), "channels 1 or 3, got 2"),
        ((-1, 8), "num an int >= 0, got -1"),
        ((10, 8, 3, -5), "seed an int >= 0, got -5"),
    ],
)
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(*args)
