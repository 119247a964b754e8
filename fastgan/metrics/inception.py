"""The FID Inception network: InceptionV3 as in TensorFlow's 2015-12-05 Inception graph, the
network of the original FID and Inception Score code, in PyTorch.

The architecture is Szegedy et al. 2016 ("Rethinking the Inception architecture"), with module
names as in torchvision's InceptionV3 so that the widely used port of the TensorFlow weights,
``pt_inception-2015-12-05-6726825d.pth`` (distributed with pytorch-fid, Apache-2.0), loads as is.
It differs from torchvision's ImageNet model where the TensorFlow graph does:

- the average pooling of the pool branch of the A, C and first E blocks (Mixed_5b-d, Mixed_6b-e,
  Mixed_7b) excludes the zero padding from the average (count_include_pad=False);
- the pool branch of the last E block (Mixed_7c) takes a 3x3 max pooling instead;
- the classifier has 1008 outputs (1000 ImageNet classes and 8 unused ones).

No weights are downloaded at run time: pass the file's path (``--inception-weights`` on the
command line) or set FASTGAN_INCEPTION_WEIGHTS.
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from fastgan.metrics._checks import as_tensor
from fastgan.metrics._weights import file_sha256, load_state_dict_strict

__all__ = [
    "INCEPTION_WEIGHTS_ENV",
    "INCEPTION_WEIGHTS_FILE",
    "INCEPTION_WEIGHTS_URL",
    "InceptionV3FID",
    "load_inception",
    "preprocess_images",
    "resolve_inception_weights",
]

INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    + INCEPTION_WEIGHTS_FILE
)
INCEPTION_WEIGHTS_ENV = "FASTGAN_INCEPTION_WEIGHTS"
# The file name carries the first hex digits of the SHA-256 of its content (torch.hub's rule).
INCEPTION_WEIGHTS_SHA256_PREFIX = "6726825d"
INCEPTION_RESOLUTION = 299
INCEPTION_FEATURES = 2048
INCEPTION_CLASSES = 1008


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 0.001, TensorFlow's), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv_args) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_args)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _average_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pool branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(_average_pool(x))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], dim=1)


class InceptionB(nn.Module):
    """Grid reduction 35x35 -> 17x17: strided 3x3, strided double 3x3 and max pooling."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), branch3x3dbl, branch_pool], dim=1)


class InceptionC(nn.Module):
    """17x17 block: 1x1, factorised 7x7, double factorised 7x7 and pool branches."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for layer in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            branch7x7dbl = layer(branch7x7dbl)
        branch_pool = self.branch_pool(_average_pool(x))
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], dim=1)


class InceptionD(nn.Module):
    """Grid reduction 17x17 -> 8x8: strided 3x3, factorised 7x7 then strided 3x3, max pooling."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = x
        for layer in (
            self.branch7x7x3_1,
            self.branch7x7x3_2,
            self.branch7x7x3_3,
            self.branch7x7x3_4,
        ):
            branch7x7x3 = layer(branch7x7x3)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch7x7x3, branch_pool], dim=1)


class InceptionE(nn.Module):
    """8x8 block: 1x1, split 3x3, double split 3x3 and pool branches. `max_pool` selects the
    pool branch of the TensorFlow graph's last block (3x3 max pooling instead of average)."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], dim=1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat(
            [self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], dim=1
        )
        if self.max_pool:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _average_pool(x)
        branch_pool = self.branch_pool(pooled)
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, branch_pool], dim=1)


def preprocess_images(
    images: torch.Tensor, resolution: int, channels: int, antialias: bool = False
) -> torch.Tensor:
    """Images [N, C, H, W], uint8 in [0, 255] or floating in [-1, 1] (clamped), as float32 in
    [-1, 1] with `channels` channels (grey repeated to RGB, RGB averaged to grey) at
    resolution x resolution: bilinear, align_corners=False, antialiased when shrinking only if
    `antialias` (the FID network takes plain bilinear resizing, as the reference FID code does,
    so that its numbers compare with published ones)."""
    x = as_tensor(images, "images", "preprocess_images")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"preprocess_images: expected images of shape [N, 1 or 3, H, W], "
            f"got shape {list(x.shape)}"
        )
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 127.5 - 1
    elif x.is_floating_point():
        x = x.to(torch.float32).clamp(-1, 1)
    else:
        raise TypeError(
            f"preprocess_images: expected images of dtype uint8 or floating point, got {x.dtype}"
        )
    if x.shape[1] == 3 and channels == 1:
        x = x.mean(dim=1, keepdim=True)
    if tuple(x.shape[2:]) != (resolution, resolution):
        x = F.interpolate(
            x,
            size=(resolution, resolution),
            mode="bilinear",
            align_corners=False,
            antialias=antialias and (x.shape[2] > resolution or x.shape[3] > resolution),
        )
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    return x


class InceptionV3FID(nn.Module):
    """The FID Inception network (module docstring).

    forward(images) -> (features [N, 2048], logits [N, 1008]). images: [N, 1 or 3, H, W], uint8 in
    [0, 255] or floating in [-1, 1]; grey is repeated to RGB and the images are resized to 299x299
    (bilinear), the input the network was trained on ([-1, 1]). The features are the 2048-d
    average-pooled output of Mixed_7c (FID, KID, precision / recall), the logits those of the
    1008-way classifier (Inception Score).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(INCEPTION_FEATURES, INCEPTION_CLASSES)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = preprocess_images(images, INCEPTION_RESOLUTION, channels=3)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        features = x.mean(dim=(2, 3))
        return features, self.fc(features)


def _missing_weights_message(detail: str) -> str:
    return (
        f"the FID Inception network needs its weights file {INCEPTION_WEIGHTS_FILE} "
        f"(the TensorFlow 2015-12-05 Inception ported to PyTorch, distributed with pytorch-fid; "
        f"Apache-2.0), which fastgan never downloads: fetch it once from {INCEPTION_WEIGHTS_URL} "
        f"and pass its path as --inception-weights PATH (Python: inception_weights=PATH) or in "
        f"the environment variable {INCEPTION_WEIGHTS_ENV}; {detail}"
    )


def resolve_inception_weights(path: str | os.PathLike | None = None) -> str:
    """The weights file to use: `path`, else $FASTGAN_INCEPTION_WEIGHTS; ValueError when neither
    is given, FileNotFoundError when the file does not exist (both name the file and its URL)."""
    if path is None:
        path = os.environ.get(INCEPTION_WEIGHTS_ENV) or None
        if path is None:
            raise ValueError(
                _missing_weights_message(
                    f"expected inception_weights or ${INCEPTION_WEIGHTS_ENV}, got neither"
                )
            )
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"load_inception: expected inception_weights to be a path, got {type(path).__name__}"
        )
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            _missing_weights_message(f"expected inception_weights to be a file, got {path!r}")
        )
    return path


def load_inception(
    path: str | os.PathLike | None = None, device: torch.device | str = "cpu"
) -> InceptionV3FID:
    """The FID Inception network with the weights of `path` (default: $FASTGAN_INCEPTION_WEIGHTS),
    in eval mode on `device`. Loaded with torch.load(weights_only=True) and strict key and shape
    checking; a warning when the file's SHA-256 does not start with 6726825d (not the standard FID
    weights: the numbers would not compare with published ones)."""
    path = resolve_inception_weights(path)
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    model = InceptionV3FID()
    load_state_dict_strict(model, state_dict, f"load_inception({path!r})")
    if not file_sha256(path).startswith(INCEPTION_WEIGHTS_SHA256_PREFIX):
        warnings.warn(
            f"{path}: its SHA-256 does not start with {INCEPTION_WEIGHTS_SHA256_PREFIX} (the "
            f"standard FID weights); FID computed with it does not compare with published values",
            stacklevel=2,
        )
    return model.eval().to(device)
