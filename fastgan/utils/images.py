"""Images for people: sample grids and PNG files.

Generator outputs are float tensors [N, C, H, W] in [-1, 1]; a pixel value x maps to the byte
round((clamp(x, -1, 1) + 1) * 127.5), so -1 -> 0, 0 -> 128 and 1 -> 255; NaN maps to 0 (a
diverged sample shows as black instead of failing the run that is being watched).
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
import torch
from PIL import Image

from fastgan.utils.atomic import atomic_write

__all__ = ["encode_png", "image_grid", "save_image_grid", "save_png", "to_uint8_image"]

_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def _float_to_uint8(images: torch.Tensor) -> torch.Tensor:
    x = torch.nan_to_num(images.detach().to("cpu", torch.float32), nan=-1.0)
    return ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def to_uint8_image(image: np.ndarray | torch.Tensor, name: str = "image") -> np.ndarray:
    """One image as a uint8 numpy array [H, W, C] with C in 1, 3, 4.

    image: a uint8 numpy array [H, W] or [H, W, C] (C in 1, 3, 4), taken as is; or a floating
    torch tensor [C, H, W] (C in 1, 3) in [-1, 1], mapped as the module docstring says.
    `name` is the argument name that error messages use.
    """
    if isinstance(image, torch.Tensor):
        if not image.is_floating_point():
            raise TypeError(
                f"{name}: expected a floating tensor [C, H, W] in [-1, 1], got dtype {image.dtype}"
                " (pass uint8 pixels as a numpy array [H, W, C])"
            )
        if image.dim() != 3 or image.shape[0] not in (1, 3):
            raise ValueError(
                f"{name}: expected a tensor [C, H, W] with C in 1 or 3, got shape "
                f"{tuple(image.shape)}"
            )
        return _float_to_uint8(image).permute(1, 2, 0).contiguous().numpy()
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"{name}: expected a uint8 numpy array, got dtype {image.dtype}")
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[2] not in _PIL_MODES:
            raise ValueError(
                f"{name}: expected a numpy array [H, W] or [H, W, C] with C in 1, 3, 4, got shape "
                f"{image.shape}"
            )
        return np.ascontiguousarray(image)
    raise TypeError(
        f"{name}: expected a uint8 numpy array [H, W, C] or a float tensor [C, H, W], got "
        f"{type(image).__name__}"
    )


def encode_png(image: np.ndarray | torch.Tensor) -> bytes:
    """The PNG encoding of one image (accepted forms as in `to_uint8_image`)."""
    pixels = to_uint8_image(image)
    channels = pixels.shape[2]
    pil = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, _PIL_MODES[channels])
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile images [N, C, H, W] (float, in [-1, 1], C in 1 or 3) into one uint8 array [H', W', C].

    The grid has min(nrow, N) columns and ceil(N / nrow) rows; cell (r, c) holds image
    r * nrow + c; `padding` black pixels (default 2) separate neighbouring cells, none around the
    border: H' = rows * H + (rows - 1) * padding, W' = columns * W + (columns - 1) * padding.
    Cells past the last image stay black.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(f"images: expected a floating tensor [N, C, H, W], got {got}")
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise ValueError(
            "images: expected a tensor [N, C, H, W] with N >= 1 and C in 1 or 3, got shape "
            f"{tuple(images.shape)}"
        )
    if not isinstance(nrow, int) or isinstance(nrow, bool) or nrow < 1:
        raise ValueError(f"nrow: expected an int >= 1, got {nrow!r}")
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"padding: expected an int >= 0, got {padding!r}")
    n, channels, height, width = images.shape
    columns, rows = min(nrow, n), math.ceil(n / nrow)
    pixels = _float_to_uint8(images).permute(0, 2, 3, 1).numpy()
    grid = np.zeros(
        (rows * height + (rows - 1) * padding, columns * width + (columns - 1) * padding, channels),
        dtype=np.uint8,
    )
    for index in range(n):
        top, left = (index // nrow) * (height + padding), (index % nrow) * (width + padding)
        grid[top : top + height, left : left + width] = pixels[index]
    return grid


def save_png(path: str | os.PathLike[str], image: np.ndarray | torch.Tensor) -> None:
    """Write one image (accepted forms as in `to_uint8_image`) as a PNG file, atomically: a
    temporary file in the same directory, flushed and fsynced, then renamed onto `path`."""
    data = encode_png(image)
    with atomic_write(path) as file:
        file.write(data)


def save_image_grid(
    path: str | os.PathLike[str], images: torch.Tensor, nrow: int = 8, padding: int = 2
) -> np.ndarray:
    """`image_grid(images, nrow, padding)` written to `path` with `save_png`; returns the grid."""
    grid = image_grid(images, nrow, padding)
    save_png(path, grid)
    return grid
