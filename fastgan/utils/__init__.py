"""I/O for the trainer: TensorBoard event files, image grids and PNGs, atomic checkpoints with RNG
state, and a progress bar, with no dependency beyond torch, numpy and Pillow."""

from fastgan.utils.atomic import atomic_write
from fastgan.utils.checkpoint import (
    CHECKPOINT_FORMAT,
    SNAPSHOT_PATTERN,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    resolve_resume,
    rng_state,
    save_checkpoint,
    set_rng_state,
    snapshot_path,
)
from fastgan.utils.images import encode_png, image_grid, save_image_grid, save_png, to_uint8_image
from fastgan.utils.progress import Progress, format_duration
from fastgan.utils.tensorboard import EventWriter, crc32c, masked_crc32c, read_events

__all__ = [
    "CHECKPOINT_FORMAT",
    "SNAPSHOT_PATTERN",
    "CheckpointError",
    "EventWriter",
    "Progress",
    "atomic_write",
    "crc32c",
    "encode_png",
    "format_duration",
    "image_grid",
    "list_checkpoints",
    "load_checkpoint",
    "masked_crc32c",
    "prune_checkpoints",
    "read_events",
    "resolve_resume",
    "rng_state",
    "save_checkpoint",
    "save_image_grid",
    "save_png",
    "set_rng_state",
    "snapshot_path",
    "to_uint8_image",
]
