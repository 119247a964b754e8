"""The ``impl`` argument of NVIDIA's ops, mapped onto fastgan's."""

from __future__ import annotations

import numbers

# NVIDIA's impl values -> fastgan's: 'cuda' asks for the fast kernels, which fastgan has on the
# CPU as well as on the GPU ('auto' falls back to the reference, with one warning, only where no
# kernel is built); 'ref' is the pure-PyTorch reference in both projects.
_IMPLS = {"cuda": "auto", "ref": "ref"}


def fastgan_impl(impl: object, op: str) -> str:
    """fastgan's impl for NVIDIA's ``impl`` of ``op``; ValueError for any other value."""
    if isinstance(impl, str) and impl in _IMPLS:
        return _IMPLS[impl]
    raise ValueError(
        f"{op}: expected impl to be 'cuda' (fastgan's native kernels, on any device) or 'ref' "
        f"(the pure-PyTorch reference), got {impl!r}"
    )


def as_number(value: object, name: str, op: str) -> float | None:
    """A Python float from any real number (NumPy scalars included, which network code passes:
    ``np.sqrt(2)``, ``np.float32(...)``); None stays None; TypeError for anything else."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"{op}: expected {name} to be a number or None, got {value!r}")


def as_ints(value: object) -> object:
    """An int, or a list/tuple of ints, with NumPy integers made Python ints; anything else is
    returned unchanged for fastgan's own checks to reject with a message."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [
            int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else v
            for v in value
        ]
    return value
