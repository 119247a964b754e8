"""Sample-quality metrics: FID, KID, Inception Score, precision / recall, and for the bundled
digits the accuracy of conditional samples and mode coverage.

- the metrics on features: :func:`frechet_distance` / :func:`feature_statistics`,
  :func:`kernel_inception_distance`, :func:`inception_score`, :func:`precision_recall`;
- the feature extractors: the FID Inception network (:func:`load_inception`, weights from a local
  file) and the digits classifier (:func:`load_digits_classifier`, shipped weights);
- end to end: :func:`compute_metrics` (images in memory, .npz / .pt files, folders) and
  :func:`evaluate_generator` (the trainer's hook), with real statistics cached on disk.
"""

from fastgan.metrics.cache import RealStatistics, default_cache_dir, real_statistics
from fastgan.metrics.digits_classifier import DigitsClassifier, load_digits_classifier
from fastgan.metrics.evaluate import (
    DEFAULT_METRICS,
    METRICS,
    compute_metrics,
    evaluate_generator,
    metrics_from_features,
    parse_metrics,
)
from fastgan.metrics.extractors import EXTRACTORS, FeatureExtractor, load_extractor
from fastgan.metrics.frechet import feature_statistics, frechet_distance
from fastgan.metrics.images import FolderImages, ImageSet, TensorImages, load_image_set
from fastgan.metrics.inception import InceptionV3FID, load_inception
from fastgan.metrics.inception_score import inception_score
from fastgan.metrics.kid import kernel_inception_distance, mmd2_unbiased
from fastgan.metrics.precision_recall import knn_radii, precision_recall

__all__ = [
    "DEFAULT_METRICS",
    "EXTRACTORS",
    "METRICS",
    "DigitsClassifier",
    "FeatureExtractor",
    "FolderImages",
    "ImageSet",
    "InceptionV3FID",
    "RealStatistics",
    "TensorImages",
    "compute_metrics",
    "default_cache_dir",
    "evaluate_generator",
    "feature_statistics",
    "frechet_distance",
    "inception_score",
    "kernel_inception_distance",
    "knn_radii",
    "load_digits_classifier",
    "load_extractor",
    "load_image_set",
    "load_inception",
    "metrics_from_features",
    "mmd2_unbiased",
    "parse_metrics",
    "precision_recall",
    "real_statistics",
]
