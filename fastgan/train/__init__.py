"""Training: configuration and presets, the trainer (StyleGAN2's schedule with lazy R1 and
path-length regularisation, EMA, DiffAugment, torchrun), and the `fastgan train | generate`
commands."""

from fastgan.train.augment import diff_augment
from fastgan.train.config import PRESETS, TrainConfig, make_config
from fastgan.train.loop import Trainer, TrainingError

__all__ = ["PRESETS", "TrainConfig", "Trainer", "TrainingError", "diff_augment", "make_config"]
