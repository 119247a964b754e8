"""Argument checks shared by the models: each error names the argument, what was expected and
what came."""

from __future__ import annotations

import torch

from fastgan.ops._dispatch import IMPLS


def check_int(model: str, name: str, value: object, minimum: int) -> int:
    """ValueError unless value is an int (not a bool) >= minimum."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{model}: expected {name} to be an int >= {minimum}, got {value!r}")
    return value


def check_resolution(model: str, value: object, minimum: int) -> int:
    """ValueError unless value is a power of two >= minimum."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < minimum
        or value & (value - 1) != 0
    ):
        raise ValueError(
            f"{model}: expected img_resolution to be a power of two >= {minimum}, got {value!r}"
        )
    return value


def check_impl(model: str, impl: str) -> str:
    """ValueError unless impl is 'auto', 'native' or 'ref'."""
    if impl not in IMPLS:
        raise ValueError(f"{model}: expected impl in {IMPLS}, got {impl!r}")
    return impl


def check_tensor(model: str, name: str, value: object, shape: list[int | str]) -> torch.Tensor:
    """``value`` as a floating-point tensor of ``shape`` (ints must match exactly, strings are
    names for free sizes); ValueError / TypeError naming ``name`` otherwise."""
    expected = "[" + ", ".join(str(s) for s in shape) + "]"
    if not isinstance(value, torch.Tensor):
        got = "None" if value is None else type(value).__name__
        raise (ValueError if value is None else TypeError)(
            f"{model}: expected {name} to be a tensor of shape {expected}, got {got}"
        )
    if value.ndim != len(shape) or any(
        isinstance(s, int) and value.shape[i] != s for i, s in enumerate(shape)
    ):
        raise ValueError(
            f"{model}: expected {name} of shape {expected}, got shape {list(value.shape)}"
        )
    if not value.is_floating_point():
        raise TypeError(f"{model}: expected {name} of a floating-point dtype, got {value.dtype}")
    return value


def check_labels(model: str, c: object, c_dim: int, batch: int) -> torch.Tensor | None:
    """The labels c as ``[batch, c_dim]``, or None for an unconditional model (c_dim = 0), which
    also takes an empty ``[batch, 0]`` tensor."""
    if c_dim == 0:
        if c is None or (isinstance(c, torch.Tensor) and c.numel() == 0):
            return None
        shape = list(c.shape) if isinstance(c, torch.Tensor) else type(c).__name__
        raise ValueError(
            f"{model}: built with c_dim=0 (unconditional), expected c None or of shape "
            f"[{batch}, 0], got {shape}"
        )
    return check_tensor(model, f"c (c_dim={c_dim})", c, [batch, c_dim])
