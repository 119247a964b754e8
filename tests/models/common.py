"""Helpers shared by the model tests: perturbed parameters, the reference twin, gradients of a
random projection, and a recorder of the operators a call dispatches."""

import copy

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from fastgan.nn import set_impl
from tests.conftest import rel_error


def perturb(model: torch.nn.Module, scale: float = 0.2) -> torch.nn.Module:
    """Random non-default values added to every parameter (zero noise strengths and biases would
    hide their paths)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model


def twin(model: torch.nn.Module) -> torch.nn.Module:
    """The same model, with the same weights, on the reference ops."""
    return set_impl(copy.deepcopy(model), "ref")


def output_and_grads(model, inputs, call, seed):
    """Output of call(model, *inputs) and the gradients of <output, v> (v random from seed) with
    respect to every floating-point input and every parameter (None where unused)."""
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    y = call(model, *inputs)
    v = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    leaves = inputs + list(model.parameters())
    grads = torch.autograd.grad((y * v.to(y)).sum(), leaves, allow_unused=True)
    names = [f"input{i}" for i in range(len(inputs))] + [n for n, _ in model.named_parameters()]
    return y, dict(zip(names, grads, strict=True))


def assert_close(a: dict, b: dict, tol: float, where: str = "") -> None:
    """Every entry of a equals b's within tol (relative); None only against None or zeros."""
    assert a.keys() == b.keys()
    for name, x in a.items():
        y = b[name]
        if x is None or y is None:
            # Autograd may return None or zeros for a parameter that takes no part.
            other = y if x is None else x
            assert other is None or not other.any(), f"{where} {name}: gradient in only one"
            continue
        err = rel_error(x, y)
        assert err < tol, f"{where} {name}: {err:.3g}"


def assert_matches_reference(model, inputs, call, tol=1e-10, where=""):
    """Output and every gradient equal those of the model's reference twin (same weights)."""
    seed = int(torch.randint(2**31, ()))
    y, grads = output_and_grads(model, inputs, call, seed)
    y_ref, grads_ref = output_and_grads(twin(model), inputs, call, seed)
    assert y.shape == y_ref.shape and y.dtype == y_ref.dtype
    assert rel_error(y, y_ref) < tol, f"{where} output: {rel_error(y, y_ref):.3g}"
    assert_close(grads, grads_ref, tol, where)
    assert sum(g is not None and bool(g.abs().max() > 0) for g in grads.values()) > 0.8 * len(
        grads
    ), f"{where}: most gradients are zero or missing"


class OpNamespaces(TorchDispatchMode):
    """Records the namespace of every operator dispatched while active ('aten', 'fastgan', ...)."""

    def __init__(self):
        super().__init__()
        self.namespaces: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.namespaces.add(func.namespace)
        return func(*args, **(kwargs or {}))
