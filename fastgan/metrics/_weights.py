"""Weights files of the feature extractors: content hashes and strict state-dict loading."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

import torch
from torch import nn


@lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's content; remembered per (path, size, mtime)."""
    stat = os.stat(path)
    return _sha256_cached(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def load_state_dict_strict(model: nn.Module, state_dict: object, source: str) -> None:
    """Loads state_dict into model after checking that its keys and shapes are exactly the
    model's (BatchNorm's num_batches_tracked may be absent: eval mode does not use it); a
    ValueError listing the missing and unexpected keys and the wrong shapes otherwise."""
    if not isinstance(state_dict, dict):
        raise TypeError(
            f"{source}: expected a state dict (a dict of tensors), got {type(state_dict).__name__}"
        )
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state_dict) - optional)
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(
        f"{k}: expected {list(expected[k])}, got "
        + (str(list(v.shape)) if isinstance(v, torch.Tensor) else type(v).__name__)
        for k, v in state_dict.items()
        if k in expected and (not isinstance(v, torch.Tensor) or tuple(v.shape) != expected[k])
    )
    if missing or unexpected or wrong:
        parts = []
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", wrong),
        ):
            if items:
                more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{label}: {', '.join(items[:5])}{more}")
        raise ValueError(
            f"{source}: expected the keys and shapes of {type(model).__name__}'s state dict, "
            f"got {'; '.join(parts)}"
        )
    full = dict(state_dict)
    for key in optional - set(state_dict):
        full[key] = torch.zeros((), dtype=torch.long)
    model.load_state_dict(full, strict=True)
