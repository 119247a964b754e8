"""Sets of images to evaluate: in-memory tensors, .npz / .pt tensor files and folders of images.

Every set yields batches of [B, C, H, W] images, uint8 in [0, 255] or float32 in [-1, 1], the input
of the feature extractors, and has a content hash (SHA-256) that keys the cache of real statistics.

File formats:
- ``.npz``: the array ``images`` (or the file's only array), and optionally ``labels`` [N] ints;
- ``.pt`` / ``.pth``: a tensor of images, or a dict with ``images`` and optionally ``labels``
  (read with torch.load(weights_only=True));
- images [N, C, H, W] or [N, H, W, C] with C in {1, 3}, or [N, H, W]; uint8 in [0, 255] or
  floating point in [-1, 1];
- a folder of .png / .jpg / .jpeg / .bmp / .webp images (recursively, sorted by path; all of one
  size), read as RGB with Pillow when it is installed.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np
import torch

from fastgan.metrics._weights import file_sha256

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderImages",
    "ImageSet",
    "TensorImages",
    "as_image_tensor",
    "check_labels",
    "load_image_set",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
TENSOR_EXTENSIONS = (".npz", ".pt", ".pth")
# Float images may exceed [-1, 1] by this much (rounding) before they are refused.
_RANGE_TOLERANCE = 1e-2


class ImageSet(ABC):
    """A set of images: ``len()``, ``batches(batch_size)``, ``content_sha256()``, ``resolution``,
    ``labels`` (int64 [N] or None) and ``description``."""

    labels: torch.Tensor | None = None
    description: str = "images"

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """[B, C, H, W] batches in order, uint8 in [0, 255] or float32 in [-1, 1]."""

    @abstractmethod
    def content_sha256(self) -> str:
        """SHA-256 (hex) of the images' content."""

    @property
    @abstractmethod
    def resolution(self) -> tuple[int, int]:
        """(H, W) of the images."""


def as_image_tensor(
    images: object, name: str = "images", op: str = "fastgan.metrics"
) -> torch.Tensor:
    """Images as [N, C, H, W] (C in {1, 3}): from [N, C, H, W], [N, H, W, C] or [N, H, W] tensors
    or numpy arrays, uint8 in [0, 255] or floating point in [-1, 1] (float64 becomes float32)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"{op}: expected {name} to be a tensor or numpy array, got {type(images).__name__}"
        )
    x = images
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise ValueError(
            f"{op}: expected {name} of shape [N, C, H, W], [N, H, W, C] or [N, H, W], "
            f"got shape {list(images.shape)}"
        )
    if x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] not in (1, 3):
        raise ValueError(
            f"{op}: expected {name} with 1 or 3 channels ([N, C, H, W] or [N, H, W, C]), "
            f"got shape {list(images.shape)}"
        )
    if x.shape[0] < 1:
        raise ValueError(f"{op}: expected at least one image in {name}, got shape {list(x.shape)}")
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        raise TypeError(
            f"{op}: expected {name} of dtype uint8 (in [0, 255]) or floating point (in [-1, 1]), "
            f"got {x.dtype}"
        )
    low, high = float(x.min()), float(x.max())
    if not (low >= -1 - _RANGE_TOLERANCE and high <= 1 + _RANGE_TOLERANCE):
        raise ValueError(
            f"{op}: expected floating-point {name} in [-1, 1] (or uint8 in [0, 255]), "
            f"got values in [{low:.4g}, {high:.4g}]"
        )
    return x.to(torch.float32) if x.dtype == torch.float64 else x


def check_labels(labels: object, num: int, description: str = "images") -> torch.Tensor:
    """Class labels [num] of integers (a tensor, numpy array or sequence) as int64."""
    labels_t = torch.as_tensor(labels)
    if labels_t.ndim != 1 or labels_t.shape[0] != num:
        raise ValueError(
            f"fastgan.metrics: expected labels of shape [{num}] (one per image of "
            f"{description}), got shape {list(labels_t.shape)}"
        )
    if labels_t.is_floating_point() or labels_t.dtype == torch.bool or labels_t.is_complex():
        raise TypeError(
            f"fastgan.metrics: expected integer labels for {description}, got {labels_t.dtype}"
        )
    return labels_t.to(torch.int64)


class TensorImages(ImageSet):
    """Images held in memory. `sha256`: the content hash when known (e.g. of the file they came
    from), else the hash of the tensor's bytes, computed when first asked."""

    def __init__(
        self,
        images: torch.Tensor | np.ndarray,
        labels: torch.Tensor | np.ndarray | None = None,
        description: str = "images",
        sha256: str | None = None,
    ) -> None:
        self.images = as_image_tensor(images)
        self.description = description
        self._sha256 = sha256
        if labels is not None:
            self.labels = check_labels(labels, self.images.shape[0], description)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def resolution(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        for start in range(0, len(self), batch_size):
            yield self.images[start : start + batch_size]

    def content_sha256(self) -> str:
        if self._sha256 is None:
            digest = hashlib.sha256(f"{list(self.images.shape)} {self.images.dtype}".encode())
            digest.update(self.images.detach().cpu().contiguous().numpy().tobytes())
            self._sha256 = digest.hexdigest()
        return self._sha256


class FolderImages(ImageSet):
    """The images of a folder (recursively, sorted by relative path), read with Pillow batch by
    batch as uint8 RGB; all must have one size."""

    def __init__(self, path: str | os.PathLike) -> None:
        try:
            from PIL import Image
        except ImportError:
            raise ValueError(
                f"fastgan.metrics: reading the folder of images {os.fspath(path)!r} needs Pillow "
                f"(pip install pillow), which is not installed; or pass the images as a .npz "
                f"or .pt tensor file"
            ) from None
        self._image_module = Image
        self.root = os.fspath(path)
        self.description = self.root
        files = []
        for directory, _, names in os.walk(self.root):
            files += [
                os.path.join(directory, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)
            ]
        self.files = sorted(files, key=lambda f: os.path.relpath(f, self.root))
        if not self.files:
            raise ValueError(
                f"fastgan.metrics: expected image files ({', '.join(IMAGE_EXTENSIONS)}) in the "
                f"folder {self.root!r}, got none"
            )
        with Image.open(self.files[0]) as first:
            self._size = first.size

    def __len__(self) -> int:
        return len(self.files)

    @property
    def resolution(self) -> tuple[int, int]:
        return self._size[1], self._size[0]

    def _read(self, file: str) -> np.ndarray:
        with self._image_module.open(file) as image:
            if image.size != self._size:
                raise ValueError(
                    f"fastgan.metrics: expected every image of {self.root!r} to be "
                    f"{self._size[0]}x{self._size[1]} (as {self.files[0]!r}), got "
                    f"{image.size[0]}x{image.size[1]} for {file!r}"
                )
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
        return array.transpose(2, 0, 1)

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        for start in range(0, len(self.files), batch_size):
            chunk = self.files[start : start + batch_size]
            yield torch.from_numpy(np.stack([self._read(f) for f in chunk]))

    def content_sha256(self) -> str:
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(os.path.relpath(file, self.root).encode() + b"\0")
            digest.update(bytes.fromhex(file_sha256(file)))
        return digest.hexdigest()


def _read_tensor_file(path: str) -> tuple[object, object]:
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            if "images" in data:
                images = data["images"]
            elif len([k for k in keys if k != "labels"]) == 1:
                images = data[next(k for k in keys if k != "labels")]
            else:
                raise ValueError(
                    f"fastgan.metrics: expected {path!r} to hold an array 'images' (or a single "
                    f"array), got arrays {keys}"
                )
            labels = data["labels"] if "labels" in data else None
        return images, labels
    content = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(content, dict):
        if "images" not in content:
            raise ValueError(
                f"fastgan.metrics: expected {path!r} to hold a tensor or a dict with 'images', "
                f"got a dict with keys {sorted(map(str, content))}"
            )
        return content["images"], content.get("labels")
    return content, None


def load_image_set(path: str | os.PathLike) -> ImageSet:
    """The images of `path`: a folder of images, or a .npz / .pt tensor file (module docstring)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return FolderImages(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"fastgan.metrics: expected a folder of images or a .npz / .pt file, got {path!r}, "
            f"which does not exist"
        )
    if not path.lower().endswith(TENSOR_EXTENSIONS):
        raise ValueError(
            f"fastgan.metrics: expected a folder of images or a file ending in "
            f"{', '.join(TENSOR_EXTENSIONS)}, got {path!r}"
        )
    images, labels = _read_tensor_file(path)
    images_t = as_image_tensor(images, name=f"the images of {path!r}")
    return TensorImages(images_t, labels, description=path, sha256=file_sha256(path))
