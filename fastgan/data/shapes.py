"""Procedural shapes: one circle, square or triangle per image, of random colour, position, size and
rotation on a plain background of contrasting brightness, drawn with anti-aliased edges at any
resolution from a seeded generator. The class label is the kind of shape (3 classes). For
benchmarks and tests: no download, any size, the same images for the same seed everywhere."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import torch

from fastgan.data.images import ImageDataset, check_channels, check_resolution

__all__ = ["SHAPE_KINDS", "ShapesDataset", "make_shapes"]

SHAPE_KINDS = ("circle", "square", "triangle")

# ITU-R 601-2 luma, as PIL's RGB -> L conversion.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
# Random numbers drawn per image, one row each, so that image i depends only on (seed, i).
_DRAWS = 12
# Pixels rendered at once (a [chunk, R, R] float32 array per intermediate).
_CHUNK_PIXELS = 1 << 22


def _colour(hue: float, saturation: float, luma: float) -> np.ndarray:
    """The RGB colour of `hue` and `saturation` (HSV) with exactly this luma: darkened by scaling,
    or lightened by mixing with white."""
    colour = np.array(colorsys.hsv_to_rgb(hue, saturation, 1.0))
    full = float(colour @ _LUMA)
    if luma <= full:
        return colour * (luma / full)
    return colour + (1.0 - colour) * ((luma - full) / (1.0 - full))


def _colours(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background and shape colours, [N, 3] in [0, 1] each: one dark (luma 0.05..0.3) and one
    light (luma 0.6..0.95) per image, so that the shape shows in greyscale too."""
    background = np.empty((len(u), 3))
    shape = np.empty((len(u), 3))
    for i, (hue_bg, hue_fg, sat_bg, sat_fg, luma_bg, luma_fg, light_bg) in enumerate(u):
        dark, light = 0.05 + 0.25 * luma_bg, 0.6 + 0.35 * luma_fg
        if light_bg < 0.5:
            background[i] = _colour(hue_bg, 0.8 * sat_bg, dark)
            shape[i] = _colour(hue_fg, sat_fg, light)
        else:
            background[i] = _colour(hue_bg, 0.5 * sat_bg, light)
            shape[i] = _colour(hue_fg, sat_fg, dark)
    return background, shape


def _signed_distance(
    kind: int, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray, angle: np.ndarray
) -> np.ndarray:
    """Signed distance in pixels (negative inside) to a shape of circumradius `radius` centred at
    the origin and rotated by `angle`; dx, dy: [B, R, R], radius, angle: [B, 1, 1]."""
    if kind == 0:
        return np.hypot(dx, dy) - 0.8 * radius
    cos, sin = np.cos(angle), np.sin(angle)
    if kind == 1:
        along, across = cos * dx + sin * dy, cos * dy - sin * dx
        return np.maximum(np.abs(along), np.abs(across)) - radius / math.sqrt(2.0)
    # Equilateral triangle: the largest distance along its three edge normals, minus the inradius.
    distance = cos * dx + sin * dy
    for k in (1, 2):
        turn = 2.0 * math.pi * k / 3.0
        normal_x, normal_y = np.cos(angle + turn), np.sin(angle + turn)
        distance = np.maximum(distance, normal_x * dx + normal_y * dy)
    return distance - 0.5 * radius


def make_shapes(
    num: int, resolution: int, channels: int = 3, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """`num` images of one shape each, drawn from `seed`.

    Returns ``(images, labels)``: uint8 ``[num, channels, resolution, resolution]`` and int64
    ``[num]`` with the index of the shape in :data:`SHAPE_KINDS` (0 circle, 1 square,
    2 triangle). Image i depends only on ``seed`` and i: the same seed gives the same images, and
    a larger ``num`` adds images after the same first ones. ``channels=1`` is the luma of the RGB
    image (ITU-R 601-2, as PIL's RGB -> L).
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise ValueError(f"make_shapes: expected num an int >= 0, got {num!r}")
    resolution = check_resolution(resolution, "make_shapes")
    channels = check_channels(channels, "make_shapes")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"make_shapes: expected seed an int >= 0, got {seed!r}")

    u = np.random.default_rng(seed).random((num, _DRAWS))
    kinds = np.minimum((u[:, 0] * len(SHAPE_KINDS)).astype(np.int64), len(SHAPE_KINDS) - 1)
    radius = (0.22 + 0.2 * u[:, 1]) * resolution
    # Centres keep the whole shape (within its circumradius) inside the image.
    centre_x = radius + (resolution - 2.0 * radius) * u[:, 2]
    centre_y = radius + (resolution - 2.0 * radius) * u[:, 3]
    angle = 2.0 * math.pi * u[:, 4]
    background, shape = _colours(u[:, 5:12])
    if channels == 1:
        background, shape = background @ _LUMA[:, None], shape @ _LUMA[:, None]

    images = torch.empty((num, channels, resolution, resolution), dtype=torch.uint8)
    pixel = np.arange(resolution, dtype=np.float32) + 0.5
    chunk = max(1, _CHUNK_PIXELS // (resolution * resolution))
    for start in range(0, num, chunk):
        stop = min(num, start + chunk)
        coverage = np.empty((stop - start, resolution, resolution), dtype=np.float32)
        for kind in range(len(SHAPE_KINDS)):
            (index,) = np.nonzero(kinds[start:stop] == kind)
            if len(index) == 0:
                continue
            rows = start + index

            def column(v: np.ndarray, rows: np.ndarray = rows) -> np.ndarray:
                return v[rows].astype(np.float32)[:, None, None]

            dx = pixel[None, None, :] - column(centre_x)
            dy = pixel[None, :, None] - column(centre_y)
            distance = _signed_distance(kind, dx, dy, column(radius), column(angle))
            # Coverage of a pixel by the shape, from the distance of its centre to the edge.
            coverage[index] = np.clip(0.5 - distance, 0.0, 1.0)
        # 255 * (bg + (fg - bg) * coverage), rounded: + 0.5, then truncated by the uint8 cast.
        bg = torch.from_numpy(255.0 * background[start:stop] + 0.5).float()[:, :, None, None]
        step = torch.from_numpy(255.0 * (shape - background)[start:stop]).float()
        mixed = torch.addcmul(bg, step[:, :, None, None], torch.from_numpy(coverage)[:, None])
        images[start:stop] = mixed.to(torch.uint8)
    return images, torch.from_numpy(kinds)


class ShapesDataset(ImageDataset):
    """:func:`make_shapes` as an :class:`~fastgan.data.images.ImageDataset` (3 classes, named by
    :data:`SHAPE_KINDS`)."""

    def __init__(
        self,
        resolution: int,
        num: int = 4096,
        channels: int = 3,
        seed: int = 0,
        xflip: bool = False,
    ) -> None:
        images, labels = make_shapes(num, resolution, channels, seed)
        super().__init__(
            images,
            labels,
            num_classes=len(SHAPE_KINDS),
            xflip=xflip,
            name=f"shapes(seed={seed})",
            class_names=SHAPE_KINDS,
        )
