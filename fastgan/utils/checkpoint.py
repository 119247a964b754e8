"""Checkpoints: atomic, finite, loadable with ``torch.load(weights_only=True)``.

- `save_checkpoint` writes a dict of tensors and plain values with ``torch.save`` to a temporary
  file in the same directory, flushes and fsyncs it, renames it onto the final name and fsyncs
  the directory: a crash mid-save leaves the previous checkpoint intact. It adds
  ``"format": "fastgan-checkpoint-v1"``, and refuses a state holding a NaN or Inf in any
  floating tensor (non-finite weights are never snapshotted) or a value that
  ``weights_only=True`` could not load back (numpy arrays, arbitrary objects).
- `load_checkpoint` reads one back; a missing, truncated, corrupt or foreign file raises a
  `CheckpointError` naming the path and what is wrong.
- Snapshots of a run are ``<run_dir>/snapshot-<kimg>.pt`` (e.g. ``snapshot-000120.pt``):
  `list_checkpoints` orders them by kimg, `prune_checkpoints` keeps the newest few,
  `resolve_resume` turns ``"latest"`` or a path into the file to resume from.
- `rng_state` / `set_rng_state` capture and restore every random number generator a training
  process draws from (torch CPU and CUDA, numpy's global generator, Python's `random`), as a dict
  that a checkpoint can hold.
"""

from __future__ import annotations

import os
import random
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastgan.utils.atomic import atomic_write

__all__ = [
    "CHECKPOINT_FORMAT",
    "SNAPSHOT_PATTERN",
    "CheckpointError",
    "list_checkpoints",
    "load_checkpoint",
    "prune_checkpoints",
    "resolve_resume",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "snapshot_path",
]

CHECKPOINT_FORMAT = "fastgan-checkpoint-v1"
_FORMAT_KEY = "format"
_FORMAT_PREFIX = "fastgan-checkpoint-"
SNAPSHOT_PATTERN = "snapshot-*.pt"
# The number a snapshot's name ends with (before the extension): its kimg.
_TRAILING_NUMBER = re.compile(r"(\d+)$")
# What torch.load(weights_only=True) reads back besides tensors: these exact types (subclasses such
# as IntEnum, numpy scalars, defaultdict or namedtuples are pickled by class and refused).
_PLAIN_TYPES = frozenset(
    {str, bytes, int, float, complex, bool, type(None), torch.dtype, torch.device, torch.Size}
)
_MAPPING_TYPES = frozenset({dict, OrderedDict})
_SEQUENCE_TYPES = frozenset({list, tuple, set})


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, truncated, corrupt, or not fastgan's."""


def _check_state(value: Any, where: str) -> None:
    """Raise unless `value` is finite and loadable with weights_only=True; `where` names it."""
    kind = type(value)
    if isinstance(value, torch.Tensor):
        if (value.is_floating_point() or value.is_complex()) and value.numel() > 0:
            values = value.detach()
            finite = torch.isfinite(values.coalesce().values() if values.is_sparse else values)
            if not bool(finite.all()):
                count = int(finite.numel() - finite.sum())
                raise ValueError(
                    f"save_checkpoint: {where} holds {count} non-finite value(s) (NaN or Inf) of "
                    f"{value.numel()}; non-finite weights are never snapshotted"
                )
    elif kind in _MAPPING_TYPES:
        for key, item in value.items():
            if type(key) not in (str, int):
                raise TypeError(
                    f"save_checkpoint: {where} has a key {key!r} of type {type(key).__name__}; "
                    "expected str or int keys"
                )
            _check_state(item, f"{where}[{key!r}]")
    elif kind in _SEQUENCE_TYPES:
        for index, item in enumerate(value):
            _check_state(item, f"{where}[{index}]")
    elif kind not in _PLAIN_TYPES:
        hint = (
            " (convert numpy values with torch.from_numpy or .item())"
            if isinstance(value, (np.ndarray, np.generic))
            else ""
        )
        raise TypeError(
            f"save_checkpoint: {where} is a {kind.__module__}.{kind.__qualname__}, which "
            "torch.load(weights_only=True) cannot read; expected tensors, dicts, lists, tuples, "
            f"str, bytes, int, float, bool or None{hint}"
        )


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Save `state` (a dict of tensors, nested dicts/lists/tuples and plain values) to `path`
    atomically, with ``"format": "fastgan-checkpoint-v1"`` added.

    Raises ValueError naming the entry when a floating tensor anywhere in `state` holds a NaN or
    Inf (plain floats, such as a best-so-far metric of inf, are allowed), and TypeError for a
    value ``torch.load(weights_only=True)`` cannot read; in both cases nothing is written.
    `path`'s directory must exist.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"state: expected a dict, got {type(state).__name__}")
    if _FORMAT_KEY in state and state[_FORMAT_KEY] != CHECKPOINT_FORMAT:
        raise ValueError(
            f"state: the key {_FORMAT_KEY!r} is reserved for {CHECKPOINT_FORMAT!r}, got "
            f"{state[_FORMAT_KEY]!r}"
        )
    payload = {**state, _FORMAT_KEY: CHECKPOINT_FORMAT}
    _check_state(payload, "state")
    with atomic_write(path, sync_directory=True) as file:
        torch.save(payload, file)


def _first_line(error: BaseException, limit: int = 200) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` (``torch.load(weights_only=True)``, tensors
    moved to `map_location`, default CPU) and return its state without the "format" key.

    Raises CheckpointError (a ValueError) naming `path` when the file is missing, not a readable
    torch file (truncated, corrupt), holds objects weights_only refuses, or is not a fastgan
    checkpoint (no ``"format": "fastgan-checkpoint-v1"``).
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise CheckpointError(f"checkpoint {name!r}: no such file")
    if not os.path.isfile(name):
        raise CheckpointError(f"checkpoint {name!r}: not a regular file")
    try:
        state = torch.load(name, map_location=map_location, weights_only=True)
    except Exception as error:  # zip, pickle and EOF errors alike: the file is unusable
        # `from None`: the reader's traceback says nothing about the file that the message does not.
        raise CheckpointError(
            f"checkpoint {name!r}: not a readable torch checkpoint (truncated or corrupt file, "
            f"or objects that weights_only=True refuses): {_first_line(error)}"
        ) from None
    found = state.get(_FORMAT_KEY) if isinstance(state, dict) else None
    if found != CHECKPOINT_FORMAT:
        if isinstance(found, str) and found.startswith(_FORMAT_PREFIX):
            what = (
                f"format {found!r} is not supported by this fastgan (reads {CHECKPOINT_FORMAT!r})"
            )
        elif isinstance(state, dict):
            what = f"not a fastgan checkpoint (no {_FORMAT_KEY!r}: {CHECKPOINT_FORMAT!r} entry)"
        else:
            what = f"not a fastgan checkpoint (holds a {type(state).__name__}, not a dict)"
        raise CheckpointError(f"checkpoint {name!r}: {what}")
    del state[_FORMAT_KEY]
    return state


def snapshot_path(run_dir: str | os.PathLike[str], kimg: int) -> Path:
    """``<run_dir>/snapshot-<kimg, 6 digits>.pt``, the name `list_checkpoints` orders by kimg."""
    if not isinstance(kimg, int) or isinstance(kimg, bool) or kimg < 0:
        raise ValueError(f"kimg: expected an int >= 0, got {kimg!r}")
    return Path(run_dir) / f"snapshot-{kimg:06d}.pt"


def _snapshot_number(path: Path) -> int | None:
    match = _TRAILING_NUMBER.search(path.name.split(".", 1)[0])
    return int(match.group(1)) if match else None


def list_checkpoints(
    run_dir: str | os.PathLike[str], pattern: str = SNAPSHOT_PATTERN
) -> list[Path]:
    """The files in `run_dir` matching `pattern` (default ``snapshot-*.pt``) whose name ends with
    a number before the extension (the kimg: ``snapshot-000120.pt`` -> 120), oldest first
    (sorted by that number, then by name). Matching files without such a number
    (``snapshot-best.pt``) are left out, so that `prune_checkpoints` never deletes them.
    """
    directory = Path(run_dir)
    if not directory.is_dir():
        raise CheckpointError(
            f"run_dir: expected an existing directory, got {os.fspath(run_dir)!r}"
        )
    numbered = []
    for path in directory.glob(pattern):
        number = _snapshot_number(path)
        if number is not None and path.is_file():
            numbered.append((number, path.name, path))
    return [path for _, _, path in sorted(numbered)]


def prune_checkpoints(
    run_dir: str | os.PathLike[str], keep: int, pattern: str = SNAPSHOT_PATTERN
) -> list[Path]:
    """Delete all but the newest `keep` (>= 1) snapshots of `list_checkpoints(run_dir, pattern)`;
    returns the deleted paths, oldest first."""
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ValueError(f"keep: expected an int >= 1, got {keep!r}")
    doomed = list_checkpoints(run_dir, pattern)[:-keep]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def resolve_resume(
    spec: str | os.PathLike[str], run_dir: str | os.PathLike[str], pattern: str = SNAPSHOT_PATTERN
) -> Path:
    """The checkpoint to resume from: for ``"latest"``, the newest snapshot in `run_dir`;
    otherwise `spec` itself, a path to an existing file. Raises CheckpointError when there is
    none."""
    if isinstance(spec, str) and spec == "latest":
        snapshots = list_checkpoints(run_dir, pattern)
        if not snapshots:
            raise CheckpointError(
                f"resume 'latest': no snapshots matching {pattern!r} in {os.fspath(run_dir)!r}"
            )
        return snapshots[-1]
    if not isinstance(spec, (str, os.PathLike)) or not os.fspath(spec):
        raise ValueError(f"spec: expected 'latest' or a checkpoint path, got {spec!r}")
    path = Path(spec)
    if not path.is_file():
        raise CheckpointError(f"resume: checkpoint {os.fspath(spec)!r} does not exist")
    return path


# --- random number generators -------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """The state of every random number generator of this process, in types that
    ``torch.load(weights_only=True)`` accepts:
    ``{"torch": uint8 tensor, "cuda": [uint8 tensor per device], "numpy": {...},
    "python": {...}}``. In a multi-process run every rank has its own.
    """
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "bit_generator": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {
            "version": int(version),
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the generators from a `rng_state` dict. CUDA states are restored for the devices
    present (a checkpoint from a GPU run resumes on a CPU machine without them)."""
    missing = {"torch", "cuda", "numpy", "python"} - set(state)
    if missing:
        raise ValueError(f"state: expected a rng_state() dict, missing keys {sorted(missing)}")
    torch.set_rng_state(state["torch"].cpu())
    if torch.cuda.is_available():
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), device)
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["bit_generator"],
            numpy_state["keys"].cpu().numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python_state = state["python"]
    random.setstate(
        (
            python_state["version"],
            tuple(int(x) for x in python_state["internal"].tolist()),
            python_state["gauss_next"],
        )
    )
