"""ImageFolderDataset: formats and modes, crop and resize, labels, zips, bad files, the cache."""

import json
import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image, features

from fastgan.data import folder
from fastgan.data.folder import ImageFolderDataset

HAS_WEBP = features.check("webp")

# name -> (PIL image, expected RGB value of every pixel after loading, tolerance). Every image is
# one flat colour, so that cropping and resizing leave that colour; the expected values are what
# the documented conversions give (transparency composited on black, 16 bits / 257).
RED, PALETTE_BLUE = (200, 100, 50), (20, 40, 230)


def _palette_image() -> Image.Image:
    image = Image.new("P", (24, 24), 1)
    image.putpalette([0, 0, 0, *PALETTE_BLUE] + [0] * (3 * 254))
    return image


def _flat_images() -> dict[str, tuple[Image.Image, tuple[int, int, int], int]]:
    images = {
        "rgb.png": (Image.new("RGB", (40, 30), RED), RED, 0),
        "grey.jpg": (Image.new("L", (16, 48), 90), (90, 90, 90), 2),
        "rgba.png": (Image.new("RGBA", (32, 32), (255, 0, 0, 128)), (128, 0, 0), 1),
        "palette.png": (_palette_image(), PALETTE_BLUE, 0),
        "grey16.png": (
            Image.fromarray(np.full((20, 20), 257 * 77, dtype=np.uint16)),
            (77, 77, 77),
            0,
        ),
        "photo.JPEG": (Image.new("RGB", (50, 20), (10, 120, 240)), (10, 120, 240), 3),
    }
    if HAS_WEBP:
        images["lossless.webp"] = (Image.new("RGB", (12, 12), (10, 200, 30)), (10, 200, 30), 0)
    return images


def _save(image: Image.Image, path) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kwargs = {"lossless": True} if str(path).endswith(".webp") else {}
    if str(path).lower().endswith((".jpg", ".jpeg")):
        kwargs = {"quality": 95}
    image.save(path, **kwargs)


def _luma(rgb) -> float:
    return (rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000


def _zip(source, target, prefix: str = "") -> str:
    with zipfile.ZipFile(target, "w") as archive:
        for directory, _, files in os.walk(source):
            for name in files:
                path = os.path.join(directory, name)
                archive.write(path, prefix + os.path.relpath(path, source).replace(os.sep, "/"))
    return str(target)


def _pixels(dataset: ImageFolderDataset) -> dict[str, torch.Tensor]:
    """Image per file name, back in 0..255."""
    return {name: (dataset[i][0] + 1) * 127.5 for i, name in enumerate(dataset.files)}


@pytest.fixture
def flat_folder(tmp_path):
    root = tmp_path / "flat"
    for name, (image, _, _) in _flat_images().items():
        _save(image, root / name)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"ignored: a hidden file")
    return root


@pytest.mark.parametrize("channels", [3, 1])
def test_modes_and_formats_convert_to_the_requested_channels(flat_folder, tmp_path, channels):
    dataset = ImageFolderDataset(flat_folder, 8, channels, cache_dir=tmp_path / "cache")
    expected = _flat_images()
    assert sorted(dataset.files) == sorted(expected)
    assert (len(dataset), dataset.resolution, dataset.channels) == (len(expected), 8, channels)
    assert dataset.num_classes == 0 and dataset.labels is None
    assert dataset.images.dtype == torch.uint8
    assert dataset.images.shape == (len(expected), channels, 8, 8)
    for name, pixels in _pixels(dataset).items():
        _, rgb, tolerance = expected[name]
        want = torch.tensor(rgb if channels == 3 else [_luma(rgb)], dtype=torch.float32)
        error = (pixels - want[:, None, None]).abs().max().item()
        assert error <= tolerance + 0.51, (name, pixels[:, 0, 0], want)
    image, label = dataset[0]
    assert image.dtype == torch.float32 and image.shape == (channels, 8, 8) and label == -1
    assert -1 <= image.min() and image.max() <= 1


def test_channels_none_is_one_for_greyscale_only_and_three_otherwise(tmp_path):
    grey = tmp_path / "grey"
    _save(Image.new("L", (8, 8), 10), grey / "a.png")
    _save(Image.new("LA", (8, 8), (10, 255)), grey / "b.png")
    assert ImageFolderDataset(grey, 4, cache_dir=tmp_path / "c").channels == 1
    _save(Image.new("RGB", (8, 8), (1, 2, 3)), grey / "c.png")
    assert ImageFolderDataset(grey, 4, cache_dir=tmp_path / "c").channels == 3


def test_centre_crop_then_lanczos_resize(tmp_path):
    # Three vertical bands: the centre crop keeps only the green one, and nothing of the others
    # bleeds in; a PIL LANCZOS resize of the crop is the reference.
    bands = np.zeros((20, 60, 3), np.uint8)
    bands[:, :20], bands[:, 20:40], bands[:, 40:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    tall = np.random.default_rng(0).integers(0, 256, (48, 24, 3), dtype=np.uint8)
    _save(Image.fromarray(bands), tmp_path / "d" / "bands.png")
    _save(Image.fromarray(tall), tmp_path / "d" / "tall.png")
    dataset = ImageFolderDataset(tmp_path / "d", 16, 3, cache_dir=tmp_path / "c")
    got = dict(zip(dataset.files, dataset.images, strict=True))
    assert (got["bands.png"] == torch.tensor([0, 255, 0])[:, None, None]).all()
    crop = Image.fromarray(tall).crop((0, 12, 24, 36))
    reference = np.asarray(crop.resize((16, 16), Image.Resampling.LANCZOS)).transpose(2, 0, 1)
    assert torch.equal(got["tall.png"], torch.from_numpy(reference.copy()))


@pytest.fixture
def class_folder(tmp_path):
    root = tmp_path / "classes"
    _save(Image.new("RGB", (10, 10), (255, 0, 0)), root / "dog" / "b.png")
    _save(Image.new("RGB", (10, 10), (0, 255, 0)), root / "cat" / "a.png")
    _save(Image.new("L", (10, 10), 50), root / "dog" / "sub" / "c.jpg")
    _save(Image.new("RGB", (10, 10), (0, 0, 255)), root / "cat" / "z.png")
    return root


def test_labels_from_sub_folders(class_folder, tmp_path):
    dataset = ImageFolderDataset(class_folder, 4, cache_dir=tmp_path / "cache")
    assert dataset.files == ["cat/a.png", "cat/z.png", "dog/b.png", "dog/sub/c.jpg"]
    assert dataset.class_names == ("cat", "dog") and dataset.num_classes == 2
    assert dataset.labels.tolist() == [0, 0, 1, 1]
    assert [dataset[i][1] for i in range(4)] == [0, 0, 1, 1]
    assert (dataset[2][0][0] == 1).all()  # dog/b.png is red


def test_labels_from_dataset_json(tmp_path):
    root = tmp_path / "json"
    for name in ["a.png", "sub/b.png", "sub/c.png"]:
        _save(Image.new("RGB", (6, 6), (1, 2, 3)), root / name)
    spec = {"labels": [["a.png", 4], ["sub/c.png", 0], ["sub\\b.png", 2], ["gone.png", 1]]}
    (root / "dataset.json").write_text(json.dumps(spec))
    dataset = ImageFolderDataset(root, 4, cache_dir=tmp_path / "cache")
    assert dataset.files == ["a.png", "sub/b.png", "sub/c.png"]
    assert dataset.labels.tolist() == [4, 2, 0] and dataset.num_classes == 5

    (root / "dataset.json").write_text(
        json.dumps({"labels": {"a.png": 1, "sub/b.png": 0, "sub/c.png": 1}})
    )
    assert ImageFolderDataset(root, 4, cache_dir=tmp_path / "cache").labels.tolist() == [1, 0, 1]

    (root / "dataset.json").write_text(json.dumps({"labels": None}))
    assert ImageFolderDataset(root, 4, cache_dir=tmp_path / "cache").num_classes == 0

    (root / "dataset.json").write_text(json.dumps({"labels": [["a.png", 1]]}))
    with pytest.raises(ValueError, match=r"no label for 'sub/b.png' \(2 of 3"):
        ImageFolderDataset(root, 4, cache_dir=tmp_path / "cache")
    (root / "dataset.json").write_text(
        json.dumps({"labels": [[n, [0, 1]] for n, _ in spec["labels"]]})
    )
    with pytest.raises(ValueError, match="integer class index"):
        ImageFolderDataset(root, 4, cache_dir=tmp_path / "cache")
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"dataset\.json"):
        ImageFolderDataset(root, 4, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("prefix", ["", "top/"])
def test_zip_reads_as_the_folder(class_folder, flat_folder, tmp_path, prefix):
    for source in (class_folder, flat_folder):
        archive = _zip(source, tmp_path / f"{source.name}.zip", prefix)
        from_zip = ImageFolderDataset(archive, 8, 3, cache_dir=tmp_path / "cache")
        from_folder = ImageFolderDataset(source, 8, 3, cache_dir=tmp_path / "cache")
        assert [prefix + f for f in from_folder.files] == from_zip.files
        assert torch.equal(from_zip.images, from_folder.images)
        assert from_zip.class_names == from_folder.class_names
        labels = from_zip.labels, from_folder.labels
        assert labels == (None, None) or torch.equal(*labels)


def test_zip_with_dataset_json_at_its_root(tmp_path):
    archive = tmp_path / "stylegan.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            image = Image.new("L", (8, 8), 40 * i)
            image.save(tmp_path / "x.png")
            z.write(tmp_path / "x.png", f"00000/img{i:08d}.png")
        z.writestr(
            "dataset.json", json.dumps({"labels": [[f"00000/img{i:08d}.png", i] for i in range(3)]})
        )
    dataset = ImageFolderDataset(archive, 4, cache_dir=tmp_path / "cache")
    assert dataset.labels.tolist() == [0, 1, 2] and dataset.channels == 1


def _corrupt_folder(tmp_path):
    root = tmp_path / "corrupt"
    _save(Image.new("RGB", (8, 8), (9, 9, 9)), root / "good.png")
    _save(Image.new("RGB", (8, 8), (9, 9, 9)), root / "more" / "good.jpg")
    (root / "more" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    full = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(full)
    (root / "truncated.jpg").write_bytes(full.read_bytes()[:600])
    return root


@pytest.mark.parametrize("as_zip", [False, True])
def test_a_corrupt_file_is_named_or_skipped_and_counted(tmp_path, as_zip):
    root = _corrupt_folder(tmp_path)
    path = _zip(root, tmp_path / "corrupt.zip") if as_zip else str(root)
    bad = os.path.join(root, "more", "bad.png") if not as_zip else "more/bad.png (in "
    with pytest.raises(ValueError, match="cannot decode image") as error:
        ImageFolderDataset(path, 4, cache_dir=tmp_path / "cache")
    assert bad in str(error.value)

    with pytest.warns(UserWarning, match="skipped 2 of 4 images") as record:
        dataset = ImageFolderDataset(path, 4, skip_bad=True, cache_dir=tmp_path / "cache")
    assert "more/bad.png" in str(record[0].message) and "truncated.jpg" in str(record[0].message)
    assert dataset.skipped == 2 and sorted(dataset.skipped_files) == [
        "more/bad.png",
        "truncated.jpg",
    ]
    assert dataset.files == ["good.png", "more/good.jpg"] and len(dataset) == 2

    # The cache keeps what was skipped: it is counted again, and is still an error without skip_bad.
    with pytest.warns(UserWarning, match="skipped 2"):
        again = ImageFolderDataset(path, 4, skip_bad=True, cache_dir=tmp_path / "cache")
    assert again.from_cache and again.skipped == 2
    with pytest.raises(ValueError, match=r"bad\.png"):
        ImageFolderDataset(path, 4, cache_dir=tmp_path / "cache")


def test_all_files_bad_or_none_is_an_error(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(
        ValueError, match=r"none of the 1 images .* first: .*cannot decode .*x\.png"
    ):
        ImageFolderDataset(tmp_path / "bad", 4, skip_bad=True, cache_dir=tmp_path / "c")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match=r"no images \(.png, .jpg, .jpeg, .webp\) in .*empty"):
        ImageFolderDataset(tmp_path / "empty", 4, cache_dir=tmp_path / "c")
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"cannot open zip file .*fake\.zip"):
        ImageFolderDataset(tmp_path / "fake.zip", 4, cache_dir=tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="missing"):
        ImageFolderDataset(tmp_path / "missing", 4, cache_dir=tmp_path / "c")


def test_second_open_reads_the_cache_without_decoding(class_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = ImageFolderDataset(class_folder, 8, 3, cache_dir=cache)
    assert not first.from_cache and os.path.isfile(first.cache_path)
    assert os.path.dirname(first.cache_path) == str(cache)
    assert [p.name for p in cache.iterdir()] == [os.path.basename(first.cache_path)]

    def no_decoding(*args):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(folder, "_decode", no_decoding)
    second = ImageFolderDataset(class_folder, 8, 3, cache_dir=cache)
    assert second.from_cache and second.cache_path == first.cache_path
    assert torch.equal(second.images, first.images) and torch.equal(second.labels, first.labels)
    assert second.class_names == first.class_names and second.files == first.files

    # Another resolution or channel count, or a changed file, is another cache entry: decoded.
    for resolution, channels in [(4, 3), (8, 1)]:
        with pytest.raises(ValueError, match="decoded although cached"):
            ImageFolderDataset(class_folder, resolution, channels, cache_dir=cache)
    _save(Image.new("RGB", (12, 10), (1, 1, 1)), class_folder / "cat" / "a.png")
    with pytest.raises(ValueError, match="decoded although cached"):
        ImageFolderDataset(class_folder, 8, 3, cache_dir=cache)


def test_cache_dir_defaults_to_the_environment(class_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "env-cache"))
    dataset = ImageFolderDataset(class_folder, 4)
    assert dataset.cache_path.startswith(str(tmp_path / "env-cache" / "classes-4px-auto-"))
    assert folder.default_cache_dir() == str(tmp_path / "env-cache")
    monkeypatch.delenv("FASTGAN_CACHE")
    assert folder.default_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "fastgan")


def test_an_unreadable_cache_is_rebuilt(class_folder, tmp_path):
    first = ImageFolderDataset(class_folder, 4, cache_dir=tmp_path)
    with open(first.cache_path, "wb") as file:
        file.write(b"truncated")
    with pytest.warns(UserWarning, match="ignoring unreadable cache"):
        second = ImageFolderDataset(class_folder, 4, cache_dir=tmp_path)
    assert not second.from_cache and torch.equal(second.images, first.images)
    assert ImageFolderDataset(class_folder, 4, cache_dir=tmp_path).from_cache


def test_cache_is_written_atomically(class_folder, tmp_path, monkeypatch):
    # A failure while writing leaves neither a partial cache file nor a temporary file behind.
    def failing_save(contents, file):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.warns(UserWarning, match="cannot write the cache .*disk full"):
        dataset = ImageFolderDataset(class_folder, 4, cache_dir=tmp_path / "cache")
    assert len(dataset) == 4 and list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(resolution=48), ValueError, "resolution a power of two >= 4, got 48"),
        (dict(resolution=2), ValueError, "resolution a power of two >= 4, got 2"),
        (dict(resolution=8.0), TypeError, "resolution to be an int .* got float"),
        (dict(resolution=8, channels=2), ValueError, "channels 1, 3 or None, got 2"),
        (dict(resolution=8, channels=4), ValueError, "channels 1, 3 or None, got 4"),
    ],
)
def test_bad_arguments(class_folder, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        ImageFolderDataset(class_folder, cache_dir=tmp_path, **kwargs)
