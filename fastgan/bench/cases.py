"""Benchmark cases per op: StyleGAN-sized inputs, forward and forward+backward."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from fastgan.bench.harness import Case
from fastgan.ops import bias_act, bias_act_ref

# StyleGAN-sized activations: a 32x32 block of a 512-channel generator at batch 32, and on the GPU
# a 256x256 block at 128 channels, batch 16 (256 MiB in bfloat16, 512 MiB in float32).
DEFAULT_SHAPES = {
    "cpu": [(32, 512, 32, 32)],
    "cuda": [(32, 512, 32, 32), (16, 128, 256, 256)],
}


def _grad_of(fn: Callable) -> Callable[[tuple], object]:
    """Forward and backward of fn(x, b) with a fixed upstream gradient."""

    def run(inputs: tuple) -> object:
        x, b, grad = inputs
        return torch.autograd.grad(fn(x, b), (x, b), grad)

    return run


def bias_act_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """lrelu with bias, the default gain (sqrt 2) and clamp 256, as in a StyleGAN2 layer."""
    kwargs = dict(act="lrelu", clamp=256.0)

    def fused(x, b):
        return bias_act(x, b, impl="native", **kwargs)

    def eager(x, b):
        return bias_act_ref(x, b, **kwargs)

    compiled = torch.compile(eager, dynamic=False)
    for shape in shapes or DEFAULT_SHAPES[device.type]:
        numel = torch.Size(shape).numel()
        size = numel * torch.empty((), dtype=dtype).element_size()

        def inputs(requires_grad: bool, shape=shape) -> tuple:
            x = torch.randn(shape, device=device, dtype=dtype, requires_grad=requires_grad)
            b = torch.randn(shape[1], device=device, dtype=dtype, requires_grad=requires_grad)
            return (x, b, torch.randn_like(x)) if requires_grad else (x, b)

        yield Case(
            "bias_act",
            "fwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(False),
            {
                "fused": lambda i: fused(*i),
                "eager": lambda i: eager(*i),
                "compiled": lambda i: compiled(*i),
            },
            bytes_moved=2 * size,
            params="lrelu,bias,gain,clamp",
        )
        # Forward (read x, write y), backward (read grad and x, write grad_x), grad_b (read grad_x).
        yield Case(
            "bias_act",
            "fwd+bwd",
            shape,
            dtype,
            device,
            lambda inputs=inputs: inputs(True),
            {"fused": _grad_of(fused), "eager": _grad_of(eager), "compiled": _grad_of(compiled)},
            bytes_moved=6 * size,
            params="lrelu,bias,gain,clamp",
        )


CASES: dict[str, Callable[..., Iterator[Case]]] = {
    "bias_act": bias_act_cases,
}
