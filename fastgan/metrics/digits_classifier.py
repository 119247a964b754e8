"""A small CNN that classifies the bundled handwritten digits (fastgan.data.digits): the feature
extractor of the `digits` metrics (Fréchet distance and KID in its feature space, the accuracy of
conditional samples, mode coverage).

Trained by scripts/train_digits_classifier.py (fixed seed, train split of `digits_split()`,
resolution 32, light augmentation so that it also recognises generated samples); the weights ship
in fastgan/metrics/weights/digits_classifier.pt (float32 state dict).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from fastgan.metrics._weights import load_state_dict_strict
from fastgan.metrics.inception import preprocess_images

__all__ = [
    "DIGITS_CLASSIFIER_WEIGHTS",
    "DIGITS_FEATURES",
    "DIGITS_RESOLUTION",
    "DigitsClassifier",
    "load_digits_classifier",
]

DIGITS_CLASSIFIER_WEIGHTS = os.path.join(
    os.path.dirname(__file__), "weights", "digits_classifier.pt"
)
DIGITS_RESOLUTION = 32
DIGITS_FEATURES = 128


class DigitsClassifier(nn.Module):
    """Four 3x3 convolutions (16, 32, 64, 64 channels; ReLU; 2x2 max pooling after the last three),
    a 1024 -> 128 linear layer with ReLU (the features) and a 128 -> 10 linear layer (the logits).

    forward(images) -> (features [N, 128], logits [N, 10]). images: [N, 1 or 3, R, R] at any R,
    floating in [-1, 1] or uint8 in [0, 255]; RGB is averaged to grey and the images are resized to
    32x32 (bilinear, antialiased when shrinking).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, kernel_size=3, padding=1)
        self.fc = nn.Linear(64 * 4 * 4, DIGITS_FEATURES)
        self.dropout = nn.Dropout(0.3)
        self.classifier = nn.Linear(DIGITS_FEATURES, num_classes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = preprocess_images(images, DIGITS_RESOLUTION, channels=1, antialias=True)
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.max_pool2d(F.relu(self.conv4(x)), 2)
        features = F.relu(self.fc(x.flatten(1)))
        return features, self.classifier(self.dropout(features))


def load_digits_classifier(
    path: str | os.PathLike | None = None, device: torch.device | str = "cpu"
) -> DigitsClassifier:
    """The digits classifier with the weights of `path` (default: the shipped
    fastgan/metrics/weights/digits_classifier.pt), in eval mode on `device`; loaded with
    torch.load(weights_only=True) and strict key and shape checking."""
    path = DIGITS_CLASSIFIER_WEIGHTS if path is None else os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"load_digits_classifier: expected path to be the classifier's weights file "
            f"(shipped as {DIGITS_CLASSIFIER_WEIGHTS}; made by "
            f"scripts/train_digits_classifier.py), got {path!r}, which does not exist"
        )
    model = DigitsClassifier()
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    load_state_dict_strict(model, state_dict, f"load_digits_classifier({path!r})")
    return model.eval().to(device)
