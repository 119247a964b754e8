"""Argument checks shared by the metrics: messages name the argument, what was expected and what
came."""

from __future__ import annotations

import numpy as np
import torch


def is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(value: object, name: str, op: str, minimum: int = 1) -> int:
    """ValueError unless value is an int >= minimum; returns it as an int."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{op}: expected {name} to be an int >= {minimum}, got {value!r}")
    return int(value)


def as_tensor(value: object, name: str, op: str) -> torch.Tensor:
    """A torch.Tensor or a numpy array as a tensor (numpy arrays are not copied)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    raise TypeError(
        f"{op}: expected {name} to be a torch.Tensor or numpy array, got {type(value).__name__}"
    )


def check_matrix(value: object, name: str, op: str, min_rows: int = 1) -> torch.Tensor:
    """A finite floating-point [N, D] matrix with N >= min_rows and D >= 1."""
    x = as_tensor(value, name, op)
    if x.ndim != 2:
        raise ValueError(f"{op}: expected {name} of shape [N, D], got shape {list(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{op}: expected {name} of a floating-point dtype, got {x.dtype}")
    if x.shape[0] < min_rows:
        raise ValueError(
            f"{op}: expected {name} with at least {min_rows} samples (rows), got {x.shape[0]}"
        )
    if x.shape[1] < 1:
        raise ValueError(f"{op}: expected {name} with at least 1 feature, got shape [N, 0]")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{op}: expected finite values in {name}, got NaN or inf")
    return x


def check_same_width(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str], op: str) -> None:
    """ValueError unless a and b have the same number of features (columns)."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{op}: expected {names[1]} with {a.shape[1]} features (as {names[0]}), "
            f"got shape {list(b.shape)}"
        )
