"""`ImageFolderDataset`: the images of a folder or a ``.zip``, decoded and resized once, cached.

- Files: ``.png``, ``.jpg``/``.jpeg`` and ``.webp`` (any case) at any depth; names starting with
  ``.`` and ``__MACOSX`` folders are ignored; the dataset's order is the sorted paths. The root is
  the deepest folder that holds every image and ``dataset.json`` (a folder or zip that holds just
  one folder reads as that folder).
- Pixels: JPEG EXIF orientation applied; greyscale, palette, CMYK and 16-bit images converted to
  ``channels`` (1: L, 3: RGB; ``None``: 1 when every image is greyscale, else 3); transparent
  images (RGBA, LA, palette or tRNS transparency) are composited on black; 16-bit greyscale is
  scaled to 8 bits (v / 257). Then a centre crop to a square and one PIL LANCZOS resize to
  ``resolution``.
- Labels: a ``dataset.json`` at the root, ``{"labels": [["relative/path.png", 3], ...]}`` (the
  StyleGAN convention; or a ``{path: class}`` object; ``null`` for none), decides; without it,
  when every image lies in a sub-folder of the root, the class is the index of its sub-folder in
  the sorted names; otherwise the dataset is unconditional (``num_classes`` 0, labels -1).
- Cache: ``<cache_dir>/<name>-<R>px-<channels>-<key>.pt`` holds the uint8 ``[N, C, R, R]``
  images and the labels, written atomically (temporary file, fsync, rename) and read back with
  ``torch.load(weights_only=True, mmap=True)``. The key hashes the resolution, the requested
  channels and, for a folder, every image's path, size and modification time; for a zip, every
  member's name, size and CRC-32 (the hash of its content the zip records). ``cache_dir``
  defaults to ``$FASTGAN_CACHE``, else ``~/.cache/fastgan``.
- A file that cannot be decoded raises a ValueError naming it; with ``skip_bad=True`` it is left
  out instead, counted in ``skipped`` (names in ``skipped_files``) and reported in one warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import KeysView
from concurrent.futures import ThreadPoolExecutor
from typing import IO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from fastgan.data.images import ImageDataset, check_channels, check_resolution

__all__ = ["IMAGE_EXTENSIONS", "ImageFolderDataset", "default_cache_dir"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
LABELS_FILE = "dataset.json"

# Bumped whenever the decoding or the cache layout changes, so that old cache files are not used.
_CACHE_VERSION = 1
_GREYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Files read, then decoded by the thread pool, at a time.
_BATCH = 64


def default_cache_dir() -> str:
    """Where decoded datasets are cached: ``$FASTGAN_CACHE`` if set, else ``~/.cache/fastgan``."""
    return os.environ.get("FASTGAN_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "fastgan"
    )


def _ignored(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


class _Folder:
    """The files of a folder, by relative path with '/' separators."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stats: dict[str, tuple[int, int]] = {}
        self._scan(path, "")

    def _scan(self, directory: str, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = prefix + entry.name
                if _ignored(entry.name):
                    continue
                if entry.is_dir():
                    self._scan(entry.path, name + "/")
                elif entry.is_file():
                    stat = entry.stat()
                    self.stats[name] = (stat.st_size, stat.st_mtime_ns)

    @property
    def names(self) -> KeysView[str]:
        return self.stats.keys()

    def fingerprint(self, names: list[str]) -> str:
        return "\n".join(f"{n}\0{self.stats[n][0]}\0{self.stats[n][1]}" for n in names)

    def where(self, name: str) -> str:
        return os.path.join(self.path, *name.split("/"))

    def read(self, name: str) -> bytes:
        with open(self.where(name), "rb") as file:
            return file.read()

    def open(self, name: str) -> IO[bytes]:
        return open(self.where(name), "rb")

    def close(self) -> None:
        pass


class _Zip:
    """The members of a zip file."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise ValueError(f"ImageFolderDataset: cannot open zip file {path}: {error}") from error
        self.infos = {
            info.filename: info
            for info in self.zip.infolist()
            if not info.is_dir() and not _ignored(info.filename)
        }

    @property
    def names(self) -> KeysView[str]:
        return self.infos.keys()

    def fingerprint(self, names: list[str]) -> str:
        return "\n".join(f"{n}\0{self.infos[n].file_size}\0{self.infos[n].CRC:08x}" for n in names)

    def where(self, name: str) -> str:
        return f"{name} (in {self.path})"

    def read(self, name: str) -> bytes:
        return self.zip.read(name)

    def open(self, name: str) -> IO[bytes]:
        return self.zip.open(name)

    def close(self) -> None:
        self.zip.close()


def _root(names: list[str]) -> str:
    """The deepest folder prefix ('' or ending in '/') that holds every name and is not just a
    single sub-folder's parent."""
    prefix = ""
    while True:
        rest = [n[len(prefix) :] for n in names]
        if not rest or any("/" not in r for r in rest):
            return prefix
        tops = {r.split("/", 1)[0] for r in rest}
        if len(tops) != 1:
            return prefix
        prefix += tops.pop() + "/"


def _to_mode(image: Image.Image, mode: str) -> Image.Image:
    """`image` in PIL mode 'L' or 'RGB': transparency composited on black, 16 bits scaled to 8."""
    if image.mode in _SIXTEEN_BIT_MODES:
        # PIL's own conversion to 'L' clips 16-bit values at 255 instead of scaling them.
        values = np.asarray(image).astype(np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return image if image.mode == mode else image.convert(mode)


def _decode(data: bytes, resolution: int, channels: int) -> np.ndarray:
    """One image file's bytes as uint8 [channels, resolution, resolution]: converted, centre
    cropped to a square, resized with LANCZOS."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        image = _to_mode(ImageOps.exif_transpose(opened), "L" if channels == 1 else "RGB")
    width, height = image.size
    side = min(width, height)
    if width != height:
        # Cropped before resizing: resize(box=...) would blend in pixels from outside the box.
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if side != resolution:
        image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _decode_or_error(
    data: bytes | Exception, resolution: int, channels: int
) -> np.ndarray | Exception:
    if isinstance(data, Exception):
        return data
    try:
        return _decode(data, resolution, channels)
    except Exception as error:  # any decoder failure is this file's fault: report it by name
        return error


def _is_greyscale(source: _Folder | _Zip, name: str) -> bool:
    """Whether the image's mode is greyscale, from its header only; False if it cannot be read
    (the decoding pass reports it)."""
    try:
        with source.open(name) as file, Image.open(file) as image:
            return image.mode in _GREYSCALE_MODES
    except Exception:
        return False


def _labels(
    source: _Folder | _Zip, root: str, images: list[str]
) -> tuple[list[int] | None, tuple[str, ...] | None]:
    """Class index per image (or None) and class names (or None), from dataset.json at the root,
    else from the sub-folders of the root."""
    json_name = root + LABELS_FILE
    if json_name in source.names:
        where = source.where(json_name)
        try:
            spec = json.loads(source.read(json_name)).get("labels")
        except (OSError, ValueError, AttributeError) as error:
            raise ValueError(
                f"ImageFolderDataset: cannot read {where}: expected JSON of the form "
                f'{{"labels": [["relative/path.png", 3], ...]}}; {error}'
            ) from error
        if spec is None:
            return None, None
        try:
            pairs = spec.items() if isinstance(spec, dict) else spec
            table = {str(path).replace("\\", "/"): label for path, label in pairs}
        except (TypeError, ValueError) as error:
            raise ValueError(
                f'ImageFolderDataset: {where}: expected "labels" a list of [path, class index] '
                f"pairs; {error}"
            ) from error
        labels = []
        for name in images:
            label = table.get(name[len(root) :])
            if label is None:
                missing = sum(name[len(root) :] not in table for name in images)
                raise ValueError(
                    f"ImageFolderDataset: {where} gives no label for {name[len(root) :]!r} "
                    f"({missing} of {len(images)} images have none)"
                )
            if isinstance(label, bool) or not isinstance(label, int) or label < 0:
                raise ValueError(
                    f"ImageFolderDataset: {where}: expected an integer class index >= 0 for "
                    f"{name[len(root) :]!r}, got {label!r}"
                )
            labels.append(label)
        return labels, None
    rest = [name[len(root) :] for name in images]
    if all("/" in r for r in rest):
        classes = sorted({r.split("/", 1)[0] for r in rest})
        index = {c: i for i, c in enumerate(classes)}
        return [index[r.split("/", 1)[0]] for r in rest], tuple(classes)
    return None, None


def _save_atomic(contents: dict, path: str) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over `path`, so that
    readers see the old file or the whole new one, never a partial one."""
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(contents, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class ImageFolderDataset(ImageDataset):
    """The images of a folder or a ``.zip`` file at one square resolution (see the module's
    docstring for the files, conversions, labels and cache).

    Args:
        path: a folder, or a ``.zip`` file.
        resolution: side of the square images, a power of two >= 4.
        channels: 1 (greyscale), 3 (RGB), or None: 1 when every image is greyscale, else 3.
        xflip: random horizontal flip of each image read, with probability 0.5.
        skip_bad: leave out files that cannot be decoded (counted in ``skipped``) instead of
            raising a ValueError that names the first one.
        cache_dir: folder of the cache files; None: :func:`default_cache_dir`.

    Attributes beyond :class:`~fastgan.data.images.ImageDataset`'s: ``path``, ``files`` (the
    images' paths inside the folder or zip, in dataset order), ``skipped``, ``skipped_files``,
    ``cache_path`` and ``from_cache`` (whether this open read the cache instead of decoding).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        resolution: int,
        channels: int | None = None,
        xflip: bool = False,
        skip_bad: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        resolution = check_resolution(resolution, "ImageFolderDataset")
        channels = check_channels(channels, "ImageFolderDataset", allow_none=True)
        path = os.fspath(path)
        if os.path.isdir(path):
            source: _Folder | _Zip = _Folder(path)
        elif os.path.isfile(path):
            source = _Zip(path)
        else:
            raise FileNotFoundError(
                f"ImageFolderDataset: expected path a folder or a .zip file, got {path!r} "
                "(no such file or folder)"
            )
        try:
            contents = self._open(source, resolution, channels, skip_bad, cache_dir)
        finally:
            source.close()

        skipped = [(str(name), str(message)) for name, message in contents["skipped"]]
        if skipped and not skip_bad:
            raise ValueError(skipped[0][1])
        self.path = path
        self.files: list[str] = list(contents["files"])
        self.skipped = len(skipped)
        self.skipped_files = [name for name, _ in skipped]
        if skipped:
            shown = ", ".join(self.skipped_files[:5]) + (", ..." if len(skipped) > 5 else "")
            warnings.warn(
                f"ImageFolderDataset: skipped {len(skipped)} of {len(skipped) + len(self.files)} "
                f"images of {path} that could not be decoded: {shown}",
                stacklevel=2,
            )
        class_names = contents["class_names"]
        super().__init__(
            contents["images"],
            contents["labels"],
            num_classes=int(contents["num_classes"]),
            xflip=xflip,
            name=os.path.basename(os.path.normpath(path)),
            class_names=tuple(class_names) if class_names is not None else None,
        )

    def _open(
        self,
        source: _Folder | _Zip,
        resolution: int,
        channels: int | None,
        skip_bad: bool,
        cache_dir: str | os.PathLike[str] | None,
    ) -> dict:
        """The cache file's contents: read from the cache, else decoded and written to it."""
        where = source.path
        images = sorted(n for n in source.names if _is_image(n))
        root = _root(images + [n for n in source.names if n.rsplit("/", 1)[-1] == LABELS_FILE])
        if not images:
            raise ValueError(
                f"ImageFolderDataset: no images ({', '.join(IMAGE_EXTENSIONS)}) in {where}"
            )
        keyed = images + ([root + LABELS_FILE] if root + LABELS_FILE in source.names else [])
        key = hashlib.sha256(
            f"fastgan-{_CACHE_VERSION}\0{type(source).__name__}\0{resolution}\0{channels}\n"
            f"{source.fingerprint(keyed)}".encode()
        ).hexdigest()[:20]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(os.path.normpath(where)))
        directory = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
        kind = {None: "auto", 1: "L", 3: "RGB"}[channels]
        self.cache_path = os.path.join(directory, f"{stem}-{resolution}px-{kind}-{key}.pt")
        self.from_cache = False

        if os.path.isfile(self.cache_path):
            try:
                contents = torch.load(self.cache_path, weights_only=True, mmap=True)
                if contents.get("version") == _CACHE_VERSION:
                    self.from_cache = True
                    return contents
            except Exception as error:  # a cache we cannot read is rebuilt, not fatal
                warnings.warn(
                    f"ImageFolderDataset: ignoring unreadable cache {self.cache_path}: {error}",
                    stacklevel=3,
                )

        labels, class_names = _labels(source, root, images)
        if channels is None:
            channels = 1 if all(_is_greyscale(source, n) for n in images) else 3
        decoded = torch.empty((len(images), channels, resolution, resolution), dtype=torch.uint8)
        kept: list[int] = []
        skipped: list[list[str]] = []
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for start in range(0, len(images), _BATCH):
                batch = range(start, min(len(images), start + _BATCH))
                data: list[bytes | Exception] = []
                for i in batch:
                    try:
                        data.append(source.read(images[i]))
                    except Exception as error:  # unreadable (permissions, bad zip CRC, ...)
                        data.append(error)
                results = pool.map(
                    _decode_or_error, data, [resolution] * len(data), [channels] * len(data)
                )
                for i, result in zip(batch, results, strict=True):
                    if isinstance(result, Exception):
                        detail = (
                            "not an image format PIL can identify (corrupt or not an image)"
                            if isinstance(result, UnidentifiedImageError)
                            else f"{type(result).__name__}: {result}"
                        )
                        message = (
                            f"ImageFolderDataset: cannot decode image {source.where(images[i])}: "
                            f"{detail}"
                        )
                        if not skip_bad:
                            raise ValueError(message) from result
                        skipped.append([images[i], message])
                        continue
                    decoded[len(kept)].numpy()[...] = result
                    kept.append(i)
        if not kept:
            raise ValueError(
                f"ImageFolderDataset: none of the {len(images)} images in {where} could be "
                f"decoded; the first: {skipped[0][1]}"
            )
        num_classes = max(labels) + 1 if labels is not None else 0
        contents = {
            "version": _CACHE_VERSION,
            "images": decoded[: len(kept)].clone() if skipped else decoded,
            "labels": (
                torch.tensor([labels[i] for i in kept], dtype=torch.int64)
                if labels is not None
                else None
            ),
            "num_classes": num_classes,
            "class_names": list(class_names) if class_names is not None else None,
            "files": [images[i] for i in kept],
            "skipped": skipped,
        }
        try:
            os.makedirs(directory, exist_ok=True)
            _save_atomic(contents, self.cache_path)
        except OSError as error:
            warnings.warn(
                f"ImageFolderDataset: cannot write the cache {self.cache_path} ({error}); "
                "the images will be decoded again next time",
                stacklevel=3,
            )
        return contents
