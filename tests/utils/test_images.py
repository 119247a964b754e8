"""image_grid, save_png, save_image_grid: layout, value mapping, PNG round trip, bad input."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan.utils.images import image_grid, save_image_grid, save_png, to_uint8_image


def _flat_images(n: int, channels: int, height: int, width: int) -> torch.Tensor:
    """Image i is one flat value, distinct per image and channel, that maps to an exact byte."""
    values = torch.tensor(
        [[(2 * (i * channels + c) + 1) / 127.5 - 1 for c in range(channels)] for i in range(n)]
    )
    return values[:, :, None, None].expand(n, channels, height, width).contiguous()


def _byte(i: int, c: int, channels: int) -> int:
    return 2 * (i * channels + c) + 1


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("padding", [1, 2])
def test_grid_shape_and_placement(channels, padding):
    n, nrow, height, width = 7, 3, 4, 5
    grid = image_grid(_flat_images(n, channels, height, width), nrow=nrow, padding=padding)
    rows, columns = 3, 3
    assert grid.dtype == np.uint8
    assert grid.shape == (
        rows * height + (rows - 1) * padding,
        columns * width + (columns - 1) * padding,
        channels,
    )
    for r in range(rows):
        for c in range(columns):
            top, left = r * (height + padding), c * (width + padding)
            cell = grid[top : top + height, left : left + width]
            index = r * nrow + c
            if index < n:
                for channel in range(channels):
                    assert (cell[:, :, channel] == _byte(index, channel, channels)).all()
            else:
                assert (cell == 0).all()
    # The padding between cells is black.
    for r in range(1, rows):
        assert (grid[r * (height + padding) - padding : r * (height + padding)] == 0).all()
    for c in range(1, columns):
        assert (grid[:, c * (width + padding) - padding : c * (width + padding)] == 0).all()


def test_grid_fewer_images_than_nrow_is_one_row():
    grid = image_grid(torch.zeros(2, 3, 4, 4), nrow=8, padding=2)
    assert grid.shape == (4, 10, 3)


def test_value_mapping_and_clamp():
    x = torch.tensor([-1.0, 1.0, 0.0, -3.0, 7.0, float("nan"), float("inf"), 0.5])
    grid = image_grid(x.view(1, 1, 1, -1), nrow=1)
    assert grid[0, :, 0].tolist() == [0, 255, 128, 0, 255, 0, 255, round(1.5 * 127.5)]


def test_grid_keeps_the_input_untouched_and_works_on_half_and_grad_tensors():
    x = torch.rand(4, 3, 6, 6, requires_grad=True) * 2 - 1
    before = x.detach().clone()
    grid = image_grid(x.half(), nrow=2)
    assert torch.equal(x.detach(), before)
    assert grid.shape == (14, 14, 3)


@pytest.mark.parametrize("channels", [1, 3])
def test_save_image_grid_round_trip(tmp_path, channels):
    images = torch.rand(5, channels, 8, 6) * 2 - 1
    path = tmp_path / "grid.png"
    grid = save_image_grid(path, images, nrow=2)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode == ("L" if channels == 1 else "RGB")
        decoded = np.asarray(image)
    np.testing.assert_array_equal(decoded.reshape(grid.shape), grid)
    np.testing.assert_array_equal(grid, image_grid(images, nrow=2))
    assert os.listdir(tmp_path) == ["grid.png"]


def test_save_png_forms(tmp_path):
    rgba = np.random.default_rng(0).integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    save_png(tmp_path / "rgba.png", rgba)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "rgba.png")), rgba)
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_png(tmp_path / "grey.png", grey)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "grey.png")), grey)
    save_png(tmp_path / "tensor.png", torch.full((3, 2, 2), -1.0))
    assert (np.asarray(Image.open(tmp_path / "tensor.png")) == 0).all()
    # Overwriting replaces the file.
    save_png(tmp_path / "grey.png", 255 - grey)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "grey.png")), 255 - grey)
    assert sorted(os.listdir(tmp_path)) == ["grey.png", "rgba.png", "tensor.png"]


def test_save_png_failure_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    save_png(path, np.zeros((2, 2, 3), dtype=np.uint8))
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_png(path, np.full((2, 2, 3), 255, dtype=np.uint8))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.png"]


def test_bad_input():
    with pytest.raises(ValueError, match=r"images: expected a tensor \[N, C, H, W\].*got shape"):
        image_grid(torch.zeros(3, 4, 4), nrow=2)
    with pytest.raises(ValueError, match=r"C in 1 or 3, got shape \(2, 2, 4, 4\)"):
        image_grid(torch.zeros(2, 2, 4, 4), nrow=2)
    with pytest.raises(ValueError, match=r"N >= 1"):
        image_grid(torch.zeros(0, 3, 4, 4), nrow=2)
    with pytest.raises(TypeError, match=r"images: expected a floating tensor.*got torch\.uint8"):
        image_grid(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), nrow=2)
    with pytest.raises(TypeError, match=r"images: expected a floating tensor.*got ndarray"):
        image_grid(np.zeros((2, 3, 4, 4)), nrow=2)
    with pytest.raises(ValueError, match="nrow: expected an int >= 1, got 0"):
        image_grid(torch.zeros(2, 3, 4, 4), nrow=0)
    with pytest.raises(ValueError, match="padding: expected an int >= 0, got -1"):
        image_grid(torch.zeros(2, 3, 4, 4), nrow=2, padding=-1)
    with pytest.raises(ValueError, match=r"C in 1, 3, 4, got shape \(2, 2, 2\)"):
        to_uint8_image(np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(TypeError, match="got list"):
        to_uint8_image([[0]])
    with pytest.raises(TypeError, match=r"got dtype torch\.int64"):
        to_uint8_image(torch.zeros(3, 2, 2, dtype=torch.int64))
