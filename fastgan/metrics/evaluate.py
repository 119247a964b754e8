"""Metrics of a set of generated images, or of a generator, against a real dataset.

``compute_metrics`` evaluates images (a tensor, a .npz / .pt file or a folder);
``evaluate_generator`` is the hook the trainer calls: it draws the images from a callable, split
across processes under torch.distributed. Both extract features with one extractor
('inception' or 'digits'), take the real statistics from the cache (fastgan.metrics.cache) when it
holds them, and return a dict of plain Python numbers:

| metric  | keys                                               |
|---------|----------------------------------------------------|
| `fid`   | fid                                                |
| `kid`   | kid, kid_std                                       |
| `is`    | is, is_std                                         |
| `pr`    | precision, recall                                  |
| `acc`   | accuracy (needs the requested class of each image) |
| `modes` | modes_covered, class_entropy, class_histogram      |

plus num_fake, num_real and extractor.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from fastgan.data.digits import load_digits
from fastgan.metrics._checks import check_int
from fastgan.metrics.cache import RealStatistics, real_statistics
from fastgan.metrics.extractors import FeatureExtractor, load_extractor
from fastgan.metrics.frechet import feature_statistics, frechet_distance
from fastgan.metrics.images import ImageSet, TensorImages, check_labels, load_image_set
from fastgan.metrics.inception_score import inception_score
from fastgan.metrics.kid import kernel_inception_distance
from fastgan.metrics.precision_recall import precision_recall

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "compute_metrics",
    "evaluate_generator",
    "metrics_from_features",
    "parse_metrics",
]

METRICS = ("fid", "kid", "is", "pr", "acc", "modes")
DEFAULT_METRICS = ("fid", "kid", "is", "pr")
# Metrics that need the real features themselves, not only their mean and covariance.
_NEED_REAL_FEATURES = ("kid", "pr")
_NEED_REAL = ("fid", "kid", "pr")
# The resolution of the bundled digits when the fake images' own is not a power of two >= 8.
_DIGITS_DEFAULT_RESOLUTION = 32

RealArg = str | os.PathLike | torch.Tensor | np.ndarray | ImageSet | RealStatistics
ExtractorArg = str | FeatureExtractor


def parse_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """Metric names from 'fid,kid' or ['fid', 'kid'], each in METRICS, without repeats."""
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(
            f"fastgan.metrics: expected metrics from {', '.join(METRICS)}, got "
            f"{', '.join(unknown) if unknown else 'none'}"
        )
    return tuple(dict.fromkeys(names))


def _class_histogram_stats(predicted: torch.Tensor, num_classes: int) -> dict[str, object]:
    histogram = torch.bincount(predicted.cpu(), minlength=num_classes)
    p = histogram.double() / histogram.sum()
    return {
        "modes_covered": int((histogram > 0).sum()),
        "class_entropy": float(-torch.xlogy(p, p).sum()) + 0.0,  # + 0.0: no -0.0
        "class_histogram": histogram.tolist(),
    }


def metrics_from_features(
    fake_features: torch.Tensor,
    fake_logits: torch.Tensor,
    real: RealStatistics | None,
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    fake_labels: torch.Tensor | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    is_splits: int = 10,
    pr_k: int = 3,
    pr_block_size: int = 1024,
    seed: int = 0,
) -> dict[str, object]:
    """The metrics (module docstring) from fake features [N, D] and logits [N, C] and the real
    statistics (None when only 'is', 'acc', 'modes' are asked for).

    fid: Fréchet distance of the features; kid: KID over kid_subsets subsets of kid_subset_size
    (seeded with `seed`); is: Inception Score of softmax(logits) over is_splits parts; pr:
    precision / recall with k = pr_k; acc: fraction with argmax(logits) == fake_labels; modes:
    classes predicted at least once, entropy (nats) of the predicted-class histogram.
    """
    names = parse_metrics(metrics)
    needs_real = [m for m in names if m in _NEED_REAL]
    if needs_real and real is None:
        raise ValueError(
            f"metrics_from_features: expected real statistics for {', '.join(needs_real)}, got None"
        )
    needs_features = [m for m in names if m in _NEED_REAL_FEATURES]
    if needs_features and real is not None and real.features is None:
        raise ValueError(
            f"fastgan.metrics: {', '.join(needs_features)} need the real features, but the real "
            f"data {real.description!r} holds only mu and sigma (serves 'fid' only)"
        )
    if real is not None and real.mu.shape[0] != fake_features.shape[1]:
        raise ValueError(
            f"fastgan.metrics: expected real statistics of {fake_features.shape[1]} features (the "
            f"extractor's), got {real.mu.shape[0]} in {real.description!r}"
        )
    results: dict[str, object] = {}
    if "fid" in names:
        mu, sigma = feature_statistics(fake_features)
        results["fid"] = frechet_distance(real.mu, real.sigma, mu.cpu(), sigma.cpu())
    if "kid" in names:
        generator = torch.Generator().manual_seed(seed)
        mean, std = kernel_inception_distance(
            real.features, fake_features, kid_subsets, kid_subset_size, generator
        )
        results["kid"], results["kid_std"] = mean, std
    if "is" in names:
        mean, std = inception_score(fake_logits, splits=is_splits, from_logits=True)
        results["is"], results["is_std"] = mean, std
    if "pr" in names:
        precision, recall = precision_recall(real.features, fake_features, pr_k, pr_block_size)
        results["precision"], results["recall"] = precision, recall
    predicted = fake_logits.argmax(dim=1)
    if "acc" in names:
        if fake_labels is None:
            raise ValueError(
                "fastgan.metrics: expected the requested class of each fake image for 'acc' "
                "(labels in the .npz / .pt file, fake_labels= or class_labels=), got none"
            )
        labels = fake_labels.to(predicted.device)
        if labels.shape != predicted.shape:
            raise ValueError(
                f"fastgan.metrics: expected fake labels of shape [{predicted.shape[0]}], "
                f"got shape {list(labels.shape)}"
            )
        results["accuracy"] = float((predicted == labels).double().mean())
    if "modes" in names:
        results.update(_class_histogram_stats(predicted, fake_logits.shape[1]))
    results["num_fake"] = int(fake_features.shape[0])
    if real is not None and real.num > 0:
        results["num_real"] = int(real.num)
    return results


def _real_images(real: RealArg, resolution: tuple[int, int]) -> ImageSet | RealStatistics:
    if isinstance(real, (ImageSet, RealStatistics)):
        return real
    if isinstance(real, (torch.Tensor, np.ndarray)):
        return TensorImages(real, description="real images")
    if isinstance(real, str) and real == "digits":
        size = resolution[0]
        if resolution[0] != resolution[1] or size < 8 or size & (size - 1):
            size = _DIGITS_DEFAULT_RESOLUTION
        images, labels = load_digits(size)
        return TensorImages(images, labels, description=f"digits ({size}x{size})")
    if isinstance(real, (str, os.PathLike)):
        path = os.fspath(real)
        if path.lower().endswith(".npz") and os.path.isfile(path):
            with np.load(path, allow_pickle=False) as data:
                if "mu" in data and "sigma" in data:
                    mu = torch.from_numpy(data["mu"]).to(torch.float64)
                    sigma = torch.from_numpy(data["sigma"]).to(torch.float64)
                    return RealStatistics(mu, sigma, 0, None, description=path)
        return load_image_set(path)
    raise TypeError(
        f"fastgan.metrics: expected real to be 'digits', a path, a tensor of images or "
        f"RealStatistics, got {type(real).__name__}"
    )


@dataclass
class _Options:
    """The keyword options shared by compute_metrics and evaluate_generator."""

    inception_weights: str | os.PathLike | None
    device: torch.device | str | None
    amp: bool | None
    cache_dir: str | None
    use_cache: bool
    progress: bool
    kid_subsets: int
    kid_subset_size: int
    is_splits: int
    pr_k: int
    pr_block_size: int
    seed: int

    def metric_options(self) -> dict[str, int]:
        return {
            "kid_subsets": self.kid_subsets,
            "kid_subset_size": self.kid_subset_size,
            "is_splits": self.is_splits,
            "pr_k": self.pr_k,
            "pr_block_size": self.pr_block_size,
            "seed": self.seed,
        }

    def extractor(self, extractor: ExtractorArg) -> FeatureExtractor:
        if isinstance(extractor, FeatureExtractor):
            return extractor
        if not isinstance(extractor, str):
            raise TypeError(
                f"fastgan.metrics: expected extractor to be a name or a FeatureExtractor, "
                f"got {type(extractor).__name__}"
            )
        return load_extractor(extractor, self.inception_weights, self.device, self.amp)


def _evaluate(
    fake_features: torch.Tensor,
    fake_logits: torch.Tensor,
    fake_labels: torch.Tensor | None,
    resolution: tuple[int, int],
    real: RealArg,
    names: tuple[str, ...],
    extractor: FeatureExtractor,
    batch: int,
    options: _Options,
) -> dict[str, object]:
    real_stats = None
    if any(m in _NEED_REAL for m in names):
        source = _real_images(real, resolution)
        if isinstance(source, RealStatistics):
            real_stats = source
        else:
            real_stats = real_statistics(
                source,
                extractor,
                need_features=any(m in _NEED_REAL_FEATURES for m in names),
                cache_dir=options.cache_dir,
                use_cache=options.use_cache,
                batch_size=batch,
                progress=options.progress,
            )
    results = metrics_from_features(
        fake_features, fake_logits, real_stats, names, fake_labels, **options.metric_options()
    )
    results["extractor"] = extractor.name
    return results


def compute_metrics(
    fake: str | os.PathLike | torch.Tensor | np.ndarray | ImageSet,
    real: RealArg = "digits",
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    extractor: ExtractorArg = "inception",
    *,
    fake_labels: torch.Tensor | np.ndarray | Sequence[int] | None = None,
    batch: int = 64,
    inception_weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    cache_dir: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    is_splits: int = 10,
    pr_k: int = 3,
    pr_block_size: int = 1024,
    seed: int = 0,
) -> dict[str, object]:
    """Metrics of the images `fake` against `real` (module docstring for the keys).

    fake: a .npz / .pt file or folder of images (fastgan.metrics.images), a tensor [N, C, H, W]
    (uint8 in [0, 255] or float in [-1, 1]) or an ImageSet; fake_labels: the requested class of
    each image, for 'acc' (default: the file's labels). real: 'digits' (the bundled digits at the
    fake images' resolution when a power of two >= 8, else 32), a path or tensor of images, or a
    .npz with mu and sigma (FID only). extractor: 'inception' (weights from inception_weights or
    $FASTGAN_INCEPTION_WEIGHTS), 'digits', or a loaded FeatureExtractor. batch: images per
    forward pass (default 64); device: default cuda when available; amp: float16 autocast
    (default: on with CUDA). Real statistics are cached (fastgan.metrics.cache, in cache_dir)
    unless use_cache=False; a progress bar on stderr unless progress=False. kid_subsets,
    kid_subset_size, is_splits, pr_k, pr_block_size, seed: see :func:`metrics_from_features`.
    """
    options = _Options(
        inception_weights,
        device,
        amp,
        cache_dir,
        use_cache,
        progress,
        kid_subsets,
        kid_subset_size,
        is_splits,
        pr_k,
        pr_block_size,
        seed,
    )
    names = parse_metrics(metrics)
    batch = check_int(batch, "batch", "compute_metrics")
    if isinstance(fake, ImageSet):
        fake_set = fake
    elif isinstance(fake, (torch.Tensor, np.ndarray)):
        fake_set = TensorImages(fake, description="fake images")
    else:
        fake_set = load_image_set(fake)
    labels = fake_set.labels
    if fake_labels is not None:
        labels = check_labels(fake_labels, len(fake_set), fake_set.description)
    feature_extractor = options.extractor(extractor)
    features, logits = feature_extractor.extract(
        fake_set.batches(batch), len(fake_set), "fake images", progress
    )
    return _evaluate(
        features,
        logits,
        labels,
        fake_set.resolution,
        real,
        names,
        feature_extractor,
        batch,
        options,
    )


def _class_labels(class_labels: object, num: int) -> torch.Tensor | None:
    if class_labels is None:
        return None
    if isinstance(class_labels, (int, np.integer)) and not isinstance(class_labels, bool):
        if class_labels < 1:
            raise ValueError(
                f"evaluate_generator: expected class_labels (as a number of classes) >= 1, "
                f"got {class_labels}"
            )
        return torch.arange(num) % int(class_labels)
    return check_labels(class_labels, num, "the generated images (class_labels)")


def _gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenation in rank order of the equally shaped t of every process."""
    if dist.get_backend() == "nccl":
        t = t.cuda()
    elif t.device.type != "cpu":
        t = t.cpu()
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def evaluate_generator(
    generate_fn: Callable[[int, torch.Tensor | None], torch.Tensor],
    num: int,
    real: RealArg = "digits",
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    extractor: ExtractorArg = "inception",
    batch: int = 64,
    class_labels: int | Sequence[int] | torch.Tensor | None = None,
    *,
    inception_weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    cache_dir: str | None = None,
    use_cache: bool = True,
    progress: bool = True,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    is_splits: int = 10,
    pr_k: int = 3,
    pr_block_size: int = 1024,
    seed: int = 0,
) -> dict[str, object] | None:
    """Metrics of `num` images drawn from a generator: the hook the trainer calls.

    generate_fn(batch_size, labels) -> images [batch_size, C, H, W] (C 1 or 3), floating point in
    [-1, 1] (clamped), called under torch.no_grad. labels: int64 [batch_size] on the extractor's
    device, the classes to draw, or None for an unconditional generator. generate_fn draws its
    own latents, and must draw different ones on every process.

    class_labels: None; a number of classes C (image i is asked for class i % C, balanced); or
    `num` labels. With labels, 'acc' (the fraction recognised as their requested class) can be
    asked for. real, metrics, extractor and the keyword options: as in :func:`compute_metrics`;
    batch: images per call of generate_fn and per forward pass (default 64).

    With torch.distributed initialised (W processes), process r generates the images
    r*ceil(num/W) ... (r+1)*ceil(num/W) - 1 (labels wrap around past num), the features are
    gathered (all_gather) and rank 0 computes the metrics, reads or writes the cache and returns
    the dict; the other ranks return None once their share is gathered. Every rank must call it.
    Without torch.distributed it returns the dict.
    """
    op = "evaluate_generator"
    options = _Options(
        inception_weights,
        device,
        amp,
        cache_dir,
        use_cache,
        progress,
        kid_subsets,
        kid_subset_size,
        is_splits,
        pr_k,
        pr_block_size,
        seed,
    )
    if not callable(generate_fn):
        raise TypeError(
            f"{op}: expected generate_fn to be callable, got {type(generate_fn).__name__}"
        )
    num = check_int(num, "num", op, minimum=2)
    batch = check_int(batch, "batch", op)
    names = parse_metrics(metrics)
    labels_all = _class_labels(class_labels, num)
    feature_extractor = options.extractor(extractor)
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    per_rank = math.ceil(num / world)
    indices = torch.arange(rank * per_rank, (rank + 1) * per_rank) % num
    resolution: list[tuple[int, int]] = []

    def batches() -> Iterator[torch.Tensor]:
        for start in range(0, per_rank, batch):
            idx = indices[start : start + batch]
            labels = None
            if labels_all is not None:
                labels = labels_all[idx].to(feature_extractor.device)
            with torch.no_grad():
                images = generate_fn(len(idx), labels)
            if not isinstance(images, torch.Tensor):
                raise TypeError(
                    f"{op}: expected generate_fn to return a torch.Tensor, "
                    f"got {type(images).__name__}"
                )
            if images.ndim != 4 or images.shape[0] != len(idx) or images.shape[1] not in (1, 3):
                raise ValueError(
                    f"{op}: expected generate_fn({len(idx)}, labels) to return images of shape "
                    f"[{len(idx)}, 1 or 3, H, W], got shape {list(images.shape)}"
                )
            if not images.is_floating_point():
                raise TypeError(
                    f"{op}: expected generate_fn to return floating-point images in [-1, 1], "
                    f"got {images.dtype}"
                )
            resolution.append((int(images.shape[2]), int(images.shape[3])))
            yield images.detach()

    features, logits = feature_extractor.extract(
        batches(), per_rank, "generated images", progress and rank == 0
    )
    if distributed:
        features, logits = _gather(features)[:num], _gather(logits)[:num]
        if rank != 0:
            return None
        features = features.to(feature_extractor.device)
        logits = logits.to(feature_extractor.device)
    fake_labels = labels_all.to(feature_extractor.device) if labels_all is not None else None
    return _evaluate(
        features,
        logits,
        fake_labels,
        resolution[0],
        real,
        names,
        feature_extractor,
        batch,
        options,
    )
