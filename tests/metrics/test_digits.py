"""The bundled digits (fastgan.data) and the digits classifier: data, split, shipped weights and
their held-out accuracy, any input resolution, bad input."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.data import DIGITS_CLASSES, digits_split, load_digits
from fastgan.data.digits import DIGITS_FILE
from fastgan.metrics import load_digits_classifier
from fastgan.metrics.digits_classifier import DIGITS_CLASSIFIER_WEIGHTS


def test_load_digits_values_and_shapes():
    raw = np.load(DIGITS_FILE, allow_pickle=False)
    assert raw["images"].dtype == np.uint8 and raw["images"].shape == (1797, 8, 8)
    assert raw["images"].max() == 16 and os.path.getsize(DIGITS_FILE) < 100_000
    images8, labels = load_digits(8)
    assert images8.shape == (1797, 1, 8, 8) and images8.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert torch.equal(labels, torch.from_numpy(raw["labels"]))
    assert torch.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    expected = torch.from_numpy(raw["images"]).float().unsqueeze(1) / 16 * 2 - 1
    assert torch.equal(images8, expected)
    images32, _ = load_digits()
    assert images32.shape == (1797, 1, 32, 32)
    assert images32.min() >= -1 and images32.max() <= 1
    resized = F.interpolate(expected, size=(32, 32), mode="bilinear", align_corners=False)
    assert torch.equal(images32, resized)


@pytest.mark.parametrize("resolution", [4, 12, 31, 32.0, True, "32"])
def test_load_digits_bad_resolution(resolution):
    with pytest.raises(ValueError, match="expected resolution to be a power of two >= 8, got"):
        load_digits(resolution)


def test_digits_split_is_fixed_stratified_and_disjoint():
    train, test = digits_split()
    assert len(train) + len(test) == 1797 and len(test) == 359
    assert torch.equal(torch.cat([train, test]).sort().values, torch.arange(1797))
    _, labels = load_digits(8)
    per_class = torch.bincount(labels)
    held_out = torch.bincount(labels[test], minlength=DIGITS_CLASSES)
    assert ((held_out - 0.2 * per_class).abs() <= 0.5).all()
    again_train, again_test = digits_split()
    assert torch.equal(train, again_train) and torch.equal(test, again_test)
    other_train, _ = digits_split(seed=1)
    assert not torch.equal(train, other_train)
    with pytest.raises(ValueError, match=r"held_out in \(0, 1\), got 1\.5"):
        digits_split(held_out=1.5)
    with pytest.raises(TypeError, match=r"seed to be an int, got 0\.5"):
        digits_split(seed=0.5)


def test_shipped_classifier_held_out_accuracy_at_least_97_percent():
    weights = torch.load(DIGITS_CLASSIFIER_WEIGHTS, weights_only=True)
    assert os.path.getsize(DIGITS_CLASSIFIER_WEIGHTS) <= 1_000_000
    assert all(v.dtype == torch.float32 for v in weights.values())
    model = load_digits_classifier()
    images, labels = load_digits(32)
    _, test = digits_split()
    with torch.no_grad():
        features, logits = model(images[test])
    accuracy = float((logits.argmax(dim=1) == labels[test]).double().mean())
    print(f"held-out accuracy {accuracy:.4f} on {len(test)} images")
    assert accuracy >= 0.97
    assert features.shape == (len(test), 128) and logits.shape == (len(test), 10)


@pytest.mark.parametrize("resolution", [8, 16, 64])
def test_classifier_takes_any_resolution_and_rgb(resolution):
    model = load_digits_classifier()
    images, labels = load_digits(resolution)
    _, test = digits_split()
    with torch.no_grad():
        _, logits = model(images[test])
        _, rgb_logits = model(images[test].expand(-1, 3, -1, -1))
    assert logits.shape == (len(test), 10)
    assert torch.allclose(logits, rgb_logits, atol=1e-5)
    assert float((logits.argmax(dim=1) == labels[test]).double().mean()) >= 0.9


def test_classifier_bad_input(tmp_path):
    model = load_digits_classifier()
    with pytest.raises(ValueError, match=r"images of shape \[N, 1 or 3, H, W\], got shape \[2, 2"):
        model(torch.zeros(2, 2, 8, 8))
    with pytest.raises(TypeError, match=r"uint8 or floating point, got torch\.int32"):
        model(torch.zeros(2, 1, 8, 8, dtype=torch.int32))
    with pytest.raises(FileNotFoundError, match=r"digits_classifier\.pt"):
        load_digits_classifier(tmp_path / "missing.pt")
