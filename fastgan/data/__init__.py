"""Datasets: the bundled handwritten digits, procedural shapes, folders and zips of images, and an
endless sharded loader. `open_dataset(name_or_path, resolution)` opens any of them."""

from fastgan.data.digits import DIGITS_CLASSES, digits_split, load_digits
from fastgan.data.folder import IMAGE_EXTENSIONS, ImageFolderDataset, default_cache_dir
from fastgan.data.images import ImageDataset
from fastgan.data.loader import BUILTIN_DATASETS, InfiniteSampler, infinite_loader, open_dataset
from fastgan.data.shapes import SHAPE_KINDS, ShapesDataset, make_shapes

__all__ = [
    "BUILTIN_DATASETS",
    "DIGITS_CLASSES",
    "IMAGE_EXTENSIONS",
    "SHAPE_KINDS",
    "ImageDataset",
    "ImageFolderDataset",
    "InfiniteSampler",
    "ShapesDataset",
    "default_cache_dir",
    "digits_split",
    "infinite_loader",
    "load_digits",
    "make_shapes",
    "open_dataset",
]
