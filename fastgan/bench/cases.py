"""Benchmark cases per op: StyleGAN-sized inputs, forward and forward+backward."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from fastgan.bench.harness import Case
from fastgan.ops import bias_act, bias_act_ref, downsample2d, filter2d, setup_filter, upsample2d

# StyleGAN-sized activations: a 32x32 block of a 512-channel generator at batch 32, and on the GPU
# a 256x256 block at 128 channels, batch 16 (256 MiB in bfloat16, 512 MiB in float32).
DEFAULT_SHAPES = {
    "cpu": [(32, 512, 32, 32)],
    "cuda": [(32, 512, 32, 32), (16, 128, 256, 256)],
}
# Resampling: a 64x64 block at 128 channels, batch 16, on the CPU; a 256x256 block at batch 32 on
# the GPU (1 GiB in float32 after a 2x upsampling).
RESAMPLE_SHAPES = {
    "cpu": [(16, 128, 64, 64)],
    "cuda": [(32, 128, 256, 256)],
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


def upfirdn2d_cases(
    device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, ...]] | None = None
) -> Iterator[Case]:
    """2x upsampling, 2x downsampling and a same-size blur with the 4-tap [1, 3, 3, 1] filter
    (a 4x4 2-D filter after setup_filter), as in every StyleGAN2 block."""
    f = setup_filter([1, 3, 3, 1], device=device)
    element = torch.empty((), dtype=dtype).element_size()
    for shape in shapes or RESAMPLE_SHAPES[device.type]:
        if len(shape) != 4:
            raise ValueError(f"upfirdn2d: expected a shape N x C x H x W, got {shape}")
        for name, resample in (("up2", upsample2d), ("down2", downsample2d), ("blur", filter2d)):

            def fused(x, resample=resample):
                return resample(x, f, impl="native")

            def eager(x, resample=resample):
                return resample(x, f, impl="ref")

            compiled = torch.compile(eager, dynamic=False)
            scale = {"up2": 4, "down2": 0.25, "blur": 1}[name]
            size_in = torch.Size(shape).numel() * element
            size_out = int(size_in * scale)

            def inputs(requires_grad: bool, shape=shape, scale=scale) -> tuple:
                x = torch.randn(shape, device=device, dtype=dtype, requires_grad=requires_grad)
                if not requires_grad:
                    return (x,)
                out_shape = (*shape[:2], int(shape[2] * scale**0.5), int(shape[3] * scale**0.5))
                return (x, torch.randn(out_shape, device=device, dtype=dtype))

            def grad_of(fn):
                def run(i):
                    return torch.autograd.grad(fn(i[0]), i[0], i[1])

                return run

            params = f"{name},4-tap"
            yield Case(
                "upfirdn2d",
                "fwd",
                shape,
                dtype,
                device,
                lambda inputs=inputs: inputs(False),
                {
                    "fused": lambda i, fn=fused: fn(*i),
                    "eager": lambda i, fn=eager: fn(*i),
                    "compiled": lambda i, fn=compiled: fn(*i),
                },
                bytes_moved=size_in + size_out,
                params=params,
            )
            # Forward (read x, write y) and backward (read grad, write grad_x).
            yield Case(
                "upfirdn2d",
                "fwd+bwd",
                shape,
                dtype,
                device,
                lambda inputs=inputs: inputs(True),
                {"fused": grad_of(fused), "eager": grad_of(eager), "compiled": grad_of(compiled)},
                bytes_moved=2 * (size_in + size_out),
                params=params,
            )


CASES: dict[str, Callable[..., Iterator[Case]]] = {
    "bias_act": bias_act_cases,
    "upfirdn2d": upfirdn2d_cases,
}
