"""The cache of real-data statistics: the features of a real dataset are extracted once per
(dataset content, extractor) and kept on disk.

Directory: `cache_dir`, else $FASTGAN_CACHE, else ~/.cache/fastgan (fastgan.data's cache
directory, which also holds decoded datasets). One file per entry, ``real-<extractor>-<key>.pt``,
where key hashes the dataset's content (SHA-256 of its files or tensor), the extractor's name, its
weights' SHA-256 and its precision (float32 or autocast). It holds mu and sigma (float64) and,
when KID or precision / recall asked for them, the features (float32). Written atomically (a
temporary file in the same directory, then os.replace), read with torch.load(weights_only=True);
an unreadable entry is recomputed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from dataclasses import dataclass

import torch

from fastgan.data.folder import default_cache_dir
from fastgan.metrics.extractors import FeatureExtractor
from fastgan.metrics.frechet import feature_statistics
from fastgan.metrics.images import ImageSet

__all__ = ["RealStatistics", "cache_path", "default_cache_dir", "real_statistics"]

# Bump when what an entry holds, or how features are computed, changes.
CACHE_VERSION = 1


@dataclass
class RealStatistics:
    """Statistics of real features: mu [D] and sigma [D, D] (float64), the number of images, and
    the features [num, D] (float32) when kept."""

    mu: torch.Tensor
    sigma: torch.Tensor
    num: int
    features: torch.Tensor | None = None
    description: str = "real"


def cache_path(images: ImageSet, extractor: FeatureExtractor, cache_dir: str | None) -> str:
    """The cache file of `images` under `extractor`."""
    key = hashlib.sha256(
        f"v{CACHE_VERSION}|{images.content_sha256()}|{extractor.cache_id}|"
        f"{extractor.weights_sha256}".encode()
    ).hexdigest()
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    return os.path.join(directory, f"real-{extractor.name}-{key[:32]}.pt")


def _read(path: str, need_features: bool) -> RealStatistics | None:
    """The entry at path, or None when absent, unreadable or without the features needed."""
    if not os.path.isfile(path):
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        mu, sigma, num = entry["mu"], entry["sigma"], int(entry["num"])
        features = entry.get("features")
        d = mu.shape[0]
        if mu.shape != (d,) or sigma.shape != (d, d) or mu.dtype != torch.float64:
            raise ValueError(f"mu {list(mu.shape)}, sigma {list(sigma.shape)}")
        if features is not None and features.shape != (num, d):
            raise ValueError(f"features {list(features.shape)} for {num} images of {d} features")
    except Exception as error:
        warnings.warn(
            f"fastgan.metrics: ignoring the unreadable cache entry {path} ({error})", stacklevel=3
        )
        return None
    if need_features and features is None:
        return None
    return RealStatistics(mu, sigma, num, features)


def _write(path: str, stats: RealStatistics) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    entry = {"mu": stats.mu.cpu(), "sigma": stats.sigma.cpu(), "num": torch.tensor(stats.num)}
    if stats.features is not None:
        entry["features"] = stats.features.cpu()
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as f:
        temporary = f.name
    try:
        torch.save(entry, temporary)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def real_statistics(
    images: ImageSet,
    extractor: FeatureExtractor,
    need_features: bool = False,
    cache_dir: str | None = None,
    use_cache: bool = True,
    batch_size: int = 64,
    progress: bool = True,
) -> RealStatistics:
    """mu, sigma (and the features when `need_features`) of `images` under `extractor`, from the
    cache when it holds them, else extracted in batches of batch_size and, when `use_cache`,
    stored. Features come back on the extractor's device."""
    path = cache_path(images, extractor, cache_dir) if use_cache else None
    stats = _read(path, need_features) if path is not None else None
    if stats is None:
        features, _ = extractor.extract(
            images.batches(batch_size), len(images), "real images", progress
        )
        mu, sigma = feature_statistics(features)
        stats = RealStatistics(
            mu.cpu(), sigma.cpu(), features.shape[0], features if need_features else None
        )
        if path is not None:
            _write(path, stats)
    if stats.features is not None:
        stats.features = stats.features.to(extractor.device)
    stats.description = images.description
    return stats
